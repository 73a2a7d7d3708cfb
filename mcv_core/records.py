"""The records the core passes around: a call's reply, a target's result, a comparison (run), how it was saved.

They live here, apart from the modules that make them (services, runner, history), so that none of those has
to import another to name them.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

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
    provider_latency_ms: float | None = None
    cold_start: bool | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    image_tokens: int | None = None
    cost_usd: float | None = None
    attempts: int = 1
    error_type: str | None = None
    error: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    image_width: int | None = None  # the size the target was sent
    image_height: int | None = None
    correct: bool | None = None  # on a labelled image: did the answer name what it shows

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


@dataclass(frozen=True)
class SaveOutcome:
    """How History.save kept a run: written to the table (`stored`), or kept in the local outbox (`deferred`)
    because the table could not be written (`error` says why; `outbox_path` is the run's file)."""

    stored: bool
    deferred: bool
    outbox_path: Path | None = None
    error: str | None = None


@dataclass
class Run:
    """One comparison: one image, several targets (`providers` holds their ids)."""

    run_id: str
    created_at: datetime
    image: SourceImage
    prompt: str
    providers: list[str]
    source: str = "cli"  # ui, cli or bench
    bench_id: str | None = None
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
