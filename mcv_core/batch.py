"""Batch benchmarks: a benchmark's calls as the services' own batch jobs, run on their fleets at their batch price.

A batch benchmark is the same plan as an online one (bench.BenchPlan: images x repeat x targets), with every
call written as one *record* of a job instead. Record `p` (0-based, plan order: every image once, then the next
repeat) is image `p mod n` of repeat `p div n + 1`, on every target alike; its record id is `R` and ten digits
(Bedrock wants 11 alphanumeric characters), and its results form the run `<bench time>-<bench hex>-<p>`, so a
result stored twice is the same item (History's writes are conditional: nothing is stored twice).

    bench = submit(workbench, plan)          # images to S3, records written, jobs created and recorded
    outcome = follow(workbench, bench.bench_id, on_progress=...)   # poll, collect each job as it ends, store
    cancel(workbench, bench_id)              # stop the jobs; what they finished is still collected

Per target, the records are split into jobs within the service's limits (services/*: BatchLimits); a set below
a service's minimum is refused before anything is written. What a benchmark is made of lives in two places:
its manifest in S3 (`batch/input/<bench_id>/manifest.json`: the images and the sizes each target was sent), and
its jobs in the table (`BATCH#<bench_id>`, History.save_batch), written as each job is created and as it
changes, so a closed app or terminal picks it up again (`follow` after a restart, `bench --resume`).

Each record's result is stored like an online one, with `mode` "batch" and the job's id, at the batch price of
its tokens (or, for a job billed as a whole, SageMaker Batch Transform's instance time, its share of the job's
bill: BatchState.cost_usd / the job's records); it has no latency of its own (the job's time to all results is
the benchmark's). A record the service reports as failed is an error result with the service's reason; a record
of a failed job that has no output line is an error result with the job's message; records a cancelled job never
reached have no result.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from . import images, scoring, stack
from .bench import BenchOutcome, BenchPlan, Slot, new_bench_id
from .errors import BatchJobFailed, MalformedResponseError, ProviderError, UsageError
from .history import bench_started
from .jobs import BackgroundJob
from .records import Label, ProviderResult, Reply, Run, StoredImage

if TYPE_CHECKING:
    from .services.base import BatchLimits, Service
    from .workbench import Workbench

log = logging.getLogger(__name__)

MODES = ("online", "batch")
POLL_S = {"local": 1.0, "cloud": 30.0}  # between two looks at a benchmark's jobs
SAVE_THREADS = 8


def record_id(position: int) -> str:
    return f"R{position:010d}"


def position_of(record: str) -> int | None:
    if len(record) == 11 and record[0] == "R" and record[1:].isdigit():
        return int(record[1:])
    return None


def run_id(bench_id: str, position: int) -> str:
    """The run of record `position`: the bench id's time and hex, then the position (time-ordered, unique)."""
    return f"{bench_id.removeprefix('bench-')}-{position:06d}"


# ----------------------------------------------------------------------------------------------- limits


def split(sizes: Sequence[int], limits: "BatchLimits") -> list[tuple[int, int]]:
    """Records (their line sizes in bytes, in order) -> jobs as (first, count), each within the limits: at most
    `max_records` records and `max_file_bytes` bytes, spread evenly over as few jobs as the limits allow (so no
    job falls below `min_records` when the whole set is above it). A record larger than a file may be, or a
    split that leaves a job below the minimum, is a UsageError that says why."""
    total = len(sizes)
    if total == 0:
        return []
    most = limits.max_record_bytes or limits.max_file_bytes
    too_big = [i for i, size in enumerate(sizes) if size > most]
    if too_big:
        what = "a batch record may be" if limits.max_record_bytes else "a batch file may hold"
        raise UsageError(f"record {too_big[0]} is {sizes[too_big[0]]:,} bytes, more than {what} ({most:,})")
    jobs = max(math.ceil(total / limits.max_records), math.ceil(sum(sizes) / limits.max_file_bytes))
    while True:
        share = math.ceil(total / jobs)
        parts: list[tuple[int, int]] = []
        first = 0
        while first < total:
            count = used = 0
            while first + count < total and count < share and used + sizes[first + count] <= limits.max_file_bytes:
                used += sizes[first + count]
                count += 1
            parts.append((first, count))
            first += count
        if len(parts) <= jobs or jobs >= total:
            break
        jobs = len(parts)  # uneven sizes: spread over the jobs the bytes need
    small = [count for _, count in parts if count < limits.min_records]
    if small:
        raise UsageError(
            f"split into {len(parts)} jobs by the service's size limits, one would hold {small[0]} records, below its minimum of {limits.min_records}",
            hint="send smaller images or more of them, or run online",
        )
    return parts


