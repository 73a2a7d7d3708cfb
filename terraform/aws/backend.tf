# Remote state in S3 with a DynamoDB lock table, configured at init time (partial configuration):
#
#   terraform init -backend-config=backend.hcl
#
# backend.hcl.example shows the keys; terraform/bootstrap/create-state-backend.sh creates the bucket and the
# table and prints the file to use. A backend block cannot read variables, hence the partial configuration.
terraform {
  backend "s3" {}
}
