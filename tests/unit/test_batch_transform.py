"""SageMaker Batch Transform as a batch engine, offline: the job's request against botocore's own model of
CreateTransformJob, its records (the online call's JSON body), DescribeTransformJob's states, the outputs joined
back to their records (a missing one in a failed job says why), the price of a job's instance time shared by its
records, the one routing hook of the local cloud, and the local engine's SageMaker states."""

from __future__ import annotations

import io
import json
import re
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber
from botocore.validate import ParamValidator

from mcv_core import batch, pricing, stack
from mcv_core.clients import Clients, Endpoints
from mcv_core.config import Settings
from mcv_core.images import PreparedImage
from mcv_core.local import sigv4
from mcv_core.local.emulator import sagemaker_transform
from mcv_core.local.emulator.batch_jobs import BatchFault, BatchJobs
from mcv_core.services import sagemaker
from mcv_core.services.base import BatchState
from mcv_core.targets import Target
from tests.unit.test_batch import FakeWorkbench

IMAGE = PreparedImage(data=b"\xff\xd8\xffjpeg-bytes", media_type="image/jpeg", format="jpeg", width=224, height=224)
CLASSIFIER = Target(id="sagemaker", service="sagemaker", endpoint="mc-vision-classifier", title="SageMaker Serverless")
SETTINGS = Settings.from_mapping(
    {"MCV_MODE": "cloud", "MCV_BUCKET": "b", "MCV_TABLE": "t", "AWS_REGION": "ap-northeast-1"}
)
BUCKET = "b"
WHERE = "bench-20261206T010000-abc123/sagemaker/000"
START = datetime(2026, 12, 6, 1, 0, 0, tzinfo=timezone.utc)


def _model(service: str) -> Any:
    return botocore.session.get_session().get_service_model(service)


# --- the request -------------------------------------------------------------------------------------------------


def test_a_transform_job_request_is_valid_by_botocore_s_own_model() -> None:
    name = sagemaker.transform_job_name(WHERE.replace("/", "-"))
    request = sagemaker.transform_request(name, "mc-vision-classifier", BUCKET, WHERE, "ml.m5.large")
    shape = _model("sagemaker").operation_model("CreateTransformJob").input_shape
    report = ParamValidator().validate(request, shape)
    assert not report.has_errors(), report.generate_report()
    pattern = shape.members["TransformJobName"].metadata["pattern"]
    assert re.fullmatch(pattern, name) and len(name) <= 63
    # Every object under the job's prefix is one record; the answers go under the output prefix as <object>.out.
    source = request["TransformInput"]["DataSource"]["S3DataSource"]
    assert source == {"S3DataType": "S3Prefix", "S3Uri": f"s3://b/{stack.BATCH_INPUT_PREFIX}{WHERE}/"}
    assert (request["TransformInput"]["SplitType"], request["BatchStrategy"]) == ("None", "SingleRecord")
    assert request["TransformInput"]["ContentType"] == "application/json"
    assert request["TransformOutput"]["S3OutputPath"] == f"s3://b/{stack.BATCH_OUTPUT_PREFIX}{WHERE}/"
    assert request["MaxPayloadInMB"] == 6 and sagemaker.BATCH_LIMITS.max_record_bytes == 6 * 1024 * 1024
    assert request["TransformResources"] == {"InstanceType": "ml.m5.large", "InstanceCount": 1}
    assert sagemaker.BATCH_LIMITS.min_records == 1


@pytest.mark.parametrize("where", [WHERE, "bench-20261206T010000-abc123/my_classifier.v2/012", "x" * 80 + "/__/1"])
def test_job_names_are_ones_sagemaker_accepts(where: str) -> None:
    name = sagemaker.transform_job_name(where.replace("/", "-"))
    pattern = _model("sagemaker").shape_for("TransformJobName").metadata["pattern"]
    assert re.fullmatch(pattern, name) and len(name) <= 63 and name.startswith("mcv-")


def test_a_record_is_the_online_call_s_json_body_under_its_id() -> None:
    line = sagemaker.batch_record(batch.record_id(0), IMAGE)
    assert list(line) == ["recordId", "body"]  # the id first: batch.submit rewrites it per record
    assert line["body"] == json.loads(sagemaker.build_request(IMAGE)["Body"])
    written = json.dumps(line).encode().replace(b'"R0000000000"', json.dumps(batch.record_id(42)).encode(), 1)
    assert json.loads(written)["recordId"] == "R0000000042"