def check(workbench: "Workbench", plan: BenchPlan) -> list["Service"]:
    """The plan's targets, each able to run batch jobs and given enough records; UsageError (exit 2) otherwise."""
    chosen = [workbench.target(name) for name in plan.providers]
    records = plan.comparisons
    for service in chosen:
        limits = service.batch_limits
        if limits is None:
            raise UsageError(
                f"{service.title} ({service.service_title}) has no batch engine here",
                hint="batch benchmarks run on Amazon Bedrock, Azure OpenAI and SageMaker targets; run the others online",
            )
        if records < limits.min_records:
            raise UsageError(
                f"{service.service_title} batch jobs need at least {limits.min_records:,} records; this set has "
                f"{records:,} ({len(plan.images):,} images × {plan.repeat:,} repeats)",
                hint=f"run it online (--mode online) or add images or repeats to reach {limits.min_records:,} ({limits.source})",
            )
    return chosen


# -------------------------------------------------------------------------------------------------- state


@dataclass
class BatchJob:
    """One job of a batch benchmark: a target's records first .. first + count - 1, and what its service said."""

    target: str
    part: int
    job_id: str
    first: int
    count: int
    status: str = "Submitted"
    phase: str = "running"  # running, done, failed, cancelled (services/base.py: BatchState)
    completed: int | None = None
    failed: int | None = None
    message: str | None = None
    collected: bool = False  # its output has been read and its results stored
    submitted_at: str = ""
    ended_at: str | None = None
    cost_usd: float | None = None  # the job's own bill, where its service bills the job (BatchState.cost_usd)

    def where(self, bench_id: str) -> str:
        return f"{bench_id}/{self.target}/{self.part:03d}"


