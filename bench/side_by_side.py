"""Side by side costs no more than the slowest target.

    python -m bench.side_by_side [--quick] [--json]

Three fake services are registered through the real service registry, each reached through a target of its
own (a catalogue of three targets, bound by `registry.bind`). Each one's call sends the image it was prepared
(the product's own per-target preparation, the real ImageSpecs of the default targets' model families) in a
real HTTP POST to a loopback server started here, which answers after a fixed 200, 500 or 900 ms.
`runner.compare` (the product path: one thread per target, preparation in that thread, slots, attempt
counting, results as each finishes) runs N times on a real SourceImage (a generated 12 MP JPEG through
`load_image`); the baseline, in the same run and interleaved with it, calls the same targets one after another
through the same `runner.call_provider`, as the proof of concept did. The slowest target is also timed alone,
to show what of the wall time is its own.

Target: comparison wall time (median) at most 1.05 x the slowest + 20 ms = 965 ms.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import statistics
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar
from urllib.parse import urlsplit

from bench import common

NAME = "side_by_side"
PROMPT = "Describe this image in one or two sentences."
# (target id and its fake service's name, latency of its answer in ms, image spec name, from models.py): the
# slowest gets the largest image, the worst case.
TARGETS = (("bench_fast", 200, "classifier"), ("bench_mid", 500, "gpt_tiles"), ("bench_slow", 900, "claude"))
SLOWEST_MS = max(ms for _, ms, _ in TARGETS)
BOUND_FACTOR, BOUND_SLACK_MS = 1.05, 20.0
BOUND_MS = BOUND_FACTOR * SLOWEST_MS + BOUND_SLACK_MS


class InFlight:
    """Requests the server is answering at once; the peak shows the calls really overlapped on the wire."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def reset(self) -> None:
        with self.lock:
            self.peak = self.now

    def __enter__(self) -> None:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def __exit__(self, *exc: object) -> None:
        with self.lock:
            self.now -= 1


IN_FLIGHT = InFlight()


