terraform {
  required_version = ">= 1.6"

  # Exact pin: a plan made on one machine is the plan applied on another. Raise it deliberately.
  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "4.57.0"
    }
  }
}
