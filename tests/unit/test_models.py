"""Model families, model ids and prices (mcv_core/models.py, targets.Target).

Every expected token count is worked out by hand in the comment next to it, from the rule each family cites
(Anthropic's, OpenAI's, Amazon's, Meta's and Mistral's published figures); prices are checked against
genai-prices itself, not against numbers copied from it.
"""

from __future__ import annotations

import pytest
from genai_prices import Usage, calc_price

from mcv_core import models, targets
from mcv_core.config import Settings
from mcv_core.models import (
    CLAUDE_FAMILY,
    GPT4O_FAMILY,
    GPT4O_MINI_FAMILY,
    LLAMA_FAMILY,
    NOVA_FAMILY,
    PIXTRAL_FAMILY,
    UNKNOWN_FAMILY,
    resolve,
)
from mcv_core.targets import Target


def family(service: str, model: str) -> models.Family:
    known = resolve(service, model)
    assert known is not None, f"{model} on {service} should be a known model"
    return known.family


# --- Claude: w*h/750 after the service's own downscale (long edge 1568 px, about 1600 tokens = 1.2 MP) -------


@pytest.mark.parametrize(
    "size, tokens",
    [
        # 1092 x 1092 = 1,192,464 px: within 1568 px and 1.2 MP, not scaled; 1,192,464 / 750 = 1589.95 -> 1590
        ((1092, 1092), 1590),
        # 2000 x 1500: 1568/2000 = 0.784, sqrt(1,200,000 / 3,000,000) = 0.63246 -> 0.63246 (the area binds);
        # 2000 x 0.63246 = 1264.9 -> 1264, 1500 x 0.63246 = 948.7 -> 948; 1264 x 948 = 1,198,272 px;
        # 1,198,272 / 750 = 1597.70 -> 1598
        ((2000, 1500), 1598),
        # 3000 x 500: 1568/3000 = 0.52267, sqrt(1,200,000 / 1,500,000) = 0.894 -> 0.52267 (the long edge binds);
        # 1568 x 261.3 -> 1568 x 261 = 409,248 px; / 750 = 545.66 -> 546
        ((3000, 500), 546),
        # 200 x 200 = 40,000 px, never scaled up; / 750 = 53.3 -> 54
        ((200, 200), 54),
    ],
)
def test_claude_image_tokens(size: tuple[int, int], tokens: int) -> None:
    assert CLAUDE_FAMILY.image_tokens(*size) == tokens
    assert family("bedrock", "anthropic.claude-3-haiku-20240307-v1:0").image_tokens(*size) == tokens


# --- OpenAI tile models: base + per tile, after fitting in 2048 and the shorter side to 768 -------------------


@pytest.mark.parametrize(
    "size, detail, mini, full",
    [
        # 1024 x 1024: fits in 2048; shorter side 1024 -> 768: 768 x 768; ceil(768/512) = 2 -> 2 x 2 = 4 tiles;
        # gpt-4o-mini 2833 + 4 x 5667 = 2833 + 22,668 = 25,501; gpt-4o 85 + 4 x 170 = 765
        ((1024, 1024), "auto", 25501, 765),
        ((1024, 1024), "high", 25501, 765),
        # detail low: the base alone, whatever the size: 2833; 85
        ((1024, 1024), "low", 2833, 85),
        ((4000, 3000), "low", 2833, 85),
        # 2048 x 4096: 2048/4096 = 0.5, 768/2048 = 0.375 -> 0.375: 768 x 1536; 2 x 3 = 6 tiles;
        # 2833 + 6 x 5667 = 2833 + 34,002 = 36,835; 85 + 6 x 170 = 1105
        ((2048, 4096), "auto", 36835, 1105),
        # 500 x 300: not scaled (300 <= 768); 1 x 1 tile; 2833 + 5667 = 8500; 85 + 170 = 255
        ((500, 300), "auto", 8500, 255),
    ],
)
def test_openai_tile_tokens(size: tuple[int, int], detail: str, mini: int, full: int) -> None:
    assert GPT4O_MINI_FAMILY.image_tokens(*size, detail) == mini
    assert GPT4O_FAMILY.image_tokens(*size, detail) == full
    assert family("azure_openai", "gpt-4o-mini").image_tokens(*size, detail) == mini
    assert family("openai", "gpt-4o").image_tokens(*size, detail) == full
    assert family("openai", "gpt-4.1").image_tokens(*size, detail) == full  # gpt-4.1 counts tiles like gpt-4o


