variable "subscription_id" {
  description = "Azure subscription to deploy into; null takes it from ARM_SUBSCRIPTION_ID (azurerm 4.x requires one or the other)."
  type        = string
  default     = null
}

variable "project" {
  description = "Project name: the prefix of the resource names."
  type        = string
  default     = "mc-vision"
}

variable "location" {
  description = "Azure region of the resource group and the Azure OpenAI account; the model and deployment type must be offered there."
  type        = string
  default     = "eastus2"
}

variable "resource_group_name" {
  description = "Resource group to create; null names it rg-<project>."
  type        = string
  default     = null
}

variable "account_name" {
  description = "Name of the Azure OpenAI (Cognitive Services) account; null names it <project>-openai-<4 characters from the subscription id>."
  type        = string
  default     = null
}

variable "custom_subdomain_name" {
  description = "Globally unique subdomain: the endpoint becomes https://<subdomain>.openai.azure.com/ (needed for Entra ID sign-in too). null uses the account name."
  type        = string
  default     = null

  validation {
    condition     = var.custom_subdomain_name == null || can(regex("^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$", var.custom_subdomain_name))
    error_message = "custom_subdomain_name must be 3-64 lowercase letters, digits or hyphens, not starting or ending with a hyphen."
  }
}

variable "local_auth_enabled" {
  description = "Whether API keys work. false leaves Entra ID as the only way in: the azure_openai_api_key output is then empty, and the app signs in with azure-identity (give your principal the Cognitive Services OpenAI User role, see openai_user_principal_ids)."
  type        = bool
  default     = true
}

variable "public_network_access_enabled" {
  description = "Whether the account answers on its public endpoint. false needs a private endpoint in a virtual network the app runs in (not created here)."
  type        = bool
  default     = true
}

variable "allowed_ip_ranges" {
  description = "When not empty, only these public IPv4 addresses or CIDR ranges may call the account (network ACL with default action Deny)."
  type        = list(string)
  default     = []
}

variable "deployment_name" {
  description = "Name of the model deployment (MCV_AZURE_DEPLOYMENT)."
  type        = string
  default     = "gpt-4o-mini"
}

variable "model_name" {
  description = "OpenAI model to deploy."
  type        = string
  default     = "gpt-4o-mini"
}

variable "model_version" {
  description = "Version of the model to deploy."
  type        = string
  default     = "2024-07-18"
}

variable "more_deployments" {
  description = "Further deployments on the account, by deployment name: the other Azure targets of the app's catalogue (targets.toml), each with its model, model version and capacity (thousands of tokens per minute)."
  type = map(object({
    model_name    = string
    model_version = string
    capacity      = number
  }))
  default = {}
}

variable "deployment_sku" {
  description = "Deployment type: Standard (regional, as the PoC), GlobalStandard or DataZoneStandard where Standard has no quota in the region."
  type        = string
  default     = "Standard"

  validation {
    condition     = contains(["Standard", "GlobalStandard", "DataZoneStandard"], var.deployment_sku)
    error_message = "deployment_sku must be Standard, GlobalStandard or DataZoneStandard."
  }
}

variable "deployment_capacity" {
  description = "Capacity of the deployment in thousands of tokens per minute (1 = 1,000 TPM)."
  type        = number
  default     = 1
}

variable "batch_deployment_enabled" {
  description = "Whether to create a Global-Batch deployment of model_name at model_version for batch benchmarks (azure_openai_batch_deployment; MCV_AZURE_BATCH_DEPLOYMENT). Needs Global Batch quota for the model in the subscription."
  type        = bool
  default     = false
}

variable "batch_deployment_name" {
  description = "Name of the Global-Batch deployment (stack.AZURE_BATCH_DEPLOYMENT; MCV_AZURE_BATCH_DEPLOYMENT), when batch_deployment_enabled."
  type        = string
  default     = "gpt-4o-mini-batch"
}

variable "batch_deployment_capacity" {
  description = "Capacity of the Global-Batch deployment: the tokens its queued and running jobs may hold at once, in thousands (a job beyond it fails with token_limit_exceeded), within the subscription's Global Batch enqueued-token quota for the model."
  type        = number
  default     = 500

  validation {
    condition     = var.batch_deployment_capacity >= 1
    error_message = "batch_deployment_capacity must be at least 1."
  }
}

