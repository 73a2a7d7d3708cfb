output "log_group_names" {
  description = "Names of the log groups, by the keys of var.log_group_names."
  value       = { for key, group in aws_cloudwatch_log_group.this : key => group.name }
}

output "log_group_arns" {
  description = "ARNs of the log groups (without the :* suffix), by the keys of var.log_group_names."
  value       = { for key, group in aws_cloudwatch_log_group.this : key => group.arn }
}

output "retention_in_days" {
  description = "Retention period applied to every log group, in days."
  value       = var.retention_in_days
}
