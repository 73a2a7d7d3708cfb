data "azurerm_client_config" "current" {}

locals {
  # Subdomains are global across Azure: a short hash of the subscription keeps the default unique per
  # subscription and stable across applies.
  suffix                = substr(sha1(data.azurerm_client_config.current.subscription_id), 0, 6)
  resource_group_name   = coalesce(var.resource_group_name, "rg-${var.project}")
  account_name          = coalesce(var.account_name, "${var.project}-openai-${local.suffix}")
  custom_subdomain_name = coalesce(var.custom_subdomain_name, local.account_name)
  tags                  = merge({ project = var.project, managed_by = "terraform" }, var.tags)
}

resource "azurerm_resource_group" "this" {
  name     = local.resource_group_name
  location = var.location
  tags     = local.tags
}

# Azure OpenAI account. With a custom subdomain its endpoint is https://<subdomain>.openai.azure.com/;
# without one, Azure answers only on the regional https://<location>.api.cognitive.microsoft.com/ (the PoC's
# DNS lesson) and Entra ID sign-in does not work. The output gives the endpoint Azure reports either way.
resource "azurerm_cognitive_account" "this" {
  #checkov:skip=CKV_AZURE_134:Public network access is a variable (public_network_access_enabled); the app runs on analysts' machines, and a private endpoint needs a virtual network this stack does not have. allowed_ip_ranges narrows who may call
  #checkov:skip=CKV_AZURE_236:Local (key) authentication is a variable (local_auth_enabled) defaulting to on, because the app's documented cloud setup uses AZURE_OPENAI_API_KEY; set it false to allow Entra ID only
  #checkov:skip=CKV_AZURE_247:Outbound access is restricted (outbound_network_access_restricted = true) with no allowed FQDN, because the account calls no outside data source; the check wants a non-empty fqdns list, which would only open a hole
  #checkov:skip=CKV2_AZURE_22:Customer-managed keys need a Key Vault with purge protection and an identity grant; Microsoft-managed keys encrypt the account's data at rest, which is enough for prompts of a comparison workbench
  name                          = local.account_name
  location                      = azurerm_resource_group.this.location
  resource_group_name           = azurerm_resource_group.this.name
  kind                          = "OpenAI"
  sku_name                      = "S0"
  custom_subdomain_name         = local.custom_subdomain_name
  local_auth_enabled            = var.local_auth_enabled
  public_network_access_enabled = var.public_network_access_enabled

  # The account calls nothing outside itself (no "on your data" sources).
  outbound_network_access_restricted = true

  identity {
    type = "SystemAssigned"
  }

  dynamic "network_acls" {
    for_each = length(var.allowed_ip_ranges) > 0 ? [var.allowed_ip_ranges] : []
    content {
      default_action = "Deny"
      ip_rules       = network_acls.value
    }
  }

  tags = local.tags
}

resource "azurerm_cognitive_deployment" "this" {
  name                   = var.deployment_name
  cognitive_account_id   = azurerm_cognitive_account.this.id
  version_upgrade_option = var.version_upgrade_option

  model {
    format  = "OpenAI"
    name    = var.model_name
    version = var.model_version
  }

  sku {
    name     = var.deployment_sku
    capacity = var.deployment_capacity
  }
}

# Further deployments on the same account: the other Azure targets of the app's catalogue (targets.toml),
# e.g. gpt-4o beside gpt-4o-mini. Created one after another: Azure refuses concurrent changes to one account.
resource "azurerm_cognitive_deployment" "more" {
  for_each = var.more_deployments

  name                   = each.key
  cognitive_account_id   = azurerm_cognitive_account.this.id
  version_upgrade_option = var.version_upgrade_option

  model {
    format  = "OpenAI"
    name    = each.value.model_name
    version = each.value.model_version
  }

  sku {
    name     = var.deployment_sku
    capacity = each.value.capacity
  }

  depends_on = [azurerm_cognitive_deployment.this]
}

