"""The runner: every target at once, results as they finish, failures and hangs isolated.

Fake services are registered through the same registry the app uses (mcv_core.services.registry), reached
through a Target of their own and bound with `registry.bind`, and removed after each test; one that takes the
name of a built-in service gives the built-in back afterwards. Concurrency is shown by evidence (a barrier
every target must reach together, start and end stamps), never by wall time.
"""

from __future__ import annotations

import io
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Callable, ClassVar, Iterator

import numpy as np
import pytest
from PIL import Image

from mcv_core import errors, records, runner, targets
from mcv_core.clients import Clients, Endpoints
from mcv_core.config import Settings
from mcv_core.errors import ConfigError
from mcv_core.images import ImageSpec, PreparedImage, SourceImage, load_image
from mcv_core.records import Label, ProviderResult, Reply
from mcv_core.services import base, registry
from mcv_core.services.base import Service
from mcv_core.targets import Target

SPEC = ImageSpec("fake", max_long_edge=32)
PROMPT = "What is in this image?"
Behaviour = Callable[["FakeService", PreparedImage, str], Reply]


class Events:
    """What the fakes did, stamped with time.monotonic(), in the order it happened."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.log: list[tuple[str, str, float]] = []

    def mark(self, name: str, what: str) -> None:
        with self._lock:
            self.log.append((name, what, time.monotonic()))

    def times(self, what: str) -> dict[str, float]:
        with self._lock:
            return {name: at for name, event, at in self.log if event == what}


class FakeService(Service):
    """A service of its own per test name; its one target has the same id and the model `<name>-model-v1`."""

    cloud = "aws"
    behaviour: ClassVar[Behaviour]
    events: ClassVar[Events]

    @property
    def model_id(self) -> str:
        return self.target.model

    @property
    def image_spec(self) -> ImageSpec:
        return SPEC

    def call(self, image: PreparedImage, prompt: str) -> Reply:
        self.events.mark(self.name, "start")
        try:
            return type(self).behaviour(self, image, prompt)
        finally:
            self.events.mark(self.name, "end")

    def cost(self, reply: Reply) -> float | None:
        return (reply.input_tokens or 0) * 1e-6

    def probe(self, timeout: float) -> tuple[str, dict]:
        raise AssertionError("the runner never probes")


def reply_for(provider: FakeService, image: PreparedImage, prompt: str) -> Reply:
    return Reply(
        output=f"{provider.name} saw {image.width}x{image.height}: {prompt}",
        model=provider.model_id,
        labels=(Label("tabby", 0.5), Label("Egyptian cat", 0.25)),
        input_tokens=100,
        output_tokens=7,
        image_tokens=90,
        provider_latency_ms=12.5,
        cold_start=False,
        attempts=2,
        timings={"model_ms": 3.5},
    )


def sleeps(seconds: float) -> Behaviour:
    def behaviour(provider: FakeService, image: PreparedImage, prompt: str) -> Reply:
        time.sleep(seconds)
        return reply_for(provider, image, prompt)

    return behaviour


def raises(exc: BaseException) -> Behaviour:
    def behaviour(provider: FakeService, image: PreparedImage, prompt: str) -> Reply:
        raise exc

    return behaviour


def waits_for(gate: threading.Event) -> Behaviour:
    def behaviour(provider: FakeService, image: PreparedImage, prompt: str) -> Reply:
        if not gate.wait(timeout=10):
            raise AssertionError(f"{provider.name} was never released")
        return reply_for(provider, image, prompt)

    return behaviour


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Set at teardown so that a provider left hanging by the runner ends and its thread exits."""
    event = threading.Event()
    yield event
    event.set()


@pytest.fixture
def fakes(events: Events) -> Iterator[Callable[..., type[FakeService]]]:
    """Registers fake services under the given names; unregisters them (and restores built-ins) afterwards."""
    before = {name: registry.get(name) for name in registry.names()}
    added: list[str] = []

    def make(name: str, behaviour: Behaviour, title: str | None = None) -> type[FakeService]:
        registry.unregister(name)
        cls = type(
            f"Fake_{name}",
            (FakeService,),
            {
                "service": name,
                "service_title": title or f"Fake {name}",
                "behaviour": staticmethod(behaviour),
                "events": events,
            },
        )
        registry.register(cls)
        added.append(name)
        return cls

    yield make
    # Back as they were, in their order (the order services are listed in).
    for name in [*added, *before]:
        registry.unregister(name)
    for cls in before.values():
        registry.register(cls)


