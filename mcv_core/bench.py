"""Benchmarks: the selected targets over a set of images, each image several times, a few comparisons at once.

A benchmark is a list of ordinary comparisons (`Workbench.compare`) that share a bench id and carry the labels
each image is known to show, so history keeps them like any other run (source "bench") and every view can
pick them out (`providers` in a plan are target ids). This module plans one (`collect_images`, `BenchPlan`), prices it before it runs (`estimate`),
runs it (`run_bench`, or `BenchJob` in a background thread for a page to poll) and sums it up (`summary`,
`bench_json`).

Image folders. A directory given to `collect_images` contributes every file whose content is JPEG, PNG, WebP or
GIF, and every file named like one (.jpg .jpeg .png .webp .gif) — which then must be a valid image: a damaged
photo is an error, never silently left out. Other files (notes, videos) and hidden ones are skipped.
Sub-directories are walked unless `recursive=False`. An optional `labels.json` in a directory labels the
images of that directory by file name:

    {"chelsea.jpg": ["cat", "kitten", "tabby"], "espresso.png": ["espresso", "coffee", "cup"]}

Labels are the words a correct answer would use; `scoring` decides with whole-word matches.
"""

from __future__ import annotations

import json
import logging
import math
import os
import secrets
import statistics
import threading
import time
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, NamedTuple, Protocol, Sequence

import numpy as np

from . import formatting as fmt
from . import images, pricing
from .config import Settings
from .errors import ImageError, MCVError, UsageError
from .jobs import BackgroundJob

if TYPE_CHECKING:
    from . import targets
    from .records import Run

log = logging.getLogger(__name__)

LABELS_FILE = "labels.json"
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".gif"})
_MAGIC_BYTES = 12  # enough to recognise JPEG, PNG, GIF and WebP by content

MAX_REPEAT = 1000
MAX_CONCURRENCY = 16
DEFAULT_CONCURRENCY = 2

# Estimates. A prompt costs about one token per 4 characters (OpenAI's rule of thumb for English text), plus
# the framing of one chat message (role markers, the reply's start), which both services count as input.
CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD_TOKENS = 7
TYPICAL_OUTPUT_TOKENS = 60  # per call, when no history is given: one or two sentences
SAGEMAKER_BILLED_MS = 100.0  # per call, when no history is given: a warm EfficientNet-Lite0 on CPU
# What `estimate` reads from history: pass as `fields` to History.results or History.load (load filters on
# created_at, so it must be read too).
ESTIMATE_FIELDS = ("provider", "status", "output_tokens", "provider_latency_ms", "created_at")


# --------------------------------------------------------------------------------------------------- images


@dataclass(frozen=True)
class BenchImage:
    """One image of a benchmark: its name in results, its bytes and the labels it is known to show.

    `width` and `height` (after EXIF orientation) are filled in by `collect_images` and the sample set, so
    `estimate` needs no decoding; when absent, `estimate` measures the image itself.
    """

    name: str
    data: bytes = field(repr=False)
    expected: tuple[str, ...] = ()
    width: int | None = None
    height: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "expected", tuple(label.strip() for label in self.expected if label.strip()))


