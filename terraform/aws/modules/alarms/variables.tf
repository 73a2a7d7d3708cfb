variable "name_prefix" {
  description = "Prefix of every name made here (the root's project): alarms, the topic, its key alias and the dashboard are <prefix>-..., which the CI deployment role may manage (modules/cicd)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,29}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-31 characters: lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "account_id" {
  description = "AWS account of the stack: the key policy lets CloudWatch use the topic's key only for this account's alarms."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.account_id))
    error_message = "account_id must be a 12-digit AWS account id."
  }
}

variable "region" {
  description = "AWS region of the stack: the alarms' region, and the region of every figure on the dashboard."
  type        = string
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of the app's own metrics (mcv_core/stack.py METRICS_NAMESPACE; mcv_core/metrics.py publishes Latency, Errors, ... there by Target and Service)."
  type        = string
  default     = "MCVision"
}

variable "sagemaker_endpoint_name" {
  description = "SageMaker endpoint whose AWS/SageMaker metrics are watched (dimension EndpointName)."
  type        = string
}

variable "sagemaker_variant_name" {
  description = "Production variant of the endpoint (dimension VariantName)."
  type        = string
  default     = "AllTraffic"
}

variable "lambda_function_name" {
  description = "Lambda function whose AWS/Lambda Errors and Throttles are watched (dimension FunctionName)."
  type        = string
}

variable "bedrock_model_ids" {
  description = "Bedrock model ids or inference profile ids the app calls (the root's bedrock_model_id and more_bedrock_model_ids): one set of AWS/Bedrock alarms per id (dimension ModelId)."
  type        = list(string)
  default     = []
}

variable "alarm_targets" {
  description = "Targets of the app's catalogue to alarm on, target id -> its service: an error-rate and a p95-latency alarm on the app's own metrics (dimensions Target and Service) per target."
  type        = map(string)
  default     = {}

  validation {
    # The catalogue's id pattern (mcv_core/targets.py ID_PATTERN) and the services mcv_core/services register.
    condition     = alltrue([for target, service in var.alarm_targets : can(regex("^[a-z0-9_-]+$", target)) && contains(["sagemaker", "bedrock", "azure_openai", "openai"], service)])
    error_message = "alarm_targets maps target ids (lowercase letters, digits, _ and -) to a service: sagemaker, bedrock, azure_openai or openai."
  }
}

variable "alarm_email" {
  description = "E-mail address subscribed to the alarm topic; empty subscribes none. AWS sends a confirmation message first: nothing is delivered until the link in it is followed."
  type        = string
  default     = ""

  validation {
    condition     = var.alarm_email == "" || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alarm_email))
    error_message = "alarm_email must be an e-mail address (name@example.com), or empty."
  }
}

variable "key_deletion_window_days" {
  description = "Days the topic's KMS key waits, after a destroy, before it is deleted (7-30); it can be restored meanwhile."
  type        = number
  default     = 30

  validation {
    condition     = var.key_deletion_window_days >= 7 && var.key_deletion_window_days <= 30
    error_message = "key_deletion_window_days must be between 7 and 30."
  }
}

# One object per alarm family; each alarm takes a threshold, a period in seconds (60 or a multiple of 60), the
# number of periods evaluated and how many of them must breach (datapoints to alarm, M of N). The comparison
# and the missing-data treatment are fixed per alarm in main.tf: they follow from what the metric means.

variable "sagemaker_alarms" {
  description = "SageMaker endpoint alarms (AWS/SageMaker, EndpointName + VariantName): invocation_5xx_errors (Invocation5XXErrors Sum, alarm at >= threshold per period), model_latency_p95 (ModelLatency p95, microseconds, alarm above), overhead_latency (OverheadLatency Average, microseconds, cold starts included on a serverless endpoint, alarm above)."
  type = object({
    invocation_5xx_errors = object({ threshold = number, period = number, evaluation_periods = number, datapoints_to_alarm = number })
    model_latency_p95     = object({ threshold = number, period = number, evaluation_periods = number, datapoints_to_alarm = number })
    overhead_latency      = object({ threshold = number, period = number, evaluation_periods = number, datapoints_to_alarm = number })
  })
  # null from the root (its variables default to null) takes these defaults.
  nullable = false
  default = {
    invocation_5xx_errors = { threshold = 1, period = 300, evaluation_periods = 3, datapoints_to_alarm = 2 }
    model_latency_p95     = { threshold = 2000000, period = 300, evaluation_periods = 3, datapoints_to_alarm = 3 }
    overhead_latency      = { threshold = 5000000, period = 300, evaluation_periods = 3, datapoints_to_alarm = 3 }
  }

  validation {
    condition     = alltrue([for alarm in values(var.sagemaker_alarms) : alarm.threshold >= 0 && alarm.period >= 60 && alarm.period % 60 == 0 && alarm.evaluation_periods >= 1 && alarm.datapoints_to_alarm >= 1 && alarm.datapoints_to_alarm <= alarm.evaluation_periods])
    error_message = "sagemaker_alarms: thresholds >= 0, periods a multiple of 60 s, 1 <= datapoints_to_alarm <= evaluation_periods."
  }
}

