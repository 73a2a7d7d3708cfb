"""Streaming: the app's time to first token against the emulator's own send time, and what streaming adds to a call.

    python -m bench.streaming [--quick] [--rounds N] [--data-dir DIR] [--json]

Runs on its own local cloud (loopback only; a temporary data folder unless given, stopped at the end), on three
streaming targets: Claude 3 Haiku on Bedrock (ConverseStream, the AWS event stream), gpt-4o-mini on an Azure
deployment and on the OpenAI-compatible server (chat completions with stream=True, server-sent events). The
stand-ins' text streams at their families' emulated rates (models.Family.emulated_tokens_per_s: an emulation
setting, not a measurement). Each round calls a target twice through the product's `Service.call`, streamed and
unstreamed (the same workbench with MCV_STREAM off), the order alternating, with the same prepared image (a
640 x 480 photo-like JPEG) and prompt, after two warm-up calls of each.

(a) TTFT error. The emulator records the CLOCK_MONOTONIC time at which the write carrying an answer's first text
began (`GET /_mcv/streams`; that clock is one for every process of the machine). The app stamps the first text's
arrival (timing.StreamTimer) and passes it to `on_text`, where this script reads the same clock. The error is
that arrival minus the emulator's send: it equals the app's `ttft_ms` minus the TTFT that the emulator's send
time gives from the app's own start stamp (the start cancels out). It is what the client adds to the true TTFT:
loopback, HTTP chunk and event parsing, the SDK's buffering. Target: at most 1 ms at the median, every target.

(b) What streaming adds. A streamed call's total (wall time of `Service.call`) against the same answer unstreamed
from the same emulator, which sends an unstreamed answer when its last piece would have been streamed, so both
wait for the same emulated generation. Two figures, differences of medians: of the totals, which carry the
stand-in's real compute time (its noise on a shared 2-core machine is larger than the target), and of the time
outside the emulator's own work (each call's total minus the emulator's span, from the request's headers read
to its last byte written), which takes that noise out and is the client's and the wire's share. Target: at most
2 ms at the median on the latter, every target. The baseline is the unstreamed call, measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

from bench import common

NAME = "streaming"
TTFT_TARGET_MS = 1.0
OVERHEAD_TARGET_MS = 2.0
PROMPT = "Describe this image in one or two sentences."
# (target id, service, model, deployment): the streaming services, each with the model its default target uses.
TARGETS = (
    ("bedrock", "bedrock", "anthropic.claude-3-haiku-20240307-v1:0", ""),
    ("azure_openai", "azure_openai", "gpt-4o-mini", "gpt-4o-mini"),
    ("openai", "openai", "gpt-4o-mini", ""),
)
WARMUP = 2


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


class Emulator:
    """The local cloud's AI emulator, as this bench reads it: its log of answers sent."""

    def __init__(self, conn: Any) -> None:
        from mcv_core.local import control

        self.conn = conn
        self._admin = control.emulator_admin

    def record(self, service: str, streamed: bool, since_ns: int, wait_s: float = 5.0) -> dict[str, Any]:
        """The emulator's record of the call made at `since_ns` (this bench makes one call at a time). The
        emulator adds it once its last byte is written, which may be just after the client has it all: wait."""
        deadline = time.monotonic() + wait_s
        while True:
            found = [r for r in self._admin(self.conn, "GET", "/_mcv/streams")["streams"] if r["received_ns"] >= since_ns]
            if found:
                record = found[-1]
                if len(found) > 1 or (record["service"], record["streamed"], record["ended"]) != (service, streamed, "complete"):
                    raise RuntimeError(f"the emulator's answers since the call are not that call ({service}, streamed={streamed}): {found}")
                return record
            if time.monotonic() > deadline:
                raise RuntimeError(f"the emulator has no record of the call ({service}, streamed={streamed}) after {wait_s} s")
            time.sleep(0.001)


def call_once(service: Any, prepared: Any, emulator: Emulator, streamed: bool) -> dict[str, Any]:
    """One call through Service.call, with the emulator's record of it."""
    first: list[int] = []

    def on_text(delta: str) -> None:
        if not first:
            first.append(time.monotonic_ns())

    started = time.monotonic_ns()
    reply = service.call(prepared, PROMPT, on_text=on_text) if streamed else service.call(prepared, PROMPT)
    ended = time.monotonic_ns()
    record = emulator.record(service.target.service, streamed, started)
    total_ms = (ended - started) / 1e6
    sample: dict[str, Any] = {
        "total_ms": round(total_ms, 3),
        "emulator_span_ms": round((record["end_ns"] - record["received_ns"]) / 1e6, 3),
        "outside_ms": round(total_ms - (record["end_ns"] - record["received_ns"]) / 1e6, 3),
        "output": reply.output,
        "output_tokens": reply.output_tokens,
        "new_connection": record["connection_request"] == 1,
    }
    if streamed:
        if not first or reply.ttft_ms is None or record["first_text_ns"] is None:
            raise RuntimeError(f"{service.name}: a streamed call without a first text ({reply})")
        error_ms = (first[0] - record["first_text_ns"]) / 1e6
        sample.update(
            ttft_app_ms=reply.ttft_ms,
            ttft_error_ms=round(error_ms, 4),
            ttft_emulator_ms=round(reply.ttft_ms - error_ms, 3),
            output_tokens_per_s=reply.output_tokens_per_s,
            emulated_tokens_per_s=record["tokens_per_s"],
            ttft_inside_latency=0 < reply.ttft_ms < total_ms,
        )
    return sample