def test_an_image_detail_that_is_not_one_is_refused() -> None:
    with pytest.raises(ValueError, match="detail must be auto, high or low"):
        GPT4O_MINI_FAMILY.image_tokens(1024, 1024, "medium")
    with pytest.raises(ValueError, match="positive integers"):
        GPT4O_FAMILY.image_tokens(0, 1024)


# --- OpenAI patch models: 32-px patches, at most 1536, times the model's multiplier -------------------------


@pytest.mark.parametrize(
    "size, patches",
    [
        # 1024 x 1024: 32 x 32 = 1024 patches (<= 1536, not scaled)
        ((1024, 1024), 1024),
        # 500 x 300: ceil(15.6) x ceil(9.4) = 16 x 10 = 160
        ((500, 300), 160),
        # 1800 x 2400: 57 x 75 = 4275 > 1536, so scaled (OpenAI's own example):
        # r = sqrt(32 x 32 x 1536 / (1800 x 2400)) = sqrt(1,572,864 / 4,320,000) = sqrt(0.36409) = 0.60340;
        # 1800r = 1086.1 -> 33.94 patches, 2400r = 1448.2 -> 45.25 patches;
        # r *= min(33/33.94, 45/45.25) = min(0.97227, 0.99437) = 0.97227 -> r = 0.58667;
        # 1800r = 1056 px = 33 patches, 2400r = 1408 px = 44 patches -> 33 x 44 = 1452
        ((1800, 2400), 1452),
        # 1000 x 1615: 32 x 51 = 1632 > 1536: r = sqrt(1,572,864 / 1,615,000) = sqrt(0.97391) = 0.98687;
        # 1000r = 986.9 -> 30.84 patches, 1615r = 1593.8 -> 49.81 patches;
        # r *= min(30/30.84, 49/49.81) = min(0.97277, 0.98382) = 0.97277;
        # 1000r = 960 px = 30 patches exactly, 1615r = 1550.4 px = 48.45 -> 49 patches -> 30 x 49 = 1470
        ((1000, 1615), 1470),
    ],
)
def test_openai_patches(size: tuple[int, int], patches: int) -> None:
    assert models.openai_patches(*size) == patches


@pytest.mark.parametrize(
    "model, size, tokens",
    [
        ("gpt-4.1-mini", (1024, 1024), 1659),  # 1024 x 1.62 = 1658.88 -> 1659
        ("gpt-4.1-mini", (1800, 2400), 2353),  # 1452 x 1.62 = 2352.24 -> 2353
        ("gpt-4.1-mini", (480, 320), 243),  # 15 x 10 = 150 patches; 150 x 1.62 = 243 exactly -> 243
        ("gpt-4.1-nano", (1024, 1024), 2520),  # 1024 x 2.46 = 2519.04 -> 2520
        ("gpt-4.1-nano", (500, 300), 394),  # 160 x 2.46 = 393.6 -> 394
        ("o4-mini", (1024, 1024), 1762),  # 1024 x 1.72 = 1761.28 -> 1762
        ("o4-mini", (1800, 2400), 2498),  # 1452 x 1.72 = 2497.44 -> 2498
    ],
)
def test_openai_patch_tokens(model: str, size: tuple[int, int], tokens: int) -> None:
    assert family("openai", model).image_tokens(*size) == tokens
    assert family("azure_openai", f"{model}-2025-04-16").image_tokens(*size) == tokens


# --- Amazon Nova: the guide's table, closest aspect ratio, then closest area --------------------------------


