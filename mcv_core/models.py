"""Everything the app knows about a vision model, in one place.

A *family* owns how its models want an image (`ImageSpec`), how many tokens an image costs them (each rule cites
its published source) and how a call is billed. A *model* is one known model: the ids and names it goes by on
each service, its title, its family, the reference genai-prices knows it by, and the local stand-in that
answers for it in the local cloud (real local models, see mcv_core/local/describers.py). An id no entry matches
is an *unknown* model: usage as the service reports it, no image-token estimate, a price only from the target.

    model = resolve("bedrock", "us.anthropic.claude-3-5-sonnet-20241022-v2:0")
    model.title, model.family.name       # 'Claude 3.5 Sonnet', 'claude'
    model.family.image_tokens(1092, 1092) # 1590
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Callable

from .images import ImageSpec

DETAILS = ("auto", "low", "high")


# --------------------------------------------------------------------------------------------- image rules


def _check(width: int, height: int) -> None:
    if not (isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0):
        raise ValueError(f"width and height must be positive integers, not {width!r} x {height!r}")


def _check_detail(detail: str) -> None:
    if detail not in DETAILS:
        raise ValueError(f"detail must be auto, high or low, not {detail!r}")


# Our classifier (EfficientNet-Lite0 on SageMaker): shorter side to 224, then the centre 224 x 224 (the usual
# ImageNet evaluation transform, Resize(224) + CenterCrop(224)).
CLASSIFIER = ImageSpec("classifier", short_edge=224, crop=(224, 224))

# Anthropic, docs.anthropic.com/en/docs/build-with-claude/vision ("Evaluate image size", "Calculate image costs"):
# tokens = w*h/750; images over 1568 px on the long edge or over ~1,600 tokens are scaled down first; at most
# 1.15 MP is recommended, so that is what we send.
CLAUDE = ImageSpec("claude", max_long_edge=1568, max_area=1_150_000)
CLAUDE_PIXELS_PER_TOKEN = 750
_CLAUDE_SERVICE = ImageSpec("claude_service", max_long_edge=1568, max_area=1600 * CLAUDE_PIXELS_PER_TOKEN)


def claude_image_tokens(width: int, height: int, detail: str = "auto") -> int:
    """Image tokens Claude counts for an image of this size, after its own downscaling."""
    w, h = _CLAUDE_SERVICE.resize_size(width, height)
    return math.ceil(w * h / CLAUDE_PIXELS_PER_TOKEN)


# OpenAI, platform.openai.com/docs/guides/images-vision ("Calculating costs"): detail low costs the base tokens;
# high (and auto, counted as high): fit in 2048 x 2048, shorter side down to 768, count 512-px tiles;
# tokens = base + per tile * tiles. gpt-4o-mini: 2833 + 5667; gpt-4o, gpt-4.1: 85 + 170.
GPT_TILES = ImageSpec("gpt_tiles", max_long_edge=2048, max_short_edge=768, detail="auto")
_GPT_TILES_LOW = ImageSpec("gpt_tiles_low", max_long_edge=512, detail="low")
OPENAI_TILE_PX = 512
GPT4O_MINI_BASE_TOKENS, GPT4O_MINI_TILE_TOKENS = 2833, 5667
GPT4O_BASE_TOKENS, GPT4O_TILE_TOKENS = 85, 170


def gpt_tiles_spec(detail: str = "auto") -> ImageSpec:
    """What a tile-counting OpenAI model wants: the service's own high-detail size, or 512 px for detail low."""
    _check_detail(detail)
    if detail == "low":
        return _GPT_TILES_LOW
    return GPT_TILES if detail == "auto" else replace(GPT_TILES, name="gpt_tiles_high", detail="high")