def collect_images(
    paths: Iterable[str | os.PathLike[str]], *, recursive: bool = True, settings: Settings | None = None
) -> list[BenchImage]:
    """The images in `paths` (files and directories), validated with the settings' size limits.

    Every image is decoded once here, so a bad file stops the benchmark before anything runs: an `ImageError`
    (a UsageError) whose message names the file. Files reached twice (listed and inside a listed directory,
    or through two spellings of one path) are taken once, the first time. Names in results are file names
    for files given directly, and paths relative to the given directory for files found in one.
    """
    settings = settings or Settings()
    given = [Path(p) for p in paths]
    if not given:
        raise UsageError("no images given", hint="name image files or directories")
    seen: set[Path] = set()
    labels_by_dir: dict[Path, dict[str, tuple[str, ...]]] = {}
    found: list[BenchImage] = []
    for path in given:
        if path.is_dir():
            candidates = _walk(path, recursive)
        elif path.is_file():
            candidates = [(path, path.name)]
        elif not path.exists():
            raise UsageError(f"{path}: no such file or directory")
        else:
            raise UsageError(f"{path}: neither a file nor a directory")
        for file, name in candidates:
            key = file.resolve()
            if key in seen:
                continue
            seen.add(key)
            folder = file.parent.resolve()  # labels.json sits next to the name the user gave, links or not
            if folder not in labels_by_dir:
                labels_by_dir[folder] = read_labels(file.parent)
            found.append(_load(file, name, labels_by_dir[folder].get(file.name, ()), settings))
    if not found:
        shown = ", ".join(str(p) for p in given)
        raise UsageError(f"no images found in {shown}", hint="give JPEG, PNG, WebP or GIF files, or folders of them")
    return found


def read_labels(folder: Path) -> dict[str, tuple[str, ...]]:
    """`folder/labels.json` as {file name: labels}; {} when there is none; UsageError when it is malformed."""
    path = folder / LABELS_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot be read ({exc})") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{path}: not valid JSON ({exc})", hint='write {"file name": ["label", ...]}') from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: must be a JSON object", hint='write {"file name": ["label", ...]}')
    labels: dict[str, tuple[str, ...]] = {}
    for name, value in data.items():
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise UsageError(f"{path}: the labels of {name!r} must be a list of strings")
        if Path(name).name != name:
            raise UsageError(f"{path}: {name!r} is not a plain file name", hint="each folder has its own labels.json")
        if not (folder / name).is_file():
            # A typo would silently leave an image unscored; say so instead.
            raise UsageError(f"{path}: labels {name!r}, which is not a file in {folder}", hint="fix the file name")
        labels[name] = tuple(value)
    return labels


def _walk(root: Path, recursive: bool) -> list[tuple[Path, str]]:
    """Candidate images under root, sorted, with their names relative to root."""
    out: list[tuple[Path, str]] = []
    for folder, dirs, files in os.walk(root, onerror=_walk_error):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if recursive else []
        for name in sorted(files):
            path = Path(folder) / name
            if name.startswith(".") or name == LABELS_FILE or not path.is_file():
                continue
            if path.suffix.lower() in IMAGE_SUFFIXES or _is_image_content(path):
                out.append((path, path.relative_to(root).as_posix()))
    return out


def _walk_error(exc: OSError) -> None:
    raise UsageError(f"{exc.filename}: cannot be listed ({exc.strerror})")


def _is_image_content(path: Path) -> bool:
    # Only the first bytes: a folder may hold large files that are not images.
    try:
        with path.open("rb") as handle:
            head = handle.read(_MAGIC_BYTES)
    except OSError as exc:
        raise UsageError(f"{path}: cannot be read ({exc.strerror})") from None
    return images.sniff_format(head) is not None


def _load(path: Path, name: str, expected: Sequence[str], settings: Settings) -> BenchImage:
    try:
        data = path.read_bytes()
    except PermissionError:
        raise UsageError(f"{path}: permission denied") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot be read ({exc.strerror})") from None
    try:
        loaded = images.load_image(data, "", max_bytes=settings.max_image_bytes, max_pixels=settings.max_pixels)
    except ImageError as exc:
        # load_image calls an unnamed upload "The file"; here the path says which one.
        message = exc.message
        message = f"{path}{message[len('The file'):]}" if message.startswith("The file") else f"{path}: {message}"
        raise ImageError(message, hint=exc.hint) from None
    return BenchImage(name, data, tuple(expected), width=loaded.width, height=loaded.height)


