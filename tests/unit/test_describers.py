"""The local stand-ins behind the emulated generative models: real models on skimage's sample images."""

from __future__ import annotations

import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image
from skimage import data

from mcv_core import models
from mcv_core.errors import ImageError
from mcv_core.local import describers
from mcv_core.local.describers import (
    BRIEF,
    CLASSIFIERS,
    PHRASINGS,
    PLAIN,
    TERSE,
    TOP_K,
    Describer,
    Description,
    Guess,
    LocalModels,
    classifier_input,
    compose_answer,
    for_model,
    ocr_input,
    percent,
    text_sentence,
    to_rgb,
    with_article,
)

# One stand-in of each phrasing and view: Claude 3 Haiku (lite2, squeeze, plain), gpt-4o-mini (lite1, squeeze,
# brief), Nova Pro (lite0 + lite2 averaged, squeeze, terse), Llama 3.2 90B (lite0 + lite1, crop, terse).
MODELS = {
    "claude": models.resolve("bedrock", "anthropic.claude-3-haiku-20240307-v1:0"),
    "gpt": models.resolve("azure_openai", "gpt-4o-mini"),
    "nova": models.resolve("bedrock", "amazon.nova-pro-v1:0"),
    "llama": models.resolve("bedrock", "meta.llama3-2-90b-instruct-v1:0"),
}
NAMES = tuple(MODELS)


def get_describer(name: str) -> Describer:
    return for_model(MODELS[name])
TEXT_PROMPT = "What does the text in this image say?"
PLAIN_PROMPT = "Describe this image in one or two sentences."


@pytest.fixture(scope="module")
def images() -> dict[str, Image.Image]:
    return {
        "cat": Image.fromarray(data.chelsea()),
        "coffee": Image.fromarray(data.coffee()),
        "page": Image.fromarray(data.page()),  # greyscale, mode "L"
    }


@pytest.fixture(scope="module")
def described(images):
    """describe(name, image, prompt), computed once per module."""
    cache: dict[tuple[str, str, str], Description] = {}

    def describe(name: str, image: str, prompt: str = PLAIN_PROMPT) -> Description:
        key = (name, image, prompt)
        if key not in cache:
            cache[key] = get_describer(name).describe(images[image], prompt)
        return cache[key]

    return describe


def first_position(text: str, needle: str) -> int:
    position = text.lower().find(needle.lower())
    assert position >= 0, f"{needle!r} not in {text!r}"
    return position


# --- real models ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_cat_photo_is_described_as_a_cat_and_names_its_models(described, name):
    result = described(name, "cat")
    model = MODELS[name]
    classifiers = model.standin.classifiers
    assert re.search(r"\bcat\b", result.text, re.IGNORECASE), result.text
    assert "cat" in result.labels[0][0].lower()
    assert result.text.endswith(f"[local stand-in for {model.title}: {' + '.join(classifiers)} + RapidOCR]")
    assert result.models == (*(f"{c} (ImageNet)" for c in classifiers), "RapidOCR (PP-OCRv4, onnxruntime)")
    assert 1 <= len(re.findall(r"[.!?](?:\s|$)", result.text.rsplit("[", 1)[0])) <= 3, result.text
    assert set(result.timings_ms) == {"load", "queue", "classify", "ocr", "total"}
    assert result.timings_ms["total"] >= result.timings_ms["classify"] + result.timings_ms["ocr"]


def test_different_stand_ins_run_different_models_and_answer_differently(described):
    answers = {name: described(name, "cat") for name in NAMES}
    assert "efficientnet-lite2" in answers["claude"].text and "efficientnet-lite1" in answers["gpt"].text
    assert answers["claude"].models[0] != answers["gpt"].models[0]
    # Different networks (or averages, or views) give different numbers for the same image.
    tops = [answer.labels[0][1] for answer in answers.values()]
    assert all(a != pytest.approx(b, abs=1e-3) for i, a in enumerate(tops) for b in tops[i + 1 :]), tops
    assert len({answer.text.rsplit("[", 1)[0] for answer in answers.values()}) == len(NAMES)


def test_the_three_phrasings_differ_in_every_sentence():
    for key in ("confident", "moderate", "moderate_alt", "unsure", "text_found", "no_text", "also_called"):
        assert len({getattr(p, key) for p in (PLAIN, BRIEF, TERSE)}) == 3, key
    assert set(PHRASINGS) == {"plain", "brief", "terse"}


