"""Load: many comparisons at once against the local cloud, with and without per-provider concurrency limits.

    python -m bench.load [--quick] [--comparisons 40] [--concurrency 16] [--data-dir DIR] [--json]

Runs on its own local cloud (loopback only; a temporary data folder unless given, stopped at the end), on the
three default targets (sagemaker, bedrock, azure_openai).
Phase "unlimited" lets every call go at once (MCV_CONCURRENCY_<TARGET> raised to the burst), so SageMaker
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
    from mcv_core import samples, targets
    from mcv_core.workbench import Workbench

    # The three default targets of the local cloud, whatever targets.toml the working directory holds.
    workbench = Workbench(settings, catalogue=targets.defaults(settings))
    counter = InFlight()
    for provider in PROVIDERS:
        counter.wrap(workbench.target(provider))
    images = samples.sample_images()
    plan = benchmark.BenchPlan(tuple(images), PROVIDERS, repeat=math.ceil(comparisons / len(images)), concurrency=concurrency)
    started_at = datetime.now(timezone.utc)
    outcome = benchmark.run_bench(workbench, plan, bench_id=f"load-{name}-{started_at:%Y%m%dT%H%M%S}")
    results = [r for run in outcome.runs for r in run.results]
    workbench.history.flush_outbox()  # results kept in the outbox (table writes throttled) count once written
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
        "slots": {p: workbench.target(p).concurrency for p in PROVIDERS},
        "peak_in_flight": dict(counter.peak),
        "throttled": {p: sum(1 for r in results if r.provider == p and r.error_type == "throttled") for p in PROVIDERS},
        "errors": {p: sum(1 for r in results if r.provider == p and not r.ok) for p in PROVIDERS},
        "latency": latency,
        "expected_results": expected,
        "written_results": written,
        "lost_results": expected - written,
        "failed_comparisons": len(outcome.failures),
    }


def run(quick: bool = False, comparisons: int | None = None, concurrency: int | None = None,
        data_dir: Path | None = None, keep: bool = False) -> dict[str, Any]:
    """Both phases on a local cloud of its own (a temporary data folder unless given), as a bench document."""
    from bench import common

    comparisons = comparisons or (12 if quick else 40)
    concurrency = concurrency or (6 if quick else 16)
    load_at_start = os.getloadavg()
    with common.own_local_cloud("mcv-bench-load-", data_dir, keep) as base:
        from mcv_core.config import env_suffix

        unlimited = base.with_(provider_concurrency={env_suffix(p): concurrency for p in PROVIDERS})
        phases = [
            run_phase("unlimited", unlimited, comparisons, concurrency),
            run_phase("limited", base, comparisons, concurrency),
        ]
    free, limited = phases
    lost = sum(phase["lost_results"] for phase in phases)
    return {
        "name": "load",
        "target": (
            "a burst of comparisons never exceeds what a provider allows (per-provider slots: no throttling, peak in "
            "flight within the slots) and every result is written (0 lost); load held and p50/p95 reported"
        ),
        "baseline": {"phase": "unlimited", "comparisons_per_s": free["comparisons_per_s"],
                     "throttled": sum(free["throttled"].values()), "lost": free["lost_results"]},
        "ours": {"phase": "limited", "comparisons_per_s": limited["comparisons_per_s"],
                 "throttled": sum(limited["throttled"].values()), "lost": limited["lost_results"],
                 "written": limited["written_results"], "expected": limited["expected_results"]},
        "ratio": round(limited["comparisons_per_s"] / free["comparisons_per_s"], 3) if free["comparisons_per_s"] else None,
        "met": lost == 0
        and not any(limited["throttled"].values())
        and all(limited["peak_in_flight"].get(p, 0) <= limited["slots"][p] for p in PROVIDERS),
        "details": {"figure_compared": "comparisons per second, limited / unlimited", "phases": phases},
        "environment": common.environment(load_at_start),
    }


def render(result: dict[str, Any]) -> str:
    from bench import common

    lines = []
    for phase in result["details"]["phases"]:
        lines.append(f"{phase['phase']}: {phase['comparisons']} comparisons, {phase['comparisons_at_once']} at once, "
                     f"{phase['wall_s']} s: {phase['comparisons_per_s']} comparisons/s, {phase['calls_per_s']} calls/s")
        lines.append(f"  {'provider':<13} {'slots':>5} {'peak':>5} {'throttled':>9} {'errors':>6} {'p50 ms':>8} {'p95 ms':>8}")
        for p in PROVIDERS:
            lat = phase["latency"][p]
            lines.append(f"  {p:<13} {phase['slots'][p]:>5} {phase['peak_in_flight'].get(p, 0):>5} {phase['throttled'][p]:>9} "
                         f"{phase['errors'][p]:>6} {lat['p50_ms'] or '-':>8} {lat['p95_ms'] or '-':>8}")
        lines.append(f"  results written {phase['written_results']} of {phase['expected_results']} expected: "
                     f"{phase['lost_results']} lost")
    lines.append(f"target {'met' if result['met'] else 'NOT met'}: {result['target']}")
    lines.append(common.environment_line(result["environment"]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from bench import common

    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="12 comparisons, 6 at once: a quick look")
    parser.add_argument("--comparisons", type=int, help="comparisons per phase (default 40)")
    parser.add_argument("--concurrency", type=int, help="comparisons at once, each calling 3 providers (default 16)")
    common.local_cloud_arguments(parser)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run(args.quick, args.comparisons, args.concurrency, args.data_dir, args.keep)
    path = common.write_result(result)
    print(json.dumps(result, indent=2) if args.json else render(result) + f"\nwritten to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
