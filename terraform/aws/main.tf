data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  # The names mcv_core/stack.py's StackNames.for_account(account_id, project) builds; the local cloud uses the
  # same ones and tests/terraform checks that these templates give them. Buckets carry the account id because
  # bucket names are global.
  names = {
    upload_bucket             = "${var.project}-uploads-${local.account_id}"
    artifacts_bucket          = "${var.project}-artifacts-${local.account_id}"
    results_table             = "${var.project}-results"
    lambda_function           = "${var.project}-upload-handler"
    sagemaker_model           = "${var.project}-classifier"
    sagemaker_endpoint_config = "${var.project}-classifier-serverless"
    sagemaker_endpoint        = "${var.project}-classifier"
  }

  upload_prefix      = "uploads/"
  model_artifact_key = "sagemaker/model.tar.gz"
  model_artifact     = coalesce(var.model_artifact_path, "${path.module}/../../sagemaker_model/build/model.tar.gz")

  # Batch benchmarks (stack.BATCH_INPUT_PREFIX, BATCH_OUTPUT_PREFIX): each job's inputs and outputs in the upload
  # bucket, under batch/ (apart from uploads/, which invokes the Lambda function); they expire after
  # batch_lifecycle_days.
  batch_prefix        = "batch/"
  batch_input_prefix  = "${local.batch_prefix}input/"
  batch_output_prefix = "${local.batch_prefix}output/"

  # AWS's PyTorch inference Deep Learning Container, CPU (serverless endpoints have no GPU).
  sagemaker_image_uri = coalesce(var.sagemaker_image_uri, "763104351884.dkr.ecr.${var.region}.amazonaws.com/pytorch-inference:2.6.0-cpu-py312")

  # A cross-region inference profile id (us., eu., apac., global., ...) routes to the same model in several
  # regions: the app then needs the profile and the foundation model in each of them. Every Bedrock target of
  # the app's catalogue (targets.toml) must be listed: bedrock_model_id and more_bedrock_model_ids.
  bedrock_model_ids = distinct(concat([var.bedrock_model_id], var.more_bedrock_model_ids))
  bedrock_model_arns = flatten([
    for id in local.bedrock_model_ids : can(regex("^(us-gov|us|eu|apac|jp|au|ca|global)\\.", id)) ? [
      "arn:${local.partition}:bedrock:${var.region}:${local.account_id}:inference-profile/${id}",
      "arn:${local.partition}:bedrock:*::foundation-model/${replace(id, "/^(us-gov|us|eu|apac|jp|au|ca|global)\\./", "")}",
    ] : ["arn:${local.partition}:bedrock:${var.region}::foundation-model/${id}"]
  ])
}

# --- Storage ---------------------------------------------------------------------------------------------

module "upload_bucket" {
  source = "./modules/s3"

  bucket_name                            = local.names.upload_bucket
  force_destroy                          = var.force_destroy
  expiration_days                        = var.lifecycle_days
  noncurrent_version_expiration_days     = var.lifecycle_days
  abort_incomplete_multipart_upload_days = 1
  cors_allowed_origins                   = var.cors_allowed_origins
  # Batch jobs' input lines and outputs: their own rule, so their lifetime is a setting of its own.
  prefix_expiration_days = { (local.batch_prefix) = var.batch_lifecycle_days }
}

module "artifacts_bucket" {
  source = "./modules/s3"

  bucket_name = local.names.artifacts_bucket
  # The current model.tar.gz never expires; the versions it replaced do.
  force_destroy                          = var.force_destroy
  expiration_days                        = null
  noncurrent_version_expiration_days     = var.lifecycle_days
  abort_incomplete_multipart_upload_days = 1
}

# Uploaded in the same apply, before the SageMaker model that reads it (model_data_url refers to this object).
resource "aws_s3_object" "model" {
  bucket       = module.artifacts_bucket.bucket_id
  key          = local.model_artifact_key
  source       = local.model_artifact
  etag         = filemd5(local.model_artifact) # SSE-S3 keeps the ETag equal to the MD5 of a single-part upload
  content_type = "application/gzip"
}

module "results_table" {
  source = "./modules/dynamodb"

  table_name = local.names.results_table
  hash_key   = "pk"
  range_key  = "sk"
  global_secondary_indexes = {
    by_time     = { hash_key = "gsi1pk", range_key = "gsi1sk", projection_type = "ALL" }
    by_provider = { hash_key = "gsi2pk", range_key = "gsi2sk", projection_type = "ALL" }
  }
  ttl_attribute          = "expires_at"
  point_in_time_recovery = true
  kms_key_arn            = var.table_kms_key_arn
  deletion_protection    = var.table_deletion_protection
}

# --- Identity --------------------------------------------------------------------------------------------

module "iam" {
  source = "./modules/iam"

  name_prefix              = var.project
  permissions_boundary_arn = var.permissions_boundary_arn
  account_id               = local.account_id
  region                   = var.region

  upload_bucket_arn    = module.upload_bucket.bucket_arn
  upload_prefix        = local.upload_prefix
  batch_input_prefix   = local.batch_input_prefix
  batch_output_prefix  = local.batch_output_prefix
  results_table_arn    = module.results_table.table_arn
  results_index_arns   = values(module.results_table.index_arns)
  lambda_log_group_arn = module.upload_handler.log_group_arn