# Optional: a Global-Batch deployment of the same model and version, for batch benchmarks (a JSONL file through
# the files and batches APIs, a 24-hour target, half the Global Standard price). It takes no online requests;
# its capacity is the enqueued-token limit of its jobs, from the subscription's Global Batch quota.
resource "azurerm_cognitive_deployment" "batch" {
  count = var.batch_deployment_enabled ? 1 : 0

  name                   = var.batch_deployment_name
  cognitive_account_id   = azurerm_cognitive_account.this.id
  version_upgrade_option = var.version_upgrade_option

  model {
    format  = "OpenAI"
    name    = var.model_name
    version = var.model_version
  }

  sku {
    name     = "GlobalBatch"
    capacity = var.batch_deployment_capacity
  }

  # One change at a time on the account.
  depends_on = [azurerm_cognitive_deployment.this, azurerm_cognitive_deployment.more]
}

# Keyless access: the role that may call deployments (chat completions) and nothing else.
resource "azurerm_role_assignment" "openai_user" {
  for_each = toset(var.openai_user_principal_ids)

  scope                = azurerm_cognitive_account.this.id
  role_definition_name = "Cognitive Services OpenAI User"
  principal_id         = each.value
}

# --- CI/CD -----------------------------------------------------------------------------------------------

# GitHub Actions signs in to Azure with federated credentials (OpenID Connect): no client secret. Only when
# github_repository is set. Two user-assigned identities, like the two AWS roles of terraform/aws/modules/cicd:
#   id-<project>-github-plan    pull_request runs: Reader on the stack's resource group, and Cognitive Services
#                               User on the account, because a refresh reads its keys (listKeys).
#   id-<project>-github-deploy  the apply job (its environment, or the deployment branch): Contributor on the
#                               stack's resource group.
# They live in a resource group of their own, where both may only read, so the deployment identity cannot add
# federated credentials to itself; role assignments are outside Contributor too, so a change to this file, or to
# openai_user_principal_ids, is applied by an administrator (docs/DEPLOY.md, CI/CD).

locals {
  cicd_enabled        = var.github_repository != ""
  cicd_resource_group = coalesce(var.cicd_resource_group_name, "rg-${var.project}-cicd")
  github_issuer       = "https://token.actions.githubusercontent.com"
  # The subjects GitHub puts in a job's token: an environment replaces the branch in it.
  github_plan_subject   = "repo:${var.github_repository}:pull_request"
  github_deploy_subject = var.github_environment == "" ? "repo:${var.github_repository}:ref:refs/heads/${var.github_branch}" : "repo:${var.github_repository}:environment:${var.github_environment}"
}

resource "azurerm_resource_group" "cicd" {
  count = local.cicd_enabled ? 1 : 0

  name     = local.cicd_resource_group
  location = var.location
  tags     = local.tags
}

resource "azurerm_user_assigned_identity" "github_plan" {
  count = local.cicd_enabled ? 1 : 0

  name                = "id-${var.project}-github-plan"
  location            = azurerm_resource_group.cicd[0].location
  resource_group_name = azurerm_resource_group.cicd[0].name
  tags                = local.tags
}

resource "azurerm_user_assigned_identity" "github_deploy" {
  count = local.cicd_enabled ? 1 : 0

  name                = "id-${var.project}-github-deploy"
  location            = azurerm_resource_group.cicd[0].location
  resource_group_name = azurerm_resource_group.cicd[0].name
  tags                = local.tags
}

resource "azurerm_federated_identity_credential" "github_plan" {
  count = local.cicd_enabled ? 1 : 0

  name                = "github-pull-request"
  resource_group_name = azurerm_resource_group.cicd[0].name
  parent_id           = azurerm_user_assigned_identity.github_plan[0].id
  issuer              = local.github_issuer
  audience            = ["api://AzureADTokenExchange"]
  subject             = local.github_plan_subject
}

resource "azurerm_federated_identity_credential" "github_deploy" {
  count = local.cicd_enabled ? 1 : 0

  name                = var.github_environment == "" ? "github-branch" : "github-environment"
  resource_group_name = azurerm_resource_group.cicd[0].name
  parent_id           = azurerm_user_assigned_identity.github_deploy[0].id
  issuer              = local.github_issuer
  audience            = ["api://AzureADTokenExchange"]
  subject             = local.github_deploy_subject
}

resource "azurerm_role_assignment" "github_plan_reader" {
  count = local.cicd_enabled ? 1 : 0

  scope                = azurerm_resource_group.this.id
  role_definition_name = "Reader"
  principal_id         = azurerm_user_assigned_identity.github_plan[0].principal_id
  principal_type       = "ServicePrincipal"
}

