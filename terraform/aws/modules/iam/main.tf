data "aws_partition" "current" {}

locals {
  partition = data.aws_partition.current.partition
  # <account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag> -> the repository's ARN.
  image = regex("^(?P<account>[0-9]{12})\\.dkr\\.ecr\\.(?P<region>[a-z0-9-]+)\\.amazonaws\\.com(?:\\.cn)?/(?P<repository>[^:@]+)", var.inference_image_uri)

  inference_repository_arn = "arn:${local.partition}:ecr:${local.image.region}:${local.image.account}:repository/${local.image.repository}"

  # The batch inference jobs of this account and region (their ids are made by Bedrock).
  model_invocation_jobs = "arn:${local.partition}:bedrock:${var.region}:${var.account_id}:model-invocation-job/*"
}

# --- Lambda: the S3 upload handler ------------------------------------------------------------------------

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "lambda" {
  name                 = "${var.name_prefix}-lambda"
  description          = "MC Vision S3 upload handler: reads uploaded images, writes their metadata to the results table."
  assume_role_policy   = data.aws_iam_policy_document.lambda_assume.json
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

data "aws_iam_policy_document" "lambda" {
  statement {
    sid       = "ReadUploads"
    actions   = ["s3:GetObject"]
    resources = ["${var.upload_bucket_arn}/${var.upload_prefix}*"]
  }

  statement {
    sid       = "WriteImageMetadata"
    actions   = ["dynamodb:PutItem"]
    resources = [var.results_table_arn]
  }

  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${var.lambda_log_group_arn}:*"]
  }
}

resource "aws_iam_role_policy" "lambda" {
  name   = "upload-handler"
  role   = aws_iam_role.lambda.id
  policy = data.aws_iam_policy_document.lambda.json
}

# --- SageMaker: the execution role of the model -----------------------------------------------------------

data "aws_iam_policy_document" "sagemaker_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["sagemaker.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "sagemaker" {
  name                 = "${var.name_prefix}-sagemaker"
  description          = "MC Vision SageMaker model: reads model.tar.gz, pulls the inference image, writes the endpoint's logs; in Batch Transform jobs reads batch inputs and writes batch outputs."
  assume_role_policy   = data.aws_iam_policy_document.sagemaker_assume.json
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

data "aws_iam_policy_document" "sagemaker" {
  statement {
    sid       = "ReadModelArtifact"
    actions   = ["s3:GetObject"]
    resources = ["${var.artifacts_bucket_arn}/${var.model_artifact_key}"]
  }

  # A SageMaker Batch Transform job runs this model (the same model.tar.gz and handler) as this role over the
  # images a batch benchmark puts under the input prefix, and writes one output per image under the output
  # prefix. An S3Prefix input is listed first, hence ListBucket, limited to that prefix.
  statement {
    sid       = "ReadBatchInputs"
    actions   = ["s3:GetObject"]
    resources = ["${var.upload_bucket_arn}/${var.batch_input_prefix}*"]
  }

  statement {
    sid       = "ListBatchInputs"
    actions   = ["s3:ListBucket"]
    resources = [var.upload_bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.batch_input_prefix}*"]
    }
  }

  statement {
    sid       = "WriteBatchOutputs"
    actions   = ["s3:PutObject"]
    resources = ["${var.upload_bucket_arn}/${var.batch_output_prefix}*"]
  }

  # ecr:GetAuthorizationToken has no resource-level permissions: AWS only accepts "*" for it.
  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid       = "PullInferenceImage"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    resources = [local.inference_repository_arn]
  }

  statement {
    sid       = "WriteEndpointLogs"
    actions   = ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"]
    resources = ["${var.sagemaker_log_group_arn}:*"]
  }

  # A Batch Transform job logs to /aws/sagemaker/TransformJobs, which SageMaker makes at the account's first job.
  statement {
    sid     = "WriteTransformJobLogs"
    actions = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"]
    resources = [
      "arn:${local.partition}:logs:${var.region}:${var.account_id}:log-group:/aws/sagemaker/TransformJobs",
      "arn:${local.partition}:logs:${var.region}:${var.account_id}:log-group:/aws/sagemaker/TransformJobs:*",
    ]
  }
}

