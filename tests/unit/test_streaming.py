"""Streamed answers: the TTFT and rate arithmetic on an injected clock, Bedrock's ConverseStream events as botocore
yields them, chat-completion chunks as the openai SDK's own types (and through the SDK from server-sent events
on a MockTransport), cut streams, and the runner delivering the growing text on the caller's thread."""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Callable, ClassVar, Iterable, Iterator

import boto3
import botocore.exceptions as bce
import httpx2 as httpx
import openai
import pytest
import urllib3.exceptions
from openai.types.chat import ChatCompletionChunk

from mcv_core import errors, runner
from mcv_core.clients import Clients, Endpoints
from mcv_core.config import Settings
from mcv_core.images import ImageSpec, PreparedImage
from mcv_core.records import ANATOMY, ProviderResult, Reply, TextDelta, anatomy
from mcv_core.services import bedrock, chat, registry
from mcv_core.services.base import Service
from mcv_core.targets import Target
from mcv_core.timing import StreamTimer, stream_figures
from tests.unit.test_runner import image, new_run  # noqa: F401  (the module-scoped image fixture)

IMAGE = PreparedImage(data=b"\xff\xd8\xffjpeg-bytes", media_type="image/jpeg", format="jpeg", width=1092, height=1092)
STREAMING = Settings.from_mapping({"MCV_MODE": "cloud", "MCV_MAX_ATTEMPTS": "1", "MCV_STREAM": "1"})
UNSTREAMED = Settings.from_mapping({"MCV_MODE": "cloud", "MCV_MAX_ATTEMPTS": "1", "MCV_STREAM": "0"})
HAIKU = Target(id="claude-haiku", service="bedrock", model="us.anthropic.claude-3-haiku-20240307-v1:0", title="Claude 3 Haiku")
GPT41_MINI = Target(id="gpt41-mini", service="openai", model="gpt-4.1-mini", base_url="http://127.0.0.1:9/v1", title="gpt-4.1-mini")


