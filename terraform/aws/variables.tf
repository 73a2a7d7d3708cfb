variable "project" {
  description = "Project name: the prefix of every resource name (names as mcv_core/stack.py's StackNames.for_account builds them)."
  type        = string
  default     = "mc-vision"

  validation {
    # Bucket names are <project>-artifacts-<12-digit account id>: at most 63 lowercase characters.
    condition     = can(regex("^[a-z][a-z0-9-]{1,29}[a-z0-9]$", var.project))
    error_message = "project must be 3-31 characters: lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "region" {
  description = "AWS region of the stack. Bedrock's model and the SageMaker inference image must be available there."
  type        = string
  default     = "ap-northeast-1"
}

variable "tags" {
  description = "Extra tags for every resource (Project and ManagedBy are always set)."
  type        = map(string)
  default     = {}
}

variable "cors_allowed_origins" {
  description = "Browser origins allowed to upload to and read from the upload bucket with presigned URLs: where the Streamlit app is served."
  type        = list(string)
  default     = ["http://127.0.0.1:8501", "http://localhost:8501"]
}

variable "force_destroy" {
  description = "Whether `terraform destroy` empties the versioned buckets (every version and delete marker) instead of failing on them. Set true, apply, then destroy."
  type        = bool
  default     = false
}

variable "lifecycle_days" {
  description = "Days before an upload expires, and days a noncurrent version of any object is kept (stack.LIFECYCLE_DAYS)."
  type        = number
  default     = 30
}

variable "batch_lifecycle_days" {
  description = "Days before a batch benchmark's job files (inputs and outputs under batch/ in the upload bucket) expire (stack.BATCH_LIFECYCLE_DAYS). The bucket-wide rule (lifecycle_days) applies too; S3 expires an object at the earlier of the two."
  type        = number
  default     = 30

  validation {
    condition     = var.batch_lifecycle_days >= 1
    error_message = "batch_lifecycle_days must be at least 1."
  }
}

variable "result_ttl_days" {
  description = "Days the Lambda function's image metadata items live in DynamoDB (TTL_DAYS); 0 keeps them forever. Match MCV_RESULT_TTL_DAYS."
  type        = number
  default     = 90
}

variable "log_retention_days" {
  description = "Days the Lambda and SageMaker log groups keep events (stack.LOG_RETENTION_DAYS)."
  type        = number
  default     = 14
}

variable "log_kms_key_arn" {
  description = "ARN of a KMS key to encrypt the log groups with; null keeps CloudWatch Logs' default encryption."
  type        = string
  default     = null
}

variable "table_kms_key_arn" {
  description = "ARN of a customer managed KMS key for the results table; null uses the AWS managed key alias/aws/dynamodb."
  type        = string
  default     = null
}

variable "table_deletion_protection" {
  description = "Whether the results table is protected from deletion (destroy then needs it set to false and applied first)."
  type        = bool
  default     = false
}

variable "lambda_reserved_concurrency" {
  description = "Reserved concurrent executions of the upload handler; null leaves it unreserved (needed on accounts whose concurrency quota is 10)."
  type        = number
  default     = null
}

variable "sagemaker_image_uri" {
  description = "Inference container image. null uses the AWS PyTorch inference DLC 763104351884.dkr.ecr.<region>.amazonaws.com/pytorch-inference:2.6.0-cpu-py312; its torch must be able to load the TorchScript model (see docs/DEPLOY.md)."
  type        = string
  default     = null
}

variable "sagemaker_memory_mb" {
  description = "Memory of the serverless endpoint in MB (stack.SAGEMAKER_MEMORY_MB)."
  type        = number
  default     = 1024
}

variable "sagemaker_max_concurrency" {
  description = "Maximum concurrent invocations of the serverless endpoint (stack.SAGEMAKER_MAX_CONCURRENCY)."
  type        = number
  default     = 5
}

variable "transform_instance_type" {
  description = "Instance type of the SageMaker Batch Transform jobs that batch benchmarks run on the classifier (stack.TRANSFORM_INSTANCE_TYPE); the account needs a quota for it (Service Quotas, SageMaker: <type> for transform job usage)."
  type        = string
  default     = "ml.m5.large"

  validation {
    condition     = startswith(var.transform_instance_type, "ml.")
    error_message = "transform_instance_type must be a SageMaker instance type such as ml.m5.large."
  }
}

variable "model_artifact_path" {
  description = "Local path of model.tar.gz to upload; null uses sagemaker_model/build/model.tar.gz in this repository (built by `make model`)."
  type        = string
  default     = null
}

variable "bedrock_model_id" {
  description = "Bedrock model id (or cross-region inference profile id such as apac.anthropic...) the app calls; model access must be granted in the Bedrock console."
  type        = string
  default     = "anthropic.claude-3-haiku-20240307-v1:0"
}

variable "more_bedrock_model_ids" {
  description = "Further Bedrock model ids or inference profiles the app may call: the other Bedrock targets of its catalogue (targets.toml), e.g. anthropic.claude-3-5-sonnet-20241022-v2:0 or amazon.nova-lite-v1:0."
  type        = list(string)
  default     = []
}

variable "create_app_policy" {
  description = "Whether to create the IAM policy for the identity that runs MC Vision (<project>-app)."
  type        = bool
  default     = true
}

variable "app_role_names" {
  description = "IAM roles to attach the app policy to."
  type        = list(string)
  default     = []
}

variable "app_group_names" {
  description = "IAM groups to attach the app policy to."
  type        = list(string)
  default     = []
}

variable "permissions_boundary_arn" {
  description = "Permissions boundary for the roles created here, where the account requires one; null sets none."
  type        = string
  default     = null
}

variable "github_repository" {
  description = "GitHub repository (owner/name) whose workflows deploy this stack through OpenID Connect: creates the OIDC provider, a plan role for its pull requests and a deployment role for its apply job (modules/cicd). Empty creates none."
  type        = string
  default     = ""

  validation {
    condition     = var.github_repository == "" || can(regex("^[A-Za-z0-9](?:[A-Za-z0-9]|-[A-Za-z0-9]){0,38}/[A-Za-z0-9._-]{1,100}$", var.github_repository))
    error_message = "github_repository must be owner/name (e.g. octo-org/mc-vision), or empty."
  }
}

variable "github_branch" {
  description = "Branch that deploys (the workflow applies on pushes to it); the deployment role trusts it when github_environment is empty."
  type        = string
  default     = "main"
}

variable "github_environment" {
  description = "GitHub environment of the apply job (required reviewers, deployment branch rule): the deployment role trusts repo:<repository>:environment:<name>. Empty trusts repo:<repository>:ref:refs/heads/<github_branch> instead."
  type        = string
  default     = "production"
}

variable "github_oidc_provider_arn" {
  description = "ARN of the account's existing OIDC provider for token.actions.githubusercontent.com (one per account); null creates it."
  type        = string
  default     = null
}

variable "state_bucket" {
  description = "S3 bucket of the Terraform state, for the CI roles; null uses the bootstrap script's <project>-tfstate-<account>."
  type        = string
  default     = null
}

variable "state_lock_table" {
  description = "DynamoDB lock table of the Terraform state, for the CI roles; null uses the bootstrap script's <project>-tflock."
  type        = string
  default     = null
}

variable "state_region" {
  description = "Region of the state lock table (backend.hcl's region), for the CI roles; null means var.region."
  type        = string
  default     = null
}

variable "state_keys" {
  description = "State keys of the two stacks (backend.hcl's key in terraform/aws and terraform/azure), for the CI roles; null uses <project>/aws.tfstate and <project>/azure.tfstate."
  type        = list(string)
  default     = null
}

variable "alarm_email" {
  description = "E-mail address that receives the alarms' notifications (an SNS e-mail subscription, confirmed through the link AWS mails to it); empty subscribes none."
  type        = string
  default     = ""

  validation {
    condition     = var.alarm_email == "" || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alarm_email))
    error_message = "alarm_email must be an e-mail address (name@example.com), or empty."
  }
}

