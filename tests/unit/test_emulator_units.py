"""The AI emulator's pure parts: token counting, truncation, the fault plan, which models each service answers,
the Azure deployments, and how a text leaves: token pieces, emulated rates, pacing and the faults of streams."""

from __future__ import annotations

import math
import threading

import pytest

from mcv_core import models
from mcv_core.local.emulator import SERVICES, Deployments, Fault, Faults, approx_tokens, truncate_to_tokens
from mcv_core.local.emulator import streaming
from mcv_core.local.emulator.bedrock import served_model as bedrock_model
from mcv_core.local.emulator.openai_compatible import served_model as openai_model
from mcv_core.local.emulator.wire import FaultAnswers, WireError, apply_fault, token_pieces

# --- approx_tokens ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("", 0),
        ("   \n\t ", 0),
        ("cat", 1),
        ("hello", 2),  # 5 characters: a word costs one token per 4 characters, rounded up
        ("tabby", 2),
        ("Egyptian", 2),
        ("internationalization", 5),
        ("A cat on a mat.", 6),  # six pieces of at most 4 characters, the full stop is one
        ("Hello, world!", 6),  # 2 + 1 + 2 + 1
        ("3.14", 3),  # "3", ".", "14"
        ("espresso (0.90)", 7),  # espresso=2, "(", "0", ".", "90", ")"
        ("猫がいます", 2),  # one \w run of 5 characters
    ],
)
def test_approx_tokens_exact_values(text: str, tokens: int) -> None:
    assert approx_tokens(text) == tokens


def test_approx_tokens_is_additive_over_words() -> None:
    assert approx_tokens("Egyptian cat") == approx_tokens("Egyptian") + approx_tokens("cat") == 3


# --- truncate_to_tokens ----------------------------------------------------------------------------------


def test_text_within_the_limit_is_returned_untouched() -> None:
    text = "A cat  on\na mat."  # whitespace kept as is when nothing is cut
    assert truncate_to_tokens(text, 6) == (text, False)
    assert truncate_to_tokens(text, 1000) == (text, False)


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("one two three four", 4, "one two three"),  # 1+1+2+1 = 5 tokens; "one two three" is 4
        ("one two three four", 3, "one two"),  # "one two three" is 4 > 3
        ("one two three four", 1, "one"),
        ("A cat on a mat.", 5, "A cat on a"),  # the last word "mat." costs 2
        ("supercalifragilistic", 2, ""),  # one word of 5 tokens: nothing fits
        ("one two", 0, ""),
    ],
)
def test_truncation_drops_whole_words_from_the_end(text: str, limit: int, expected: str) -> None:
    out, truncated = truncate_to_tokens(text, limit)
    assert (out, truncated) == (expected, True)
    assert approx_tokens(out) <= limit


# --- faults ----------------------------------------------------------------------------------------------


def test_a_fault_with_count_2_applies_twice_then_stops() -> None:
    faults = Faults(SERVICES)
    faults.set("bedrock", [Fault("throttle", count=2)])
    first = faults.take("bedrock")
    assert first is not None and first.kind == "throttle"
    assert faults.describe() == {"bedrock": [{"kind": "throttle", "count": 1, "delay_s": 0.0, "status": 500}]}
    second = faults.take("bedrock")
    assert second is not None and second.kind == "throttle"
    assert [faults.take("bedrock") for _ in range(5)] == [None] * 5
    assert faults.describe() == {}


def test_count_minus_one_applies_until_cleared() -> None:
    faults = Faults(SERVICES)
    faults.set("azure_openai", [Fault("error", status=503)])
    assert Fault("error").count == -1
    taken = [faults.take("azure_openai") for _ in range(50)]
    assert all(f is not None and (f.kind, f.status, f.count) == ("error", 503, -1) for f in taken)
    faults.clear()
    assert faults.take("azure_openai") is None
    assert faults.describe() == {}


