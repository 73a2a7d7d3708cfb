#!/usr/bin/env bash
# Create the Terraform state backend of MC Vision, once per AWS account: an S3 bucket for the state files
# (versioned, SSE-S3 encrypted, all public access blocked, TLS only) and a DynamoDB table for state locks.
# Safe to run again: what exists is left in place and its settings are applied again.
#
#   terraform/bootstrap/create-state-backend.sh [--project NAME] [--region REGION] [--write]
#
# Prints the backend.hcl for terraform/aws and for terraform/azure (both stacks keep their state in this
# bucket, under their own key); --write also saves them as terraform/aws/backend.hcl and
# terraform/azure/backend.hcl (git-ignored). Needs the AWS CLI v2 and credentials for the target account.
set -euo pipefail

project="${PROJECT:-mc-vision}"
region="${AWS_REGION:-${AWS_DEFAULT_REGION:-ap-northeast-1}}"
write=false

usage() { awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --project) project="${2:?--project needs a value}"; shift 2 ;;
    --region) region="${2:?--region needs a value}"; shift 2 ;;
    --write) write=true; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done

command -v aws >/dev/null 2>&1 || { echo "the AWS CLI is not installed (https://docs.aws.amazon.com/cli/)" >&2; exit 1; }

account="$(aws sts get-caller-identity --query Account --output text)" || {
  echo "no usable AWS credentials: run 'aws configure' or 'aws sso login' first" >&2
  exit 1
}
bucket="${project}-tfstate-${account}"
table="${project}-tflock"
export AWS_REGION="$region"

log() { echo "$*" >&2; }

# --- the state bucket ------------------------------------------------------------------------------------
if head_err="$(aws s3api head-bucket --bucket "$bucket" 2>&1 >/dev/null)"; then
  log "bucket $bucket exists"
elif [[ "$head_err" == *"Not Found"* || "$head_err" == *"404"* ]]; then
  log "creating bucket $bucket in $region"
  if [ "$region" = "us-east-1" ]; then
    aws s3api create-bucket --bucket "$bucket" >/dev/null
  else
    aws s3api create-bucket --bucket "$bucket" \
      --create-bucket-configuration "LocationConstraint=$region" >/dev/null
  fi
  aws s3api wait bucket-exists --bucket "$bucket"
else
  log "cannot use bucket $bucket: $head_err"
  log "(403 means the name is taken by another account or your identity may not read it)"
  exit 1
fi

log "applying versioning, encryption, public access block and TLS-only policy to $bucket"
aws s3api put-bucket-versioning --bucket "$bucket" --versioning-configuration Status=Enabled
aws s3api put-bucket-encryption --bucket "$bucket" --server-side-encryption-configuration \
  '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}'
aws s3api put-public-access-block --bucket "$bucket" --public-access-block-configuration \
  BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true
partition="$(aws sts get-caller-identity --query Arn --output text | cut -d: -f2)"
aws s3api put-bucket-policy --bucket "$bucket" --policy "$(cat <<POLICY
{"Version":"2012-10-17","Statement":[{"Sid":"DenyInsecureTransport","Effect":"Deny","Principal":"*",
"Action":"s3:*","Resource":["arn:${partition}:s3:::${bucket}","arn:${partition}:s3:::${bucket}/*"],
"Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}
POLICY
)"

# --- the lock table --------------------------------------------------------------------------------------
if aws dynamodb describe-table --table-name "$table" >/dev/null 2>&1; then
  log "lock table $table exists"
else
  log "creating lock table $table"
  aws dynamodb create-table --table-name "$table" \
    --attribute-definitions AttributeName=LockID,AttributeType=S \
    --key-schema AttributeName=LockID,KeyType=HASH \
    --billing-mode PAY_PER_REQUEST \
    --sse-specification Enabled=true >/dev/null
  aws dynamodb wait table-exists --table-name "$table"
fi

# --- backend.hcl for both stacks -------------------------------------------------------------------------
backend_hcl() {
  cat <<HCL
bucket         = "$bucket"
key            = "$project/$1.tfstate"
region         = "$region"
dynamodb_table = "$table"
encrypt        = true
HCL
}

here="$(cd "$(dirname "$0")" && pwd)"
for stack in aws azure; do
  echo "# terraform/$stack/backend.hcl"
  backend_hcl "$stack"
  echo
  if [ "$write" = true ]; then
    backend_hcl "$stack" > "$here/../$stack/backend.hcl"
    log "wrote terraform/$stack/backend.hcl"
  fi
done
log "next: cd terraform/aws && terraform init -backend-config=backend.hcl"