class Clock:
    """A clock the test moves: `now` seconds."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# --- the arithmetic ----------------------------------------------------------------------------------------------


def test_ttft_and_rate_from_the_stamps() -> None:
    # Sent at 10.0, first text at 10.25, end at 11.25: 250 ms to the first token, then 20 more tokens in 1 s.
    figures = stream_figures(10.0, 10.25, 11.25, 21)
    assert (figures.ttft_ms, figures.output_tokens_per_s) == (250.0, 20.0)
    assert stream_figures(10.0, 10.0005, 10.5005, 3).output_tokens_per_s == 4.0  # 2 tokens after the first in 0.5 s


@pytest.mark.parametrize(
    ("first", "ended", "tokens", "ttft", "rate"),
    [
        (None, 11.0, 20, None, None),  # no text ever came: neither figure
        (10.25, 11.25, 1, 250.0, None),  # one token: nothing after the first
        (10.25, 11.25, 0, 250.0, None),
        (10.25, 11.25, None, 250.0, None),  # the service sent no usage
        (10.25, 10.25, 20, 250.0, None),  # no time after the first text
        (10.25, None, 20, 250.0, None),  # the stream never ended (cut)
    ],
)
def test_no_figure_is_made_up(first: float | None, ended: float | None, tokens: int | None, ttft: float | None, rate: float | None) -> None:
    figures = stream_figures(10.0, first, ended, tokens)
    assert (figures.ttft_ms, figures.output_tokens_per_s) == (ttft, rate)


def test_the_timer_stamps_on_its_clock_and_passes_text_on() -> None:
    clock, seen = Clock(), []
    timer = StreamTimer(seen.append, clock=clock)
    timer.start()
    clock.now += 0.4
    timer.text("")  # an empty delta is not the first text
    assert not timer.began and timer.ttft_ms is None
    clock.now += 0.1
    timer.text("A cat")
    clock.now += 0.2
    timer.text(" on a mat.")
    clock.now += 0.3
    timer.end()
    assert seen == ["A cat", " on a mat."] and timer.received == "A cat on a mat."
    assert timer.ttft_ms == 500.0
    assert timer.figures(7).output_tokens_per_s == 12.0  # 6 tokens after the first in 0.5 s


def test_a_cut_keeps_the_text_and_says_how_much_arrived() -> None:
    clock = Clock()
    timer = StreamTimer(clock=clock)
    timer.start()
    clock.now += 0.125
    timer.text("A tabby cat sits")
    error = timer.cut("the connection broke")
    assert isinstance(error, errors.StreamCutError) and error.kind == "stream_cut"
    assert (error.received, error.ttft_ms) == ("A tabby cat sits", 125.0)
    assert error.message == "the answer stopped after 16 characters: the connection broke"
    assert errors.ERROR_KINDS["stream_cut"] is errors.StreamCutError


# --- the anatomy of a call -----------------------------------------------------------------------------------------


def test_the_anatomy_splits_a_call_into_waiting_preparing_the_service_and_the_rest() -> None:
    timings = {"prepare_ms": 3.5, "queue_ms": 5.0, "model_load_ms": 1.0}
    result = ProviderResult(provider="p", model="m", status="ok", latency_ms=900.0, provider_latency_ms=700.0, timings=timings)
    parts = anatomy(result)
    assert list(parts) == list(ANATOMY) and parts == {"queue_ms": 5.0, "prepare_ms": 3.5, "service_ms": 700.0, "network_ms": 200.0}
    # The same from a stored item (a dict); what is not known is left out.
    assert anatomy({"latency_ms": 900, "timings": {"queue_ms": 0, "prepare_ms": 2}}) == {"queue_ms": 0.0, "prepare_ms": 2.0, "network_ms": 900.0}
    assert anatomy({"status": "error"}) == {}
    # A service that says it took longer than the whole call leaves no rest, not a negative one.
    assert anatomy({"latency_ms": 50, "provider_latency_ms": 60})["network_ms"] == 0.0


# --- Bedrock: ConverseStream's events ------------------------------------------------------------------------------

TEXT = ("A ", "cat ", "on ", "a ", "mat.")


def converse_events(clock: Clock, *, pieces: Iterable[str] = TEXT, end: bool = True, step: float = 0.05) -> Iterator[dict[str, Any]]:
    """The events botocore yields for a ConverseStream answer (its parsed dicts), moving the clock as they
    arrive: 0.3 s before the first, `step` between the others."""
    clock.now += 0.3
    yield {"messageStart": {"role": "assistant"}}
    for piece in pieces:
        clock.now += step
        yield {"contentBlockDelta": {"delta": {"text": piece}, "contentBlockIndex": 0}}
    if not end:
        return
    clock.now += step
    yield {"contentBlockStop": {"contentBlockIndex": 0}}
    yield {"messageStop": {"stopReason": "end_turn"}}
    yield {"metadata": {"usage": {"inputTokens": 1610, "outputTokens": 6, "totalTokens": 1616}, "metrics": {"latencyMs": 412}}}


def test_bedrock_stream_gives_text_usage_service_time_ttft_and_rate() -> None:
    clock, seen = Clock(), []
    timer = StreamTimer(seen.append, clock=clock)
    timer.start()
    reply = bedrock.read_stream(converse_events(clock), timer, "m", 1590, attempts=2)
    assert seen == list(TEXT)
    assert (reply.output, reply.model, reply.input_tokens, reply.output_tokens, reply.image_tokens) == ("A cat on a mat.", "m", 1610, 6, 1590)
    assert (reply.provider_latency_ms, reply.attempts, reply.streamed) == (412.0, 2, True)
    # First text 0.35 s after sending; the end 0.25 s after the first text: 5 tokens after the first.
    assert reply.ttft_ms == pytest.approx(350.0)
    assert reply.output_tokens_per_s == pytest.approx(20.0)


def test_bedrock_stream_ending_without_its_end_events_is_a_cut_keeping_the_text() -> None:
    clock = Clock()
    timer = StreamTimer(clock=clock)
    timer.start()
    with pytest.raises(errors.StreamCutError) as info:
        bedrock.read_stream(converse_events(clock, pieces=TEXT[:3], end=False), timer, "m", None)
    assert info.value.received == "A cat on "
    assert info.value.ttft_ms == pytest.approx(350.0)
    assert "stopped after 9 characters: the stream ended without its messageStop event" in info.value.message


def _then_raise(events: Iterator[dict[str, Any]], exc: BaseException) -> Iterator[dict[str, Any]]:
    yield from events
    raise exc


def _event_error(code: str, message: str) -> bce.EventStreamError:
    # What botocore raises for an exception event: the code is the stream member's name.
    return bce.EventStreamError({"Error": {"Code": code, "Message": message}}, "ConverseStream")


@pytest.mark.parametrize(
    ("exc", "said"),
    [
        (_event_error("modelStreamErrorException", "The model stopped"), "the service sent modelStreamErrorException: The model stopped"),
        (urllib3.exceptions.ProtocolError("Connection broken: IncompleteRead(10 bytes read)"), "the connection broke (ProtocolError"),
        (urllib3.exceptions.ReadTimeoutError(None, "http://x", "Read timed out."), "no data within the read timeout"),
    ],
    ids=["error event", "connection", "read timeout"],
)
def test_bedrock_stream_broken_after_text_is_a_cut(exc: BaseException, said: str) -> None:
    clock = Clock()
    timer = StreamTimer(clock=clock)
    timer.start()
    with pytest.raises(errors.StreamCutError) as info:
        bedrock.read_stream(_then_raise(converse_events(clock, pieces=TEXT[:2], end=False), exc), timer, "m", None)
    assert info.value.received == "A cat "
    assert said in info.value.message


def test_bedrock_throttling_before_the_first_event_is_throttled_as_ever() -> None:
    timer = StreamTimer(clock=Clock())
    timer.start()
    with pytest.raises(errors.ThrottledError) as info:
        bedrock.read_stream(_then_raise(iter(()), _event_error("throttlingException", "Too many requests")), timer, "m", None)
    assert info.value.message == "ThrottlingException: Too many requests"


def test_bedrock_stream_without_any_text_or_end_is_malformed() -> None:
    timer = StreamTimer(clock=Clock())
    timer.start()
    with pytest.raises(errors.MalformedResponseError, match="without its messageStop event, and no text"):
        bedrock.read_stream(iter([{"messageStart": {"role": "assistant"}}]), timer, "m", None)


class FakeStream:
    def __init__(self, events: Iterable[dict[str, Any]]) -> None:
        self.events, self.closed = events, False

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.events)

    def close(self) -> None:
        self.closed = True


class BedrockClient:
    """Records which operation the service used; answers ConverseStream with events, Converse with a body."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.stream: FakeStream | None = None

    def converse_stream(self, **request: Any) -> dict[str, Any]:
        self.calls.append(("converse_stream", request))
        self.stream = FakeStream(list(converse_events(Clock())))
        return {"ResponseMetadata": {"RetryAttempts": 1}, "stream": self.stream}

    def converse(self, **request: Any) -> dict[str, Any]:
        self.calls.append(("converse", request))
        return {
            "output": {"message": {"role": "assistant", "content": [{"text": "A cat."}]}},
            "usage": {"inputTokens": 1610, "outputTokens": 4},
            "metrics": {"latencyMs": 300},
        }


