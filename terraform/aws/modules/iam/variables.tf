variable "name_prefix" {
  description = "Prefix of the role and policy names (<prefix>-lambda, <prefix>-sagemaker, <prefix>-bedrock-batch, <prefix>-app)."
  type        = string
}

variable "upload_bucket_arn" {
  description = "ARN of the upload bucket."
  type        = string
}

variable "upload_prefix" {
  description = "Key prefix of uploaded images in the upload bucket (with its trailing slash)."
  type        = string
  default     = "uploads/"
}

variable "results_table_arn" {
  description = "ARN of the results table."
  type        = string
}

variable "results_index_arns" {
  description = "ARNs of the results table's global secondary indexes (the app queries them)."
  type        = list(string)
}

variable "lambda_log_group_arn" {
  description = "ARN of the Lambda function's log group, without the :* suffix."
  type        = string
}

variable "artifacts_bucket_arn" {
  description = "ARN of the model artifacts bucket."
  type        = string
}

variable "model_artifact_key" {
  description = "Key of model.tar.gz in the artifacts bucket."
  type        = string
}

variable "inference_image_uri" {
  description = "ECR URI of the SageMaker inference image (<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>); the SageMaker role may pull from that repository only."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}\\.dkr\\.ecr\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?/[^:@]+[:@].+$", var.inference_image_uri))
    error_message = "inference_image_uri must be an ECR image URI: <account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>."
  }
}

variable "sagemaker_log_group_arn" {
  description = "ARN of the SageMaker endpoint's log group (/aws/sagemaker/Endpoints/<endpoint>), without the :* suffix."
  type        = string
}

variable "create_app_policy" {
  description = "Whether to create the managed policy for the identity that runs MC Vision (uploads, results, the endpoint, Bedrock, and the reads of the Infrastructure page)."
  type        = bool
  default     = true
}

variable "sagemaker_endpoint_arn" {
  description = "ARN of the SageMaker endpoint the app invokes (used by the app policy)."
  type        = string
  default     = ""
}

variable "sagemaker_endpoint_config_arn" {
  description = "ARN of the SageMaker endpoint configuration the Infrastructure page describes (used by the app policy)."
  type        = string
  default     = ""
}

variable "bedrock_model_arns" {
  description = "ARNs the app may invoke through Bedrock: the foundation model, or an inference profile and the foundation models behind it (used by the app policy)."
  type        = list(string)
  default     = []
}

variable "lambda_function_arn" {
  description = "ARN of the S3 event Lambda function the Infrastructure page describes (used by the app policy)."
  type        = string
  default     = ""
}

variable "app_role_names" {
  description = "IAM roles to attach the app policy to (for example the role of an EC2 instance or an SSO-less CI job that runs MC Vision)."
  type        = list(string)
  default     = []
}

variable "app_group_names" {
  description = "IAM groups to attach the app policy to (for analysts who sign in as IAM users)."
  type        = list(string)
  default     = []
}

variable "permissions_boundary_arn" {
  description = "ARN of a permissions boundary for the roles this module creates, where the account requires one; null sets none."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for the roles and the policy."
  type        = map(string)
  default     = {}
}

variable "account_id" {
  description = "AWS account of the stack: Bedrock may assume the batch inference role only for model invocation jobs of this account (aws:SourceAccount, aws:SourceArn)."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.account_id))
    error_message = "account_id must be a 12-digit AWS account id."
  }
}

variable "region" {
  description = "AWS region of the stack: Bedrock may assume the batch inference role only for model invocation jobs in this region (aws:SourceArn)."
  type        = string
}

variable "batch_input_prefix" {
  description = "Key prefix (with its trailing slash) in the upload bucket under which batch benchmarks put their jobs' inputs; the Bedrock batch role and the SageMaker role (Batch Transform) may read and list it."
  type        = string
  default     = "batch/input/"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9/_-]*/$", var.batch_input_prefix))
    error_message = "batch_input_prefix must be a key prefix ending in a slash, such as batch/input/."
  }
}

variable "batch_output_prefix" {
  description = "Key prefix (with its trailing slash) in the upload bucket under which batch jobs write their outputs; the Bedrock batch role and the SageMaker role (Batch Transform) may write it."
  type        = string
  default     = "batch/output/"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9/_-]*/$", var.batch_output_prefix))
    error_message = "batch_output_prefix must be a key prefix ending in a slash, such as batch/output/."
  }
}
