"""Metrics from results: the datums of every kind of result (exact), batching within PutMetricData's limits (checked
against botocore's own serializers), and the publisher: never raising or blocking into the caller when CloudWatch
is unreachable (a real botocore client on a closed loopback port), one log line per outage, a bounded queue that
drops its oldest metrics and counts them, close() sending what is left."""

from __future__ import annotations

import logging
import socket
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import boto3
import botocore.exceptions as bce
import pytest
from botocore.config import Config
from botocore.serialize import create_serializer
from botocore.stub import Stubber
from botocore.utils import percent_encode_sequence

from mcv_core import metrics
from mcv_core.clients import Clients, Endpoints
from mcv_core.config import Settings
from mcv_core.errors import ConfigError
from mcv_core.metrics import MetricsPublisher, batches, datums, request_bytes
from mcv_core.records import ProviderResult

AT = datetime(2026, 12, 6, 3, 0, 0, 125000, tzinfo=timezone.utc)
BEDROCK = [{"Name": "Target", "Value": "claude"}, {"Name": "Service", "Value": "bedrock"}]
BEDROCK_ALL = [{"Name": "Service", "Value": "bedrock"}]
SAGEMAKER = [{"Name": "Target", "Value": "sagemaker"}, {"Name": "Service", "Value": "sagemaker"}]
SAGEMAKER_ALL = [{"Name": "Service", "Value": "sagemaker"}]


def d(name: str, dims: list[dict[str, str]], value: float, unit: str) -> dict[str, Any]:
    return {"MetricName": name, "Dimensions": dims, "Timestamp": AT, "Value": value, "Unit": unit}


def both(name: str, value: float, unit: str, dims: tuple = (BEDROCK, BEDROCK_ALL)) -> list[dict[str, Any]]:
    return [d(name, dims[0], value, unit), d(name, dims[1], value, unit)]


def result(**kwargs: Any) -> ProviderResult:
    base: dict[str, Any] = {"provider": "claude", "service": "bedrock", "model": "claude-3-haiku", "status": "ok"}
    return ProviderResult(**{**base, **kwargs})


# --- datums ----------------------------------------------------------------------------------------------------


def test_streamed_ok_result_publishes_latency_ttft_errors_throttles_and_cost() -> None:
    r = result(latency_ms=812.5, ttft_ms=240.25, streamed=True, cost_usd=0.00042)
    assert datums(r, AT) == [
        *both("Latency", 812.5, "Milliseconds"),
        *both("TTFT", 240.25, "Milliseconds"),
        *both("Errors", 0.0, "Count"),
        *both("Throttles", 0.0, "Count"),
        *both("Cost", 0.00042, "None"),
    ]


def test_cold_sagemaker_result_publishes_a_cold_start_and_no_ttft() -> None:
    r = result(provider="sagemaker", service="sagemaker", latency_ms=2300.0, cold_start=True, cost_usd=0.0001,
               streamed=False)
    dims = (SAGEMAKER, SAGEMAKER_ALL)
    assert datums(r, AT) == [
        *both("Latency", 2300.0, "Milliseconds", dims),
        *both("Errors", 0.0, "Count", dims),
        *both("Throttles", 0.0, "Count", dims),
        *both("ColdStarts", 1.0, "Count", dims),
        *both("Cost", 0.0001, "None", dims),
    ]
    warm = result(provider="sagemaker", service="sagemaker", latency_ms=40.0, cold_start=False)
    assert [x for x in datums(warm, AT) if x["MetricName"] == "ColdStarts"] == both("ColdStarts", 0.0, "Count", dims)


def test_error_result_counts_an_error_and_publishes_no_latency() -> None:
    r = result(status="error", error_type="timeout", error="no answer", latency_ms=60000.0, ttft_ms=None)
    assert datums(r, AT) == [*both("Errors", 1.0, "Count"), *both("Throttles", 0.0, "Count")]


def test_throttled_result_is_an_error_and_a_throttle() -> None:
    r = result(status="error", error_type="throttled", latency_ms=35.0, attempts=3, cost_usd=0.0)
    assert datums(r, AT) == [
        *both("Errors", 1.0, "Count"),
        *both("Throttles", 1.0, "Count"),
        *both("Cost", 0.0, "None"),
    ]