# ----------------------------------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class BenchPlan:
    """What to run: every image `repeat` times on every provider, `concurrency` comparisons at once.

    Provider names are not checked against the registry here (the command line and the page do that with
    `providers.parse_names`), so a plan can name test doubles.
    """

    images: tuple[BenchImage, ...]
    providers: tuple[str, ...]
    repeat: int = 1
    concurrency: int = DEFAULT_CONCURRENCY
    prompt: str | None = None  # None: the settings' default prompt

    def __post_init__(self) -> None:
        object.__setattr__(self, "images", tuple(self.images))
        object.__setattr__(self, "providers", tuple(dict.fromkeys(self.providers)))
        if not self.images:
            raise UsageError("a benchmark needs at least one image")
        if not self.providers:
            raise UsageError("a benchmark needs at least one provider")
        if not _is_int(self.repeat) or not 1 <= self.repeat <= MAX_REPEAT:
            raise UsageError(f"repeat must be 1 to {MAX_REPEAT}, not {self.repeat!r}")
        if not _is_int(self.concurrency) or not 1 <= self.concurrency <= MAX_CONCURRENCY:
            raise UsageError(f"concurrency must be 1 to {MAX_CONCURRENCY}, not {self.concurrency!r}")
        if self.prompt is not None and not self.prompt.strip():
            raise UsageError("the prompt is empty", hint="give a question or leave the prompt out")

    @property
    def comparisons(self) -> int:
        return len(self.images) * self.repeat

    @property
    def calls(self) -> int:
        """Provider calls: one per image, repeat and provider."""
        return self.comparisons * len(self.providers)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# ------------------------------------------------------------------------------------------------- estimate


@dataclass(frozen=True)
class Estimate:
    """What one provider's share of a plan will cost, worked out before it runs.

    Token providers: `cost_usd_max` is an upper bound (every call writes max_output_tokens);
    `cost_usd_typical` uses `output_tokens_typical`. SageMaker: both are the same figure, from an assumed
    billed duration; it is not a bound (a slow call bills more). `basis` says what was assumed.
    """

    provider: str
    model: str | None
    calls: int
    image_tokens_per_call: float | None
    input_tokens_total: int | None
    output_tokens_max: int | None
    output_tokens_typical: int | None
    cost_usd_max: float | None
    cost_usd_typical: float | None
    basis: str
    batch_share: float | None = None  # the service's batch price as a share of on-demand (None: no batch price)

    @property
    def batch_cost_usd_max(self) -> float | None:
        return None if self.cost_usd_max is None or self.batch_share is None else self.cost_usd_max * self.batch_share

    @property
    def batch_cost_usd_typical(self) -> float | None:
        return None if self.cost_usd_typical is None or self.batch_share is None else self.cost_usd_typical * self.batch_share


def prompt_tokens(prompt: str) -> int:
    """Input tokens of the prompt text: one per 4 characters, plus the framing of one chat message."""
    return math.ceil(len(prompt) / CHARS_PER_TOKEN) + MESSAGE_OVERHEAD_TOKENS


def estimate(
    plan: BenchPlan,
    settings: Settings,
    *,
    history: Iterable[Mapping[str, Any]] | None = None,
    catalogue: "targets.Catalogue | None" = None,
) -> list[Estimate]:
    """Per target of the plan, in its order: calls, tokens and cost, before anything runs. Pure.

    Each target's model family gives its image size, image-token rule and billing; its prices come from the
    target (genai-prices, else the catalogue). `history`: result items as `History.results` returns them
    (`ESTIMATE_FIELDS` suffice). From it come the typical output tokens (mean of ok results of that target) and
    the classifier's billed duration (median provider_latency_ms of its ok results); without it, 60 output tokens
    and 100 ms are assumed. `catalogue`: default, the built-in targets.
    """
    from . import targets

    catalogue = catalogue or targets.defaults(settings)
    seen = _HistoryFigures.from_items(history or ())
    sizes = [_size(image, settings) for image in plan.images]
    prompt = plan.prompt or settings.default_prompt
    out = []
    for name in plan.providers:
        target = catalogue.by_id.get(name)
        if target is None:
            out.append(Estimate(name, None, plan.comparisons, None, None, None, None, None, None, "not in the catalogue: no cost model"))
        elif target.billing == "compute":
            out.append(_compute_estimate(plan, settings, target, seen))
        else:
            out.append(_token_estimate(plan, settings, target, sizes, prompt, seen))
    return out


