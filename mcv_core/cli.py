"""python -m mcv_core: compare, history and the local cloud from a shell.

`--json` prints one JSON document on stdout. Exit codes: 0 the command did its job (for compare: every
provider answered), 2 bad input or usage (one line on stderr, nothing stored), 1 anything else.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from . import providers
from .config import ALL_PROVIDERS, Settings
from .errors import MCVError, UsageError
from .history import parse_since
from .runner import Run

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line and exit 2, as for any bad input
        raise UsageError(f"{self.prog}: {message}", hint=f"see {self.prog} --help")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m mcv_core", description="MC Vision: compare vision models across clouds.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    compare = sub.add_parser("compare", help="run providers side by side on images")
    compare.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    compare.add_argument("--providers", help=f"comma separated, from {','.join(ALL_PROVIDERS)} (default: MCV_PROVIDERS)")
    compare.add_argument("--prompt", help="question for the language models (default: MCV_PROMPT)")
    compare.add_argument("--json", action="store_true", help="print JSON")

    history = sub.add_parser("history", help="results stored in DynamoDB")
    history.add_argument("--since", default="24h", help="a duration (30m, 24h, 7d, 2w) or an ISO date (default 24h)")
    history.add_argument("--provider", action="append", help="only this provider (repeatable)")
    history.add_argument("--json", action="store_true", help="print JSON")

    local = sub.add_parser("local", help="the embedded local cloud")
    local.add_argument("action", choices=["up", "down", "status", "env"])
    local.add_argument("--json", action="store_true", help="status as JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        args = build_parser().parse_args(argv)
        settings = Settings.load()
        handler = {"compare": cmd_compare, "history": cmd_history, "local": cmd_local}[args.command]
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

    names = providers.parse_names(args.providers, settings.providers)
    if args.prompt is not None and not args.prompt.strip():
        raise UsageError("--prompt is empty", hint="give a question or leave --prompt out")
    # Every image is checked before anything is stored or called: one bad file stops the command cleanly.
    from .images import load_image

    loaded = [
        load_image(_read(path), path.name, max_bytes=settings.max_image_bytes, max_pixels=settings.max_pixels)
        for path in args.images
    ]
    bench = Workbench.open(settings, quiet=args.json)
    runs = [bench.compare(image, names, args.prompt, source="cli") for image in loaded]
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
        "results": [
            {
                "provider": r.provider,
                "model": r.model,
                "status": r.status,
                "output": r.output,
                "labels": [{"label": label.label, "score": label.score} for label in r.labels],
                "latency_ms": r.latency_ms,
                "provider_latency_ms": r.provider_latency_ms,
                "cold_start": r.cold_start,
                "input_tokens": r.input_tokens,
                "output_tokens": r.output_tokens,
                "image_tokens": r.image_tokens,
                "cost_usd": r.cost_usd,
                "attempts": r.attempts,
                "error_type": r.error_type,
                "error": r.error,
            }
            for r in run.results
        ],
    }


def _num(value: float | int | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def format_run(run: Run) -> str:
    image = run.image
    lines = [
        f"{image.name}  {image.width}x{image.height} {image.format}  run {run.run_id}  {run.wall_ms:.0f} ms side by side",
        f"  {'provider':<13} {'status':<6} {'latency':>9} {'cold':>5} {'in/out/img tokens':>19} {'cost USD':>11}  output",
    ]
    for r in run.results:
        cold = {True: "cold", False: "warm", None: "-"}[r.cold_start]
        tokens = f"{_num(r.input_tokens, 'd')}/{_num(r.output_tokens, 'd')}/{_num(r.image_tokens, 'd')}"
        text = r.output if r.ok else f"{r.error_type}: {r.error}"
        text = " ".join(text.split())
        lines.append(
            f"  {r.provider:<13} {r.status:<6} {_num(r.latency_ms, '.0f'):>6} ms {cold:>5} {tokens:>19} "
            f"{_num(r.cost_usd, '.6f'):>11}  {text[:100]}"
        )
    return "\n".join(lines)


# --- history ---------------------------------------------------------------------------------------------------


def cmd_history(args: argparse.Namespace, settings: Settings) -> int:
    from .workbench import Workbench

    since = parse_since(args.since)
    chosen = providers.parse_names(",".join(args.provider), ALL_PROVIDERS) if args.provider else None
    bench = Workbench.open(settings, quiet=True)
    items = bench.history.results(since, datetime.now(timezone.utc), chosen)
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


# --- local ------------------------------------------------------------------------------------------------------


def cmd_local(args: argparse.Namespace, settings: Settings) -> int:
    from .local import control

    if args.action == "up":
        conn = control.up(settings)
        print(f"local cloud running (pid {conn.pid}): AWS {conn.moto_url}, models {conn.emulator_url}", file=sys.stderr)
        print('use it from a shell with: eval "$(python -m mcv_core local env)"', file=sys.stderr)
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
    lines = [
        f"local cloud: running, pid {state.get('pid')}, since {state.get('started_at')}, data in {state.get('data_dir')}",
        f"  AWS (moto):   {components.get('moto', {}).get('url')}  {'up' if components.get('moto', {}).get('running') else 'DOWN'}",
        f"  AI emulator:  {emulator.get('url', 'DOWN')}",
    ]
    for name, endpoint in (emulator.get("sagemaker") or {}).items():
        lines.append(
            f"  endpoint {name}: worker {endpoint['worker']}, {endpoint['invocations']} invocations, "
            f"{endpoint['cold_starts']} cold starts, scales to zero after {endpoint['idle_s']:g} s idle"
        )
    return "\n".join(lines)
