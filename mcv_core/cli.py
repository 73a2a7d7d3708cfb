"""python -m mcv_core: compare, bench, history and the local cloud from a shell.

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
import signal
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

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
    compare.add_argument("--json", action="store_true", help="print JSON")

    bench = sub.add_parser("bench", help="run targets over a set of images, repeatedly: latency, cost, accuracy")
    bench.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="image files or directories (see labels.json)")
    bench.add_argument("--samples", action="store_true", help="add the labelled sample set that ships with MC Vision")
    _targets_option(bench)
    bench.add_argument("--repeat", type=int, default=1, help="runs of each image (default 1)")
    bench.add_argument("--concurrency", type=int, default=2, help="comparisons at once, 1 to 16 (default 2)")
    bench.add_argument("--prompt", help="question for the language models (default: MCV_PROMPT)")
    bench.add_argument("--json", action="store_true", help="print JSON")
    bench.add_argument("--yes", action="store_true", help="run without asking, in cloud mode on a terminal")

    history = sub.add_parser("history", help="results stored in DynamoDB")
    history.add_argument("--since", default="24h", help="a duration (30m, 24h, 7d, 2w) or an ISO date (default 24h)")
    history.add_argument("--provider", "--target", dest="provider", action="append", help="only this target id (repeatable)")
    history.add_argument("--json", action="store_true", help="print JSON")

    local = sub.add_parser("local", help="the embedded local cloud")
    local.add_argument("action", choices=["up", "down", "status", "env", "provision"])
    local.add_argument(
        "--if-local", action="store_true", help="up: do nothing when MCV_MODE is cloud (what `make run` uses)"
    )

    health = sub.add_parser("health", help="the deployed resources' health: ok, warn or fail per check")
    health.add_argument("--json", action="store_true", help="print JSON")
    health.add_argument("--timeout", type=float, default=10.0, help="seconds each check may take (default 10)")
    local.add_argument("--json", action="store_true", help="status as JSON")

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
            "history": cmd_history,
            "local": cmd_local,
            "health": cmd_health,
            "targets": cmd_targets,
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


def _num(value: float | int | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def format_run(run: Run) -> str:
    image = run.image
    width = max([13, *(len(r.provider) for r in run.results)])
    lines = [
        f"{image.name}  {image.width}x{image.height} {image.format}  run {run.run_id}  {run.wall_ms:.0f} ms side by side",
        f"  {'target':<{width}} {'status':<6} {'latency':>9} {'cold':>5} {'in/out/img tokens':>19} {'cost USD':>11}  output",
    ]
    for r in run.results:
        cold = {True: "cold", False: "warm", None: "-"}[r.cold_start]
        tokens = f"{_num(r.input_tokens, 'd')}/{_num(r.output_tokens, 'd')}/{_num(r.image_tokens, 'd')}"
        text = r.output if r.ok else f"{r.error_type}: {r.error}"
        text = " ".join(text.split())
        lines.append(
            f"  {r.provider:<{width}} {r.status:<6} {_num(r.latency_ms, '.0f'):>6} ms {cold:>5} {tokens:>19} "
            f"{_num(r.cost_usd, '.6f'):>11}  {text[:100]}"
        )
    return "\n".join(lines)


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

    catalogue, names = chosen_targets(args.targets, settings)
    if args.prompt is not None and not args.prompt.strip():
        raise UsageError("--prompt is empty", hint="give a question or leave --prompt out")
    if not args.paths and not args.samples:
        raise UsageError("bench needs images", hint="name image files or directories, or add --samples (the shipped set)")
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
    estimates = benchmark.estimate(plan, settings, history=_estimate_history(workbench, names), catalogue=catalogue)
    bench_id = benchmark.new_bench_id()
    print(format_estimate(bench_id, plan, estimates, settings), file=sys.stderr)
    if not settings.is_local and not args.yes and sys.stdin.isatty() and sys.stderr.isatty():
        # Real money: ask first. The question goes to stderr so that stdout stays the JSON document.
        print("run it? [y/N] ", end="", file=sys.stderr, flush=True)
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            print("not run", file=sys.stderr)
            return EXIT_FAILED

    line = _ProgressLine(sys.stderr, live=sys.stderr.isatty(), quiet=args.json)
    cancel = threading.Event()

    def on_interrupt(signum: int, frame: object) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        line.note("cancelling: running comparisons finish, no new ones start (Ctrl-C again: no summary)")

    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, on_interrupt) if in_main else None
    try:
        outcome = benchmark.run_bench(workbench, plan, bench_id=bench_id, on_progress=line, cancel=cancel)
    finally:
        if in_main:
            signal.signal(signal.SIGINT, previous)
        line.close()
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
        eta = "-" if p.eta_s is None else f"{p.eta_s:.0f} s"
        failed = f", {p.failed} failed" if p.failed else ""
        text = (
            f"{p.done}/{p.total} comparisons, {p.ok} ok, {p.errors} errors{failed}, "
            f"{p.elapsed_s:.0f} s, ETA {eta}  {p.last_image or ''}"
        )
        if self.live:
            self.stream.write("\r\x1b[K" + text)
            self._open = True
        elif not self.quiet:
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


def format_estimate(bench_id: str, plan: BenchPlan, estimates: Sequence[Estimate], settings: Settings) -> str:
    shape = " x ".join(
        (_count(len(plan.images), "image"), _count(plan.repeat, "repeat"), _count(len(plan.providers), "target"))
    )
    lines = [
        f"bench {bench_id}: {shape} = {plan.calls} calls, {plan.concurrency} comparisons at once",
        f"  {'target':<13} {'calls':>6} {'img tok/call':>12} {'input tok':>11} {'output max':>11} "
        f"{'USD max':>10} {'USD typical':>11}",
    ]
    for e in estimates:
        lines.append(
            f"  {e.provider:<13} {e.calls:>6} {_num(e.image_tokens_per_call, ',.0f'):>12} "
            f"{_num(e.input_tokens_total, ',d'):>11} {_num(e.output_tokens_max, ',d'):>11} "
            f"{_num(e.cost_usd_max, '.6f'):>10} {_num(e.cost_usd_typical, '.6f'):>11}"
        )
    known_max = [e.cost_usd_max for e in estimates if e.cost_usd_max is not None]
    known_typical = [e.cost_usd_typical for e in estimates if e.cost_usd_typical is not None]
    lines.append(f"  {'total':<13} {plan.calls:>6} {'':>36} {sum(known_max):>10.6f} {sum(known_typical):>11.6f}")
    lines.extend(f"  {e.provider}: {e.basis}" for e in estimates)
    if settings.is_local:
        lines.append("  (local cloud: nothing is billed; these are what the real services would charge)")
    return "\n".join(lines)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def format_bench(outcome: BenchOutcome) -> str:
    from .bench import summary

    ended = len(outcome.runs) + len(outcome.failures)
    state = f", cancelled after {ended} of {outcome.planned}" if outcome.cancelled else ""
    lines = [
        f"bench {outcome.bench_id}: {len(outcome.runs)} comparisons in {outcome.wall_s:.1f} s{state}",
        f"  {'target':<13} {'n':>4} {'ok':>4} {'err':>4} {'p50/p95 ms':>13} {'cold p50/p95 ms':>16} "
        f"{'mean USD':>10}  accuracy",
    ]
    for row in summary(outcome):
        cold = row["cold_starts"] is not None
        p50, p95 = (row["p50_warm_ms"], row["p95_warm_ms"]) if cold else (row["p50_ms"], row["p95_ms"])
        warm_text = f"{_num(p50, '.0f')}/{_num(p95, '.0f')}"
        cold_text = "-"
        if cold:
            cold_text = f"{_num(row['p50_cold_ms'], '.0f')}/{_num(row['p95_cold_ms'], '.0f')} ({row['cold_starts']})"
        accuracy = (
            f"{row['correct']}/{row['n_scored']} ({row['accuracy']:.0%})" if row["accuracy"] is not None else "-"
        )
        lines.append(
            f"  {row['provider']:<13} {row['n']:>4} {row['ok']:>4} {row['errors']:>4} {warm_text:>13} {cold_text:>16} "
            f"{_num(row['mean_cost_usd'], '.6f'):>10}  {accuracy}"
        )
    lines.append("  latency: client wall time of ok calls; warm calls in p50/p95 where a target reports cold starts")
    lines.extend(_correct_by_image(outcome))
    lines.extend(f"  failed: {failure}" for failure in outcome.failures)
    return "\n".join(lines)


def _correct_by_image(outcome: BenchOutcome) -> list[str]:
    """Per labelled image and provider: correct answers out of scored ones, over the repeats."""
    table: dict[str, dict[str, list[int]]] = {}
    order: list[str] = []
    for run in outcome.runs:
        image = outcome.slots[run.run_id].image if run.run_id in outcome.slots else run.image.name
        for r in run.results:
            if r.correct is None:
                continue
            if r.provider not in order:
                order.append(r.provider)
            counts = table.setdefault(image, {}).setdefault(r.provider, [0, 0])
            counts[0] += bool(r.correct)
            counts[1] += 1
    if not table:
        return []
    width = max(len(name) for name in table) + 2
    lines = ["  correct answers by image:", "    " + " " * width + " ".join(f"{p:>13}" for p in order)]
    for image, counts in table.items():
        cells = [f"{counts[p][0]}/{counts[p][1]}" if p in counts else "-" for p in order]
        lines.append(f"    {image:<{width}}" + " ".join(f"{c:>13}" for c in cells))
    return lines


# --- history ---------------------------------------------------------------------------------------------------


def cmd_history(args: argparse.Namespace, settings: Settings) -> int:
    from .workbench import Workbench

    since = parse_since(args.since)
    chosen = _history_ids(args.provider) if args.provider else None
    workbench = Workbench.open(settings, quiet=True)
    flush_outbox(workbench)
    items = workbench.history.results(since, datetime.now(timezone.utc), chosen)
    if args.json:
        print(json.dumps({"since": since.isoformat(), "count": len(items), "results": items}, indent=2, default=str))
        return EXIT_OK
    print(f"{len(items)} results since {since:%Y-%m-%d %H:%M} UTC")
    for item in items:
        cold = {True: "cold", False: "warm"}.get(item.get("cold_start"), "-")
        text = item.get("output") if item.get("status") == "ok" else f"{item.get('error_type')}: {item.get('error')}"
        text = " ".join(str(text or "").split())
        print(
            f"{item.get('created_at', '')[:19]}  {item.get('run_id', '')}  {item.get('provider', ''):<13} "
            f"{item.get('status', ''):<6} {_num(item.get('latency_ms'), '.0f'):>6} ms {cold:>5}  {text[:80]}"
        )
    return EXIT_OK


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
    for r in rows:
        if r["billing"] == "compute":
            price = "per GB-second of compute"
        elif r["input_usd_per_mtok"] is None:
            price = "price unknown"
        else:
            price = f"${r['input_usd_per_mtok']:g} in / ${r['output_usd_per_mtok']:g} out per million tokens ({r['price_source']})"
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
    if not emulator.get("url"):
        lines.append("  AI emulator:  DOWN")
        return "\n".join(lines)
    requests = emulator.get("requests") or {}
    lines.append(f"  AI emulator:  {emulator['url']}  ({sum(requests.values())} requests: " + ", ".join(f"{k} {v}" for k, v in requests.items()) + ")")
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
            f"    SageMaker endpoint {name}: worker {endpoint['worker']}, {endpoint['invocations']} invocations, "
            f"{endpoint['cold_starts']} cold starts, scales to zero after {endpoint['idle_s']:g} s idle"
        )
    faults = emulator.get("faults") or {}
    if faults:
        lines.append("    faults injected: " + ", ".join(f"{service} {len(plan)}" for service, plan in faults.items()))
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
            print(f"{marks[r.status]}  {r.title:<28} {r.detail}  ({r.duration_ms:.0f} ms)")
            if r.fix and r.status != "ok":
                print(f"      fix: {r.fix}")
    return EXIT_FAILED if failed else EXIT_OK

