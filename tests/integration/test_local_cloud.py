"""The whole path against a real local cloud: real boto3 and openai clients, moto, the AI emulator, local models."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from botocore.config import Config

from mcv_core import errors
from mcv_core.clients import Clients, Endpoints
from mcv_core.local import control
from mcv_core.workbench import Workbench
from tests.conftest import LOCAL_IDLE_S

pytestmark = pytest.mark.timeout(600)


def wait_until(predicate, timeout: float, step: float = 0.25) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def worker_state(settings) -> str:  # noqa: ANN001
    conn = control.running(settings)
    status = control.emulator_admin(conn, "GET", "/_mcv/status")
    return status["sagemaker"].get(settings.sagemaker_endpoint, {}).get("worker", "stopped")


def test_each_provider_answers_through_its_real_sdk(workbench, cat_jpeg):
    image = workbench.load_image(cat_jpeg, "cat.jpg")
    run = workbench.compare(image, ["sagemaker", "bedrock", "azure_openai"], "What animal is this?")
    results = {r.provider: r for r in run.results}
    assert [r.status for r in run.results] == ["ok", "ok", "ok"], [r.error for r in run.results]

    sm = results["sagemaker"]
    assert "cat" in sm.labels[0].label.lower()
    assert all(0 <= label.score <= 1 for label in sm.labels) and len(sm.labels) == 5
    assert sm.cold_start in (True, False) and sm.provider_latency_ms > 0 and sm.cost_usd > 0

    bedrock = results["bedrock"]
    assert "cat" in bedrock.output.lower() and "efficientnet-lite2" in bedrock.output
    # Anthropic's accounting on the size sent (451 x 300 is below every limit): ceil(451*300/750) = 181.
    assert (bedrock.image_width, bedrock.image_height, bedrock.image_tokens) == (451, 300, 181)
    assert bedrock.input_tokens > bedrock.image_tokens and bedrock.output_tokens > 0
    assert bedrock.provider_latency_ms is not None and bedrock.cost_usd > 0

    azure = results["azure_openai"]
    assert "cat" in azure.output.lower() and "efficientnet-lite1" in azure.output
    assert azure.model == "gpt-4o-mini-2024-07-18"
    assert azure.image_tokens == 2833 + 5667  # one 512-px tile
    assert azure.input_tokens > azure.image_tokens and azure.cost_usd > 0


def test_run_is_stored_in_s3_and_dynamodb(workbench, coffee_jpeg):
    image = workbench.load_image(coffee_jpeg, "coffee.jpg")
    run = workbench.compare(image, ["sagemaker", "bedrock"], source="cli")
    assert run.image_key == f"uploads/{run.created_at:%Y/%m/%d}/{image.sha256}.jpg"
    assert workbench.store.read(run.image_key) == coffee_jpeg
    head = workbench.clients.aws("s3").head_object(Bucket=workbench.settings.upload_bucket, Key=run.image_key)
    assert head["ServerSideEncryption"] == "AES256" and head["Metadata"]["sha256"] == image.sha256

    items = workbench.history.run(run.run_id)
    assert sorted(item["sk"] for item in items) == ["RESULT#bedrock", "RESULT#sagemaker", "RUN"]
    stored = workbench.history.results(run.created_at - timedelta(seconds=1))
    mine = [item for item in stored if item["run_id"] == run.run_id]
    assert {item["provider"] for item in mine} == {"sagemaker", "bedrock"}
    sm = next(item for item in mine if item["provider"] == "sagemaker")
    assert sm["labels"][0]["label"] == "espresso" and sm["image_key"] == run.image_key
    full = next(item for item in items if item["sk"] == "RESULT#sagemaker")
    assert full["expires_at"] == int(run.created_at.timestamp()) + 90 * 86400
    by_provider = workbench.history.results(run.created_at - timedelta(seconds=1), providers=["bedrock"])
    assert {item["provider"] for item in by_provider} == {"bedrock"}
    assert any(item["run_id"] == run.run_id for item in by_provider)
    # Writing the same run again stores nothing new: the writes are idempotent.
    workbench.history.save(run)
    assert len(workbench.history.run(run.run_id)) == 3


def test_sagemaker_cold_then_warm_then_cold_after_idle(workbench, cat_jpeg):
    image = workbench.load_image(cat_jpeg, "cat.jpg")
    settings = workbench.settings
    assert wait_until(lambda: worker_state(settings) == "stopped", timeout=LOCAL_IDLE_S + 10)
    first = workbench.compare(image, ["sagemaker"]).results[0]
    second = workbench.compare(image, ["sagemaker"]).results[0]
    assert (first.status, second.status) == ("ok", "ok")
    assert first.cold_start is True and second.cold_start is False
    assert first.timings["model_load_ms"] > 0
    assert worker_state(settings) == "running"
    # The worker scales to zero after the idle time; the next call pays a real cold start again.
    assert wait_until(lambda: worker_state(settings) == "stopped", timeout=LOCAL_IDLE_S + 10)
    third = workbench.compare(image, ["sagemaker"]).results[0]
    assert third.status == "ok" and third.cold_start is True


def test_wrong_credentials_are_refused(local_settings, cat_jpeg):
    conn = control.running(local_settings)
    endpoints = Endpoints(
        aws={s: conn.aws_endpoint(s) for s in ("s3", "dynamodb", "sagemaker-runtime", "bedrock-runtime")},
        aws_access_key_id=conn.access_key_id,
        aws_secret_access_key="not-the-secret",
        azure_endpoint=conn.azure_endpoint,
        azure_api_key="not-the-key",
        openai_base_url=conn.openai_base_url,
        openai_api_key="not-the-key",
    )
    from mcv_core import targets

    catalogue = targets.Catalogue(
        (*targets.defaults(local_settings).targets, targets.Target(id="gpt-41-mini", service="openai", model="gpt-4.1-mini", title="x"))
    )
    workbench = Workbench(local_settings.with_(max_attempts=1), Clients(local_settings, endpoints), catalogue=catalogue)
    image = workbench.load_image(cat_jpeg, "cat.jpg")
    from mcv_core.runner import call_provider

    for name in ("sagemaker", "bedrock", "azure_openai", "gpt-41-mini"):
        result = call_provider(workbench.target(name), image, "What is it?")
        assert result.status == "error" and result.error_type == "auth", (name, result.error)


def test_unknown_bedrock_model_and_azure_deployment_are_not_served(local_settings, cat_jpeg):
    workbench = Workbench(local_settings.with_(bedrock_model_id="amazon.titan-text-express-v1", azure_deployment="no-such-deployment"))
    image = workbench.load_image(cat_jpeg, "cat.jpg")
    from mcv_core.runner import call_provider

    bedrock = call_provider(workbench.target("bedrock"), image, "x")
    azure = call_provider(workbench.target("azure_openai"), image, "x")
    assert bedrock.error_type == "invalid_request" and "model identifier is invalid" in bedrock.error
    assert "check the target's model" in bedrock.error  # what to do, in the target's own column
    assert azure.error_type == "not_found" and "DeploymentNotFound" in azure.error
    assert "deployment 'no-such-deployment' is not in this Azure OpenAI resource" in azure.error


def test_local_env_makes_any_script_a_client(local_settings, tmp_path):
    conn = control.running(local_settings)
    env = control.env_vars(local_settings, conn)
    assert env["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"] == conn.emulator_url
    assert env["AWS_ENDPOINT_URL_S3"] == conn.moto_url
    lines = control.env_lines(local_settings, conn)
    assert all(line.startswith("export ") for line in lines)
    # A plain boto3 client built only from those variables (as a shell after eval would have them).
    kwargs = dict(
        region_name=env["AWS_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        config=Config(s3={"addressing_style": "path"}),
    )
    s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL_S3"], **kwargs)
    assert env["MCV_BUCKET"] in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    ddb = boto3.client("dynamodb", endpoint_url=env["AWS_ENDPOINT_URL_DYNAMODB"], **kwargs)
    table = ddb.describe_table(TableName=env["MCV_TABLE"])["Table"]
    assert {i["IndexName"] for i in table["GlobalSecondaryIndexes"]} == {"by_time", "by_provider"}
    ttl = ddb.describe_time_to_live(TableName=env["MCV_TABLE"])["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}


def test_outputs_have_the_shape_of_terraform_output_json(local_settings):
    from mcv_core.local.state import outputs_dir
    from mcv_core.stack import AWS_OUTPUTS, AZURE_OUTPUTS

    aws = json.loads((outputs_dir(local_settings.data_dir) / "aws.json").read_text())
    azure = json.loads((outputs_dir(local_settings.data_dir) / "azure.json").read_text())
    assert set(aws) == set(AWS_OUTPUTS) and set(azure) == set(AZURE_OUTPUTS)
    for output in [*aws.values(), *azure.values()]:
        assert set(output) == {"sensitive", "type", "value"}
    assert aws["upload_bucket_name"]["value"] == local_settings.upload_bucket
    assert aws["results_table_name"]["value"] == local_settings.results_table
    assert aws["sagemaker_endpoint_name"]["value"] == local_settings.sagemaker_endpoint
    assert azure["azure_openai_api_key"]["sensitive"] is True


def test_deleted_endpoint_is_a_not_found_error_for_sagemaker_only(workbench, cat_jpeg):
    """The emulator serves only endpoints that exist in the control plane (checked in a copy of the stack)."""
    sm = workbench.clients.aws("sagemaker")
    name = "mc-vision-scratch"
    config = sm.describe_endpoint(EndpointName=workbench.settings.sagemaker_endpoint)["EndpointConfigName"]
    sm.create_endpoint(EndpointName=name, EndpointConfigName=config)
    bench = Workbench(workbench.settings.with_(sagemaker_endpoint=name), workbench.clients)
    image = bench.load_image(cat_jpeg, "cat.jpg")
    assert bench.compare(image, ["sagemaker"]).results[0].status == "ok"
    sm.delete_endpoint(EndpointName=name)
    run = bench.compare(image, ["sagemaker", "bedrock"])
    assert run.results[0].error_type == "not_found" and name in run.results[0].error
    assert run.results[1].status == "ok"


def test_state_survives_a_restart(local_settings, workbench, cat_jpeg):
    image = workbench.load_image(cat_jpeg, "cat.jpg")
    run = workbench.compare(image, ["bedrock"])
    before = control.running(local_settings)
    assert control.down(local_settings) is True
    assert control.running(local_settings) is None
    after = control.up(local_settings, quiet=True)
    assert after.pid != before.pid
    # Same ports and keys: clients made before the restart still work.
    assert (after.moto_url, after.emulator_url, after.access_key_id) == (before.moto_url, before.emulator_url, before.access_key_id)
    items = workbench.history.run(run.run_id)
    assert {item["sk"] for item in items} == {"RUN", "RESULT#bedrock"}
    assert workbench.store.read(run.image_key) == cat_jpeg
    since = datetime.now(timezone.utc) - timedelta(hours=1)
    assert any(item["run_id"] == run.run_id for item in workbench.history.results(since))
    # The replay was not recorded again: a second restart does not double the recording.
    from mcv_core.local.aws_server import is_worth_replaying
    from mcv_core.local.state import recording_path

    recorded = [json.loads(line) for line in recording_path(local_settings.data_dir).read_text().splitlines()]
    worth = sum(1 for entry in recorded if is_worth_replaying(entry))
    control.down(local_settings)
    control.up(local_settings, quiet=True)
    # What the new start recorded of its own (the Lambda runner's polls) is never worth replaying.
    after = [json.loads(line) for line in recording_path(local_settings.data_dir).read_text().splitlines()]
    assert sum(1 for entry in after if is_worth_replaying(entry)) == worth


def test_missing_local_cloud_is_a_clear_error(tmp_path):
    from mcv_core.config import Settings

    settings = Settings.from_mapping({"MCV_DATA_DIR": str(tmp_path)})
    with pytest.raises(errors.LocalCloudError, match="not running"):
        Workbench(settings)