def test_faults_apply_in_order_each_for_its_count() -> None:
    faults = Faults(SERVICES)
    faults.set(
        "sagemaker",
        [Fault("slow", count=1, delay_s=0.25), Fault("error", count=2, status=502), Fault("malformed", count=1)],
    )
    sequence = [faults.take("sagemaker") for _ in range(5)]
    assert [(f.kind, f.delay_s, f.status) if f else None for f in sequence] == [
        ("slow", 0.25, 500),
        ("error", 0.0, 502),
        ("error", 0.0, 502),
        ("malformed", 0.0, 500),
        None,
    ]


def test_faults_are_per_service() -> None:
    faults = Faults(SERVICES)
    faults.set("bedrock", [Fault("auth")])
    assert faults.take("sagemaker") is None
    assert faults.take("azure_openai") is None
    taken = faults.take("bedrock")
    assert taken is not None and taken.kind == "auth"


def test_setting_a_service_again_replaces_its_plan() -> None:
    faults = Faults(SERVICES)
    faults.set("bedrock", [Fault("throttle")])
    faults.set("bedrock", [Fault("timeout", count=1, delay_s=3.0)])
    taken = faults.take("bedrock")
    assert taken is not None and (taken.kind, taken.delay_s) == ("timeout", 3.0)
    assert faults.take("bedrock") is None


def test_a_fault_with_count_0_never_applies() -> None:
    faults = Faults(SERVICES)
    faults.set("bedrock", [Fault("throttle", count=0)])
    assert faults.take("bedrock") is None


def test_concurrent_takes_apply_a_counted_fault_exactly_count_times() -> None:
    faults = Faults(SERVICES)
    faults.set("bedrock", [Fault("throttle", count=25)])
    hits: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def worker() -> None:
        start.wait(timeout=10)
        for _ in range(20):
            taken = faults.take("bedrock") is not None
            with lock:
                hits.append(taken)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(hits) == 160 and hits.count(True) == 25


@pytest.mark.parametrize("kind", ["throttle", "error", "timeout", "slow", "malformed", "auth", "cut"])
def test_every_known_kind_is_accepted(kind: str) -> None:
    assert Fault(kind).kind == kind


@pytest.mark.parametrize("kind", ["throttling", "Throttle", "", "500"])
def test_an_unknown_kind_raises(kind: str) -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        Fault(kind)


@pytest.mark.parametrize("service", ["azure", "bedrock-runtime", "sagemaker-runtime", "Bedrock", ""])
def test_an_unknown_service_raises_and_changes_nothing(service: str) -> None:
    faults = Faults(SERVICES)
    with pytest.raises(ValueError, match="unknown service"):
        faults.set(service, [Fault("throttle")])
    assert faults.describe() == {}
    assert SERVICES == ("sagemaker", "bedrock", "azure_openai", "openai")


def test_the_openai_compatible_service_has_its_own_plan() -> None:
    faults = Faults(SERVICES)
    faults.set("openai", [Fault("throttle", count=1)])
    assert faults.take("azure_openai") is None
    taken = faults.take("openai")
    assert taken is not None and taken.kind == "throttle"


# --- which models each service answers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model_id", "title"),
    [
        ("anthropic.claude-3-haiku-20240307-v1:0", "Claude 3 Haiku"),
        ("anthropic.claude-3-haiku-20240307-v1:0:200k", "Claude 3 Haiku"),
        ("us.anthropic.claude-3-haiku-20240307-v1:0", "Claude 3 Haiku"),
        ("eu.anthropic.claude-3-haiku-20240307-v1:0", "Claude 3 Haiku"),
        ("apac.anthropic.claude-3-haiku-20240307-v1:0", "Claude 3 Haiku"),
        ("anthropic.claude-3-5-sonnet-20240620-v1:0", "Claude 3.5 Sonnet"),
        ("us.anthropic.claude-3-7-sonnet-20250219-v1:0", "Claude 3.7 Sonnet"),
        ("anthropic.claude-sonnet-4-20250514-v1:0", "Claude 4 and later"),
        ("global.anthropic.claude-haiku-4-5-20251001-v1:0", "Claude 4 and later"),
        ("jp.anthropic.claude-sonnet-4-5-20250929-v1:0", "Claude 4 and later"),
        ("amazon.nova-lite-v1:0", "Amazon Nova Lite"),
        ("us.amazon.nova-pro-v1:0", "Amazon Nova Pro"),
        ("meta.llama3-2-90b-instruct-v1:0", "Llama 3.2 90B Vision"),
        ("mistral.pixtral-large-2502-v1:0", "Pixtral Large"),
        ("arn:aws:bedrock:ap-northeast-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0", "Claude 3 Haiku"),
        (
            "arn:aws:bedrock:ap-northeast-1:123456789012:inference-profile/apac.anthropic.claude-3-haiku-20240307-v1:0",
            "Claude 3 Haiku",
        ),
    ],
)
def test_bedrock_answers_every_vision_model_id_profile_and_arn(model_id: str, title: str) -> None:
    model = bedrock_model(model_id)
    assert model is not None and model.title == title and model.standin is not None