def test_cut_stream_keeps_no_ttft_metric() -> None:
    # A stream cut half-way is an error: its time figures are not an answer's.
    r = result(status="error", error_type="stream_cut", latency_ms=900.0, ttft_ms=120.0, streamed=True)
    assert [x["MetricName"] for x in datums(r, AT)] == ["Errors", "Errors", "Throttles", "Throttles"]


def test_batch_results_publish_cost_and_batch_errors_only() -> None:
    ok = result(mode="batch", job_id="job-1", cost_usd=0.0002, latency_ms=None)
    failed = result(mode="batch", job_id="job-1", status="error", error_type="batch_job_failed")
    assert datums(ok, AT) == [*both("BatchErrors", 0.0, "Count"), *both("Cost", 0.0002, "None")]
    assert datums(failed, AT) == both("BatchErrors", 1.0, "Count")


def test_values_cloudwatch_refuses_are_left_out() -> None:
    r = result(latency_ms=float("nan"), ttft_ms=float("inf"), cost_usd=2.0**400)
    assert [x["MetricName"] for x in datums(r, AT)] == ["Errors", "Errors", "Throttles", "Throttles"]


def test_a_result_without_a_service_is_rolled_up_under_unknown() -> None:
    r = result(service=None, latency_ms=10.0)
    assert datums(r, AT)[0]["Dimensions"] == [
        {"Name": "Target", "Value": "claude"},
        {"Name": "Service", "Value": "unknown"},
    ]
    assert datums(r, AT)[1]["Dimensions"] == [{"Name": "Service", "Value": "unknown"}]


def test_time_stamp_defaults_to_now_in_utc() -> None:
    before = datetime.now(timezone.utc)
    stamp = datums(result(latency_ms=1.0))[0]["Timestamp"]
    assert before <= stamp <= datetime.now(timezone.utc) and stamp.tzinfo is not None
    assert datums(result(latency_ms=1.0), AT.replace(tzinfo=None))[0]["Timestamp"] == AT  # naive means UTC


# --- batches within the API's limits -------------------------------------------------------------------------------


def _cloudwatch(endpoint: str = "http://127.0.0.1:9", attempts: int = 1) -> Any:
    config = Config(retries={"mode": "standard", "total_max_attempts": attempts}, connect_timeout=1, read_timeout=1)
    return boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="eu-west-1").client(
        "cloudwatch", endpoint_url=endpoint, config=config
    )


def _serialized_bytes(protocol: str, chunk: list[dict[str, Any]]) -> int:
    client = _cloudwatch()
    operation = client.meta.service_model.operation_model("PutMetricData")
    params = {"Namespace": metrics.NAMESPACE, "MetricData": chunk}
    request = create_serializer(protocol).serialize_to_request(params, operation)
    body = request["body"]
    return len(percent_encode_sequence(body)) if isinstance(body, dict) else len(body)


def test_batches_hold_at_most_1000_datums() -> None:
    items = [d("Latency", BEDROCK, float(n), "Milliseconds") for n in range(2500)]
    cut = batches(items)
    assert [len(c) for c in cut] == [1000, 1000, 500]
    assert [x for c in cut for x in c] == items  # every datum, in order


@pytest.mark.parametrize("protocol", ["query", "json"])
def test_batches_stay_under_1_mb_as_botocore_serializes_them(protocol: str) -> None:
    # Dimension values up to CloudWatch's 1,024 characters, needing URL encoding: 1,000 of them pass 1 MB.
    long_dims = [{"Name": "Target", "Value": "é/" * 512}, {"Name": "Service", "Value": "bedrock"}]
    items = [d("Latency", long_dims, 123.456789012345 + n, "Milliseconds") for n in range(1000)]
    assert _serialized_bytes(protocol, items) > metrics.MAX_REQUEST_BYTES
    cut = batches(items)
    assert len(cut) > 1 and sum(len(c) for c in cut) == 1000
    for chunk in cut:
        actual = _serialized_bytes(protocol, chunk)
        assert actual <= metrics.MAX_REQUEST_BYTES
        assert actual <= sum(request_bytes(x) for x in chunk) + metrics.REQUEST_OVERHEAD_BYTES


