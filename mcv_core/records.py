"""The records the core passes around: a call's reply, a target's result, a comparison (run), how it was saved.

They live here, apart from the modules that make them (services, runner, history), so that none of those has
to import another to name them.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

from .images import SourceImage


@dataclass(frozen=True)
class Label:
    label: str
    score: float


@dataclass(frozen=True)
class Reply:
    """What one successful call returned, in the service's own terms."""

    output: str
    model: str
    labels: tuple[Label, ...] = ()
    input_tokens: int | None = None
    output_tokens: int | None = None
    image_tokens: int | None = None
    provider_latency_ms: float | None = None  # the service's own timing, when it reports one
    cold_start: bool | None = None
    attempts: int = 1
    timings: dict[str, float] = field(default_factory=dict)
    ttft_ms: float | None = None  # streamed calls: request sent -> first text (timing.py)
    output_tokens_per_s: float | None = None  # streamed calls: output tokens after the first / time after it
    streamed: bool = False


@dataclass(frozen=True)
class TextDelta:
    """A streamed answer growing: `text` is all the text of `provider` (a target id) so far, `ttft_ms` when its
    first text arrived, counted from the start of the call (the result's own ttft_ms, taken just before the SDK
    call, is the exact figure)."""

    provider: str
    text: str
    ttft_ms: float


@dataclass
class ProviderResult:
    """One target's outcome on one image: what history stores and every view shows.

    `provider` is the target id (the name the command line and history have always used for it); `service`
    and `title` are stored with it, so a target that has left the catalogue still shows as it was."""

    provider: str
    model: str
    status: str  # "ok" or "error"
    service: str | None = None
    title: str | None = None
    output: str = ""
    labels: list[Label] = field(default_factory=list)
    latency_ms: float | None = None  # client wall time of the call, retries included
    provider_latency_ms: float | None = None  # the service's own time, where it reports one
    ttft_ms: float | None = None  # streamed: request sent -> first text; None when not streamed (never estimated)
    output_tokens_per_s: float | None = None  # streamed: (output tokens - 1) / (first text -> end of stream)
    streamed: bool | None = None  # True streamed, False called without streaming, None never called
    cold_start: bool | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    image_tokens: int | None = None
    cost_usd: float | None = None
    attempts: int = 1
    error_type: str | None = None
    error: str | None = None
    timings: dict[str, float] = field(default_factory=dict)  # queue_ms, prepare_ms, service_ms, network_ms (anatomy) and the service's own
    image_width: int | None = None  # the size the target was sent
    image_height: int | None = None
    correct: bool | None = None  # on a labelled image: did the answer name what it shows
    mode: str = "online"  # "online" (a call) or "batch" (a record of a batch job: no latency of its own)
    job_id: str | None = None  # batch: the service's job id

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_json(self) -> dict[str, Any]:
        """The result as the command line prints it (`compare --json`, `bench --json`)."""
        return {
            "provider": self.provider,
            "target": self.provider,
            "service": self.service,
            "title": self.title,
            "model": self.model,
            "status": self.status,
            "output": self.output,
            "labels": [asdict(label) for label in self.labels],
            "latency_ms": self.latency_ms,
            "provider_latency_ms": self.provider_latency_ms,
            "ttft_ms": self.ttft_ms,
            "output_tokens_per_s": self.output_tokens_per_s,
            "streamed": self.streamed,
            "cold_start": self.cold_start,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "image_tokens": self.image_tokens,
            "cost_usd": self.cost_usd,
            "sent_width": self.image_width,
            "sent_height": self.image_height,
            "attempts": self.attempts,
            "correct": self.correct,
            "error_type": self.error_type,
            "error": self.error,
            "timings": dict(self.timings),
            "mode": self.mode,
            "job_id": self.job_id,
        }

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["labels"] = [asdict(label) for label in self.labels]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ProviderResult":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["labels"] = [Label(**label) if isinstance(label, dict) else label for label in known.get("labels") or []]
        return cls(**known)


ANATOMY = ("queue_ms", "prepare_ms", "service_ms", "network_ms")


def anatomy(result: "ProviderResult | Mapping[str, Any]") -> dict[str, float]:
    """Where one call's time went, in ms, in this order: waiting for a slot (`queue_ms`), preparing the image
    (`prepare_ms`), the service's own time where it reports one (`service_ms`: provider_latency_ms), and the rest
    of the call (`network_ms`: latency_ms less service_ms — network and client). A part that is not known is left
    out, never guessed. Takes a ProviderResult or a stored result item (a dict)."""
    if isinstance(result, ProviderResult):
        timings, latency, service = result.timings, result.latency_ms, result.provider_latency_ms
    else:
        timings, latency, service = result.get("timings") or {}, result.get("latency_ms"), result.get("provider_latency_ms")
    parts: dict[str, float] = {}
    for name in ("queue_ms", "prepare_ms"):
        value = _number(timings.get(name)) if isinstance(timings, Mapping) else None
        if value is not None:
            parts[name] = value
    latency, service = _number(latency), _number(service)
    if service is not None:
        parts["service_ms"] = service
    if latency is not None:
        # The service's clock and ours differ: a service time a little above our whole call leaves no rest, not a negative one.
        parts["network_ms"] = round(max(0.0, latency - (service or 0.0)), 3)
    return parts


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return None
    return float(value)


@dataclass(frozen=True)
class SaveOutcome:
    """How History.save kept a run: written to the table (`stored`), or kept in the local outbox (`deferred`)
    because the table could not be written (`error` says why; `outbox_path` is the run's file)."""

    stored: bool
    deferred: bool
    outbox_path: Path | None = None
    error: str | None = None


@dataclass(frozen=True)
class StoredImage:
    """The facts of an image already in S3 that a run's items carry (a batch benchmark's results are stored
    long after the image was loaded, maybe by another process): as SourceImage has them, without the pixels."""

    name: str
    format: str
    width: int
    height: int
    size_bytes: int
    sha256: str

    @classmethod
    def of(cls, image: SourceImage) -> "StoredImage":
        return cls(image.name, image.format, image.width, image.height, image.size_bytes, image.sha256)


@dataclass
class Run:
    """One comparison: one image, several targets (`providers` holds their ids)."""

    run_id: str
    created_at: datetime
    image: SourceImage | StoredImage
    prompt: str
    providers: list[str]
    source: str = "cli"  # ui, cli, bench or sweep
    bench_id: str | None = None
    sweep_id: str | None = None  # a concurrency sweep's requests (sweep.py), with the level they ran at
    concurrency: int | None = None
    expected: tuple[str, ...] = ()  # labels the image is known to show (labelled benchmark sets)
    image_key: str | None = None  # S3 key, once uploaded
    results: list[ProviderResult] = field(default_factory=list)
    wall_ms: float | None = None
    saved: SaveOutcome | None = None  # how history kept the results (set by Workbench.compare)

    @property
    def deferred(self) -> bool:
        """True when the results wait in the local outbox: the table could not be written."""
        return self.saved is not None and self.saved.deferred

    @classmethod
    def new(cls, image: SourceImage, prompt: str, providers: Sequence[str], **kwargs: object) -> "Run":
        return cls(
            run_id=new_run_id(),
            created_at=datetime.now(timezone.utc),
            image=image,
            prompt=prompt,
            providers=list(providers),
            **kwargs,  # type: ignore[arg-type]
        )


def new_run_id() -> str:
    # Time-ordered and unique: sorts by creation in listings, no coordination needed.
    return f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:10]}"
