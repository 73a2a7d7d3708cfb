"""Concurrency sweeps: how latency and throughput of one target hold up as the load on it grows.

A sweep takes each target alone, one after another, and runs it at each concurrency level in turn (so a level
measures that target and nothing else). At level c, c requests are in flight at once: as one ends the next
starts, round-robin over the images, until the level has sent N requests (`requests`) or S seconds have passed
since it started (`duration_s`; requests running then finish and count). Every request is an ordinary
single-target comparison (`Workbench.compare`, source "sweep") stored in history with the sweep's id and its
level, like a benchmark's.

Two rules keep a sweep honest:
- A level is never above the target's slots (`Service.concurrency`, MCV_CONCURRENCY_<TARGET>): more would only
  queue inside this process. A level above them runs at the slots once, the rest are not run, and the outcome
  says so (`capped`).
- Once a level's errors pass `max_error_share` of its requests (errors / requests > the share), higher levels
  of that target are not run (`stopped`): the target is overloaded, and more load only adds failures.

Per level (`Level`, in `LEVEL_KEYS` order): requests sent, ok, errors (every failed request, throttles
included) and, of those, throttled (error type "throttled"); errors by kind; p50/p95/p99 of the latency of ok
results (client wall time of the call, ms); p50/p95 of their TTFT (None when no answer was streamed);
images_per_s = ok results / the level's wall seconds; output_tokens_per_s = the output tokens of ok results /
the level's wall seconds (aggregate throughput; None when no ok result reports tokens, as the classifier's).
Percentiles are `analytics.percentile` (linear interpolation), as everywhere in the app.

A level's wall time runs from its first request's start to its last one's end. `levels_from_results` rebuilds
the table from stored result items; history keeps when each request started (`created_at`) and its call's
timings, not the upload before it or the write after it, so a rebuilt level's wall time is that much shorter
and its throughput that much higher (tens of ms per level on the local cloud: noticeable for a fast classifier,
not for a language model taking seconds).
"""

from __future__ import annotations

import logging
import math
import re
import secrets
import threading
import time
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Protocol, Sequence

from . import analytics, bench
from . import formatting as fmt
from .bench import BenchImage
from .config import Settings, env_suffix
from .errors import MCVError, ThrottledError, UsageError
from .jobs import BackgroundJob

if TYPE_CHECKING:
    from . import images, targets
    from .records import Run

log = logging.getLogger(__name__)

SOURCE = "sweep"
DEFAULT_LEVELS = (1, 2, 4, 8)
DEFAULT_MAX_ERROR_SHARE = 0.2
MAX_LEVEL = 256
MAX_REQUESTS = 10_000  # per level
MAX_DURATION_S = 3600.0  # per level
THROTTLED = ThrottledError.kind
# The level keys of `sweep --json`, in order (the contract); extra keys come after them.
LEVEL_KEYS = (
    "target",
    "concurrency",
    "requests",
    "ok",
    "errors",
    "throttled",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "p50_ttft_ms",
    "p95_ttft_ms",
    "images_per_s",
    "output_tokens_per_s",
)
# What `levels_from_results` and the page's list of past sweeps read from history (History.load `fields`).
SWEEP_FIELDS = (
    "run_id",
    "created_at",
    "provider",
    "title",
    "status",
    "error_type",
    "latency_ms",
    "ttft_ms",
    "output_tokens",
    "timings",
    "source",
    "sweep_id",
    "concurrency",
)
# sweep-YYYYmmddTHHMMSS-xxxxxx (new_sweep_id), like a benchmark's id: it carries the sweep's start.
_SWEEP_ID = re.compile(r"sweep-(\d{8}T\d{6})-[0-9a-f]+")


def new_sweep_id(now: datetime | None = None) -> str:
    return f"sweep-{(now or datetime.now(timezone.utc)):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


