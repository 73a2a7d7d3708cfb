"""python -m mcv_core: compare, bench, history, judge, vote, scorecard and the local cloud from a shell.

`--json` prints one JSON document on stdout. Exit codes: 0 the command did its job (for compare: every
target answered; for bench: every result ok, not cancelled), 2 bad input or usage (one line on stderr, nothing
stored), 1 anything else. Results that could not be written to the table are kept in the local outbox (a line on
stderr says so; the exit code does not change); compare, bench and history write waiting ones first.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import sys
import threading
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, ContextManager, Iterable, Iterator, Sequence

from . import formatting as fmt
from . import targets
from .config import Settings
from .errors import MCVError, UsageError
from .history import parse_since
from .records import Run

if TYPE_CHECKING:
    from .bench import BenchOutcome, BenchPlan, Estimate, Progress
    from .workbench import Workbench

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line and exit 2, as for any bad input
        raise UsageError(f"{self.prog}: {message}", hint=f"see {self.prog} --help")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m mcv_core", description="MC Vision: compare vision models across clouds.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    compare = sub.add_parser("compare", help="run targets side by side on images")
    compare.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    _targets_option(compare)
    compare.add_argument("--prompt", help="question for the language models (default: MCV_PROMPT)")
    compare.add_argument("--no-stream", action="store_true", help="call without streaming (no TTFT)")
    compare.add_argument("--json", action="store_true", help="print JSON")

    bench = sub.add_parser("bench", help="run targets over a set of images, repeatedly: latency, cost, accuracy")
    bench.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="image files or directories (see labels.json)")
    bench.add_argument("--samples", action="store_true", help="add the labelled sample set that ships with MC Vision")
    _targets_option(bench)
    bench.add_argument("--repeat", type=int, default=1, help="runs of each image (default 1)")
    bench.add_argument("--concurrency", type=int, default=2, help="comparisons at once, 1 to 16 (default 2)")
    bench.add_argument("--prompt", help="question for the language models (default: MCV_PROMPT)")
    bench.add_argument("--no-stream", action="store_true", help="call without streaming (no TTFT)")
    bench.add_argument("--json", action="store_true", help="print JSON")
    bench.add_argument("--yes", action="store_true", help="run without asking, in cloud mode on a terminal")
    bench.add_argument(
        "--mode", choices=("online", "batch"), default="online",
        help="online: calls from here (default); batch: the services' own batch jobs, at their batch price",
    )  # fmt: skip
    bench.add_argument("--resume", metavar="BENCH_ID", help="follow a batch benchmark's jobs again and store what they finished")
    bench.add_argument("--cancel", metavar="BENCH_ID", help="stop a batch benchmark's jobs; what they finished is stored")

    sweep = sub.add_parser("sweep", help="each target alone at rising concurrency: latency, TTFT and throughput per level")
    sweep.add_argument("images", nargs="+", type=Path, metavar="IMAGE", help="image files or directories, sent round-robin")
    _targets_option(sweep)
    sweep.add_argument("--concurrency", default="1,2,4,8", metavar="C,...", help="increasing levels: requests in flight at once (default 1,2,4,8)")
    sweep.add_argument("--requests", type=int, metavar="N", help="requests per level")
    sweep.add_argument("--duration", type=float, metavar="S", help="seconds per level (instead of --requests)")
    sweep.add_argument(
        "--max-error-share", type=float, default=0.2, metavar="X",
        help="stop raising a target's level once this share of a level's requests fail (default 0.2)",
    )  # fmt: skip
    sweep.add_argument("--prompt", help="question for the language models (default: MCV_PROMPT)")
    sweep.add_argument("--no-stream", action="store_true", help="call without streaming (no TTFT)")
    sweep.add_argument("--chart", type=Path, metavar="FILE", help="also write the chart as a self-contained HTML file")
    sweep.add_argument("--json", action="store_true", help="print JSON")
    sweep.add_argument("--yes", action="store_true", help="run without asking in cloud mode")

    history = sub.add_parser("history", help="results stored in DynamoDB")
    history.add_argument("--since", default="24h", help="a duration (30m, 24h, 7d, 2w) or an ISO date (default 24h)")
    history.add_argument("--provider", "--target", dest="provider", action="append", help="only this target id (repeatable)")
    history.add_argument("--json", action="store_true", help="print JSON")
    history.add_argument(
        "--modes",
        action="store_true",
        help="each target online against batch on the same images: cost per 1,000 images, time to all results, "
        "agreement (with --json: a \"modes\" list beside the results)",
    )

    local = sub.add_parser("local", help="the embedded local cloud")
    local.add_argument("action", choices=["up", "down", "status", "env", "provision"])
    local.add_argument(
        "--if-local", action="store_true", help="up: do nothing when MCV_MODE is cloud (what `make run` uses)"
    )

    health = sub.add_parser("health", help="the deployed resources' health: ok, warn or fail per check")
    health.add_argument("--json", action="store_true", help="print JSON")
    health.add_argument("--timeout", type=float, default=10.0, help="seconds each check may take (default 10)")
    local.add_argument("--json", action="store_true", help="status as JSON")

    alarms = sub.add_parser("alarms", help="every alarm of the stack: state, metric, threshold, when it last changed")
    alarms.add_argument("--json", action="store_true", help="print JSON")

    judge = sub.add_parser("judge", help="score stored answers 1 to 5 with a language model of the catalogue, against a rubric")
    chosen = judge.add_mutually_exclusive_group(required=True)
    chosen.add_argument("--bench", metavar="ID", help="the results of this benchmark")
    chosen.add_argument("--run", metavar="ID", help="the results of this comparison")
    chosen.add_argument("--since", help="the results since a duration (30m, 24h, 7d) or an ISO date")
    judge.add_argument("--judge", required=True, metavar="TARGET", help="the judging target's id (see `targets`)")
    judge.add_argument("--rubric", type=Path, metavar="FILE", help="the rubric as a text file (default: faithful, complete, nothing invented)")
    judge.add_argument("--json", action="store_true", help="print JSON")

    vote = sub.add_parser("vote", help="record which of two targets answered an image better (a blind vote)")
    vote.add_argument("run_id", metavar="RUN_ID", help="the comparison both answers come from")
    vote.add_argument("--a", required=True, metavar="TARGET", help="one target of the run")
    vote.add_argument("--b", required=True, metavar="TARGET", help="the other target")
    vote.add_argument("--winner", required=True, choices=["a", "b", "tie", "neither"], help="the better answer, a tie, or neither good")
    vote.add_argument("--voter", default="anonymous", help="who votes (a second vote on the same pair replaces the first)")

    scorecard = sub.add_parser("scorecard", help="quality, latency and cost per target: accuracy, judge scores, ratings, tests, Pareto front")
    selection = scorecard.add_mutually_exclusive_group()
    selection.add_argument("--since", default=None, help="results since a duration or an ISO date (default 30d)")
    selection.add_argument("--bench", metavar="ID", help="the results of this benchmark")
    scorecard.add_argument("--json", action="store_true", help="print JSON")

    listing = sub.add_parser("targets", help="the catalogue: every target with its service, model, image rule and prices")
    listing.add_argument("--json", action="store_true", help="print JSON")
    return parser


def _targets_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--targets",
        "--providers",
        dest="targets",
        metavar="ID,...",
        help="comma separated target ids from the catalogue (default: MCV_TARGETS, else every target; see `targets`)",
    )


def chosen_targets(text: str | None, settings: Settings) -> tuple[targets.Catalogue, list[str]]:
    """The catalogue and the target ids a command runs: --targets, else the enabled ones. Bad ids: exit 2."""
    catalogue = targets.load(settings)
    return catalogue, catalogue.parse(text, catalogue.enabled(settings))


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        args = build_parser().parse_args(argv)
        settings = Settings.load()
        logging.getLogger().setLevel(settings.log_level)
        handler = {
            "compare": cmd_compare,
            "bench": cmd_bench,
            "sweep": cmd_sweep,
            "history": cmd_history,
            "local": cmd_local,
            "health": cmd_health,
            "alarms": cmd_alarms,
            "targets": cmd_targets,
            "judge": cmd_judge,
            "vote": cmd_vote,
            "scorecard": cmd_scorecard,
        }[args.command]
        return handler(args, settings)
    except UsageError as exc:
        print(f"error: {exc.user_text()}", file=sys.stderr)
        return EXIT_USAGE
    except MCVError as exc:
        print(f"error: {exc.user_text()}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED


# --- compare ---------------------------------------------------------------------------------------------------


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory") from None
    except PermissionError:
        raise UsageError(f"{path}: permission denied") from None


def cmd_compare(args: argparse.Namespace, settings: Settings) -> int:
    from .workbench import Workbench

    catalogue, names = chosen_targets(args.targets, settings)
    if args.prompt is not None and not args.prompt.strip():
        raise UsageError("--prompt is empty", hint="give a question or leave --prompt out")
    if args.no_stream:
        settings = settings.with_(stream=False)
    # Every image is checked before anything is stored or called: one bad file stops the command cleanly.
    from .images import load_image

    specs = [catalogue.get(name).image_spec for name in names]
    loaded = [
        load_image(_read(path), path.name, max_bytes=settings.max_image_bytes, max_pixels=settings.max_pixels, specs=specs)
        for path in args.images
    ]
    workbench = Workbench.open(settings, quiet=args.json)
    flush_outbox(workbench)
    runs = [workbench.compare(image, names, args.prompt, source="cli") for image in loaded]
    for run in runs:
        if run.deferred:
            print(outbox_note([run]), file=sys.stderr)
    if args.json:
        documents = [run_json(run) for run in runs]
        print(json.dumps(documents[0] if len(documents) == 1 else documents, indent=2))
    else:
        for run in runs:
            print(format_run(run))
    return EXIT_OK if all(r.ok for run in runs for r in run.results) else EXIT_FAILED


def run_json(run: Run) -> dict[str, Any]:
    image = run.image
    return {
        "run_id": run.run_id,
        "created_at": run.created_at.isoformat(),
        "wall_ms": run.wall_ms,
        "prompt": run.prompt,
        "image": {
            "name": image.name,
            "key": run.image_key,
            "sha256": image.sha256,
            "format": image.format,
            "width": image.width,
            "height": image.height,
            "bytes": image.size_bytes,
        },
        "results": [r.to_json() for r in run.results],
    }


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[int] = (), indent: str = "  ") -> list[str]:
    """Aligned text columns: numbers (columns in `right`) right-aligned under right-aligned headers."""
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(str(h)) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        parts = [str(c).rjust(w) if i in right else str(c).ljust(w) for i, (c, w) in enumerate(zip(cells, widths))]
        return (indent + "  ".join(parts)).rstrip()

    return [line(headers), *(line(r) for r in rows)]


def _answer_width(used: int) -> int:
    """Room left on the terminal line for an answer, at least 40 characters."""
    return max(40, shutil.get_terminal_size((120, 24)).columns - used)


def format_run(run: Run) -> str:
    image = run.image
    head = (
        f"{image.name}  {image.width}×{image.height} {image.format}  run {run.run_id}  "
        f"{fmt.duration_ms(run.wall_ms)} side by side"
    )
    rows = []
    for r in run.results:
        cold = {True: "cold", False: "warm", None: fmt.DASH}[r.cold_start]
        rows.append(
            [
                r.provider,
                r.status,
                fmt.duration_ms(r.latency_ms),
                fmt.duration_ms(r.ttft_ms),
                fmt.tokens_per_s(r.output_tokens_per_s),
                cold,
                fmt.count(r.input_tokens),
                fmt.count(r.output_tokens),
                fmt.money(r.cost_usd) if r.ok else fmt.DASH,
            ]
        )
    headers = ["target", "status", "latency", "TTFT", "output rate", "start", "tokens in", "out", "cost"]
    lines = table(headers, rows, right=(2, 3, 4, 6, 7, 8))
    used = len(lines[0]) + 2
    width = _answer_width(used)
    out = [head, lines[0] + "  answer"]
    for line, r in zip(lines[1:], run.results):
        text = r.output if r.ok else r.error
        out.append(f"{line.ljust(len(lines[0]))}  {fmt.shorten(text, width)}")
    if any(r.ttft_ms is not None for r in run.results):
        out.append("  TTFT: request sent to first text; output rate: output tokens after the first, per second after it")
    return "\n".join(out)


def ctrl_c_cancels(line: Any, running: str) -> ContextManager[threading.Event]:
    """While a long command runs: the first Ctrl-C sets the event it yields (running `running` finish, no new ones
    start) and says so on `line`; a second one interrupts. The previous handler is restored and `line` closed."""
    return ctrl_c_sets(line, f"cancelling: running {running} finish, no new ones start (Ctrl-C again: no summary)")


@contextmanager
def ctrl_c_sets(line: Any, note: str) -> Iterator[threading.Event]:
    """The first Ctrl-C sets the event it yields and writes `note` on `line`; a second one interrupts."""
    event = threading.Event()

    def on_interrupt(signum: int, frame: object) -> None:
        if event.is_set():
            raise KeyboardInterrupt
        event.set()
        line.note(note)

    in_main = threading.current_thread() is threading.main_thread()  # signals can only be handled there
    previous = signal.signal(signal.SIGINT, on_interrupt) if in_main else None
    try:
        yield event
    finally:
        if in_main:
            signal.signal(signal.SIGINT, previous)
        line.close()


# --- the outbox (results kept locally while the table could not be written) ----------------------------------


def flush_outbox(workbench: Workbench) -> None:
    """Write the runs an earlier command kept in the outbox; a line on stderr only when something happened (a
    damaged file moved aside is logged as a warning by the flusher)."""
    result = workbench.flush_outbox()
    if result.runs:
        print(f"outbox: {_count(result.runs, 'earlier run')} written to the results table", file=sys.stderr)
    if result.failed:
        print(
            f"note: {_count(result.remaining, 'run')} still in the outbox ({result.error}); "
            "they are written when the table is reachable",
            file=sys.stderr,
        )


def outbox_note(runs: Sequence[Run]) -> str:
    """One line for runs whose results went to the outbox (History.save deferred them)."""
    last = runs[-1].saved
    path = last.outbox_path if last is not None else None
    what = f"run {runs[0].run_id}" if len(runs) == 1 else f"{len(runs)} runs"
    where = path if len(runs) == 1 or path is None else path.parent
    why = f": {last.error}" if last is not None and last.error else ""
    return f"results of {what} kept in the outbox ({where}{why}); they are written when the table is reachable"


# --- bench -----------------------------------------------------------------------------------------------------

# The estimate's typical output tokens and SageMaker duration come from this much history.
BENCH_HISTORY_DAYS = 7


def cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    from . import bench as benchmark
    from .workbench import Workbench

    if args.resume or args.cancel:
        return _follow_batch(args, settings)
    catalogue, names = chosen_targets(args.targets, settings)
    if args.prompt is not None and not args.prompt.strip():
        raise UsageError("--prompt is empty", hint="give a question or leave --prompt out")
    if not args.paths and not args.samples:
        raise UsageError("bench needs images", hint="name image files or directories, or add --samples (the shipped set)")
    if args.no_stream:
        settings = settings.with_(stream=False)
    # Every image is checked before anything is stored or called: one bad file stops the command cleanly.
    found: list[benchmark.BenchImage] = []
    if args.samples:
        from .samples import sample_images

        found.extend(sample_images())
    if args.paths:
        found.extend(benchmark.collect_images(args.paths, settings=settings))
    plan = benchmark.BenchPlan(tuple(found), tuple(names), args.repeat, args.concurrency, args.prompt)

    workbench = Workbench.open(settings, quiet=args.json)
    flush_outbox(workbench)
    batch_mode = args.mode == "batch"
    if batch_mode:
        from . import batch

        batch.check(workbench, plan)  # refused before anything is written: exit 2 with the reason
    estimates = benchmark.estimate(plan, settings, history=_estimate_history(workbench, names), catalogue=catalogue)
    bench_id = benchmark.new_bench_id()
    print(format_estimate(bench_id, plan, estimates, settings, batch=batch_mode), file=sys.stderr)
    if not settings.is_local and not args.yes and sys.stdin.isatty() and sys.stderr.isatty():
        # Real money: ask first. The question goes to stderr so that stdout stays the JSON document.
        print("run it? [y/N] ", end="", file=sys.stderr, flush=True)
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            print("not run", file=sys.stderr)
            return EXIT_FAILED

    if batch_mode:
        return _run_batch(args, workbench, plan, bench_id)
    line = _ProgressLine(sys.stderr, live=sys.stderr.isatty(), quiet=args.json)
    with ctrl_c_cancels(line, "comparisons") as cancel:
        outcome = benchmark.run_bench(workbench, plan, bench_id=bench_id, on_progress=line, cancel=cancel)
    deferred = [run for run in outcome.runs if run.deferred]
    if deferred:
        print(outbox_note(deferred), file=sys.stderr)
    if outcome.cancelled:
        print(
            f"cancelled after {len(outcome.runs) + len(outcome.failures)} of {outcome.planned} comparisons; "
            "the results so far are stored",
            file=sys.stderr,
        )
    if args.json:
        print(json.dumps(benchmark.bench_json(outcome), indent=2))
    else:
        print(format_bench(outcome))
    return EXIT_OK if outcome.all_ok else EXIT_FAILED


def _run_batch(args: argparse.Namespace, workbench: Workbench, plan: BenchPlan, bench_id: str) -> int:
    from . import batch

    def note(text: str) -> None:
        if not args.json:
            print(text, file=sys.stderr)

    bench = batch.submit(workbench, plan, bench_id=bench_id, on_note=note)
    return _follow(args, workbench, bench)


def _follow_batch(args: argparse.Namespace, settings: Settings) -> int:
    """bench --resume / --cancel: a recorded batch benchmark, followed to its end from this process."""
    from . import batch
    from .workbench import Workbench

    if args.resume and args.cancel:
        raise UsageError("--resume and --cancel together", hint="give one of them")
    if args.paths or args.samples or args.mode == "batch":
        raise UsageError("--resume and --cancel take a benchmark id and no images", hint="the images are the benchmark's own")
    bench_id = str(args.resume or args.cancel).strip()
    workbench = Workbench.open(settings, quiet=args.json)
    bench = batch.load(workbench, bench_id)
    if args.cancel:
        batch.cancel(workbench, bench)
        print(f"bench {bench_id}: cancel asked of {_count(len(bench.jobs), 'job')}; collecting what they finished", file=sys.stderr)
    return _follow(args, workbench, bench)


def _follow(args: argparse.Namespace, workbench: Workbench, bench: Any) -> int:
    """Follow a batch benchmark's jobs until all are collected (Ctrl-C: stop following; the jobs go on)."""
    import time

    from . import batch

    started = time.monotonic()
    line = _BatchLine(sys.stderr, live=sys.stderr.isatty(), quiet=args.json)
    note = f"stopping: the jobs go on; `bench --resume {bench.bench_id}` follows them again, `bench --cancel {bench.bench_id}` stops them"
    with ctrl_c_sets(line, note) as stop:
        batch.follow(workbench, bench, on_progress=line, stop=stop)
    outcome = batch.outcome(workbench, bench, time.monotonic() - started)
    if not bench.over:
        print(f"bench {bench.bench_id}: its jobs go on; follow them again with `bench --resume {bench.bench_id}`", file=sys.stderr)
    if args.json:
        print(json.dumps(batch.bench_json(bench, outcome), indent=2))
    else:
        print(format_bench(outcome))
        print(format_batch_jobs(bench))
    return EXIT_OK if bench.over and outcome.all_ok else EXIT_FAILED