def measure_target(streamed_service: Any, unstreamed_service: Any, prepared: Any, emulator: Emulator, rounds: int) -> dict[str, Any]:
    arms: dict[bool, Callable[[], dict[str, Any]]] = {
        True: lambda: call_once(streamed_service, prepared, emulator, True),
        False: lambda: call_once(unstreamed_service, prepared, emulator, False),
    }
    for _ in range(WARMUP):  # the stand-in's models, connection pools, lazy imports
        for arm in arms.values():
            arm()
    samples: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
    for i in range(rounds):
        for streamed in (True, False) if i % 2 == 0 else (False, True):
            samples[streamed].append(arms[streamed]())
    s, u = samples[True], samples[False]
    paired_total = [a["total_ms"] - b["total_ms"] for a, b in zip(s, u)]
    errors = [x["ttft_error_ms"] for x in s]
    return {
        "target": streamed_service.name,
        "model": streamed_service.model_id,
        "rounds": rounds,
        "ttft_error_ms": {**common.summary(errors, 4), "mean_ms": round(statistics.fmean(errors), 4)},
        "ttft_app_median_ms": _median([x["ttft_app_ms"] for x in s]),
        "ttft_emulator_median_ms": _median([x["ttft_emulator_ms"] for x in s]),
        "ttft_inside_latency": all(x["ttft_inside_latency"] for x in s),
        "streamed_total": common.summary([x["total_ms"] for x in s]),
        "unstreamed_total": common.summary([x["total_ms"] for x in u]),
        "overhead_total_median_ms": round(_median([x["total_ms"] for x in s]) - _median([x["total_ms"] for x in u]), 3),
        "overhead_total_paired_median_ms": _median(paired_total),
        "streamed_outside": common.summary([x["outside_ms"] for x in s]),
        "unstreamed_outside": common.summary([x["outside_ms"] for x in u]),
        "overhead_outside_median_ms": round(_median([x["outside_ms"] for x in s]) - _median([x["outside_ms"] for x in u]), 3),
        "emulator_span_median_ms": {"streamed": _median([x["emulator_span_ms"] for x in s]),
                                    "unstreamed": _median([x["emulator_span_ms"] for x in u])},
        "output_tokens_median": _median([x["output_tokens"] for x in s]),
        "output_tokens_per_s_median": _median([x["output_tokens_per_s"] for x in s if x["output_tokens_per_s"]]),
        "emulated_tokens_per_s": s[0]["emulated_tokens_per_s"],
        "same_answer": sum(a["output"] == b["output"] for a, b in zip(s, u)),
        # Calls that came to the emulator on a new connection (the SDK's pool did not reuse one).
        "new_connections": {"streamed": sum(x["new_connection"] for x in s), "unstreamed": sum(x["new_connection"] for x in u)},
    }


