"""Side by side: every selected target on the same image at once, one thread each.

A target that fails, hangs or is slow never blocks or breaks the others: each runs in its own thread with its
own timeout, every exception becomes an error result, and results are yielded as each target finishes.

Streamed answers arrive as they grow: `iter_events` yields `TextDelta`s (a target's text so far) and results,
on the caller's thread, from one queue the worker threads put into; the caller waits on it no longer than the
next backstop deadline, so a delta reaches it as soon as it is put. `iter_results` is the same without the deltas.
"""

from __future__ import annotations

import logging
import queue
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterator, Sequence

from . import scoring
from .clients import AttemptCount, counting_attempts
from .config import env_suffix
from .errors import MCVError, ProviderError, ProviderTimeout, StreamCutError, ThrottledError
from .images import SourceImage, prepare
from .records import ProviderResult, Run, TextDelta, anatomy
from .services.base import Service

log = logging.getLogger(__name__)

# Every call ends by itself: each attempt is bounded by the SDK's read timeout (MCV_TIMEOUT_S), the attempts by
# MCV_MAX_ATTEMPTS. The runner's own deadline is a backstop beyond that; a thread still running after it is
# left to finish and its result is dropped.
WAIT_SLACK_S = 2.0


def call_provider(
    provider: Service, image: SourceImage, prompt: str, on_text: Callable[[str, float], None] | None = None
) -> ProviderResult:
    """Prepare the image for this provider, wait for one of its slots, call it, and time it; never raises.

    latency_ms is the call alone (all its attempts); the preparation and the wait for a slot are in `timings`,
    with the rest of the call's anatomy (records.anatomy). `attempts` counts the HTTP requests the SDK sent,
    retries included. A streaming provider's text is passed on as it grows: `on_text(text_so_far, ms)`, where ms
    is the time since the call started, from the worker thread.
    """
    started = time.perf_counter()
    prepared = None
    counted: AttemptCount | None = None
    call_started: float | None = None
    prepare_ms: float | None = None
    queue_ms: float | None = None
    try:
        prepared = prepare(image, provider.image_spec)
        prepare_ms = (time.perf_counter() - started) * 1000
        if not provider.slots.acquire(timeout=provider.deadline_s):
            raise ThrottledError(
                f"{provider.title}: all {provider.concurrency} slots stayed busy for {provider.deadline_s:g} s",
                hint=f"the load is above what this target takes at once: wait, or raise MCV_CONCURRENCY_{env_suffix(provider.name).upper()}",
            )
        try:
            call_started = time.perf_counter()
            queue_ms = (call_started - started) * 1000 - prepare_ms
            with counting_attempts() as counted:
                if provider.streams:
                    reply = provider.call(prepared, prompt, on_text=_growing(on_text, call_started) if on_text else None)
                else:
                    reply = provider.call(prepared, prompt)
            latency_ms = (time.perf_counter() - call_started) * 1000
        finally:
            provider.slots.release()
    except ProviderError as exc:
        return _error_result(provider, exc, call_started, started, prepared, _attempts(counted, exc.attempts), prepare_ms, queue_ms)
    except MCVError as exc:  # a missing setting or an image the provider's preparation refused
        return _error_result(provider, exc, call_started, started, prepared, _attempts(counted, None), prepare_ms, queue_ms)
    except Exception as exc:  # a bug in one provider must not take the comparison down; it is logged in full
        log.exception("provider %s failed unexpectedly", provider.name)
        return _error_result(provider, exc, call_started, started, prepared, _attempts(counted, None), prepare_ms, queue_ms)
    try:
        cost = provider.cost(reply)
    except (LookupError, ValueError, ArithmeticError):
        log.exception("cost of %s could not be computed", provider.name)
        cost = None
    if cost is not None:
        cost = round(cost, 12)  # float noise off, far below a millionth of a cent
    result = ProviderResult(
        provider=provider.name,
        model=reply.model,
        status="ok",
        service=provider.target.service,
        title=provider.title,
        output=reply.output,
        labels=list(reply.labels),
        latency_ms=round(latency_ms, 2),
        provider_latency_ms=reply.provider_latency_ms,
        ttft_ms=_ms(reply.ttft_ms),
        output_tokens_per_s=reply.output_tokens_per_s,
        streamed=reply.streamed,
        cold_start=reply.cold_start,
        input_tokens=reply.input_tokens,
        output_tokens=reply.output_tokens,
        image_tokens=reply.image_tokens,
        cost_usd=cost,
        attempts=_attempts(counted, reply.attempts),
        timings={"prepare_ms": round(prepare_ms, 2), "queue_ms": round(queue_ms, 2), **reply.timings},
        image_width=prepared.width,
        image_height=prepared.height,
    )
    result.timings.update(anatomy(result))
    return result


def _growing(on_text: Callable[[str, float], None], call_started: float) -> Callable[[str], None]:
    """A service's on_text (one delta at a time) -> the runner's (all the text so far, ms since the call began)."""
    parts: list[str] = []
    first: list[float] = []

    def receive(delta: str) -> None:
        if not first:
            first.append(round((time.perf_counter() - call_started) * 1000, 2))
        parts.append(delta)
        on_text("".join(parts), first[0])

    return receive


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _attempts(counted: AttemptCount | None, reported: int | None) -> int:
    """The requests counted on the wire; what the SDK reported when nothing was counted (a test double)."""
    if counted is not None and counted.value > 0:
        return counted.value
    return reported or 1