def _estimate_history(workbench: Workbench, names: Sequence[str]) -> list[dict[str, Any]] | None:
    from . import bench as benchmark
    from .errors import StorageError

    since = datetime.now(timezone.utc) - timedelta(days=BENCH_HISTORY_DAYS)
    try:
        return workbench.history.results(since, providers=names, fields=benchmark.ESTIMATE_FIELDS)
    except StorageError as exc:  # the estimate falls back to its assumptions, and says so in its basis
        print(f"note: no history for the estimate ({exc.user_text()})", file=sys.stderr)
        return None


class _ProgressLine:
    """Progress on stderr: one line rewritten in place on a terminal, else a line per comparison (none with --json)."""

    def __init__(self, stream: Any, *, live: bool, quiet: bool) -> None:
        self.stream, self.live, self.quiet = stream, live, quiet
        self._open = False

    def __call__(self, p: Progress) -> None:
        eta = fmt.DASH if p.eta_s is None else fmt.duration_ms(p.eta_s * 1000)
        failed = f", {p.failed} failed" if p.failed else ""
        text = (
            f"{p.done}/{p.total} comparisons, {p.ok} ok, {p.errors} errors{failed}, "
            f"{fmt.duration_ms(p.elapsed_s * 1000)}, ETA {eta}  {p.last_image or ''}"
        )
        self.write(text)

    def write(self, text: str, *, changed: bool = True) -> None:
        """On a terminal: rewrite the line in place; else a new line, when it says something new (`changed`)."""
        if self.live:
            self.stream.write("\r\x1b[K" + text)
            self._open = True
        elif not self.quiet and changed:
            self.stream.write(text + "\n")
        self.stream.flush()

    def note(self, text: str) -> None:
        self.close()
        self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False


