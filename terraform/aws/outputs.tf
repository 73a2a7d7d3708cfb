# Every name in mcv_core/stack.py's AWS_OUTPUTS is an output here: the app's Infrastructure page and
# docs/DEPLOY.md's .env one-liner read them from `terraform output -json`.

output "region" {
  description = "AWS region of the stack (AWS_REGION for the app)."
  value       = var.region
}

output "account_id" {
  description = "AWS account the stack is deployed in."
  value       = local.account_id
}

output "upload_bucket_name" {
  description = "S3 bucket for uploaded images (MCV_BUCKET)."
  value       = module.upload_bucket.bucket_id
}

output "upload_bucket_arn" {
  description = "ARN of the upload bucket."
  value       = module.upload_bucket.bucket_arn
}

output "upload_prefix" {
  description = "Key prefix of uploads; objects created under it invoke the Lambda function."
  value       = local.upload_prefix
}

output "cors_allowed_origins" {
  description = "Browser origins the upload bucket's CORS rule allows."
  value       = module.upload_bucket.cors_allowed_origins
}

output "artifacts_bucket_name" {
  description = "S3 bucket holding the SageMaker model artifact."
  value       = module.artifacts_bucket.bucket_id
}

output "artifacts_bucket_arn" {
  description = "ARN of the model artifacts bucket."
  value       = module.artifacts_bucket.bucket_arn
}

output "model_artifact_s3_uri" {
  description = "S3 URL of the model.tar.gz the SageMaker model loads."
  value       = "s3://${aws_s3_object.model.bucket}/${aws_s3_object.model.key}"
}

output "results_table_name" {
  description = "DynamoDB results table (MCV_TABLE)."
  value       = module.results_table.table_name
}

output "results_table_arn" {
  description = "ARN of the results table."
  value       = module.results_table.table_arn
}

output "results_table_index_arns" {
  description = "ARNs of the results table's indexes, by index name (by_time, by_provider)."
  value       = module.results_table.index_arns
}

output "lambda_function_name" {
  description = "S3 event Lambda function (MCV_LAMBDA_FUNCTION)."
  value       = module.upload_handler.function_name
}

output "lambda_function_arn" {
  description = "ARN of the S3 event Lambda function."
  value       = module.upload_handler.function_arn
}

output "lambda_log_group_name" {
  description = "CloudWatch Logs group of the Lambda function."
  value       = module.upload_handler.log_group_name
}

output "sagemaker_endpoint_name" {
  description = "SageMaker Serverless endpoint the app invokes (MCV_SAGEMAKER_ENDPOINT)."
  value       = module.classifier.endpoint_name
}

output "sagemaker_endpoint_config_name" {
  description = "Serverless endpoint configuration of the endpoint."
  value       = module.classifier.endpoint_config_name
}

output "sagemaker_model_name" {
  description = "SageMaker model behind the endpoint."
  value       = module.classifier.model_name
}

output "sagemaker_image_uri" {
  description = "Inference container image of the SageMaker model."
  value       = local.sagemaker_image_uri
}

output "sagemaker_memory_mb" {
  description = "Memory of the serverless endpoint in MB (MCV_SAGEMAKER_MEMORY_MB, for cost)."
  value       = module.classifier.memory_size_in_mb
}

output "sagemaker_log_group_name" {
  description = "CloudWatch Logs group of the SageMaker endpoint."
  value       = module.classifier.log_group_name
}

output "bedrock_model_id" {
  description = "Bedrock model id or inference profile the app calls (MCV_BEDROCK_MODEL_ID); its access must be granted in the Bedrock console."
  value       = var.bedrock_model_id
}

output "bedrock_batch_role_arn" {
  description = "Role Bedrock batch inference jobs run as (MCV_BEDROCK_BATCH_ROLE_ARN): reads batch/input/, writes batch/output/ in the upload bucket."
  value       = module.iam.bedrock_batch_role_arn
}

output "batch_input_prefix" {
  description = "Key prefix in the upload bucket of batch benchmarks' job inputs."
  value       = local.batch_input_prefix
}

output "batch_output_prefix" {
  description = "Key prefix in the upload bucket of batch jobs' outputs."
  value       = local.batch_output_prefix
}

output "sagemaker_transform_instance_type" {
  description = "Instance type of the SageMaker Batch Transform jobs that run the classifier over a batch benchmark's images."
  value       = var.transform_instance_type
}

output "lambda_role_arn" {
  description = "Execution role of the Lambda function."
  value       = module.iam.lambda_role_arn
}

output "sagemaker_role_arn" {
  description = "Execution role of the SageMaker model."
  value       = module.iam.sagemaker_role_arn
}

output "app_policy_arn" {
  description = "IAM policy to attach to the identity that runs MC Vision (null when create_app_policy is false)."
  value       = module.iam.app_policy_arn
}

output "github_plan_role_arn" {
  description = "Role GitHub Actions assumes to plan on pull requests (repository variable AWS_PLAN_ROLE_ARN); null without github_repository."
  value       = var.github_repository == "" ? null : module.cicd[0].plan_role_arn
}

output "github_deploy_role_arn" {
  description = "Role GitHub Actions assumes to apply (repository variable AWS_DEPLOY_ROLE_ARN); null without github_repository."
  value       = var.github_repository == "" ? null : module.cicd[0].deploy_role_arn
}

output "github_oidc_provider_arn" {
  description = "IAM OIDC provider for token.actions.githubusercontent.com the CI roles trust; null without github_repository."
  value       = var.github_repository == "" ? null : module.cicd[0].oidc_provider_arn
}

output "github_deploy_subject" {
  description = "OIDC subject the deployment role trusts (environment or branch of the repository); null without github_repository."
  value       = var.github_repository == "" ? null : module.cicd[0].deploy_subject
}

output "alarm_topic_arn" {
  description = "SNS topic every alarm notifies, on ALARM and on OK (encrypted with the stack's own KMS key)."
  value       = module.alarms.topic_arn
}

output "alarm_dashboard_name" {
  description = "CloudWatch dashboard with one graph per alarm."
  value       = module.alarms.dashboard_name
}

output "alarm_names" {
  description = "Every alarm's name by key: <kind>, <kind>:<Bedrock model id> or <kind>:<target id>."
  value       = module.alarms.alarm_names
}
