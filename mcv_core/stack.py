"""What the deployed stack is made of: names and settings shared by terraform/aws and the local cloud.

The local cloud provisions exactly these; the Terraform tests check that terraform/aws declares the same.
Outputs are keyed by the names `terraform output -json` gives them.
"""

from __future__ import annotations

from dataclasses import dataclass

PROJECT = "mc-vision"
DEFAULT_REGION = "ap-northeast-1"
DEFAULT_BEDROCK_MODEL_ID = "anthropic.claude-3-haiku-20240307-v1:0"
DEFAULT_AZURE_DEPLOYMENT = "gpt-4o-mini"
DEFAULT_AZURE_MODEL = "gpt-4o-mini"
DEFAULT_AZURE_API_VERSION = "2024-10-21"

# DynamoDB layout (see docs/ARCHITECTURE.md): one table, run and result items, two indexes.
TABLE_HASH_KEY = "pk"
TABLE_RANGE_KEY = "sk"
TIME_INDEX = "by_time"  # gsi1pk = DAY#YYYY-MM-DD, gsi1sk = created_at#run_id#provider
PROVIDER_INDEX = "by_provider"  # gsi2pk = PROVIDER#name, gsi2sk = created_at#run_id
TTL_ATTRIBUTE = "expires_at"
METRICS_NAMESPACE = "MCVision"  # the CloudWatch namespace of our metrics (mcv_core/metrics.py) and alarms; AWS's own start with "AWS/"
INDEXES = {
    TIME_INDEX: ("gsi1pk", "gsi1sk"),
    PROVIDER_INDEX: ("gsi2pk", "gsi2sk"),
}

UPLOAD_PREFIX = "uploads/"
LIFECYCLE_DAYS = 30
LOG_RETENTION_DAYS = 14
LAMBDA_RUNTIME = "python3.12"
LAMBDA_MEMORY_MB = 512
LAMBDA_TIMEOUT_S = 60
SAGEMAKER_MEMORY_MB = 1024
SAGEMAKER_MAX_CONCURRENCY = 5
MODEL_ARTIFACT_KEY = "sagemaker/model.tar.gz"
PRESIGN_EXPIRES_S = 300

# Batch benchmarks (docs/SCALE.md): each job's input lines and its output in the upload bucket, apart from
# uploads/ (which the upload Lambda watches); a job's files sit under <prefix><bench_id>/<target>/.
BATCH_INPUT_PREFIX = "batch/input/"
BATCH_OUTPUT_PREFIX = "batch/output/"
BATCH_LIFECYCLE_DAYS = 30
TRANSFORM_INSTANCE_TYPE = "ml.m5.large"  # SageMaker Batch Transform (terraform/aws variable, same default)
AZURE_BATCH_DEPLOYMENT = "gpt-4o-mini-batch"  # a GlobalBatch deployment (terraform/azure, optional by variable)

# The outputs the app reads, by their Terraform output names.
AWS_OUTPUTS = (
    "region",
    "upload_bucket_name",
    "upload_bucket_arn",
    "artifacts_bucket_name",
    "results_table_name",
    "results_table_arn",
    "lambda_function_name",
    "lambda_log_group_name",
    "sagemaker_endpoint_name",
    "sagemaker_model_name",
    "bedrock_model_id",
    "bedrock_batch_role_arn",
    "sagemaker_transform_instance_type",
)
AZURE_OUTPUTS = (
    "azure_openai_endpoint",
    "azure_openai_deployment",
    "azure_openai_batch_deployment",  # empty when the batch deployment is off
    "azure_openai_api_key",
)


@dataclass(frozen=True)
class StackNames:
    upload_bucket: str
    artifacts_bucket: str
    results_table: str
    lambda_function: str
    lambda_log_group: str
    sagemaker_model: str
    sagemaker_endpoint_config: str
    sagemaker_endpoint: str
    events_queue: str  # local only: S3 -> SQS -> local Lambda runner
    bedrock_batch_role: str  # assumed by Bedrock batch inference: reads batch inputs, writes batch outputs

    @classmethod
    def for_account(cls, account_id: str, project: str = PROJECT) -> "StackNames":
        # Bucket names are global across AWS accounts, so they carry the account id, as in terraform/aws.
        function = f"{project}-upload-handler"
        return cls(
            upload_bucket=f"{project}-uploads-{account_id}",
            artifacts_bucket=f"{project}-artifacts-{account_id}",
            results_table=f"{project}-results",
            lambda_function=function,
            lambda_log_group=f"/aws/lambda/{function}",
            sagemaker_model=f"{project}-classifier",
            sagemaker_endpoint_config=f"{project}-classifier-serverless",
            sagemaker_endpoint=f"{project}-classifier",
            events_queue=f"{project}-upload-events",
            bedrock_batch_role=f"{project}-bedrock-batch",
        )
