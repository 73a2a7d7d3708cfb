"""Load: many comparisons at once against the local cloud, with and without per-provider concurrency limits.

    python -m bench.load [--comparisons 40] [--concurrency 16] [--data-dir DIR] [--json]

Runs on its own local cloud (loopback only; data folder `.mcv/bench-load` unless given, stopped at the end).
Phase "unlimited" lets every call go at once (MCV_CONCURRENCY_<PROVIDER> raised to the burst), so SageMaker
Serverless throttles past its MaxConcurrency; phase "limited" uses the default slots, so a burst waits for a
slot instead. Each phase reports the load held (comparisons and calls per second), p50/p95 latency per provider,
the peak of calls in flight per provider, the throttled results, and the results written to DynamoDB against
the results expected (lost = expected - written, after flushing the outbox).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
PROVIDERS = ("sagemaker", "bedrock", "azure_openai")


class InFlight:
    """Counts calls in flight per provider around each provider object's call (the peak is what a service sees)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now: dict[str, int] = {}
        self.peak: dict[str, int] = {}

    def wrap(self, provider: Any) -> None:
        original = provider.call

        def call(image: Any, prompt: str) -> Any:
            with self.lock:
                self.now[provider.name] = self.now.get(provider.name, 0) + 1
                self.peak[provider.name] = max(self.peak.get(provider.name, 0), self.now[provider.name])
            try:
                return original(image, prompt)
            finally:
                with self.lock:
                    self.now[provider.name] -= 1

        provider.call = call


def run_phase(name: str, settings: Any, comparisons: int, concurrency: int) -> dict[str, Any]:
    from mcv_core import bench as benchmark
    from mcv_core import samples
    from mcv_core.workbench import Workbench

    workbench = Workbench(settings)
    counter = InFlight()
    for provider in PROVIDERS:
        counter.wrap(workbench.provider(provider))
    images = samples.sample_images()
    plan = benchmark.BenchPlan(tuple(images), PROVIDERS, repeat=math.ceil(comparisons / len(images)), concurrency=concurrency)
    started_at = datetime.now(timezone.utc)
    outcome = benchmark.run_bench(workbench, plan, bench_id=f"load-{name}-{started_at:%Y%m%dT%H%M%S}")
    results = [r for run in outcome.runs for r in run.results]
    if hasattr(workbench.history, "flush_outbox"):
        workbench.history.flush_outbox()
    stored = workbench.history.load(started_at - timedelta(seconds=5), datetime.now(timezone.utc) + timedelta(seconds=5))
    written = sum(1 for item in stored if item.get("bench_id") == outcome.bench_id)
    expected = plan.calls
    latency = {}
    for provider in PROVIDERS:
        values = [r.latency_ms for r in results if r.provider == provider and r.ok]
        latency[provider] = {
            "ok": len(values),
            "p50_ms": round(float(np.percentile(values, 50)), 1) if values else None,
            "p95_ms": round(float(np.percentile(values, 95)), 1) if values else None,
        }
    return {
        "phase": name,
        "bench_id": outcome.bench_id,
        "comparisons": len(outcome.runs),
        "comparisons_at_once": concurrency,
        "wall_s": round(outcome.wall_s, 2),
        "comparisons_per_s": round(len(outcome.runs) / outcome.wall_s, 2),
        "calls_per_s": round(len(results) / outcome.wall_s, 2),
        "slots": {p: workbench.provider(p).concurrency for p in PROVIDERS},
        "peak_in_flight": dict(counter.peak),
        "throttled": {p: sum(1 for r in results if r.provider == p and r.error_type == "throttled") for p in PROVIDERS},
        "errors": {p: sum(1 for r in results if r.provider == p and not r.ok) for p in PROVIDERS},
        "latency": latency,
        "expected_results": expected,
        "written_results": written,
        "lost_results": expected - written,
        "failed_comparisons": len(outcome.failures),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--comparisons", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=16, help="comparisons at once (each calls 3 providers)")
    parser.add_argument("--data-dir", type=Path, default=REPO / ".mcv" / "bench-load")
    parser.add_argument("--keep", action="store_true", help="leave the local cloud running")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    os.environ.update(MCV_MODE="local", MCV_DATA_DIR=str(args.data_dir), MCV_ENV_FILE=os.devnull)
    from mcv_core.config import Settings
    from mcv_core.local import control

    base = Settings.load()
    control.up(base, quiet=True)
    try:
        burst = args.concurrency
        unlimited = base.with_(provider_concurrency={p: burst for p in PROVIDERS})
        report = {
            "phases": [
                run_phase("unlimited", unlimited, args.comparisons, args.concurrency),
                run_phase("limited", base, args.comparisons, args.concurrency),
            ]
        }
    finally:
        if not args.keep:
            control.down(base)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for phase in report["phases"]:
            print(f"\n{phase['phase']}: {phase['comparisons']} comparisons, {phase['comparisons_at_once']} at once, "
                  f"{phase['wall_s']} s: {phase['comparisons_per_s']} comparisons/s, {phase['calls_per_s']} calls/s")
            print(f"  {'provider':<13} {'slots':>5} {'peak':>5} {'throttled':>9} {'errors':>6} {'p50 ms':>8} {'p95 ms':>8}")
            for p in PROVIDERS:
                lat = phase["latency"][p]
                print(f"  {p:<13} {phase['slots'][p]:>5} {phase['peak_in_flight'].get(p, 0):>5} {phase['throttled'][p]:>9} "
                      f"{phase['errors'][p]:>6} {lat['p50_ms'] or '-':>8} {lat['p95_ms'] or '-':>8}")
            print(f"  results written {phase['written_results']} of {phase['expected_results']} expected: "
                  f"{phase['lost_results']} lost")
    limited = report["phases"][1]
    return 0 if limited["lost_results"] == 0 and not any(limited["throttled"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
