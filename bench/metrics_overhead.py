"""Metrics overhead: what `MetricsPublisher.publish` costs the caller's thread per result.

    python -m bench.metrics_overhead [--quick] [--json]

Each result of a comparison is handed to `publish([result])` once it is saved (mcv_core/metrics.py). That call
turns the result into its CloudWatch datums and queues them; a daemon thread sends them with PutMetricData. This
script times each `publish` call on the caller's thread (perf_counter_ns around the call) over 10,000 results
(2,000 with --quick), a mix of four kinds: a streamed Bedrock answer with its cost, a cold SageMaker answer, a
throttled Azure OpenAI call, an unstreamed OpenAI-compatible answer. Three arms, interleaved in blocks of 100
results (order rotated each round), the results paced 0.2 ms apart so the sender thread runs alongside as it
would in the app (it competes for the GIL, which is the point):

  baseline     a no-op function of the same signature: the loop and the call, nothing else
  reachable    the product's publisher (`MetricsPublisher.for_clients`, botocore's cloudwatch client) sending to
               a loopback CloudWatch stand-in in a child process that answers every PutMetricData with 200
  unreachable  the same publisher pointed at a closed loopback port: every call fails, botocore retries, the
               outage is logged once, the queue fills and then drops its oldest metrics (counted)

Target: ours (either arm) at most 1 ms per result at the median, above the baseline (issue 15, item 1). The
reachable arm's sent count is checked against the datums published: the stand-in got every one.
"""

from __future__ import annotations

import logging
import os
import socket
import statistics
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable

from bench import common

NAME = "metrics_overhead"
TARGET_MS = 1.0
BLOCK = 100
PACE_S = 0.0002
REGION = "eu-west-1"
FAKE_KEY_ID = "AKIDBENCHMETRICS"
FAKE_SECRET = "bench-secret-not-real"


class CloudWatchStandIn(BaseHTTPRequestHandler):
    """Reads each request whole and answers 200 with an empty JSON document (PutMetricData has no output).
    Counts nothing: the publisher's own counters say what was sent. A bench fixture."""

    protocol_version = "HTTP/1.1"
    wbufsize = -1
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        pass

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", "00000000-0000-0000-0000-000000000000")
        self.end_headers()
        self.wfile.write(body)


def sample_results() -> list[Any]:
    from mcv_core.records import ProviderResult

    return [
        ProviderResult(provider="bedrock", service="bedrock", model="anthropic.claude-3-haiku-20240307-v1:0",
                       status="ok", latency_ms=812.4, ttft_ms=231.7, streamed=True, input_tokens=1600, output_tokens=60,
                       cost_usd=0.000475),
        ProviderResult(provider="sagemaker", service="sagemaker", model="mc-vision-classifier", status="ok",
                       latency_ms=2310.0, provider_latency_ms=2200.0, cold_start=True, cost_usd=0.0000367),
        ProviderResult(provider="azure_openai", service="azure_openai", model="gpt-4o-mini", status="error",
                       latency_ms=41.0, attempts=3, error_type="throttled", error="429 Too Many Requests"),
        ProviderResult(provider="openai", service="openai", model="gpt-4o-mini", status="ok", latency_ms=950.2,
                       streamed=False, input_tokens=2900, output_tokens=55, cost_usd=0.000468),
    ]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind((common.LOOPBACK, 0))
        return sock.getsockname()[1]


def publisher_for(endpoint: str) -> Any:
    """The product's publisher, built as the workbench builds it (Clients, botocore's retries), at `endpoint`."""
    from mcv_core.clients import Clients, Endpoints
    from mcv_core.config import Settings
    from mcv_core.metrics import MetricsPublisher

    settings = Settings.from_mapping({"MCV_MODE": "cloud", "AWS_REGION": REGION})
    endpoints = Endpoints(aws={"cloudwatch": endpoint}, aws_access_key_id=FAKE_KEY_ID,
                          aws_secret_access_key=FAKE_SECRET)
    return MetricsPublisher.for_clients(Clients(settings, endpoints))


def time_block(call: Callable[[list[Any]], None], results: list[Any], start: int, samples: list[float]) -> None:
    for i in range(start, start + BLOCK):
        one = [results[i % len(results)]]
        began = time.perf_counter_ns()
        call(one)
        samples.append((time.perf_counter_ns() - began) / 1e6)
        time.sleep(PACE_S)


