"""Metrics from a real comparison on the session's local cloud reach its CloudWatch (moto) and read back with
GetMetricStatistics, figure for figure.

The publisher is built through `Clients` with the local cloud's CloudWatch endpoint (moto serves every AWS service
on one port: `Connection.aws_endpoint("cloudwatch")`); each test publishes to a namespace of its own, so that other
tests' metrics never mix with its figures. Only the {Target, Service} dimension set is read back: moto, unlike
CloudWatch, matches a query's dimensions as a subset, so a {Service} query would also count the per-target datums.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from mcv_core.clients import Clients
from mcv_core.local.state import read_connection
from mcv_core.metrics import MetricsPublisher

pytestmark = pytest.mark.timeout(600)
TARGETS = ["bedrock", "azure_openai"]


def statistics(cloudwatch: Any, namespace: str, metric: str, target: str, service: str) -> tuple[float, float]:
    """(SampleCount, Sum) of one metric of one target over the last ten minutes and the next ten."""
    now = datetime.now(timezone.utc)
    answer = cloudwatch.get_metric_statistics(
        Namespace=namespace,
        MetricName=metric,
        Dimensions=[{"Name": "Target", "Value": target}, {"Name": "Service", "Value": service}],
        StartTime=now - timedelta(minutes=10),
        EndTime=now + timedelta(minutes=10),
        Period=60,
        Statistics=["SampleCount", "Sum"],
    )
    points = answer["Datapoints"]
    return sum(p["SampleCount"] for p in points), sum(p["Sum"] for p in points)


def test_a_comparisons_metrics_read_back_from_the_local_cloudwatch(workbench, cat_jpeg: bytes) -> None:  # noqa: ANN001
    conn = read_connection(workbench.settings.data_dir)
    endpoints = workbench.clients.endpoints
    with_cloudwatch = {**endpoints.aws, "cloudwatch": conn.aws_endpoint("cloudwatch")}
    clients = Clients(workbench.settings, replace(endpoints, aws=with_cloudwatch))
    namespace = f"MCVisionTest{uuid.uuid4().hex[:10]}"
    publisher = MetricsPublisher.for_clients(clients, namespace=namespace)
    assert publisher.enabled

    run = workbench.compare(workbench.load_image(cat_jpeg, "cat.jpg"), TARGETS, source="cli")
    assert run.saved is not None and run.saved.stored
    publisher.publish(run.results)
    assert publisher.flush(60) is True
    status = publisher.status()
    assert status.sent > 0 and (status.dropped, status.failed_calls, status.queued) == (0, 0, 0)

    cloudwatch = clients.aws("cloudwatch")
    for result in run.results:
        errors = statistics(cloudwatch, namespace, "Errors", result.provider, result.service)
        assert errors == (1, 0.0 if result.ok else 1.0)
        assert statistics(cloudwatch, namespace, "Throttles", result.provider, result.service) == (
            1,
            1.0 if result.error_type == "throttled" else 0.0,
        )
        if result.ok:
            count, total = statistics(cloudwatch, namespace, "Latency", result.provider, result.service)
            assert count == 1 and total == pytest.approx(result.latency_ms)
        if result.ok and result.ttft_ms is not None:
            count, total = statistics(cloudwatch, namespace, "TTFT", result.provider, result.service)
            assert count == 1 and total == pytest.approx(result.ttft_ms)
        if result.cost_usd is not None:
            count, total = statistics(cloudwatch, namespace, "Cost", result.provider, result.service)
            assert count == 1 and total == pytest.approx(result.cost_usd)
    publisher.close(5)
    assert publisher.status().sent == status.sent
