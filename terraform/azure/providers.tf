provider "azurerm" {
  features {
    cognitive_account {
      # Deleting an Azure OpenAI account only soft-deletes it, keeping its name (and custom subdomain) taken for
      # 48 hours; purging frees the name so that a destroy followed by an apply works.
      purge_soft_delete_on_destroy = true
    }
  }

  subscription_id = var.subscription_id
  # Resource providers are registered once, by hand (docs/DEPLOY.md); Terraform registering them needs
  # subscription-wide rights that a deployment identity should not have.
  resource_provider_registrations = "none"
}
