# GitHub Actions deploys the stack through OpenID Connect: no stored AWS keys. Two roles, because a pull
# request's plan runs the pull request's code:
#   <prefix>-github-plan    trusted for pull_request runs of the repository; reads the stack and its state,
#                           takes the state lock, changes nothing.
#   <prefix>-github-deploy  trusted for the apply job only (its environment, or the deployment branch); may
#                           create, change and delete the stack's resources, scoped by name.
# Both sit under the IAM path /github-actions/, outside the <prefix>-* names the deployment role manages, so it
# cannot change its own permissions or the plan role's: a change to this module is applied by an administrator.

data "aws_partition" "current" {}

locals {
  partition = data.aws_partition.current.partition
  path      = "/github-actions/"
  issuer    = "token.actions.githubusercontent.com"

  oidc_provider_arn = coalesce(var.oidc_provider_arn, try(aws_iam_openid_connect_provider.github[0].arn, null))

  # The subjects GitHub puts in a job's token (the OIDC reference's subject claims): an environment replaces the
  # branch in it, so the apply job, which runs in the environment, is trusted by that subject.
  branch_subject       = "repo:${var.github_repository}:ref:refs/heads/${var.github_branch}"
  environment_subject  = "repo:${var.github_repository}:environment:${var.github_environment}"
  pull_request_subject = "repo:${var.github_repository}:pull_request"
  deploy_subject       = var.github_environment == "" ? local.branch_subject : local.environment_subject

  arn      = "arn:${local.partition}"
  regional = "${var.region}:${var.account_id}"

  state_objects = [for key in var.state_keys : "${local.arn}:s3:::${var.state_bucket}/${key}"]
  # The S3 backend's DynamoDB lock items: <bucket>/<key> (the lock) and <bucket>/<key>-md5 (the state digest).
  lock_items = flatten([for key in var.state_keys : ["${var.state_bucket}/${key}", "${var.state_bucket}/${key}-md5"]])

  buckets = ["${local.arn}:s3:::${var.upload_bucket_name}", "${local.arn}:s3:::${var.artifacts_bucket_name}"]
  objects = [for bucket in local.buckets : "${bucket}/*"]
  table   = "${local.arn}:dynamodb:${local.regional}:table/${var.results_table_name}"

  functions  = "${local.arn}:lambda:${local.regional}:function:${var.name_prefix}-*"
  log_groups = ["${local.arn}:logs:${local.regional}:log-group:/aws/lambda/${var.name_prefix}-*", "${local.arn}:logs:${local.regional}:log-group:/aws/sagemaker/Endpoints/${var.name_prefix}-*"]
  sagemaker = [
    "${local.arn}:sagemaker:${local.regional}:model/${var.name_prefix}-*",
    "${local.arn}:sagemaker:${local.regional}:endpoint-config/${var.name_prefix}-*",
    "${local.arn}:sagemaker:${local.regional}:endpoint/${var.name_prefix}-*",
  ]
  roles     = "${local.arn}:iam::${var.account_id}:role/${var.name_prefix}-*"
  policies  = "${local.arn}:iam::${var.account_id}:policy/${var.name_prefix}-*"
  ci_roles  = "${local.arn}:iam::${var.account_id}:role${local.path}${var.name_prefix}-github-*"
  ci_policy = "${local.arn}:iam::${var.account_id}:policy${local.path}${var.name_prefix}-github-*"
  alarms    = "${local.arn}:cloudwatch:${local.regional}:alarm:${var.name_prefix}-*"
  dashboard = "${local.arn}:cloudwatch::${var.account_id}:dashboard/${var.name_prefix}-*"
  topics    = "${local.arn}:sns:${local.regional}:${var.name_prefix}-*"

  attach_targets = concat(
    [for name in var.app_role_names : "${local.arn}:iam::${var.account_id}:role/${name}"],
    [for name in var.app_group_names : "${local.arn}:iam::${var.account_id}:group/${name}"],
  )
}

# --- The identity provider ---------------------------------------------------------------------------------

# IAM verifies GitHub's tokens against its trusted root CAs, so no thumbprint is needed (aws provider >= 5.81).
resource "aws_iam_openid_connect_provider" "github" {
  count = var.oidc_provider_arn == null ? 1 : 0

  url            = "https://${local.issuer}"
  client_id_list = ["sts.amazonaws.com"]
  tags           = var.tags
}

data "aws_iam_policy_document" "plan_trust" {
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.issuer}:sub"
      values   = [local.pull_request_subject]
    }
  }
}

data "aws_iam_policy_document" "deploy_trust" {
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.issuer}:sub"
      values   = [local.deploy_subject]
    }
  }
}

