variable "bucket_name" {
  description = "Name of the bucket. Bucket names are global across AWS accounts, so callers put the account id in it."
  type        = string
}

variable "force_destroy" {
  description = "Whether `terraform destroy` may delete the bucket while it still holds objects, including every noncurrent version and delete marker of this versioned bucket. Leave false unless the stack is meant to be thrown away."
  type        = bool
  default     = false
}

variable "expiration_days" {
  description = "Days after which current objects expire (become noncurrent). null keeps current objects until they are deleted."
  type        = number
  default     = null
}

variable "prefix_expiration_days" {
  description = "Days after which current objects under a key prefix expire, by prefix, for example 30 days for batch/: each prefix gets its own lifecycle rule beside the bucket-wide one."
  type        = map(number)
  default     = {}

  validation {
    condition     = alltrue([for prefix, days in var.prefix_expiration_days : length(prefix) > 0 && days >= 1])
    error_message = "prefix_expiration_days needs non-empty prefixes and at least 1 day each."
  }
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which noncurrent object versions are deleted for good."
  type        = number
  default     = 30
}

variable "abort_incomplete_multipart_upload_days" {
  description = "Days after which an incomplete multipart upload is aborted and its parts deleted."
  type        = number
  default     = 1
}

variable "cors_allowed_origins" {
  description = "Origins allowed to use the bucket from a browser (presigned PUT/POST uploads and GET). An empty list creates no CORS configuration."
  type        = list(string)
  default     = []
}

variable "cors_allowed_methods" {
  description = "HTTP methods the CORS rule allows."
  type        = list(string)
  default     = ["GET", "PUT", "POST", "HEAD"]
}

variable "cors_max_age_seconds" {
  description = "Seconds a browser may cache the CORS preflight answer."
  type        = number
  default     = 3000
}

variable "tags" {
  description = "Tags for the bucket."
  type        = map(string)
  default     = {}
}
