locals {
  log_group_name = "/aws/lambda/${var.function_name}"
}

module "log_group" {
  source = "../cloudwatch"

  log_group_names   = { function = local.log_group_name }
  retention_in_days = var.log_retention_days
  kms_key_arn       = var.log_kms_key_arn
  tags              = var.tags
}

data "archive_file" "code" {
  type        = "zip"
  source_dir  = var.source_dir
  output_path = "${var.build_dir}/${var.function_name}.zip"
  excludes    = ["__pycache__", "*.pyc"]
  # The same bytes, and so the same source_code_hash, whatever the umask of the machine that zips.
  output_file_mode = "0644"
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_50:X-Ray tracing does not fit: the handler makes one S3 and one DynamoDB call per record and logs its own duration per record as JSON; tracing would add xray:PutTraceSegments on Resource "*"
  #checkov:skip=CKV_AWS_116:A dead-letter queue would hold nothing useful: the handler catches and logs every per-record error itself, and a lost event only loses image metadata the app never depends on
  #checkov:skip=CKV_AWS_117:No VPC: the function reaches only S3 and DynamoDB public endpoints, and has no private resource to reach; a VPC would need NAT or endpoints for nothing
  #checkov:skip=CKV_AWS_115:Reserved concurrency is optional (var.reserved_concurrent_executions): accounts with the default quota of 10 cannot reserve any, so the default must leave it unset
  #checkov:skip=CKV_AWS_173:The environment holds only the table name, key prefix and TTL days, no secrets; Lambda encrypts it at rest with an AWS managed key
  #checkov:skip=CKV_AWS_272:Code signing does not fit: Terraform zips the code from this repository itself, so there is no third-party artifact to verify
  function_name = var.function_name
  description   = "MC Vision: records image metadata for objects created under ${var.filter_prefix} and logs one JSON line each."
  role          = var.role_arn
  handler       = var.handler
  runtime       = var.runtime
  memory_size   = var.memory_size
  timeout       = var.timeout

  filename         = data.archive_file.code.output_path
  source_code_hash = data.archive_file.code.output_base64sha256

  reserved_concurrent_executions = var.reserved_concurrent_executions

  environment {
    variables = var.environment_variables
  }

  logging_config {
    log_format = "Text" # the handler already prints one JSON document per line
    log_group  = module.log_group.log_group_names["function"]
  }

  tags = var.tags
}

resource "aws_lambda_permission" "s3" {
  statement_id   = "AllowInvokeFromUploadBucket"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.this.function_name
  principal      = "s3.amazonaws.com"
  source_arn     = var.bucket_arn
  source_account = var.bucket_owner_account_id
}

resource "aws_s3_bucket_notification" "this" {
  bucket = var.bucket_id

  lambda_function {
    id                  = "uploads-to-${var.function_name}"
    lambda_function_arn = aws_lambda_function.this.arn
    events              = ["s3:ObjectCreated:*"]
    filter_prefix       = var.filter_prefix
  }

  # S3 checks that it may invoke the function when the notification is put.
  depends_on = [aws_lambda_permission.s3]
}
