"""Health checks against the local cloud: all ok, and each injected fault turns exactly its own check to fail."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from mcv_core import alarms, infra
from mcv_core.local import control

pytestmark = pytest.mark.timeout(600)
REPO = Path(__file__).resolve().parents[2]
# The stack's checks, then one per enabled target, named by its id, each followed by its batch check.
EXPECTED = [
    "local_aws", "local_emulator", "bucket", "table", "lambda", "log_groups", "alarms",
    "sagemaker", "sagemaker.batch", "bedrock", "bedrock.batch", "azure_openai", "azure_openai.batch",
]  # fmt: skip


@pytest.fixture(autouse=True)
def quiet_alarms(local_settings: Any, workbench: Any) -> Iterator[None]:
    """A healthy local cloud has no alarm in ALARM: those that earlier tests' injected faults left there are set
    back to OK, with the local cloud's evaluator paused meanwhile (it would set them again within a minute while
    the faults' datapoints are in its range)."""
    conn = control.running(local_settings)
    control.admin(conn, "POST", "/components/alarms/stop")
    try:
        for alarm in alarms.current(workbench):
            if alarm.state == "ALARM":
                workbench.clients.aws("cloudwatch").set_alarm_state(AlarmName=alarm.name, StateValue="OK", StateReason="set back by the health tests")
        yield
    finally:
        control.admin(conn, "POST", "/components/alarms/start")


def test_the_alarms_check_warns_naming_an_alarm_in_alarm(workbench: Any) -> None:
    cloudwatch, name = workbench.clients.aws("cloudwatch"), "mc-vision-target-error-rate-azure_openai"
    before = next(a for a in alarms.current(workbench) if a.name == name)
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="Threshold Crossed: set by a test")
    try:
        result = statuses(workbench)["alarms"]
    finally:
        cloudwatch.set_alarm_state(AlarmName=name, StateValue=before.state, StateReason=before.reason or "set back by a test")
    assert result.status == "warn" and result.detail.count("Threshold Crossed") == 1
    assert f"In alarm: Azure OpenAI: error rate ({name}): Threshold Crossed: set by a test" in result.detail
    assert "python -m mcv_core alarms" in (result.fix or "")
    assert statuses(workbench)["alarms"].status == "ok"


def statuses(workbench: Any) -> dict[str, infra.CheckResult]:
    return {r.name: r for r in infra.run_checks(workbench)}


@pytest.fixture
def repaired(local_settings: Any) -> Iterator[None]:
    """Whatever a test breaks, the local stack is provisioned again afterwards (recorded, like any repair)."""
    yield
    control.reprovision(local_settings)


def test_every_check_is_ok_on_a_healthy_local_cloud(workbench: Any) -> None:
    results = statuses(workbench)
    assert list(results) == EXPECTED
    assert {name: r.status for name, r in results.items()} == dict.fromkeys(EXPECTED, "ok"), {
        name: r.detail for name, r in results.items() if r.status != "ok"
    }
    for result in results.values():
        assert result.checked and result.detail and result.duration_ms >= 0 and result.fix is None
    assert results["table"].facts["ttl"] == "ENABLED on expires_at"
    assert results["sagemaker"].facts["memory_mb"] == 1024


