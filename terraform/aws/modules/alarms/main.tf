# Alarms on the stack's services and on the app's own metrics, one notification topic, one dashboard.
#
# Every alarm notifies the topic when it goes to ALARM and when it comes back to OK. The comparison and the
# missing-data treatment are fixed per kind of alarm, because they follow from what the metric means:
#   counts and rates (errors, throttles)   notBreaching: AWS publishes these only when there are requests, and
#                                          no request is no error; an idle stack must not page or hold an alarm.
#   latencies                              missing: no request means no measurement, neither good nor bad; the
#                                          alarm keeps its state and goes to INSUFFICIENT_DATA only when the
#                                          whole evaluation range is empty, so an idle hour neither pages nor
#                                          reports a slow endpoint as recovered.
# Thresholds, periods, evaluation periods and datapoints to alarm are the variables' (variables.tf).

data "aws_partition" "current" {}

locals {
  partition = data.aws_partition.current.partition

  # Each kind of alarm: what it watches and how. scope says which resources it is made for (one per endpoint,
  # function, Bedrock model or target); settings is its variable. Names: <prefix>-<kind with dashes>[-<id>].
  kinds = {
    sagemaker_5xx_errors = {
      scope               = "sagemaker"
      namespace           = "AWS/SageMaker"
      metric_name         = "Invocation5XXErrors"
      statistic           = "Sum"
      comparison_operator = "GreaterThanOrEqualToThreshold"
      treat_missing_data  = "notBreaching"
      settings            = var.sagemaker_alarms.invocation_5xx_errors
      description         = "The classifier endpoint answered with 5xx errors (the model container failed)."
    }
    sagemaker_model_latency_p95 = {
      scope               = "sagemaker"
      namespace           = "AWS/SageMaker"
      metric_name         = "ModelLatency"
      statistic           = "p95"
      comparison_operator = "GreaterThanThreshold"
      treat_missing_data  = "missing"
      settings            = var.sagemaker_alarms.model_latency_p95
      description         = "The classifier's own time per request (p95, microseconds) is above the threshold."
    }
    sagemaker_overhead_latency = {
      scope               = "sagemaker"
      namespace           = "AWS/SageMaker"
      metric_name         = "OverheadLatency"
      statistic           = "Average"
      comparison_operator = "GreaterThanThreshold"
      treat_missing_data  = "missing"
      settings            = var.sagemaker_alarms.overhead_latency
      description         = "SageMaker's time around the model (average, microseconds; cold starts of the serverless endpoint included) is above the threshold."
    }
    lambda_errors = {
      scope               = "lambda"
      namespace           = "AWS/Lambda"
      metric_name         = "Errors"
      statistic           = "Sum"
      comparison_operator = "GreaterThanOrEqualToThreshold"
      treat_missing_data  = "notBreaching"
      settings            = var.lambda_alarms.errors
      description         = "The upload handler failed on invocations (its log group has the error lines)."
    }
    lambda_throttles = {
      scope               = "lambda"
      namespace           = "AWS/Lambda"
      metric_name         = "Throttles"
      statistic           = "Sum"
      comparison_operator = "GreaterThanOrEqualToThreshold"
      treat_missing_data  = "notBreaching"
      settings            = var.lambda_alarms.throttles
      description         = "Upload events were throttled (the account's or the function's concurrency is exhausted)."
    }
    bedrock_invocation_throttles = {
      scope               = "bedrock"
      namespace           = "AWS/Bedrock"
      metric_name         = "InvocationThrottles"
      statistic           = "Sum"
      comparison_operator = "GreaterThanOrEqualToThreshold"
      treat_missing_data  = "notBreaching"
      settings            = var.bedrock_alarms.invocation_throttles
      description         = "Bedrock throttled calls to this model (requests or tokens per minute over the account's quota)."
    }
    bedrock_invocation_latency_p95 = {
      scope               = "bedrock"
      namespace           = "AWS/Bedrock"
      metric_name         = "InvocationLatency"
      statistic           = "p95"
      comparison_operator = "GreaterThanThreshold"
      treat_missing_data  = "missing"
      settings            = var.bedrock_alarms.invocation_latency_p95
      description         = "Bedrock's time per call to this model (p95, milliseconds) is above the threshold."
    }
    bedrock_invocation_client_errors = {
      scope               = "bedrock"
      namespace           = "AWS/Bedrock"
      metric_name         = "InvocationClientErrors"
      statistic           = "Sum"
      comparison_operator = "GreaterThanOrEqualToThreshold"
      treat_missing_data  = "notBreaching"
      settings            = var.bedrock_alarms.invocation_client_errors
      description         = "Calls to this model were refused as client errors (access not granted, bad request, validation)."
    }
    target_error_rate = {
      scope               = "target"
      namespace           = var.metrics_namespace
      metric_name         = "Errors"
      statistic           = "Average"
      comparison_operator = "GreaterThanThreshold"
      treat_missing_data  = "notBreaching"
      settings            = var.target_alarms.error_rate
      description         = "The share of this target's results that failed (Errors is 0 or 1 per result, so its average is the error rate) is above the threshold."
    }
    target_latency_p95 = {
      scope               = "target"
      namespace           = var.metrics_namespace
      metric_name         = "Latency"
      statistic           = "p95"
      comparison_operator = "GreaterThanThreshold"
      treat_missing_data  = "missing"
      settings            = var.target_alarms.latency_p95
      description         = "This target's answer time as the app measured it (p95 of ok results, milliseconds) is above the threshold."
    }
  }

  # The resources each scope is made for, with the dimensions that select their metrics; "" = the only one.
  scopes = {
    sagemaker = { "" = tomap({ EndpointName = var.sagemaker_endpoint_name, VariantName = var.sagemaker_variant_name }) }
    lambda    = { "" = tomap({ FunctionName = var.lambda_function_name }) }
    bedrock   = { for id in var.bedrock_model_ids : id => tomap({ ModelId = id }) }
    target    = { for target, service in var.alarm_targets : target => tomap({ Target = target, Service = service }) }
  }

  # Every alarm, keyed <kind> or <kind>:<id>.
  alarms = merge([
    for kind, spec in local.kinds : {
      for id, dimensions in local.scopes[spec.scope] :
      (id == "" ? kind : "${kind}:${id}") => merge(spec, {
        name       = id == "" ? "${var.name_prefix}-${replace(kind, "_", "-")}" : "${var.name_prefix}-${replace(kind, "_", "-")}-${id}"
        dimensions = dimensions
      })
    }
  ]...)

  percentile = "^p\\d+(\\.\\d+)?$"
}