def test_records_above_the_payload_limit_are_refused_and_any_count_fits_one_job() -> None:
    limits = sagemaker.BATCH_LIMITS
    assert batch.split([100_000] * 7, limits) == [(0, 7)]
    assert batch.split([100_000], limits) == [(0, 1)]  # no minimum
    with pytest.raises(Exception, match="more than a batch record may be"):
        batch.split([100_000, 7 * 1024 * 1024], limits)


# --- a bound service over stubbed clients ------------------------------------------------------------------------


class StubClients:
    def __init__(self) -> None:
        session = botocore.session.get_session()
        kwargs = {"region_name": "ap-northeast-1", "aws_access_key_id": "AKIAX", "aws_secret_access_key": "secret"}
        self.clients = {name: session.create_client(name, **kwargs) for name in ("sagemaker", "s3")}
        self.stubs = {name: Stubber(client) for name, client in self.clients.items()}
        for stub in self.stubs.values():
            stub.activate()

    def aws(self, service: str, *, timeout: float | None = None, max_attempts: int | None = None) -> Any:
        return self.clients[service]


def _service(clients: StubClients) -> sagemaker.SageMaker:
    return sagemaker.SageMaker(CLASSIFIER, SETTINGS, clients)  # type: ignore[arg-type]


def _described(status: str, *, ended: bool = True, reason: str | None = None, seconds: float = 90.0) -> dict[str, Any]:
    name = sagemaker.transform_job_name(WHERE.replace("/", "-"))
    job: dict[str, Any] = {
        "TransformJobName": name,
        "TransformJobArn": f"arn:aws:sagemaker:ap-northeast-1:123456789012:transform-job/{name}",
        "TransformJobStatus": status,
        "ModelName": "mc-vision-classifier",
        "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/x/"}}},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        "CreationTime": START - timedelta(seconds=5),
        "TransformStartTime": START,
    }
    if ended:
        job["TransformEndTime"] = START + timedelta(seconds=seconds)
    if reason:
        job["FailureReason"] = reason
    return job


@pytest.mark.parametrize(
    ("status", "phase", "ended"),
    [("InProgress", "running", False), ("Stopping", "running", False), ("Completed", "done", True),
     ("Failed", "failed", True), ("Stopped", "cancelled", True)],
)  # fmt: skip
def test_describe_transform_job_states_map_to_phases_with_the_reason_and_the_bill(
    status: str, phase: str, ended: bool
) -> None:
    clients = StubClients()
    reason = "ClientError: See job logs for more information" if status == "Failed" else None
    clients.stubs["sagemaker"].add_response(
        "describe_transform_job", _described(status, ended=ended, reason=reason), {"TransformJobName": "job-1"}
    )
    state = _service(clients).batch_state("job-1")
    assert (state.status, state.phase, state.over) == (status, phase, phase != "running")
    assert state.message == reason
    assert (state.completed, state.failed) == (None, None)  # DescribeTransformJob counts no records
    if ended:  # 90 s of one ml.m5.large in Tokyo
        assert state.cost_usd == pytest.approx(0.149 * 90 / 3600)
    else:
        assert state.cost_usd is None
    clients.stubs["sagemaker"].assert_no_pending_responses()


def _stub_endpoint(sm: Stubber, model: str) -> None:
    """The endpoint and its config as describe_endpoint and describe_endpoint_config give them: the model behind it."""
    arn = "arn:aws:sagemaker:ap-northeast-1:123456789012"
    sm.add_response(
        "describe_endpoint",
        {"EndpointName": "mc-vision-classifier", "EndpointArn": f"{arn}:endpoint/mc-vision-classifier",
         "EndpointConfigName": "cfg", "EndpointStatus": "InService", "CreationTime": START, "LastModifiedTime": START},
        {"EndpointName": "mc-vision-classifier"},
    )  # fmt: skip
    sm.add_response(
        "describe_endpoint_config",
        {"EndpointConfigName": "cfg", "EndpointConfigArn": f"{arn}:endpoint-config/cfg", "CreationTime": START,
         "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": model}]},
        {"EndpointConfigName": "cfg"},
    )  # fmt: skip


