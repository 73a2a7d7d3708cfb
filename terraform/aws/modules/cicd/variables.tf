variable "name_prefix" {
  description = "Prefix of the stack's resource names (the root's project): the deployment role may manage IAM roles and policies, Lambda functions, log groups, SageMaker resources, alarms, dashboards and topics whose names start with <prefix>-."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,29}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-31 characters: lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "account_id" {
  description = "AWS account of the stack: every ARN the roles may reach is in it."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.account_id))
    error_message = "account_id must be a 12-digit AWS account id."
  }
}

variable "region" {
  description = "AWS region of the stack: the regional resources the roles may reach are in it."
  type        = string
}

variable "github_repository" {
  description = "GitHub repository whose workflows may assume the roles, as owner/name (github.repository in a workflow)."
  type        = string

  validation {
    # GitHub owners: letters, digits and single hyphens, at most 39; repository names: letters, digits, ., _ and -.
    condition     = can(regex("^[A-Za-z0-9](?:[A-Za-z0-9]|-[A-Za-z0-9]){0,38}/[A-Za-z0-9._-]{1,100}$", var.github_repository)) && !contains([".", ".."], try(split("/", var.github_repository)[1], ""))
    error_message = "github_repository must be owner/name, e.g. octo-org/mc-vision."
  }
}

variable "github_branch" {
  description = "Branch whose workflow runs deploy: the deployment role trusts repo:<repository>:ref:refs/heads/<branch> when github_environment is empty."
  type        = string
  default     = "main"

  validation {
    condition     = can(regex("^[A-Za-z0-9._/-]+$", var.github_branch)) && !startswith(var.github_branch, "refs/")
    error_message = "github_branch must be a branch name such as main (without refs/heads/)."
  }
}

variable "github_environment" {
  description = "GitHub environment of the apply job. A job that names an environment gets the subject repo:<repository>:environment:<name> instead of its branch, so the deployment role then trusts that subject, and the environment's deployment branch rule (github_branch only) and required reviewers guard it. Empty: trust the branch subject."
  type        = string
  default     = "production"

  validation {
    condition     = can(regex("^[A-Za-z0-9._ -]{0,255}$", var.github_environment))
    error_message = "github_environment must be an environment name (letters, digits, spaces, ., _ and -) or empty."
  }
}

variable "oidc_provider_arn" {
  description = "ARN of an existing IAM OIDC provider for https://token.actions.githubusercontent.com (an account has at most one per URL); null creates it here."
  type        = string
  default     = null

  validation {
    condition     = var.oidc_provider_arn == null || can(regex("^arn:[a-z-]+:iam::[0-9]{12}:oidc-provider/token\\.actions\\.githubusercontent\\.com$", var.oidc_provider_arn))
    error_message = "oidc_provider_arn must be the ARN of the token.actions.githubusercontent.com OIDC provider, or null."
  }
}

variable "state_bucket" {
  description = "S3 bucket of the Terraform state (backend.hcl's bucket)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.state_bucket))
    error_message = "state_bucket must be an S3 bucket name."
  }
}

variable "state_keys" {
  description = "State object keys the roles may read (and the deployment role write): the AWS and the Azure stack's backend.hcl key."
  type        = list(string)

  validation {
    condition     = length(var.state_keys) > 0 && alltrue([for key in var.state_keys : can(regex("^[A-Za-z0-9!_.()/-]+$", key))])
    error_message = "state_keys must be one or more S3 keys without wildcards."
  }
}

variable "state_lock_table" {
  description = "DynamoDB lock table of the Terraform state (backend.hcl's dynamodb_table); both roles take and release the lock of their state keys only."
  type        = string
}

variable "state_region" {
  description = "Region of the state lock table (backend.hcl's region); null means the stack's region."
  type        = string
  default     = null
}

variable "upload_bucket_name" {
  description = "Name of the upload bucket the deployment role manages (exact: the state bucket shares the name prefix, so buckets are not granted by prefix)."
  type        = string
}

variable "artifacts_bucket_name" {
  description = "Name of the model artifacts bucket the deployment role manages and uploads model.tar.gz to."
  type        = string
}

variable "results_table_name" {
  description = "Name of the results table the deployment role manages (exact: the lock table shares the name prefix)."
  type        = string
}

variable "app_role_names" {
  description = "Existing IAM roles the stack attaches its app policy to: the deployment role may attach and detach <prefix>-* policies on these only."
  type        = list(string)
  default     = []
}

variable "app_group_names" {
  description = "Existing IAM groups the stack attaches its app policy to: the deployment role may attach and detach <prefix>-* policies on these only."
  type        = list(string)
  default     = []
}

variable "kms_key_arns" {
  description = "Customer managed KMS keys the stack encrypts with (the results table's, the log groups'): the deployment role may describe them and create grants on them."
  type        = list(string)
  default     = []
}

variable "permissions_boundary_arn" {
  description = "Permissions boundary for the two roles made here and, when set, required on every role the deployment role creates or changes (iam:PermissionsBoundary), so that it cannot make a role stronger than the boundary; null sets none."
  type        = string
  default     = null
}

variable "max_session_duration" {
  description = "Longest session of the roles, in seconds: an apply that replaces the SageMaker endpoint takes several minutes, a first one up to half an hour."
  type        = number
  default     = 3600

  validation {
    condition     = var.max_session_duration >= 3600 && var.max_session_duration <= 43200
    error_message = "max_session_duration must be between 3600 and 43200 seconds."
  }
}

variable "tags" {
  description = "Tags for the OIDC provider, the roles and the policies."
  type        = map(string)
  default     = {}
}
