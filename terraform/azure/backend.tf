# The Azure stack keeps its state in the same S3 bucket and DynamoDB lock table as terraform/aws, under its
# own key: one state backend to bootstrap, encrypted, versioned and private, for a stack that is deployed
# together with the AWS one anyway. Partial configuration, given at init:
#
#   terraform init -backend-config=backend.hcl
#
# (To keep Azure state in Azure instead, replace "s3" with "azurerm" and give resource_group_name,
# storage_account_name, container_name and key in backend.hcl; see docs/DEPLOY.md.)
terraform {
  backend "s3" {}
}