def test_submit_writes_one_object_per_record_and_creates_the_job_on_the_endpoint_s_model() -> None:
    clients = StubClients()
    lines = b"".join(
        json.dumps(sagemaker.batch_record(batch.record_id(p), IMAGE)).encode() + b"\n" for p in range(3)
    )
    body = json.dumps(json.loads(sagemaker.build_request(IMAGE)["Body"])).encode()
    for p in range(3):
        clients.stubs["s3"].add_response(
            "put_object",
            {},
            {"Bucket": "b", "Key": f"{stack.BATCH_INPUT_PREFIX}{WHERE}/R{p:010d}", "Body": body,
             "ContentType": "application/json"},  # fmt: skip
        )
    sm = clients.stubs["sagemaker"]
    _stub_endpoint(sm, "mc-vision-classifier-model")
    name = sagemaker.transform_job_name(WHERE.replace("/", "-"))
    model, instance = "mc-vision-classifier-model", stack.TRANSFORM_INSTANCE_TYPE
    expected = sagemaker.transform_request(name, model, "b", WHERE, instance)
    arn = f"arn:aws:sagemaker:ap-northeast-1:123456789012:transform-job/{name}"
    sm.add_response("create_transform_job", {"TransformJobArn": arn}, expected)
    assert _service(clients).batch_submit(WHERE, WHERE.replace("/", "-"), lines) == name
    clients.stubs["s3"].assert_no_pending_responses()
    sm.assert_no_pending_responses()


def test_a_job_name_already_taken_is_the_job_submitted_before() -> None:
    clients = StubClients()
    clients.stubs["s3"].add_response("put_object", {}, {"Bucket": "b", "Key": ANY, "Body": ANY, "ContentType": ANY})
    sm = clients.stubs["sagemaker"]
    _stub_endpoint(sm, "m")
    sm.add_client_error("create_transform_job", "ResourceInUse", "Job name must be unique", 400)
    lines = json.dumps(sagemaker.batch_record("R0000000000", IMAGE)).encode() + b"\n"
    assert _service(clients).batch_submit(WHERE, "again", lines) == "mcv-again"


def test_stopping_a_job_that_has_ended_is_nothing_left_to_cancel() -> None:
    clients = StubClients()
    clients.stubs["sagemaker"].add_client_error("stop_transform_job", "ValidationException", "Completed", 400)
    _service(clients).batch_cancel("job-1")
    clients.stubs["sagemaker"].add_client_error("stop_transform_job", "ResourceNotFound", "no such job", 400)
    with pytest.raises(Exception, match="no such job"):
        _service(clients).batch_cancel("job-1")


# --- the batch health check's reading of the model's role ----------------------------------------------------------