class _BatchLine(_ProgressLine):
    """A batch benchmark's progress: records the services report finished, the jobs' statuses, the ETA (a line
    of its own only when the records or statuses change, off a terminal)."""

    last: tuple[int, str] | None = None

    def __call__(self, p: Any) -> None:  # batch.BatchProgress
        changed, self.last = (p.done, p.statuses) != self.last, (p.done, p.statuses)
        eta = fmt.DASH if p.eta_s is None else fmt.duration_ms(p.eta_s * 1000)
        failed = f", {fmt.count(p.failed)} failed" if p.failed else ""
        text = (
            f"{fmt.count(p.done)}/{fmt.count(p.total)} records{failed}; jobs: {p.statuses}; "
            f"{fmt.duration_ms(p.elapsed_s * 1000)}, ETA {eta}"
        )
        self.write(text, changed=changed)


def format_batch_jobs(bench: Any) -> str:
    """A batch benchmark's jobs: target, job id, status, records, and its time to all results."""
    from . import batch

    rows = [
        [job.target, job.job_id, job.status, fmt.count(job.count), fmt.count(job.completed), fmt.count(job.failed), job.message or ""]
        for job in bench.jobs
    ]
    lines = table(["target", "job", "status", "records", "succeeded", "failed", "message"], rows, right=(3, 4, 5))
    took = batch.time_to_all_results_s(bench)
    lines.append(f"  time to all results: {fmt.DASH if took is None else fmt.duration_ms(took * 1000)}; results at the batch price")
    return "\n".join(lines)


