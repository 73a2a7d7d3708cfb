# Every name in mcv_core/stack.py's AZURE_OUTPUTS is an output here (read by the app's Infrastructure page and
# docs/DEPLOY.md's .env one-liner).

output "azure_openai_endpoint" {
  description = "Endpoint of the Azure OpenAI account as Azure reports it, https://<subdomain>.openai.azure.com/ (AZURE_OPENAI_ENDPOINT)."
  value       = azurerm_cognitive_account.this.endpoint
}

output "azure_openai_deployment" {
  description = "Name of the gpt-4o-mini deployment (MCV_AZURE_DEPLOYMENT)."
  value       = azurerm_cognitive_deployment.this.name
}

output "azure_openai_batch_deployment" {
  description = "Name of the Global-Batch deployment for batch benchmarks (MCV_AZURE_BATCH_DEPLOYMENT); empty when batch_deployment_enabled is false."
  value       = var.batch_deployment_enabled ? azurerm_cognitive_deployment.batch[0].name : ""
}

output "azure_openai_api_key" {
  description = "Primary API key of the account (AZURE_OPENAI_API_KEY); empty when local_auth_enabled is false, and the app then signs in with Entra ID."
  value       = var.local_auth_enabled ? azurerm_cognitive_account.this.primary_access_key : ""
  sensitive   = true
}

output "azure_openai_deployments" {
  description = "Every online deployment on the account, name -> model: what the catalogue's azure_openai targets name (deployment and model); the Global-Batch one is azure_openai_batch_deployment."
  value = merge(
    { (azurerm_cognitive_deployment.this.name) = azurerm_cognitive_deployment.this.model[0].name },
    { for name, deployment in azurerm_cognitive_deployment.more : name => deployment.model[0].name },
  )
}

output "azure_openai_model" {
  description = "Model behind the deployment (MCV_AZURE_MODEL, for pricing and token accounting)."
  value       = azurerm_cognitive_deployment.this.model[0].name
}

output "azure_openai_model_version" {
  description = "Version of the model behind the deployment."
  value       = azurerm_cognitive_deployment.this.model[0].version
}

output "azure_openai_account_name" {
  description = "Name of the Azure OpenAI account."
  value       = azurerm_cognitive_account.this.name
}

output "azure_openai_account_id" {
  description = "Resource id of the Azure OpenAI account."
  value       = azurerm_cognitive_account.this.id
}

output "azure_openai_deployment_id" {
  description = "Resource id of the model deployment."
  value       = azurerm_cognitive_deployment.this.id
}

output "resource_group_name" {
  description = "Resource group holding the account."
  value       = azurerm_resource_group.this.name
}

output "resource_group_id" {
  description = "Resource id of the resource group."
  value       = azurerm_resource_group.this.id
}

output "location" {
  description = "Azure region of the account."
  value       = azurerm_resource_group.this.location
}

output "github_plan_client_id" {
  description = "Client id of the identity pull request runs sign in as to plan (repository variable AZURE_PLAN_CLIENT_ID); null without github_repository."
  value       = local.cicd_enabled ? azurerm_user_assigned_identity.github_plan[0].client_id : null
}

output "github_deploy_client_id" {
  description = "Client id of the identity the apply job signs in as (repository variable AZURE_DEPLOY_CLIENT_ID); null without github_repository."
  value       = local.cicd_enabled ? azurerm_user_assigned_identity.github_deploy[0].client_id : null
}

output "github_tenant_id" {
  description = "Entra ID tenant of the CI identities (repository variable AZURE_TENANT_ID)."
  value       = data.azurerm_client_config.current.tenant_id
}

output "github_subscription_id" {
  description = "Subscription the stack is deployed in (repository variable AZURE_SUBSCRIPTION_ID)."
  value       = data.azurerm_client_config.current.subscription_id
}

output "alert_action_group_id" {
  description = "Resource id of the action group every Azure OpenAI alert acts through."
  value       = azurerm_monitor_action_group.alerts.id
}

output "alert_names" {
  description = "Name of every metric alert on the Azure OpenAI account, by key (server_errors, throttled_requests, latency)."
  value       = { for key, alert in azurerm_monitor_metric_alert.openai : key => alert.name }
}