variable "version_upgrade_option" {
  description = "When Azure may move the deployment to a newer model version: NoAutoUpgrade keeps var.model_version until it retires."
  type        = string
  default     = "NoAutoUpgrade"

  validation {
    condition     = contains(["OnceNewDefaultVersionAvailable", "OnceCurrentVersionExpired", "NoAutoUpgrade"], var.version_upgrade_option)
    error_message = "version_upgrade_option must be OnceNewDefaultVersionAvailable, OnceCurrentVersionExpired or NoAutoUpgrade."
  }
}

variable "openai_user_principal_ids" {
  description = "Object ids of Entra ID users, groups or service principals given the Cognitive Services OpenAI User role on the account (to call it without a key)."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}

variable "github_repository" {
  description = "GitHub repository (owner/name) whose workflows deploy this stack: creates two user-assigned identities with federated credentials for its pull requests (plan) and its apply job (deploy). Empty creates none."
  type        = string
  default     = ""

  validation {
    condition     = var.github_repository == "" || can(regex("^[A-Za-z0-9](?:[A-Za-z0-9]|-[A-Za-z0-9]){0,38}/[A-Za-z0-9._-]{1,100}$", var.github_repository))
    error_message = "github_repository must be owner/name (e.g. octo-org/mc-vision), or empty."
  }
}

variable "github_branch" {
  description = "Branch that deploys; the deployment identity's federated credential names it when github_environment is empty."
  type        = string
  default     = "main"
}

variable "github_environment" {
  description = "GitHub environment of the apply job: the deployment identity's federated credential subject is repo:<repository>:environment:<name>. Empty uses repo:<repository>:ref:refs/heads/<github_branch>."
  type        = string
  default     = "production"
}

variable "cicd_resource_group_name" {
  description = "Resource group of the CI identities, apart from the stack's (the deployment identity may only read it); null names it rg-<project>-cicd."
  type        = string
  default     = null
}

variable "alert_email" {
  description = "E-mail address the action group mails when an alert on the Azure OpenAI account fires or resolves; empty adds no receiver (the alerts still show in Azure Monitor)."
  type        = string
  default     = ""

  validation {
    condition     = var.alert_email == "" || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alert_email))
    error_message = "alert_email must be an e-mail address (name@example.com), or empty."
  }
}

variable "openai_alerts" {
  description = "Metric alerts on the Azure OpenAI account, each firing when its value is greater than threshold over window_size, checked every frequency (ISO 8601 durations, frequency <= window_size), with severity 0 (critical) to 4 (verbose): server_errors (5xx requests, count), throttled_requests (429 requests, count), latency (AzureOpenAITimeToResponse average, milliseconds)."
  type = object({
    server_errors      = object({ threshold = number, window_size = string, frequency = string, severity = number })
    throttled_requests = object({ threshold = number, window_size = string, frequency = string, severity = number })
    latency            = object({ threshold = number, window_size = string, frequency = string, severity = number })
  })
  default = {
    server_errors      = { threshold = 0, window_size = "PT5M", frequency = "PT1M", severity = 1 }
    throttled_requests = { threshold = 0, window_size = "PT5M", frequency = "PT1M", severity = 2 }
    latency            = { threshold = 10000, window_size = "PT15M", frequency = "PT5M", severity = 2 }
  }

  validation {
    condition = alltrue([
      for alert in values(var.openai_alerts) :
      alert.threshold >= 0 && alert.severity >= 0 && alert.severity <= 4 &&
      contains(["PT1M", "PT5M", "PT15M", "PT30M", "PT1H"], alert.frequency) &&
      contains(["PT1M", "PT5M", "PT15M", "PT30M", "PT1H", "PT6H", "PT12H", "P1D"], alert.window_size)
    ])
    error_message = "openai_alerts: thresholds >= 0, severity 0-4, frequency one of PT1M, PT5M, PT15M, PT30M, PT1H, window_size one of PT1M, PT5M, PT15M, PT30M, PT1H, PT6H, PT12H, P1D."
  }
}