@pytest.fixture(scope="module")
def image() -> SourceImage:
    y, x = np.mgrid[0:48, 0:64]
    array = np.stack([x * 4, y * 5, (x + y) * 2], axis=-1).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "JPEG", quality=90)
    return load_image(buffer.getvalue(), "gradient.jpg", max_bytes=1 << 20, max_pixels=1 << 20)


def target(name: str) -> Target:
    """The one target of fake service `name`: the same id, its model, the title the fake was made with."""
    return Target(id=name, service=name, model=f"{name}-model-v1", title=registry.get(name).service_title)


def providers(names: str, env: dict[str, str] | None = None) -> list[Service]:
    """Each named fake's target bound to its service, as the workbench binds a catalogue's targets."""
    settings = Settings.from_mapping(env or {})
    clients = Clients(settings, Endpoints(aws={}))
    return [registry.bind(target(name), settings, clients) for name in names.split(",")]


def new_run(image: SourceImage, names: list[str]) -> records.Run:
    return records.Run.new(image, PROMPT, names, source="cli")


# --- order ---------------------------------------------------------------------------------------------


def test_source_image_and_spec_give_a_32_by_24_image(image: SourceImage) -> None:
    assert (image.width, image.height, image.format) == (64, 48, "JPEG")
    assert SPEC.target_size(64, 48) == (32, 24)


def test_iter_results_yields_in_finishing_order(fakes, events: Events, image: SourceImage) -> None:  # noqa: ANN001
    fakes("fake_slow", sleeps(0.45))
    fakes("fake_fast", sleeps(0.0))
    fakes("fake_mid", sleeps(0.2))
    order = [r.provider for r in runner.iter_results(providers("fake_slow,fake_fast,fake_mid"), image, PROMPT)]
    ends = events.times("end")
    assert order == sorted(ends, key=ends.__getitem__)
    assert order == ["fake_fast", "fake_mid", "fake_slow"]


def test_each_result_is_yielded_before_the_next_provider_finishes(fakes, image: SourceImage) -> None:  # noqa: ANN001
    # "second" can only finish after the consumer has received "first", "third" after "second": a runner that
    # waited for every provider before yielding would never release them.
    gate_second, gate_third = threading.Event(), threading.Event()
    fakes("third", waits_for(gate_third))
    fakes("second", waits_for(gate_second))
    fakes("first", sleeps(0.0))
    received: list[str] = []
    for result in runner.iter_results(providers("third,second,first"), image, PROMPT):
        assert result.ok, result.error
        received.append(result.provider)
        {"first": gate_second, "second": gate_third}.get(result.provider, threading.Event()).set()
    assert received == ["first", "second", "third"]


def test_compare_keeps_provider_order_in_run_results(fakes, image: SourceImage) -> None:  # noqa: ANN001
    fakes("fake_slow", sleeps(0.45))
    fakes("fake_fast", sleeps(0.0))
    fakes("fake_mid", sleeps(0.2))
    run = new_run(image, ["fake_slow", "fake_fast", "fake_mid"])
    seen: list[str] = []
    returned = runner.compare(providers("fake_slow,fake_fast,fake_mid"), run, on_result=lambda r: seen.append(r.provider))
    assert returned is run
    assert seen == ["fake_fast", "fake_mid", "fake_slow"]
    assert [r.provider for r in run.results] == ["fake_slow", "fake_fast", "fake_mid"]
    assert isinstance(run.wall_ms, float) and run.wall_ms > 0


def test_an_ok_result_carries_what_the_provider_replied(fakes, image: SourceImage) -> None:  # noqa: ANN001
    fakes("fake_ok", sleeps(0.0))
    [result] = runner.compare(providers("fake_ok"), new_run(image, ["fake_ok"])).results
    assert isinstance(result.latency_ms, float)
    # The anatomy (records.anatomy) beside what the service timed itself: the service's 12.5 ms, the rest network
    # (none here: the fake claims more time than the call took, which leaves no rest rather than a negative one).
    assert list(result.timings) == ["prepare_ms", "queue_ms", "model_ms", "service_ms", "network_ms"]
    assert (result.timings["model_ms"], result.timings["service_ms"]) == (3.5, 12.5)
    assert result.timings["network_ms"] == pytest.approx(max(0.0, result.latency_ms - 12.5), abs=1e-3)
    assert result.streamed is False and result.ttft_ms is None and result.output_tokens_per_s is None
    result.latency_ms, result.timings, result.streamed = None, {}, None
    assert result == ProviderResult(
        provider="fake_ok",
        model="fake_ok-model-v1",
        status="ok",
        service="fake_ok",
        title="Fake fake_ok",
        output=f"fake_ok saw 32x24: {PROMPT}",
        labels=[Label("tabby", 0.5), Label("Egyptian cat", 0.25)],
        provider_latency_ms=12.5,
        cold_start=False,
        input_tokens=100,
        output_tokens=7,
        image_tokens=90,
        cost_usd=0.0001,
        attempts=2,
        image_width=32,
        image_height=24,
    )