def format_estimate(bench_id: str, plan: BenchPlan, estimates: Sequence[Estimate], settings: Settings, *, batch: bool = False) -> str:
    """The estimate before a benchmark runs; `batch`: the batch cost beside the online one."""
    shape = " × ".join((fmt.count(len(plan.images), "image"), fmt.count(plan.repeat, "repeat"), fmt.count(len(plan.providers), "target")))
    how = "as batch jobs" if batch else f"{fmt.count(plan.concurrency, 'comparison')} at once"
    lines = [f"bench {bench_id}: {shape} = {fmt.count(plan.calls, 'call')}, {how}"]
    rows = []
    for e in estimates:
        row = [
            e.provider,
            fmt.count(e.calls),
            fmt.number(e.image_tokens_per_call, 0),
            fmt.count(e.input_tokens_total),
            fmt.count(e.output_tokens_max),
            fmt.money(e.cost_usd_max, unknown="unknown"),
            fmt.money(e.cost_usd_typical, unknown="unknown"),
        ]
        if batch:
            row += [fmt.money(e.batch_cost_usd_max, unknown="unknown"), fmt.money(e.batch_cost_usd_typical, unknown="unknown")]
        rows.append(row)

    def total(values: Iterable[float | None]) -> str:
        return fmt.money(sum(v for v in values if v is not None))

    last = ["total", fmt.count(plan.calls), "", "", "", total(e.cost_usd_max for e in estimates), total(e.cost_usd_typical for e in estimates)]
    if batch:
        last += [total(e.batch_cost_usd_max for e in estimates), total(e.batch_cost_usd_typical for e in estimates)]
    rows.append(last)
    headers = ["target", "calls", "image tokens/call", "input tokens", "output tokens max", "cost max", "cost typical"]
    if batch:
        headers = [*headers[:5], "online max", "online typical", "batch max", "batch typical"]
    lines.extend(table(headers, rows, right=tuple(range(1, len(headers)))))
    lines.extend(f"  {e.provider}: {e.basis}" for e in estimates)
    if settings.is_local:
        lines.append("  (local cloud: nothing is billed; these are what the real services would charge)")
    return "\n".join(lines)


def _count(n: int, noun: str) -> str:
    return fmt.count(n, noun)


def format_bench(outcome: BenchOutcome) -> str:
    from .bench import summary

    ended = len(outcome.runs) + len(outcome.failures)
    state = f", cancelled after {ended} of {outcome.planned}" if outcome.cancelled else ""
    lines = [f"bench {outcome.bench_id}: {fmt.count(len(outcome.runs), 'comparison')} in {fmt.duration_ms(outcome.wall_s * 1000)}{state}"]
    rows = []
    for row in summary(outcome):
        cold = row["cold_starts"] is not None
        p50, p95 = (row["p50_warm_ms"], row["p95_warm_ms"]) if cold else (row["p50_ms"], row["p95_ms"])
        accuracy = (
            f"{row['correct']}/{row['n_scored']} ({fmt.percent(row['accuracy'], digits=0)})" if row["accuracy"] is not None else fmt.DASH
        )
        rows.append(
            [
                row["provider"],
                fmt.count(row["n"]),
                fmt.count(row["ok"]),
                fmt.count(row["errors"]),
                fmt.duration_ms(p50),
                fmt.duration_ms(p95),
                f"{fmt.duration_ms(row['p50_cold_ms'])} ({row['cold_starts']})" if cold else fmt.DASH,
                fmt.money(row["mean_cost_usd"]),
                accuracy,
            ]
        )
    headers = ["target", "calls", "ok", "failed", "p50", "p95", "cold p50 (n)", "mean cost", "accuracy"]
    lines.extend(table(headers, rows, right=(1, 2, 3, 4, 5, 6, 7)))
    lines.append("  latency: client wall time of ok calls; warm calls in p50/p95 where a target reports cold starts")
    lines.extend(_correct_by_image(outcome))
    lines.extend(f"  failed: {failure}" for failure in outcome.failures)
    return "\n".join(lines)


def _correct_by_image(outcome: BenchOutcome) -> list[str]:
    """Per labelled image and target: correct answers out of scored ones, over the repeats."""
    table_: dict[str, dict[str, list[int]]] = {}
    order: list[str] = []
    for run in outcome.runs:
        image = outcome.slots[run.run_id].image if run.run_id in outcome.slots else run.image.name
        for r in run.results:
            if r.correct is None:
                continue
            if r.provider not in order:
                order.append(r.provider)
            counts = table_.setdefault(image, {}).setdefault(r.provider, [0, 0])
            counts[0] += bool(r.correct)
            counts[1] += 1
    if not table_:
        return []
    rows = [[image, *(f"{c[p][0]}/{c[p][1]}" if p in c else fmt.DASH for p in order)] for image, c in table_.items()]
    return ["  correct answers by image:", *table(["image", *order], rows, right=range(1, len(order) + 1), indent="    ")]


# --- history ---------------------------------------------------------------------------------------------------