@dataclass
class BatchBench:
    """A batch benchmark: its plan's facts (the manifest) and its jobs."""

    bench_id: str
    created_at: datetime
    prompt: str
    targets: list[str]
    repeat: int
    images: list[dict[str, Any]]  # name, key, sha256, format, width, height, size_bytes, expected
    sent: dict[str, list[list[int]]]  # target -> per image, the [width, height] it was sent
    jobs: list[BatchJob] = field(default_factory=list)
    cancelled: bool = False

    @property
    def records(self) -> int:
        return len(self.images) * self.repeat

    @property
    def over(self) -> bool:
        return all(job.collected for job in self.jobs)

    def slot(self, position: int) -> Slot:
        return Slot(self.images[position % len(self.images)]["name"], position // len(self.images) + 1)

    def manifest(self) -> dict[str, Any]:
        return {
            "bench_id": self.bench_id,
            "created_at": self.created_at.isoformat(),
            "prompt": self.prompt,
            "targets": self.targets,
            "repeat": self.repeat,
            "images": self.images,
            "sent": self.sent,
        }

    def state(self) -> dict[str, Any]:
        """What the table keeps and changes (History.save_batch)."""
        return {
            "bench_id": self.bench_id,
            "created_at": self.created_at.isoformat(),
            "targets": self.targets,
            "records": self.records,
            "cancelled": self.cancelled,
            "over": self.over,
            "jobs": [asdict(job) for job in self.jobs],
        }

    @classmethod
    def from_parts(cls, manifest: Mapping[str, Any], state: Mapping[str, Any]) -> "BatchBench":
        return cls(
            bench_id=manifest["bench_id"],
            created_at=datetime.fromisoformat(manifest["created_at"]),
            prompt=manifest["prompt"],
            targets=list(manifest["targets"]),
            repeat=int(manifest["repeat"]),
            images=list(manifest["images"]),
            sent={k: list(v) for k, v in manifest["sent"].items()},
            jobs=[BatchJob(**job) for job in state.get("jobs", [])],
            cancelled=bool(state.get("cancelled")),
        )


def manifest_key(bench_id: str) -> str:
    return f"{stack.BATCH_INPUT_PREFIX}{bench_id}/manifest.json"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def save(workbench: "Workbench", bench: BatchBench) -> None:
    workbench.history.save_batch(bench.state())


def load(workbench: "Workbench", bench_id: str) -> BatchBench:
    """A batch benchmark as recorded (its manifest from S3, its jobs from the table); UsageError if unknown."""
    bench_started(bench_id)  # a malformed id is a UsageError before anything is read
    state = workbench.history.batch(bench_id)
    if state is None:
        raise UsageError(f"no batch benchmark {bench_id}", hint="`bench --mode batch` printed its bench_id (bench --json: \"bench_id\")")
    manifest = json.loads(workbench.store.read(manifest_key(bench_id)))
    return BatchBench.from_parts(manifest, state)


# ------------------------------------------------------------------------------------------------- submit


def submit(
    workbench: "Workbench", plan: BenchPlan, *, bench_id: str | None = None, on_note: Callable[[str], None] | None = None
) -> BatchBench:
    """Check the plan, store its images, write every target's records in its service's format, split them into
    jobs within the service's limits and create the jobs; each job is recorded as soon as it exists."""
    chosen = check(workbench, plan)
    bench_id = bench_id or new_bench_id()
    note = on_note or (lambda text: None)
    created = datetime.now(timezone.utc)
    loaded = [workbench.load_image(image.data, image.name) for image in plan.images]
    keys = [workbench.store.upload(source, created) for source in loaded]
    bench = BatchBench(
        bench_id=bench_id,
        created_at=created,
        prompt=plan.prompt or workbench.settings.default_prompt,
        targets=list(plan.providers),
        repeat=plan.repeat,
        images=[
            {**asdict(StoredImage.of(source)), "key": key, "expected": list(image.expected)}
            for source, key, image in zip(loaded, keys, plan.images)
        ],
        sent={},
    )
    lines_of: dict[str, list[bytes]] = {}
    for service in chosen:
        prepared = [images.prepare(source, service.image_spec) for source in loaded]
        bench.sent[service.name] = [[p.width, p.height] for p in prepared]
        per_image = [
            json.dumps(service.batch_line(record_id(0), picture, bench.prompt)).encode() for picture in prepared
        ]
        lines_of[service.name] = [
            per_image[p % len(loaded)].replace(b'"R0000000000"', json.dumps(record_id(p)).encode(), 1) + b"\n"
            for p in range(bench.records)
        ]
    workbench.store.put(manifest_key(bench_id), json.dumps(bench.manifest()).encode(), "application/json")
    save(workbench, bench)
    for service in chosen:
        lines = lines_of[service.name]
        assert service.batch_limits is not None
        parts = split([len(line) for line in lines], service.batch_limits)
        for part, (first, count) in enumerate(parts):
            job = BatchJob(service.name, part, "", first, count, submitted_at=_now())
            where = job.where(bench_id)
            job.job_id = service.batch_submit(where, where.replace("/", "-"), b"".join(lines[first : first + count]))
            bench.jobs.append(job)
            save(workbench, bench)
            note(f"{service.title}: job {job.job_id} created, {count:,} records")
    return bench


# ------------------------------------------------------------------------------------------------- follow


@dataclass(frozen=True)
class BatchProgress:
    """Where a batch benchmark is: records the services report finished (ok or failed) out of all, its jobs'
    statuses, and an ETA from the pace so far (None before any record is finished)."""

    done: int
    total: int
    failed: int
    jobs: tuple[tuple[str, str, int, int], ...]  # (target, status, finished records, records) per job
    elapsed_s: float
    eta_s: float | None
    cancelling: bool = False

    @property
    def statuses(self) -> str:
        counts: dict[str, int] = {}
        for _, status, _, _ in self.jobs:
            counts[status] = counts.get(status, 0) + 1
        return ", ".join(f"{n} {status}" for status, n in counts.items())


def progress(bench: BatchBench, elapsed_s: float, cancelling: bool = False) -> BatchProgress:
    rows = []
    done = failed = 0
    for job in bench.jobs:
        finished = job.count if job.collected else min(job.count, (job.completed or 0) + (job.failed or 0))
        rows.append((job.target, job.status, finished, job.count))
        done += finished
        failed += job.failed or 0
    total = bench.records * len(bench.targets)
    eta = elapsed_s / done * (total - done) if done else None
    return BatchProgress(done, total, failed, tuple(rows), elapsed_s, eta, cancelling)


def poll(workbench: "Workbench", bench: BatchBench) -> BatchBench:
    """Look at every job not yet collected; collect (read, join, store) each one that has ended."""
    for job in bench.jobs:
        if job.collected:
            continue
        service = workbench.target(job.target)
        state = service.batch_state(job.job_id)
        changed = (state.status, state.completed, state.failed) != (job.status, job.completed, job.failed)
        job.status, job.phase, job.message = state.status, state.phase, state.message
        job.completed, job.failed, job.cost_usd = state.completed, state.failed, state.cost_usd
        if state.over:
            # The service's own end time where it gives one: a job collected hours later ended when it ended.
            ended = state.ended_at.astimezone(timezone.utc).isoformat() if state.ended_at else _now()
            job.ended_at = job.ended_at or ended
            collect(workbench, bench, job, service)
            job.collected = True
            changed = True
        if changed:
            save(workbench, bench)
    return bench


def collect(workbench: "Workbench", bench: BatchBench, job: BatchJob, service: "Service") -> list[Run]:
    """Read an ended job's output, join it to the records on their ids and store one result per record."""
    outputs: dict[int, Reply | ProviderError] = {}
    for record, outcome in service.batch_outputs(job.job_id, job.where(bench.bench_id)):
        position = position_of(record)
        if position is None or not job.first <= position < job.first + job.count:
            log.warning("job %s returned record %r, which it was not given: left out", job.job_id, record)
            continue
        outputs.setdefault(position, outcome)  # a record reported twice counts once
    results: dict[int, ProviderResult] = {}
    for position in range(job.first, job.first + job.count):
        outcome = outputs.get(position)
        if outcome is None:
            if job.phase == "cancelled":
                continue  # never reached: not run, as a cancelled online benchmark's later comparisons
            if job.phase == "failed":
                outcome = BatchJobFailed(f"the batch job {job.status.lower()}" + (f": {job.message}" if job.message else ""))
            else:
                outcome = MalformedResponseError(f"the output of job {job.job_id} has no line for this record")
        results[position] = _result(bench, job, service, position, outcome)
    runs = [_run(bench, position, [result]) for position, result in sorted(results.items())]
    with ThreadPoolExecutor(max_workers=SAVE_THREADS, thread_name_prefix="mcv-batch-save") as pool:
        list(pool.map(workbench.history.save, runs))
    workbench.metrics.publish([result for run in runs for result in run.results])
    return runs


def _result(bench: BatchBench, job: BatchJob, service: "Service", position: int, outcome: Reply | ProviderError) -> ProviderResult:
    width, height = bench.sent[job.target][position % len(bench.images)]
    target = service.target
    common = {
        "provider": target.id,
        "service": target.service,
        "title": target.title,
        "mode": "batch",
        "job_id": job.job_id,
        "image_width": width,
        "image_height": height,
        "streamed": False,
    }
    if isinstance(outcome, ProviderError):
        return ProviderResult(model=service.model_id, status="error", error_type=outcome.kind, error=outcome.user_text(), **common)
    if job.cost_usd is not None:  # a job billed as a whole (its instances' time): each record its share
        cost: float | None = job.cost_usd / job.count
    else:
        cost = target.token_cost(outcome.input_tokens, outcome.output_tokens, batch=True)
    return ProviderResult(
        model=outcome.model,
        status="ok",
        output=outcome.output,
        labels=[Label(label.label, label.score) for label in outcome.labels],
        provider_latency_ms=outcome.provider_latency_ms,
        input_tokens=outcome.input_tokens,
        output_tokens=outcome.output_tokens,
        image_tokens=target.image_tokens(width, height),
        cost_usd=None if cost is None else round(cost, 12),
        **common,
    )


def _run(bench: BatchBench, position: int, results: list[ProviderResult]) -> Run:
    image = bench.images[position % len(bench.images)]
    expected = tuple(image.get("expected") or ())
    if expected:
        for result in results:
            result.correct = scoring.score(result.output, expected, result.ok)
    return Run(
        run_id=run_id(bench.bench_id, position),
        created_at=datetime.now(timezone.utc),  # when the result arrived: a past day's cached partition stays whole
        image=StoredImage(image["name"], image["format"], image["width"], image["height"], image["size_bytes"], image["sha256"]),
        prompt=bench.prompt,
        providers=list(bench.targets),
        source="bench",
        bench_id=bench.bench_id,
        expected=expected,
        image_key=image["key"],
        results=results,
    )


def follow(
    workbench: "Workbench",
    bench: BatchBench,
    *,
    on_progress: Callable[[BatchProgress], None] | None = None,
    stop: threading.Event | None = None,
    cancel_asked: threading.Event | None = None,
    interval_s: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> BatchBench:
    """Poll until every job is collected, or until `stop` is set (the jobs go on in the cloud; `follow` again,
    from any process, picks them up). Once `cancel_asked` is set the jobs are cancelled, and followed until
    what they finished is collected. `on_progress` after every look, on this thread."""
    stop = stop or threading.Event()
    interval = POLL_S["local" if workbench.settings.is_local else "cloud"] if interval_s is None else interval_s
    started = clock()
    while True:
        if cancel_asked is not None and cancel_asked.is_set() and not bench.cancelled:
            cancel(workbench, bench)
        poll(workbench, bench)
        if on_progress is not None:
            on_progress(progress(bench, clock() - started, bench.cancelled))
        if bench.over or stop.wait(interval):
            return bench


class BatchRun(BackgroundJob[BatchProgress, BenchOutcome]):
    """A batch benchmark in a background thread, for a page that polls (jobs.BackgroundJob; the Benchmark page
    does not offer batch yet): submitted (unless
    `bench` is one already recorded, to resume), then followed to its end; `cancel()` cancels its jobs."""

    def __init__(self, workbench: "Workbench", plan: BenchPlan | None = None, *, bench: BatchBench | None = None) -> None:
        if (plan is None) == (bench is None):
            raise ValueError("a plan to submit, or a recorded benchmark to resume")
        self.bench_id = bench.bench_id if bench is not None else new_bench_id()

        def work(on_progress: Callable[[BatchProgress], None], cancel_asked: threading.Event) -> BenchOutcome:
            started = time.monotonic()
            followed = bench or submit(workbench, plan, bench_id=self.bench_id)  # type: ignore[arg-type]
            follow(workbench, followed, on_progress=on_progress, cancel_asked=cancel_asked)
            return outcome(workbench, followed, time.monotonic() - started)

        total = (bench.records * len(bench.targets)) if bench else plan.calls  # type: ignore[union-attr]
        super().__init__(f"batch {self.bench_id}", work, BatchProgress(0, total, 0, (), 0.0, None))


def cancel(workbench: "Workbench", bench: BatchBench) -> BatchBench:
    """Stop every job still running (StopModelInvocationJob, batches.cancel, StopTransformJob); recorded, so a
    resume collects what the jobs finished and stores nothing they did not."""
    bench.cancelled = True
    save(workbench, bench)
    for job in bench.jobs:
        if not job.collected and job.phase == "running":
            workbench.target(job.target).batch_cancel(job.job_id)
    return bench


# ------------------------------------------------------------------------------------------------ outcome


def outcome(workbench: "Workbench", bench: BatchBench, wall_s: float) -> BenchOutcome:
    """The benchmark as bench.BenchOutcome, from what history holds of it (whichever process stored it), so
    `bench --json` reads the same after a resume as after one uninterrupted run."""
    items = workbench.history.select(bench_id=bench.bench_id)
    by_run: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        if item.get("mode") == "batch":
            by_run.setdefault(str(item["run_id"]), []).append(item)
    prefix = bench.bench_id.removeprefix("bench-") + "-"
    runs: list[tuple[int, Run]] = []
    for rid, found in by_run.items():
        position = int(rid.removeprefix(prefix)) if rid.startswith(prefix) and rid[len(prefix):].isdigit() else None
        if position is None or position >= bench.records:
            continue
        order = {name: i for i, name in enumerate(bench.targets)}
        results = [_stored_result(item) for item in sorted(found, key=lambda i: order.get(str(i["provider"]), len(order)))]
        run = _run(bench, position, results)
        run.run_id = rid
        run.created_at = datetime.fromisoformat(str(min(item["created_at"] for item in found)))
        runs.append((position, run))
    runs.sort(key=lambda pair: pair[0])
    ended = any(job.phase == "cancelled" for job in bench.jobs) or bench.cancelled
    return BenchOutcome(
        bench_id=bench.bench_id,
        runs=[run for _, run in runs],
        cancelled=ended,
        failures=[f"{job.target}: job {job.job_id} {job.status}: {job.message}" for job in bench.jobs if job.phase == "failed"],
        started_at=bench.created_at,
        wall_s=wall_s,
        slots={run.run_id: bench.slot(position) for position, run in runs},
        planned=bench.records,
    )


def _stored_result(item: Mapping[str, Any]) -> ProviderResult:
    data = dict(item)
    data["image_width"], data["image_height"] = item.get("sent_width"), item.get("sent_height")
    return ProviderResult.from_dict(data)


def time_to_all_results_s(bench: BatchBench) -> float | None:
    """From the first job's creation to the last job's end: what a batch benchmark's latency is."""
    starts = [job.submitted_at for job in bench.jobs if job.submitted_at]
    ends = [job.ended_at for job in bench.jobs if job.ended_at]
    if not starts or len(ends) < len(bench.jobs):
        return None
    return (datetime.fromisoformat(max(ends)) - datetime.fromisoformat(min(starts))).total_seconds()


def in_flight(workbench: "Workbench", days: int = 8) -> list[dict[str, Any]]:
    """Batch benchmarks of the last `days` (a Bedrock job may run 7 days) whose jobs are not all collected."""
    return [state for state in workbench.history.batches(days) if not state.get("over")]


def bench_json(bench: BatchBench, outcome: BenchOutcome) -> dict[str, Any]:
    """`bench --json` of a batch benchmark: the online document's keys, with its mode, jobs and time to all results."""
    from .bench import bench_json as online_json

    return {
        **online_json(outcome),
        "mode": "batch",
        "over": bench.over,
        "time_to_all_results_s": time_to_all_results_s(bench),
        "jobs": [asdict(job) for job in bench.jobs],
    }