def run(quick: bool = False) -> dict[str, Any]:
    from mcv_core.metrics import datums

    load_at_start = os.getloadavg()
    n = 2_000 if quick else 10_000
    warmup = 200
    results = sample_results()
    per_cycle = sum(len(datums(r)) for r in results)
    # The outage is logged once by the publisher; the bench reports it in its document, not on the console.
    logging.getLogger("mcv_core.metrics").setLevel(logging.ERROR)

    with common.loopback_server(CloudWatchStandIn, process=True) as base_url:
        reachable = publisher_for(base_url)
        unreachable = publisher_for(f"http://{common.LOOPBACK}:{closed_port()}")

        def baseline(batch: list[Any]) -> None:
            return None

        arms: dict[str, Callable[[list[Any]], None]] = {
            "baseline": baseline,
            "reachable": reachable.publish,
            "unreachable": unreachable.publish,
        }
        warm: dict[str, list[float]] = {name: [] for name in arms}
        for name, call in arms.items():
            for start in range(0, warmup, BLOCK):
                time_block(call, results, start, warm[name])
        samples: dict[str, list[float]] = {name: [] for name in arms}
        order = list(arms)
        for round_no, start in enumerate(range(0, n, BLOCK)):
            rotated = order[round_no % len(order):] + order[: round_no % len(order)]
            for name in rotated:
                time_block(arms[name], results, start, samples[name])
        published = (warmup + n) // len(results) * per_cycle
        flushed = reachable.flush(30)
        reachable_status = reachable.status()
        unreachable_status = unreachable.status()
        started_close = time.perf_counter()
        unreachable.close(2)
        close_unreachable_s = time.perf_counter() - started_close
        reachable.close(5)

    base = common.summary(samples["baseline"], 4)
    ours = {name: common.summary(samples[name], 4) for name in ("reachable", "unreachable")}
    overhead = {name: round(ours[name]["median_ms"] - base["median_ms"], 4) for name in ours}
    met = all(value <= TARGET_MS for value in overhead.values())
    return {
        "name": NAME,
        "target": f"publish() at most {TARGET_MS:g} ms per result at the median on the caller's thread, "
                  "above the baseline",
        "baseline": {"median_ms": base["median_ms"], "p95_ms": base["p95_ms"]},
        "ours": {
            "reachable_median_ms": ours["reachable"]["median_ms"],
            "reachable_p95_ms": ours["reachable"]["p95_ms"],
            "unreachable_median_ms": ours["unreachable"]["median_ms"],
            "unreachable_p95_ms": ours["unreachable"]["p95_ms"],
        },
        "ratio": max(overhead.values()),
        "met": met,
        "details": {
            "results_per_arm": n,
            "datums_per_result": round(per_cycle / len(results), 2),
            "overhead_median_ms": overhead,
            "baseline": base,
            "reachable": ours["reachable"],
            "unreachable": ours["unreachable"],
            "reachable_sent": reachable_status.sent,
            "reachable_published": published,
            "reachable_all_sent": flushed and reachable_status.sent == published and reachable_status.dropped == 0,
            "unreachable_status": unreachable_status.line(),
            "unreachable_failed_calls": unreachable_status.failed_calls,
            "unreachable_dropped": unreachable_status.dropped,
            "unreachable_close_s": round(close_unreachable_s, 3),
            "pace_ms": PACE_S * 1000,
            "threads_at_end": threading.active_count(),
            "median_of_block_medians_ms": {
                name: round(statistics.median(
                    statistics.median(samples[name][i:i + BLOCK]) for i in range(0, len(samples[name]), BLOCK)), 4)
                for name in samples
            },
        },
        "environment": common.environment(load_at_start),
    }


def render(result: dict[str, Any]) -> str:
    d = result["details"]
    rows = [
        (name, d[name]["median_ms"], d[name]["p95_ms"], d[name]["max_ms"], d["overhead_median_ms"].get(name, "-"))
        for name in ("baseline", "reachable", "unreachable")
    ]
    return "\n".join(
        [
            f"{result['name']}: {result['target']}",
            common.table(("arm", "median ms", "p95 ms", "max ms", "overhead ms"), rows),
            f"reachable: {d['reachable_sent']:,} of {d['reachable_published']:,} datums sent "
            f"({'all' if d['reachable_all_sent'] else 'NOT all'}); unreachable: {d['unreachable_status']}, "
            f"close took {d['unreachable_close_s']} s",
            f"worst median overhead {result['ratio']} ms  ->  target {'met' if result['met'] else 'NOT met'}",
            common.environment_line(result["environment"]),
        ]
    )


if __name__ == "__main__":
    sys.exit(common.main(run, render, description=__doc__.split("\n\n")[0]))