def cmd_history(args: argparse.Namespace, settings: Settings) -> int:
    from .workbench import Workbench

    since = parse_since(args.since)
    chosen = _history_ids(args.provider) if args.provider else None
    workbench = Workbench.open(settings, quiet=True)
    flush_outbox(workbench)
    now = datetime.now(timezone.utc)
    items = workbench.history.results(since, now, chosen)
    compared = _modes(workbench, items, since, now) if args.modes else None
    if args.json:
        doc: dict[str, Any] = {"since": since.isoformat(), "count": len(items), "results": items}
        if compared is not None:
            doc["modes"] = [row.to_json() for row in compared]
        print(json.dumps(doc, indent=2, default=str))
        return EXIT_OK
    if compared is not None:
        print(format_modes(compared, since))
        return EXIT_OK
    print(f"{fmt.count(len(items), 'result')} since {since:%Y-%m-%d %H:%M} UTC")
    rows = [
        [
            str(item.get("created_at", ""))[:19].replace("T", " "),
            str(item.get("provider", "")),
            str(item.get("status", "")),
            fmt.duration_ms(item.get("latency_ms")),
            {True: "cold", False: "warm"}.get(item.get("cold_start"), fmt.DASH),
            fmt.money(item.get("cost_usd")) if item.get("status") == "ok" else fmt.DASH,
            fmt.shorten(item.get("image_name") or fmt.DASH, 28),
        ]
        for item in items
    ]
    lines = table(["time (UTC)", "target", "status", "latency", "start", "cost", "image"], rows, right=(3, 5), indent="")
    width = _answer_width(len(lines[0]) + 2)
    print(lines[0] + "  answer")
    for line, item in zip(lines[1:], items):
        text = item.get("output") if item.get("status") == "ok" else item.get("error")
        print(f"{line.ljust(len(lines[0]))}  {fmt.shorten(text, width)}")
    return EXIT_OK


def _modes(workbench: Any, items: list[dict[str, Any]], since: datetime, now: datetime) -> list[Any]:
    """Each target of the items online against batch (modes.compare), with the batch benchmarks' jobs of the range
    and the week before it (a batch job may run 7 days before its results arrive)."""
    from . import modes

    days = (now - since).days + 8
    return modes.compare(items, workbench.history.batches(days, now), order=workbench.catalogue.ids)


def format_modes(compared: Sequence[Any], since: datetime) -> str:
    """`history --modes` as text: one line per target with results in both modes, or what to run for the other."""
    from . import modes

    head = f"online against batch since {since:%Y-%m-%d %H:%M} UTC, on the same images"
    note = modes.one_mode_note(compared)
    if not compared:
        return f"{head}: no results"
    if note is not None:
        return f"{head}: {note}"
    shown = modes.table([row for row in compared if row.both])
    headers = ["target", "same images", "online per 1,000", "batch per 1,000", "online: all in", "batch: all in",
               "same top answer"]  # fmt: skip
    rows = [
        [r.provider, fmt.count(r.images), fmt.money(r.online_cost_per_1k_usd), fmt.money(r.batch_cost_per_1k_usd),
         r.online_time, r.batch_time, r.agreement]
        for r in shown.itertuples(index=False)
    ]  # fmt: skip
    return "\n".join([head, *table(headers, rows, right=(1, 2, 3), indent="")])


def _history_ids(given: Sequence[str]) -> list[str]:
    """Target ids for `history --provider`: any well-formed id, in the catalogue or not (old history keeps its ids)."""
    ids = [part.strip() for text in given for part in text.split(",") if part.strip()]
    bad = [i for i in ids if not targets.ID_PATTERN.fullmatch(i)]
    if bad or not ids:
        raise UsageError(f"--provider {', '.join(bad) or '(empty)'} is not a target id", hint="see `python -m mcv_core targets`")
    return list(dict.fromkeys(ids))


# --- targets -----------------------------------------------------------------------------------------------------


def cmd_targets(args: argparse.Namespace, settings: Settings) -> int:
    catalogue = targets.load(settings)
    enabled = set(catalogue.enabled(settings))
    rows = [{**t.describe(), "enabled": t.id in enabled} for t in catalogue.targets]
    if args.json:
        print(json.dumps({"source": catalogue.source_text, "targets": rows}, indent=2))
        return EXIT_OK
    print(f"{len(rows)} targets from {catalogue.source_text}")
    width = max(len(r["id"]) for r in rows)
    from . import pricing  # imported by the command that needs it, as the others are

    gb_second = pricing.sagemaker_price(settings.region).usd_per_gb_second
    for r in rows:
        price = fmt.target_price(r, gb_second)
        if r["billing"] != "compute" and r["input_usd_per_mtok"] is not None:
            price += f" ({r['price_source']})"
        state = "" if r["enabled"] else "  (not enabled: MCV_TARGETS)"
        print(f"  {r['id']:<{width}}  {r['title']}{state}")
        print(f"  {'':<{width}}  {r['service']}: {r['model']}; image: {r['image_rule']}; {price}")
    return EXIT_OK


# --- local ------------------------------------------------------------------------------------------------------


def cmd_local(args: argparse.Namespace, settings: Settings) -> int:
    from .local import control

    if args.action == "up":
        if args.if_local and not settings.is_local:
            print("MCV_MODE is cloud: the local cloud is not started", file=sys.stderr)
            return EXIT_OK
        conn = control.up(settings)
        print(f"local cloud running (pid {conn.pid}): AWS {conn.moto_url}, models {conn.emulator_url}", file=sys.stderr)
        print('use it from a shell with: eval "$(python -m mcv_core local env)"', file=sys.stderr)
        return EXIT_OK
    if args.action == "provision":
        control.reprovision(settings)
        print("local stack provisioned again: every resource exists with its settings", file=sys.stderr)
        return EXIT_OK
    if args.action == "down":
        stopped = control.down(settings)
        print("local cloud stopped" if stopped else "the local cloud was not running", file=sys.stderr)
        return EXIT_OK
    if args.action == "status":
        state = control.status(settings)
        if args.json:
            print(json.dumps(state, indent=2))
        else:
            print(_format_status(state))
        return EXIT_OK if state.get("running") else EXIT_FAILED
    conn = control.running(settings)
    if conn is None:
        from .errors import LocalCloudError

        raise LocalCloudError("the local cloud is not running", hint="start it with `python -m mcv_core local up`")
    print("\n".join(control.env_lines(settings, conn)))
    return EXIT_OK