def _tile_tokens(base: int, per_tile: int) -> Callable[[int, int, str], int]:
    def tokens(width: int, height: int, detail: str = "auto") -> int:
        _check(width, height)
        _check_detail(detail)
        if detail == "low":
            return base
        w, h = GPT_TILES.resize_size(width, height)
        return base + per_tile * math.ceil(w / OPENAI_TILE_PX) * math.ceil(h / OPENAI_TILE_PX)

    return tokens


gpt4o_mini_image_tokens = _tile_tokens(GPT4O_MINI_BASE_TOKENS, GPT4O_MINI_TILE_TOKENS)
gpt4o_image_tokens = _tile_tokens(GPT4O_BASE_TOKENS, GPT4O_TILE_TOKENS)

# OpenAI, platform.openai.com/docs/guides/images-vision ("Calculating costs", patch-based models): 32-px
# patches, at most 1536 (larger images are scaled down to fit), times the model's multiplier.
PATCH_PX = 32
MAX_PATCHES = 1536
PATCH_MULTIPLIERS = {"gpt-4.1-mini": 1.62, "gpt-4.1-nano": 2.46, "o4-mini": 1.72}
# The local cloud's emulated output rates of those models (an emulation setting, see Family).
PATCH_EMULATED_TOKENS_PER_S = {"gpt-4.1-mini": 100.0, "gpt-4.1-nano": 150.0, "o4-mini": 110.0}
GPT_PATCHES = ImageSpec("gpt_patches", max_area=MAX_PATCHES * PATCH_PX * PATCH_PX)


def openai_patches(width: int, height: int) -> int:
    """32-px patches the model sees, after scaling an image of more than 1536 patches down as the docs say."""
    _check(width, height)
    patches = math.ceil(width / PATCH_PX) * math.ceil(height / PATCH_PX)
    if patches <= MAX_PATCHES:
        return patches
    shrink = math.sqrt(PATCH_PX * PATCH_PX * MAX_PATCHES / (width * height))
    w, h = width * shrink, height * shrink
    shrink *= min(math.floor(w / PATCH_PX) / (w / PATCH_PX), math.floor(h / PATCH_PX) / (h / PATCH_PX))
    # Rounded before the ceiling: one side is now a whole number of patches, which float error must not push up.
    columns, rows = (math.ceil(round(side * shrink / PATCH_PX, 6)) for side in (width, height))
    return min(MAX_PATCHES, columns * rows)


def _patch_tokens(multiplier: float) -> Callable[[int, int, str], int]:
    exact = Fraction(str(multiplier))  # 150 x 1.62 is 243, not 243.00000000000003 rounded up to 244

    def tokens(width: int, height: int, detail: str = "auto") -> int:
        return math.ceil(openai_patches(width, height) * exact)

    return tokens


# Amazon Nova, docs.aws.amazon.com/nova/latest/userguide/modalities-image.html ("Image to tokens conversion"):
# images are rescaled to the closest of its aspect ratios; the guide's table of sizes and their approximate
# tokens is the published rule. An image takes the entry closest in aspect ratio, then in area (the guide's own
# example: 800 x 400 counts as 900 x 450, ~800 tokens).
NOVA = ImageSpec("nova", max_long_edge=1800, max_area=1300 * 1300)
NOVA_TABLE = ((900, 450, 800), (900, 900, 1300), (1400, 900, 1800), (1800, 900, 2400), (1300, 1300, 2600))


def nova_image_tokens(width: int, height: int, detail: str = "auto") -> int:
    _check(width, height)
    ratio = max(width, height) / min(width, height)
    area = width * height

    def distance(entry: tuple[int, int, int]) -> tuple[float, float]:
        w, h, _ = entry
        return abs(math.log(ratio / (max(w, h) / min(w, h)))), abs(math.log(area / (w * h)))

    return min(NOVA_TABLE, key=distance)[2]


