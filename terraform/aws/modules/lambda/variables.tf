variable "function_name" {
  description = "Name of the Lambda function; its log group is /aws/lambda/<function_name>."
  type        = string
}

variable "source_dir" {
  description = "Directory whose files are zipped as the function's code (the repository's lambda/ folder)."
  type        = string
}

variable "build_dir" {
  description = "Directory the zip file is written to (git-ignored)."
  type        = string
}

variable "handler" {
  description = "Function entry point, <module>.<function>."
  type        = string
  default     = "lambda_function.lambda_handler"
}

variable "runtime" {
  description = "Lambda runtime identifier."
  type        = string
  default     = "python3.12"
}

variable "memory_size" {
  description = "Memory of the function in MB (CPU scales with it)."
  type        = number
  default     = 512
}

variable "timeout" {
  description = "Time limit of one invocation in seconds."
  type        = number
  default     = 60
}

variable "reserved_concurrent_executions" {
  description = "Concurrent executions reserved for (and capping) the function; null leaves it unreserved. New accounts often have a concurrency quota of 10, which cannot be reserved from at all."
  type        = number
  default     = null
}

variable "environment_variables" {
  description = "Environment variables of the function (no secrets: they are visible to anyone who can read the function's configuration)."
  type        = map(string)
  default     = {}
}

variable "role_arn" {
  description = "ARN of the function's execution role."
  type        = string
}

variable "bucket_id" {
  description = "Name of the bucket whose object-created events invoke the function."
  type        = string
}

variable "bucket_arn" {
  description = "ARN of that bucket (the only source allowed to invoke the function)."
  type        = string
}

variable "bucket_owner_account_id" {
  description = "Account id that owns the bucket; S3 may invoke the function only on behalf of this account."
  type        = string
}

variable "filter_prefix" {
  description = "Only objects created under this key prefix invoke the function."
  type        = string
  default     = "uploads/"
}

variable "log_retention_days" {
  description = "Days the function's log group keeps events."
  type        = number
  default     = 14
}

variable "log_kms_key_arn" {
  description = "ARN of a KMS key for the function's log group; null keeps CloudWatch Logs' default encryption."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for the function and its log group."
  type        = map(string)
  default     = {}
}