class _HistoryFigures(NamedTuple):
    mean_output_tokens: dict[str, float]
    median_provider_ms: dict[str, float]

    @classmethod
    def from_items(cls, items: Iterable[Mapping[str, Any]]) -> "_HistoryFigures":
        outputs: dict[str, list[float]] = {}
        timings: dict[str, list[float]] = {}
        for item in items:
            if item.get("status") != "ok":
                continue
            provider = str(item.get("provider"))
            if isinstance(item.get("output_tokens"), (int, float)):
                outputs.setdefault(provider, []).append(float(item["output_tokens"]))
            if isinstance(item.get("provider_latency_ms"), (int, float)):
                timings.setdefault(provider, []).append(float(item["provider_latency_ms"]))
        return cls(
            {p: statistics.fmean(v) for p, v in outputs.items()},
            {p: statistics.median(v) for p, v in timings.items()},
        )


def _size(image: BenchImage, settings: Settings) -> tuple[int, int]:
    if image.width and image.height:
        return image.width, image.height
    limits = {"max_bytes": settings.max_image_bytes, "max_pixels": settings.max_pixels}
    loaded = images.load_image(image.data, image.name, **limits)
    return loaded.width, loaded.height


def _token_estimate(
    plan: BenchPlan, settings: Settings, target: "targets.Target", sizes: list[tuple[int, int]], prompt: str, seen: _HistoryFigures
) -> Estimate:
    calls = plan.comparisons
    max_output = target.max_output_tokens or settings.max_output_tokens
    spec = target.image_spec
    per_image = [target.image_tokens(*spec.target_size(w, h)) for w, h in sizes]
    family = target.family
    text_tokens = prompt_tokens(prompt)
    output_max = calls * max_output
    typical = seen.mean_output_tokens.get(target.id)
    typical_basis = f"mean of {fmt.number(typical)} seen in history" if typical is not None else "assumed, no history"
    typical = TYPICAL_OUTPUT_TOKENS if typical is None else typical
    output_typical = round(calls * typical)
    if any(tokens is None for tokens in per_image):
        rule = f"{target.model_ref} is not a model this app knows: its image tokens are unknown (usage will be as reported)"
        input_total = image_tokens_per_call = None
    else:
        rule = f"image tokens: {family.rule} ({family.title}, {family.source})"
        input_total = sum(per_image) * plan.repeat + calls * text_tokens  # type: ignore[arg-type]
        image_tokens_per_call = statistics.fmean(per_image)  # type: ignore[arg-type]
    prices = target.token_prices()
    basis = (
        f"{rule}; prompt {fmt.tokens(text_tokens)} ({CHARS_PER_TOKEN} characters per token + {MESSAGE_OVERHEAD_TOKENS}); "
        f"output at most {fmt.count(max_output)} per call (max), {fmt.number(typical)} per call typical ({typical_basis})"
    )
    if prices is None:
        cost_max = cost_typical = None
        basis += f"; price unknown for {target.model_ref} (set input_usd_per_mtok and output_usd_per_mtok in the catalogue)"
    elif input_total is None:
        cost_max = cost_typical = None
        basis += f"; {fmt.money(prices[0])} in / {fmt.money(prices[1])} out per million tokens ({target.price_source})"
    else:
        cost_max = (input_total * prices[0] + output_max * prices[1]) / 1e6
        cost_typical = (input_total * prices[0] + output_typical * prices[1]) / 1e6
        basis += f"; {fmt.money(prices[0])} in / {fmt.money(prices[1])} out per million tokens ({target.price_source})"
    return Estimate(
        provider=target.id,
        model=target.model_ref,
        calls=calls,
        image_tokens_per_call=image_tokens_per_call,
        input_tokens_total=input_total,
        output_tokens_max=output_max,
        output_tokens_typical=output_typical,
        cost_usd_max=cost_max,
        cost_usd_typical=cost_typical,
        basis=basis + (f"; batch at {fmt.percent(target.batch_price.share, digits=0)} of that ({target.batch_price.source})" if target.batch_price else ""),
        batch_share=target.batch_price.share if target.batch_price else None,
    )