class OneClient(Clients):
    def __init__(self, settings: Settings, *, aws: Any = None, openai_client: Any = None) -> None:
        super().__init__(settings, Endpoints(aws={}))
        self._aws, self._openai = aws, openai_client

    def aws(self, service: str, *, timeout: float | None = None, max_attempts: int | None = None) -> Any:
        return self._aws

    def openai_compatible(self, *, base_url: str = "", api_key_env: str = "", timeout: float | None = None, max_attempts: int | None = None) -> Any:
        return self._openai


def test_a_bedrock_call_streams_by_default_and_not_when_the_target_or_settings_say_no() -> None:
    client = BedrockClient()
    seen: list[str] = []
    reply = registry.bind(HAIKU, STREAMING, OneClient(STREAMING, aws=client)).call(IMAGE, "What is this?", on_text=seen.append)
    [(operation, request)] = client.calls
    assert operation == "converse_stream" and request == bedrock.build_request(HAIKU.model, IMAGE, "What is this?", 300)
    assert client.stream is not None and client.stream.closed
    assert (reply.output, reply.streamed, reply.attempts, reply.provider_latency_ms) == ("A cat on a mat.", True, 2, 412.0)
    assert seen == list(TEXT) and reply.ttft_ms is not None and reply.ttft_ms >= 0
    assert reply.image_tokens == 1590

    for target, settings in ((HAIKU, UNSTREAMED), (Target(**{**HAIKU.__dict__, "stream": False}), STREAMING)):
        client = BedrockClient()
        service = registry.bind(target, settings, OneClient(settings, aws=client))
        assert not service.streaming
        reply = service.call(IMAGE, "What is this?", on_text=seen.append)
        assert [op for op, _ in client.calls] == ["converse"]
        assert (reply.streamed, reply.ttft_ms, reply.output_tokens_per_s) == (False, None, None)