def test_each_classifier_sees_its_trained_input_size():
    assert {name: spec.input_size for name, spec in CLASSIFIERS.items()} == {
        "efficientnet-lite0": 224, "efficientnet-lite1": 240, "efficientnet-lite2": 260,
    }  # fmt: skip


def test_a_terse_answer():
    text = compose_answer([CAT, TABBY], ["STOP"], PLAIN_PROMPT, TERSE, ATTRIBUTION)
    assert text == 'Likely an Egyptian cat: 75%; then a tabby: 8%. Text: "STOP". [local describer: test + RapidOCR]'


def test_averaged_classifiers_give_the_mean_of_their_probabilities(images):
    lite0 = Describer(models.Standin(("efficientnet-lite0",)), "lite0 alone")
    lite2 = Describer(models.Standin(("efficientnet-lite2",)), "lite2 alone")
    both = Describer(models.Standin(("efficientnet-lite0", "efficientnet-lite2")), "both")
    cat = images["cat"]
    one, two, mean = (d.describe(cat, PLAIN_PROMPT).labels for d in (lite0, lite2, both))
    p0, p2 = dict(one), dict(two)
    for label, probability in mean:
        if label in p0 and label in p2:
            assert probability == pytest.approx((p0[label] + p2[label]) / 2, abs=1e-9)


def test_the_local_models_are_shared_between_stand_ins():
    claude, nova = get_describer("claude"), get_describer("nova")
    assert claude.local is nova.local is describers.SHARED
    claude.load()
    nova.load()
    assert claude.local.get("efficientnet-lite2") is nova.local.get("efficientnet-lite2")
    assert claude.local.get("RapidOCR") is get_describer("gpt").local.get("RapidOCR")
    status = describers.standins_status()
    assert status["local_models"]["efficientnet-lite2"] and status["local_models"]["RapidOCR"]
    assert status["in_use"][MODELS["claude"].key] == MODELS["claude"].standin.name


@pytest.mark.parametrize(("size", "view"), [((451, 300), "squeeze"), ((451, 300), "crop"), ((200, 500), "crop")])
def test_views_give_the_classifier_its_square(size, view):
    image = Image.new("RGB", size)
    assert classifier_input(image, 240, view).size == (240, 240)


def test_crop_keeps_the_centre_and_squeeze_the_whole_frame():
    # Left third red, middle green, right third blue: the centre crop of a 3:1 image is all green.
    stripes = np.zeros((100, 300, 3), dtype=np.uint8)
    stripes[:, :100, 0] = stripes[:, 100:200, 1] = stripes[:, 200:, 2] = 255
    image = Image.fromarray(stripes)
    cropped = np.asarray(classifier_input(image, 60, "crop"), dtype=int)
    squeezed = np.asarray(classifier_input(image, 60, "squeeze"), dtype=int)
    assert cropped[:, 5:-5, 1].min() > 200 and cropped[..., 0].max() < 60 and cropped[..., 2].max() < 60
    assert squeezed[:, :15, 0].min() > 200 and squeezed[:, -15:, 2].min() > 200
    with pytest.raises(ValueError, match="unknown view"):
        classifier_input(image, 60, "stretch")


@pytest.mark.parametrize("name", NAMES)
def test_coffee_photo_is_an_espresso(described, name):
    result = described(name, "coffee")
    assert result.labels[0][0] == "espresso"
    assert result.labels[0][1] > 0.5
    assert "espresso" in result.text
    assert result.ocr_lines == ()
    document = json.loads(json.dumps(result.as_dict()))
    assert document["labels"][0] == {"label": "espresso", "score": result.labels[0][1]}
    assert document["text"] == result.text and document["timings_ms"] == result.timings_ms


@pytest.mark.parametrize("name", ["claude", "nova"])  # OCR is slow on a page: one plain and one terse stand-in
def test_page_text_is_read_and_leads_when_the_prompt_asks_for_text(described, name):
    asked = described(name, "page", TEXT_PROMPT)
    assert any("segmentation" in line.lower() for line in asked.ocr_lines), asked.ocr_lines
    top_label = asked.labels[0][0]
    assert first_position(asked.text, "segmentation") < first_position(asked.text, top_label), asked.text

    plain = described(name, "page", PLAIN_PROMPT)
    assert plain.ocr_lines == asked.ocr_lines and plain.labels == asked.labels
    assert first_position(plain.text, top_label) < first_position(plain.text, "segmentation"), plain.text


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("image", ["cat", "coffee", "page"])
def test_labels_are_top_k_sorted_probabilities(described, name, image):
    labels = described(name, image).labels
    assert len(labels) == TOP_K
    probabilities = [p for _, p in labels]
    assert probabilities == sorted(probabilities, reverse=True)
    assert all(0.0 <= p <= 1.0 for p in probabilities)
    assert sum(probabilities) <= 1.0 + 1e-9
    assert len({label for label, _ in labels}) == len(labels)


