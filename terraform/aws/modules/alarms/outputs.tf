output "topic_arn" {
  description = "ARN of the SNS topic every alarm notifies (on ALARM and on OK)."
  value       = aws_sns_topic.alarms.arn
}

output "topic_kms_key_arn" {
  description = "ARN of the KMS key that encrypts the topic."
  value       = aws_kms_key.alarms.arn
}

output "email_subscription_arn" {
  description = "ARN of the e-mail subscription (\"pending confirmation\" until the link AWS mails is followed); null without alarm_email."
  value       = var.alarm_email == "" ? null : aws_sns_topic_subscription.email[0].arn
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard with one graph per alarm."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

output "alarm_names" {
  description = "Name of every alarm, by key: <kind> for the endpoint's and the function's, <kind>:<model id> for Bedrock's, <kind>:<target id> for the targets'."
  value       = { for key, alarm in aws_cloudwatch_metric_alarm.this : key => alarm.alarm_name }
}