variable "alarm_targets" {
  description = "Targets of the app's catalogue (targets.toml) to alarm on, target id -> service: each gets an error-rate and a p95-latency alarm on the app's metrics (MCVision, dimensions Target and Service)."
  type        = map(string)
  default = {
    sagemaker    = "sagemaker"
    bedrock      = "bedrock"
    azure_openai = "azure_openai"
  }
}

# The alarm families' thresholds, periods, evaluation periods and datapoints to alarm (modules/alarms'
# variables of the same names give each attribute's meaning and unit); null keeps the module's defaults.

variable "sagemaker_alarms" {
  description = "SageMaker endpoint alarms: invocation_5xx_errors (count), model_latency_p95 and overhead_latency (microseconds), each { threshold, period, evaluation_periods, datapoints_to_alarm }; null uses modules/alarms' defaults."
  type = object({
    invocation_5xx_errors = object({ threshold = number, period = number, evaluation_periods = number, datapoints_to_alarm = number })
    model_latency_p95     = object({ threshold = number, period = number, evaluation_periods = number, datapoints_to_alarm = number })
    overhead_latency      = object({ threshold = number, period = number, evaluation_periods = number, datapoints_to_alarm = number })
  })
  default = null
}

variable "lambda_alarms" {
  description = "Upload handler alarms: errors and throttles (counts), each { threshold, period, evaluation_periods, datapoints_to_alarm }; null uses modules/alarms' defaults."
  type = object({
    errors    = object({ threshold = number, period = number, evaluation_periods = number, datapoints_to_alarm = number })
    throttles = object({ threshold = number, period = number, evaluation_periods = number, datapoints_to_alarm = number })
  })
  default = null
}

variable "bedrock_alarms" {
  description = "Alarms per Bedrock model: invocation_throttles and invocation_client_errors (counts), invocation_latency_p95 (milliseconds), each { threshold, period, evaluation_periods, datapoints_to_alarm }; null uses modules/alarms' defaults."
  type = object({
    invocation_throttles     = object({ threshold = number, period = number, evaluation_periods = number, datapoints_to_alarm = number })
    invocation_latency_p95   = object({ threshold = number, period = number, evaluation_periods = number, datapoints_to_alarm = number })
    invocation_client_errors = object({ threshold = number, period = number, evaluation_periods = number, datapoints_to_alarm = number })
  })
  default = null
}

variable "target_alarms" {
  description = "Alarms per target on the app's metrics: error_rate (share of failed results, 0-1) and latency_p95 (milliseconds), each { threshold, period, evaluation_periods, datapoints_to_alarm }; null uses modules/alarms' defaults."
  type = object({
    error_rate  = object({ threshold = number, period = number, evaluation_periods = number, datapoints_to_alarm = number })
    latency_p95 = object({ threshold = number, period = number, evaluation_periods = number, datapoints_to_alarm = number })
  })
  default = null
}