resource "aws_iam_role_policy" "sagemaker" {
  name   = "model-artifacts"
  role   = aws_iam_role.sagemaker.id
  policy = data.aws_iam_policy_document.sagemaker.json
}

# --- Bedrock batch inference: the service role of model invocation jobs ----------------------------------

# Bedrock assumes the role for batch inference jobs of this account and region only (the conditions AWS
# documents for batch inference service roles, against the confused deputy).
data "aws_iam_policy_document" "bedrock_batch_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["bedrock.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [var.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [local.model_invocation_jobs]
    }
  }
}

resource "aws_iam_role" "bedrock_batch" {
  name                 = "${var.name_prefix}-bedrock-batch"
  description          = "MC Vision batch benchmarks: Bedrock batch inference reads the jobs' input lines and writes their outputs in the upload bucket, nothing else."
  assume_role_policy   = data.aws_iam_policy_document.bedrock_batch_assume.json
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

# A job reads its JSONL file under the input prefix and writes its .jsonl.out files and manifest under the
# output prefix. Nothing else: for a foundation model the service role needs only its data (AWS's example
# policy for batch inference service roles); a job on a cross-region inference profile would also need
# bedrock:InvokeModel on the profile and the models behind it (see docs/DEPLOY.md, Batch benchmarks).
data "aws_iam_policy_document" "bedrock_batch" {
  statement {
    sid       = "ReadBatchInputs"
    actions   = ["s3:GetObject"]
    resources = ["${var.upload_bucket_arn}/${var.batch_input_prefix}*"]
  }

  statement {
    sid       = "ListBatchInputs"
    actions   = ["s3:ListBucket"]
    resources = [var.upload_bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.batch_input_prefix}*"]
    }
  }

  statement {
    sid       = "WriteBatchOutputs"
    actions   = ["s3:PutObject"]
    resources = ["${var.upload_bucket_arn}/${var.batch_output_prefix}*"]
  }
}

resource "aws_iam_role_policy" "bedrock_batch" {
  name   = "batch-inference-data"
  role   = aws_iam_role.bedrock_batch.id
  policy = data.aws_iam_policy_document.bedrock_batch.json
}

# --- The app: the identity that runs MC Vision in cloud mode ---------------------------------------------