# --- Notifications ---------------------------------------------------------------------------------------

# A key of the stack's own: CloudWatch can publish to an encrypted topic only when the key's policy lets it
# use the key, and the AWS managed alias/aws/sns key's policy cannot be changed to allow that.
resource "aws_kms_key" "alarms" {
  description             = "MC Vision: encrypts the ${var.name_prefix}-alarms notification topic."
  enable_key_rotation     = true
  deletion_window_in_days = var.key_deletion_window_days
  policy                  = data.aws_iam_policy_document.alarms_key.json
  tags                    = var.tags
}

locals {
  # In a key policy the resource is always "*", meaning the key the policy is attached to: KMS refuses a key
  # policy that names its own key's ARN ("will not allow you to update the key policy in the future"). It
  # grants nothing beyond this one key.
  this_key = "*"
}

data "aws_iam_policy_document" "alarms_key" {
  # The account administers the key through IAM, as with KMS's default key policy, but with the operations
  # named instead of kms:*; no one may encrypt or decrypt with it through this grant.
  statement {
    sid = "AccountAdministersTheKey"
    actions = [
      "kms:CancelKeyDeletion",
      "kms:DescribeKey",
      "kms:DisableKey",
      "kms:DisableKeyRotation",
      "kms:EnableKey",
      "kms:EnableKeyRotation",
      "kms:GetKeyPolicy",
      "kms:GetKeyRotationStatus",
      "kms:ListResourceTags",
      "kms:PutKeyPolicy",
      "kms:ScheduleKeyDeletion",
      "kms:TagResource",
      "kms:UntagResource",
      "kms:UpdateKeyDescription",
    ]
    resources = [local.this_key]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${var.account_id}:root"]
    }

    # Only callers of this account (whose IAM policies then decide who); no grant to another account.
    condition {
      test     = "StringEquals"
      variable = "kms:CallerAccount"
      values   = [var.account_id]
    }
  }

  # CloudWatch encrypts the notifications of this account's <prefix>-* alarms (SNS's guide, "Enable
  # compatibility between event sources from AWS services and encrypted topics").
  statement {
    sid       = "CloudWatchAlarmsPublish"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [local.this_key]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [var.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:cloudwatch:${var.region}:${var.account_id}:alarm:${var.name_prefix}-*"]
    }
  }
}

resource "aws_sns_topic" "alarms" {
  name              = "${var.name_prefix}-alarms"
  display_name      = "MC Vision alarms"
  kms_master_key_id = aws_kms_key.alarms.arn
  tags              = var.tags
}

resource "aws_sns_topic_subscription" "email" {
  count = var.alarm_email == "" ? 0 : 1

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

# --- Alarms ----------------------------------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = local.alarms

  alarm_name        = each.value.name
  alarm_description = each.value.description
  namespace         = each.value.namespace
  metric_name       = each.value.metric_name
  dimensions        = each.value.dimensions

  # Percentiles (p95) are extended statistics; the others are plain statistics. Exactly one is set.
  statistic                             = can(regex(local.percentile, each.value.statistic)) ? null : each.value.statistic
  extended_statistic                    = can(regex(local.percentile, each.value.statistic)) ? each.value.statistic : null
  evaluate_low_sample_count_percentiles = can(regex(local.percentile, each.value.statistic)) ? "evaluate" : null

  comparison_operator = each.value.comparison_operator
  threshold           = each.value.settings.threshold
  period              = each.value.settings.period
  evaluation_periods  = each.value.settings.evaluation_periods
  datapoints_to_alarm = each.value.settings.datapoints_to_alarm
  treat_missing_data  = each.value.treat_missing_data

  alarm_actions = [aws_sns_topic.alarms.arn]
  ok_actions    = [aws_sns_topic.alarms.arn]

  tags = var.tags
}

# --- Dashboard -------------------------------------------------------------------------------------------

locals {
  # One graph per alarm, three to a row, in the order of the alarm keys: its metric with the alarm's statistic
  # and period, and the threshold as a line.
  dashboard_keys = sort(keys(local.alarms))
  widgets = [
    for index, key in local.dashboard_keys : {
      type   = "metric"
      x      = (index % 3) * 8
      y      = floor(index / 3) * 6
      width  = 8
      height = 6
      properties = {
        title  = local.alarms[key].name
        region = var.region
        view   = "timeSeries"
        stat   = local.alarms[key].statistic
        period = local.alarms[key].settings.period
        metrics = [
          concat(
            [local.alarms[key].namespace, local.alarms[key].metric_name],
            flatten([for name, value in local.alarms[key].dimensions : [name, value]]),
          )
        ]
        annotations = {
          horizontal = [{ label = "alarm threshold", value = local.alarms[key].settings.threshold }]
        }
      }
    }
  ]
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = "${var.name_prefix}-alarms"
  dashboard_body = jsonencode({ widgets = local.widgets })
}