@pytest.mark.parametrize("name", NAMES)
def test_photos_without_text_say_so(described, name):
    result = described(name, "cat")
    assert result.ocr_lines == ()  # no stray one-letter reads from the fur
    assert PHRASINGS[MODELS[name].standin.phrasing].no_text in result.text


def test_one_describer_per_model_per_process():
    assert get_describer("claude") is get_describer("claude")
    assert get_describer("gpt") is get_describer("gpt")
    assert get_describer("claude") is not get_describer("gpt")
    with ThreadPoolExecutor(4) as pool:
        found = list(pool.map(for_model, [MODELS["gpt"]] * 8))
    assert all(d is get_describer("gpt") for d in found)


def test_a_model_without_stand_in_has_no_describer():
    classifier = models.resolve("sagemaker", "anything")
    assert classifier is not None and classifier.standin is None
    with pytest.raises(KeyError, match="no local stand-in"):
        for_model(classifier)
    with pytest.raises(ValueError, match="classifiers"):
        Describer(models.Standin(("resnet-50",)), "unknown network")


def test_concurrent_first_use_loads_once_and_answers_as_sequential_calls(described, images):
    loads = []

    class CountingModels(LocalModels):
        def _load_classifier(self, spec):
            loads.append(spec.name)
            return super()._load_classifier(spec)

    fresh = Describer(MODELS["claude"].standin, MODELS["claude"].title, CountingModels())
    assert not fresh.loaded
    jobs = [("cat", PLAIN_PROMPT), ("page", TEXT_PROMPT), ("coffee", PLAIN_PROMPT), ("cat", TEXT_PROMPT)]
    barrier = threading.Barrier(len(jobs))

    def run(job):
        barrier.wait()
        return fresh.describe(images[job[0]], job[1])

    with ThreadPoolExecutor(len(jobs)) as pool:
        concurrent = list(pool.map(run, jobs))

    assert fresh.loaded and loads == ["efficientnet-lite2"]
    sequential = [described("claude", image, prompt) for image, prompt in jobs]
    for got, expected in zip(concurrent, sequential):
        assert got.text == expected.text
        assert got.ocr_lines == expected.ocr_lines
        assert [label for label, _ in got.labels] == [label for label, _ in expected.labels]
        assert [p for _, p in got.labels] == pytest.approx([p for _, p in expected.labels], abs=1e-6)


def test_images_of_other_modes_are_described(images):
    rgba = images["coffee"].convert("RGBA")
    result = get_describer("gpt").describe(rgba, PLAIN_PROMPT)
    assert result.labels[0][0] == "espresso"


# --- image preparation ---------------------------------------------------------------------------------------


def test_transparency_is_laid_on_white():
    clear = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    assert np.asarray(to_rgb(clear)).tolist() == [[[255, 255, 255]] * 4] * 4


def test_sixteen_bit_greyscale_keeps_its_range():
    wide = Image.fromarray(np.array([[0, 30000], [60000, 65535]], dtype=np.uint16))
    grey = np.asarray(to_rgb(wide))[..., 0]
    assert grey[0, 0] == 0 and grey[1, 1] == 255 and 100 < grey[0, 1] < 140


def test_an_empty_image_is_refused():
    with pytest.raises(ImageError):
        get_describer("claude").describe(Image.new("RGB", (0, 0)), PLAIN_PROMPT)


@pytest.mark.parametrize(
    "size, expected",
    [
        ((4000, 1000), (1600, 400)),  # large: down to the OCR's long-edge limit
        ((1000, 3200), (500, 1600)),
        ((384, 191), (640, 318)),  # small: up so the recogniser sees the glyphs
        ((100, 50), (200, 100)),  # tiny: upscaled at most twice
        ((800, 600), (800, 600)),
    ],
)
def test_ocr_input_keeps_the_long_edge_reasonable(size, expected):
    array = ocr_input(Image.new("RGB", size, (200, 200, 200)))
    assert (array.shape[1], array.shape[0]) == expected
    assert array.dtype == np.uint8 and array.shape[2] == 3


