variable "log_group_names" {
  description = "Log groups to create, keyed by a short role name (for example lambda = \"/aws/lambda/fn\"). Creating them here, before the service writes, is what gives them a retention period."
  type        = map(string)
}

variable "retention_in_days" {
  description = "Days CloudWatch Logs keeps events. Must be one of the values the CloudWatch Logs API accepts."
  type        = number

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.retention_in_days)
    error_message = "retention_in_days must be a value CloudWatch Logs accepts: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653."
  }
}

variable "kms_key_arn" {
  description = "ARN of a KMS key to encrypt the log groups with; null keeps CloudWatch Logs' default encryption. The key policy must allow the logs.<region>.amazonaws.com principal."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for every log group."
  type        = map(string)
  default     = {}
}