def test_no_providers_no_results(image: SourceImage) -> None:
    assert list(runner.iter_results([], image, PROMPT)) == []
    run = runner.compare([], new_run(image, []))
    assert run.results == []


# --- failures ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "kind", "attempts"),
    [
        (errors.ThrottledError("Rate exceeded", status_code=429, attempts=3), "throttled", 3),
        (errors.AuthError("The security token included in the request is invalid.", status_code=403, attempts=1), "auth", 1),
        (errors.NotFoundError("Endpoint mc-vision-endpoint not found.", status_code=400), "not_found", 1),
        (errors.ServiceUnavailable("Bedrock is unable to process your request.", status_code=503, attempts=4), "service_error", 4),
        (errors.MalformedResponseError("Expecting value: line 1 column 1"), "malformed_response", 1),
        (errors.ProviderTimeout("Read timeout on endpoint URL", attempts=2), "timeout", 2),
        (errors.ProviderConfigError("MCV_SAGEMAKER_ENDPOINT is not set"), "config", 1),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_a_provider_error_becomes_an_error_result_with_its_kind_and_attempts(
    fakes, image: SourceImage, exc: errors.ProviderError, kind: str, attempts: int  # noqa: ANN001
) -> None:
    fakes("fake_failing", raises(exc))
    fakes("fake_fine", sleeps(0.0))
    run = runner.compare(providers("fake_failing,fake_fine"), new_run(image, ["fake_failing", "fake_fine"]))
    failed, fine = run.results
    assert (failed.provider, failed.status, failed.error_type, failed.attempts) == ("fake_failing", "error", kind, attempts)
    assert failed.error == f"{exc.message} ({type(exc).hint})"
    assert (failed.model, failed.output, failed.labels, failed.cost_usd) == ("fake_failing-model-v1", "", [], None)
    assert (failed.image_width, failed.image_height) == (32, 24)  # preparation succeeded before the call failed
    assert fine.ok and fine.output == f"fake_fine saw 32x24: {PROMPT}"


def test_an_unexpected_exception_is_an_internal_error_and_spares_the_others(fakes, image: SourceImage) -> None:  # noqa: ANN001
    fakes("fake_a", sleeps(0.05))
    fakes("fake_buggy", raises(RuntimeError("driver exploded")))
    fakes("fake_b", sleeps(0.0))
    run = runner.compare(providers("fake_a,fake_buggy,fake_b"), new_run(image, ["fake_a", "fake_buggy", "fake_b"]))
    a, buggy, b = run.results
    assert (buggy.status, buggy.error_type, buggy.error, buggy.attempts) == ("error", "internal", "RuntimeError: driver exploded", 1)
    assert buggy.model == "fake_buggy-model-v1"
    assert [(r.provider, r.status) for r in (a, b)] == [("fake_a", "ok"), ("fake_b", "ok")]
    assert a.output == f"fake_a saw 32x24: {PROMPT}" and b.output == f"fake_b saw 32x24: {PROMPT}"


def test_a_usage_error_from_a_provider_is_kind_usage(fakes, image: SourceImage) -> None:  # noqa: ANN001
    fakes("fake_misconfigured", raises(errors.ConfigError("MCV_TABLE is not set", hint="set MCV_TABLE")))
    [result] = runner.compare(providers("fake_misconfigured"), new_run(image, ["fake_misconfigured"])).results
    assert (result.status, result.error_type, result.error) == ("error", "usage", "MCV_TABLE is not set (set MCV_TABLE)")


def test_a_failing_cost_leaves_the_result_ok_without_cost(fakes, image: SourceImage) -> None:  # noqa: ANN001
    cls = fakes("fake_unpriced", sleeps(0.0))

    def no_price(self: FakeService, reply: Reply) -> float | None:
        raise LookupError("no price for fake_unpriced-model-v1")

    cls.cost = no_price  # type: ignore[method-assign]
    [result] = runner.compare(providers("fake_unpriced"), new_run(image, ["fake_unpriced"])).results
    assert (result.status, result.cost_usd, result.input_tokens) == ("ok", None, 100)


def test_cost_is_rounded_to_12_decimals(fakes, image: SourceImage) -> None:  # noqa: ANN001
    cls = fakes("fake_priced", sleeps(0.0))
    cls.cost = lambda self, reply: 0.1 + 0.2  # type: ignore[method-assign]  # 0.30000000000000004
    [result] = runner.compare(providers("fake_priced"), new_run(image, ["fake_priced"])).results
    assert result.cost_usd == 0.3


# --- timeouts ------------------------------------------------------------------------------------------


def test_a_hanging_provider_times_out_while_the_others_arrive(
    fakes, events: Events, release: threading.Event, image: SourceImage, monkeypatch: pytest.MonkeyPatch  # noqa: ANN001
) -> None:
    # A fake has no SDK timeout of its own: the runner's backstop (2 x the deadline + grace) ends the wait.
    monkeypatch.setattr(runner, "WAIT_SLACK_S", 0.05)
    monkeypatch.setattr(base, "RETRY_BACKOFF_ALLOWANCE_S", 0.0)
    fakes("fake_quick", sleeps(0.0))
    fakes("bedrock", waits_for(release), title="Fake Bedrock")
    fakes("fake_steady", sleeps(0.1))
    chosen = providers("fake_quick,bedrock,fake_steady", {"MCV_TIMEOUT_S_BEDROCK": "0.15", "MCV_MAX_ATTEMPTS": "1"})
    assert [p.timeout_s for p in chosen] == [60.0, 0.15, 60.0]

    received: list[tuple[ProviderResult, bool]] = []
    for result in runner.iter_results(chosen, image, PROMPT):
        received.append((result, release.is_set()))
    assert [r.provider for r, _ in received] == ["fake_quick", "fake_steady", "bedrock"]
    assert [r.status for r, _ in received] == ["ok", "ok", "error"]
    timed_out, released_then = received[-1]
    assert released_then is False  # the runner gave up on it; it did not wait for it to end
    assert "bedrock" in events.times("start") and "bedrock" not in events.times("end")
    assert (timed_out.error_type, timed_out.model, timed_out.attempts) == ("timeout", "bedrock-model-v1", 1)
    assert re.fullmatch(
        r"Fake Bedrock gave no answer in 0\.[3-9] s \(no answer within the provider's timeout: raise MCV_TIMEOUT_S or try again\)",
        timed_out.error,
    ), timed_out.error
    assert (timed_out.output, timed_out.image_width, timed_out.cost_usd) == ("", None, None)


def test_compare_keeps_order_with_a_timed_out_provider(
    fakes, release: threading.Event, image: SourceImage, monkeypatch: pytest.MonkeyPatch  # noqa: ANN001
) -> None:
    monkeypatch.setattr(runner, "WAIT_SLACK_S", 0.05)
    monkeypatch.setattr(base, "RETRY_BACKOFF_ALLOWANCE_S", 0.0)
    fakes("sagemaker", waits_for(release), title="Fake SageMaker")
    fakes("fake_quick", sleeps(0.0))
    run = runner.compare(
        providers("sagemaker,fake_quick", {"MCV_TIMEOUT_S_SAGEMAKER": "0.1", "MCV_MAX_ATTEMPTS": "1"}),
        new_run(image, ["sagemaker", "fake_quick"]),
    )
    assert [(r.provider, r.status, r.error_type) for r in run.results] == [
        ("sagemaker", "error", "timeout"),
        ("fake_quick", "ok", None),
    ]


def test_a_registered_provider_gets_its_own_timeout_from_the_environment(fakes) -> None:  # noqa: ANN001
    fakes("fake_hang", sleeps(0.0))
    [provider] = providers("fake_hang", {"MCV_TIMEOUT_S_FAKE_HANG": "0.3"})
    assert provider.timeout_s == 0.3


def test_the_registry_is_restored_after_a_fake_took_a_built_in_name() -> None:
    # Runs after the timeout tests above (file order): the real services are back under their names.
    assert registry.get("bedrock").__module__ == "mcv_core.services.bedrock"
    assert registry.get("sagemaker").__module__ == "mcv_core.services.sagemaker"
    assert registry.names() == ["sagemaker", "bedrock", "azure_openai", "openai"]


# --- all at once ---------------------------------------------------------------------------------------


def test_all_providers_start_at_once(fakes, events: Events, image: SourceImage) -> None:  # noqa: ANN001
    together = threading.Barrier(3, timeout=10)

    def meets_the_others(provider: FakeService, image: PreparedImage, prompt: str) -> Reply:
        together.wait()  # passes only when all three calls are running at the same time
        time.sleep(0.3)
        return reply_for(provider, image, prompt)

    for name in ("par_a", "par_b", "par_c"):
        fakes(name, meets_the_others)
    results = list(runner.iter_results(providers("par_a,par_b,par_c"), image, PROMPT))
    assert sorted((r.provider, r.status, r.error) for r in results) == [
        ("par_a", "ok", None),
        ("par_b", "ok", None),
        ("par_c", "ok", None),
    ]
    starts, ends = events.times("start"), events.times("end")
    assert max(starts.values()) < min(ends.values())  # every call had started before any finished


def test_run_new_fills_identity_and_time(image: SourceImage) -> None:
    before = datetime.now(timezone.utc)
    run = records.Run.new(image, PROMPT, ("sagemaker", "bedrock"), source="bench", bench_id="b1")
    assert run.created_at.tzinfo is not None and run.created_at >= before
    assert (run.providers, run.source, run.bench_id, run.results, run.wall_ms) == (["sagemaker", "bedrock"], "bench", "b1", [], None)
    stamp, _, suffix = run.run_id.partition("-")
    assert len(stamp) == 15 and stamp[8] == "T" and len(suffix) == 10
    assert records.new_run_id() != records.new_run_id()


# --- per-provider concurrency ----------------------------------------------------------------------------


def test_a_burst_never_has_more_calls_in_flight_than_the_provider_allows(fakes, image: SourceImage) -> None:  # noqa: ANN001
    """Eight comparisons at once through one provider object limited to 2: at most 2 calls in flight, the rest wait."""
    in_flight = 0
    peak = 0
    lock = threading.Lock()

    def counted(provider: FakeService, prepared: PreparedImage, prompt: str) -> Reply:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.1)
        with lock:
            in_flight -= 1
        return reply_for(provider, prepared, prompt)

    fakes("fake_limited", counted)
    [provider] = providers("fake_limited", {"MCV_CONCURRENCY_FAKE_LIMITED": "2"})
    assert provider.concurrency == 2
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: runner.call_provider(provider, image, PROMPT), range(8)))
    assert [r.status for r in results] == ["ok"] * 8
    assert peak == 2
    # Those that waited say so, apart from their latency.
    assert max(r.timings["queue_ms"] for r in results) >= 100
    assert all(r.latency_ms < r.timings["queue_ms"] + r.latency_ms for r in results if r.timings["queue_ms"] > 0)


