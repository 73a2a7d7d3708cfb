variable "table_name" {
  description = "Name of the results table."
  type        = string
}

variable "hash_key" {
  description = "Partition key attribute of the table (a string)."
  type        = string
  default     = "pk"
}

variable "range_key" {
  description = "Sort key attribute of the table (a string)."
  type        = string
  default     = "sk"
}

variable "global_secondary_indexes" {
  description = "Global secondary indexes by name: partition key, sort key (both string attributes) and projection type (ALL, KEYS_ONLY or INCLUDE)."
  type = map(object({
    hash_key        = string
    range_key       = string
    projection_type = optional(string, "ALL")
  }))
  default = {}

  validation {
    condition     = alltrue([for index in values(var.global_secondary_indexes) : contains(["ALL", "KEYS_ONLY"], index.projection_type)])
    error_message = "projection_type must be ALL or KEYS_ONLY (INCLUDE would need a list of attributes this module does not take)."
  }
}

variable "ttl_attribute" {
  description = "Attribute holding each item's expiry time in epoch seconds; DynamoDB deletes expired items. null disables TTL."
  type        = string
  default     = "expires_at"
}

variable "point_in_time_recovery" {
  description = "Whether point-in-time recovery (continuous backups for 35 days) is enabled."
  type        = bool
  default     = true
}

variable "kms_key_arn" {
  description = "ARN of a customer managed KMS key for encryption at rest; null uses the AWS managed key alias/aws/dynamodb."
  type        = string
  default     = null
}

variable "deletion_protection" {
  description = "Whether the table is protected from deletion. When true, `terraform destroy` fails until it is set to false and applied."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for the table."
  type        = map(string)
  default     = {}
}