# Meta Llama 3.2 Vision, the model's image processor (huggingface.co/docs/transformers/model_doc/mllama,
# MllamaImageProcessor): the image goes on a canvas of at most 4 tiles of 560 x 560 px, each tile seen as
# 40 x 40 patches of 14 px plus one class token = 1601 tokens.
LLAMA_TILE_PX = 560
LLAMA_MAX_TILES = 4
LLAMA_TOKENS_PER_TILE = 1601
LLAMA = ImageSpec("llama_vision", max_long_edge=2 * LLAMA_TILE_PX, max_area=LLAMA_MAX_TILES * LLAMA_TILE_PX**2)


def llama_tiles(width: int, height: int) -> tuple[int, int]:
    """The canvas (columns, rows) MllamaImageProcessor picks: the least upscaling, else the least downscaling."""
    _check(width, height)
    grids = [(c, r) for c in range(1, LLAMA_MAX_TILES + 1) for r in range(1, LLAMA_MAX_TILES + 1) if c * r <= LLAMA_MAX_TILES]
    scales = {g: min(g[0] * LLAMA_TILE_PX / width, g[1] * LLAMA_TILE_PX / height) for g in grids}
    up = [g for g in grids if scales[g] >= 1]
    if up:
        best = min(scales[g] for g in up)
        chosen = [g for g in up if scales[g] == best]
    else:
        best = max(scales.values())
        chosen = [g for g in grids if scales[g] == best]
    return min(chosen, key=lambda g: g[0] * g[1])


def llama_image_tokens(width: int, height: int, detail: str = "auto") -> int:
    columns, rows = llama_tiles(width, height)
    return columns * rows * LLAMA_TOKENS_PER_TILE


# Mistral Pixtral, docs.mistral.ai/capabilities/vision ("Cost"): 16-px patches, the image fitted in 1024 x 1024
# first; one token per patch plus one per row of patches (a break token, the last one ends the image).
PIXTRAL_PATCH_PX = 16
PIXTRAL = ImageSpec("pixtral", max_long_edge=1024)


def pixtral_image_tokens(width: int, height: int, detail: str = "auto") -> int:
    w, h = PIXTRAL.resize_size(width, height)
    columns, rows = math.ceil(w / PIXTRAL_PATCH_PX), math.ceil(h / PIXTRAL_PATCH_PX)
    return columns * rows + rows


# A model we know nothing of: sent as large as the common services take it; usage only as reported.
UNKNOWN_SPEC = ImageSpec("unknown", max_long_edge=2048, max_area=2048 * 1536)


# ---------------------------------------------------------------------------------------------------- families


@dataclass(frozen=True)
class Family:
    """How one family of models takes images, counts their tokens and bills a call."""

    name: str
    title: str
    rule: str  # the image-token rule, for people
    source: str  # where it is published
    spec_for: Callable[[str], ImageSpec]  # image detail -> the image to send
    tokens_for: Callable[[int, int, str], int | None] | None  # (width, height, detail) of the image sent
    billing: str = "tokens"  # "tokens" (priced per token) or "compute" (per GB-second: our SageMaker model)
    takes_detail: bool = False  # OpenAI's image detail (low, high, auto) applies
    # It answers a prompt in words (so it can judge other answers); our classifier answers with labels only.
    answers_text: bool = True
    # The local cloud's output rate for this family's stand-ins, tokens per second: an EMULATION SETTING, not a
    # measurement of the real models (their speed varies by region, load and date). The values are of the order
    # of what the services publish or are commonly seen to stream, so that a local stream looks like one;
    # MCV_LOCAL_TOKENS_PER_S replaces it for every family. 0: the local cloud never streams this family's text.
    emulated_tokens_per_s: float = 0.0

    def image_spec(self, detail: str = "auto") -> ImageSpec:
        return self.spec_for(detail)

    def image_tokens(self, width: int, height: int, detail: str = "auto") -> int | None:
        """Tokens for an image of this size as sent, or None when the family has no published rule."""
        return None if self.tokens_for is None else self.tokens_for(width, height, detail)


def _fixed(spec: ImageSpec) -> Callable[[str], ImageSpec]:
    return lambda detail: spec