def test_a_provider_whose_slots_stay_busy_gives_a_throttled_result(fakes, image: SourceImage, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(base, "RETRY_BACKOFF_ALLOWANCE_S", 0.0)  # deadline = 0.1 s x 1 attempt
    fakes("fake_busy", sleeps(0.0))
    [provider] = providers("fake_busy", {"MCV_CONCURRENCY_FAKE_BUSY": "1", "MCV_TIMEOUT_S": "0.1", "MCV_MAX_ATTEMPTS": "1"})
    assert provider.deadline_s == pytest.approx(0.1)
    assert provider.slots.acquire()  # someone else holds the only slot
    try:
        result = runner.call_provider(provider, image, PROMPT)
    finally:
        provider.slots.release()
    assert result.status == "error" and result.error_type == "throttled"
    assert "MCV_CONCURRENCY_FAKE_BUSY" in result.error


def test_bad_concurrency_settings_are_clear_errors() -> None:
    with pytest.raises(ConfigError, match="MCV_CONCURRENCY_BEDROCK"):
        Settings.from_mapping({"MCV_CONCURRENCY_BEDROCK": "many"})
    with pytest.raises(ConfigError, match="MCV_CONCURRENCY_BEDROCK must be 1 or more"):
        Settings.from_mapping({"MCV_CONCURRENCY_BEDROCK": "0"})
    # Unset: the service's default, 5 for SageMaker (the serverless endpoint's MaxConcurrency).
    settings = Settings.from_mapping({"MCV_CONCURRENCY_CLAUDE_HAIKU": "3"})
    clients = Clients(settings, Endpoints(aws={}))
    defaults = targets.defaults(settings)
    assert registry.bind(defaults.get("sagemaker"), settings, clients).concurrency == 5
    assert registry.bind(defaults.get("bedrock"), settings, clients).concurrency == 8
    # A target's own variable: its id in capitals, - as _.
    haiku = Target(id="claude-haiku", service="bedrock", model="anthropic.claude-3-haiku-20240307-v1:0")
    assert registry.bind(haiku, settings, clients).concurrency == 3