@pytest.mark.parametrize(
    "model_id",
    [
        "amazon.titan-text-express-v1",
        "amazon.nova-micro-v1:0",  # text only
        "anthropic.claude-v2",
        "anthropic.claude-v2:1",
        "anthropic.claude-instant-v1",
        "meta.llama3-8b-instruct-v1:0",
        "xx.anthropic.claude-3-haiku-20240307-v1:0",
        "gpt-4o-mini",  # an OpenAI model is not on Bedrock
        "",
    ],
)
def test_bedrock_refuses_other_models(model_id: str) -> None:
    assert bedrock_model(model_id) is None


def test_the_openai_compatible_server_serves_its_models_and_no_other() -> None:
    assert openai_model("gpt-4.1-mini-2025-04-14") is models.resolve("openai", "gpt-4.1-mini")
    assert openai_model("llama3.2-vision:11b") is not None
    for name in ("anthropic.claude-3-haiku-20240307-v1:0", "gpt-99-vision", ""):
        assert openai_model(name) is None


# --- Azure deployments ---------------------------------------------------------------------------------------


def test_deployments_add_known_models_idempotently_and_report_changes() -> None:
    seen: list[dict[str, str]] = []
    deployed = Deployments({"gpt-4o-mini": "gpt-4o-mini"}, on_change=seen.append)
    assert seen == []  # the start-up deployments are not a change
    assert deployed.deploy({"vision": "gpt-4.1"}) == {"gpt-4o-mini": "gpt-4o-mini", "vision": "gpt-4.1"}
    assert deployed.deploy({"vision": "gpt-4.1"}) == deployed.snapshot()
    assert seen == [{"gpt-4o-mini": "gpt-4o-mini", "vision": "gpt-4.1"}]  # once: the second deploy changed nothing
    found = deployed.model("vision")
    assert found is not None and found[0] == "gpt-4.1" and found[1] is models.resolve("azure_openai", "gpt-4.1")
    assert deployed.model("nothing") is None


def test_a_deployment_of_an_unknown_model_is_refused_and_deploys_nothing() -> None:
    deployed = Deployments()
    with pytest.raises(ValueError, match="gpt-99"):
        deployed.deploy({"good": "gpt-4o", "bad": "gpt-99"})
    assert deployed.snapshot() == {}


# --- chat completions: what a request costs ----------------------------------------------------------------------


def _chat_body(size: tuple[int, int], detail: str) -> bytes:
    import base64
    import io
    import json

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, (120, 80, 40)).save(buffer, "PNG")
    url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    content = [{"type": "text", "text": "What is it?"}, {"type": "image_url", "image_url": {"url": url, "detail": detail}}]
    return json.dumps({"model": "m", "messages": [{"role": "user", "content": content}], "max_tokens": 50}).encode()