def _format_status(state: dict[str, Any]) -> str:
    if not state.get("running"):
        return f"local cloud: not running (data in {state.get('data_dir')})"
    components = state.get("components", {})
    emulator = components.get("emulator", {})
    moto = components.get("moto", {})
    lines = [
        f"local cloud: running, pid {state.get('pid')}, since {state.get('started_at')}, data in {state.get('data_dir')}",
        f"  AWS (moto):   {moto.get('url')}  {'up' if moto.get('running') else 'DOWN'}",
    ]
    requests = emulator.get("requests") or {}
    if emulator.get("url"):
        per_service = ", ".join(f"{service} {fmt.count(n)}" for service, n in requests.items())
        lines.append(f"  AI emulator:  {emulator['url']}  up, {fmt.count(sum(requests.values()), 'request')} ({per_service})")
    else:
        lines.append("  AI emulator:  DOWN")
    bedrock = emulator.get("bedrock") or {}
    if bedrock:
        lines.append(f"    Bedrock Converse: {bedrock.get('models', 0)} vision models served")
    deployments = (emulator.get("azure_openai") or {}).get("deployments") or {}
    if deployments:
        lines.append("    Azure OpenAI deployments: " + ", ".join(f"{name} ({model})" for name, model in deployments.items()))
    served = (emulator.get("openai") or {}).get("models") or []
    if emulator.get("openai_base_url"):
        lines.append(f"    OpenAI-compatible: {emulator['openai_base_url']} ({len(served)} models)")
    loaded = ((emulator.get("standins") or {}).get("local_models")) or {}
    if loaded:
        lines.append("    local models loaded: " + (", ".join(name for name, up in loaded.items() if up) or "none yet"))
    for name, endpoint in (emulator.get("sagemaker") or {}).items():
        lines.append(
            f"    SageMaker endpoint {name}: worker {endpoint['worker']}, {fmt.count(endpoint['invocations'], 'invocation')}, "
            f"{fmt.count(endpoint['cold_starts'], 'cold start')}, scales to zero after {fmt.duration_ms(endpoint['idle_s'] * 1000)} idle"
        )
    faults = emulator.get("faults") or {}
    if faults:
        lines.append("    faults injected: " + ", ".join(f"{service} {len(plan)}" for service, plan in faults.items()))
    runner = components.get("lambda") or {}
    if runner.get("running"):
        counts = runner.get("counts") or {}
        environment = (runner.get("environment") or {}).get("state", "none")
        events = ", ".join(f"{fmt.count(v)} {k}" for k, v in counts.items()) or "no events yet"
        lines.append(f"  S3 event Lambda: {runner.get('function')} polling {runner.get('queue')}, environment {environment}; {events}")
    else:
        lines.append("  S3 event Lambda: DOWN")
    return "\n".join(lines)


# --- health -----------------------------------------------------------------------------------------------------


def cmd_health(args: argparse.Namespace, settings: Settings) -> int:
    from . import infra
    from .workbench import Workbench

    if args.timeout <= 0:
        raise UsageError("--timeout must be positive")
    workbench = Workbench.open(settings, quiet=True)
    results = infra.run_checks(workbench, timeout=args.timeout)
    failed = any(r.status == "fail" for r in results)
    if args.json:
        print(json.dumps({"mode": settings.mode, "ok": not failed, "checks": [r.to_json() for r in results]}, indent=2, default=str))
    else:
        marks = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}
        for r in results:
            print(f"{marks[r.status]}  {r.title:<28} {r.detail}  ({fmt.duration_ms(r.duration_ms)})")
            if r.fix and r.status != "ok":
                print(f"      fix: {r.fix}")
    return EXIT_FAILED if failed else EXIT_OK



# --- alarms -----------------------------------------------------------------------------------------------------


def cmd_alarms(args: argparse.Namespace, settings: Settings) -> int:
    """Every alarm of the stack with its state, from the CloudWatch the clients reach (the local cloud's in
    local mode, which evaluates them; AWS in cloud mode)."""
    import botocore.exceptions as bce

    from . import alarms as alarm_status
    from .workbench import Workbench

    workbench = Workbench.open(settings, quiet=True)
    try:
        found = alarm_status.status(workbench)
    except (bce.ClientError, bce.BotoCoreError) as exc:
        raise MCVError(
            f"CloudWatch did not list the alarms: {type(exc).__name__}",
            hint="check `python -m mcv_core health`" + (" and `local status`" if settings.is_local else " and the AWS credentials"),
        ) from exc
    if args.json:
        print(json.dumps({"mode": settings.mode, "alarms": [a.to_json() for a in found]}, indent=2))
        return EXIT_OK
    if not found:
        print(f"no alarms named {alarm_status.PREFIX}-* in {'the local cloud' if settings.is_local else 'CloudWatch'}")
        return EXIT_OK
    width = max(len(a.name) for a in found)
    states = {"OK": "ok", "ALARM": "ALARM", "INSUFFICIENT_DATA": "no data"}
    print(f"{fmt.count(len(found), 'alarm')}, {sum(a.state == 'ALARM' for a in found)} in ALARM")
    for a in found:
        print(f"  {states.get(a.state, a.state):<8} {a.name:<{width}}  {a.threshold}  since {a.updated}")
        print(f"  {'':<8} {'':<{width}}  {a.metric}")
        if a.reason:
            print(f"  {'':<8} {'':<{width}}  {fmt.shorten(a.reason, 160)}")
        for change in a.changes[:3]:
            print(f"  {'':<8} {'':<{width}}    {change.timestamp}  {change.old_state} -> {change.new_state}")
    return EXIT_OK


# --- quality: judge, vote, scorecard ----------------------------------------------------------------------------


def cmd_judge(args: argparse.Namespace, settings: Settings) -> int:
    from . import judge as judging
    from .workbench import Workbench

    judging.judge_target(targets.load(settings), args.judge)  # a bad judge is refused before anything starts
    rubric = judging.Rubric.from_file(args.rubric) if args.rubric else judging.DEFAULT_RUBRIC
    since = parse_since(args.since) if args.since else None
    workbench = Workbench.open(settings, quiet=args.json)
    flush_outbox(workbench)
    results = workbench.history.select(bench_id=args.bench, run_id=args.run, since=since)
    if not results and not since:
        what = f"benchmark {args.bench}" if args.bench else f"run {args.run}"
        raise UsageError(f"{what} has no stored results", hint="check the id with `python -m mcv_core history`")
    progress = None if args.json or not sys.stderr.isatty() else _judge_progress
    outcome = judging.judge_results(workbench, args.judge, results, rubric, on_progress=progress)
    if progress is not None:
        print(file=sys.stderr)
    if args.json:
        print(json.dumps(outcome.to_json(), indent=2))
    else:
        print(format_judging(outcome, workbench.catalogue))
    return EXIT_FAILED if outcome.failed else EXIT_OK


def _judge_progress(done: int, total: int) -> None:
    print(f"\rjudged {done} of {total}", end="", file=sys.stderr, flush=True)


def format_judging(outcome: Any, catalogue: targets.Catalogue) -> str:
    already = sum(1 for s in outcome.skipped if s.why == "already judged")
    errors = len(outcome.skipped) - already
    head = (
        f"judge {outcome.judge} ({catalogue.title(outcome.judge)}), rubric {outcome.rubric_id}: "
        f"{fmt.count(outcome.scored, 'answer')} scored, {fmt.count(len(outcome.failed), 'judge call')} failed, "
        f"{fmt.count(already, 'answer')} already judged, {fmt.count(errors, 'error result')} left alone; "
        f"the judge's cost {fmt.money(outcome.cost_usd)}"
    )
    rows = [[j.run_id, j.target, str(j.score) if j.ok else "failed"] for j in outcome.results]
    lines = [head]
    if rows:
        body = table(["run", "target", "score"], rows, right=(2,))
        width = _answer_width(len(body[0]) + 2)
        lines.append(body[0] + "  reason")
        lines.extend(f"{line.ljust(len(body[0]))}  {fmt.shorten(j.reason, width)}" for line, j in zip(body[1:], outcome.results))
    return "\n".join(lines)