CLASSIFIER_FAMILY = Family(
    "classifier", "ImageNet classifier", "no tokens: billed per GB-second of compute", "aws.amazon.com/sagemaker/pricing",
    _fixed(CLASSIFIER), None, billing="compute", answers_text=False,
)
CLAUDE_FAMILY = Family(
    "claude", "Anthropic Claude", "w×h/750 tokens; long edge ≤ 1568 px, about 1.15 MP",
    "docs.anthropic.com/en/docs/build-with-claude/vision", _fixed(CLAUDE), claude_image_tokens,
    emulated_tokens_per_s=80.0,
)
NOVA_FAMILY = Family(
    "nova", "Amazon Nova", "≈800 to 2,600 tokens by the closest published size (900×450 … 1300×1300)",
    "docs.aws.amazon.com/nova/latest/userguide/modalities-image.html", _fixed(NOVA), nova_image_tokens,
    emulated_tokens_per_s=120.0,
)
LLAMA_FAMILY = Family(
    "llama_vision", "Meta Llama 3.2 Vision", "1601 tokens per 560-px tile, at most 4 tiles",
    "huggingface.co/docs/transformers/model_doc/mllama", _fixed(LLAMA), llama_image_tokens,
    emulated_tokens_per_s=50.0,
)
PIXTRAL_FAMILY = Family(
    "pixtral", "Mistral Pixtral", "one token per 16-px patch plus one per row; fitted in 1024×1024",
    "docs.mistral.ai/capabilities/vision", _fixed(PIXTRAL), pixtral_image_tokens,
    emulated_tokens_per_s=60.0,
)
GPT4O_MINI_FAMILY = Family(
    "gpt4o_mini", "OpenAI gpt-4o-mini", "2833 + 5667 tokens per 512-px tile; detail low 2833",
    "platform.openai.com/docs/guides/images-vision", gpt_tiles_spec, gpt4o_mini_image_tokens, takes_detail=True,
    emulated_tokens_per_s=90.0,
)
GPT4O_FAMILY = Family(
    "gpt4o", "OpenAI gpt-4o / gpt-4.1", "85 + 170 tokens per 512-px tile; detail low 85",
    "platform.openai.com/docs/guides/images-vision", gpt_tiles_spec, gpt4o_image_tokens, takes_detail=True,
    emulated_tokens_per_s=80.0,
)


def _patch_family(model: str) -> Family:
    multiplier = PATCH_MULTIPLIERS[model]
    return Family(
        f"gpt_patches_{model}", f"OpenAI {model}", f"32-px patches (at most 1536) × {multiplier}",
        "platform.openai.com/docs/guides/images-vision", _fixed(GPT_PATCHES), _patch_tokens(multiplier),
        emulated_tokens_per_s=PATCH_EMULATED_TOKENS_PER_S[model],
    )


UNKNOWN_FAMILY = Family(
    "unknown", "unknown model", "unknown: tokens as the service reports them", "", _fixed(UNKNOWN_SPEC), None,
)


# ------------------------------------------------------------------------------------------- local stand-ins


@dataclass(frozen=True)
class Standin:
    """What answers for a model in the local cloud: real local models, never canned text.

    `classifiers` are EfficientNet-Lite variants whose ImageNet probabilities are averaged; `view` is how the
    image is fitted to their input ("squeeze": the whole frame, "crop": the centre square); `phrasing` is the
    wording around what the models found; RapidOCR reads any text. Different models get different stand-ins,
    so a comparison shows real differences."""

    classifiers: tuple[str, ...]
    view: str = "squeeze"
    phrasing: str = "plain"

    @property
    def name(self) -> str:
        return f"{'+'.join(self.classifiers)}/{self.view}/{self.phrasing}"


# ------------------------------------------------------------------------------------------------------- models