  artifacts_bucket_arn    = module.artifacts_bucket.bucket_arn
  model_artifact_key      = local.model_artifact_key
  inference_image_uri     = local.sagemaker_image_uri
  sagemaker_log_group_arn = module.classifier.log_group_arn

  create_app_policy             = var.create_app_policy
  sagemaker_endpoint_arn        = module.classifier.endpoint_arn
  sagemaker_endpoint_config_arn = module.classifier.endpoint_config_arn
  bedrock_model_arns            = local.bedrock_model_arns
  lambda_function_arn           = module.upload_handler.function_arn
  app_role_names                = var.app_role_names
  app_group_names               = var.app_group_names
}

# --- Compute ---------------------------------------------------------------------------------------------

module "upload_handler" {
  source = "./modules/lambda"

  function_name = local.names.lambda_function
  source_dir    = "${path.module}/../../lambda"
  build_dir     = "${path.module}/build"
  role_arn      = module.iam.lambda_role_arn

  environment_variables = {
    TABLE_NAME    = module.results_table.table_name
    UPLOAD_PREFIX = local.upload_prefix
    TTL_DAYS      = tostring(var.result_ttl_days)
  }
  reserved_concurrent_executions = var.lambda_reserved_concurrency

  bucket_id               = module.upload_bucket.bucket_id
  bucket_arn              = module.upload_bucket.bucket_arn
  bucket_owner_account_id = local.account_id
  filter_prefix           = local.upload_prefix

  log_retention_days = var.log_retention_days
  log_kms_key_arn    = var.log_kms_key_arn
}

module "classifier" {
  source = "./modules/sagemaker"

  model_name           = local.names.sagemaker_model
  endpoint_config_name = local.names.sagemaker_endpoint_config
  endpoint_name        = local.names.sagemaker_endpoint
  execution_role_arn   = module.iam.sagemaker_role_arn
  image_uri            = local.sagemaker_image_uri
  model_data_url       = "s3://${aws_s3_object.model.bucket}/${aws_s3_object.model.key}"
  model_data_version   = aws_s3_object.model.etag

  environment = {
    SAGEMAKER_PROGRAM          = "inference.py"
    SAGEMAKER_SUBMIT_DIRECTORY = "/opt/ml/model/code"
    SAGEMAKER_REGION           = var.region
  }
  memory_size_in_mb = var.sagemaker_memory_mb
  max_concurrency   = var.sagemaker_max_concurrency

  log_retention_days = var.log_retention_days
  log_kms_key_arn    = var.log_kms_key_arn
}

# --- CI/CD -----------------------------------------------------------------------------------------------

# GitHub Actions' OIDC provider and the roles .github/workflows/terraform.yml assumes (docs/DEPLOY.md, CI/CD),
# only when github_repository is set. Apply it by hand once, as an administrator: the deployment role cannot
# change these roles itself.
module "cicd" {
  source = "./modules/cicd"
  count  = var.github_repository == "" ? 0 : 1

  name_prefix        = var.project
  account_id         = local.account_id
  region             = var.region
  github_repository  = var.github_repository
  github_branch      = var.github_branch
  github_environment = var.github_environment
  oidc_provider_arn  = var.github_oidc_provider_arn

  # The bootstrap script's names (terraform/bootstrap/create-state-backend.sh) unless given.
  state_bucket     = coalesce(var.state_bucket, "${var.project}-tfstate-${local.account_id}")
  state_lock_table = coalesce(var.state_lock_table, "${var.project}-tflock")
  state_region     = var.state_region
  state_keys       = coalesce(var.state_keys, ["${var.project}/aws.tfstate", "${var.project}/azure.tfstate"])

  upload_bucket_name    = local.names.upload_bucket
  artifacts_bucket_name = local.names.artifacts_bucket
  results_table_name    = local.names.results_table
  app_role_names        = var.app_role_names
  app_group_names       = var.app_group_names
  # The alarm topic's key is the stack's own: the roles read it (a refresh reads its policy, rotation and tags);
  # creating or changing it is an apply by hand (kms:CreateKey cannot be limited to one key).
  kms_key_arns = compact([var.table_kms_key_arn, var.log_kms_key_arn, module.alarms.topic_kms_key_arn])

  permissions_boundary_arn = var.permissions_boundary_arn
}

# --- Alarms ----------------------------------------------------------------------------------------------

# Alarms on the endpoint, the function, every Bedrock model of the catalogue and the app's own metrics per
# target; an encrypted SNS topic they all notify (with an optional e-mail subscription); one dashboard. Names
# start with <project>-, which the CI deployment role's cloudwatch and sns grants cover (modules/cicd).
module "alarms" {
  source = "./modules/alarms"

  name_prefix       = var.project
  account_id        = local.account_id
  region            = var.region
  metrics_namespace = "MCVision" # mcv_core/stack.py METRICS_NAMESPACE

  sagemaker_endpoint_name = module.classifier.endpoint_name
  lambda_function_name    = module.upload_handler.function_name
  bedrock_model_ids       = local.bedrock_model_ids
  alarm_targets           = var.alarm_targets
  alarm_email             = var.alarm_email

  sagemaker_alarms = var.sagemaker_alarms
  lambda_alarms    = var.lambda_alarms
  bedrock_alarms   = var.bedrock_alarms
  target_alarms    = var.target_alarms
}