def test_request_bytes_bounds_ordinary_datums_in_both_protocols() -> None:
    chunk = datums(result(latency_ms=812.123456789, ttft_ms=1.0 / 3, cost_usd=1e-7, cold_start=True), AT) * 80
    estimate = sum(request_bytes(x) for x in chunk) + metrics.REQUEST_OVERHEAD_BYTES
    assert _serialized_bytes("query", chunk) <= estimate and _serialized_bytes("json", chunk) <= estimate


def test_datums_pass_botocores_parameter_validation() -> None:
    client = _cloudwatch()
    kinds = (result(latency_ms=5.0, ttft_ms=1.0, cold_start=True, cost_usd=0.1), result(mode="batch"))
    items = [x for r in kinds for x in datums(r, AT)]
    with Stubber(client) as stub:
        stub.add_response("put_metric_data", {}, {"Namespace": "MCVision", "MetricData": items})
        client.put_metric_data(Namespace="MCVision", MetricData=items)  # the Stubber validates against the model
        stub.assert_no_pending_responses()


# --- the publisher -------------------------------------------------------------------------------------------------


class FakeCloudWatch:
    """Records put_metric_data calls; fails the first `failures` with a connection error; `gate` holds calls."""

    def __init__(self, failures: int = 0, gate: threading.Event | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.failures = failures
        self.gate = gate

    def put_metric_data(self, **kwargs: Any) -> dict[str, Any]:
        if self.gate is not None:
            self.gate.wait(10)
        if self.failures:
            self.failures -= 1
            raise bce.EndpointConnectionError(endpoint_url="http://127.0.0.1:9/")
        self.calls.append(kwargs)
        return {}

    @property
    def sent(self) -> list[dict[str, Any]]:
        return [x for call in self.calls for x in call["MetricData"]]


def publisher(client: Any, **kwargs: Any) -> MetricsPublisher:
    kwargs.setdefault("linger_s", 0.01)
    kwargs.setdefault("backoff_s", (0.02, 0.05))
    return MetricsPublisher(lambda: client, **kwargs)


def results(n: int) -> list[ProviderResult]:
    return [result(provider=f"t{i % 3}", latency_ms=float(i), cost_usd=0.001) for i in range(n)]


def test_publish_sends_everything_in_calls_of_at_most_1000() -> None:
    client = FakeCloudWatch()
    pub = publisher(client, linger_s=30.0)
    pub.publish(results(250), at=AT)  # 8 datums each: 2,000
    assert pub.flush(5) is True
    assert all(len(call["MetricData"]) <= 1000 for call in client.calls)
    assert all(call["Namespace"] == "MCVision" for call in client.calls)
    assert client.sent == [x for r in results(250) for x in datums(r, AT)]
    status = pub.status()
    assert (status.sent, status.queued, status.dropped, status.failed_calls) == (2000, 0, 0, 0)
    pub.close(1)


def test_linger_gathers_results_into_one_call() -> None:
    client = FakeCloudWatch()
    pub = publisher(client, linger_s=0.3)
    for r in results(10):
        pub.publish([r], at=AT)
    deadline = time.monotonic() + 5
    while pub.status().sent < 80 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(client.calls) == 1 and pub.status().sent == 80
    pub.close(1)


def test_unreachable_cloudwatch_never_raises_never_blocks_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago and that nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = _cloudwatch(f"http://127.0.0.1:{port}", attempts=2)  # botocore's retries, and nothing else's
    callers: list[threading.Thread] = []  # the threads that called CloudWatch
    send = client.put_metric_data

    def put_metric_data(**kwargs: Any) -> Any:
        callers.append(threading.current_thread())
        return send(**kwargs)

    client.put_metric_data = put_metric_data
    pub = publisher(client, backoff_s=(0.01, 0.02))
    caplog.set_level(logging.WARNING, logger="mcv_core.metrics")
    deadline = time.monotonic() + 10
    n = 0
    while (pub.status().failed_calls < 3 or n < 200) and time.monotonic() < deadline:
        pub.publish(results(1))
        n += 1
        time.sleep(0.002)
    status = pub.status()
    assert status.failed_calls >= 3 and status.sent == 0 and status.outage_since is not None
    assert status.queued + status.dropped == 8 * n  # every metric kept or counted
    # The caller never waits for the network: every attempt was made by the publisher's own thread.
    assert callers and threading.current_thread() not in callers and {t.name for t in callers} == {callers[0].name}
    outage = [rec for rec in caplog.records if "cannot be sent" in rec.getMessage()]
    assert len(outage) == 1 and f"127.0.0.1:{port}" in outage[0].getMessage()
    assert "testing" not in caplog.text  # the access key id never appears
    assert "unreachable since" in status.line()
    assert pub.flush(1) is False  # a flush tries once, and says it failed
    pub.close(1)
    assert pub.status().queued == 0 and pub.status().dropped == 8 * n  # nothing sent: all counted as dropped


def test_an_outage_keeps_the_backlog_and_sends_it_when_cloudwatch_answers(caplog: pytest.LogCaptureFixture) -> None:
    client = FakeCloudWatch(failures=3)
    pub = publisher(client)
    caplog.set_level(logging.WARNING, logger="mcv_core.metrics")
    pub.publish(results(5), at=AT)
    deadline = time.monotonic() + 5
    while pub.status().sent < 40 and time.monotonic() < deadline:
        time.sleep(0.01)
    status = pub.status()
    assert (status.sent, status.failed_calls, status.dropped, status.outage_since) == (40, 3, 0, None)
    assert client.sent == [x for r in results(5) for x in datums(r, AT)]  # in order, once each
    messages = [rec.getMessage() for rec in caplog.records]
    assert sum("cannot be sent" in m for m in messages) == 1 and sum("sent again" in m for m in messages) == 1
    pub.close(1)


def test_a_full_queue_drops_the_oldest_metrics_and_counts_them() -> None:
    gate = threading.Event()
    client = FakeCloudWatch(gate=gate)
    pub = publisher(client, max_queued=40, linger_s=60.0)  # nothing leaves until the flush
    batch = [result(provider=f"r{i}", latency_ms=1.0, cost_usd=0.001) for i in range(10)]  # 8 datums each
    for r in batch:
        pub.publish([r], at=AT)  # returns at once: a call on this thread would wait at the gate
    assert (pub.status().queued, pub.status().dropped) == (40, 40)
    gate.set()
    assert pub.flush(5) is True
    kept = {x["Dimensions"][0]["Value"] for x in client.sent if len(x["Dimensions"]) == 2}
    assert kept == {"r5", "r6", "r7", "r8", "r9"}
    assert pub.status().sent == 40 and pub.status().dropped == 40
    pub.close(1)


def test_a_backlog_put_back_into_a_queue_filled_meanwhile_keeps_the_newest() -> None:
    gate = threading.Event()
    client = FakeCloudWatch(failures=1, gate=gate)
    pub = publisher(client, max_queued=16, linger_s=0.0, backoff_s=(0.05, 0.05))
    pub.publish([result(provider="old", latency_ms=1.0, cost_usd=0.001)], at=AT)  # 8 datums, taken and held at the gate
    deadline = time.monotonic() + 5
    while pub.status().queued != 8 or pub._in_flight == 0:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    pub.publish([result(provider=n, latency_ms=1.0, cost_usd=0.001) for n in ("new1", "new2")], at=AT)
    gate.set()  # the held call fails; its datums are the oldest and there is no room for them
    deadline = time.monotonic() + 5
    while pub.status().sent < 16 and time.monotonic() < deadline:
        time.sleep(0.01)
    names = {x["Dimensions"][0]["Value"] for x in client.sent if len(x["Dimensions"]) == 2}
    assert names == {"new1", "new2"} and pub.status().dropped == 8
    pub.close(1)


def test_close_sends_what_is_queued_and_stops_the_sender() -> None:
    client = FakeCloudWatch()
    pub = publisher(client, linger_s=60.0)
    pub.publish(results(3), at=AT)
    assert client.calls == []
    pub.close(5)
    assert len(client.sent) == 24 and pub.status().sent == 24
    assert pub._thread is not None and not pub._thread.is_alive()
    pub.publish(results(1), at=AT)  # after close: dropped and counted, never raised
    assert pub.status().dropped == 8 and len(client.sent) == 24
    pub.close(1)  # again: nothing happens


def test_cloudwatch_refusing_the_data_drops_that_batch_only(caplog: pytest.LogCaptureFixture) -> None:
    client = _cloudwatch()
    items = [x for r in results(2) for x in datums(r, AT)]
    pub = publisher(client)
    with Stubber(client) as stub:
        stub.add_client_error("put_metric_data", "InvalidParameterValue", "bad value", 400)
        stub.add_response("put_metric_data", {}, {"Namespace": "MCVision", "MetricData": items[8:]})
        pub.publish(results(1), at=AT)
        assert pub.flush(5) is True
        pub.publish(results(2)[1:], at=AT)
        assert pub.flush(5) is True
        stub.assert_no_pending_responses()
    status = pub.status()
    assert (status.sent, status.rejected, status.failed_calls, status.outage_since) == (8, 8, 1, None)
    assert "refused 8 metrics (InvalidParameterValue)" in caplog.text
    pub.close(1)


def test_metrics_older_than_two_weeks_are_dropped_not_sent() -> None:
    client = FakeCloudWatch()
    pub = publisher(client)
    pub.publish(results(1), at=datetime.now(timezone.utc) - timedelta(days=15))
    pub.publish(results(1))
    assert pub.flush(5) is True
    assert (pub.status().sent, pub.status().dropped) == (8, 8)
    pub.close(1)


def test_a_client_that_cannot_be_made_is_an_outage_not_an_exception(caplog: pytest.LogCaptureFixture) -> None:
    def factory() -> Any:
        raise ConfigError("no region", hint="set AWS_REGION")

    pub = MetricsPublisher(factory, linger_s=0.0, backoff_s=(0.01, 0.01))
    pub.publish(results(1))
    assert pub.flush(2) is False
    assert "no region" in caplog.text and pub.status().failed_calls >= 1
    pub.close(1)


def test_an_off_publisher_does_nothing() -> None:
    pub = MetricsPublisher(None, off_reason="turned off in the settings")
    pub.publish(results(3))
    assert pub.flush(0) is True and pub._thread is None
    assert pub.status().line() == "metrics off: turned off in the settings"
    pub.close()


def test_for_clients_uses_the_cloudwatch_client_of_clients(tmp_path: Any) -> None:
    keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    local = Settings(mode="local", data_dir=tmp_path, region="eu-west-1")
    # Local mode without a CloudWatch endpoint: off, never sent to AWS with the local cloud's keys.
    off = MetricsPublisher.for_clients(Clients(local, Endpoints(aws={"dynamodb": "http://127.0.0.1:9"}, **keys)))
    assert not off.enabled and "CloudWatch endpoint" in (off.off_reason or "")
    clients = Clients(local, Endpoints(aws={"cloudwatch": "http://127.0.0.1:9"}, **keys))
    pub = MetricsPublisher.for_clients(clients)
    assert pub.enabled and pub._factory is not None
    client = pub._factory()
    assert client is clients.aws("cloudwatch", timeout=metrics.CALL_TIMEOUT_S, max_attempts=metrics.CALL_ATTEMPTS)
    assert client.meta.endpoint_url == "http://127.0.0.1:9" and client.meta.service_model.service_name == "cloudwatch"
    assert not MetricsPublisher.for_clients(clients, enabled=False).enabled


def test_for_clients_without_a_client_is_off_and_says_why() -> None:
    class NoClients:
        settings = Settings(mode="cloud")
        endpoints = Endpoints(aws={})

        def aws(self, service: str, **kwargs: Any) -> Any:
            raise ConfigError("AWS_REGION is not set", hint="set AWS_REGION")

    pub = MetricsPublisher.for_clients(NoClients())  # type: ignore[arg-type]
    assert not pub.enabled and "AWS_REGION is not set" in pub.status().line()
    pub.publish(results(1))
    assert pub._thread is None


def test_status_line() -> None:
    status = metrics.MetricsStatus(enabled=True, sent=12345, dropped=2, rejected=0, failed_calls=1, queued=16)
    assert status.line() == "metrics: 12,345 sent, 16 queued, 2 dropped, 1 failed calls"
