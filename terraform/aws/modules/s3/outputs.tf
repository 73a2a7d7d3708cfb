output "bucket_id" {
  description = "Name (id) of the bucket."
  value       = aws_s3_bucket.this.id
}

output "bucket_arn" {
  description = "ARN of the bucket."
  value       = aws_s3_bucket.this.arn
}

output "bucket_regional_domain_name" {
  description = "Regional domain name of the bucket, for virtual-hosted-style URLs."
  value       = aws_s3_bucket.this.bucket_regional_domain_name
}

output "versioning_status" {
  description = "Versioning status of the bucket."
  value       = aws_s3_bucket_versioning.this.versioning_configuration[0].status
}

output "cors_allowed_origins" {
  description = "Origins the CORS rule allows (empty when the bucket has no CORS configuration)."
  value       = var.cors_allowed_origins
}