# --- composing the answer ------------------------------------------------------------------------------------

CAT = Guess("Egyptian cat", (), 0.75)
TABBY = Guess("tabby", ("tabby cat",), 0.08)
ATTRIBUTION = "[local describer: test + RapidOCR]"


def guesses(*probabilities: float) -> tuple[Guess, ...]:
    names = ["football helmet", "bobsled", "crash helmet", "ski", "barbell"]
    return tuple(Guess(n, (), p) for n, p in zip(names, probabilities))


def test_a_confident_answer_names_the_class_and_the_runner_up():
    text = compose_answer([CAT, TABBY], [], PLAIN_PROMPT, PLAIN, ATTRIBUTION)
    assert text == (
        "The image most likely shows an Egyptian cat (75%); it could also be a tabby (8%). "
        "No legible text. [local describer: test + RapidOCR]"
    )


def test_a_confident_answer_skips_a_negligible_runner_up():
    text = compose_answer([Guess("espresso", (), 0.87), Guess("cup", (), 0.02)], [], "", PLAIN, ATTRIBUTION)
    assert text.startswith("The image most likely shows an espresso (87%). No legible text.")
    assert "cup" not in text


def test_the_top_class_carries_its_wordnet_synonym():
    text = compose_answer([Guess("tabby", ("tabby cat",), 0.6)], [], "", PLAIN, ATTRIBUTION)
    assert "a tabby, or tabby cat (60%)" in text


def test_a_middling_answer_hedges():
    text = compose_answer(guesses(0.3, 0.12, 0.05), [], "", BRIEF, ATTRIBUTION)
    assert text.startswith("This might be a football helmet (30%) or a bobsled (12%).")


def test_an_unsure_answer_lists_the_closest_classes():
    text = compose_answer(guesses(0.10, 0.08, 0.07, 0.05), [], "", PLAIN, ATTRIBUTION)
    assert text.startswith(
        "It is hard to say what the image shows; the closest ImageNet classes are "
        "football helmet (10%), bobsled (8%) and crash helmet (7%)."
    )
    assert "ski" not in text


def test_text_leads_only_when_the_prompt_asks_about_text():
    lines = ["STOP"]
    for prompt in ("Read the sign", "What is written here?", "OCR this", "what does it say", "Transcribe the label"):
        assert compose_answer([CAT], lines, prompt, PLAIN, ATTRIBUTION).startswith('Visible text reads: "STOP".')
    for prompt in ("Describe this image.", "What animal is this?", "", "Is this a sayonara card?"):
        assert compose_answer([CAT], lines, prompt, PLAIN, ATTRIBUTION).startswith("The image most likely")


def test_quoted_text_is_capped_in_lines_and_characters():
    lines = [f"line {i}" for i in range(6)]
    assert text_sentence(lines, PLAIN) == 'Visible text reads: "line 0", "line 1", "line 2" (and 3 more lines).'
    assert text_sentence(lines[:4], BRIEF).endswith("(and 1 more line).")
    long_lines = ["x" * 150, "y" * 100]
    assert text_sentence(long_lines, PLAIN) == f'Visible text reads: "{"x" * 150}" (and 1 more line).'
    one_huge = text_sentence(["z" * 500], PLAIN)
    assert one_huge == f'Visible text reads: "{"z" * 199}…".'
    assert text_sentence([], PLAIN) == "No legible text."


@pytest.mark.parametrize(
    "noun, expected",
    [
        ("Egyptian cat", "an Egyptian cat"),
        ("tabby", "a tabby"),
        ("espresso", "an espresso"),
        ("unicycle", "a unicycle"),
        ("umbrella", "an umbrella"),
        ("European fire salamander", "a European fire salamander"),
        ("hourglass", "an hourglass"),
        ("hen-of-the-woods", "a hen-of-the-woods"),
        ("CD player", "a CD player"),
        ("iPod", "an iPod"),
        ("wool", "wool"),
        ("sunglasses", "sunglasses"),
    ],
)
def test_articles(noun, expected):
    assert with_article(noun) == expected


def test_percentages():
    assert [percent(p) for p in (0.754, 0.0049, 0.005, 1.0)] == ["75%", "<1%", "1%", "100%"]


def test_every_imagenet_class_has_a_label():
    names = describers.imagenet_names()
    assert len(names) == 1000
    assert names[285] == ("Egyptian cat", ())
    assert names[281] == ("tabby", ("tabby cat",))
    assert all(label for label, _ in names)
