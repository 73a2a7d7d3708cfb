"""Metrics from every result, published to CloudWatch in our own namespace, off the caller's thread.

What each result publishes (`datums`), with two dimension sets: {Target, Service} (alarms per target) and the
rollup {Service} (one per service). CloudWatch bills per metric (name + dimension set), so there are no others.

  online result   Latency     Milliseconds  ok results only: a failure's time (a fast 429, a 60 s timeout) is not
                                            an answer's, and Errors counts it
                  TTFT        Milliseconds  ok streamed results only (ttft_ms is never estimated)
                  Errors      Count 0/1     every result: Average is the error rate, SampleCount the requests
                  Throttles   Count 0/1     every result (error_type "throttled"): Average is the throttle rate
                  ColdStarts  Count 0/1     where the service reports it (cold_start not None: SageMaker)
                  Cost        None (USD)    where the price is known; Sum is the spend
  batch result    Cost        None (USD)    spend is spend, whichever mode
  (mode "batch")  BatchErrors Count 0/1     a record a job failed. Not Errors: a job's records arrive in bulk, hours
                                            after the job ran, and would move the online error-rate alarms with
                                            stale, bunched data. No Latency, TTFT or ColdStarts: a record has no
                                            call of its own (its job's time is not its latency), and no Throttles.

Why PutMetricData and not the embedded metric format: the app runs anywhere (Streamlit, the command line, a
laptop), not in Lambda, so nothing ships its logs to CloudWatch Logs where EMF would be turned into metrics.

`MetricsPublisher.publish(results)` only turns results into datums and appends them to a bounded queue: it never
blocks on the network and never raises. A daemon thread sends them with `put_metric_data` in batches within the
API's limits (at most 1,000 metrics and 1 MB per request: the PutMetricData API reference, and botocore's
cloudwatch service model, 2010-08-01), retried by botocore alone. When CloudWatch cannot be reached the batch
goes back to the queue, the outage is logged once, and the sender backs off; a full queue drops its oldest
metrics and counts them. Metrics only: results are saved by history.py before they are published, and nothing
here touches them.
"""

from __future__ import annotations

import atexit
import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence
from urllib.parse import quote

import botocore.exceptions as bce

from . import stack
from .errors import MCVError, ThrottledError
from .records import ProviderResult

if TYPE_CHECKING:
    from .clients import Clients

log = logging.getLogger(__name__)

NAMESPACE = stack.METRICS_NAMESPACE

LATENCY = "Latency"
TTFT = "TTFT"
ERRORS = "Errors"
THROTTLES = "Throttles"
COLD_STARTS = "ColdStarts"
COST = "Cost"
BATCH_ERRORS = "BatchErrors"

TARGET = "Target"
SERVICE = "Service"
UNKNOWN_SERVICE = "unknown"  # results stored before services were recorded have none

# PutMetricData's limits (API reference: "Each PutMetricData request is limited to 1 MB in size for HTTP POST
# requests ... no more than 1000 different metrics"; values within -2^360..2^360, no NaN or infinity; time
# stamps at most two weeks old). 1 MB is taken as 10^6 bytes, the smaller reading.
MAX_DATUMS_PER_CALL = 1000
MAX_REQUEST_BYTES = 1_000_000
REQUEST_OVERHEAD_BYTES = 512  # Action, Version, Namespace and the JSON or query framing around the datums
MAX_VALUE = 2.0**360
MAX_AGE = timedelta(days=14) - timedelta(hours=1)  # an hour short of the limit, for clocks and the time in flight

# The sender: how long a first datum waits for others to share its call, the queue's bound (about 800 results
# of a dozen datums each, a few MB), botocore's budget per call and the backoff while CloudWatch is away.
LINGER_S = 1.0
MAX_QUEUED = 10_000
CALL_TIMEOUT_S = 5.0
CALL_ATTEMPTS = 3
BACKOFF_S = (1.0, 60.0)
EXIT_FLUSH_S = 2.0  # what a process that never called close() gives its last metrics at exit