def sweep_started(sweep_id: str) -> datetime:
    """When a sweep started, from its id; a UsageError for anything that is not a sweep id."""
    hint = "sweep ids look like sweep-20261204T101500-a1b2c3 (sweep --json prints its sweep_id)"
    match = _SWEEP_ID.fullmatch(sweep_id.strip()) if isinstance(sweep_id, str) else None
    if match is None:
        raise UsageError(f"{sweep_id!r} is not a sweep id", hint=hint)
    try:
        return datetime.strptime(match.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=timezone.utc)
    except ValueError:
        raise UsageError(f"{sweep_id!r} carries no valid start time", hint=hint) from None


def parse_levels(text: str | Iterable[int]) -> tuple[int, ...]:
    """"1,2,4,8" (or the numbers themselves) -> (1, 2, 4, 8): positive whole numbers, strictly increasing, at most
    MAX_LEVEL; anything else a UsageError that says what is wrong."""
    hint = "give increasing whole numbers, e.g. 1,2,4,8"
    if isinstance(text, str):
        parts = [p.strip() for p in text.replace(" ", ",").split(",") if p.strip()]
        if not parts:
            raise UsageError("no concurrency levels given", hint=hint)
        levels = []
        for part in parts:
            if not part.isdecimal() or not part.isascii():
                raise UsageError(f"concurrency level {part!r} is not a positive whole number", hint=hint)
            levels.append(int(part))
    else:
        levels = list(text)
        if not levels:
            raise UsageError("no concurrency levels given", hint=hint)
        for level in levels:
            if not _is_int(level):
                raise UsageError(f"concurrency level {level!r} is not a positive whole number", hint=hint)
    for level in levels:
        if not 1 <= level <= MAX_LEVEL:
            raise UsageError(f"concurrency level {level} is out of range: 1 to {MAX_LEVEL}", hint=hint)
    for lower, higher in zip(levels, levels[1:]):
        if higher <= lower:
            raise UsageError(f"concurrency levels must increase: {higher} comes after {lower}", hint=hint)
    return tuple(levels)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# ----------------------------------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class SweepPlan:
    """What a sweep runs: every target alone at every level, `requests` per level or `duration_s` seconds each.

    Target ids are not checked against the catalogue here (the command line and the page do that), so a plan can
    name test doubles."""

    images: tuple[BenchImage, ...]
    targets: tuple[str, ...]
    levels: tuple[int, ...] = DEFAULT_LEVELS
    requests: int | None = None
    duration_s: float | None = None
    max_error_share: float = DEFAULT_MAX_ERROR_SHARE
    prompt: str | None = None  # None: the settings' default prompt

    def __post_init__(self) -> None:
        object.__setattr__(self, "images", tuple(self.images))
        object.__setattr__(self, "targets", tuple(dict.fromkeys(self.targets)))
        object.__setattr__(self, "levels", parse_levels(self.levels))
        if not self.images:
            raise UsageError("a sweep needs at least one image")
        if not self.targets:
            raise UsageError("a sweep needs at least one target")
        if (self.requests is None) == (self.duration_s is None):
            raise UsageError(
                "a sweep runs each level for a number of requests or for a time, one of them",
                hint="give --requests N or --duration S, not both",
            )
        if self.requests is not None:
            if not _is_int(self.requests) or not 1 <= self.requests <= MAX_REQUESTS:
                raise UsageError(f"requests per level must be 1 to {MAX_REQUESTS:,}, not {self.requests!r}")
            if self.requests < max(self.levels):
                raise UsageError(
                    f"{self.requests} requests per level cannot keep {max(self.levels)} in flight at once",
                    hint=f"give at least {max(self.levels)} requests per level (the highest level), better several times that",
                )
        if self.duration_s is not None:
            if isinstance(self.duration_s, bool) or not isinstance(self.duration_s, (int, float)) or not (
                0 < self.duration_s <= MAX_DURATION_S
            ):
                raise UsageError(f"the duration of a level must be more than 0 and at most {MAX_DURATION_S:,.0f} s, not {self.duration_s!r}")
        share = self.max_error_share
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1 or math.isnan(share):
            raise UsageError(f"the error share must be 0 to 1, not {share!r}", hint="e.g. 0.2 stops raising the level once 20% of a level's requests fail")
        if self.prompt is not None and not self.prompt.strip():
            raise UsageError("the prompt is empty", hint="give a question or leave the prompt out")

    def schedule(self, slots: int) -> list[tuple[int, int]]:
        """The levels a target with `slots` runs, as (asked, run at): a level above the slots runs at the slots,
        once; the levels after it are not run."""
        out: list[tuple[int, int]] = []
        for asked in self.levels:
            level = min(asked, slots)
            if out and out[-1][1] == level:
                break
            out.append((asked, level))
        return out

    @property
    def per_level(self) -> str:
        """How long each level runs, for people: "12 requests" or "30 s"."""
        if self.requests is not None:
            return fmt.count(self.requests, "request")
        return fmt.duration_ms((self.duration_s or 0) * 1000)