class DelayHandler(BaseHTTPRequestHandler):
    """POST /delay/<ms>: reads the whole body, then answers after <ms> milliseconds. A bench fixture."""

    protocol_version = "HTTP/1.0"  # one connection per call, as a provider's first request makes

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        pass

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        match = re.fullmatch(r"/delay/(\d+)", self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if match is None:
            self.send_error(404)
            return
        with IN_FLIGHT:
            time.sleep(int(match.group(1)) / 1000)
            answer = json.dumps({"delay_ms": int(match.group(1)), "received_bytes": len(body)}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)


def delayed_service(name: str, delay_ms: int, spec_name: str, base_url: str) -> type:
    """A service class (registry name `name`) whose call POSTs the prepared image to the delay server and parses
    its JSON. Its targets' model is unknown to models.py, so the class gives the image spec itself."""
    from mcv_core.errors import ConnectionFailed, MalformedResponseError
    from mcv_core.images import ImageSpec, PreparedImage
    from mcv_core.records import Reply
    from mcv_core.services.base import Service

    spec = next(s for s in common.default_specs() if s.name == spec_name)
    url = urlsplit(base_url)

    class DelayedService(Service):
        service: ClassVar[str] = name
        service_title: ClassVar[str] = f"Loopback {delay_ms} ms"
        cloud: ClassVar[str] = "aws"
        required_fields: ClassVar[tuple[str, ...]] = ()

        @property
        def model_id(self) -> str:
            return f"loopback-delay-{delay_ms}ms"

        @property
        def image_spec(self) -> ImageSpec:
            return spec

        def call(self, image: PreparedImage, prompt: str) -> Reply:
            conn = http.client.HTTPConnection(url.hostname, url.port, timeout=self.timeout_s)
            try:
                conn.request("POST", f"/delay/{delay_ms}", body=image.data, headers={"Content-Type": image.media_type})
                response = conn.getresponse()
                body = response.read()
            except OSError as exc:
                raise ConnectionFailed(f"{self.title}: {exc}") from exc
            finally:
                conn.close()
            try:
                data = json.loads(body)
                return Reply(
                    output=f"answered after {data['delay_ms']} ms, {data['received_bytes']} bytes received",
                    model=self.model_id,
                    provider_latency_ms=float(data["delay_ms"]),
                )
            except (ValueError, KeyError) as exc:
                raise MalformedResponseError(f"{self.title}: HTTP {response.status}, {body[:200]!r}") from exc

        def cost(self, reply: Reply) -> float | None:
            return None

        def probe(self, timeout: float) -> tuple[str, dict[str, Any]]:
            return f"loopback {url.netloc}", {}

    DelayedService.__name__ = DelayedService.__qualname__ = f"Delayed_{name}"
    return DelayedService


def bench_catalogue() -> Any:
    """One target per fake service, with the same id."""
    from mcv_core.targets import Catalogue, Target

    return Catalogue(tuple(Target(id=name, service=name, model=f"loopback-delay-{ms}ms", title=f"Loopback {ms} ms")
                           for name, ms, _ in TARGETS))


def run(quick: bool = False) -> dict[str, Any]:
    from mcv_core import runner
    from mcv_core.clients import Clients, Endpoints
    from mcv_core.config import Settings
    from mcv_core.records import Run
    from mcv_core.services import registry

    load_at_start = os.getloadavg()
    n = 5 if quick else 15
    image = common.photo()
    with common.loopback_server(DelayHandler) as base_url:
        classes = [delayed_service(name, ms, spec, base_url) for name, ms, spec in TARGETS]
        with common.registered(*classes):
            settings = Settings.from_mapping({"MCV_MODE": "local"})
            clients = Clients(settings, Endpoints(aws={}))  # the fakes use no SDK client
            catalogue = bench_catalogue()
            providers = [registry.bind(catalogue.get(name), settings, clients) for name, _, _ in TARGETS]
            slowest = providers[-1]

            def side_by_side() -> dict[str, Any]:
                arrivals: list[tuple[str, float]] = []
                run_ = Run.new(image, PROMPT, [p.name for p in providers], source="bench")
                IN_FLIGHT.reset()
                started = time.perf_counter()
                runner.compare(providers, run_, on_result=lambda r: arrivals.append((r.provider, time.perf_counter())))
                wall = (time.perf_counter() - started) * 1000
                return {
                    "wall_ms": wall,
                    "first_ms": (arrivals[0][1] - started) * 1000,
                    "order": [name for name, _ in arrivals],
                    "peak_in_flight": IN_FLIGHT.peak,
                    "errors": [r.error for r in run_.results if not r.ok],
                    "slowest": next(r for r in run_.results if r.provider == slowest.name),
                }

            def one_after_another() -> dict[str, Any]:
                started = time.perf_counter()
                first = None
                results = []
                for provider in providers:
                    results.append(runner.call_provider(provider, image, PROMPT))
                    first = first or time.perf_counter()
                return {
                    "wall_ms": (time.perf_counter() - started) * 1000,
                    "first_ms": (first - started) * 1000,
                    "errors": [r.error for r in results if not r.ok],
                }

            def slowest_alone() -> dict[str, Any]:
                started = time.perf_counter()
                result = runner.call_provider(slowest, image, PROMPT)
                return {"wall_ms": (time.perf_counter() - started) * 1000, "errors": [] if result.ok else [result.error]}

            for _ in range(2):  # warm-up: imports, first JPEG encodes, thread pools, the server's first threads
                side_by_side()
            one_after_another()
            slowest_alone()

            ours, baseline, alone = [], [], []
            for i in range(n):
                # Interleaved, alternating which goes first, so a burst of outside load hits both alike.
                if i % 2:
                    ours.append(side_by_side())
                    baseline.append(one_after_another())
                else:
                    baseline.append(one_after_another())
                    ours.append(side_by_side())
                alone.append(slowest_alone())

    walls = [r["wall_ms"] for r in ours]
    seq_walls = [r["wall_ms"] for r in baseline]
    ours_wall = common.summary(walls, 1)
    seq_wall = common.summary(seq_walls, 1)
    alone_wall = common.summary([r["wall_ms"] for r in alone], 1)
    errors = [e for r in ours + baseline + alone for e in r["errors"]]
    expected_order = [name for name, _, _ in sorted(TARGETS, key=lambda p: p[1])]
    slow_results = [r["slowest"] for r in ours]
    median = ours_wall["median_ms"]
    return {
        "name": NAME,
        "target": (
            f"side by side costs no more than the slowest target: comparison wall time (median) at most "
            f"{BOUND_FACTOR} x the slowest ({SLOWEST_MS} ms) + {BOUND_SLACK_MS:g} ms = {BOUND_MS:g} ms; "
            f"baseline: the same targets one after another"
        ),
        "baseline": {
            "wall_median_ms": seq_wall["median_ms"],
            "wall_p95_ms": seq_wall["p95_ms"],
            "first_result_median_ms": round(statistics.median(r["first_ms"] for r in baseline), 1),
        },
        "ours": {
            "wall_median_ms": median,
            "wall_p95_ms": ours_wall["p95_ms"],
            "first_result_median_ms": round(statistics.median(r["first_ms"] for r in ours), 1),
            "first_result_p95_ms": round(common.percentile([r["first_ms"] for r in ours], 95), 1),
        },
        "ratio": round(median / SLOWEST_MS, 4),
        "met": median <= BOUND_MS and not errors,
        "details": {
            "bound_ms": BOUND_MS,
            "slowest_ms": SLOWEST_MS,
            "latencies_ms": {name: ms for name, ms, _ in TARGETS},
            "image_specs": {name: spec for name, _, spec in TARGETS},
            "image": {"width": image.width, "height": image.height, "bytes": image.size_bytes},
            "iterations": n,
            "p95_within_bound": ours_wall["p95_ms"] <= BOUND_MS,
            "ratio_to_slowest_p95": round(ours_wall["p95_ms"] / SLOWEST_MS, 4),
            "ratio_to_slowest_alone": round(median / alone_wall["median_ms"], 4),
            "speedup_vs_sequential": round(seq_wall["median_ms"] / median, 3),
            "sum_of_latencies_ms": sum(ms for _, ms, _ in TARGETS),
            "side_by_side_wall": ours_wall,
            "sequential_wall": seq_wall,
            "slowest_alone_wall": alone_wall,
            "overhead_over_slowest_median_ms": round(median - SLOWEST_MS, 1),
            "slowest_in_comparison": {
                "prepare_median_ms": round(statistics.median(r.timings["prepare_ms"] for r in slow_results), 2),
                "queue_median_ms": round(statistics.median(r.timings["queue_ms"] for r in slow_results), 2),
                "call_median_ms": round(statistics.median(r.latency_ms for r in slow_results), 2),
            },
            "results_in_finish_order": all(r["order"] == expected_order for r in ours),
            "peak_requests_in_flight": max(r["peak_in_flight"] for r in ours),
            "errors": errors,
            "walls_ms": {"side_by_side": [round(w, 1) for w in walls], "sequential": [round(w, 1) for w in seq_walls]},
        },
        "environment": common.environment(load_at_start),
    }


def render(result: dict[str, Any]) -> str:
    d, b, o = result["details"], result["baseline"], result["ours"]
    rows = [
        ("wall median ms", b["wall_median_ms"], o["wall_median_ms"]),
        ("wall p95 ms", b["wall_p95_ms"], o["wall_p95_ms"]),
        ("first result median ms", b["first_result_median_ms"], o["first_result_median_ms"]),
    ]
    s = d["slowest_in_comparison"]
    return "\n".join(
        [
            f"{result['name']}: {result['target']}",
            f"targets {d['latencies_ms']} ms, {d['iterations']} runs each after warm-up, image "
            f"{d['image']['width']}x{d['image']['height']} ({d['image']['bytes']} bytes)",
            common.table(("figure", "one after another", "side by side"), rows),
            f"slowest alone: median {d['slowest_alone_wall']['median_ms']} ms; in the comparison it spent "
            f"{s['prepare_median_ms']} ms preparing, {s['queue_median_ms']} ms waiting for a slot, {s['call_median_ms']} ms calling",
            f"bound {d['bound_ms']:g} ms; ratio to the slowest {result['ratio']} (p95 {d['ratio_to_slowest_p95']}, "
            f"to the slowest alone {d['ratio_to_slowest_alone']}); speedup vs one after another {d['speedup_vs_sequential']}x",
            f"results in finish order: {d['results_in_finish_order']}; peak requests in flight: {d['peak_requests_in_flight']}; "
            f"errors: {len(d['errors'])}",
            f"target {'met' if result['met'] else 'NOT met'} (median); p95 within bound: {d['p95_within_bound']}",
            common.environment_line(result["environment"]),
        ]
    )


if __name__ == "__main__":
    sys.exit(common.main(run, render, description=__doc__.split("\n\n")[0]))
