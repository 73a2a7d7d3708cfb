"""Batch benchmarks offline: each service's batch format against its published examples and its SDK's own
model of the request, output lines parsed (answers and failed records), jobs split at the services' limits,
outputs joined back to their records out of order, and the batch price."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from mcv_core import batch, errors
from mcv_core.bench import BenchImage, BenchPlan
from mcv_core.config import Settings
from mcv_core.images import PreparedImage
from mcv_core.records import Reply
from mcv_core.services import azure_openai, bedrock
from mcv_core.services.base import BatchLimits, BatchState
from mcv_core.targets import Target

IMAGE = PreparedImage(data=b"\xff\xd8\xffjpeg-bytes", media_type="image/jpeg", format="jpeg", width=600, height=400)
HAIKU = Target(id="claude-haiku", service="bedrock", model="anthropic.claude-3-haiku-20240307-v1:0", title="Claude 3 Haiku")
AZURE_MINI = Target(
    id="azure-mini", service="azure_openai", deployment="vision-mini", batch_deployment="vision-mini-batch",
    model="gpt-4o-mini", title="gpt-4o-mini (Azure)",
)  # fmt: skip
SETTINGS = Settings.from_mapping({"MCV_MODE": "cloud", "MCV_BUCKET": "b", "MCV_TABLE": "t"})


# --- formats ---------------------------------------------------------------------------------------------------


def test_a_bedrock_record_is_a_converse_body_by_botocore_s_own_model() -> None:
    request = bedrock.build_request(HAIKU.model, IMAGE, "What is in this image?", 300, 0.0)
    line = bedrock.batch_record(batch.record_id(7), request)
    # docs.aws.amazon.com/bedrock/latest/userguide/batch-inference-data.html: { "recordId" : "11 character
    # alphanumeric string", "modelInput" : {JSON body} }; a Converse job's body is a Converse request without modelId.
    assert list(line) == ["recordId", "modelInput"]
    assert line["recordId"] == "R0000000007" and len(line["recordId"]) == 11 and line["recordId"].isalnum()
    assert "modelId" not in line["modelInput"]
    body = json.loads(json.dumps(line))["modelInput"]  # through JSON, as the file carries it
    image = body["messages"][0]["content"][0]["image"]
    assert base64.b64decode(image["source"]["bytes"]) == IMAGE.data and image["format"] == "jpeg"
    # The body, its bytes decoded and the model added back, is a valid Converse request for botocore.
    image["source"]["bytes"] = IMAGE.data
    shape = botocore.session.get_session().get_service_model("bedrock-runtime").operation_model("Converse").input_shape
    report = ParamValidator().validate({**body, "modelId": HAIKU.model}, shape)
    assert not report.has_errors(), report.generate_report()


def test_an_azure_request_is_the_published_global_batch_line() -> None:
    from mcv_core.services import chat

    body = chat.build_request("vision-mini-batch", IMAGE, "What is in this image?", 300, "auto")
    line = azure_openai.batch_request("R0000000003", body)
    # learn.microsoft.com/azure/ai-foundry/openai/how-to/batch: {"custom_id": "task-0", "method": "POST", "url":
    # "/chat/completions", "body": {"model": "REPLACE-WITH-MODEL-DEPLOYMENT-NAME", "messages": [...]}}
    assert list(line) == ["custom_id", "method", "url", "body"]
    assert (line["custom_id"], line["method"], line["url"]) == ("R0000000003", "POST", "/chat/completions")
    assert line["body"]["model"] == "vision-mini-batch"
    assert line["body"]["messages"][0]["content"][1]["image_url"]["url"].startswith("data:image/jpeg;base64,")


def test_bedrock_output_lines_an_answer_and_a_failed_record() -> None:
    # docs.aws.amazon.com/bedrock/latest/userguide/batch-inference-results.html: modelOutput, or error.
    ok = {
        "recordId": "R0000000001",
        "modelInput": {"messages": []},
        "modelOutput": {
            "output": {"message": {"role": "assistant", "content": [{"text": "A cat on a sofa."}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 420, "outputTokens": 7, "totalTokens": 427},
        },
    }
    record, reply = bedrock.parse_batch_line(json.dumps(ok), HAIKU.model)
    assert record == "R0000000001" and isinstance(reply, Reply)
    assert (reply.output, reply.input_tokens, reply.output_tokens) == ("A cat on a sofa.", 420, 7)
    bad = {"recordId": "R0000000002", "modelInput": {}, "error": {"errorCode": 400, "errorMessage": "Malformed input request"}}
    record, failure = bedrock.parse_batch_line(json.dumps(bad), HAIKU.model)
    assert record == "R0000000002" and isinstance(failure, errors.InvalidRequestError)
    assert "Malformed input request" in failure.message
    throttled = {"recordId": "R0000000003", "error": {"errorCode": 429, "errorMessage": "Too many tokens"}}
    assert isinstance(bedrock.parse_batch_line(json.dumps(throttled), HAIKU.model)[1], errors.ThrottledError)
    with pytest.raises(errors.MalformedResponseError):
        bedrock.parse_batch_line('{"modelOutput": {}}', HAIKU.model)


def test_azure_output_and_error_lines() -> None:
    # The published output line: {"custom_id", "response": {"body": <chat.completion>, "request_id", "status_code"}, "error": null}
    ok = {
        "custom_id": "R0000000004",
        "response": {
            "body": {
                "choices": [{"finish_reason": "stop", "index": 0, "logprobs": None,
                             "message": {"content": "A tabby cat.", "refusal": None, "role": "assistant"}}],
                "created": 1724944111, "id": "chatcmpl-9zkxs", "model": "gpt-4o-mini-2024-07-18",
                "object": "chat.completion", "usage": {"completion_tokens": 5, "prompt_tokens": 2868, "total_tokens": 2873},
            },
            "request_id": "4ac5b6a5-1b76-4a8a-8ae4-6c8ab2bfb7b0",
            "status_code": 200,
        },
        "error": None,
    }  # fmt: skip
    record, reply = azure_openai.parse_batch_line(json.dumps(ok), "vision-mini-batch")
    assert record == "R0000000004" and isinstance(reply, Reply)
    assert (reply.output, reply.model, reply.input_tokens, reply.output_tokens) == ("A tabby cat.", "gpt-4o-mini-2024-07-18", 2868, 5)
    failed = {
        "custom_id": "R0000000005",
        "response": {"status_code": 500, "request_id": "x", "body": {"error": {"code": "server_error", "message": "The server had an error"}}},
        "error": None,
    }
    record, failure = azure_openai.parse_batch_line(json.dumps(failed), "vision-mini-batch")
    assert record == "R0000000005" and isinstance(failure, errors.ServiceUnavailable) and "server_error" in failure.message
    expired = {"custom_id": "R0000000006", "response": None, "error": {"code": "batch_expired", "message": "This line could not be executed before the batch expired."}}
    record, failure = azure_openai.parse_batch_line(json.dumps(expired), "vision-mini-batch")
    assert isinstance(failure, errors.ProviderError) and "batch_expired" in failure.message


# --- limits ------------------------------------------------------------------------------------------------------

LIMITS = BatchLimits(min_records=100, max_records=1000, max_file_bytes=10_000, source="test")


@pytest.mark.parametrize(
    ("records", "expected"),
    [
        (100, [(0, 100)]),
        (1000, [(0, 1000)]),
        (1001, [(0, 501), (501, 500)]),  # spread evenly: no job of one record, below the minimum
        (2500, [(0, 834), (834, 834), (1668, 832)]),
    ],
)
def test_records_split_into_even_jobs_at_the_record_limit(records: int, expected: list[tuple[int, int]]) -> None:
    parts = batch.split([1] * records, LIMITS)
    assert parts == expected
    assert sum(count for _, count in parts) == records
    assert all(LIMITS.min_records <= count <= LIMITS.max_records for _, count in parts)


def test_records_split_by_bytes_when_the_file_would_be_too_large() -> None:
    parts = batch.split([50] * 500, LIMITS)  # 25,000 bytes: three files of at most 10,000
    assert [count for _, count in parts] == [167, 167, 166]
    assert all(count * 50 <= LIMITS.max_file_bytes for _, count in parts)


def test_a_split_that_would_leave_a_job_below_the_minimum_is_refused_with_why() -> None:
    with pytest.raises(errors.UsageError, match="below its minimum of 100"):
        batch.split([150] * 120, LIMITS)  # 18,000 bytes: two files of 60 records
    with pytest.raises(errors.UsageError, match="more than a batch file may hold"):
        batch.split([20_000], LIMITS)


class FakeWorkbench:
    """What batch.poll and batch.collect use of a workbench: one bound service, saved runs and published results."""

    def __init__(self, service: Any, settings: Settings = SETTINGS) -> None:
        self.service = service
        self.settings = settings
        self.saved: list[Any] = []
        self.history = self.metrics = self
        self.published: list[Any] = []

    def publish(self, results: list[Any]) -> None:
        self.published.extend(results)

    def target(self, name: str) -> Any:
        return self.service

    def save(self, run: Any) -> None:
        self.saved.append(run)

    def save_batch(self, state: dict[str, Any]) -> None:
        self.state = state


class FakeBatchService:
    """A bound service with a job whose output comes back out of order, with a failed and a missing record."""

    def __init__(self, target: Target, outputs: list[Any], state: BatchState) -> None:
        self.target, self.name, self.title = target, target.id, target.title
        self.service_title = "Amazon Bedrock"
        self.model_id = target.model
        self.outputs, self.state = outputs, state
        self.batch_limits = bedrock.BATCH_LIMITS

    def batch_state(self, job_id: str) -> BatchState:
        return self.state

    def batch_outputs(self, job_id: str, where: str) -> list[Any]:
        return self.outputs


def _bench(records: int = 4) -> batch.BatchBench:
    image = {"name": "cat.jpg", "key": "uploads/x.jpg", "sha256": "ab", "format": "JPEG", "width": 600, "height": 400,
             "size_bytes": 1000, "expected": ["cat"]}  # fmt: skip
    return batch.BatchBench(
        bench_id="bench-20261205T220000-abc123",
        created_at=datetime(2026, 12, 5, 22, tzinfo=timezone.utc),
        prompt="What is in this image?",
        targets=[HAIKU.id],
        repeat=records,
        images=[image],
        sent={HAIKU.id: [[600, 400]]},
        jobs=[batch.BatchJob(HAIKU.id, 0, "job123456789", 0, records)],
    )


def _reply(text: str) -> Reply:
    return Reply(output=text, model=HAIKU.model, input_tokens=1000, output_tokens=100)


@pytest.mark.parametrize(("phase", "status"), [("done", "PartiallyCompleted"), ("failed", "Failed"), ("cancelled", "Stopped")])
def test_outputs_out_of_order_join_on_their_record_ids(phase: str, status: str) -> None:
    outputs = [
        ("R0000000002", _reply("a cat, again")),
        ("R0000000000", _reply("a cat")),
        ("R0000000001", errors.InvalidRequestError("ValidationException: bad image", status_code=400)),
        ("R0000000000", _reply("a second line for record 0 counts once")),
        ("R0000000099", _reply("a record the job was not given is left out")),
    ]
    service = FakeBatchService(HAIKU, outputs, BatchState("job123456789", status, phase, 4, 2, 1, "stopped early" if phase != "done" else None))
    workbench = FakeWorkbench(service)
    bench = _bench()
    batch.poll(workbench, bench)  # type: ignore[arg-type]
    runs = {run.run_id: run for run in workbench.saved}
    by_position = {int(rid.rsplit("-", 1)[1]): run.results[0] for rid, run in runs.items()}
    assert by_position[0].output == "a cat" and by_position[2].output == "a cat, again"
    assert by_position[1].status == "error" and by_position[1].error_type == "invalid_request"
    assert all(r.mode == "batch" and r.job_id == "job123456789" and r.latency_ms is None for r in by_position.values())
    assert by_position[0].correct is True and by_position[1].correct is False
    if phase == "cancelled":
        assert 3 not in by_position  # never reached: no result
    elif phase == "failed":
        assert by_position[3].error_type == "batch_job_failed" and "stopped early" in by_position[3].error
    else:
        assert by_position[3].error_type == "malformed_response"
    assert bench.jobs[0].collected and workbench.state["over"] is True
    assert workbench.published == [run.results[0] for run in workbench.saved]  # each stored result's metrics
    assert set(runs) <= {batch.run_id(bench.bench_id, p) for p in range(4)}


def test_a_job_collected_late_ended_when_its_service_says() -> None:
    """Time to all results runs to the service's own end time, not to when a resume happened to look."""
    ended = datetime(2026, 12, 5, 22, 47, 30, tzinfo=timezone.utc)
    service = FakeBatchService(HAIKU, [], BatchState("job123456789", "Completed", "done", 4, 4, 0, ended_at=ended))
    bench = _bench()
    bench.jobs[0].submitted_at = "2026-12-05T22:00:00+00:00"
    batch.poll(FakeWorkbench(service), bench)  # type: ignore[arg-type]
    assert bench.jobs[0].ended_at == "2026-12-05T22:47:30+00:00"
    assert batch.time_to_all_results_s(bench) == 47.5 * 60