def _error_result(
    provider: Service,
    exc: BaseException,
    call_started: float | None,
    started: float,
    prepared: object,
    attempts: int,
    prepare_ms: float | None = None,
    queue_ms: float | None = None,
) -> ProviderResult:
    kind = getattr(exc, "kind", None) or ("usage" if isinstance(exc, MCVError) else "internal")
    message = exc.user_text() if isinstance(exc, MCVError) else f"{type(exc).__name__}: {exc}"
    cut = exc if isinstance(exc, StreamCutError) else None  # keeps the text that had arrived
    result = ProviderResult(
        provider=provider.name,
        model=provider.model_id,
        status="error",
        service=provider.target.service,
        title=provider.title,
        output=cut.received if cut else "",
        latency_ms=round((time.perf_counter() - (call_started or started)) * 1000, 2),
        ttft_ms=_ms(cut.ttft_ms) if cut else None,
        streamed=provider.streaming if call_started is not None else None,
        attempts=attempts,
        error_type=kind,
        error=message,
        timings={name: round(value, 2) for name, value in (("prepare_ms", prepare_ms), ("queue_ms", queue_ms)) if value is not None},
        image_width=getattr(prepared, "width", None),
        image_height=getattr(prepared, "height", None),
    )
    if call_started is not None:
        result.timings.update(anatomy(result))
    return result


def iter_events(
    providers: Sequence[Service],
    image: SourceImage,
    prompt: str,
    *,
    clock: Callable[[], float] = time.monotonic,
    deltas: bool = True,
) -> Iterator[TextDelta | ProviderResult]:
    """Yield each provider's text as it grows (`TextDelta`) and one result per provider, in the order they
    finish; all calls start at once. Deltas of one provider that queued up while the caller was busy come as
    the latest one (its text is cumulative); none comes after that provider's result. `deltas=False`: results
    only (the text is not even gathered)."""
    if not providers:
        return
    events: queue.SimpleQueue[tuple[int, TextDelta | ProviderResult]] = queue.SimpleQueue()

    def work(index: int, provider: Service) -> None:
        def on_text(text: str, ms: float) -> None:
            events.put((index, TextDelta(provider.name, text, ms)))

        events.put((index, call_provider(provider, image, prompt, on_text if deltas else None)))  # never raises

    pool = ThreadPoolExecutor(max_workers=len(providers), thread_name_prefix="mcv-provider")
    started = clock()
    try:
        for index, provider in enumerate(providers):
            pool.submit(work, index, provider)
        # A backstop: a call ends by itself within its deadline (SDK timeouts); waiting for a slot may take as long.
        deadlines = {index: started + 2 * provider.deadline_s + WAIT_SLACK_S for index, provider in enumerate(providers)}
        pending = set(deadlines)
        while pending:
            next_deadline = min(deadlines[i] for i in pending)
            try:
                batch = [events.get(timeout=max(0.0, next_deadline - clock()))]
            except queue.Empty:
                batch = []
            while True:  # whatever else is queued already: deltas of one provider are folded into the latest
                try:
                    batch.append(events.get_nowait())
                except queue.Empty:
                    break
            finished = {index for index, event in batch if isinstance(event, ProviderResult)}
            latest = {index: position for position, (index, event) in enumerate(batch) if isinstance(event, TextDelta)}
            for position, (index, event) in enumerate(batch):
                if index not in pending:  # its result came, or the backstop gave up on it
                    continue
                if isinstance(event, TextDelta):
                    if index not in finished and latest[index] == position:
                        yield event
                else:
                    pending.discard(index)
                    yield event
            now = clock()
            for index in [i for i in pending if deadlines[i] <= now]:
                pending.discard(index)
                yield _gave_up(providers[index], now - started)
    finally:
        # Threads still running finish on their own (their SDK timeouts bound them); nothing waits for them.
        pool.shutdown(wait=False, cancel_futures=True)


def _gave_up(provider: Service, waited_s: float) -> ProviderResult:
    exc = ProviderTimeout(f"{provider.title} gave no answer in {waited_s:.1f} s")
    return ProviderResult(
        provider=provider.name,
        model=provider.model_id,
        status="error",
        service=provider.target.service,
        title=provider.title,
        latency_ms=round(waited_s * 1000, 2),
        error_type=exc.kind,
        error=exc.user_text(),
    )


def iter_results(
    providers: Sequence[Service], image: SourceImage, prompt: str, *, clock: Callable[[], float] = time.monotonic
) -> Iterator[ProviderResult]:
    """Yield one result per provider, in the order they finish. All calls start at once."""
    for event in iter_events(providers, image, prompt, clock=clock, deltas=False):
        if isinstance(event, ProviderResult):
            yield event


def compare(
    providers: Sequence[Service],
    run: Run,
    on_result: Callable[[ProviderResult], None] | None = None,
    on_text: Callable[[TextDelta], None] | None = None,
) -> Run:
    """Run every provider on run.image; results keep the order of `providers`. `on_text` is called with each
    TextDelta and `on_result` with each result, on this thread, as they come."""
    started = time.perf_counter()
    results: dict[str, ProviderResult] = {}
    for event in iter_events(providers, run.image, run.prompt, deltas=on_text is not None):
        if isinstance(event, TextDelta):
            if on_text is not None:
                on_text(event)
            continue
        results[event.provider] = event
        if on_result is not None:
            on_result(event)
    run.wall_ms = round((time.perf_counter() - started) * 1000, 2)
    run.results = [results[p.name] for p in providers]
    if run.expected:
        for result in run.results:
            result.correct = scoring.score(result.output, run.expected, result.ok)
    return run
