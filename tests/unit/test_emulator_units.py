"""The AI emulator's pure parts: token counting, truncation, the fault plan, which Bedrock models it answers."""

from __future__ import annotations

import threading

import pytest

from mcv_core.local.emulator import BEDROCK_VISION_MODEL, SERVICES, Fault, Faults, approx_tokens, truncate_to_tokens

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
    faults = Faults()
    faults.set("bedrock", [Fault("throttle", count=2)])
    first = faults.take("bedrock")
    assert first is not None and first.kind == "throttle"
    assert faults.describe() == {"bedrock": [{"kind": "throttle", "count": 1, "delay_s": 0.0, "status": 500}]}
    second = faults.take("bedrock")
    assert second is not None and second.kind == "throttle"
    assert [faults.take("bedrock") for _ in range(5)] == [None] * 5
    assert faults.describe() == {}


def test_count_minus_one_applies_until_cleared() -> None:
    faults = Faults()
    faults.set("azure_openai", [Fault("error", status=503)])
    assert Fault("error").count == -1
    taken = [faults.take("azure_openai") for _ in range(50)]
    assert all(f is not None and (f.kind, f.status, f.count) == ("error", 503, -1) for f in taken)
    faults.clear()
    assert faults.take("azure_openai") is None
    assert faults.describe() == {}


def test_faults_apply_in_order_each_for_its_count() -> None:
    faults = Faults()
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
    faults = Faults()
    faults.set("bedrock", [Fault("auth")])
    assert faults.take("sagemaker") is None
    assert faults.take("azure_openai") is None
    taken = faults.take("bedrock")
    assert taken is not None and taken.kind == "auth"


def test_setting_a_service_again_replaces_its_plan() -> None:
    faults = Faults()
    faults.set("bedrock", [Fault("throttle")])
    faults.set("bedrock", [Fault("timeout", count=1, delay_s=3.0)])
    taken = faults.take("bedrock")
    assert taken is not None and (taken.kind, taken.delay_s) == ("timeout", 3.0)
    assert faults.take("bedrock") is None


def test_a_fault_with_count_0_never_applies() -> None:
    faults = Faults()
    faults.set("bedrock", [Fault("throttle", count=0)])
    assert faults.take("bedrock") is None


def test_concurrent_takes_apply_a_counted_fault_exactly_count_times() -> None:
    faults = Faults()
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


@pytest.mark.parametrize("service", ["openai", "bedrock-runtime", "sagemaker-runtime", "Bedrock", ""])
def test_an_unknown_service_raises_and_changes_nothing(service: str) -> None:
    faults = Faults()
    with pytest.raises(ValueError, match="unknown service"):
        faults.set(service, [Fault("throttle")])
    assert faults.describe() == {}
    assert SERVICES == ("sagemaker", "bedrock", "azure_openai")


# --- which Bedrock models the emulator answers ---------------------------------------------------------------


@pytest.mark.parametrize(
    "model_id",
    [
        "anthropic.claude-3-haiku-20240307-v1:0",
        "anthropic.claude-3-haiku-20240307-v1:0:200k",
        "us.anthropic.claude-3-haiku-20240307-v1:0",
        "eu.anthropic.claude-3-haiku-20240307-v1:0",
        "apac.anthropic.claude-3-haiku-20240307-v1:0",
        "anthropic.claude-3-5-sonnet-20240620-v1:0",
        "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
        "anthropic.claude-sonnet-4-20250514-v1:0",
        "global.anthropic.claude-haiku-4-5-20251001-v1:0",
        "jp.anthropic.claude-sonnet-4-5-20250929-v1:0",
    ],
)
def test_claude_3_and_later_ids_and_inference_profiles_are_vision_models(model_id: str) -> None:
    assert BEDROCK_VISION_MODEL.match(model_id)


@pytest.mark.parametrize(
    "model_id",
    [
        "amazon.titan-text-express-v1",
        "amazon.nova-lite-v1:0",
        "anthropic.claude-v2",
        "anthropic.claude-v2:1",
        "anthropic.claude-instant-v1",
        "meta.llama3-8b-instruct-v1:0",
        "xx.anthropic.claude-3-haiku-20240307-v1:0",
        "",
    ],
)
def test_other_models_are_refused(model_id: str) -> None:
    assert not BEDROCK_VISION_MODEL.match(model_id)


@pytest.mark.parametrize(
    "model_id",
    [
        "arn:aws:bedrock:ap-northeast-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
        "arn:aws:bedrock:ap-northeast-1:123456789012:inference-profile/apac.anthropic.claude-3-haiku-20240307-v1:0",
    ],
)
def test_claude_arns_are_vision_models(model_id: str) -> None:
    assert BEDROCK_VISION_MODEL.match(model_id)
