"""The provider contract.

A provider is one small class: what it is (`name`, `title`, `cloud`), which image it wants (`image_spec`), how
to call it (`call`), and what a call costs (`cost`). Request building and response parsing are pure functions
in each provider's module, tested offline. Providers raise `ProviderError` subclasses (mcv_core.errors); the
runner turns every outcome into a `ProviderResult`.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from ..clients import Clients
from ..config import Settings
from ..images import ImageSpec, PreparedImage


# botocore's standard mode and openai back off at most a few seconds between attempts at our attempt counts.
RETRY_BACKOFF_ALLOWANCE_S = 10.0


@dataclass(frozen=True)
class Label:
    label: str
    score: float


@dataclass(frozen=True)
class Reply:
    """What one successful call returned, in the provider's own terms."""

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
    """One provider's outcome on one image: what history stores and every view shows."""

    provider: str
    model: str
    status: str  # "ok" or "error"
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
    image_width: int | None = None  # the size the provider was sent
    image_height: int | None = None
    correct: bool | None = None  # on a labelled image: did the answer name what it shows

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_json(self) -> dict[str, Any]:
        """The result as the command line prints it (`compare --json`, `bench --json`)."""
        return {
            "provider": self.provider,
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


class Provider(ABC):
    """Base of every provider. Subclasses register themselves with `@register`."""

    name: ClassVar[str]  # registry key, as used in --providers and history
    title: ClassVar[str]  # shown in the UI
    cloud: ClassVar[str]  # "aws" or "azure"

    def __init__(self, settings: Settings, clients: Clients) -> None:
        self.settings = settings
        self.clients = clients
        # Calls in flight at once through this provider object (one per workbench, so per process): a burst of
        # comparisons waits here instead of being throttled by the service.
        self.concurrency = settings.concurrency_for(self.name)
        self.slots = threading.BoundedSemaphore(self.concurrency)

    @property
    def timeout_s(self) -> float:
        """Timeout of one attempt (the SDK's read timeout)."""
        return self.settings.timeout_for(self.name)

    @property
    def deadline_s(self) -> float:
        """How long a whole call may take: every attempt at its timeout, plus the SDKs' backoff between them."""
        return self.timeout_s * self.settings.max_attempts + RETRY_BACKOFF_ALLOWANCE_S

    @property
    @abstractmethod
    def model_id(self) -> str:
        """The model as configured (endpoint name, model id, deployment)."""

    @property
    @abstractmethod
    def image_spec(self) -> ImageSpec:
        """The image this provider wants; the runner prepares it in the provider's own thread."""

    @abstractmethod
    def call(self, image: PreparedImage, prompt: str) -> Reply:
        """One call; raises a ProviderError subclass on failure."""

    @abstractmethod
    def cost(self, reply: Reply) -> float | None:
        """What the call cost in USD, or None when it cannot be known."""