def test_botocore_s_real_client_takes_the_same_request_for_converse_stream() -> None:
    # build_request's arguments validate against botocore's own ConverseStream input shape.
    client = boto3.client("bedrock-runtime", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    model = client.meta.service_model.operation_model("ConverseStream")
    from botocore.validate import validate_parameters

    validate_parameters(bedrock.build_request(HAIKU.model, IMAGE, "What is this?", 300), model.input_shape)


# --- chat completions: the openai SDK's chunks ---------------------------------------------------------------------


def chunk(
    content: str | None = None, finish: str | None = None, usage: dict | None = None, role: str | None = None, model: str = "gpt-4.1-mini-2025-04-14"
) -> dict[str, Any]:
    """One chat.completion.chunk as OpenAI sends it (include_usage: `usage` null except on the last)."""
    delta = {k: v for k, v in (("role", role), ("content", content)) if v is not None}
    choices = [] if usage is not None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1700000000, "model": model, "choices": choices, "usage": usage}


def chat_chunks(*, end: bool = True, usage: bool = True) -> list[dict[str, Any]]:
    out = [chunk("", role="assistant"), *(chunk(piece) for piece in TEXT)]
    if end:
        out.append(chunk(finish="stop"))
        if usage:
            out.append(chunk(usage={"prompt_tokens": 2850, "completion_tokens": 6, "total_tokens": 2856}))
    return out


def sdk_chunks(clock: Clock, data: list[dict[str, Any]]) -> Iterator[ChatCompletionChunk]:
    clock.now += 0.3
    for item in data:
        clock.now += 0.05
        yield ChatCompletionChunk.model_validate(item)


def test_chat_stream_gives_text_usage_ttft_and_rate() -> None:
    clock, seen = Clock(), []
    timer = StreamTimer(seen.append, clock=clock)
    timer.start()
    reply = chat.read_stream(sdk_chunks(clock, chat_chunks()), timer, "gpt-4.1-mini", 765, attempts=1)
    assert seen == list(TEXT)
    assert (reply.output, reply.model, reply.input_tokens, reply.output_tokens) == ("A cat on a mat.", "gpt-4.1-mini-2025-04-14", 2850, 6)
    assert (reply.provider_latency_ms, reply.streamed, reply.image_tokens) == (None, True, 765)
    # The role chunk carries no text: the first text is the second chunk, 0.4 s after sending; the stream's
    # last chunk (usage) 0.3 s after that: 5 tokens after the first.
    assert reply.ttft_ms == pytest.approx(400.0)
    assert reply.output_tokens_per_s == pytest.approx(5 / 0.3, abs=1e-3)  # kept to 3 decimals


def test_chat_stream_without_usage_stands_with_unknown_tokens() -> None:
    clock = Clock()
    timer = StreamTimer(clock=clock)
    timer.start()
    reply = chat.read_stream(sdk_chunks(clock, chat_chunks(usage=False)), timer, "m", None)
    assert (reply.output, reply.input_tokens, reply.output_tokens, reply.output_tokens_per_s) == ("A cat on a mat.", None, None, None)
    assert reply.ttft_ms == pytest.approx(400.0)


def test_chat_stream_without_a_finish_reason_is_a_cut_keeping_the_text() -> None:
    clock = Clock()
    timer = StreamTimer(clock=clock)
    timer.start()
    with pytest.raises(errors.StreamCutError) as info:
        chat.read_stream(sdk_chunks(clock, chat_chunks(end=False)[:4]), timer, "m", None)
    assert (info.value.received, info.value.ttft_ms) == ("A cat on ", pytest.approx(400.0))
    assert info.value.message == "the answer stopped after 9 characters: the stream ended without a finish_reason"


def test_chat_stream_broken_by_the_connection_after_text_is_a_cut() -> None:
    clock = Clock()
    timer = StreamTimer(clock=clock)
    timer.start()
    broken = openai.APIConnectionError(request=httpx.Request("POST", "http://127.0.0.1/v1/chat/completions"))

    def chunks() -> Iterator[ChatCompletionChunk]:
        yield from sdk_chunks(clock, chat_chunks()[:3])
        raise broken

    with pytest.raises(errors.StreamCutError) as info:
        chat.read_stream(chunks(), timer, "m", None)
    assert info.value.received == "A cat " and "APIConnectionError" in info.value.message


def sse_body(items: list[Any]) -> bytes:
    return b"".join(f"data: {item if isinstance(item, str) else json.dumps(item)}\n\n".encode() for item in items)