def cmd_vote(args: argparse.Namespace, settings: Settings) -> int:
    from . import votes
    from .workbench import Workbench

    workbench = Workbench.open(settings, quiet=True)
    vote = votes.cast(workbench, args.run_id, args.a, args.b, args.winner, args.voter)
    said = {"a": f"{vote.a} better", "b": f"{vote.b} better", "tie": "a tie", "neither": "neither good"}[vote.winner]
    print(f"vote stored: run {vote.run_id}, {vote.a} against {vote.b}: {said} (voter {vote.voter})")
    return EXIT_OK


def cmd_scorecard(args: argparse.Namespace, settings: Settings) -> int:
    from . import scorecard
    from .history import bench_started
    from .workbench import Workbench

    since = bench_started(args.bench) if args.bench else parse_since(args.since or "30d")
    workbench = Workbench.open(settings, quiet=True)
    flush_outbox(workbench)
    history = workbench.history
    results = history.select(bench_id=args.bench, since=None if args.bench else since)
    if args.bench and not results:
        raise UsageError(f"benchmark {args.bench} has no stored results", hint="check the id with `python -m mcv_core history`")
    card = scorecard.build(results, history.judgments(since), history.votes(since), order=workbench.catalogue.ids)
    if args.json:
        print(json.dumps(card.to_json(), indent=2))
    else:
        what = f"benchmark {args.bench}" if args.bench else f"since {since:%Y-%m-%d %H:%M} UTC"
        print(format_scorecard(card, what))
    return EXIT_OK


def format_scorecard(card: Any, what: str) -> str:
    """The scorecard as text: targets, then the paired tests and the agreement."""
    if not card.targets:
        return f"scorecard {what}: no results"
    quality_name = "accuracy" if card.quality_metric == "accuracy" else "judge score"
    judge = f"; judge {card.judge}, rubric {card.rubric_id}" if card.judge else ""
    lines = [f"scorecard {what}: quality is {quality_name}{judge}; * on the Pareto front of quality, p95 latency and cost"]

    rows = [
        [
            ("* " if t.pareto else "  ") + t.target,
            fmt.count(t.n),
            fmt.interval(t.accuracy, t.accuracy_ci, lambda v: fmt.percent(v, digits=0)) + (f" n={t.n_scored}" if t.accuracy is not None else ""),
            fmt.interval(t.judge_score, t.judge_ci, lambda v: fmt.number(v, 2)) + (f" n={t.n_judged}" if t.judge_score is not None else ""),
            fmt.interval(t.rating, t.rating_ci, lambda v: fmt.number(v, 0)) + (f" {fmt.count(t.votes, 'vote')}" if t.rating is not None else ""),
            fmt.duration_ms(t.p50_ms),
            fmt.duration_ms(t.p95_ms),
            fmt.money(t.cost_per_1k_usd),
        ]
        for t in card.targets
    ]
    headers = ["target", "results", "accuracy (95% CI)", "judge score 1-5", "rating", "p50", "p95", "cost per 1,000"]
    lines.extend(table(headers, rows, right=(1, 5, 6, 7), indent=""))
    if card.pairs:
        lines.append("paired tests on the same images (effect: a − b)")
        pair_rows = [
            [p.a, p.b, p.test, fmt.count(p.n), fmt.effect(p.metric, p.effect), fmt.p_value(p.p_value, unknown=p.note)]
            for p in card.pairs
        ]
        lines.extend(table(["a", "b", "test", "pairs", "effect", "p-value"], pair_rows, right=(3, 4)))
    if card.agreement:
        lines.append("agreement")
        rows = [
            [
                g.a,
                g.b,
                fmt.dash(g.note) if g.kappa is None else fmt.number(g.kappa, 2),
                fmt.count(g.n),
                fmt.percent(g.top_agreement, digits=0),
                fmt.count(g.top_n),
            ]
            for g in card.agreement
        ]
        lines.extend(table(["a", "b", "kappa (correct)", "n", "top answers agree", "n"], rows, right=(3, 4, 5)))
    return "\n".join(lines)



# --- sweep -------------------------------------------------------------------------------------------------------


def cmd_sweep(args: argparse.Namespace, settings: Settings) -> int:
    """Each target alone at rising concurrency (mcv_core.sweep). Exit 0 when the sweep ran to its end (a target
    stopped by its error share included: that is the rule at work) and every target answered at least once; 1
    when it was cancelled, a request raised or a target never answered; 2 for bad input (nothing stored)."""
    from . import bench as benchmark
    from . import sweep
    from .workbench import Workbench

    catalogue, names = chosen_targets(args.targets, settings)
    if args.prompt is not None and not args.prompt.strip():
        raise UsageError("--prompt is empty", hint="give a question or leave --prompt out")
    try:
        levels = sweep.parse_levels(args.concurrency)
    except UsageError as exc:
        raise UsageError(f"--concurrency {args.concurrency!r}: {exc.message}", hint=exc.hint) from None
    if (args.requests is None) == (args.duration is None):
        given = "both" if args.requests is not None else "neither"
        raise UsageError(f"sweep runs each level for --requests N or for --duration S: {given} given", hint="give exactly one of them")
    if args.chart is not None and not args.chart.parent.is_dir():
        raise UsageError(f"--chart {args.chart}: no such directory {args.chart.parent}")
    if args.no_stream:
        settings = settings.with_(stream=False)
    # Every image is checked before anything is stored or called: one bad file stops the command cleanly.
    found = benchmark.collect_images(args.images, settings=settings)
    plan = sweep.SweepPlan(tuple(found), tuple(names), levels, args.requests, args.duration, args.max_error_share, args.prompt)

    workbench = Workbench.open(settings, quiet=args.json)
    flush_outbox(workbench)
    slots = sweep.slots_of(workbench, names)
    estimates = sweep.estimate(plan, settings, slots, history=_estimate_history(workbench, names), catalogue=catalogue)
    sweep_id = sweep.new_sweep_id()
    print(format_sweep_estimate(sweep_id, plan, estimates, catalogue, settings), file=sys.stderr)
    if not settings.is_local and not args.yes:
        # Real money: ask first, on the terminal (stdout stays the JSON document); without one, do not spend it.
        if not (sys.stdin.isatty() and sys.stderr.isatty()):
            raise UsageError("cloud mode: a sweep is billed and there is no terminal to ask on", hint="read the estimate above, then add --yes")
        print("run it? [y/N] ", end="", file=sys.stderr, flush=True)
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            print("not run", file=sys.stderr)
            return EXIT_FAILED

    line = _SweepProgressLine(sys.stderr, live=sys.stderr.isatty(), quiet=args.json, title=catalogue.title)
    with ctrl_c_cancels(line, "requests") as cancel:
        outcome = sweep.run_plan(workbench, plan, sweep_id=sweep_id, on_progress=line, cancel=cancel)
    deferred = [run for run in outcome.runs if run.deferred]
    if deferred:
        print(outbox_note(deferred), file=sys.stderr)
    if outcome.cancelled:
        print(f"cancelled after {fmt.count(len(outcome.runs) + len(outcome.failures), 'request')}; the results so far are stored", file=sys.stderr)
    if args.json:
        print(json.dumps(outcome.to_json(), indent=2))
    else:
        print(format_sweep(outcome))
    if args.chart is not None:
        write_sweep_chart(outcome, catalogue, args.chart)  # after the figures: a chart that fails loses nothing
        print(f"chart written to {args.chart}", file=sys.stderr)
    return EXIT_OK if outcome.all_ran else EXIT_FAILED