def run(quick: bool = False, rounds: int | None = None, data_dir: Path | None = None, keep: bool = False) -> dict[str, Any]:
    rounds = rounds or (6 if quick else 30)
    load_at_start = os.getloadavg()
    clocks = {name: time.get_clock_info(name).implementation for name in ("monotonic", "perf_counter")}
    # Each family's own rate, no faults.
    unset = ("MCV_STREAM", "MCV_LOCAL_TOKENS_PER_S", "MCV_LOCAL_FAULTS")
    with common.own_local_cloud("mcv-bench-streaming-", data_dir, keep, unset) as settings:
        from mcv_core import images, targets
        from mcv_core.local import control
        from mcv_core.workbench import Workbench

        catalogue = targets.Catalogue(
            tuple(targets.Target(id=i, service=s, model=m, deployment=d) for i, s, m, d in TARGETS)
        )
        control.deploy_catalogue(settings, catalogue)
        streamed = Workbench(settings, catalogue=catalogue)
        unstreamed = Workbench(settings.with_(stream=False), clients=streamed.clients, catalogue=catalogue)
        emulator = Emulator(control.running(settings))
        image = streamed.load_image(common.photo_jpeg(640, 480), "bench-photo.jpg")
        per_target = []
        for target_id, *_ in TARGETS:
            s_service, u_service = streamed.target(target_id), unstreamed.target(target_id)
            if not (s_service.streaming and not u_service.streaming):
                raise RuntimeError(f"{target_id}: expected one streaming and one unstreamed service")
            prepared = images.prepare(image, s_service.image_spec)
            per_target.append(measure_target(s_service, u_service, prepared, emulator, rounds))
            print(f"  {target_id}: done ({rounds} rounds)", file=sys.stderr, flush=True)
    worst_error = max(t["ttft_error_ms"]["median_ms"] for t in per_target)
    worst_overhead = max(t["overhead_outside_median_ms"] for t in per_target)
    return {
        "name": NAME,
        "target": (
            f"the app's TTFT within {TTFT_TARGET_MS:g} ms of the emulator's own first-text send time (median error), "
            f"and a streamed call at most {OVERHEAD_TARGET_MS:g} ms slower than the same answer unstreamed (median)"
        ),
        "baseline": {
            "unstreamed_total_median_ms": {t["target"]: t["unstreamed_total"]["median_ms"] for t in per_target},
            "unstreamed_outside_median_ms": {t["target"]: t["unstreamed_outside"]["median_ms"] for t in per_target},
        },
        "ours": {
            "ttft_error_median_ms": {t["target"]: t["ttft_error_ms"]["median_ms"] for t in per_target},
            "streamed_total_median_ms": {t["target"]: t["streamed_total"]["median_ms"] for t in per_target},
            "overhead_outside_median_ms": {t["target"]: t["overhead_outside_median_ms"] for t in per_target},
            "overhead_total_median_ms": {t["target"]: t["overhead_total_median_ms"] for t in per_target},
        },
        "ratio": {"worst_ttft_error_ms": worst_error, "worst_overhead_ms": worst_overhead},
        "met": worst_error <= TTFT_TARGET_MS and worst_overhead <= OVERHEAD_TARGET_MS
        and all(t["ttft_inside_latency"] for t in per_target),
        "details": {
            "figure_compared": "median TTFT error (ms) and median streamed minus unstreamed time outside the emulator (ms)",
            "rounds": rounds,
            "prompt": PROMPT,
            "clocks": clocks,
            "targets": per_target,
        },
        "environment": common.environment(load_at_start),
    }


def render(result: dict[str, Any]) -> str:
    rows_a, rows_b = [], []
    for t in result["details"]["targets"]:
        e = t["ttft_error_ms"]
        rows_a.append((t["target"], t["ttft_app_median_ms"], t["ttft_emulator_median_ms"], e["median_ms"], e["p95_ms"],
                       e["min_ms"], e["max_ms"], f"{t['output_tokens_per_s_median']} / {t['emulated_tokens_per_s']:g}"))
        rows_b.append((t["target"], t["unstreamed_total"]["median_ms"], t["streamed_total"]["median_ms"],
                       f"{t['overhead_total_median_ms']:+.3f}", f"{t['overhead_total_paired_median_ms']:+.3f}",
                       t["unstreamed_outside"]["median_ms"], t["streamed_outside"]["median_ms"],
                       f"{t['overhead_outside_median_ms']:+.3f}", f"{t['same_answer']}/{t['rounds']}",
                       f"{t['new_connections']['streamed']} / {t['new_connections']['unstreamed']}"))
    return "\n".join(
        [
            f"{result['name']}: {result['target']}",
            f"(a) TTFT, ms ({result['details']['rounds']} streamed calls per target; error = app's first text - emulator's send)",
            common.table(("target", "app TTFT", "emulator TTFT", "error p50", "p95", "min", "max", "tokens/s app / emulated"), rows_a),
            "(b) streamed against unstreamed, medians, ms (outside = total - the emulator's own span)",
            common.table(("target", "unstreamed", "streamed", "diff", "paired diff", "outside unstr.", "outside str.",
                          "diff outside", "same answer", "new conn. str. / unstr."), rows_b),
            f"worst: TTFT error {result['ratio']['worst_ttft_error_ms']} ms (target ≤ {TTFT_TARGET_MS:g}), "
            f"overhead {result['ratio']['worst_overhead_ms']:+.3f} ms (target ≤ {OVERHEAD_TARGET_MS:g})  ->  target "
            + ("met" if result["met"] else "NOT met"),
            common.environment_line(result["environment"]),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.streaming", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="6 rounds per target: a quick look")
    parser.add_argument("--rounds", type=int, help="rounds per target, each a streamed and an unstreamed call (default 30)")
    common.local_cloud_arguments(parser)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with common.sigterm_as_interrupt():
        result = run(args.quick, args.rounds, args.data_dir, args.keep)
    path = common.write_result(result)
    print(json.dumps(result, indent=2) if args.json else render(result) + f"\nwritten to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
