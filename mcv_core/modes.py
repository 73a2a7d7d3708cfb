"""Online against batch: one target's results made by calls and by a batch job, on the same images, side by side.

`compare(items, batch_states)` reads result items (history.RESULT_FIELDS; a missing key reads as None, a missing
`mode` as "online") and the batch benchmarks' recorded states (History.batches) and gives, per target, each mode's
figures (`ModeSide`) and how the two modes' answers agree (`ModeComparison`):

- results in each mode, and how many succeeded;
- cost per 1,000 images: 1,000 x the mean cost_usd of the mode's successful results with a known cost (`n_priced`
  of them), None when none is known, never $0 (analytics.cost_per_image, as the History page and the scorecard);
- time to all results, per benchmark that ran the target in that mode:
  online, from the first of its results' start (created_at: when the comparison began) to the last one's end
  (created_at + waiting for a slot + preparing the image + the call's latency: the anatomy history stores);
  batch, from the first of the target's jobs' creation to the last one's end (batch.time_to_all_results_s over
  the target's jobs), None while one of them runs or when the benchmark's state is not among those given.
  With several benchmarks in a mode, the median of their times (`benchmarks`: how many have one). Results outside
  any benchmark (the Compare page) have no time to all results;
- accuracy over the mode's labelled results, with its Wilson interval (analytics.accuracy);
- whether the answers agree: the target's online and batch results on the same image and prompt (image_sha256,
  else image_key, and the prompt) are paired in order, the k-th online result on an image with its k-th batch
  result (repeats beyond the other mode's count stay unpaired). Over the pairs, `scorecard.paired_answers`: the
  share whose top answers agree (the classifier's top label; a text answer's first expected label named, on
  labelled images only) with its n, Cohen's kappa on correct, and McNemar's exact test, online - batch; and the
  share of pairs, both successful, whose answers are the same text (case and spacing aside), with its n.

`table(comparisons, title)` is the side-by-side table as people read it (formatting.py), for the pages and the CLI.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from . import analytics, batch, scorecard
from . import formatting as fmt

ONLINE, BATCH = analytics.MODES
MODE_TITLES = {ONLINE: "Online", BATCH: "Batch"}
# What to run to get results in the mode a selection lacks.
HOW_TO_RUN = {
    ONLINE: "an online benchmark of the same images (the Benchmark page, or `python -m mcv_core bench IMAGE...`)",
    BATCH: "a batch benchmark of the same images (`python -m mcv_core bench IMAGE... --mode batch`)",
}


def mode_of(item: Mapping[str, Any]) -> str:
    """A result's mode; items stored before batch benchmarks existed were calls."""
    return str(item.get("mode") or ONLINE)