@pytest.mark.parametrize(
    "size, tokens",
    [
        # 800 x 400: ratio 2, as 900 x 450 and 1800 x 900; area 320,000 is closer to 405,000 than to 1,620,000
        # -> 900 x 450, ~800 (the guide's own example)
        ((800, 400), 800),
        # 900 x 900 and 1300 x 1300: entries of the table themselves
        ((900, 900), 1300),
        ((1300, 1300), 2600),
        # 1920 x 1080: ratio 1.778; |ln(1.778/2)| = 0.118 < |ln(1.778/1.556)| = 0.134 (1400 x 900), so ratio 2;
        # area 2,073,600 is closer to 1,620,000 (1800 x 900) than to 405,000 -> ~2400
        ((1920, 1080), 2400),
        # 1400 x 900 itself, and its portrait twin 900 x 1400 (the ratio is long side over short side)
        ((1400, 900), 1800),
        ((900, 1400), 1800),
    ],
)
def test_nova_image_tokens(size: tuple[int, int], tokens: int) -> None:
    assert NOVA_FAMILY.image_tokens(*size) == tokens
    assert family("bedrock", "us.amazon.nova-lite-v1:0").image_tokens(*size) == tokens


# --- Llama 3.2 Vision: 560-px tiles, a canvas of at most 4, 1601 tokens per tile ----------------------------


@pytest.mark.parametrize(
    "size, canvas, tokens",
    [
        # 560 x 560: canvases (c, r) with c x r <= 4 scale it by min(c, r); all >= 1, the least is 1, shared by
        # 1x1, 1x2, 1x3, 1x4, 2x1, 3x1, 4x1 -> the smallest, 1 x 1: 1601
        ((560, 560), (1, 1), 1601),
        # 1120 x 1120: scale min(c, r) / 2; only 2 x 2 reaches 1 -> 4 tiles: 4 x 1601 = 6404
        ((1120, 1120), (2, 2), 6404),
        # 1000 x 300: scale min(0.56c, 1.867r): 1x1 0.56, 2x1 1.12, 3x1 1.68, 4x1 1.867, 2x2 1.12, 1xr 0.56;
        # the least upscaling is 1.12 (2x1 and 2x2) -> the smaller, 2 x 1: 2 x 1601 = 3202
        ((1000, 300), (2, 1), 3202),
        # 3000 x 3000: every canvas scales down; the least downscaling is 2 x 2 (1120/3000 = 0.373) -> 6404
        ((3000, 3000), (2, 2), 6404),
    ],
)
def test_llama_image_tokens(size: tuple[int, int], canvas: tuple[int, int], tokens: int) -> None:
    assert models.llama_tiles(*size) == canvas
    assert LLAMA_FAMILY.image_tokens(*size) == tokens
    assert family("openai", "llama3.2-vision:11b").image_tokens(*size) == tokens


# --- Pixtral: 16-px patches plus one per row, fitted in 1024 x 1024 -----------------------------------------


@pytest.mark.parametrize(
    "size, tokens",
    [
        ((1024, 1024), 4160),  # 64 x 64 patches + 64 rows = 4096 + 64 = 4160
        ((2048, 1024), 2080),  # -> 1024 x 512: 64 x 32 + 32 = 2048 + 32 = 2080
        ((100, 50), 32),  # ceil(6.25) x ceil(3.125) = 7 x 4 = 28, + 4 rows = 32
    ],
)
def test_pixtral_image_tokens(size: tuple[int, int], tokens: int) -> None:
    assert PIXTRAL_FAMILY.image_tokens(*size) == tokens
    assert family("bedrock", "us.mistral.pixtral-large-2502-v1:0").image_tokens(*size) == tokens


# --- resolve: every form a model id comes in ----------------------------------------------------------------

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
SONNET_35 = "anthropic.claude-3-5-sonnet-20241022-v2:0"


