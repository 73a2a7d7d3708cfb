output "model_name" {
  description = "Name of the SageMaker model."
  value       = aws_sagemaker_model.this.name
}

output "model_arn" {
  description = "ARN of the SageMaker model."
  value       = aws_sagemaker_model.this.arn
}

output "endpoint_config_name" {
  description = "Name of the serverless endpoint configuration."
  value       = aws_sagemaker_endpoint_configuration.this.name
}

output "endpoint_config_arn" {
  description = "ARN of the serverless endpoint configuration."
  value       = aws_sagemaker_endpoint_configuration.this.arn
}

output "endpoint_name" {
  description = "Name of the endpoint the app invokes."
  value       = aws_sagemaker_endpoint.this.name
}

output "endpoint_arn" {
  description = "ARN of the endpoint."
  value       = aws_sagemaker_endpoint.this.arn
}

output "log_group_name" {
  description = "Name of the endpoint's log group."
  value       = module.log_group.log_group_names["endpoint"]
}

output "log_group_arn" {
  description = "ARN of the endpoint's log group, without the :* suffix."
  value       = module.log_group.log_group_arns["endpoint"]
}

output "memory_size_in_mb" {
  description = "Memory of the serverless endpoint in MB."
  value       = var.memory_size_in_mb
}

output "max_concurrency" {
  description = "Maximum concurrent invocations of the serverless endpoint."
  value       = var.max_concurrency
}
