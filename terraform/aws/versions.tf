terraform {
  required_version = ">= 1.6"

  # Exact pins: a plan made on one machine is the plan applied on another. Raise them deliberately.
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "6.32.1"
    }
    archive = {
      source  = "hashicorp/archive"
      version = "2.7.1"
    }
  }
}