def openai_service(settings: Settings, handler: Callable[[httpx.Request], httpx.Response]) -> Service:
    http = httpx.Client(transport=httpx.MockTransport(handler))
    client = openai.OpenAI(api_key="test", base_url=GPT41_MINI.base_url, http_client=http, max_retries=0)
    return registry.bind(GPT41_MINI, settings, OneClient(settings, openai_client=client))


def test_a_chat_call_streams_server_sent_events_through_the_sdk() -> None:
    sent: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(200, content=sse_body([*chat_chunks(), "[DONE]"]), headers={"content-type": "text/event-stream"})

    seen: list[str] = []
    reply = openai_service(STREAMING, handler).call(IMAGE, "Describe", on_text=seen.append)
    assert sent[0]["stream"] is True and sent[0]["stream_options"] == {"include_usage": True}
    assert seen == list(TEXT)
    assert (reply.output, reply.output_tokens, reply.streamed, reply.attempts) == ("A cat on a mat.", 6, True, 1)
    assert reply.ttft_ms is not None and reply.ttft_ms >= 0


def test_a_chat_stream_that_stops_early_through_the_sdk_is_a_cut() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=sse_body(chat_chunks()[:3]), headers={"content-type": "text/event-stream"})

    with pytest.raises(errors.StreamCutError) as info:
        openai_service(STREAMING, handler).call(IMAGE, "Describe")
    assert info.value.received == "A cat "