data "aws_iam_policy_document" "app" {
  count = var.create_app_policy ? 1 : 0

  statement {
    sid       = "UploadAndReadImages"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${var.upload_bucket_arn}/${var.upload_prefix}*"]
  }

  statement {
    sid = "CheckUploadBucket"
    actions = [
      "s3:GetBucketCORS",
      "s3:GetBucketVersioning",
      "s3:GetEncryptionConfiguration",
      "s3:GetLifecycleConfiguration",
      "s3:ListBucket",
    ]
    resources = [var.upload_bucket_arn]
  }

  statement {
    sid = "ReadAndWriteResults"
    actions = [
      "dynamodb:BatchGetItem",
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:Query",
    ]
    resources = concat([var.results_table_arn], var.results_index_arns)
  }

  statement {
    sid = "DescribeResultsTable"
    actions = [
      "dynamodb:DescribeContinuousBackups",
      "dynamodb:DescribeTable",
      "dynamodb:DescribeTimeToLive",
    ]
    resources = [var.results_table_arn]
  }

  statement {
    sid       = "InvokeEndpoint"
    actions   = ["sagemaker:DescribeEndpoint", "sagemaker:InvokeEndpoint"]
    resources = [var.sagemaker_endpoint_arn]
  }

  statement {
    sid       = "DescribeEndpointConfig"
    actions   = ["sagemaker:DescribeEndpointConfig"]
    resources = [var.sagemaker_endpoint_config_arn]
  }

  statement {
    sid       = "InvokeBedrockModel"
    actions   = ["bedrock:InvokeModel"]
    resources = var.bedrock_model_arns
  }

  statement {
    sid       = "DescribeUploadHandler"
    actions   = ["lambda:GetFunction"]
    resources = [var.lambda_function_arn]
  }

  statement {
    sid       = "ReadUploadHandlerLogs"
    actions   = ["logs:DescribeLogStreams", "logs:FilterLogEvents", "logs:GetLogEvents"]
    resources = [var.lambda_log_group_arn, "${var.lambda_log_group_arn}:*"]
  }

  # DescribeLogGroups is authorised on the account's log groups as a whole (log-group:*), not per group;
  # the Infrastructure page uses it to read the retention of its two log groups.
  statement {
    sid       = "CheckLogRetention"
    actions   = ["logs:DescribeLogGroups"]
    resources = [replace(var.lambda_log_group_arn, "/log-group:.*$/", "log-group:*")]
  }

  # --- Batch benchmarks (bench --mode batch): the jobs' files, the jobs, and the role Bedrock runs them as.

  statement {
    sid       = "WriteBatchInputs"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${var.upload_bucket_arn}/${var.batch_input_prefix}*"]
  }

  statement {
    sid       = "ReadBatchOutputs"
    actions   = ["s3:GetObject"]
    resources = ["${var.upload_bucket_arn}/${var.batch_output_prefix}*"]
  }

  # CreateModelInvocationJob is authorised on the model and on the job (AWS's example identity policy for
  # batch inference); getting and stopping on the job.
  statement {
    sid       = "CreateBedrockBatchJobs"
    actions   = ["bedrock:CreateModelInvocationJob"]
    resources = concat(var.bedrock_model_arns, [local.model_invocation_jobs])
  }

  statement {
    sid       = "FollowBedrockBatchJobs"
    actions   = ["bedrock:GetModelInvocationJob", "bedrock:StopModelInvocationJob"]
    resources = [local.model_invocation_jobs]
  }

  # ListModelInvocationJobs has no resource type: it is authorised on "*" or not at all. The batch health
  # check uses it to count the jobs in progress.
  statement {
    sid       = "ListBedrockBatchJobs"
    actions   = ["bedrock:ListModelInvocationJobs"]
    resources = ["*"]
  }

  statement {
    sid       = "PassBatchRoleToBedrock"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.bedrock_batch.arn]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["bedrock.amazonaws.com"]
    }
  }

  statement {
    sid       = "CheckBatchRole"
    actions   = ["iam:GetRole", "iam:GetRolePolicy", "iam:ListRolePolicies"]
    resources = [aws_iam_role.bedrock_batch.arn]
  }

  statement {
    sid       = "RunTransformJobs"
    actions   = ["sagemaker:CreateTransformJob", "sagemaker:DescribeTransformJob", "sagemaker:StopTransformJob"]
    resources = ["arn:${local.partition}:sagemaker:${var.region}:${var.account_id}:transform-job/*"]
  }
}

resource "aws_iam_policy" "app" {
  count = var.create_app_policy ? 1 : 0

  name        = "${var.name_prefix}-app"
  description = "What MC Vision needs in cloud mode: uploads, results, the SageMaker endpoint, the Bedrock model, batch benchmarks (their files, Bedrock jobs, transform jobs), and the reads of the Infrastructure page."
  policy      = data.aws_iam_policy_document.app[0].json
  tags        = var.tags

  lifecycle {
    precondition {
      condition     = var.sagemaker_endpoint_arn != "" && var.sagemaker_endpoint_config_arn != "" && var.lambda_function_arn != "" && length(var.bedrock_model_arns) > 0
      error_message = "The app policy needs sagemaker_endpoint_arn, sagemaker_endpoint_config_arn, lambda_function_arn and bedrock_model_arns."
    }
  }
}

resource "aws_iam_role_policy_attachment" "app" {
  for_each = var.create_app_policy ? toset(var.app_role_names) : toset([])

  role       = each.value
  policy_arn = aws_iam_policy.app[0].arn
}

resource "aws_iam_group_policy_attachment" "app" {
  for_each = var.create_app_policy ? toset(var.app_group_names) : toset([])

  group      = each.value
  policy_arn = aws_iam_policy.app[0].arn
}