variable "lambda_alarms" {
  description = "Upload handler alarms (AWS/Lambda, FunctionName): errors (Errors Sum) and throttles (Throttles Sum), each alarming at >= threshold per period."
  type = object({
    errors    = object({ threshold = number, period = number, evaluation_periods = number, datapoints_to_alarm = number })
    throttles = object({ threshold = number, period = number, evaluation_periods = number, datapoints_to_alarm = number })
  })
  # null from the root (its variables default to null) takes these defaults.
  nullable = false
  default = {
    errors    = { threshold = 1, period = 300, evaluation_periods = 1, datapoints_to_alarm = 1 }
    throttles = { threshold = 1, period = 300, evaluation_periods = 1, datapoints_to_alarm = 1 }
  }

  validation {
    condition     = alltrue([for alarm in values(var.lambda_alarms) : alarm.threshold >= 0 && alarm.period >= 60 && alarm.period % 60 == 0 && alarm.evaluation_periods >= 1 && alarm.datapoints_to_alarm >= 1 && alarm.datapoints_to_alarm <= alarm.evaluation_periods])
    error_message = "lambda_alarms: thresholds >= 0, periods a multiple of 60 s, 1 <= datapoints_to_alarm <= evaluation_periods."
  }
}

variable "bedrock_alarms" {
  description = "Alarms per Bedrock model (AWS/Bedrock, ModelId): invocation_throttles (InvocationThrottles Sum, alarm at >= threshold), invocation_latency_p95 (InvocationLatency p95, milliseconds, alarm above), invocation_client_errors (InvocationClientErrors Sum, alarm at >= threshold)."
  type = object({
    invocation_throttles     = object({ threshold = number, period = number, evaluation_periods = number, datapoints_to_alarm = number })
    invocation_latency_p95   = object({ threshold = number, period = number, evaluation_periods = number, datapoints_to_alarm = number })
    invocation_client_errors = object({ threshold = number, period = number, evaluation_periods = number, datapoints_to_alarm = number })
  })
  # null from the root (its variables default to null) takes these defaults.
  nullable = false
  default = {
    invocation_throttles     = { threshold = 1, period = 300, evaluation_periods = 3, datapoints_to_alarm = 2 }
    invocation_latency_p95   = { threshold = 15000, period = 300, evaluation_periods = 3, datapoints_to_alarm = 3 }
    invocation_client_errors = { threshold = 1, period = 300, evaluation_periods = 3, datapoints_to_alarm = 2 }
  }

  validation {
    condition     = alltrue([for alarm in values(var.bedrock_alarms) : alarm.threshold >= 0 && alarm.period >= 60 && alarm.period % 60 == 0 && alarm.evaluation_periods >= 1 && alarm.datapoints_to_alarm >= 1 && alarm.datapoints_to_alarm <= alarm.evaluation_periods])
    error_message = "bedrock_alarms: thresholds >= 0, periods a multiple of 60 s, 1 <= datapoints_to_alarm <= evaluation_periods."
  }
}

variable "target_alarms" {
  description = "Alarms per target on the app's own metrics (metrics_namespace, Target + Service): error_rate (Errors Average, the share of failed results, 0-1, alarm above) and latency_p95 (Latency p95 of ok results, milliseconds, alarm above)."
  type = object({
    error_rate  = object({ threshold = number, period = number, evaluation_periods = number, datapoints_to_alarm = number })
    latency_p95 = object({ threshold = number, period = number, evaluation_periods = number, datapoints_to_alarm = number })
  })
  # null from the root (its variables default to null) takes these defaults.
  nullable = false
  default = {
    error_rate  = { threshold = 0.1, period = 300, evaluation_periods = 3, datapoints_to_alarm = 2 }
    latency_p95 = { threshold = 20000, period = 300, evaluation_periods = 3, datapoints_to_alarm = 3 }
  }

  validation {
    condition     = alltrue([for alarm in values(var.target_alarms) : alarm.threshold >= 0 && alarm.period >= 60 && alarm.period % 60 == 0 && alarm.evaluation_periods >= 1 && alarm.datapoints_to_alarm >= 1 && alarm.datapoints_to_alarm <= alarm.evaluation_periods])
    error_message = "target_alarms: thresholds >= 0, periods a multiple of 60 s, 1 <= datapoints_to_alarm <= evaluation_periods."
  }
}

variable "tags" {
  description = "Tags for the alarms, the topic and its key."
  type        = map(string)
  default     = {}
}