def test_a_chat_call_throttled_before_the_stream_is_throttled_and_unstreamed_calls_stay() -> None:
    def throttled(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, json={"error": {"code": "rate_limit_exceeded", "message": "Slow down"}})

    with pytest.raises(errors.ThrottledError):
        openai_service(STREAMING, throttled).call(IMAGE, "Describe")

    sent: list[dict[str, Any]] = []

    def whole(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        body = {
            "id": "c",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-4.1-mini",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "A cat."}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13},
        }
        return httpx.Response(200, json=body)

    reply = openai_service(UNSTREAMED, whole).call(IMAGE, "Describe")
    assert "stream" not in sent[0] and "stream_options" not in sent[0]
    assert (reply.output, reply.streamed, reply.ttft_ms) == ("A cat.", False, None)


# --- the runner: deltas on the caller's thread ---------------------------------------------------------------------

SPEC = ImageSpec("fake", max_long_edge=32)


class Streamer(Service):
    """A streaming fake: its `script(on_text)` sends deltas and returns a Reply or raises."""

    service = "fake_streamer"
    service_title = "Fake streamer"
    cloud = "aws"
    streams = True
    script: ClassVar[Callable[[Callable[[str], None]], Reply]]
    given: ClassVar[list[bool]] = []  # whether each call was given an on_text


    @property
    def model_id(self) -> str:
        return "streamer-v1"

    @property
    def image_spec(self) -> ImageSpec:
        return SPEC

    def call(self, image: PreparedImage, prompt: str, on_text: Callable[[str], None] | None = None) -> Reply:
        type(self).given.append(on_text is not None)
        return type(self).script(on_text or (lambda text: None))

    def probe(self, timeout: float) -> tuple[str, dict]:
        raise AssertionError("not probed")


@pytest.fixture
def streamer() -> Iterator[Callable[[Callable[[Callable[[str], None]], Reply]], Service]]:
    registry.register(Streamer)

    def make(script: Callable[[Callable[[str], None]], Reply]) -> Service:
        Streamer.script = staticmethod(script)  # type: ignore[assignment]
        settings = Settings.from_mapping({"MCV_STREAM": "1"})
        return registry.bind(Target(id="streamer", service="fake_streamer", title="Streamer"), settings, Clients(settings, Endpoints(aws={})))

    yield make
    registry.unregister("fake_streamer")


def streamed_reply(text: str) -> Reply:
    return Reply(output=text, model="streamer-v1", output_tokens=5, ttft_ms=12.0, output_tokens_per_s=40.0, streamed=True)


def test_deltas_reach_the_caller_s_thread_in_order_and_at_once(streamer, image) -> None:  # noqa: ANN001
    received: list[tuple[TextDelta, float, int]] = []
    sent: list[float] = []
    acknowledged = threading.Event()

    def script(on_text: Callable[[str], None]) -> Reply:
        for piece in TEXT:
            acknowledged.clear()
            sent.append(time.perf_counter())
            on_text(piece)
            assert acknowledged.wait(5), "the caller never saw the delta"  # one at a time: nothing to fold
        return streamed_reply("A cat on a mat.")

    events = []
    for event in runner.iter_events([streamer(script)], image, "What?"):
        if isinstance(event, TextDelta):
            received.append((event, time.perf_counter(), threading.get_ident()))
            acknowledged.set()
        events.append(event)
    assert [d.text for d, _, _ in received] == ["A ", "A cat ", "A cat on ", "A cat on a ", "A cat on a mat."]
    assert {thread for _, _, thread in received} == {threading.get_ident()}
    assert len({d.ttft_ms for d, _, _ in received}) == 1 and received[0][0].ttft_ms >= 0
    # From the worker's on_text to the caller: well under the 100 ms a page may take to draw it.
    assert max(at - sent[i] for i, (_, at, _) in enumerate(received)) < 0.05
    result = events[-1]
    assert isinstance(result, ProviderResult) and result.ok and (result.ttft_ms, result.streamed) == (12.0, True)
    assert result.output_tokens_per_s == 40.0


def test_deltas_that_queued_up_come_as_the_latest_and_none_after_the_result(streamer, image) -> None:  # noqa: ANN001
    first, second = threading.Event(), threading.Event()

    def script(on_text: Callable[[str], None]) -> Reply:
        on_text("A ")
        assert first.wait(5)
        for piece in TEXT[1:4]:  # these queue up while the caller is busy
            on_text(piece)
        assert second.wait(5)
        return streamed_reply("A cat on a mat.")

    texts: list[str] = []
    for event in runner.iter_events([streamer(script)], image, "What?"):
        if isinstance(event, TextDelta):
            texts.append(event.text)
            (second if first.is_set() else first).set()
            time.sleep(0.2)
        else:
            texts.append(f"result: {event.output}")
    assert texts == ["A ", "A cat on a ", "result: A cat on a mat."]

    gate = threading.Event()

    def quick(on_text: Callable[[str], None]) -> Reply:
        on_text("A ")
        assert gate.wait(5)
        on_text("cat")
        return streamed_reply("A cat")

    texts = []
    for event in runner.iter_events([streamer(quick)], image, "What?"):
        texts.append(event.text if isinstance(event, TextDelta) else "result")
        gate.set()
        time.sleep(0.2)  # the last delta and the result are queued together: the delta is dropped
    assert texts == ["A ", "result"]


def test_a_cut_stream_is_an_error_result_with_the_text_so_far(streamer, image) -> None:  # noqa: ANN001
    def script(on_text: Callable[[str], None]) -> Reply:
        on_text("A cat ")
        raise errors.StreamCutError.after("A cat ", "the connection broke", ttft_ms=42.0)

    run = runner.compare([streamer(script)], new_run(image, ["streamer"]), on_text=lambda delta: None)
    [result] = run.results
    assert (result.status, result.error_type, result.output, result.ttft_ms, result.streamed) == ("error", "stream_cut", "A cat ", 42.0, True)
    assert result.error.startswith("the answer stopped after 6 characters: the connection broke (")
    assert {"prepare_ms", "queue_ms", "network_ms"} <= set(result.timings)


def test_compare_and_iter_results_without_deltas(streamer, image) -> None:  # noqa: ANN001
    seen = threading.Event()

    def script(on_text: Callable[[str], None]) -> Reply:
        on_text("A ")
        seen.wait(5)
        on_text("cat")
        return streamed_reply("A cat")

    deltas: list[TextDelta] = []
    results: list[ProviderResult] = []

    def on_text(delta: TextDelta) -> None:
        deltas.append(delta)
        seen.set()

    Streamer.given.clear()
    runner.compare([streamer(script)], new_run(image, ["streamer"]), on_result=results.append, on_text=on_text)
    assert deltas[0].text == "A " and [r.output for r in results] == ["A cat"]
    seen.set()
    # iter_results (bench, judge) and compare without on_text: the service is given no on_text at all.
    assert [type(e) for e in runner.iter_results([streamer(script)], image, "What?")] == [ProviderResult]
    runner.compare([streamer(script)], new_run(image, ["streamer"]))
    assert Streamer.given == [True, False, False]


def test_no_stream_on_the_command_line() -> None:
    from mcv_core.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["compare", "a.jpg", "--no-stream"]).no_stream is True
    assert parser.parse_args(["compare", "a.jpg"]).no_stream is False
    assert parser.parse_args(["bench", "--samples", "--no-stream"]).no_stream is True