resource "azurerm_role_assignment" "github_plan_keys" {
  count = local.cicd_enabled ? 1 : 0

  scope                = azurerm_cognitive_account.this.id
  role_definition_name = "Cognitive Services User"
  principal_id         = azurerm_user_assigned_identity.github_plan[0].principal_id
  principal_type       = "ServicePrincipal"
}

resource "azurerm_role_assignment" "github_deploy_contributor" {
  count = local.cicd_enabled ? 1 : 0

  scope                = azurerm_resource_group.this.id
  role_definition_name = "Contributor"
  principal_id         = azurerm_user_assigned_identity.github_deploy[0].principal_id
  principal_type       = "ServicePrincipal"
}

# Each identity refreshes its own identity, credential and role assignments in the plan.
resource "azurerm_role_assignment" "github_cicd_reader" {
  for_each = local.cicd_enabled ? {
    plan   = azurerm_user_assigned_identity.github_plan[0].principal_id
    deploy = azurerm_user_assigned_identity.github_deploy[0].principal_id
  } : {}

  scope                = azurerm_resource_group.cicd[0].id
  role_definition_name = "Reader"
  principal_id         = each.value
  principal_type       = "ServicePrincipal"
}

# --- Alerts ----------------------------------------------------------------------------------------------

# Metric alerts on the Azure OpenAI account (Azure Monitor's Microsoft.CognitiveServices/accounts metrics), each
# acting through one action group that mails alert_email when it is set. Server errors and throttled requests
# are the account's AzureOpenAIRequests split by their StatusCode dimension; latency is AzureOpenAITimeToResponse
# (the time to the first byte of an answer, milliseconds). Azure evaluates each alert every `frequency` over the
# last `window_size`; a window without requests has no data and fires nothing.
locals {
  alerts = {
    server_errors = {
      description = "The Azure OpenAI account answered with 5xx errors."
      metric_name = "AzureOpenAIRequests"
      aggregation = "Total"
      dimension   = { name = "StatusCode", operator = "StartsWith", values = ["5"] }
      settings    = var.openai_alerts.server_errors
    }
    throttled_requests = {
      description = "The Azure OpenAI account refused requests with 429 (the deployment's tokens or requests per minute are used up)."
      metric_name = "AzureOpenAIRequests"
      aggregation = "Total"
      dimension   = { name = "StatusCode", operator = "Include", values = ["429"] }
      settings    = var.openai_alerts.throttled_requests
    }
    latency = {
      description = "The Azure OpenAI account's time to response (average, milliseconds) is above the threshold."
      metric_name = "AzureOpenAITimeToResponse"
      aggregation = "Average"
      dimension   = null
      settings    = var.openai_alerts.latency
    }
  }
}

resource "azurerm_monitor_action_group" "alerts" {
  name                = "ag-${var.project}-alerts"
  resource_group_name = azurerm_resource_group.this.name
  short_name          = "mcv-alerts"
  tags                = local.tags

  dynamic "email_receiver" {
    for_each = var.alert_email == "" ? [] : [var.alert_email]
    content {
      name                    = "alert-email"
      email_address           = email_receiver.value
      use_common_alert_schema = true
    }
  }
}

resource "azurerm_monitor_metric_alert" "openai" {
  for_each = local.alerts

  name                = "${var.project}-openai-${replace(each.key, "_", "-")}"
  resource_group_name = azurerm_resource_group.this.name
  scopes              = [azurerm_cognitive_account.this.id]
  description         = each.value.description
  severity            = each.value.settings.severity
  frequency           = each.value.settings.frequency
  window_size         = each.value.settings.window_size
  tags                = local.tags

  criteria {
    metric_namespace = "Microsoft.CognitiveServices/accounts"
    metric_name      = each.value.metric_name
    aggregation      = each.value.aggregation
    operator         = "GreaterThan"
    threshold        = each.value.settings.threshold

    dynamic "dimension" {
      for_each = each.value.dimension == null ? [] : [each.value.dimension]
      content {
        name     = dimension.value.name
        operator = dimension.value.operator
        values   = dimension.value.values
      }
    }
  }

  action {
    action_group_id = azurerm_monitor_action_group.alerts.id
  }
}
