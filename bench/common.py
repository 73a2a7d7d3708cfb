"""What every bench script shares: its command line, its result document, and the fixtures it measures with.

A bench script `bench/<name>.py` defines `run(quick: bool = False) -> dict` and ends with

    if __name__ == "__main__":
        sys.exit(common.main(run, render))

so that `python -m bench.<name> [--quick] [--json]` runs it, prints a table (`render(result) -> str`, or the
generic one) or the JSON document, and writes `bench/results/<name>.json` (the folder is git-ignored). The
document:

    {"name", "target" (the target in words), "baseline": {...}, "ours": {...}, "ratio" (or the figure
     compared), "met": bool, "details": {...}, "environment": environment(...)}

The exit status is 0 whenever the measurement ran, met or not: a bench reports, it is not a test.

How to measure on these machines (2 cores, shared with other work): measure the baseline in the same run,
warm up first, interleave baseline and ours, and compare medians (`summary`); keep p95 for the tail.

Fixtures, loopback only:
  `loopback_server(handler)`  a ThreadingHTTPServer on 127.0.0.1 in a thread, or in a child process
                              (`process=True`) so that the server's Python work does not share our GIL.
  `registered(*classes)`      fake services in the real registry for the duration, built-ins given back after;
                              a target whose `service` is one of theirs reaches it (`registry.bind`, or a
                              `Workbench(settings, catalogue=targets.Catalogue((Target(...), ...)))`).
  `default_specs()`           the image specs of the three default targets (classifier, Claude, gpt-4o-mini).
  `photo()`                   a generated 12 MP JPEG, loaded by the product's own `load_image` for those specs.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import multiprocessing
import os
import platform
import signal
import statistics
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Sequence

if TYPE_CHECKING:
    from mcv_core.config import Settings
    from mcv_core.images import ImageSpec, SourceImage
    from mcv_core.services.base import Service

RESULTS_DIR = Path(__file__).resolve().parent / "results"
LOOPBACK = "127.0.0.1"


# ------------------------------------------------------------------------------------------- the document


def environment(load_at_start: Sequence[float] | None = None) -> dict[str, Any]:
    """Where the figures were taken: Python, CPUs and the load average (at the end, and at the start if given)."""
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if load_at_start is not None:
        env["load_average_at_start"] = [round(x, 2) for x in load_at_start]
    return env


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), interpolated between neighbours as numpy's default does."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def summary(samples_ms: Sequence[float], digits: int = 3) -> dict[str, float | int]:
    """median, p95, min, max and n of timings in milliseconds."""
    return {
        "median_ms": round(statistics.median(samples_ms), digits),
        "p95_ms": round(percentile(samples_ms, 95), digits),
        "min_ms": round(min(samples_ms), digits),
        "max_ms": round(max(samples_ms), digits),
        "n": len(samples_ms),
    }


def table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A plain text table: the first column left-aligned, the others right-aligned."""
    cells = [[str(h) for h in header]] + [["-" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = []
    for n, row in enumerate(cells):
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render_default(result: dict[str, Any]) -> str:
    """The generic report: target, baseline against ours, the ratio and whether the target was met."""
    keys = list(dict.fromkeys([*result["baseline"], *result["ours"]]))
    rows = [(k, result["baseline"].get(k), result["ours"].get(k)) for k in keys]
    return "\n".join(
        [
            f"{result['name']}: {result['target']}",
            table(("figure", "baseline", "ours"), rows),
            f"ratio {result['ratio']}  ->  target {'met' if result['met'] else 'NOT met'}",
            environment_line(result["environment"]),
        ]
    )


def environment_line(env: dict[str, Any]) -> str:
    """One line for a printed report: Python, CPUs, load average at start and end."""
    start = env.get("load_average_at_start")
    return (
        f"environment: Python {env['python']}, {env['cpu_count']} CPUs, load average "
        + (f"{start[0]} at start, " if start else "")
        + f"{env['load_average'][0]} at end ({env['platform']})"
    )


def write_result(result: dict[str, Any]) -> Path:
    """Write the document to bench/results/<name>.json (the folder and its .gitignore are made if missing)."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    ignore = RESULTS_DIR / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n!.gitignore\n")
    path = RESULTS_DIR / f"{result['name']}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


def main(run: Callable[..., dict[str, Any]], render: Callable[[dict[str, Any]], str] | None = None,
         argv: Sequence[str] | None = None, description: str | None = None) -> int:
    """The command line of a bench script: `[--quick] [--json]`; returns the exit status."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="fewer iterations: a quick look, not a figure to quote")
    parser.add_argument("--json", action="store_true", help="print the result document as JSON")
    args = parser.parse_args(argv)
    result = run(quick=args.quick)
    path = write_result(result)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print((render or render_default)(result))
        print(f"written to {path}")
    return 0


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """A SIGTERM (e.g. from `python -m bench` being stopped) unwinds like Ctrl-C, so that the local clouds and
    servers a script started are stopped by its `finally` blocks."""

    def raise_interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, raise_interrupt)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# ------------------------------------------------------------------------------------------------ fixtures


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64  # a burst of connections must not be refused by a short listen backlog


def _no_proxy_for_loopback() -> None:
    # An HTTP(S)_PROXY in the environment must not send loopback requests anywhere else (urllib, botocore, httpx).
    for var in ("NO_PROXY", "no_proxy"):
        hosts = [h for h in os.environ.get(var, "").split(",") if h]
        os.environ[var] = ",".join(dict.fromkeys([*hosts, LOOPBACK, "localhost"]))


def _serve_child(handler: type[BaseHTTPRequestHandler], conn: Any) -> None:
    server = _Server((LOOPBACK, 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    conn.send(server.server_port)
    try:
        conn.recv()  # anything, or EOF when the parent closes its end or dies
    except EOFError:
        pass
    server.shutdown()
    server.server_close()


@contextmanager
def loopback_server(handler: type[BaseHTTPRequestHandler], *, process: bool = False) -> Iterator[str]:
    """Serve `handler` on 127.0.0.1 at a free port and yield its base URL, e.g. "http://127.0.0.1:40123".

    process=True serves from a child process (spawned; `handler` must be importable at module level), so the
    server's Python work does not compete with the measured client for the GIL, as a real endpoint would not.
    """
    _no_proxy_for_loopback()
    if not process:
        server = _Server((LOOPBACK, 0), handler)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        try:
            yield f"http://{LOOPBACK}:{server.server_port}"
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
        return
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_serve_child, args=(handler, child), daemon=True, name="bench-loopback-server")
    proc.start()
    child.close()
    try:
        try:
            if not parent.poll(30):
                raise RuntimeError("the loopback server process did not start within 30 s")
            port = parent.recv()
        except EOFError:
            raise RuntimeError(f"the loopback server process exited at start (exit code {proc.exitcode})") from None
        yield f"http://{LOOPBACK}:{port}"
    finally:
        parent.close()  # the child sees EOF and stops its server
        proc.join(timeout=5)
        if proc.is_alive():
            proc.terminate()
            proc.join(timeout=5)


@contextmanager
def registered(*classes: type[Service]) -> Iterator[None]:
    """Register service classes (by their `service` name) in the real registry for the duration; a displaced
    built-in comes back after."""
    from mcv_core.services import registry

    added: list[str] = []
    displaced: list[type[Service]] = []
    try:
        for cls in classes:
            if cls.service in registry.names():
                displaced.append(registry.get(cls.service))
                registry.unregister(cls.service)
            registry.register(cls)
            added.append(cls.service)
        yield
    finally:
        for name in added:
            registry.unregister(name)
        for cls in displaced:
            registry.register(cls)


@lru_cache(maxsize=4)
@contextmanager
def own_local_cloud(prefix: str, data_dir: Path | None = None, keep: bool = False, unset: Sequence[str] = (),
                    **variables: str) -> Iterator[Settings]:
    """A local cloud of the bench's own (loopback only), its Settings yielded: in a temporary data folder named
    `prefix...` unless `data_dir` is given, with these MCV_ `variables` set and those `unset` removed from the
    environment; stopped at the end unless `keep` (which needs a `data_dir`, to be found again)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        os.environ.update(MCV_MODE="local", MCV_DATA_DIR=str(data_dir or tmp), MCV_ENV_FILE=os.devnull, **variables)
        for name in unset:
            os.environ.pop(name, None)
        from mcv_core.config import Settings
        from mcv_core.local import control

        settings = Settings.load()
        control.up(settings, quiet=True)
        try:
            yield settings
        finally:
            if not keep or data_dir is None:
                control.down(settings)


def local_cloud_arguments(parser: argparse.ArgumentParser) -> None:
    """--data-dir and --keep, for a script on `own_local_cloud`."""
    parser.add_argument("--data-dir", type=Path, help="the local cloud's data folder (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="leave the local cloud of --data-dir running")


def photo_jpeg(width: int = 4032, height: int = 3024, seed: int = 0) -> bytes:
    """A phone-photo-sized JPEG (12 MP, about 2.4 MB at quality 90): smooth colour fields with sensor-like
    grain, so it decodes and compresses like a photo rather than like a flat test card."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(0, 256, (9, 12, 3), dtype=np.uint8))
    base = np.asarray(coarse.resize((width, height), Image.Resampling.BICUBIC)).astype(np.int16)
    grain = rng.integers(-6, 7, (height, width), dtype=np.int16)[..., None]
    buffer = io.BytesIO()
    Image.fromarray(np.clip(base + grain, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def default_specs() -> tuple[ImageSpec, ...]:
    """The image specs of the three default targets (sagemaker, bedrock, azure_openai): our classifier's, Claude's
    and gpt-4o-mini's (models.CLASSIFIER, models.CLAUDE, models.GPT_TILES at detail auto)."""
    from mcv_core import targets
    from mcv_core.config import Settings

    return tuple(t.image_spec for t in targets.defaults(Settings()).targets)


def photo(width: int = 4032, height: int = 3024, seed: int = 0,
          specs: Sequence[ImageSpec] | None = None) -> SourceImage:
    """`photo_jpeg` through the product's `load_image`, with the default upload limits, decoded to the working
    size that covers `specs` (default: the three default targets', as a workbench of them decodes it)."""
    from mcv_core.config import Settings
    from mcv_core.images import load_image

    limits = Settings()
    return load_image(photo_jpeg(width, height, seed), "bench-photo.jpg", max_bytes=limits.max_image_bytes,
                      max_pixels=limits.max_pixels, specs=tuple(specs) if specs is not None else default_specs())