UPLOAD_ARN = "arn:aws:s3:::mc-vision-uploads-123456789012"
TRUST_SAGEMAKER = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}
# terraform/aws/modules/iam: the SageMaker role's ReadBatchInputs, ListBatchInputs and WriteBatchOutputs.
BATCH_STATEMENTS = [
    {"Sid": "ReadBatchInputs", "Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{UPLOAD_ARN}/batch/input/*"},
    {"Sid": "ListBatchInputs", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": UPLOAD_ARN,
     "Condition": {"StringLike": {"s3:prefix": ["batch/input/*"]}}},
    {"Sid": "WriteBatchOutputs", "Effect": "Allow", "Action": "s3:PutObject", "Resource": f"{UPLOAD_ARN}/batch/output/*"},
]  # fmt: skip
ARTIFACT_ONLY = [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::a/sagemaker/model.tar.gz"}]


@pytest.mark.parametrize(
    ("trust", "statements", "problems"),
    [
        (TRUST_SAGEMAKER, BATCH_STATEMENTS + ARTIFACT_ONLY, []),
        (TRUST_SAGEMAKER, ARTIFACT_ONLY, ["it may not read batch/input/", "it may not write batch/output/"]),
        ({"Statement": [{**TRUST_SAGEMAKER["Statement"][0], "Principal": {"Service": "bedrock.amazonaws.com"}}]},
         BATCH_STATEMENTS, ["SageMaker (sagemaker.amazonaws.com) may not assume it"]),
        (TRUST_SAGEMAKER, [{**statement, "Effect": "Deny"} for statement in BATCH_STATEMENTS],
         ["it may not read batch/input/", "it may not write batch/output/"]),
    ],
)  # fmt: skip
def test_a_model_role_that_cannot_run_transform_jobs_says_why(trust: Any, statements: Any, problems: list[str]) -> None:
    policies = [{"Version": "2012-10-17", "Statement": statements}]
    assert sagemaker.transform_role_problems(trust, policies) == problems


# --- outputs joined back to their records ------------------------------------------------------------------------


def _answer(label: str, score: float) -> bytes:
    others = [{"label": f"other {i}", "score": 0.01, "index": i} for i in range(4)]
    labels = [{"label": label, "score": score, "index": 1}, *others]
    answer = {"model": "efficientnet-lite0", "labels": labels, "preprocess_ms": 3.0, "inference_ms": 20.0}
    return json.dumps(answer).encode()


def _bench(records: int) -> batch.BatchBench:
    image = {"name": "coffee.jpg", "key": "uploads/x.jpg", "sha256": "ab", "format": "JPEG", "width": 400,
             "height": 300, "size_bytes": 1000, "expected": ["espresso"]}  # fmt: skip
    return batch.BatchBench(
        bench_id="bench-20261206T010000-abc123",
        created_at=START,
        prompt="",
        targets=["sagemaker"],
        repeat=records,
        images=[image],
        sent={"sagemaker": [[224, 224]]},
        jobs=[batch.BatchJob("sagemaker", 0, "mcv-job", 0, records)],
    )


def _stub_outputs(clients: StubClients, outputs: dict[str, bytes]) -> None:
    prefix = f"{stack.BATCH_OUTPUT_PREFIX}{WHERE}/"
    contents = [{"Key": f"{prefix}{name}", "Size": len(body)} for name, body in outputs.items()]
    listed = {"Contents": contents, "IsTruncated": False}
    clients.stubs["s3"].add_response("list_objects_v2", listed, {"Bucket": "b", "Prefix": prefix})
    for name, body in sorted(outputs.items()):
        clients.stubs["s3"].add_response(
            "get_object",
            {"Body": StreamingBody(io.BytesIO(body), len(body))},
            {"Bucket": "b", "Key": f"{prefix}{name}"},
        )


def test_a_failed_job_s_outputs_join_on_their_ids_and_a_record_without_one_says_why() -> None:
    clients = StubClients()
    reason = "ClientError: 1 of 4 records failed; the first, R0000000003: Received client error (400)"
    clients.stubs["sagemaker"].add_response("describe_transform_job", _described("Failed", reason=reason, seconds=120))
    _stub_outputs(clients, {"R0000000002.out": _answer("espresso", 0.9), "R0000000000.out": _answer("espresso", 0.8),
                            "R0000000001.out": b"<html>not the handler's JSON</html>",
                            "manifest.json": b"{}", "R0000000099.out": _answer("cup", 0.5)})  # fmt: skip
    workbench = FakeWorkbench(_service(clients), SETTINGS)
    bench = _bench(4)
    batch.poll(workbench, bench)  # type: ignore[arg-type]
    by_position = {int(run.run_id.rsplit("-", 1)[1]): run.results[0] for run in workbench.saved}
    assert sorted(by_position) == [0, 1, 2, 3]  # R0000000099 was not given to this job: left out
    share = 0.149 * 120 / 3600 / 4  # the job's instance time, shared by its four records
    for position in (0, 2):
        result = by_position[position]
        assert (result.status, result.mode, result.job_id) == ("ok", "batch", "mcv-job")
        assert result.labels[0].label == "espresso" and result.correct is True
        assert result.cost_usd == pytest.approx(share) and result.provider_latency_ms == pytest.approx(23.0)
    assert by_position[1].error_type == "malformed_response" and by_position[1].cost_usd is None
    assert by_position[3].error_type == "batch_job_failed" and reason in by_position[3].error
    assert bench.jobs[0].cost_usd == pytest.approx(0.149 * 120 / 3600) and workbench.state["over"] is True


def test_a_completed_job_missing_an_output_reports_it_and_a_stopped_one_stores_nothing() -> None:
    clients = StubClients()
    clients.stubs["sagemaker"].add_response("describe_transform_job", _described("Completed", seconds=36))
    _stub_outputs(clients, {"R0000000000.out": _answer("espresso", 0.9)})
    workbench = FakeWorkbench(_service(clients), SETTINGS)
    batch.poll(workbench, _bench(2))  # type: ignore[arg-type]
    results = {int(run.run_id.rsplit("-", 1)[1]): run.results[0] for run in workbench.saved}
    assert results[0].cost_usd == pytest.approx(0.149 * 36 / 3600 / 2)
    assert results[1].error_type == "malformed_response" and "has no line for this record" in results[1].error

    clients = StubClients()
    clients.stubs["sagemaker"].add_response("describe_transform_job", _described("Stopped", seconds=10))
    _stub_outputs(clients, {})
    workbench = FakeWorkbench(_service(clients), SETTINGS)
    bench = _bench(2)
    batch.poll(workbench, bench)  # type: ignore[arg-type]
    assert workbench.saved == [] and bench.jobs[0].phase == "cancelled" and bench.over


# --- price -------------------------------------------------------------------------------------------------------


def test_a_transform_job_costs_its_instance_time_at_the_hourly_price() -> None:
    end = START + timedelta(minutes=7, seconds=30)

    def cost(instance: str, count: int, region: str, ended: datetime | None = end) -> float | None:
        return pricing.sagemaker_transform_cost(START, ended, instance, count, region)

    assert cost("ml.m5.large", 1, "ap-northeast-1") == pytest.approx(0.149 * 450 / 3600)
    assert cost("ml.m5.large", 2, "ap-northeast-1") == pytest.approx(2 * 0.149 * 450 / 3600)
    assert cost("ml.m5.large", 1, "us-east-1") == pytest.approx(0.115 * 450 / 3600)
    # A region not in the table: the us-east-1 price of the type, an estimate; a type not in it: no price.
    assert cost("ml.m5.large", 1, "eu-west-3") == pytest.approx(0.115 * 450 / 3600)
    assert cost("ml.p4d.24xlarge", 1, "ap-northeast-1") is None
    assert cost("ml.m5.large", 1, "ap-northeast-1", None) is None  # not ended
    for price in pricing.SAGEMAKER_TRANSFORM_PRICES.values():
        assert price.source.startswith("aws.amazon.com/sagemaker/pricing") and price.as_of.year >= 2026


def test_the_stack_s_transform_instance_has_a_price_in_the_stack_s_region(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (stack.DEFAULT_REGION, stack.TRANSFORM_INSTANCE_TYPE) in pricing.SAGEMAKER_TRANSFORM_PRICES
    assert SETTINGS.transform_instance_type == stack.TRANSFORM_INSTANCE_TYPE
    chosen = Settings.from_mapping({"MCV_TRANSFORM_INSTANCE_TYPE": "ml.c5.xlarge"})
    assert chosen.transform_instance_type == "ml.c5.xlarge"
    with pytest.raises(Exception, match="MCV_TRANSFORM_INSTANCE_TYPE"):
        Settings.from_mapping({"MCV_TRANSFORM_INSTANCE_TYPE": "m5.large"})
    monkeypatch.setenv("MCV_TRANSFORM_USD_PER_HOUR", "0.36")
    hour = START + timedelta(hours=1)
    assert pricing.sagemaker_transform_cost(START, hour, "ml.anything", 1, "x") == pytest.approx(0.36)


# --- the local cloud's routing ------------------------------------------------------------------------------------


class Sent(Exception):
    pass


def _capture(client: Any) -> list[Any]:
    seen: list[Any] = []

    def before_send(request: Any, **kwargs: Any) -> None:
        seen.append(request)
        raise Sent

    client.meta.events.register("before-send", before_send)
    return seen


def test_only_transform_job_calls_go_to_the_emulator_signed_for_it_and_only_in_local_mode() -> None:
    moto, emulator = "http://127.0.0.1:4566", "http://127.0.0.1:4570"
    local = Endpoints(aws={"sagemaker": moto}, aws_access_key_id="AKIAX", aws_secret_access_key="secret",
                      sagemaker_transform_url=emulator)  # fmt: skip
    client = Clients(SETTINGS, local).aws("sagemaker", max_attempts=1)
    seen = _capture(client)
    calls = [
        ("create_transform_job", sagemaker.transform_request("mcv-x", "m", "b", WHERE, "ml.m5.large")),
        ("describe_transform_job", {"TransformJobName": "mcv-x"}),
        ("stop_transform_job", {"TransformJobName": "mcv-x"}),
        ("list_transform_jobs", {}),
        ("describe_endpoint", {"EndpointName": "e"}),
        ("describe_model", {"ModelName": "m"}),
    ]
    for method, params in calls:
        with pytest.raises(Sent):
            getattr(client, method)(**params)
    hosts = [request.url.split("/")[2] for request in seen]
    assert hosts == ["127.0.0.1:4570"] * 4 + ["127.0.0.1:4566"] * 2
    # Each is signed for the host it goes to (the emulator checks SigV4 as AWS does).
    request = seen[0]
    headers = {key: value.decode() if isinstance(value, bytes) else value for key, value in request.headers.items()}
    failure = sigv4.verify("POST", "/", headers, request.body, "AKIAX", "secret", "127.0.0.1:4570", "sagemaker",
                           "ap-northeast-1", check_clock=False)  # fmt: skip
    assert failure is None
    assert headers["X-Amz-Target"] == "SageMaker.CreateTransformJob"
    # Cloud mode: no hook, the SDK's own endpoint for every call.
    cloud = Clients(SETTINGS, Endpoints(aws={"sagemaker": moto}, aws_access_key_id="AKIAX", aws_secret_access_key="s"))
    seen = _capture(cloud.aws("sagemaker", max_attempts=1))
    with pytest.raises(Sent):
        cloud.aws("sagemaker", max_attempts=1).describe_transform_job(TransformJobName="mcv-x")
    assert seen[0].url.split("/")[2] == "127.0.0.1:4566"


# --- the local engine's SageMaker states ---------------------------------------------------------------------------


class FakeTransformRunner:
    """The engine's view of SageMaker: its states, and a model that answers every record but the failing ones."""

    def __init__(self) -> None:
        self.finished: list[tuple[dict[str, Any], list[tuple[bool, Any]]]] = []

    def states(self) -> Any:
        return sagemaker_transform.STATES

    def validate(self, job: dict[str, Any]) -> list[Any]:
        return [f"R{p:010d}" for p in range(job["records"])]

    def answer(self, job: dict[str, Any], record: Any, failed: bool) -> tuple[bool, Any]:
        return (not failed), {"name": record}

    def finish(self, job: dict[str, Any], outputs: list[tuple[bool, Any]]) -> dict[str, Any]:
        self.finished.append((job, outputs))
        return {"message": "ClientError: a record failed"} if any(not ok for ok, _ in outputs) else {}


def _run(engine: BatchJobs, job_id: str, until: tuple[str, ...], timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = engine.get(job_id)
        if job is not None and job["status"] in until:
            return job
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} never reached {until}: {engine.get(job_id)}")


def test_the_engine_runs_sagemaker_states_a_failed_record_fails_the_job_a_stop_is_told(tmp_path: Path) -> None:
    engine = BatchJobs(tmp_path)
    runner = FakeTransformRunner()
    engine.register("sagemaker", runner)
    engine.start()
    try:
        done = engine.add({"id": "mcv-ok", "service": "sagemaker", "records": 3})
        assert done["status"] == "InProgress"
        job = _run(engine, "mcv-ok", ("Completed",))
        assert job["started_at"] and job["ended_at"] and job["started_at"] >= job["submitted_at"]
        engine.set_fault("sagemaker", BatchFault(fail_every=2))
        engine.add({"id": "mcv-bad", "service": "sagemaker", "records": 3})
        job = _run(engine, "mcv-bad", ("Failed",))
        assert job["message"] == "ClientError: a record failed" and job["succeeded"] == 2 and job["errored"] == 1
        engine.set_fault("sagemaker", BatchFault(record_delay_s=0.3))
        engine.add({"id": "mcv-stop", "service": "sagemaker", "records": 20})
        _run(engine, "mcv-stop", ("InProgress",))
        time.sleep(0.4)
        assert engine.stop("mcv-stop")["status"] == "Stopping"  # type: ignore[index]
        job = _run(engine, "mcv-stop", ("Stopped",))
        told, outputs = runner.finished[-1]
        assert told["stop"] is True and 0 < len(outputs) < 20  # finish is told, and writes nothing (SageMaker)
    finally:
        engine.close()
    assert not [t for t in threading.enumerate() if t.name == "batch-jobs"]


def test_the_batch_check_only_follows_when_the_endpoint_itself_is_gone() -> None:
    from mcv_core.errors import CheckFailed

    clients = StubClients()
    clients.stubs["sagemaker"].add_client_error("describe_endpoint", "ValidationException", "Could not find endpoint", 400)
    with pytest.raises(CheckFailed) as caught:
        _service(clients).batch_probe(5.0)
    assert caught.value.status == "warn" and caught.value.detail.startswith("not checked: endpoint mc-vision-classifier")
