# Log groups with a retention period. A service that creates its own log group (Lambda, SageMaker) keeps the
# events forever; creating the group first, here, is how retention is applied from the first line.
resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_158:KMS is optional (var.kms_key_arn); without it CloudWatch Logs encrypts at rest with its own keys, and these groups hold operational logs of uploads, not secrets
  #checkov:skip=CKV_AWS_338:Short retention is deliberate (var.retention_in_days, 14 days by default): the logs are for debugging a demo stack; results live in DynamoDB, not in logs
  for_each = var.log_group_names

  name              = each.value
  retention_in_days = var.retention_in_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}