@dataclass(frozen=True)
class Model:
    """One known model. `pattern` matches its ids (Bedrock ids without region prefix or ARN; OpenAI names with
    or without a date). genai-prices prices it by the target's own id (it knows the region prefixes)."""

    key: str  # canonical id, as the local cloud serves it
    title: str
    family: Family
    services: tuple[str, ...]
    pattern: str
    standin: Standin | None = None
    text_only: bool = False

    def matches(self, normalised: str) -> bool:
        return re.fullmatch(self.pattern, normalised) is not None


_BEDROCK = ("bedrock",)
_OPENAI = ("azure_openai", "openai")
_L0, _L1, _L2 = "efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2"

MODELS: tuple[Model, ...] = (
    Model("classifier", "EfficientNet-Lite0 classifier", CLASSIFIER_FAMILY, ("sagemaker",), r".*"),
    # Anthropic Claude on Bedrock
    Model("anthropic.claude-3-haiku-20240307-v1:0", "Claude 3 Haiku", CLAUDE_FAMILY, _BEDROCK,
          r"anthropic\.claude-3-haiku-.*", Standin((_L2,), "squeeze", "plain")),
    Model("anthropic.claude-3-sonnet-20240229-v1:0", "Claude 3 Sonnet", CLAUDE_FAMILY, _BEDROCK,
          r"anthropic\.claude-3-sonnet-.*", Standin((_L2,), "crop", "plain")),
    Model("anthropic.claude-3-opus-20240229-v1:0", "Claude 3 Opus", CLAUDE_FAMILY, _BEDROCK,
          r"anthropic\.claude-3-opus-.*", Standin((_L0, _L2), "crop", "plain")),
    Model("anthropic.claude-3-5-haiku-20241022-v1:0", "Claude 3.5 Haiku", CLAUDE_FAMILY, _BEDROCK,
          r"anthropic\.claude-3-5-haiku-.*", Standin((_L1,), "crop", "plain")),
    Model("anthropic.claude-3-5-sonnet-20241022-v2:0", "Claude 3.5 Sonnet", CLAUDE_FAMILY, _BEDROCK,
          r"anthropic\.claude-3-5-sonnet-.*", Standin((_L1, _L2), "squeeze", "plain")),
    Model("anthropic.claude-3-7-sonnet-20250219-v1:0", "Claude 3.7 Sonnet", CLAUDE_FAMILY, _BEDROCK,
          r"anthropic\.claude-3-7-sonnet-.*", Standin((_L1, _L2), "crop", "plain")),
    Model("anthropic.claude-sonnet-4-20250514-v1:0", "Claude 4 and later", CLAUDE_FAMILY, _BEDROCK,
          r"anthropic\.claude-(?:sonnet|opus|haiku)-4.*", Standin((_L0, _L1, _L2), "squeeze", "plain")),
    # Amazon Nova (Micro is text only)
    Model("amazon.nova-lite-v1:0", "Amazon Nova Lite", NOVA_FAMILY, _BEDROCK, r"amazon\.nova-lite-v1:0",
          Standin((_L0,), "squeeze", "terse")),
    Model("amazon.nova-pro-v1:0", "Amazon Nova Pro", NOVA_FAMILY, _BEDROCK, r"amazon\.nova-pro-v1:0",
          Standin((_L0, _L2), "squeeze", "terse")),
    Model("amazon.nova-premier-v1:0", "Amazon Nova Premier", NOVA_FAMILY, _BEDROCK, r"amazon\.nova-premier-v1:0",
          Standin((_L0, _L1, _L2), "crop", "terse")),
    # Meta Llama 3.2 Vision on Bedrock, and as Ollama names it
    Model("meta.llama3-2-11b-instruct-v1:0", "Llama 3.2 11B Vision", LLAMA_FAMILY, _BEDROCK,
          r"meta\.llama3-2-11b-instruct-v1:0", Standin((_L0,), "crop", "terse")),
    Model("meta.llama3-2-90b-instruct-v1:0", "Llama 3.2 90B Vision", LLAMA_FAMILY, _BEDROCK,
          r"meta\.llama3-2-90b-instruct-v1:0", Standin((_L0, _L1), "crop", "terse")),
    Model("llama3.2-vision", "Llama 3.2 Vision (Ollama)", LLAMA_FAMILY, ("openai",),
          r"llama3\.2-vision(?::(?:latest|11b|90b))?", Standin((_L0,), "crop", "terse")),
    # Mistral Pixtral Large on Bedrock
    Model("mistral.pixtral-large-2502-v1:0", "Pixtral Large", PIXTRAL_FAMILY, _BEDROCK,
          r"mistral\.pixtral-large-.*", Standin((_L1, _L2), "crop", "terse")),
    # OpenAI models, on Azure deployments and OpenAI-compatible servers
    Model("gpt-4o-mini", "gpt-4o-mini", GPT4O_MINI_FAMILY, _OPENAI, r"gpt-4o-mini(?:-\d{4}-\d{2}-\d{2})?",
          Standin((_L1,), "squeeze", "brief")),
    Model("gpt-4o", "gpt-4o", GPT4O_FAMILY, _OPENAI, r"gpt-4o(?:-\d{4}-\d{2}-\d{2})?",
          Standin((_L0, _L1), "squeeze", "brief")),
    Model("gpt-4.1", "gpt-4.1", GPT4O_FAMILY, _OPENAI, r"gpt-4\.1(?:-\d{4}-\d{2}-\d{2})?",
          Standin((_L0, _L1, _L2), "crop", "brief")),
    Model("gpt-4.1-mini", "gpt-4.1-mini", _patch_family("gpt-4.1-mini"), _OPENAI,
          r"gpt-4\.1-mini(?:-\d{4}-\d{2}-\d{2})?", Standin((_L2,), "crop", "brief")),
    Model("gpt-4.1-nano", "gpt-4.1-nano", _patch_family("gpt-4.1-nano"), _OPENAI,
          r"gpt-4\.1-nano(?:-\d{4}-\d{2}-\d{2})?", Standin((_L0,), "squeeze", "brief")),
    Model("o4-mini", "o4-mini", _patch_family("o4-mini"), _OPENAI, r"o4-mini(?:-\d{4}-\d{2}-\d{2})?",
          Standin((_L1, _L2), "crop", "brief")),
)  # fmt: skip

