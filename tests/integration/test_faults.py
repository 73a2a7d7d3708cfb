"""Provider faults injected in the emulator, through the real SDK clients and their own retry settings.

Retryable faults (throttling, 5xx, timeouts) are retried with backoff by botocore's standard mode and openai's
max_retries; the others (malformed bodies, refused credentials) are not. Every result records the attempts it
took (requests counted on the wire) and its final error type; the provider that is not faulted is unaffected.
"""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from mcv_core.local import control
from mcv_core.workbench import Workbench

pytestmark = pytest.mark.timeout(600)
PROVIDERS = ("sagemaker", "bedrock", "azure_openai")
ATTEMPTS = 3  # MCV_MAX_ATTEMPTS' default
TIMEOUT_S = 5.0  # per attempt, for the faulted provider only: a local describer answers in 1-2 s
HANG_S = 8.0  # what a "timeout" fault makes the emulator wait before answering


@pytest.fixture(scope="module")
def bench(local_settings: Any) -> Workbench:
    return Workbench(local_settings.with_(max_attempts=ATTEMPTS))


def with_timeout(bench: Workbench, provider: str) -> Workbench:
    """The same clients' settings, with a short per-attempt timeout for `provider` only."""
    return Workbench(bench.settings.with_(provider_timeouts={provider: TIMEOUT_S}))


@pytest.fixture
def faults(local_settings: Any) -> Iterator[Any]:
    conn = control.running(local_settings)
    control.emulator_admin(conn, "DELETE", "/_mcv/faults")

    def inject(service: str, **fault: Any) -> None:
        control.emulator_admin(conn, "POST", "/_mcv/faults", json={service: [fault]})

    yield inject
    control.emulator_admin(conn, "DELETE", "/_mcv/faults")


@pytest.fixture(scope="module")
def cat(bench: Workbench, cat_jpeg: bytes) -> Any:
    return bench.load_image(cat_jpeg, "cat.jpg")


def other(provider: str) -> str:
    return "sagemaker" if provider != "sagemaker" else "bedrock"


CASES = [
    # (fault, expected status, error type, attempts)
    ({"kind": "throttle", "count": 1}, "ok", None, 2),
    ({"kind": "throttle", "count": -1}, "error", "throttled", ATTEMPTS),
    ({"kind": "error", "status": 500, "count": 2}, "ok", None, 3),
    ({"kind": "error", "status": 503, "count": -1}, "error", "service_error", ATTEMPTS),
    ({"kind": "timeout", "delay_s": HANG_S, "count": 1}, "ok", None, 2),
    ({"kind": "timeout", "delay_s": HANG_S, "count": -1}, "error", "timeout", ATTEMPTS),
    ({"kind": "malformed", "count": -1}, "error", "malformed_response", 1),
    ({"kind": "auth", "count": -1}, "error", "auth", 1),
]


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("fault, status, error_type, attempts", CASES, ids=lambda v: v.get("kind") + str(v.get("count")) if isinstance(v, dict) else None)
def test_fault_outcome_and_attempts(bench, faults, cat, provider, fault, status, error_type, attempts) -> None:  # noqa: ANN001
    faults(provider, **fault)
    if fault["kind"] == "timeout":
        bench = with_timeout(bench, provider)
    run = bench.compare(cat, [provider, other(provider)])
    faulted, unaffected = run.results
    assert (faulted.status, faulted.error_type, faulted.attempts) == (status, error_type, attempts), faulted.error
    if status == "error":
        assert faulted.error and "(" in faulted.error  # the message carries what to do
    assert unaffected.status == "ok" and unaffected.attempts == 1, unaffected.error
    stored = {item["provider"]: item for item in bench.history.run(run.run_id) if item["sk"].startswith("RESULT#")}
    assert stored[provider]["attempts"] == attempts
    assert stored[provider].get("error_type") == error_type


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_slow_answer_is_waited_for_and_not_retried(bench, faults, cat, provider) -> None:  # noqa: ANN001
    faults(provider, kind="slow", delay_s=0.6, count=1)
    result = bench.compare(cat, [provider]).results[0]
    assert (result.status, result.attempts) == ("ok", 1), result.error
    assert result.latency_ms >= 600


def test_the_error_type_tells_the_page_what_to_do() -> None:
    from mcv_core.errors import hint_for

    for kind in ("throttled", "service_error", "timeout", "malformed_response", "auth"):
        assert hint_for(kind), kind