resource "aws_iam_role" "plan" {
  name                 = "${var.name_prefix}-github-plan"
  path                 = local.path
  description          = "GitHub Actions, pull requests of ${var.github_repository}: terraform plan of the MC Vision stacks (reads the stack and its state, changes nothing)."
  assume_role_policy   = data.aws_iam_policy_document.plan_trust.json
  max_session_duration = var.max_session_duration
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

resource "aws_iam_role" "deploy" {
  name                 = "${var.name_prefix}-github-deploy"
  path                 = local.path
  description          = "GitHub Actions, ${var.github_environment == "" ? "branch ${var.github_branch}" : "environment ${var.github_environment}"} of ${var.github_repository}: terraform apply of the MC Vision stacks."
  assume_role_policy   = data.aws_iam_policy_document.deploy_trust.json
  max_session_duration = var.max_session_duration
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

# --- Reading the stack and its state (both roles) ----------------------------------------------------------

data "aws_iam_policy_document" "read" {
  statement {
    sid       = "ListStateBucket"
    actions   = ["s3:ListBucket"]
    resources = ["${local.arn}:s3:::${var.state_bucket}"]
  }

  statement {
    sid       = "ReadState"
    actions   = ["s3:GetObject"]
    resources = local.state_objects
  }

  # Plans lock the state too: only the items of these stacks' keys (dynamodb:LeadingKeys), in the lock table.
  statement {
    sid       = "LockState"
    actions   = ["dynamodb:DeleteItem", "dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem"]
    resources = ["${local.arn}:dynamodb:${coalesce(var.state_region, var.region)}:${var.account_id}:table/${var.state_lock_table}"]

    condition {
      test     = "ForAllValues:StringEquals"
      variable = "dynamodb:LeadingKeys"
      values   = local.lock_items
    }
  }

  # S3 lock files (use_lockfile = true, Terraform 1.10 and later) beside each state object.
  statement {
    sid       = "LockStateWithLockFiles"
    actions   = ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"]
    resources = [for key in var.state_keys : "${local.arn}:s3:::${var.state_bucket}/${key}.tflock"]
  }

  statement {
    sid = "ReadBuckets"
    actions = [
      "s3:GetAccelerateConfiguration",
      "s3:GetBucketAcl",
      "s3:GetBucketCORS",
      "s3:GetBucketLocation",
      "s3:GetBucketLogging",
      "s3:GetBucketNotification",
      "s3:GetBucketObjectLockConfiguration",
      "s3:GetBucketOwnershipControls",
      "s3:GetBucketPolicy",
      "s3:GetBucketPublicAccessBlock",
      "s3:GetBucketRequestPayment",
      "s3:GetBucketTagging",
      "s3:GetBucketVersioning",
      "s3:GetBucketWebsite",
      "s3:GetEncryptionConfiguration",
      "s3:GetLifecycleConfiguration",
      "s3:GetReplicationConfiguration",
      "s3:ListBucket",
    ]
    resources = local.buckets
  }

  # The model artifact object (aws_s3_object reads its metadata and tags).
  statement {
    sid       = "ReadModelArtifact"
    actions   = ["s3:GetObject", "s3:GetObjectTagging"]
    resources = ["${local.arn}:s3:::${var.artifacts_bucket_name}/*"]
  }

  statement {
    sid       = "ReadTable"
    actions   = ["dynamodb:DescribeContinuousBackups", "dynamodb:DescribeTable", "dynamodb:DescribeTimeToLive", "dynamodb:ListTagsOfResource"]
    resources = [local.table]
  }

  statement {
    sid = "ReadFunctions"
    actions = [
      "lambda:GetFunction",
      "lambda:GetFunctionCodeSigningConfig",
      "lambda:GetFunctionConcurrency",
      "lambda:GetPolicy",
      "lambda:GetRuntimeManagementConfig",
      "lambda:ListTags",
      "lambda:ListVersionsByFunction",
    ]
    resources = [local.functions]
  }

  # DescribeLogGroups is authorised on the account's log groups as a whole (log-group:*), not per group.
  statement {
    sid       = "ListLogGroups"
    actions   = ["logs:DescribeLogGroups"]
    resources = ["${local.arn}:logs:${local.regional}:log-group:*"]
  }

  statement {
    sid       = "ReadLogGroups"
    actions   = ["logs:ListTagsForResource", "logs:ListTagsLogGroup"]
    resources = local.log_groups
  }

  statement {
    sid       = "ReadSageMaker"
    actions   = ["sagemaker:DescribeEndpoint", "sagemaker:DescribeEndpointConfig", "sagemaker:DescribeModel", "sagemaker:ListTags"]
    resources = local.sagemaker
  }

  statement {
    sid = "ReadIam"
    actions = [
      "iam:GetPolicy",
      "iam:GetPolicyVersion",
      "iam:GetRole",
      "iam:GetRolePolicy",
      "iam:ListAttachedRolePolicies",
      "iam:ListPolicyTags",
      "iam:ListPolicyVersions",
      "iam:ListRolePolicies",
    ]
    resources = [local.roles, local.policies, local.ci_roles, local.ci_policy]
  }

  statement {
    sid       = "ReadOidcProvider"
    actions   = ["iam:GetOpenIDConnectProvider"]
    resources = [local.oidc_provider_arn]
  }

  # The alarms, dashboard and notification topic of the stack (issue 15), by the same name prefix.
  statement {
    sid       = "ReadAlarms"
    actions   = ["cloudwatch:DescribeAlarms", "cloudwatch:ListTagsForResource"]
    resources = [local.alarms]
  }

  statement {
    sid       = "ReadDashboards"
    actions   = ["cloudwatch:GetDashboard"]
    resources = [local.dashboard]
  }

  statement {
    sid       = "ReadTopics"
    actions   = ["sns:GetSubscriptionAttributes", "sns:GetTopicAttributes", "sns:ListSubscriptionsByTopic", "sns:ListTagsForResource"]
    resources = [local.topics]
  }

  dynamic "statement" {
    for_each = length(local.attach_targets) > 0 ? [local.attach_targets] : []
    content {
      sid       = "ReadAppPolicyAttachments"
      actions   = ["iam:ListAttachedGroupPolicies", "iam:ListAttachedRolePolicies"]
      resources = statement.value
    }
  }

  dynamic "statement" {
    for_each = length(var.kms_key_arns) > 0 ? [var.kms_key_arns] : []
    content {
      sid = "DescribeKeys"
      # DescribeKey for the keys the stack is given; the policy, rotation and tags too, which Terraform reads to
      # refresh the key it makes itself (the alarm topic's, modules/alarms).
      actions   = ["kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListResourceTags"]
      resources = statement.value
    }
  }
}

resource "aws_iam_policy" "read" {
  name        = "${var.name_prefix}-github-read"
  path        = local.path
  description = "MC Vision CI: read the stack's resources and its Terraform state, take the state lock (terraform plan)."
  policy      = data.aws_iam_policy_document.read.json
  tags        = var.tags
}

# --- Changing the stack (the deployment role only) ---------------------------------------------------------

data "aws_iam_policy_document" "deploy" {
  statement {
    sid       = "WriteState"
    actions   = ["s3:PutObject"]
    resources = local.state_objects
  }

  statement {
    sid = "ManageBuckets"
    actions = [
      "s3:CreateBucket",
      "s3:DeleteBucket",
      "s3:DeleteBucketPolicy",
      "s3:ListBucketVersions",
      "s3:PutBucketCORS",
      "s3:PutBucketNotification",
      "s3:PutBucketOwnershipControls",
      "s3:PutBucketPolicy",
      "s3:PutBucketPublicAccessBlock",
      "s3:PutBucketTagging",
      "s3:PutBucketVersioning",
      "s3:PutEncryptionConfiguration",
      "s3:PutLifecycleConfiguration",
    ]
    resources = local.buckets
  }

  # The model artifact upload, and emptying the buckets when force_destroy is set.
  statement {
    sid       = "ManageObjects"
    actions   = ["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:GetObjectVersion", "s3:PutObject", "s3:PutObjectTagging"]
    resources = local.objects
  }

  statement {
    sid = "ManageTable"
    actions = [
      "dynamodb:CreateTable",
      "dynamodb:DeleteTable",
      "dynamodb:TagResource",
      "dynamodb:UntagResource",
      "dynamodb:UpdateContinuousBackups",
      "dynamodb:UpdateTable",
      "dynamodb:UpdateTimeToLive",
    ]
    resources = [local.table, "${local.table}/index/*"]
  }

  statement {
    sid = "ManageFunctions"
    actions = [
      "lambda:AddPermission",
      "lambda:CreateFunction",
      "lambda:DeleteFunction",
      "lambda:DeleteFunctionConcurrency",
      "lambda:PutFunctionConcurrency",
      "lambda:RemovePermission",
      "lambda:TagResource",
      "lambda:UntagResource",
      "lambda:UpdateFunctionCode",
      "lambda:UpdateFunctionConfiguration",
    ]
    resources = [local.functions]
  }

  statement {
    sid = "ManageLogGroups"
    actions = [
      "logs:AssociateKmsKey",
      "logs:CreateLogGroup",
      "logs:DeleteLogGroup",
      "logs:DeleteRetentionPolicy",
      "logs:DisassociateKmsKey",
      "logs:PutRetentionPolicy",
      "logs:TagLogGroup",
      "logs:TagResource",
      "logs:UntagLogGroup",
      "logs:UntagResource",
    ]
    resources = local.log_groups
  }

  statement {
    sid = "ManageSageMaker"
    actions = [
      "sagemaker:AddTags",
      "sagemaker:CreateEndpoint",
      "sagemaker:CreateEndpointConfig",
      "sagemaker:CreateModel",
      "sagemaker:DeleteEndpoint",
      "sagemaker:DeleteEndpointConfig",
      "sagemaker:DeleteModel",
      "sagemaker:DeleteTags",
      "sagemaker:UpdateEndpoint",
    ]
    resources = local.sagemaker
  }

  # The stack's roles (Lambda, SageMaker, Bedrock batch) and its app policy. With a permissions boundary, a
  # role may only be created or given a policy with that boundary on it.
  statement {
    sid = "ManageRoles"
    actions = [
      "iam:CreateRole",
      "iam:DeleteRolePolicy",
      "iam:PutRolePermissionsBoundary",
      "iam:PutRolePolicy",
    ]
    resources = [local.roles]

    dynamic "condition" {
      for_each = var.permissions_boundary_arn == null ? [] : [var.permissions_boundary_arn]
      content {
        test     = "StringEquals"
        variable = "iam:PermissionsBoundary"
        values   = [condition.value]
      }
    }
  }

  statement {
    sid = "ManageRoleSettings"
    actions = [
      "iam:DeleteRole",
      "iam:ListInstanceProfilesForRole",
      "iam:TagRole",
      "iam:UntagRole",
      "iam:UpdateAssumeRolePolicy",
      "iam:UpdateRole",
      "iam:UpdateRoleDescription",
    ]
    resources = [local.roles]
  }

  statement {
    sid = "ManagePolicies"
    actions = [
      "iam:CreatePolicy",
      "iam:CreatePolicyVersion",
      "iam:DeletePolicy",
      "iam:DeletePolicyVersion",
      "iam:ListEntitiesForPolicy",
      "iam:TagPolicy",
      "iam:UntagPolicy",
    ]
    resources = [local.policies]
  }

  # The Lambda function and the SageMaker model run as the stack's roles; only those services may be given them.
  statement {
    sid       = "PassStackRoles"
    actions   = ["iam:PassRole"]
    resources = [local.roles]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["lambda.amazonaws.com", "sagemaker.amazonaws.com"]
    }
  }

  statement {
    sid = "ManageAlarmsAndDashboards"
    actions = [
      "cloudwatch:DeleteAlarms",
      "cloudwatch:DeleteDashboards",
      "cloudwatch:PutDashboard",
      "cloudwatch:PutMetricAlarm",
      "cloudwatch:TagResource",
      "cloudwatch:UntagResource",
    ]
    resources = [local.alarms, local.dashboard]
  }

  statement {
    sid = "ManageTopics"
    actions = [
      "sns:CreateTopic",
      "sns:DeleteTopic",
      "sns:SetSubscriptionAttributes",
      "sns:SetTopicAttributes",
      "sns:Subscribe",
      "sns:TagResource",
      "sns:Unsubscribe",
      "sns:UntagResource",
    ]
    resources = [local.topics]
  }

  # The app policy on the roles and groups named for it, and no other policy than the stack's own.
  dynamic "statement" {
    for_each = length(local.attach_targets) > 0 ? [local.attach_targets] : []
    content {
      sid       = "AttachAppPolicy"
      actions   = ["iam:AttachGroupPolicy", "iam:AttachRolePolicy", "iam:DetachGroupPolicy", "iam:DetachRolePolicy"]
      resources = statement.value

      condition {
        test     = "ArnLike"
        variable = "iam:PolicyARN"
        values   = [local.policies]
      }
    }
  }

  dynamic "statement" {
    for_each = length(var.kms_key_arns) > 0 ? [var.kms_key_arns] : []
    content {
      sid       = "GrantKeysToServices"
      actions   = ["kms:CreateGrant"]
      resources = statement.value

      condition {
        test     = "Bool"
        variable = "kms:GrantIsForAWSResource"
        values   = ["true"]
      }
    }
  }
}

resource "aws_iam_policy" "deploy" {
  name        = "${var.name_prefix}-github-deploy"
  path        = local.path
  description = "MC Vision CI: create, change and delete the stack's resources (by name) and write its Terraform state (terraform apply)."
  policy      = data.aws_iam_policy_document.deploy.json
  tags        = var.tags
}

resource "aws_iam_role_policy_attachment" "plan_read" {
  role       = aws_iam_role.plan.name
  policy_arn = aws_iam_policy.read.arn
}

resource "aws_iam_role_policy_attachment" "deploy_read" {
  role       = aws_iam_role.deploy.name
  policy_arn = aws_iam_policy.read.arn
}

resource "aws_iam_role_policy_attachment" "deploy_write" {
  role       = aws_iam_role.deploy.name
  policy_arn = aws_iam_policy.deploy.arn
}