@pytest.mark.parametrize(
    "service, model_id, key",
    [
        ("bedrock", HAIKU, HAIKU),
        ("bedrock", f"us.{HAIKU}", HAIKU),
        ("bedrock", f"eu.{SONNET_35}", SONNET_35),
        ("bedrock", f"apac.{SONNET_35}", SONNET_35),
        ("bedrock", f"arn:aws:bedrock:us-east-1::foundation-model/{HAIKU}", HAIKU),
        ("bedrock", f"arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.{SONNET_35}", SONNET_35),
        ("bedrock", "us.amazon.nova-lite-v1:0", "amazon.nova-lite-v1:0"),
        ("bedrock", "us.meta.llama3-2-90b-instruct-v1:0", "meta.llama3-2-90b-instruct-v1:0"),
        ("bedrock", "anthropic.claude-sonnet-4-20250514-v1:0", "anthropic.claude-sonnet-4-20250514-v1:0"),
        ("azure_openai", "gpt-4o-mini", "gpt-4o-mini"),
        ("azure_openai", "gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("openai", "gpt-4o-2024-08-06", "gpt-4o"),
        ("openai", "GPT-4.1-mini-2025-04-14", "gpt-4.1-mini"),
        ("openai", "gpt-4.1", "gpt-4.1"),
        ("openai", "o4-mini-2025-04-16", "o4-mini"),
        ("openai", "llama3.2-vision:11b", "llama3.2-vision"),
        ("openai", "llama3.2-vision", "llama3.2-vision"),
        ("sagemaker", "mc-vision-classifier", "classifier"),
    ],
)
def test_resolve_every_id_form(service: str, model_id: str, key: str) -> None:
    known = resolve(service, model_id)
    assert known is not None and known.key == key


@pytest.mark.parametrize(
    "service, model_id",
    [
        ("openai", "acme-vision-7b"),
        ("bedrock", "anthropic.claude-9-haiku"),  # not a Claude id the table knows
        ("bedrock", "gpt-4o-mini"),  # an OpenAI model, asked of Bedrock
        ("azure_openai", "llama3.2-vision:11b"),  # an Ollama name, asked of Azure
        ("bedrock", "amazon.nova-micro-v1:0"),  # text only: not a vision model here
    ],
)
def test_an_unknown_id_is_the_unknown_family(service: str, model_id: str) -> None:
    assert resolve(service, model_id) is None
    assert models.family_of(service, model_id) is UNKNOWN_FAMILY
    assert UNKNOWN_FAMILY.image_tokens(1024, 1024) is None
    target = Target(id="mystery", service=service, model=model_id)
    assert (target.family, target.image_tokens(1024, 1024), target.model_title) == (UNKNOWN_FAMILY, None, model_id)


def test_normalise_keeps_what_is_not_a_prefix() -> None:
    assert models.normalise("bedrock", f" us.{HAIKU} ") == HAIKU
    # "us" alone with no dot after the model's vendor is not a region prefix.
    assert models.normalise("bedrock", "us.nova") == "us.nova"
    assert models.normalise("openai", "Llama3.2-Vision:11B") == "llama3.2-vision:11b"


def test_served_lists_only_vision_models_with_a_stand_in() -> None:
    bedrock = models.served("bedrock")
    assert [m.key for m in bedrock][:2] == [
        "anthropic.claude-3-haiku-20240307-v1:0",
        "anthropic.claude-3-sonnet-20240229-v1:0",
    ]
    assert all("bedrock" in m.services and m.standin is not None and not m.text_only for m in bedrock)
    assert "llama3.2-vision" in [m.key for m in models.served("openai")]
    assert "llama3.2-vision" not in [m.key for m in models.served("azure_openai")]
    assert models.served("sagemaker") == ()  # the classifier is our own model, not a stand-in


# --- prices: genai-prices for known models, the catalogue's for others, never a made-up 0 -------------------

CATALOGUE = """
[targets.claude-3-haiku]
service = "bedrock"
model = "anthropic.claude-3-haiku-20240307-v1:0"

[targets.claude-35-sonnet]
service = "bedrock"
model = "us.anthropic.claude-3-5-sonnet-20241022-v2:0"

[targets.nova-lite]
service = "bedrock"
model = "amazon.nova-lite-v1:0"

[targets.azure-mini]
service = "azure_openai"
deployment = "vision-mini"
model = "gpt-4o-mini"

[targets.gpt41-mini]
service = "openai"
model = "gpt-4.1-mini"

[targets.acme-priced]
service = "openai"
model = "acme-vision-7b"
input_usd_per_mtok = 0.5
output_usd_per_mtok = 1.5

[targets.acme-unpriced]
service = "openai"
model = "acme-vision-7b"
"""

# target id -> (the model as genai-prices names it, genai-prices' provider id)
GENAI_PRICES = {
    "claude-3-haiku": ("anthropic.claude-3-haiku-20240307-v1:0", "aws"),
    "claude-35-sonnet": ("anthropic.claude-3-5-sonnet-20241022-v2:0", "aws"),
    "nova-lite": ("amazon.nova-lite-v1:0", "aws"),
    "azure-mini": ("gpt-4o-mini", "azure"),
    "gpt41-mini": ("gpt-4.1-mini", "openai"),
}


@pytest.fixture(scope="module")
def catalogue() -> targets.Catalogue:
    return targets.parse(CATALOGUE, Settings())


def reference(target_id: str, input_tokens: int, output_tokens: int) -> float:
    model_ref, provider = GENAI_PRICES[target_id]
    usage = Usage(input_tokens=input_tokens, output_tokens=output_tokens)
    return float(calc_price(usage, model_ref, provider_id=provider).total_price)


@pytest.mark.parametrize("target_id", list(GENAI_PRICES))
def test_known_models_are_priced_as_genai_prices_prices_them(catalogue: targets.Catalogue, target_id: str) -> None:
    target = catalogue.get(target_id)
    expected = (reference(target_id, 1_000_000, 0), reference(target_id, 0, 1_000_000))
    assert target.token_prices() == pytest.approx(expected, rel=1e-9)
    assert expected[0] > 0 and expected[1] > 0
    assert target.price_source == "genai-prices"
    assert target.token_cost(1234, 567) == pytest.approx(reference(target_id, 1234, 567), rel=1e-9)


def test_an_unknown_model_with_catalogue_prices_uses_them(catalogue: targets.Catalogue) -> None:
    target = catalogue.get("acme-priced")
    assert target.token_prices() == (0.5, 1.5)
    assert target.price_source == "catalogue"
    # (1000 x 0.5 + 2000 x 1.5) / 1,000,000 = 3500 / 1e6 = 0.0035 USD
    assert target.token_cost(1000, 2000) == pytest.approx(0.0035, rel=1e-9)


def test_an_unknown_model_without_prices_has_no_price_never_zero(catalogue: targets.Catalogue) -> None:
    target = catalogue.get("acme-unpriced")
    assert target.token_prices() is None
    assert target.token_cost(1000, 2000) is None
    assert target.token_cost(0, 0) is None
    assert target.price_source == "unknown"
    described = target.describe()
    assert (described["input_usd_per_mtok"], described["output_usd_per_mtok"], described["family"]) == (None, None, "unknown")


def test_a_known_model_keeps_genai_prices_over_the_catalogue_s_own() -> None:
    text = CATALOGUE + '\n[targets.haiku-own-price]\nservice = "bedrock"\nmodel = "anthropic.claude-3-haiku-20240307-v1:0"\n'
    text += "input_usd_per_mtok = 99.0\noutput_usd_per_mtok = 99.0\n"
    target = targets.parse(text, Settings()).get("haiku-own-price")
    assert target.token_prices() == pytest.approx(
        (reference("claude-3-haiku", 1_000_000, 0), reference("claude-3-haiku", 0, 1_000_000)), rel=1e-9
    )


def test_token_cost_needs_both_counts(catalogue: targets.Catalogue) -> None:
    target = catalogue.get("claude-3-haiku")
    assert target.token_cost(None, 10) is None and target.token_cost(10, None) is None


def test_catalogue_titles_come_from_the_model_and_service(catalogue: targets.Catalogue) -> None:
    assert catalogue.title("claude-35-sonnet") == "Claude 3.5 Sonnet (Amazon Bedrock)"
    assert catalogue.title("azure-mini") == "gpt-4o-mini (Azure OpenAI)"
    assert catalogue.title("acme-priced") == "acme-vision-7b (OpenAI-compatible)"