def test_azure_s_end_time_is_its_end_state_s_own() -> None:
    from types import SimpleNamespace

    running = SimpleNamespace(completed_at=None, failed_at=None, cancelled_at=None, expired_at=None)
    assert azure_openai._ended_at(running) is None
    cancelled = SimpleNamespace(completed_at=None, failed_at=None, cancelled_at=1_796_600_000, expired_at=None)
    assert azure_openai._ended_at(cancelled) == datetime.fromtimestamp(1_796_600_000, timezone.utc)


def test_a_running_job_is_looked_at_and_not_collected() -> None:
    service = FakeBatchService(HAIKU, [], BatchState("job123456789", "InProgress", "running", 4, 1, 0))
    workbench = FakeWorkbench(service)
    bench = _bench()
    batch.poll(workbench, bench)  # type: ignore[arg-type]
    assert workbench.saved == [] and not bench.over
    assert (bench.jobs[0].status, bench.jobs[0].completed) == ("InProgress", 1)
    assert batch.progress(bench, 10.0).done == 1 and batch.progress(bench, 10.0).eta_s == pytest.approx(30.0)


# --- price -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", [HAIKU, AZURE_MINI])
def test_a_batch_result_costs_half_the_on_demand_price_of_its_tokens(target: Target) -> None:
    online = target.token_cost(2_000, 100)
    in_batch = target.token_cost(2_000, 100, batch=True)
    assert online is not None and in_batch == pytest.approx(online / 2)
    assert target.batch_price is not None and target.batch_price.source


