"""docs/DEPLOY.md's commands do what it says: the .env one-liner and emptying a versioned bucket."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from mcv_core import stack
from mcv_core.config import Settings

from .tfconfig import AWS, AZURE, REPO, load

DEPLOY = REPO / "docs" / "DEPLOY.md"


def _doc() -> str:
    return DEPLOY.read_text(encoding="utf-8")


def _outputs(values: dict[str, object], sensitive: tuple[str, ...] = ()) -> str:
    import json

    return json.dumps(
        {
            name: {"sensitive": name in sensitive, "type": "string" if isinstance(v, str) else "number", "value": v}
            for name, v in values.items()
        }
    )


def _env_from_doc(aws: dict[str, object], azure: dict[str, object]) -> dict[str, str]:
    jq = shutil.which("jq")
    if jq is None:
        pytest.skip("jq is not installed")
    match = re.search(r"jq -rs '([^']+)'", _doc())
    assert match, "the .env one-liner (jq -rs '...') is missing from docs/DEPLOY.md"
    stdin = _outputs(aws) + "\n" + _outputs(azure, ("azure_openai_api_key",)) + "\n"
    done = subprocess.run([jq, "-rs", match.group(1)], input=stdin, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line]
    env = dict(line.split("=", 1) for line in lines)
    assert len(env) == len(lines), "a variable is written twice"
    return env


AWS_VALUES = {
    "region": "ap-northeast-1",
    "upload_bucket_name": "mc-vision-uploads-210987654321",
    "upload_bucket_arn": "arn:aws:s3:::mc-vision-uploads-210987654321",
    "artifacts_bucket_name": "mc-vision-artifacts-210987654321",
    "results_table_name": "mc-vision-results",
    "results_table_arn": "arn:aws:dynamodb:ap-northeast-1:210987654321:table/mc-vision-results",
    "lambda_function_name": "mc-vision-upload-handler",
    "lambda_log_group_name": "/aws/lambda/mc-vision-upload-handler",
    "sagemaker_endpoint_name": "mc-vision-classifier",
    "sagemaker_model_name": "mc-vision-classifier",
    "sagemaker_memory_mb": 2048,
    "bedrock_model_id": "apac.anthropic.claude-3-haiku-20240307-v1:0",
    "bedrock_batch_role_arn": "arn:aws:iam::210987654321:role/mc-vision-bedrock-batch",
    "sagemaker_transform_instance_type": "ml.m5.large",
}
AZURE_VALUES = {
    "azure_openai_endpoint": "https://mc-vision-openai-0a1b2c.openai.azure.com/",
    "azure_openai_deployment": "mini",
    "azure_openai_model": "gpt-4o-mini",
    "azure_openai_batch_deployment": "",  # batch_deployment_enabled = false (the default)
    "azure_openai_api_key": "0123456789abcdef0123456789abcdef",
}


def test_env_one_liner_gives_the_app_its_cloud_settings() -> None:
    env = _env_from_doc(AWS_VALUES, AZURE_VALUES)
    settings = Settings.from_mapping(env)
    assert settings.mode == "cloud"
    assert settings.region == "ap-northeast-1"
    assert settings.upload_bucket == AWS_VALUES["upload_bucket_name"]
    assert settings.results_table == AWS_VALUES["results_table_name"]
    assert settings.sagemaker_endpoint == AWS_VALUES["sagemaker_endpoint_name"]
    assert settings.lambda_function == AWS_VALUES["lambda_function_name"]
    assert settings.bedrock_model_id == AWS_VALUES["bedrock_model_id"]
    assert settings.sagemaker_memory_mb == 2048
    assert settings.azure_endpoint == AZURE_VALUES["azure_openai_endpoint"]
    assert settings.azure_deployment == "mini"
    assert settings.azure_model == "gpt-4o-mini"
    assert env["AZURE_OPENAI_API_KEY"] == AZURE_VALUES["azure_openai_api_key"]  # read by the openai SDK
    assert settings.bedrock_batch_role_arn == AWS_VALUES["bedrock_batch_role_arn"]
    assert settings.transform_instance_type == AWS_VALUES["sagemaker_transform_instance_type"]
    assert "MCV_AZURE_BATCH_DEPLOYMENT" not in env  # no Global-Batch deployment: the setting keeps its default


def test_env_one_liner_names_the_batch_deployment_when_it_is_on() -> None:
    env = _env_from_doc(AWS_VALUES, {**AZURE_VALUES, "azure_openai_batch_deployment": "mini-batch"})
    assert env["MCV_AZURE_BATCH_DEPLOYMENT"] == "mini-batch"
    assert Settings.from_mapping(env).azure_batch_deployment == "mini-batch"


def test_env_one_liner_writes_no_key_when_keys_are_off() -> None:
    env = _env_from_doc(AWS_VALUES, {**AZURE_VALUES, "azure_openai_api_key": ""})
    assert "AZURE_OPENAI_API_KEY" not in env


def test_env_one_liner_reads_only_outputs_that_exist() -> None:
    program = re.search(r"jq -rs '([^']+)'", _doc()).group(1)
    for stack_name, path in (("aws", AWS), ("az", AZURE)):
        used = set(re.findall(rf"\${stack_name}\.([a-z_]+)", program))
        assert used, stack_name
        assert used <= set(load(path).outputs), used - set(load(path).outputs)


def test_doc_names_every_step() -> None:
    doc = _doc()
    for needle in (
        "make model",
        "terraform/bootstrap/create-state-backend.sh",
        "az provider register --namespace Microsoft.CognitiveServices",
        "terraform init -backend-config=backend.hcl",
        "force_destroy",
        "terraform force-unlock",
        *(f"{name}=" for name in ("MCV_MODE", "MCV_BUCKET", "MCV_TABLE", "MCV_SAGEMAKER_ENDPOINT",
                                   "MCV_LAMBDA_FUNCTION", "AWS_REGION", "AZURE_OPENAI_ENDPOINT",
                                   "MCV_AZURE_DEPLOYMENT", "AZURE_OPENAI_API_KEY", "MCV_BEDROCK_BATCH_ROLE_ARN",
                                   "MCV_AZURE_BATCH_DEPLOYMENT")),
    ):  # fmt: skip
        assert needle in doc, needle
    # The table of what gets deployed uses the stack's own names (with <account> for the account id).
    names = stack.StackNames.for_account("<account>")
    for name in (
        names.upload_bucket, names.artifacts_bucket, names.results_table, names.lambda_function,
        names.lambda_log_group, names.sagemaker_model, names.sagemaker_endpoint_config, names.sagemaker_endpoint,
        names.bedrock_batch_role,
    ):  # fmt: skip
        assert name in doc, name


def test_emptying_a_versioned_bucket_as_documented(monkeypatch: pytest.MonkeyPatch) -> None:
    moto = pytest.importorskip("moto")
    import boto3

    match = re.search(r"python -c '([^']+)' \"\$bucket\"", _doc())
    assert match, "the boto3 command that empties a bucket is missing from docs/DEPLOY.md"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with moto.mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="versioned")
        s3.put_bucket_versioning(Bucket="versioned", VersioningConfiguration={"Status": "Enabled"})
        for i in range(5):
            s3.put_object(Bucket="versioned", Key=f"uploads/{i % 3}.jpg", Body=b"x")
        s3.delete_object(Bucket="versioned", Key="uploads/0.jpg")  # a delete marker
        monkeypatch.setattr(sys, "argv", ["-c", "versioned"])
        exec(compile(match.group(1), "DEPLOY.md", "exec"), {})  # noqa: S102 - the documented command itself
        listing = s3.list_object_versions(Bucket="versioned")
        assert not listing.get("Versions") and not listing.get("DeleteMarkers")
        s3.delete_bucket(Bucket="versioned")


def _section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", _doc(), re.M | re.S)
    assert match, f"docs/DEPLOY.md has no section {title!r}"
    return match.group(1)


def test_batch_section_covers_roles_variables_and_limits() -> None:
    section = _section("Batch benchmarks")
    names = stack.StackNames.for_account("<account>")
    for needle in (
        names.bedrock_batch_role, "bedrock_batch_role_arn", "model-invocation-job/*", "aws:SourceAccount",
        stack.BATCH_INPUT_PREFIX, stack.BATCH_OUTPUT_PREFIX, "s3:prefix",
        "sagemaker_transform_instance_type", stack.TRANSFORM_INSTANCE_TYPE, "transform job usage",
        stack.AZURE_BATCH_DEPLOYMENT, "azure_openai_batch_deployment", "GlobalBatch",
        "batch_deployment_enabled = true", "at least 100 records per job",
    ):  # fmt: skip
        assert needle in section, needle
    # Every variable the batch resources add is named, with its default.
    for path, names_ in (
        (AWS, ("transform_instance_type", "batch_lifecycle_days")),
        (AZURE, ("batch_deployment_enabled", "batch_deployment_name", "batch_deployment_capacity")),
    ):
        variables = load(path).variables
        for name in names_:
            default = str(variables[name]["default"]).strip('"').lower()
            assert re.search(rf"\| `{name}` \| `{re.escape(default)}` \|", section), (name, default)