def _compute_estimate(plan: BenchPlan, settings: Settings, target: "targets.Target", seen: _HistoryFigures) -> Estimate:
    seen_ms = seen.median_provider_ms.get(target.id)
    billed_ms = SAGEMAKER_BILLED_MS if seen_ms is None else seen_ms
    where = "median provider latency in history" if seen_ms is not None else "assumed, no history"
    per_call = pricing.sagemaker_serverless_cost(billed_ms, settings.sagemaker_memory_mb, settings.region)
    price = pricing.sagemaker_price(settings.region)
    cost = None if per_call is None else plan.comparisons * per_call
    return Estimate(
        provider=target.id,
        model=target.endpoint or settings.sagemaker_endpoint or None,
        calls=plan.comparisons,
        image_tokens_per_call=None,
        input_tokens_total=None,
        output_tokens_max=None,
        output_tokens_typical=None,
        cost_usd_max=cost,
        cost_usd_typical=cost,
        basis=(
            f"{fmt.duration_ms(math.ceil(billed_ms))} billed per call ({where}) × {fmt.count(settings.sagemaker_memory_mb)} MB at "
            f"{fmt.usd_per_unit(price.usd_per_gb_second, 'GB-second')} ({price.source}); not a bound: slow calls bill more"
        ),
    )


# ------------------------------------------------------------------------------------------------------ run


class Comparer(Protocol):
    """What run_bench needs of a Workbench (tests pass a stand-in)."""

    def load_image(self, data: bytes, name: str = "") -> images.SourceImage: ...

    def compare(
        self,
        image: images.SourceImage,
        target_ids: Sequence[str],
        prompt: str | None = None,
        *,
        source: str = ...,
        bench_id: str | None = None,
        expected: Sequence[str] = (),
    ) -> Run: ...


@dataclass(frozen=True)
class Progress:
    """Where a running benchmark is. `done` and `total` count comparisons (image x repeat); `ok` and `errors`
    count provider results; `failed` counts comparisons that produced no results at all (e.g. storage down).
    `eta_s` = elapsed / done x (total - done), None before the first comparison ends."""

    done: int
    total: int
    ok: int
    errors: int
    failed: int
    elapsed_s: float
    eta_s: float | None
    last_image: str | None
    cancelling: bool = False


class Slot(NamedTuple):
    """Which image and which repeat (1-based) a run of a benchmark was."""

    image: str
    repeat: int


@dataclass
class BenchOutcome:
    bench_id: str
    runs: list[Run]  # in plan order (repeat 1 of every image, then repeat 2, ...), not completion order
    cancelled: bool
    failures: list[str]  # one line per comparison that raised, with the image and repeat
    started_at: datetime
    wall_s: float
    slots: dict[str, Slot] = field(default_factory=dict)  # run_id -> image name and repeat
    planned: int = 0  # comparisons planned

    @property
    def all_ok(self) -> bool:
        return not self.cancelled and not self.failures and all(r.ok for run in self.runs for r in run.results)


def new_bench_id(now: datetime | None = None) -> str:
    return f"bench-{(now or datetime.now(timezone.utc)):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