# CloudWatch refusing the data itself (sending it again cannot help): the batch is dropped, not kept.
_DATA_ERRORS = frozenset(
    {
        "InvalidParameterValue",
        "InvalidParameterValueException",
        "InvalidParameterCombination",
        "InvalidParameterCombinationException",
        "MissingParameter",
        "MissingRequiredParameterException",
    }
)


# ------------------------------------------------------------------------------------------------ datums


def _dimensions(target: str, service: str) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    per_target = [{"Name": TARGET, "Value": target}, {"Name": SERVICE, "Value": service}]
    return per_target, [{"Name": SERVICE, "Value": service}]


def _usable(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and abs(value) <= MAX_VALUE
    )


def datums(result: ProviderResult, at: datetime | None = None) -> list[dict[str, Any]]:
    """The MetricData entries (boto3's put_metric_data shape) of one result, stamped `at` (default: now, UTC).
    Each metric comes twice: per target ({Target, Service}) and rolled up per service ({Service})."""
    at = at or datetime.now(timezone.utc)
    if at.tzinfo is None:  # naive means UTC, as everywhere in the core
        at = at.replace(tzinfo=timezone.utc)
    per_target, per_service = _dimensions(result.provider, result.service or UNKNOWN_SERVICE)
    values: list[tuple[str, float, str]] = []
    if result.mode == "batch":
        values.append((BATCH_ERRORS, 0.0 if result.ok else 1.0, "Count"))
    else:
        if result.ok and _usable(result.latency_ms):
            values.append((LATENCY, float(result.latency_ms), "Milliseconds"))  # type: ignore[arg-type]
        if result.ok and _usable(result.ttft_ms):
            values.append((TTFT, float(result.ttft_ms), "Milliseconds"))  # type: ignore[arg-type]
        values.append((ERRORS, 0.0 if result.ok else 1.0, "Count"))
        values.append((THROTTLES, 1.0 if result.error_type == ThrottledError.kind else 0.0, "Count"))
        if result.cold_start is not None:
            values.append((COLD_STARTS, 1.0 if result.cold_start else 0.0, "Count"))
    if _usable(result.cost_usd):
        values.append((COST, float(result.cost_usd), "None"))  # type: ignore[arg-type]
    out: list[dict[str, Any]] = []
    for name, value, unit in values:
        for dimensions in (per_target, per_service):
            out.append({"MetricName": name, "Dimensions": dimensions, "Timestamp": at, "Value": value, "Unit": unit})
    return out


def _encoded(text: str) -> int:
    return len(quote(text, safe="-_.~"))


def request_bytes(datum: dict[str, Any]) -> int:
    """An upper bound of the bytes one datum adds to a PutMetricData request, whichever protocol botocore picks
    for CloudWatch (query, JSON or CBOR): its query-protocol form, the longest, e.g.
    `MetricData.member.1000.Dimensions.member.1.Value=<url-encoded value>&`, with the widest index."""
    prefix = len("MetricData.member.1000.")
    size = 0
    for key, value in datum.items():
        if key == "Dimensions":
            for n, dimension in enumerate(value, start=1):
                for part in ("Name", "Value"):
                    size += prefix + len(f"Dimensions.member.{n}.{part}") + 2 + _encoded(str(dimension[part]))
        elif key == "Timestamp":
            size += prefix + len(key) + 2 + len("2026-12-06T02%3A58%3A11.123456Z")
        else:
            size += prefix + len(key) + 2 + max(_encoded(str(value)), 24)  # a float's repr is at most 24 characters
    return size


def batches(items: Sequence[dict[str, Any]], max_datums: int = MAX_DATUMS_PER_CALL,
            max_bytes: int = MAX_REQUEST_BYTES) -> list[list[dict[str, Any]]]:
    """`items` in order, cut into requests of at most `max_datums` datums and `max_bytes` bytes each."""
    out: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    size = REQUEST_OVERHEAD_BYTES
    for datum in items:
        cost = request_bytes(datum)
        if current and (len(current) >= max_datums or size + cost > max_bytes):
            out.append(current)
            current, size = [], REQUEST_OVERHEAD_BYTES
        current.append(datum)
        size += cost
    if current:
        out.append(current)
    return out


