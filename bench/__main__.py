"""Run every bench script, one after another, then print one summary table.

    python -m bench [--quick] [NAME ...]

The scripts are the modules of bench/ found by file name (every `bench/<name>.py` but common, __init__ and
__main__), known ones in a fixed order, any other after them. Each runs in its own process,
`python -m bench.<name>`, its output shown as it comes; `--quick` is passed to the scripts that take it (all of
them today; one that does not runs with its defaults). A failure does not stop the others.

The summary gives, per script: how it ended, whether its target was met, its ratio (or the figure it
compares), the time it took, and its result document (bench/results/<name>.json, when the script wrote it
during this run). Exit status 0 when every script ran to its end, met or not; 1 when one crashed: it exited
with a traceback, was killed by a signal, or exited non-zero without writing its document. A script that
exits non-zero after its report counts as run, and the summary says so.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any, Sequence

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results"
ORDER = (
    "side_by_side", "harness", "image_prep", "local_model", "history_scale", "responsiveness", "streaming",
    "compare_stream", "load", "metrics_overhead", "alarm_response",
)  # fmt: skip
NOT_SCRIPTS = {"__init__", "__main__", "common"}
_TERMINATED = threading.Event()  # this runner got a SIGTERM: pass it on to the script running


def discover(bench: Path = BENCH) -> list[str]:
    found = {p.stem for p in bench.glob("*.py") if p.stem not in NOT_SCRIPTS and not p.stem.startswith("_")}
    return [n for n in ORDER if n in found] + sorted(found - set(ORDER))


def arguments(name: str, quick: bool, data_dir: Path, bench: Path = BENCH) -> list[str]:
    """What to pass the script: --quick if it takes it (common.main, or its own parser names it), else nothing
    (its defaults). A script that takes --data-dir gets a temporary folder of this run's."""
    source = (bench / f"{name}.py").read_text(errors="replace")
    args: list[str] = []
    if '"--data-dir"' in source or "common.local_cloud_arguments(" in source:
        args += ["--data-dir", str(data_dir / name)]
    if not quick:
        return args
    if "common.main(" in source or '"--quick"' in source:
        return args + ["--quick"]
    return args


def _tee(stream: IO[str], sink: IO[str], keep: list[str]) -> None:
    for line in stream:
        sink.write(line)
        sink.flush()
        keep.append(line)
        del keep[:-200]


def run_script(name: str, args: Sequence[str]) -> dict[str, Any]:
    """`python -m bench.<name> args` in a process of its own; how it ended, its output's tail and its document."""
    command = [sys.executable, "-m", f"bench.{name}", *args]
    print(f"\n=== {' '.join(['python', *command[1:]])}", flush=True)
    started_wall = time.time()
    started = time.perf_counter()
    proc = subprocess.Popen(
        command,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
        stdin=subprocess.DEVNULL,
    )
    out: list[str] = []
    err: list[str] = []
    threads = [
        threading.Thread(target=_tee, args=(proc.stdout, sys.stdout, out), daemon=True),
        threading.Thread(target=_tee, args=(proc.stderr, sys.stderr, err), daemon=True),
    ]
    for t in threads:
        t.start()
    try:
        code = proc.wait()
    except KeyboardInterrupt:
        # A Ctrl-C reaches the child too (same process group); a SIGTERM is passed on. Either way it stops its
        # servers: give it the time to.
        if _TERMINATED.is_set() and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.wait(timeout=30)
        raise
    for t in threads:
        t.join(timeout=5)
    seconds = time.perf_counter() - started
    path = RESULTS / f"{name}.json"
    document = None
    if path.is_file() and path.stat().st_mtime >= started_wall:
        try:
            document = json.loads(path.read_text())
        except ValueError:
            document = None
    traceback = any(line.startswith("Traceback") for line in err)
    if code == 0:
        status = "ran"
    elif code < 0:
        status = f"crashed (signal {-code})"
    elif traceback or document is None and not out:
        status = f"crashed (exit {code})"
    else:
        status = f"ran, exit {code}"
    return {
        "name": name,
        "args": list(args),
        "status": status,
        "crashed": status.startswith("crashed"),
        "seconds": round(seconds, 1),
        "document": document,
        "json": str(path.relative_to(REPO)) if document is not None else None,
        "stderr_tail": "".join(err[-5:]).strip(),
    }


def _figure(value: Any, width: int = 48) -> str:
    if value is None:
        return "-"
    text = json.dumps(value, separators=(",", ":")) if isinstance(value, (dict, list)) else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def summary(outcomes: Sequence[dict[str, Any]]) -> str:
    from bench.common import table

    rows = []
    for o in outcomes:
        doc = o["document"] or {}
        met = {True: "met", False: "NOT met"}.get(doc.get("met"), "-")
        rows.append(
            (
                o["name"],
                o["status"],
                met,
                _figure(doc.get("ratio")),
                f"{o['seconds']:.0f} s",
                o["json"] or "(no document written)",
            )
        )
    return table(("bench", "ended", "target", "ratio / figure", "took", "result document"), rows)


def main(argv: Sequence[str] | None = None) -> int:
    names = discover()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="pass --quick (or lighter arguments) to every script")
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"only these scripts (of: {', '.join(names)})")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in names]
    if unknown:
        parser.error(f"no bench script named {', '.join(unknown)} (there are: {', '.join(names)})")
    chosen = [n for n in names if not args.names or n in args.names]

    # A SIGTERM to this runner is passed on to the script running (which stops its servers), then ends the run.
    current: dict[str, Any] = {}

    def on_term(signum: int, frame: Any) -> None:
        _TERMINATED.set()
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    outcomes = []
    interrupted = False
    scratch = Path(tempfile.mkdtemp(prefix="mcv-bench-"))
    try:
        for name in chosen:
            current["name"] = name
            outcomes.append(run_script(name, arguments(name, args.quick, scratch)))
    except KeyboardInterrupt:
        interrupted = True
        print(f"\ninterrupted during {current.get('name')}", file=sys.stderr)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print("\n" + summary(outcomes))
    for o in outcomes:
        if o["status"] != "ran" and o["stderr_tail"]:
            print(f"\n{o['name']} ({o['status']}), last lines of its stderr:\n{o['stderr_tail']}")
    crashed = [o["name"] for o in outcomes if o["crashed"]]
    if crashed:
        print(f"\ncrashed: {', '.join(crashed)}")
    return 1 if crashed or interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