FAMILIES: tuple[Family, ...] = tuple({m.family.name: m.family for m in MODELS}.values()) + (UNKNOWN_FAMILY,)
# Bedrock ids may carry a cross-region inference profile prefix, or come as a foundation-model or profile ARN.
_ARN = re.compile(r"^arn:aws[\w-]*:bedrock:[\w-]*:\d*:(?:foundation-model|inference-profile)/")
REGION_PREFIXES = ("us", "eu", "apac", "jp", "au", "ca", "global", "us-gov")


def normalise(service: str, model: str) -> str:
    """The id a model pattern is matched against: Bedrock ids without ARN or region prefix, names lower case."""
    text = model.strip()
    if service == "bedrock":
        text = _ARN.sub("", text)
        head, dot, rest = text.partition(".")
        if dot and head in REGION_PREFIXES and "." in rest:
            text = rest
        return text
    return text.lower()


def resolve(service: str, model: str) -> Model | None:
    """The known model a service's model id names, or None for an unknown one."""
    key = normalise(service, model)
    for entry in MODELS:
        if service in entry.services and entry.matches(key):
            return entry
    return None


def family_of(service: str, model: str) -> Family:
    known = resolve(service, model)
    return known.family if known is not None else UNKNOWN_FAMILY


def served(service: str) -> tuple[Model, ...]:
    """Known models a service can serve with images (what the local cloud answers for)."""
    return tuple(m for m in MODELS if service in m.services and m.standin is not None and not m.text_only)