# ------------------------------------------------------------------------------------------------ estimate


@dataclass(frozen=True)
class SweepEstimate:
    """What one target's share of a sweep will cost, from the benchmark's estimate (`bench.estimate`).

    `requests` is known when levels run a number of requests (the most the sweep sends: fewer when it stops);
    for levels that run for a time it is None and only the cost per request is known."""

    target: str
    levels: tuple[int, ...]  # the levels it will run at (capped at its slots)
    requests: int | None
    cost_usd_typical: float | None
    cost_usd_max: float | None
    per_request_usd_typical: float | None
    per_request_usd_max: float | None
    basis: str


def estimate(
    plan: SweepPlan,
    settings: Settings,
    slots: Mapping[str, int],
    *,
    history: Iterable[Mapping[str, Any]] | None = None,
    catalogue: "targets.Catalogue | None" = None,
) -> list[SweepEstimate]:
    """Per target, in plan order, the cost of the requests the sweep sends (the benchmark's estimate of exactly
    those images, in round-robin order). `slots`: each target's slots; `history`: as for `bench.estimate`."""
    history = list(history or ())
    out = []
    for target in plan.targets:
        levels = tuple(level for _, level in plan.schedule(slots[target]))
        if plan.requests is not None:
            sent = [plan.images[i % len(plan.images)] for _ in levels for i in range(plan.requests)]
        else:
            sent = list(plan.images)  # one request per image: the cost of a request, on average over the images
        bench_plan = bench.BenchPlan(tuple(sent), (target,), 1, 1, plan.prompt)
        (e,) = bench.estimate(bench_plan, settings, history=history, catalogue=catalogue)
        per_typical = None if e.cost_usd_typical is None else e.cost_usd_typical / len(sent)
        per_max = None if e.cost_usd_max is None else e.cost_usd_max / len(sent)
        known = plan.requests is not None
        out.append(
            SweepEstimate(
                target=target,
                levels=levels,
                requests=len(sent) if known else None,
                cost_usd_typical=e.cost_usd_typical if known else None,
                cost_usd_max=e.cost_usd_max if known else None,
                per_request_usd_typical=per_typical,
                per_request_usd_max=per_max,
                basis=e.basis,
            )
        )
    return out


# ------------------------------------------------------------------------------------------------- figures