def test_a_model_without_a_batch_price_has_no_batch_cost() -> None:
    llama = Target(id="llama", service="bedrock", model="meta.llama3-2-11b-instruct-v1:0")
    assert llama.token_cost(1000, 100) is not None
    assert llama.batch_price is None and llama.token_cost(1000, 100, batch=True) is None


def test_a_set_below_bedrock_s_minimum_is_refused_with_the_way_out() -> None:
    class Workbench:
        def target(self, name: str) -> Any:
            return FakeBatchService(HAIKU, [], BatchState("", "", "running"))

    plan = BenchPlan(tuple(BenchImage(f"{i}.jpg", b"x") for i in range(3)), (HAIKU.id,), repeat=17)
    with pytest.raises(errors.UsageError) as caught:
        batch.check(Workbench(), plan)  # type: ignore[arg-type]
    assert "at least 100 records; this set has 51 (3 images × 17 repeats)" in caught.value.message
    assert "--mode online" in (caught.value.hint or "")


# --- the batch role's health check -------------------------------------------------------------------------------


def _trust(service: str) -> dict[str, Any]:
    return {"Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]}


def test_the_local_stack_s_batch_role_is_what_batch_jobs_need() -> None:
    from mcv_core.local.provision import batch_data_policy

    policy = batch_data_policy("arn:aws:s3:::uploads")
    assert bedrock.batch_role_problems(_trust("bedrock.amazonaws.com"), [policy]) == []


@pytest.mark.parametrize(
    "trusted, statements, problems",
    [
        ("sagemaker.amazonaws.com", None, ["Bedrock (bedrock.amazonaws.com) may not assume it"]),
        ("bedrock.amazonaws.com", [], ["it may not read batch/input/", "it may not write batch/output/"]),
        (  # the right actions on the wrong prefixes, or an action denied, are no grant
            "bedrock.amazonaws.com",
            [
                {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::uploads/uploads/*"},
                {"Effect": "Deny", "Action": ["s3:PutObject"], "Resource": ["arn:aws:s3:::uploads/batch/output/*"]},
            ],
            ["it may not read batch/input/", "it may not write batch/output/"],
        ),
    ],
    ids=["trusts-another-service", "no-policy", "wrong-prefix-and-deny"],
)
def test_a_batch_role_that_cannot_serve_batch_jobs_says_why(trusted: str, statements: Any, problems: list[str]) -> None:
    from mcv_core.local.provision import batch_data_policy

    policy = batch_data_policy("arn:aws:s3:::uploads") if statements is None else {"Statement": statements}
    assert bedrock.batch_role_problems(_trust(trusted), [policy]) == problems


def test_a_service_without_a_batch_engine_is_refused_with_the_way_out() -> None:
    from mcv_core.targets import Catalogue
    from mcv_core.workbench import Workbench

    own = Target(id="llava", service="openai", model="llava", base_url="http://127.0.0.1:9/v1", title="LLaVA")
    workbench = Workbench(Settings.load({"MCV_MODE": "cloud"}, env_file="/nonexistent"), catalogue=Catalogue((own,)))
    plan = BenchPlan(tuple(BenchImage(f"{i}.jpg", b"x") for i in range(3)), (own.id,), repeat=34)
    with pytest.raises(errors.UsageError) as caught:
        batch.check(workbench, plan)
    assert caught.value.message == "LLaVA (OpenAI-compatible) has no batch engine here"
    assert "run the others online" in (caught.value.hint or "")
