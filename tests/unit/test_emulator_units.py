"""The AI emulator's pure parts: token counting, truncation, the fault plan, which models each service answers,
the Azure deployments."""

from __future__ import annotations

import threading

import pytest

from mcv_core import models
from mcv_core.local.emulator import SERVICES, Deployments, Fault, Faults, approx_tokens, truncate_to_tokens
from mcv_core.local.emulator.bedrock import served_model as bedrock_model
from mcv_core.local.emulator.openai_compatible import served_model as openai_model

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


@pytest.mark.parametrize("kind", ["throttle", "error", "timeout", "slow", "malformed", "auth"])
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
