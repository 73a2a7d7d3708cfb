# The TorchScript classifier on a SageMaker Serverless endpoint: model -> serverless endpoint config -> endpoint.
# Serverless endpoints take no VPC, network isolation, data capture or storage-volume KMS key, hence the skips.

module "log_group" {
  source = "../cloudwatch"

  # SageMaker writes an endpoint's container logs here; created first so that they get a retention period.
  log_group_names   = { endpoint = "/aws/sagemaker/Endpoints/${var.endpoint_name}" }
  retention_in_days = var.log_retention_days
  kms_key_arn       = var.log_kms_key_arn
  tags              = var.tags
}

# Holds the artifact's version: replacing it triggers the replacement chain below.
resource "terraform_data" "model_data_version" {
  triggers_replace = var.model_data_version
}

resource "aws_sagemaker_model" "this" {
  #checkov:skip=CKV_AWS_370:Serverless endpoints do not support network isolation (a SageMaker Serverless Inference exclusion)
  name               = var.model_name
  execution_role_arn = var.execution_role_arn

  primary_container {
    image          = var.image_uri
    model_data_url = var.model_data_url
    environment    = var.environment
  }

  tags = var.tags

  lifecycle {
    replace_triggered_by = [terraform_data.model_data_version]
  }
}

resource "aws_sagemaker_endpoint_configuration" "this" {
  #checkov:skip=CKV_AWS_98:kms_key_arn encrypts the ML storage volume of instance-backed variants; a serverless variant has no such volume
  name = var.endpoint_config_name

  production_variants {
    variant_name = var.variant_name
    model_name   = aws_sagemaker_model.this.name

    serverless_config {
      memory_size_in_mb = var.memory_size_in_mb
      max_concurrency   = var.max_concurrency
    }
  }

  tags = var.tags

  lifecycle {
    # A model replaced under the same name leaves this configuration's arguments unchanged; replace it too.
    replace_triggered_by = [aws_sagemaker_model.this]
  }
}

resource "aws_sagemaker_endpoint" "this" {
  name                 = var.endpoint_name
  endpoint_config_name = aws_sagemaker_endpoint_configuration.this.name
  tags                 = var.tags

  lifecycle {
    # Same name, new configuration: only a new endpoint picks it up.
    replace_triggered_by = [aws_sagemaker_endpoint_configuration.this]
  }

  # The container writes to this log group from its first start.
  depends_on = [module.log_group]
}
