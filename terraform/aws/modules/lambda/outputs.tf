output "function_name" {
  description = "Name of the Lambda function."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "ARN of the Lambda function."
  value       = aws_lambda_function.this.arn
}

output "log_group_name" {
  description = "Name of the function's log group."
  value       = module.log_group.log_group_names["function"]
}

output "log_group_arn" {
  description = "ARN of the function's log group, without the :* suffix."
  value       = module.log_group.log_group_arns["function"]
}

output "source_code_hash" {
  description = "Base64 SHA-256 of the deployed zip; it changes when lambda/ changes."
  value       = data.archive_file.code.output_base64sha256
}
