output "lambda_role_arn" {
  description = "ARN of the Lambda function's execution role (known once its policy is in place)."
  value       = aws_iam_role.lambda.arn
  # A function created with the role before its policy exists would fail its first invocations.
  depends_on = [aws_iam_role_policy.lambda]
}

output "lambda_role_name" {
  description = "Name of the Lambda function's execution role."
  value       = aws_iam_role.lambda.name
}

output "sagemaker_role_arn" {
  description = "ARN of the SageMaker model's execution role (known once its policy is in place)."
  value       = aws_iam_role.sagemaker.arn
  # Creating the endpoint needs the artifact and the image; the role must be able to read them by then.
  depends_on = [aws_iam_role_policy.sagemaker]
}

output "sagemaker_role_name" {
  description = "Name of the SageMaker model's execution role."
  value       = aws_iam_role.sagemaker.name
}

output "bedrock_batch_role_arn" {
  description = "ARN of the role Bedrock batch inference jobs run as (roleArn of CreateModelInvocationJob; known once its policy is in place)."
  value       = aws_iam_role.bedrock_batch.arn
  # A job created with the role before its policy exists would fail to read its input.
  depends_on = [aws_iam_role_policy.bedrock_batch]
}

output "bedrock_batch_role_name" {
  description = "Name of the Bedrock batch inference role."
  value       = aws_iam_role.bedrock_batch.name
}

output "inference_repository_arn" {
  description = "ARN of the ECR repository the SageMaker role may pull the inference image from."
  value       = local.inference_repository_arn
}

output "app_policy_arn" {
  description = "ARN of the managed policy for the identity that runs MC Vision (null when create_app_policy is false)."
  value       = var.create_app_policy ? aws_iam_policy.app[0].arn : null
}

output "app_policy_json" {
  description = "The app policy document, for review or for attaching elsewhere (null when create_app_policy is false)."
  value       = var.create_app_policy ? data.aws_iam_policy_document.app[0].json : null
}