@pytest.mark.parametrize(
    ("model", "size", "detail", "tokens"),
    [
        ("gpt-4o-mini", (1024, 1024), "auto", 2833 + 5667 * 4),  # 768 x 768 after the shorter side's limit: 2 x 2 tiles
        ("gpt-4o-mini", (1024, 1024), "low", 2833),
        ("gpt-4o", (600, 400), "high", 85 + 170 * 2),
        ("gpt-4.1-mini", (640, 320), "low", 324),  # patches ignore detail: 20 x 10 = 200 x 1.62
    ],
)
def test_chat_image_tokens_follow_the_family_and_its_detail(model: str, size: tuple[int, int], detail: str, tokens: int) -> None:
    from mcv_core.local.emulator import chat

    request = chat.ChatRequest(_chat_body(size, detail))
    assert (request.picture.size, request.detail, request.max_tokens) == (size, detail, 50)
    assert chat.image_tokens(models.resolve("openai", model), request) == tokens


def test_a_chat_image_must_be_a_data_url() -> None:
    import json

    from mcv_core.local.emulator import chat

    content = [{"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}]
    with pytest.raises(ValueError, match="data URL"):
        chat.ChatRequest(json.dumps({"messages": [{"role": "user", "content": content}]}).encode())


# --- streams: token pieces, the emulated rate, pacing and faults (a fake clock: no timing is asserted) ----------

TEXTS = ["", "cat", "A cat on a mat.", "Hello, world!", "internationalization", "  espresso (0.90)  ", "猫がいます", "_x_y a\nb\t"]


@pytest.mark.parametrize("text", TEXTS)
def test_token_pieces_join_back_to_the_text_one_piece_per_counted_token(text: str) -> None:
    pieces = token_pieces(text)
    assert "".join(pieces) == text
    assert len(pieces) == approx_tokens(text) or (text.strip() == "" and pieces == ([text] if text else []))


@pytest.mark.parametrize(
    ("text", "pieces"),
    [
        ("A cat on a mat.", ["A", " cat", " on", " a", " mat", "."]),
        ("internationalization", ["inte", "rnat", "iona", "liza", "tion"]),
        (" Hi,  you ", [" Hi", ",", "  you "]),
        ("   ", ["   "]),
    ],
)
def test_token_pieces_cut_words_in_fours_and_keep_whitespace_before_the_next_piece(text: str, pieces: list[str]) -> None:
    assert token_pieces(text) == pieces


@pytest.mark.parametrize(("raw", "rate"), [(None, None), ("", None), ("120", 120.0), (" 2.5 ", 2.5), ("inf", math.inf)])
def test_the_token_rate_setting_is_a_positive_number(raw: str | None, rate: float | None) -> None:
    assert streaming.rate_override({} if raw is None else {"MCV_LOCAL_TOKENS_PER_S": raw}) == rate


@pytest.mark.parametrize("raw", ["0", "-5", "nan", "fast", "1e"])
def test_a_bad_token_rate_setting_names_the_variable(raw: str) -> None:
    with pytest.raises(ValueError, match="MCV_LOCAL_TOKENS_PER_S must be a positive number"):
        streaming.rate_override({"MCV_LOCAL_TOKENS_PER_S": raw})


def test_each_family_has_its_emulated_rate_and_the_setting_replaces_it_for_all() -> None:
    claude = models.resolve("bedrock", "anthropic.claude-3-haiku-20240307-v1:0")
    gpt = models.resolve("openai", "gpt-4o-mini")
    assert streaming.tokens_per_s(claude, None) == claude.family.emulated_tokens_per_s == 80.0
    assert streaming.tokens_per_s(gpt, None) == gpt.family.emulated_tokens_per_s == 90.0
    assert streaming.tokens_per_s(claude, 7.0) == streaming.tokens_per_s(gpt, 7.0) == 7.0
    # Every model the local cloud answers in words streams at a rate of its own family.
    for service in ("bedrock", "azure_openai", "openai"):
        for model in models.served(service):
            assert model.family.emulated_tokens_per_s > 0, model.key
    assert streaming.tokens_per_s(models.MODELS[0], None) == math.inf  # the classifier declares none: not paced


class FakeClock:
    """time for streaming.py: monotonic seconds that only move when it sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def monotonic_ns(self) -> int:
        return round(self.now * 1e9)

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class FakeHost:
    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.streams = streaming.StreamLog(4)

    def tokens_per_s(self, model: models.Model) -> float:
        return self.rate


class FakeHandler:
    """Records what a TextAnswer writes, and when (by the fake clock)."""

    def __init__(self, clock: FakeClock, rate: float) -> None:
        self.clock, self.emu, self.received_ns, self.connection_requests, self.log = clock, FakeHost(rate), 5, 2, []

    def _note(self, what: str, data: object = None) -> None:
        self.log.append((round(self.clock.now - 1000.0, 9), what, data))

    def start_chunked(self, content_type: str) -> None:
        self._note("start", content_type)

    def write_chunk(self, data: bytes) -> None:
        self._note("chunk", data)

    def end_chunked(self, last: bytes = b"") -> None:
        self._note("end", last)

    def cut(self) -> None:
        self._note("cut")

    def send(self, status: int, body: bytes, content_type: str = "application/json", cut: bool = False) -> None:
        self._note("send", (status, body, cut))


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(streaming, "time", fake)
    return fake


CLAUDE = models.resolve("bedrock", "anthropic.claude-3-haiku-20240307-v1:0")
TEXT = "A tabby cat on a mat."  # 8 pieces: "A", " tabb", "y", " cat", " on", " a", " mat", "."


def stream(h: FakeHandler, fault: str | None = None) -> streaming.TextAnswer:
    out = streaming.TextAnswer(h, "bedrock", CLAUDE, TEXT, streamed=True, fault=fault)  # type: ignore[arg-type]
    out.send_events("type/x", [b"head"], lambda piece: piece.encode(), lambda: [b"tail1", b"tail2"], b"broken")
    return out


def test_a_stream_opens_at_once_then_sends_piece_k_one_token_time_after_the_last(clock: FakeClock) -> None:
    h = FakeHandler(clock, rate=10.0)
    stream(h)
    pieces = token_pieces(TEXT)
    assert h.log[0] == (0.0, "start", "type/x") and h.log[1] == (0.0, "chunk", b"head")
    sent = [(t, data.decode()) for t, what, data in h.log[2 : 2 + len(pieces)]]
    assert sent == [(round((k + 1) / 10.0, 9), piece) for k, piece in enumerate(pieces)]
    last = len(pieces) / 10.0
    assert h.log[2 + len(pieces) :] == [(last, "chunk", b"tail1"), (last, "end", b"tail2")]
    record = h.emu.streams.snapshot()[-1]
    assert record == {
        "service": "bedrock", "model": CLAUDE.key, "streamed": True, "received_ns": 5,
        "output_tokens": approx_tokens(TEXT), "tokens_per_s": 10.0, "connection_request": 2,
        "first_text_ns": round(1000.1 * 1e9),
        "end_ns": round((1000 + last) * 1e9), "text_events": len(pieces), "ended": "complete",
    }  # fmt: skip


def test_a_cut_stream_stops_after_half_its_text_without_its_closing_events(clock: FakeClock) -> None:
    h = FakeHandler(clock, rate=10.0)
    stream(h, fault="cut")
    half = len(token_pieces(TEXT)) // 2
    assert [what for _, what, _ in h.log] == ["start", "chunk"] + ["chunk"] * half + ["cut"]
    assert b"".join(data for _, what, data in h.log[2:-1]) == "".join(token_pieces(TEXT)[:half]).encode()
    record = h.emu.streams.snapshot()[-1]
    assert (record["ended"], record["text_events"]) == ("cut", half)


def test_a_cut_stream_of_one_piece_still_sends_it(clock: FakeClock) -> None:
    h = FakeHandler(clock, rate=10.0)
    out = streaming.TextAnswer(h, "bedrock", CLAUDE, "cat", True, "cut")  # type: ignore[arg-type]
    out.send_events("t", [], str.encode, lambda: [b"tail"], b"x")
    assert [(what, data) for _, what, data in h.log] == [("start", "t"), ("chunk", b"cat"), ("cut", None)]


def test_a_malformed_stream_is_one_broken_event_and_no_text(clock: FakeClock) -> None:
    h = FakeHandler(clock, rate=10.0)
    stream(h, fault="malformed")
    assert [(what, data) for _, what, data in h.log] == [("start", "type/x"), ("end", b"broken")]
    record = h.emu.streams.snapshot()[-1]
    assert (record["ended"], record["first_text_ns"], record["text_events"]) == ("malformed", None, 0)


@pytest.mark.parametrize("fault", [None, "cut", "malformed"])
def test_an_unstreamed_answer_leaves_when_its_last_piece_would_have(clock: FakeClock, fault: str | None) -> None:
    h = FakeHandler(clock, rate=4.0)
    out = streaming.TextAnswer(h, "bedrock", CLAUDE, TEXT, streamed=False, fault=fault)  # type: ignore[arg-type]
    out.send_whole(lambda: b"whole", b"broken")
    last = len(token_pieces(TEXT)) / 4.0
    assert h.log == [(last, "send", (200, b"broken" if fault == "malformed" else b"whole", fault == "cut"))]
    record = h.emu.streams.snapshot()[-1]
    assert (record["streamed"], record["ended"]) == (False, fault or "complete")
    assert record["first_text_ns"] == round((1000 + last) * 1e9)


def test_an_infinite_rate_sends_everything_at_once(clock: FakeClock) -> None:
    h = FakeHandler(clock, rate=math.inf)
    stream(h)
    assert {t for t, _, _ in h.log} == {0.0}
    assert h.emu.streams.snapshot()[-1]["tokens_per_s"] is None


def test_the_stream_log_keeps_the_last_ones_oldest_first() -> None:
    log = streaming.StreamLog(3)
    for i in range(5):
        log.add(streaming.StreamRecord("openai", f"m{i}", True, i, 1, 1.0, 1))
    assert [r["model"] for r in log.snapshot()] == ["m2", "m3", "m4"]


def test_apply_fault_leaves_cut_and_malformed_to_the_answer_and_raises_the_rest() -> None:
    faults = Faults(SERVICES)
    answers = FaultAnswers(
        throttle=lambda: WireError(429, {}),
        error=lambda status: WireError(status, {}),
        auth=lambda: WireError(403, {}),
        malformed=b"",
    )
    faults.set("bedrock", [Fault(kind, count=1) for kind in ("cut", "malformed", "throttle", "slow")])
    assert apply_fault(faults, "bedrock", answers) == "cut"
    assert apply_fault(faults, "bedrock", answers) == "malformed"
    with pytest.raises(WireError) as info:
        apply_fault(faults, "bedrock", answers)
    assert info.value.status == 429
    assert apply_fault(faults, "bedrock", answers) is None  # slow: waited (0 s), then answered as usual
    assert apply_fault(faults, "bedrock", answers) is None


def test_a_chat_request_says_whether_to_stream_and_include_usage() -> None:
    import json

    from mcv_core.local.emulator import chat

    def request(**extra: object) -> chat.ChatRequest:
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], **extra}
        return chat.ChatRequest(json.dumps(body).encode())

    assert (request().stream, request().include_usage) == (False, False)
    streamed = request(stream=True, stream_options={"include_usage": True})
    assert (streamed.stream, streamed.include_usage) == (True, True)
    assert request(stream=True).include_usage is False
    with pytest.raises(ValueError, match="only allowed when 'stream' is enabled"):
        request(stream_options={"include_usage": True})


def test_chunked_transfer_frames_each_event_and_ends_with_the_empty_chunk() -> None:
    import io

    from mcv_core.local.emulator.wire import Handler

    h = Handler.__new__(Handler)  # only its writing: no connection
    h.wfile = io.BytesIO()
    h.write_chunk(b"")  # nothing: an empty chunk would end the body
    h.write_chunk(b"data: {}\n\n")
    h.end_chunked(b"x" * 26)
    assert h.wfile.getvalue() == b"a\r\ndata: {}\n\n\r\n" + b"1a\r\n" + b"x" * 26 + b"\r\n0\r\n\r\n"
