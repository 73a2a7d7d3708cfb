"""Side by side: every selected target on the same image at once, one thread each.

A target that fails, hangs or is slow never blocks or breaks the others: each runs in its own thread with its
own timeout, every exception becomes an error result, and results are yielded as each target finishes.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Callable, Iterator, Sequence

from . import scoring
from .clients import AttemptCount, counting_attempts
from .config import env_suffix
from .errors import MCVError, ProviderError, ProviderTimeout, ThrottledError
from .images import SourceImage, prepare
from .records import ProviderResult, Run
from .services.base import Service

log = logging.getLogger(__name__)

# Every call ends by itself: each attempt is bounded by the SDK's read timeout (MCV_TIMEOUT_S), the attempts by
# MCV_MAX_ATTEMPTS. The runner's own deadline is a backstop beyond that; a thread still running after it is
# left to finish and its result is dropped.
WAIT_SLACK_S = 2.0


def call_provider(provider: Service, image: SourceImage, prompt: str) -> ProviderResult:
    """Prepare the image for this provider, wait for one of its slots, call it, and time it; never raises.

    latency_ms is the call alone (all its attempts); the preparation and the wait for a slot are in `timings`.
    `attempts` counts the HTTP requests the SDK sent, retries included.
    """
    started = time.perf_counter()
    prepared = None
    counted: AttemptCount | None = None
    call_started: float | None = None
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
                reply = provider.call(prepared, prompt)
            latency_ms = (time.perf_counter() - call_started) * 1000
        finally:
            provider.slots.release()
    except ProviderError as exc:
        return _error_result(provider, exc, call_started or started, prepared, _attempts(counted, exc.attempts))
    except MCVError as exc:  # a missing setting or an image the provider's preparation refused
        return _error_result(provider, exc, call_started or started, prepared, _attempts(counted, None))
    except Exception as exc:  # a bug in one provider must not take the comparison down; it is logged in full
        log.exception("provider %s failed unexpectedly", provider.name)
        return _error_result(provider, exc, call_started or started, prepared, _attempts(counted, None))
    try:
        cost = provider.cost(reply)
    except (LookupError, ValueError, ArithmeticError):
        log.exception("cost of %s could not be computed", provider.name)
        cost = None
    if cost is not None:
        cost = round(cost, 12)  # float noise off, far below a millionth of a cent
    return ProviderResult(
        provider=provider.name,
        model=reply.model,
        status="ok",
        service=provider.target.service,
        title=provider.title,
        output=reply.output,
        labels=list(reply.labels),
        latency_ms=round(latency_ms, 2),
        provider_latency_ms=reply.provider_latency_ms,
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


def _attempts(counted: AttemptCount | None, reported: int | None) -> int:
    """The requests counted on the wire; what the SDK reported when nothing was counted (a test double)."""
    if counted is not None and counted.value > 0:
        return counted.value
    return reported or 1


def _error_result(provider: Service, exc: BaseException, since: float, prepared: object, attempts: int) -> ProviderResult:
    kind = getattr(exc, "kind", None) or ("usage" if isinstance(exc, MCVError) else "internal")
    message = exc.user_text() if isinstance(exc, MCVError) else f"{type(exc).__name__}: {exc}"
    return ProviderResult(
        provider=provider.name,
        model=provider.model_id,
        status="error",
        service=provider.target.service,
        title=provider.title,
        latency_ms=round((time.perf_counter() - since) * 1000, 2),
        attempts=attempts,
        error_type=kind,
        error=message,
        image_width=getattr(prepared, "width", None),
        image_height=getattr(prepared, "height", None),
    )


def iter_results(
    providers: Sequence[Service], image: SourceImage, prompt: str, *, clock: Callable[[], float] = time.monotonic
) -> Iterator[ProviderResult]:
    """Yield one result per provider, in the order they finish. All calls start at once."""
    if not providers:
        return
    pool = ThreadPoolExecutor(max_workers=len(providers), thread_name_prefix="mcv-provider")
    started = clock()
    futures: dict[Future[ProviderResult], Service] = {
        pool.submit(call_provider, provider, image, prompt): provider for provider in providers
    }
    # A backstop: a call ends by itself within its deadline (SDK timeouts); waiting for a slot may take as long.
    deadlines = {future: started + 2 * provider.deadline_s + WAIT_SLACK_S for future, provider in futures.items()}
    pending = set(futures)
    try:
        while pending:
            next_deadline = min(deadlines[f] for f in pending)
            done, pending = wait(pending, timeout=max(0.0, next_deadline - clock()), return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()
            now = clock()
            for future in [f for f in pending if deadlines[f] <= now]:
                pending.discard(future)
                provider = futures[future]
                exc = ProviderTimeout(f"{provider.title} gave no answer in {now - started:.1f} s")
                yield ProviderResult(
                    provider=provider.name,
                    model=provider.model_id,
                    status="error",
                    service=provider.target.service,
                    title=provider.title,
                    latency_ms=round((now - started) * 1000, 2),
                    error_type=exc.kind,
                    error=exc.user_text(),
                )
    finally:
        # Threads still running finish on their own (their SDK timeouts bound them); nothing waits for them.
        pool.shutdown(wait=False, cancel_futures=True)


def compare(
    providers: Sequence[Service], run: Run, on_result: Callable[[ProviderResult], None] | None = None
) -> Run:
    """Run every provider on run.image; results keep the order of `providers`."""
    started = time.perf_counter()
    by_name: dict[str, ProviderResult] = {}
    for result in iter_results(providers, run.image, run.prompt):
        by_name[result.provider] = result
        if on_result is not None:
            on_result(result)
    run.wall_ms = round((time.perf_counter() - started) * 1000, 2)
    run.results = [by_name[p.name] for p in providers]
    if run.expected:
        for result in run.results:
            result.correct = scoring.score(result.output, run.expected, result.ok)
    return run

