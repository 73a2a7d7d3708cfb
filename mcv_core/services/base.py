"""The service contract.

A service is how we reach models: its SDK client, authentication, request and response conversion (pure
functions in its module, tested offline) and error mapping. One class per service, registered by its name
(`@register`); it is bound to one *target* (targets.py: a model on that service, with an id) per object:

    service = registry.bind(target, settings, clients)
    reply = service.call(prepared_image, prompt)      # raises ProviderError subclasses (mcv_core.errors)
    reply = service.call(prepared_image, prompt, on_text=print)   # a service that streams: each text delta

A service that can stream (`streams = True`) does when `streaming` says so (MCV_STREAM, and the target's own
`stream` option); it then times the answer (timing.StreamTimer) and calls `on_text(delta)` from the calling
thread as each piece of text arrives. A stream that stops after its first text raises errors.StreamCutError
with the text received so far.

What a model needs (its image, its image tokens, its price) comes from the target's model family; what a
service knows of itself (its catalogue fields, its default concurrency, genai-prices' name for it, its health
probe) lives on its class. The runner turns every outcome into a `ProviderResult` (records.py).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, ClassVar

from ..clients import Clients
from ..config import Settings
from ..errors import ProviderError, UsageError
from ..images import ImageSpec, PreparedImage
from ..records import Reply

if TYPE_CHECKING:
    from ..targets import Target

# botocore's standard mode and openai back off at most a few seconds between attempts at our attempt counts.
RETRY_BACKOFF_ALLOWANCE_S = 10.0
HEALTH_PROMPT = "ping"  # a probe sends this with a one-token answer: the cheapest real call


@dataclass(frozen=True)
class BatchLimits:
    """What one batch job of a service may hold (the service's published quotas; `source` says where)."""

    min_records: int
    max_records: int
    max_file_bytes: int  # the job's input file (one per job here); one object per record: all of the job's records
    source: str
    max_record_bytes: int | None = None  # one record's own limit, where the service has one; None: max_file_bytes


@dataclass(frozen=True)
class BatchState:
    """A batch job as its service reports it: its own status word, and the phase that word means here
    (`running`, `done`, `failed` or `cancelled`), with the service's record counts where it gives them."""

    job_id: str
    status: str
    phase: str
    total: int | None = None
    completed: int | None = None
    failed: int | None = None
    message: str | None = None
    # What the whole job is billed where the service bills the job rather than its records' tokens (SageMaker
    # Batch Transform: its instances' time, known once it has ended); each of its results is billed its share.
    cost_usd: float | None = None
    # When the job ended, by the service's own clock (None while it runs, or where the service does not say).
    ended_at: datetime | None = None

    @property
    def over(self) -> bool:
        return self.phase != "running"


# A record of a batch job's output: its record id and the reply, or the error the service reported for it.
BatchOutput = tuple[str, Reply | ProviderError]


class Service(ABC):
    """Base of every service. Subclasses register themselves with `@register`; one object per target."""

    service: ClassVar[str]  # registry key, the catalogue's `service`
    service_title: ClassVar[str]  # shown in the UI
    cloud: ClassVar[str]  # "aws", "azure" or "openai"
    price_provider: ClassVar[str | None] = None  # genai-prices' provider id; None: not priced per token
    default_concurrency: ClassVar[int] = 8  # calls in flight at once per process (MCV_CONCURRENCY_<TARGET>)
    required_fields: ClassVar[tuple[str, ...]] = ("model",)  # catalogue fields a target of this service needs
    field_help: ClassVar[dict[str, str]] = {}  # what to write for each of them
    probe_checks: ClassVar[str] = "answers a one-token request"  # what the health check looks at
    local_part: ClassVar[str] = "local_emulator"  # the local cloud's check this one needs first (in local mode)
    streams: ClassVar[bool] = False  # can stream its answer (call takes on_text)
    log_group_prefix: ClassVar[str | None] = None  # CloudWatch log group of a model: this + its model_id; None: none
    batch_limits: ClassVar[BatchLimits | None] = None  # None: no batch engine of this service is supported here

    def __init__(self, target: "Target", settings: Settings, clients: Clients) -> None:
        self.target = target
        self.settings = settings
        self.clients = clients
        # Calls in flight at once through this target (one object per workbench, so per process): a burst of
        # comparisons waits here instead of being throttled by the service.
        self.concurrency = settings.concurrency_for(target.id, self.default_concurrency)
        self.slots = threading.BoundedSemaphore(self.concurrency)

    @property
    def name(self) -> str:
        """The target id: the key in history, on the command line and in settings."""
        return self.target.id

    @property
    def title(self) -> str:
        return self.target.title

    @property
    def timeout_s(self) -> float:
        """Timeout of one attempt (the SDK's read timeout)."""
        return self.settings.timeout_for(self.name)

    @property
    def deadline_s(self) -> float:
        """How long a whole call may take: every attempt at its timeout, plus the SDKs' backoff between them."""
        return self.timeout_s * self.settings.max_attempts + RETRY_BACKOFF_ALLOWANCE_S

    @property
    def image_spec(self) -> ImageSpec:
        """The image this target's model wants; the runner prepares it in the target's own thread."""
        return self.target.image_spec

    @property
    def max_output_tokens(self) -> int:
        return self.target.max_output_tokens or self.settings.max_output_tokens

    @property
    def temperature(self) -> float:
        return 0.0 if self.target.temperature is None else self.target.temperature

    @property
    def streaming(self) -> bool:
        """Whether calls stream: the service can, MCV_STREAM is on and the target does not say `stream = false`."""
        return self.streams and self.settings.stream and self.target.stream is not False

    @property
    @abstractmethod
    def model_id(self) -> str:
        """The model as the service is asked for it (endpoint name, model id, deployment, model name)."""

    @abstractmethod
    def call(self, image: PreparedImage, prompt: str, on_text: Callable[[str], None] | None = None) -> Reply:
        """One call; raises a ProviderError subclass on failure. A service that streams calls `on_text(delta)`
        with each text delta as it arrives (services that do not stream are called without it)."""

    def cost(self, reply: Reply) -> float | None:
        """What the call cost in USD, or None when it cannot be known (a model without a price)."""
        return self.target.token_cost(reply.input_tokens, reply.output_tokens)

    @property
    def probe_needs(self) -> tuple[str, ...]:
        """The local cloud's checks that must pass before this target is probed (none outside local mode)."""
        return (self.local_part,) if self.settings.is_local and self.local_part else ()

    @abstractmethod
    def probe(self, timeout: float) -> tuple[str, dict[str, Any]]:
        """The health check: the cheapest real request, one attempt within `timeout`. Returns (what was found,
        facts); raises errors.CheckFailed with the fix when it fails."""

    # --- batch jobs (services with `batch_limits`): a job's records in the service's own format, run by the
    # service on its own fleet; `where` names the job's place (its S3 prefixes: <bench_id>/<target>/<part>).
    def _no_batch(self) -> UsageError:
        return UsageError(
            f"target {self.name!r} ({self.service_title}) cannot run batch jobs here",
            hint="run it online, or choose Amazon Bedrock, Azure OpenAI or SageMaker targets for a batch benchmark",
        )

    def batch_line(self, record_id: str, image: PreparedImage, prompt: str) -> dict[str, Any]:
        """One record of a job's input file, in the service's batch format."""
        raise self._no_batch()

    def batch_submit(self, where: str, name: str, lines: bytes) -> str:
        """Upload the job's input (its records, one `batch_line` per line: one file, or one object per record
        where the service reads a prefix) and create the job; returns the job's id. Submitting the same `name`
        again creates no second job where the service takes an idempotency token or a unique name."""
        raise self._no_batch()

    def batch_state(self, job_id: str) -> BatchState:
        raise self._no_batch()

    def batch_cancel(self, job_id: str) -> None:
        raise self._no_batch()

    def batch_outputs(self, job_id: str, where: str) -> list[BatchOutput]:
        """Every record the job's output holds, answered or failed, in the order the service wrote them."""
        raise self._no_batch()

    batch_probe_checks: ClassVar[str] = ""  # what the batch health check looks at ("" with no batch engine)

    def batch_probe(self, timeout: float) -> tuple[str, dict[str, Any]]:
        """The batch health check: what this target's batch jobs need besides the service itself (a role, a
        deployment), read without running a job, one attempt within `timeout`. Returns (what was found, facts);
        raises errors.CheckFailed with the fix."""
        raise self._no_batch()