@dataclass(frozen=True)
class Level:
    """One target at one concurrency level (see the module's docstring for what each figure is)."""

    target: str
    concurrency: int
    requests: int
    ok: int
    errors: int
    throttled: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    p50_ttft_ms: float | None
    p95_ttft_ms: float | None
    images_per_s: float | None
    output_tokens_per_s: float | None
    errors_by_kind: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0
    asked: int | None = None  # the level asked for, when the target's slots capped it
    title: str | None = None

    @property
    def error_share(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    def to_json(self) -> dict[str, Any]:
        """The level as `sweep --json` prints it: LEVEL_KEYS in order, then errors_by_kind, error_share, wall_s and,
        when the slots capped it, asked_concurrency."""
        doc = {key: getattr(self, key) for key in LEVEL_KEYS}
        doc["errors_by_kind"] = dict(self.errors_by_kind)
        doc["error_share"] = round(self.error_share, 4)
        doc["wall_s"] = round(self.wall_s, 3)
        if self.asked is not None and self.asked != self.concurrency:
            doc["asked_concurrency"] = self.asked
        return doc


def _value(row: Any, name: str) -> Any:
    return row.get(name) if isinstance(row, Mapping) else getattr(row, name, None)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return None
    return float(value)


def _percentile(values: Sequence[float], q: float, digits: int = 2) -> float | None:
    if not values:
        return None
    return round(float(analytics.percentile(values, q)), digits)


def level_figures(
    target: str,
    concurrency: int,
    results: Iterable[Any],
    wall_s: float,
    *,
    asked: int | None = None,
    title: str | None = None,
) -> Level:
    """A level's figures from its results (ProviderResults or stored items: status, error_type, latency_ms, ttft_ms,
    output_tokens) and its wall time. Pure."""
    rows = list(results)
    ok = [r for r in rows if _value(r, "status") == "ok"]
    kinds = Counter(str(_value(r, "error_type") or "unknown") for r in rows if _value(r, "status") != "ok")
    latencies = [v for v in (_number(_value(r, "latency_ms")) for r in ok) if v is not None]
    ttfts = [v for v in (_number(_value(r, "ttft_ms")) for r in ok) if v is not None]
    tokens = [v for v in (_number(_value(r, "output_tokens")) for r in ok) if v is not None]
    seconds = wall_s if wall_s > 0 else None
    return Level(
        target=target,
        concurrency=concurrency,
        requests=len(rows),
        ok=len(ok),
        errors=len(rows) - len(ok),
        throttled=kinds.get(THROTTLED, 0),
        p50_ms=_percentile(latencies, 50),
        p95_ms=_percentile(latencies, 95),
        p99_ms=_percentile(latencies, 99),
        p50_ttft_ms=_percentile(ttfts, 50),
        p95_ttft_ms=_percentile(ttfts, 95),
        images_per_s=None if seconds is None else round(len(ok) / seconds, 4),
        output_tokens_per_s=None if seconds is None or not tokens else round(math.fsum(tokens) / seconds, 4),
        errors_by_kind=dict(sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0]))),
        wall_s=wall_s,
        asked=asked,
        title=title,
    )


def _started(item: Mapping[str, Any]) -> datetime | None:
    text = item.get("created_at")
    if not isinstance(text, str):
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _ended(item: Mapping[str, Any], started: datetime) -> datetime:
    """When a stored request's call ended: its start, then its image's preparation, its wait for a slot and the
    call itself (the upload before them is not stored)."""
    timings = item.get("timings") if isinstance(item.get("timings"), Mapping) else {}
    parts = (timings.get("prepare_ms"), timings.get("queue_ms"), item.get("latency_ms"))
    ms = math.fsum(v for v in (_number(p) for p in parts) if v is not None)
    return started + timedelta(milliseconds=ms)