def test_health_json_contract(local_env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mcv_core", "health", "--json"], cwd=REPO, env=dict(os.environ), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["ok"] is True and doc["mode"] == "local"
    assert [c["name"] for c in doc["checks"]] == EXPECTED
    assert all(c["status"] in ("ok", "warn", "fail") for c in doc["checks"])
    assert all(c["status"] == "ok" for c in doc["checks"])


def _remove_ttl(workbench: Any) -> None:
    workbench.clients.aws("dynamodb").update_time_to_live(
        TableName=workbench.settings.results_table, TimeToLiveSpecification={"Enabled": False, "AttributeName": "expires_at"}
    )


def _delete_endpoint(workbench: Any) -> None:
    workbench.clients.aws("sagemaker").delete_endpoint(EndpointName=workbench.settings.sagemaker_endpoint)


def _remove_encryption(workbench: Any) -> None:
    workbench.clients.aws("s3").delete_bucket_encryption(Bucket=workbench.settings.upload_bucket)


def _strip_batch_role(workbench: Any) -> None:
    iam, role = workbench.clients.aws("iam"), workbench.settings.bedrock_batch_role_arn.rsplit("/", 1)[-1]
    for policy in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        iam.delete_role_policy(RoleName=role, PolicyName=policy)


@pytest.mark.parametrize(
    "break_it, check, words",
    [
        (_remove_ttl, "table", "TTL"),
        (_delete_endpoint, "sagemaker", "is not there"),
        (_remove_encryption, "bucket", "no default encryption"),
        (_strip_batch_role, "bedrock.batch", "may not read batch/input/; it may not write batch/output/"),
    ],
    ids=["ttl-removed", "endpoint-deleted", "bucket-encryption-removed", "batch-role-stripped"],
)
def test_a_fault_fails_exactly_its_own_check_with_its_fix(
    workbench: Any, repaired: None, break_it: Callable[[Any], None], check: str, words: str
) -> None:
    break_it(workbench)
    results = statuses(workbench)
    failed = {name for name, r in results.items() if r.status == "fail"}
    assert failed == {check}, {name: r.detail for name, r in results.items() if r.status != "ok"}
    assert words in results[check].detail
    assert "python -m mcv_core local provision" in (results[check].fix or "")
    # The fix it names works.
    control.reprovision(workbench.settings)
    assert statuses(workbench)[check].status == "ok"


def test_a_stopped_emulator_fails_its_check_and_the_model_checks_say_why(workbench: Any, local_settings: Any) -> None:
    conn = control.running(local_settings)
    control.admin(conn, "POST", "/components/emulator/stop")
    try:
        results = statuses(workbench)
    finally:
        control.admin(conn, "POST", "/components/emulator/start")
    failed = {name for name, r in results.items() if r.status == "fail"}
    assert failed == {"local_emulator"}, {name: r.detail for name, r in results.items() if r.status != "ok"}
    assert "does not answer" in results["local_emulator"].detail and results["local_emulator"].fix
    for dependent in ("bedrock", "azure_openai"):
        assert results[dependent].status == "warn"
        assert results[dependent].detail == "not checked: Local cloud: model APIs is down"
    assert statuses(workbench)["local_emulator"].status == "ok"


def test_only_enabled_targets_are_probed(local_settings: Any) -> None:
    from mcv_core.workbench import Workbench

    workbench = Workbench(local_settings.with_(targets=("bedrock",)))
    names = [check.name for check in infra.checks_for(workbench)]
    assert names == ["local_aws", "local_emulator", "bucket", "table", "lambda", "log_groups", "alarms", "bedrock", "bedrock.batch"]


def test_a_standard_deployment_named_as_the_batch_one_is_caught(local_settings: Any) -> None:
    """Batch jobs sent to a deployment that answers calls would fail validation: the batch check says so before."""
    from mcv_core.workbench import Workbench

    settings = local_settings.with_(targets=("azure_openai",), azure_batch_deployment=local_settings.azure_deployment)
    results = {r.name: r for r in infra.run_checks(Workbench(settings))}
    batch = results["azure_openai.batch"]
    assert batch.status == "fail" and "answers calls: it is not a Global-Batch deployment" in batch.detail
    assert "GlobalBatch" in (batch.fix or "")
    assert results["azure_openai"].status == "ok"


def test_a_check_that_crashes_fails_alone(local_settings: Any) -> None:
    """A bug in one check (here a probe raising an unexpected exception) is that check's failure; the others run."""
    from mcv_core import targets
    from mcv_core.services import registry
    from mcv_core.services.base import Service
    from mcv_core.workbench import Workbench

    class Broken(Service):
        service = "broken_for_test"
        service_title = "Broken"
        cloud = "aws"
        required_fields = ()

        @property
        def model_id(self) -> str:
            return "broken"

        def call(self, image: Any, prompt: str) -> Any:
            raise AssertionError("not called")

        def probe(self, timeout: float) -> Any:
            raise RuntimeError("a bug in the probe")

    registry.register(Broken)
    try:
        catalogue = targets.Catalogue(
            (targets.Target(id="broken", service="broken_for_test", title="Broken target"), *targets.defaults(local_settings).targets)
        )
        results = {r.name: r for r in infra.run_checks(Workbench(local_settings, catalogue=catalogue))}
    finally:
        registry.unregister("broken_for_test")
    assert results["broken"].status == "fail" and "RuntimeError: a bug in the probe" in results["broken"].detail
    others = {name: r.status for name, r in results.items() if name != "broken"}
    assert set(others.values()) == {"ok"}, {name: r.detail for name, r in results.items() if r.status != "ok"}


def test_health_exits_1_and_prints_the_fix_when_a_check_fails(workbench: Any, local_env: dict[str, str], repaired: None) -> None:
    _remove_ttl(workbench)
    done = subprocess.run(
        [sys.executable, "-m", "mcv_core", "health"], cwd=REPO, env=dict(os.environ), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1
    line = next(line for line in done.stdout.splitlines() if "DynamoDB results table" in line)
    assert line.startswith("FAIL")
    assert "fix: restore the table's settings" in done.stdout


def test_outputs_read_from_the_local_cloud(local_settings: Any) -> None:
    outputs = infra.read_outputs(local_settings)
    assert outputs.source == "local cloud"
    rows = {row["output"]: row["value"] for row in outputs.rows()}
    assert rows["upload_bucket_name"] == local_settings.upload_bucket
    assert rows["azure_openai_api_key"] == "(sensitive)"


def test_an_upload_shows_up_in_the_lambda_events(workbench: Any, cat_jpeg: bytes) -> None:
    import time

    image = workbench.load_image(cat_jpeg, "cat.jpg")
    run = workbench.compare(image, ["sagemaker"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        events = infra.lambda_events(workbench)
        mine = [e for e in events if e.get("key") == run.image_key]
        if mine:
            break
        time.sleep(0.5)
    assert mine, "the upload never reached the Lambda's logs"
    assert mine[0]["outcome"] == "stored" and mine[0]["format"] == "JPEG"
    assert (mine[0]["width"], mine[0]["height"]) == (451, 300)
    lambda_check = statuses(workbench)["lambda"]
    assert lambda_check.status == "ok" and lambda_check.facts["invocations_24h"] >= 1