def run_bench(
    workbench: Comparer,
    plan: BenchPlan,
    *,
    bench_id: str | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    cancel: threading.Event | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> BenchOutcome:
    """Run the plan: every image x repeat is one `workbench.compare` (which fans out to the providers), at most
    `plan.concurrency` of them at once, in plan order (each image once, then the next repeat).

    Every image is loaded once, before the first comparison; a bad one raises ImageError and nothing runs.
    `on_progress` is called in the thread that called run_bench, once per finished comparison, never
    concurrently. Setting `cancel` stops new comparisons from starting; running ones finish and are kept,
    and the outcome is marked cancelled. A comparison that raises becomes a line in `failures`; the others go on.
    """
    bench_id = bench_id or new_bench_id()
    cancel = cancel or threading.Event()
    started_at = datetime.now(timezone.utc)
    loaded = [workbench.load_image(image.data, image.name) for image in plan.images]
    slots = [Slot(image.name, repeat) for repeat in range(1, plan.repeat + 1) for image in plan.images]
    indexes = [index for _ in range(plan.repeat) for index in range(len(plan.images))]
    total = len(slots)

    def one(position: int) -> Run:
        image = plan.images[indexes[position]]
        return workbench.compare(
            loaded[indexes[position]],
            plan.providers,
            plan.prompt,
            source="bench",
            bench_id=bench_id,
            expected=image.expected,
        )

    finished: dict[int, Run] = {}
    failures: dict[int, str] = {}
    ok = errors = done = 0
    submitted = 0
    pending: dict[Future[Run], int] = {}
    t0 = clock()
    pool = ThreadPoolExecutor(max_workers=plan.concurrency, thread_name_prefix="mcv-bench")
    try:
        while True:
            # Submitting one at a time as slots free up is what makes cancel stop new work at once.
            while not cancel.is_set() and submitted < total and len(pending) < plan.concurrency:
                pending[pool.submit(one, submitted)] = submitted
                submitted += 1
            if not pending:
                break
            ended, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in sorted(ended, key=pending.__getitem__):
                position = pending.pop(future)
                slot = slots[position]
                try:
                    run = future.result()
                except MCVError as exc:
                    failures[position] = f"{slot.image}, repeat {slot.repeat}: {exc.user_text()}"
                except Exception as exc:  # a bug must not stop the other comparisons; it is logged in full
                    log.exception("comparison of %s failed unexpectedly", slot.image)
                    failures[position] = f"{slot.image}, repeat {slot.repeat}: {type(exc).__name__}: {exc}"
                else:
                    finished[position] = run
                    ok += sum(1 for r in run.results if r.ok)
                    errors += sum(1 for r in run.results if not r.ok)
                done += 1
                if on_progress is not None:
                    elapsed = clock() - t0
                    on_progress(
                        Progress(
                            done=done,
                            total=total,
                            ok=ok,
                            errors=errors,
                            failed=len(failures),
                            elapsed_s=elapsed,
                            eta_s=elapsed / done * (total - done),
                            last_image=slot.image,
                            cancelling=cancel.is_set(),
                        )
                    )
    finally:
        # Normally nothing is left; after an exception (a raising on_progress, Ctrl-C) running comparisons
        # finish on their own and store their results, nothing waits for them.
        pool.shutdown(wait=False, cancel_futures=True)
    runs = [finished[p] for p in sorted(finished)]
    return BenchOutcome(
        bench_id=bench_id,
        runs=runs,
        cancelled=submitted < total,
        failures=[failures[p] for p in sorted(failures)],
        started_at=started_at,
        wall_s=clock() - t0,
        slots={finished[p].run_id: slots[p] for p in sorted(finished)},
        planned=total,
    )


class BenchJob(BackgroundJob["Progress", "BenchOutcome"]):
    """run_bench in a background thread, for a page that polls (jobs.BackgroundJob):

        job = BenchJob(workbench, plan).start()
        ... job.progress, job.done, job.cancel() ...
        job.outcome (when done and it ran), job.error (when it could not run: e.g. an image failed to load)
    """

    def __init__(self, workbench: Comparer, plan: BenchPlan, *, bench_id: str | None = None) -> None:
        self.workbench = workbench
        self.plan = plan
        self.bench_id = bench_id or new_bench_id()

        def work(on_progress: Callable[[Progress], None], cancel: threading.Event) -> BenchOutcome:
            return run_bench(workbench, plan, bench_id=self.bench_id, on_progress=on_progress, cancel=cancel)

        super().__init__(f"benchmark {self.bench_id}", work, Progress(0, plan.comparisons, 0, 0, 0, 0.0, None, None))


# -------------------------------------------------------------------------------------------------- summary


def _percentile(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None  # numpy's default: linear interpolation


def summary(outcome: BenchOutcome) -> list[dict[str, Any]]:
    """Per target (`provider` and `target`: its id), in the order they ran: counts, latency percentiles, cost and
    accuracy.

    Latency (client wall time, ms) of ok results only. For a provider that reports cold starts, warm and
    cold calls are kept apart (p50_warm_ms, p95_warm_ms, p50_cold_ms, p95_cold_ms) and p50_ms/p95_ms are None;
    for the others p50_ms/p95_ms are set and the warm/cold ones None. accuracy = correct / n_scored, where
    n_scored counts results on labelled images (a failed call is scored as not correct).
    """
    by_provider: dict[str, list[Any]] = {}
    for run in outcome.runs:
        for result in run.results:
            by_provider.setdefault(result.provider, []).append(result)
    rows = []
    for provider, results in by_provider.items():
        ok = [r for r in results if r.ok]
        reports_cold = any(r.cold_start is not None for r in ok)
        latencies = [float(r.latency_ms) for r in ok if r.latency_ms is not None]
        warm = [float(r.latency_ms) for r in ok if r.latency_ms is not None and r.cold_start is False]
        cold = [float(r.latency_ms) for r in ok if r.latency_ms is not None and r.cold_start is True]
        costs = [float(r.cost_usd) for r in ok if r.cost_usd is not None]
        scored = [r for r in results if r.correct is not None]
        correct = sum(1 for r in scored if r.correct)
        models = [r.model for r in ok] or [r.model for r in results]
        rows.append(
            {
                "provider": provider,
                "target": provider,
                "model": Counter(models).most_common(1)[0][0] if models else None,
                "n": len(results),
                "ok": len(ok),
                "errors": len(results) - len(ok),
                "cold_starts": len(cold) if reports_cold else None,
                "p50_ms": None if reports_cold else _percentile(latencies, 50),
                "p95_ms": None if reports_cold else _percentile(latencies, 95),
                "p50_warm_ms": _percentile(warm, 50) if reports_cold else None,
                "p95_warm_ms": _percentile(warm, 95) if reports_cold else None,
                "p50_cold_ms": _percentile(cold, 50) if reports_cold else None,
                "p95_cold_ms": _percentile(cold, 95) if reports_cold else None,
                "mean_cost_usd": statistics.fmean(costs) if costs else None,
                "total_cost_usd": math.fsum(costs) if costs else None,
                "n_scored": len(scored),
                "correct": correct,
                "accuracy": correct / len(scored) if scored else None,
            }
        )
    return rows


def bench_json(outcome: BenchOutcome) -> dict[str, Any]:
    """The benchmark as one JSON document (what `bench --json` prints)."""
    results = []
    for run in outcome.runs:
        slot = outcome.slots.get(run.run_id, Slot(run.image.name, 1))
        for r in run.results:
            results.append(
                {
                    "run_id": run.run_id,
                    "bench_id": run.bench_id,
                    "image": slot.image,
                    "repeat": slot.repeat,
                    "expected": list(run.expected),
                    **r.to_json(),
                }
            )
    return {
        "bench_id": outcome.bench_id,
        "mode": "online",
        "started_at": outcome.started_at.isoformat(),
        "cancelled": outcome.cancelled,
        "wall_s": round(outcome.wall_s, 3),
        "planned": outcome.planned,
        "runs": len(outcome.runs),
        "failures": list(outcome.failures),
        "summary": summary(outcome),
        "results": results,
    }