# ------------------------------------------------------------------------------------------------ publisher


@dataclass(frozen=True)
class MetricsStatus:
    """The publisher's counters, for a status line: datums sent, dropped (queue full, too old to send, or left at
    close), refused by CloudWatch as invalid, calls that failed, datums waiting, and whether an outage is on."""

    enabled: bool
    sent: int = 0
    dropped: int = 0
    rejected: int = 0
    failed_calls: int = 0
    queued: int = 0
    outage_since: datetime | None = None
    off_reason: str | None = None

    def line(self) -> str:
        if not self.enabled:
            return f"metrics off: {self.off_reason}"
        text = (
            f"metrics: {self.sent:,} sent, {self.queued:,} queued, {self.dropped:,} dropped, "
            f"{self.failed_calls:,} failed calls"
        )
        if self.rejected:
            text += f", {self.rejected:,} refused by CloudWatch"
        if self.outage_since is not None:
            text += f"; CloudWatch unreachable since {self.outage_since:%H:%M:%S} UTC"
        return text


class MetricsPublisher:
    """Publishes results' metrics from a daemon thread (started by the first publish).

    `client_factory` gives the boto3 `cloudwatch` client, called on the sender's thread at its first call (an
    error there is an outage like any other); None makes a publisher that is off (`off_reason` says why) and whose
    publish does nothing."""

    def __init__(
        self,
        client_factory: Callable[[], Any] | None,
        *,
        namespace: str = NAMESPACE,
        max_queued: int = MAX_QUEUED,
        linger_s: float = LINGER_S,
        backoff_s: tuple[float, float] = BACKOFF_S,
        off_reason: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        storage_resolution: int | None = None,
    ) -> None:
        self.namespace = namespace
        # 1: high-resolution metrics, which alarms with 10 or 30 s periods need (the local cloud's short alarm
        # periods, MCV_LOCAL_ALARM_PERIOD_S); None: CloudWatch's default, standard resolution (60 s).
        self.storage_resolution = storage_resolution
        self.enabled = client_factory is not None
        self.off_reason = None if self.enabled else (off_reason or "no CloudWatch client")
        self.linger_s = linger_s
        self.backoff_s = backoff_s
        self._factory = client_factory
        self._client: Any = None
        self._clock = clock
        self._queue: deque[dict[str, Any]] = deque(maxlen=max_queued)
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._first_at = 0.0  # when the queue last became non-empty: the batch's linger starts then
        self._in_flight = 0
        self._attempts = 0  # calls tried (flush watches it to stop waiting on a failure)
        self._last_failed = 0  # the attempt number of the last failed call
        self._flushing = 0  # flush() calls waiting: send now, without lingering
        self._urgent = 0  # flush() calls made; each may try once during a backoff ...
        self._served = 0  # ... until a call fails after it (then the backoff holds again)
        self._retry_at = 0.0
        self._backoff = backoff_s[0]
        self._outage_since: datetime | None = None
        self._sent = self._dropped = self._rejected = self._failed_calls = 0

    @classmethod
    def for_clients(cls, clients: Clients, *, enabled: bool = True, **kwargs: Any) -> "MetricsPublisher":
        """A publisher sending through `clients`' boto3 `cloudwatch` client (in local mode the local cloud's moto,
        once clients.py knows its CloudWatch endpoint; until then metrics are off rather than sent to AWS). Never
        raises: a client that cannot be made gives a publisher that is off and says why."""
        if not enabled:
            return cls(None, off_reason="turned off in the settings", **kwargs)
        if clients.settings.is_local and "cloudwatch" not in clients.endpoints.aws:
            return cls(None, off_reason="the local cloud's CloudWatch endpoint is not configured", **kwargs)
        if clients.settings.is_local:  # the local cloud's alarms may have 10 or 30 s periods (alarms.py)
            kwargs.setdefault("storage_resolution", 1)
        # Made here, on the caller's thread, before any comparison: building a boto3 client loads its service
        # model (tens of ms, much of it holding the GIL), which on the sender's thread would stall a comparison.
        try:
            client = clients.aws("cloudwatch", timeout=CALL_TIMEOUT_S, max_attempts=CALL_ATTEMPTS)
        except (MCVError, bce.BotoCoreError) as exc:
            return cls(None, off_reason=f"no CloudWatch client: {_reason(exc)}", **kwargs)
        return cls(lambda: client, **kwargs)

    # --- the caller's side: never blocks on the network, never raises ---------------------------------------
    def publish(self, results: Iterable[ProviderResult], at: datetime | None = None) -> None:
        """Queue the metrics of `results` (stamped `at`, default now). When the queue is full its oldest metrics
        are dropped and counted; the results themselves are never touched."""
        if not self.enabled:
            return
        at = at or datetime.now(timezone.utc)
        new = [datum for result in results for datum in datums(result, at)]
        if not new:
            return
        if self.storage_resolution is not None:
            for datum in new:
                datum["StorageResolution"] = self.storage_resolution
        with self._cond:
            if self._closed:
                self._dropped += len(new)
                return
            before = len(self._queue)
            overflow = before + len(new) - (self._queue.maxlen or 0)
            if overflow > 0:
                self._dropped += overflow
            self._queue.extend(new)  # a bounded deque drops from the left: the oldest
            if self._thread is None:
                self._start()
            if before == 0:
                self._first_at = self._clock()
                self._cond.notify()
            elif len(self._queue) >= MAX_DATUMS_PER_CALL and before < MAX_DATUMS_PER_CALL:
                self._cond.notify()

    def flush(self, timeout: float = 10.0) -> bool:
        """Send what is queued now; True once all of it is sent (or refused), False when a call failed or
        `timeout` passed first (what is left stays queued)."""
        if not self.enabled:
            return True
        deadline = self._clock() + timeout
        with self._cond:
            if self._thread is None and self._queue and not self._closed:
                self._start()
            started = self._attempts
            self._urgent += 1
            self._flushing += 1
            self._cond.notify_all()
            try:
                while self._queue or self._in_flight:
                    if self._last_failed > started or self._thread is None or not self._thread.is_alive():
                        return False
                    left = deadline - self._clock()
                    if left <= 0:
                        return False
                    self._cond.wait(left)
                return True
            finally:
                self._flushing -= 1

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued (for at most `timeout` seconds), then stop the sender. What could not be sent is
        counted as dropped. Idempotent; publish after close drops and counts."""
        if not self.enabled:
            return
        deadline = self._clock() + timeout
        self.flush(timeout)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(max(0.1, deadline - self._clock()))  # a moment to see the sender out, when flush took it all
            atexit.unregister(self._at_exit)
        with self._cond:
            if thread is None or not thread.is_alive():
                self._dropped += len(self._queue)
                self._queue.clear()

    def status(self) -> MetricsStatus:
        with self._cond:
            return MetricsStatus(
                enabled=self.enabled,
                sent=self._sent,
                dropped=self._dropped,
                rejected=self._rejected,
                failed_calls=self._failed_calls,
                queued=len(self._queue) + self._in_flight,
                outage_since=self._outage_since,
                off_reason=self.off_reason,
            )

    # --- the sender ------------------------------------------------------------------------------------------
    def _start(self) -> None:
        # Called with the lock held.
        self._thread = threading.Thread(target=self._loop, name="mcv-metrics", daemon=True)
        self._thread.start()
        atexit.register(self._at_exit)

    def _at_exit(self) -> None:
        self.close(EXIT_FLUSH_S)

    def _next_batch(self) -> list[dict[str, Any]] | None:
        """Wait until a batch is due and take it (None: closed with nothing left to send)."""
        with self._cond:
            while True:
                now = self._clock()
                may_send = now >= self._retry_at or self._urgent > self._served  # not backing off, or a new flush
                if self._queue:
                    if may_send and (
                        self._flushing
                        or self._closed
                        or len(self._queue) >= MAX_DATUMS_PER_CALL
                        or now - self._first_at >= self.linger_s
                    ):
                        break
                    if self._closed:  # closing, and the try close's flush made has failed: give up
                        return None
                    self._cond.wait(max(self._retry_at, self._first_at + self.linger_s) - now)
                    continue
                if self._closed:
                    return None
                self._cond.wait()
            self._served = self._urgent  # the flushes made so far have this try
            batch = [self._queue.popleft() for _ in range(min(MAX_DATUMS_PER_CALL, len(self._queue)))]
            self._in_flight = len(batch)
            return batch

    def _loop(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            failed, unsent = self._send(batch)
            with self._cond:
                self._in_flight = 0
                if unsent:
                    # Back at the front, as the oldest; if the queue filled meanwhile, the oldest of them go.
                    room = (self._queue.maxlen or 0) - len(self._queue)
                    keep = unsent[len(unsent) - room:] if room < len(unsent) else unsent
                    self._dropped += len(unsent) - len(keep)
                    self._queue.extendleft(reversed(keep))
                if failed:
                    self._retry_at = self._clock() + self._backoff
                    self._backoff = min(self._backoff * 2, self.backoff_s[1])
                self._cond.notify_all()

    def _send(self, batch: list[dict[str, Any]]) -> tuple[bool, list[dict[str, Any]]]:
        """Send `batch` in as many calls as its size needs; (whether a call failed, the datums left unsent)."""
        cutoff = datetime.now(timezone.utc) - MAX_AGE
        fresh = [d for d in batch if d["Timestamp"] >= cutoff]
        if len(fresh) < len(batch):
            with self._cond:
                self._dropped += len(batch) - len(fresh)
        calls = batches(fresh)
        for n, chunk in enumerate(calls):
            with self._cond:
                self._attempts += 1
            try:
                client = self._client or self._make_client()
                client.put_metric_data(Namespace=self.namespace, MetricData=chunk)
            except bce.ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code in _DATA_ERRORS:
                    self._refused(chunk, code)
                    continue
                self._failed(f"CloudWatch answered {code or 'an error'}")
                return True, [d for c in calls[n:] for d in c]
            except bce.ParamValidationError:
                self._refused(chunk, "ParamValidationError")
                continue
            except (bce.BotoCoreError, MCVError) as exc:
                self._failed(_reason(exc))
                return True, [d for c in calls[n:] for d in c]
            except Exception:  # a defect here must not stop the sender; logged with its traceback, batch dropped
                log.exception("sending %d metrics to CloudWatch failed unexpectedly; they are dropped", len(chunk))
                with self._cond:
                    self._failed_calls += 1
                    self._rejected += len(chunk)
                continue
            self._succeeded(len(chunk))
        return False, []

    def _make_client(self) -> Any:
        assert self._factory is not None
        self._client = self._factory()
        return self._client

    def _succeeded(self, count: int) -> None:
        with self._cond:
            self._sent += count
            self._backoff = self.backoff_s[0]
            self._retry_at = 0.0
            since, self._outage_since = self._outage_since, None
        if since is not None:
            log.warning("CloudWatch metrics are sent again (unreachable since %s UTC)", f"{since:%H:%M:%S}")

    def _failed(self, reason: str) -> None:
        with self._cond:
            self._failed_calls += 1
            self._last_failed = self._attempts
            first = self._outage_since is None
            if first:
                self._outage_since = datetime.now(timezone.utc)
        if first:  # once per outage
            log.warning(
                "CloudWatch metrics cannot be sent (%s): up to %d are kept in memory and sent once it answers; "
                "results are not affected",
                reason,
                self._queue.maxlen,
            )

    def _refused(self, chunk: list[dict[str, Any]], code: str) -> None:
        with self._cond:
            self._failed_calls += 1
            self._rejected += len(chunk)
        log.warning("CloudWatch refused %d metrics (%s); they are dropped", len(chunk), code)


def _reason(exc: BaseException) -> str:
    """What went wrong, without anything secret: the error's class, and the endpoint when it is one that could
    not be reached (botocore's connection errors carry only the URL)."""
    if isinstance(exc, MCVError):
        return exc.user_text()
    endpoint = getattr(exc, "kwargs", {}).get("endpoint_url")
    return f"{type(exc).__name__}" + (f" at {endpoint}" if endpoint else "")
