variable "model_name" {
  description = "Name of the SageMaker model."
  type        = string
}

variable "endpoint_config_name" {
  description = "Name of the serverless endpoint configuration."
  type        = string
}

variable "endpoint_name" {
  description = "Name of the endpoint the app invokes; its log group is /aws/sagemaker/Endpoints/<endpoint_name>."
  type        = string
}

variable "execution_role_arn" {
  description = "ARN of the role SageMaker assumes to read the model artifact, pull the image and write logs."
  type        = string
}

variable "image_uri" {
  description = "ECR URI of the inference container image (an AWS PyTorch inference Deep Learning Container whose torch can load the TorchScript model)."
  type        = string
}

variable "model_data_url" {
  description = "S3 URL of model.tar.gz (s3://<bucket>/<key>)."
  type        = string

  validation {
    condition     = can(regex("^s3://[^/]+/.+\\.tar\\.gz$", var.model_data_url))
    error_message = "model_data_url must be an s3://<bucket>/<key>.tar.gz URL."
  }
}

variable "model_data_version" {
  description = "Anything that changes when model.tar.gz changes (its ETag or version id). A change replaces the model, the endpoint configuration and the endpoint: their names are fixed, so nothing else would make SageMaker load a rebuilt artifact."
  type        = string
}

variable "environment" {
  description = "Environment variables of the inference container."
  type        = map(string)
  default = {
    SAGEMAKER_PROGRAM          = "inference.py"
    SAGEMAKER_SUBMIT_DIRECTORY = "/opt/ml/model/code"
  }
}

variable "memory_size_in_mb" {
  description = "Memory of the serverless endpoint in MB: 1024, 2048, 3072, 4096, 5120 or 6144 (vCPUs scale with it)."
  type        = number
  default     = 1024

  validation {
    condition     = contains([1024, 2048, 3072, 4096, 5120, 6144], var.memory_size_in_mb)
    error_message = "memory_size_in_mb must be 1024, 2048, 3072, 4096, 5120 or 6144."
  }
}

variable "max_concurrency" {
  description = "Maximum concurrent invocations of the serverless endpoint (1-200, within the account's serverless concurrency quota)."
  type        = number
  default     = 5

  validation {
    condition     = var.max_concurrency >= 1 && var.max_concurrency <= 200
    error_message = "max_concurrency must be between 1 and 200."
  }
}

variable "variant_name" {
  description = "Name of the endpoint's only production variant."
  type        = string
  default     = "AllTraffic"
}

variable "log_retention_days" {
  description = "Days the endpoint's log group keeps events."
  type        = number
  default     = 14
}

variable "log_kms_key_arn" {
  description = "ARN of a KMS key for the endpoint's log group; null keeps CloudWatch Logs' default encryption."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for the model, endpoint configuration, endpoint and log group."
  type        = map(string)
  default     = {}
}