class _SweepProgressLine(_ProgressLine):
    """A sweep's progress on stderr: the line rewritten in place on a terminal, else a line as each level starts."""

    def __init__(self, stream: Any, *, live: bool, quiet: bool, title: Any) -> None:
        super().__init__(stream, live=live, quiet=quiet)
        self.title = title
        self._level: tuple[str, int] | None = None

    def __call__(self, p: Any) -> None:  # a sweep.SweepProgress
        where = f"{self.title(p.target)} at {p.concurrency} at once (level {p.step + 1} of {p.steps})"
        if self.live:
            of = f"/{p.total}" if p.total else ""
            text = f"{where}: {p.done}{of} requests, {p.ok} ok, {p.errors} errors, {fmt.duration_ms(p.elapsed_s * 1000)}"
            self.stream.write("\r\x1b[K" + text)
            self._open = True
            self.stream.flush()
        elif not self.quiet and self._level != (p.target, p.concurrency):
            self.stream.write(where + "\n")
            self.stream.flush()
        self._level = (p.target, p.concurrency)


def format_sweep_estimate(sweep_id: str, plan: Any, estimates: Sequence[Any], catalogue: targets.Catalogue, settings: Settings) -> str:
    """What the sweep will send and cost, per target, before it runs."""
    levels = ", ".join(map(str, plan.levels))
    head = (
        f"sweep {sweep_id}: each target alone at {levels} at once, {plan.per_level} per level, "
        f"{fmt.count(len(plan.images), 'image')} round-robin; a target's level stops rising past {fmt.percent(plan.max_error_share)} errors"
    )
    known = plan.requests is not None
    rows = [
        [
            catalogue.title(e.target),
            ", ".join(map(str, e.levels)),
            fmt.count(e.requests) if known else "as many as fit",
            fmt.money(e.cost_usd_max if known else e.per_request_usd_max, unknown="unknown"),
            fmt.money(e.cost_usd_typical if known else e.per_request_usd_typical, unknown="unknown"),
        ]
        for e in estimates
    ]
    if known:
        total_max = [e.cost_usd_max for e in estimates if e.cost_usd_max is not None]
        total_typical = [e.cost_usd_typical for e in estimates if e.cost_usd_typical is not None]
        rows.append(["total", "", fmt.count(sum(e.requests or 0 for e in estimates)), fmt.money(sum(total_max)), fmt.money(sum(total_typical))])
        headers = ["target", "levels", "requests at most", "cost max", "cost typical"]
    else:
        headers = ["target", "levels", "requests", "cost max per request", "cost typical per request"]
    lines = [head, *table(headers, rows, right=(2, 3, 4))]
    lines.extend(f"  {catalogue.title(e.target)}: {e.basis}" for e in estimates)
    if settings.is_local:
        lines.append("  (local cloud: nothing is billed; these are what the real services would charge)")
    return "\n".join(lines)


def format_sweep(outcome: Any) -> str:
    """A sweep as text: a table per target, its levels upwards, then why it stopped or was capped."""
    plan = outcome.plan
    state = ", cancelled" if outcome.cancelled else ""
    lines = [
        f"sweep {outcome.sweep_id}: {plan.per_level} per level over {fmt.count(len(plan.images), 'image')}, "
        f"{fmt.count(len(outcome.runs), 'request')} stored, in {fmt.duration_ms(outcome.wall_s * 1000)}{state}"
    ]
    headers = ["at once", "requests", "ok", "failed", "throttled", "p50", "p95", "p99", "TTFT p50", "TTFT p95", "images/s", "output tokens/s"]
    for target in plan.targets:
        title = outcome.titles.get(target, target)
        lines.append(f"{title} ({fmt.count(outcome.slots.get(target), 'slot')})")
        levels = [level for level in outcome.levels if level.target == target]
        rows = [
            [
                str(level.concurrency) if level.asked in (None, level.concurrency) else f"{level.concurrency} (asked {level.asked})",
                fmt.count(level.requests),
                fmt.count(level.ok),
                fmt.count(level.errors),
                fmt.count(level.throttled),
                fmt.duration_ms(level.p50_ms),
                fmt.duration_ms(level.p95_ms),
                fmt.duration_ms(level.p99_ms),
                fmt.duration_ms(level.p50_ttft_ms),
                fmt.duration_ms(level.p95_ttft_ms),
                fmt.number(level.images_per_s, 2),
                fmt.number(level.output_tokens_per_s, 1),
            ]
            for level in levels
        ]
        if rows:
            lines.extend(table(headers, rows, right=range(0, len(headers))))
        for level in levels:
            if level.errors_by_kind:
                kinds = ", ".join(f"{fmt.count(n)} {kind.replace('_', ' ')}" for kind, n in level.errors_by_kind.items())
                lines.append(f"  failed at {level.concurrency} at once: {kinds}")
        cap = outcome.capped.get(target)
        if cap is not None:
            lines.append(f"  capped: {cap.text}")
        stop = outcome.stopped.get(target)
        if stop is not None:
            lines.append(f"  {stop.text}")
    lines.append(
        "  latency: client wall time of ok calls; TTFT: request sent to first text (streamed answers only); "
        "images/s and output tokens/s: ok answers and their output tokens per second of the level's wall time"
    )
    lines.extend(f"  failed: {failure}" for failure in outcome.failures)
    return "\n".join(lines)


def write_sweep_chart(outcome: Any, catalogue: targets.Catalogue, path: Path) -> None:
    """The sweep's chart (charts.sweep_chart) as one HTML file that opens offline (plotly.js inside)."""
    import plotly.io as pio

    from . import charts

    figure = charts.sweep_chart(outcome.to_json()["levels"], charts.legend(outcome.plan.targets, catalogue))
    try:
        pio.write_html(figure, str(path), include_plotlyjs=True, full_html=True, config={"displaylogo": False})
    except OSError as exc:
        raise MCVError(f"--chart {path}: cannot be written ({exc.strerror or exc})", hint="the figures above are stored; choose another file") from None