def modes_present(items: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Results per mode, in MODES order, the modes present only."""
    counts = {mode: 0 for mode in analytics.MODES}
    for item in items:
        mode = mode_of(item)
        counts[mode] = counts.get(mode, 0) + 1
    return {mode: n for mode, n in counts.items() if n}


def _num(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class ModeSide:
    """One target's figures in one mode (see the module docstring)."""

    mode: str
    results: int
    ok: int
    n_priced: int
    cost_per_1k_usd: float | None
    benchmarks: int
    time_to_all_s: float | None
    n_scored: int
    accuracy: float | None
    accuracy_ci: list[float] | None

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class ModeComparison:
    """One target online and in batch: each mode's figures and how their answers on the same images agree."""

    target: str
    title: str | None
    online: ModeSide
    batch: ModeSide
    images: int  # images (with their prompt) that have results in both modes
    pairs: int  # online and batch results paired on the same image
    top_agreement: float | None
    top_n: int
    same_text: float | None
    text_n: int
    kappa: float | None
    kappa_n: int
    mcnemar_p: float | None
    mcnemar_effect: float | None  # accuracy online - batch on the paired labelled results
    mcnemar_n: int
    note: str | None = None  # why McNemar's test has no p-value

    @property
    def both(self) -> bool:
        return bool(self.online.results and self.batch.results)

    def to_json(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["online"], out["batch"] = self.online.to_json(), self.batch.to_json()
        return out


# --- time to all results -------------------------------------------------------------------------------------------


def _online_times(frame: pd.DataFrame) -> dict[str, list[float]]:
    """Target -> each online benchmark's time to all of the target's results (s)."""
    rows = frame.loc[(frame["mode"] == ONLINE).to_numpy(dtype=bool) & frame["bench_id"].notna().to_numpy(dtype=bool)]
    if rows.empty:
        return {}
    took_ms = rows["queue_ms"].fillna(0) + rows["prepare_ms"].fillna(0) + rows["latency_ms"].fillna(0)
    spans = pd.DataFrame(
        {
            "provider": rows["provider"].astype(str),
            "bench_id": rows["bench_id"].astype(str),
            "start": rows["created_at"],
            "end": rows["created_at"] + pd.to_timedelta(took_ms.to_numpy(np.float64), unit="ms"),
        }
    ).dropna(subset=["start"])
    grouped = spans.groupby(["provider", "bench_id"], sort=True).agg(start=("start", "min"), end=("end", "max"))
    out: dict[str, list[float]] = {}
    for (target, _), row in grouped.iterrows():
        out.setdefault(str(target), []).append((row["end"] - row["start"]).total_seconds())
    return out


_JOB_FIELDS = {f.name for f in fields(batch.BatchJob)}


def batch_time_s(state: Mapping[str, Any], target: str) -> float | None:
    """A batch benchmark's time to all of one target's results (its recorded state, History.batches): the
    benchmark's own definition (batch.time_to_all_results_s) over that target's jobs only; None without jobs of
    the target, or while one of them has not ended."""
    jobs = [batch.BatchJob(**{k: v for k, v in job.items() if k in _JOB_FIELDS}) for job in state.get("jobs", ())]
    mine = [job for job in jobs if job.target == target]
    if not mine:
        return None
    # Only its jobs are read: the manifest's facts (images, prompt) play no part in the time.
    bench = batch.BatchBench(
        bench_id=str(state["bench_id"]),
        created_at=datetime.fromisoformat(str(state["created_at"])),
        prompt="",
        targets=[target],
        repeat=0,
        images=[],
        sent={},
        jobs=mine,
    )
    return batch.time_to_all_results_s(bench)


def _batch_times(frame: pd.DataFrame, states: Mapping[str, Mapping[str, Any]]) -> dict[str, list[float]]:
    rows = frame.loc[(frame["mode"] == BATCH).to_numpy(dtype=bool) & frame["bench_id"].notna().to_numpy(dtype=bool)]
    pairs = rows[["provider", "bench_id"]].astype(str).drop_duplicates().itertuples(index=False)
    out: dict[str, list[float]] = {}
    for target, bench_id in sorted(pairs):
        state = states.get(bench_id)
        took = batch_time_s(state, target) if state is not None else None
        if took is not None:
            out.setdefault(target, []).append(took)
    return out


# --- pairing the answers -------------------------------------------------------------------------------------------


def image_of(item: Mapping[str, Any]) -> tuple[str, str]:
    """What "the same image" means here: its hash (else its stored key) and the prompt it was asked with."""
    return (str(item.get("image_sha256") or item.get("image_key") or ""), str(item.get("prompt") or ""))


def _order(item: Mapping[str, Any]) -> tuple[str, str]:
    return (str(item.get("created_at") or ""), str(item.get("run_id") or ""))


def pair_by_image(
    online: Sequence[Mapping[str, Any]], batched: Sequence[Mapping[str, Any]]
) -> tuple[dict[str, Mapping[str, Any]], dict[str, Mapping[str, Any]], int]:
    """One target's online and batch results paired on the same image and prompt, the k-th with the k-th (in the
    order they were made): the two sides keyed alike, and how many images have results in both modes."""
    by_image: dict[tuple[str, str], tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]] = {}
    for side, items in enumerate((online, batched)):
        for item in items:
            if image_of(item)[0]:
                by_image.setdefault(image_of(item), ([], []))[side].append(item)
    left: dict[str, Mapping[str, Any]] = {}
    right: dict[str, Mapping[str, Any]] = {}
    images = 0
    for key in sorted(by_image):
        a, b = (sorted(side, key=_order) for side in by_image[key])
        images += bool(a and b)
        for x, y in zip(a, b):
            pair = f"{len(left):08d}"
            left[pair], right[pair] = x, y
    return left, right, images


def _flat(text: Any) -> str:
    return " ".join(str(text or "").lower().split())


def _same_text(left: Mapping[str, Mapping[str, Any]], right: Mapping[str, Mapping[str, Any]]) -> tuple[int, int]:
    same = counted = 0
    for key, x in left.items():
        y = right[key]
        if x.get("status") != "ok" or y.get("status") != "ok":
            continue
        counted += 1
        same += _flat(x.get("output")) == _flat(y.get("output"))
    return same, counted


# --- the comparison ------------------------------------------------------------------------------------------------


def _side(mode: str, frame: pd.DataFrame, target: str, times: Mapping[str, list[float]]) -> ModeSide:
    wanted = (frame["provider"].astype(str) == target).to_numpy() & (frame["mode"] == mode).to_numpy(dtype=bool)
    mine = frame.loc[wanted]
    cost = analytics.cost_per_image(mine)
    scored = analytics.accuracy(mine)
    cost_row = cost.iloc[0] if len(cost) else {}
    scored_row = scored.iloc[0] if len(scored) else {}
    took = times.get(target, [])
    low, high = _num(scored_row.get("wilson_low")), _num(scored_row.get("wilson_high"))
    return ModeSide(
        mode=mode,
        results=len(mine),
        ok=int((mine["status"] == "ok").sum()),
        n_priced=int(cost_row.get("n", 0)),
        cost_per_1k_usd=_num(cost_row.get("per_1000_images_usd")),
        benchmarks=len(took),
        time_to_all_s=float(np.median(took)) if took else None,
        n_scored=int(scored_row.get("n_scored", 0)),
        accuracy=_num(scored_row.get("accuracy")),
        accuracy_ci=None if low is None or high is None else [low, high],
    )


def compare(
    items: Iterable[Mapping[str, Any]],
    batch_states: Iterable[Mapping[str, Any]] = (),
    order: Sequence[str] = (),
) -> list[ModeComparison]:
    """Every target of the items, online against batch (see the module docstring), in `order` (the catalogue's)
    then by id. A target with results in one mode only has an empty side: `both` is False."""
    items = list(items)
    frame = analytics.to_frame([dict(item) for item in items], order)
    states = {str(state["bench_id"]): state for state in batch_states if state.get("bench_id")}
    times = {ONLINE: _online_times(frame), BATCH: _batch_times(frame, states)}
    titles = analytics.stored_titles(frame)
    targets = [str(p) for p in frame["provider"].cat.categories if (frame["provider"] == p).any()]
    out = []
    for target in targets:
        online = [i for i in items if str(i.get("provider")) == target and mode_of(i) == ONLINE]
        batched = [i for i in items if str(i.get("provider")) == target and mode_of(i) == BATCH]
        left, right, images = pair_by_image(online, batched)
        agreement, test = scorecard.paired_answers(ONLINE, BATCH, left, right)
        same, counted = _same_text(left, right)
        out.append(
            ModeComparison(
                target=target,
                title=titles.get(target),
                online=_side(ONLINE, frame, target, times[ONLINE]),
                batch=_side(BATCH, frame, target, times[BATCH]),
                images=images,
                pairs=len(left),
                top_agreement=agreement.top_agreement,
                top_n=agreement.top_n,
                same_text=same / counted if counted else None,
                text_n=counted,
                kappa=agreement.kappa,
                kappa_n=agreement.n,
                mcnemar_p=test.p_value,
                mcnemar_effect=test.effect,
                mcnemar_n=test.n,
                note=test.note,
            )
        )
    return out


# --- as people read it ---------------------------------------------------------------------------------------------

# name -> (kind, title, help): the kinds of pages/_shared.Column ("text", "count", "money", "figure").
COLUMNS: dict[str, tuple[str, str, str]] = {
    "images": ("count", "Same images", "Images (with the same prompt) that have results in both modes"),
    "online_results": ("count", "Online results", "Results of this model made by calls"),
    "batch_results": ("count", "Batch results", "Results of this model made by batch jobs"),
    "online_cost_per_1k_usd": (
        "money",
        "Online per 1,000",
        "What 1,000 images cost online: 1,000 times the mean cost of a successful call with a known price",
    ),
    "batch_cost_per_1k_usd": (
        "money",
        "Batch per 1,000",
        "What 1,000 images cost in batch: 1,000 times the mean cost of a successful batch record with a known "
        "price (the batch price)",
    ),
    "online_time": (
        "figure",
        "Online: all in",
        "How long an online benchmark took to have all its results: from its first call's start to its last "
        "call's end (with several benchmarks, the median of theirs: Online benchmarks says how many)",
    ),
    "batch_time": (
        "figure",
        "Batch: all in",
        "How long a batch benchmark took to have all its results: from its first job's creation to its last "
        "job's end (with several benchmarks, the median of theirs: Batch benchmarks says how many)",
    ),
    "agreement": (
        "figure",
        "Same answer (n)",
        "Share of the images answered in both modes where the top answers agree (the classifier's top label; "
        "the expected label a text answer names first), and how many were compared",
    ),
    "same_text": (
        "figure",
        "Same text (n)",
        "Share of paired answers, both successful, that are the same text (case and spacing aside), and how "
        "many",
    ),
    "online_accuracy": (
        "figure",
        "Online accuracy (n)",
        "Share of labelled online results that name what the image shows, its 95% Wilson interval and n",
    ),
    "batch_accuracy": (
        "figure",
        "Batch accuracy (n)",
        "Share of labelled batch results that name what the image shows, its 95% Wilson interval and n",
    ),
    "mcnemar": (
        "figure",
        "McNemar p (online − batch)",
        "McNemar's exact test on right/wrong over the paired labelled results: the accuracy difference and "
        "its p-value",
    ),
    "pairs": ("count", "Pairs", "Online and batch results paired on the same image (the k-th of each)"),
    "online_benchmarks": ("count", "Online benchmarks", "Online benchmarks the time is of"),
    "batch_benchmarks": (
        "count",
        "Batch benchmarks",
        "Batch benchmarks the time is of (with every job of this model ended)",
    ),
}
MAIN_COLUMNS = ["images", "online_cost_per_1k_usd", "batch_cost_per_1k_usd", "online_time", "batch_time", "agreement"]


def _time_text(side: ModeSide) -> str:
    if side.time_to_all_s is not None:
        return fmt.duration_long_s(side.time_to_all_s)
    if not side.results:
        return fmt.dash(f"no {side.mode} results")
    return fmt.dash("jobs not all ended" if side.mode == BATCH else "no benchmark")


def _accuracy_text(side: ModeSide) -> str:
    if side.accuracy is None:
        return fmt.dash("no labelled images")
    return f"{fmt.interval(side.accuracy, side.accuracy_ci, fmt.percent)} n={fmt.count(side.n_scored)}"


def _share(value: float | None, n: int, none: str) -> str:
    return f"{fmt.percent(value)} n={fmt.count(n)}" if value is not None else fmt.dash(none)


def _mcnemar_text(row: ModeComparison) -> str:
    if row.mcnemar_p is None:
        return fmt.dash(row.note or "no test")
    return f"{fmt.effect('correct', row.mcnemar_effect)}, p {fmt.p_value(row.mcnemar_p)}"


def table(comparisons: Sequence[ModeComparison], title: Callable[[str], str] | None = None) -> pd.DataFrame:
    """The side-by-side table: `provider` (the target id), money as numbers, the rest as text with its n."""
    rows = []
    for row in comparisons:
        rows.append(
            {
                "provider": row.target,
                "images": row.images,
                "online_results": row.online.results,
                "batch_results": row.batch.results,
                "online_cost_per_1k_usd": row.online.cost_per_1k_usd,
                "batch_cost_per_1k_usd": row.batch.cost_per_1k_usd,
                "online_time": _time_text(row.online),
                "batch_time": _time_text(row.batch),
                "agreement": _share(row.top_agreement, row.top_n, "none compared" if row.pairs else "no pairs"),
                "same_text": _share(row.same_text, row.text_n, "no pairs"),
                "online_accuracy": _accuracy_text(row.online),
                "batch_accuracy": _accuracy_text(row.batch),
                "mcnemar": _mcnemar_text(row),
                "pairs": row.pairs,
                "online_benchmarks": row.online.benchmarks,
                "batch_benchmarks": row.batch.benchmarks,
            }
        )
    frame = pd.DataFrame(rows, columns=["provider", *COLUMNS])
    for name in ("online_cost_per_1k_usd", "batch_cost_per_1k_usd"):
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    return frame


def missing_mode(comparisons: Sequence[ModeComparison]) -> str | None:
    """The mode no target of the selection has results in (None when both are there, or there are no results)."""
    online = any(row.online.results for row in comparisons)
    batched = any(row.batch.results for row in comparisons)
    if online == batched:
        return None
    return BATCH if online else ONLINE


def one_mode_note(comparisons: Sequence[ModeComparison]) -> str | None:
    """What a selection without a target in both modes lacks, and what to run to get it; None when one has both."""
    if any(row.both for row in comparisons):
        return None
    lacking = missing_mode(comparisons)
    return lacking_note(ONLINE if lacking == BATCH else BATCH if lacking == ONLINE else None)


def lacking_note(present: str | None) -> str:
    """Why nothing is side by side: only `present` results (and what to run for the other mode), or, with None,
    results of both modes but never of the same model."""
    if present is None:
        return "No model has results in both modes here: the online and the batch results are of different models."
    lacking = BATCH if present == ONLINE else ONLINE
    return (
        f"Only {present} results here, so there is nothing to put side by side. "
        f"To compare, run {HOW_TO_RUN[lacking]}."
    )


def mode_sentence(counts: Mapping[str, int]) -> str:
    """Which mode a selection's results ran in, for a scorecard's header (`modes_present`, Scorecard.modes)."""
    online, batched = counts.get(ONLINE, 0), counts.get(BATCH, 0)
    if online and batched:
        return (
            f"Ran in both modes: {fmt.count(online, 'call')} online and {fmt.count(batched, 'batch record')}. Cost "
            "per 1,000 images mixes the two prices; the Online vs batch tab puts them apart."
        )
    if batched:
        return (
            f"Ran as batch jobs: {fmt.count(batched, 'record')} at the batch price, with no latency of their own "
            "(the Online vs batch tab has the time to all results)."
        )
    return f"Ran online: {fmt.count(online, 'call')}, each timed on its own."