def levels_from_results(items: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The level table of one sweep from its stored result items (`SWEEP_FIELDS` suffice), in the order the sweep
    ran: targets in the order they started, then levels upwards; each row as `Level.to_json`. Items without a
    level (not from a sweep) are left out; items of several sweeps are a ValueError (select one sweep first)."""
    groups: dict[tuple[str, int], list[Mapping[str, Any]]] = {}
    first: dict[str, datetime] = {}
    titles: dict[str, str] = {}
    sweeps = set()
    for item in items:
        level = item.get("concurrency")
        if not _is_int(level):
            continue
        sweeps.add(item.get("sweep_id"))
        target = str(item.get("provider"))
        groups.setdefault((target, int(level)), []).append(item)
        started = _started(item)
        if started is not None and (target not in first or started < first[target]):
            first[target] = started
        if item.get("title"):
            titles[target] = str(item["title"])
    if len(sweeps) > 1:
        raise ValueError(f"items of {len(sweeps)} sweeps: select the items of one sweep")
    far = datetime.max.replace(tzinfo=timezone.utc)
    order = sorted(groups, key=lambda key: (first.get(key[0], far), key[0], key[1]))
    rows = []
    for target, level in order:
        items_ = groups[(target, level)]
        spans = [(s, _ended(i, s)) for i, s in ((i, _started(i)) for i in items_) if s is not None]
        wall = (max(e for _, e in spans) - min(s for s, _ in spans)).total_seconds() if spans else 0.0
        rows.append(level_figures(target, level, items_, wall, title=titles.get(target)).to_json())
    return rows


def frame_items(frame: Any, sweep_id: str | None = None) -> list[dict[str, Any]]:
    """The rows of one sweep (of every sweep, without `sweep_id`) in a history frame (`analytics.to_frame`) as the
    stored items `levels_from_results` and `sweeps_in` read: so that History charts a sweep from the frame it holds."""
    if "sweep_id" not in frame:
        return []
    rows = frame[frame["sweep_id"].notna()] if sweep_id is None else frame[frame["sweep_id"] == sweep_id]
    items = []
    for row in rows.to_dict("records"):
        level = _number(row.get("concurrency"))
        when = row.get("created_at")
        items.append(
            {
                "sweep_id": str(row["sweep_id"]),
                "provider": str(row.get("provider")),
                "title": row.get("title") if isinstance(row.get("title"), str) else None,
                "concurrency": int(level) if level is not None else None,
                "created_at": when.isoformat() if isinstance(when, datetime) else None,
                "status": row.get("status"),
                "error_type": row.get("error_type") if isinstance(row.get("error_type"), str) else None,
                "latency_ms": row.get("latency_ms"),
                "ttft_ms": row.get("ttft_ms"),
                "output_tokens": row.get("output_tokens"),
                "timings": {name: row.get(name) for name in ("prepare_ms", "queue_ms")},
            }
        )
    return items


def sweeps_in(items: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The sweeps that stored items belong to, newest first: sweep_id, started_at (its first request), targets (in
    the order they ran), levels, requests (stored results). For choosing a past sweep."""
    found: dict[str, dict[str, Any]] = {}
    for item in items:
        sweep_id = item.get("sweep_id")
        if not isinstance(sweep_id, str) or not _is_int(item.get("concurrency")):
            continue
        entry = found.setdefault(sweep_id, {"sweep_id": sweep_id, "started_at": None, "first": {}, "levels": set(), "requests": 0})
        started = _started(item)
        target = str(item.get("provider"))
        if started is not None:
            if entry["started_at"] is None or started < entry["started_at"]:
                entry["started_at"] = started
            if target not in entry["first"] or started < entry["first"][target]:
                entry["first"][target] = started
        else:
            entry["first"].setdefault(target, datetime.max.replace(tzinfo=timezone.utc))
        entry["levels"].add(int(item["concurrency"]))
        entry["requests"] += 1
    out = []
    for entry in found.values():
        out.append(
            {
                "sweep_id": entry["sweep_id"],
                "started_at": entry["started_at"],
                "targets": sorted(entry["first"], key=lambda t: (entry["first"][t], t)),
                "levels": sorted(entry["levels"]),
                "requests": entry["requests"],
            }
        )
    out.sort(key=lambda s: s["sweep_id"], reverse=True)  # the id starts with its start time
    return out


# ------------------------------------------------------------------------------------------------------ run


class Sweeper(Protocol):
    """What a sweep needs of a Workbench (tests pass a stand-in)."""

    def load_image(self, data: bytes, name: str = "") -> "images.SourceImage": ...

    def target(self, target_id: str) -> Any: ...  # a bound service: .concurrency, .title

    def compare(self, image: "images.SourceImage", target_ids: Sequence[str], prompt: str | None = None, **kwargs: Any) -> "Run": ...


@dataclass(frozen=True)
class SweepProgress:
    """Where a running sweep is: the target and level running (`step` of `steps` levels in the whole sweep,
    0-based), and within the level: requests ended (`done`) of `total` (None when the level runs for a time),
    `ok` and `errors` so far, seconds since the level started."""

    target: str
    concurrency: int
    step: int
    steps: int
    done: int
    total: int | None
    ok: int
    errors: int
    elapsed_s: float
    duration_s: float | None = None
    cancelling: bool = False

    @property
    def fraction(self) -> float:
        """Of the whole sweep, 0 to 1, as if every level runs (a stopped target ends the sweep sooner)."""
        if self.total:
            within = self.done / self.total
        elif self.duration_s:
            within = min(self.elapsed_s / self.duration_s, 1.0)
        else:
            within = 0.0
        return min((self.step + within) / max(self.steps, 1), 1.0)


@dataclass(frozen=True)
class Stop:
    """Why a target's levels ended early: "error_share" (a level's errors passed the share) or "cancelled"."""

    reason: str
    at: int | None  # the level it stopped at (None: it never started)
    text: str

    def to_json(self) -> dict[str, Any]:
        return {"reason": self.reason, "at": self.at, "text": self.text}


@dataclass(frozen=True)
class Cap:
    """A target whose slots are below some levels: they ran at the slots once (`ran`), or not at all."""

    slots: int
    asked: tuple[int, ...]  # the levels above the slots
    ran: int | None  # the level that ran at the slots in place of the first of them (None: the slots were run as asked)
    text: str

    def to_json(self) -> dict[str, Any]:
        return {"slots": self.slots, "asked": list(self.asked), "ran_at_slots": self.ran, "text": self.text}


@dataclass
class SweepOutcome:
    sweep_id: str
    plan: SweepPlan
    started_at: datetime
    levels: list[Level]  # in the order they ran: target by target, levels upwards
    stopped: dict[str, Stop | None]  # every target of the plan: why its levels ended early, None when they all ran
    capped: dict[str, Cap]  # the targets whose slots capped a level
    slots: dict[str, int]
    titles: dict[str, str]
    cancelled: bool
    failures: list[str]  # one line per request that raised instead of giving a result (e.g. storage down)
    wall_s: float
    runs: list["Run"] = field(default_factory=list)  # every request's run, in the order they ended

    @property
    def all_ran(self) -> bool:
        """Not cancelled, no request raised, and every target got at least one answer."""
        answered = {level.target for level in self.levels if level.ok}
        return not self.cancelled and not self.failures and answered >= set(self.plan.targets)

    def to_json(self) -> dict[str, Any]:
        """What `sweep --json` prints: {"levels": [...]} (LEVEL_KEYS first in each), then the sweep's id and
        settings, why targets stopped early, the caps, failures."""
        plan = self.plan
        return {
            "levels": [level.to_json() for level in self.levels],
            "sweep_id": self.sweep_id,
            "started_at": self.started_at.isoformat(),
            "wall_s": round(self.wall_s, 3),
            "cancelled": self.cancelled,
            "requests_per_level": plan.requests,
            "duration_s": plan.duration_s,
            "max_error_share": plan.max_error_share,
            "targets": list(plan.targets),
            "slots": dict(self.slots),
            "stopped": {t: (s.to_json() if s else None) for t, s in self.stopped.items()},
            "capped": {t: c.to_json() for t, c in self.capped.items()},
            "failures": list(self.failures),
        }


def slots_of(workbench: Sweeper, targets_: Iterable[str]) -> dict[str, int]:
    """Each target's slots: calls in flight at once through it in this process (`Service.concurrency`)."""
    return {t: int(workbench.target(t).concurrency) for t in targets_}


def run(
    workbench: Sweeper,
    images: Sequence[BenchImage],
    targets: Sequence[str],
    levels: Sequence[int] | str = DEFAULT_LEVELS,
    *,
    requests: int | None = None,
    duration_s: float | None = None,
    max_error_share: float = DEFAULT_MAX_ERROR_SHARE,
    prompt: str | None = None,
    on_progress: Callable[[SweepProgress], None] | None = None,
    cancel: threading.Event | None = None,
    sweep_id: str | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> SweepOutcome:
    """Sweep `targets` over `levels` (see the module's docstring); a bad plan is a UsageError before anything runs.

    Every image is loaded once, before the first request; a bad one raises ImageError and nothing runs.
    `on_progress` is called in the calling thread after every request, never concurrently. Setting `cancel`
    stops new requests from starting; running ones finish and are kept (their level is reported with what it
    got), and the outcome is marked cancelled. A request that raises (rather than giving an error result)
    counts as a failed request of its kind and is a line in `failures`; the others go on.
    """
    plan = SweepPlan(tuple(images), tuple(targets), parse_levels(levels), requests, duration_s, max_error_share, prompt)
    return run_plan(workbench, plan, on_progress=on_progress, cancel=cancel, sweep_id=sweep_id, clock=clock)


def run_plan(
    workbench: Sweeper,
    plan: SweepPlan,
    *,
    on_progress: Callable[[SweepProgress], None] | None = None,
    cancel: threading.Event | None = None,
    sweep_id: str | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> SweepOutcome:
    """`run` for a plan made already (the command line and the page make one to price it first)."""
    sweep_id = sweep_id or new_sweep_id()
    cancel = cancel or threading.Event()
    started_at = datetime.now(timezone.utc)
    loaded = [workbench.load_image(image.data, image.name) for image in plan.images]
    slots = slots_of(workbench, plan.targets)
    titles = {t: str(getattr(workbench.target(t), "title", t)) for t in plan.targets}
    schedules = {t: plan.schedule(slots[t]) for t in plan.targets}
    capped = {t: cap for t in plan.targets if (cap := cap_of(plan, t, titles[t], slots[t])) is not None}
    steps = sum(len(s) for s in schedules.values())
    levels: list[Level] = []
    stopped: dict[str, Stop | None] = {}
    failures: list[str] = []
    runs: list[Run] = []
    step = 0
    t0 = clock()
    for target in plan.targets:
        stop: Stop | None = None
        for asked, level in schedules[target]:
            if cancel.is_set():
                stop = Stop("cancelled", level, f"cancelled before {level} at once")
                break
            figures, level_runs, level_failures = _run_level(
                workbench, plan, loaded, target, level, asked, titles[target], sweep_id, step, steps, on_progress, cancel, clock
            )
            levels.append(figures)
            runs.extend(level_runs)
            failures.extend(level_failures)
            step += 1
            if cancel.is_set():
                stop = Stop("cancelled", level, f"cancelled at {level} at once: the requests that ran are kept")
                break
            if figures.requests and figures.error_share > plan.max_error_share:
                higher = [a for a, _ in schedules[target] if a > asked]
                stop = Stop(
                    "error_share",
                    level,
                    f"stopped at {level} at once: {fmt.count(figures.errors)} of {fmt.count(figures.requests, 'request')} failed "
                    f"({fmt.percent(figures.error_share)}), above the {fmt.percent(plan.max_error_share)} limit"
                    + (f"; {', '.join(map(str, higher))} not run" if higher else ""),
                )
                step += len(higher)
                break
        stopped[target] = stop
    return SweepOutcome(
        sweep_id=sweep_id,
        plan=plan,
        started_at=started_at,
        levels=levels,
        stopped=stopped,
        capped=capped,
        slots=slots,
        titles=titles,
        cancelled=cancel.is_set(),
        failures=failures,
        wall_s=clock() - t0,
        runs=runs,
    )


def cap_of(plan: SweepPlan, target: str, title: str, slots: int) -> Cap | None:
    """How a target's slots cap the plan's levels (None when they do not), with a line that says so."""
    above = tuple(level for level in plan.levels if level > slots)
    if not above:
        return None
    ran = next((asked for asked, level in plan.schedule(slots) if asked != level), None)
    skipped = [a for a in above if a != ran]
    parts = [f"{title} takes {fmt.count(slots, 'call')} at once (its slots: MCV_CONCURRENCY_{env_suffix(target).upper()})"]
    if ran is not None:
        parts.append(f"{ran} runs at {slots}")
    if skipped:
        parts.append(f"{', '.join(map(str, skipped))} not run")
    return Cap(slots, above, ran, "; ".join(parts))


def _failure_kind(exc: BaseException) -> str:
    kind = getattr(exc, "kind", None)
    if isinstance(kind, str):
        return kind
    name = type(exc).__name__.removesuffix("Error") or "internal"
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower() if isinstance(exc, MCVError) else "internal"


def _run_level(
    workbench: Sweeper,
    plan: SweepPlan,
    loaded: Sequence[Any],
    target: str,
    level: int,
    asked: int,
    title: str,
    sweep_id: str,
    step: int,
    steps: int,
    on_progress: Callable[[SweepProgress], None] | None,
    cancel: threading.Event,
    clock: Callable[[], float],
) -> tuple[Level, list["Run"], list[str]]:
    """One target at one level: `level` requests in flight at once until the level's requests or time are used."""

    def one(index: int) -> "Run":
        image = loaded[index % len(loaded)]
        return workbench.compare(image, [target], plan.prompt, source=SOURCE, sweep_id=sweep_id, concurrency=level)

    rows: list[Any] = []
    runs: list[Run] = []
    failures: list[str] = []
    ok = errors = submitted = 0
    pending: dict[Future[Run], int] = {}
    pool = ThreadPoolExecutor(max_workers=level, thread_name_prefix=f"mcv-sweep-{level}")
    start = clock()

    def may_start() -> bool:
        if cancel.is_set():
            return False
        if plan.requests is not None:
            return submitted < plan.requests
        return clock() - start < (plan.duration_s or 0.0)

    try:
        while True:
            # One request starts as another ends: `level` in flight, back to back, as `level` clients would send.
            while len(pending) < level and may_start():
                pending[pool.submit(one, submitted)] = submitted
                submitted += 1
            if not pending:
                break
            ended, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in sorted(ended, key=pending.__getitem__):
                index = pending.pop(future)
                name = getattr(loaded[index % len(loaded)], "name", "")
                row: Any
                try:
                    run_ = future.result()
                except MCVError as exc:
                    row = {"status": "error", "error_type": _failure_kind(exc)}
                    failures.append(f"{title} at {level} at once, {name}: {exc.user_text()}")
                except Exception as exc:  # a bug must not stop the sweep; it is logged in full
                    log.exception("sweep request of %s on %s failed unexpectedly", target, name)
                    row = {"status": "error", "error_type": "internal"}
                    failures.append(f"{title} at {level} at once, {name}: {type(exc).__name__}: {exc}")
                else:
                    runs.append(run_)
                    (row,) = run_.results  # one target per request
                rows.append(row)
                if _value(row, "status") == "ok":
                    ok += 1
                else:
                    errors += 1
                if on_progress is not None:
                    on_progress(
                        SweepProgress(
                            target=target,
                            concurrency=level,
                            step=step,
                            steps=steps,
                            done=ok + errors,
                            total=plan.requests,
                            ok=ok,
                            errors=errors,
                            elapsed_s=clock() - start,
                            duration_s=plan.duration_s,
                            cancelling=cancel.is_set(),
                        )
                    )
    finally:
        # Normally nothing is left; after an exception (a raising on_progress, Ctrl-C) running requests finish on
        # their own and store their results, nothing waits for them.
        pool.shutdown(wait=False, cancel_futures=True)
    wall = clock() - start
    return level_figures(target, level, rows, wall, asked=asked, title=title), runs, failures


class SweepJob(BackgroundJob["SweepProgress | None", "SweepOutcome"]):
    """`run_plan` in a background thread, for a page that polls (jobs.BackgroundJob, as `bench.BenchJob`):

        job = SweepJob(workbench, plan).start()
        ... job.progress (None until the first request has ended), job.done, job.cancel() ...
        job.outcome (when it ran), job.error (when it could not run: e.g. an image failed to load)
    """

    def __init__(self, workbench: Sweeper, plan: SweepPlan, *, sweep_id: str | None = None) -> None:
        self.workbench = workbench
        self.plan = plan
        self.sweep_id = sweep_id or new_sweep_id()

        def work(on_progress: Callable[[SweepProgress], None], cancel: threading.Event) -> SweepOutcome:
            return run_plan(workbench, plan, sweep_id=self.sweep_id, on_progress=on_progress, cancel=cancel)

        super().__init__(f"sweep {self.sweep_id}", work, None)
