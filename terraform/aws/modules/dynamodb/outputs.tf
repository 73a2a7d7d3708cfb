output "table_name" {
  description = "Name of the table."
  value       = aws_dynamodb_table.this.name
}

output "table_arn" {
  description = "ARN of the table."
  value       = aws_dynamodb_table.this.arn
}

output "index_arns" {
  description = "ARNs of the global secondary indexes, by index name."
  value       = { for name in keys(var.global_secondary_indexes) : name => "${aws_dynamodb_table.this.arn}/index/${name}" }
}

output "ttl_attribute" {
  description = "Attribute DynamoDB reads each item's expiry time from (null when TTL is off)."
  value       = var.ttl_attribute
}
