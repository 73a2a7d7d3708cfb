"""Benchmarks: the shipped sample set, image collection, plans, estimates, the bench runner and its summary.

The runner is driven with a stand-in workbench (duck-typed `load_image` and `compare`) that counts how many
comparisons run at once; it builds real `Run`s and `ProviderResult`s and scores them with the real scorer.
"""

from __future__ import annotations

import io
import json
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pytest
from PIL import Image

from mcv_core import bench, images, models, samples, scoring, targets
from mcv_core.bench import BenchImage, BenchOutcome, BenchPlan, Progress, Slot
from mcv_core.config import Settings
from mcv_core.errors import ImageError, StorageError, UsageError
from mcv_core.images import SourceImage, load_image
from mcv_core.records import Label, ProviderResult
from mcv_core.records import Run

SETTINGS = Settings.from_mapping({})
PROMPT = "Describe this image in one or two sentences."  # 44 characters: 11 + 7 = 18 prompt tokens


def encode(array: np.ndarray, fmt: str = "JPEG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, fmt)
    return buffer.getvalue()


def picture(width: int, height: int, fmt: str = "JPEG") -> bytes:
    y, x = np.mgrid[0:height, 0:width]
    array = np.stack([(x * 7) % 256, (y * 3) % 256, ((x + y) * 5) % 256], axis=-1).astype(np.uint8)
    return encode(array, fmt)


# --- the sample set ------------------------------------------------------------------------------------------


def test_the_sample_set_has_the_promised_photos_each_labelled():
    names = {s.name for s in samples.SAMPLES}
    assert {"chelsea", "coffee", "astronaut", "camera", "rocket", "page", "clock", "coins", "horse", "motorcycle"} <= names
    shipped = samples.sample_images()
    assert [i.name for i in shipped] == [s.file_name for s in samples.SAMPLES]
    assert len({i.name for i in shipped}) == len(shipped)
    assert samples.sample("chelsea").expected == ("cat", "kitten", "tabby")
    for item in samples.SAMPLES:
        assert item.expected and item.note and item.file_name.endswith(".jpg")


def test_samples_are_valid_jpegs_of_the_stated_size_and_grey_ones_stay_grey():
    grey = {"camera.jpg", "page.jpg", "clock.jpg", "coins.jpg", "horse.jpg"}
    for image in samples.sample_images():
        loaded = load_image(image.data, image.name, max_bytes=SETTINGS.max_image_bytes, max_pixels=SETTINGS.max_pixels)
        assert loaded.format == "JPEG"
        assert (loaded.width, loaded.height) == (image.width, image.height)
        assert loaded.mode == ("L" if image.name in grey else "RGB"), image.name
    chelsea = samples.sample_images()[0]
    assert (chelsea.width, chelsea.height) == (451, 300)


def test_the_horse_silhouette_is_black_on_white():
    horse = next(i for i in samples.sample_images() if i.name == "horse.jpg")
    pixels = np.asarray(Image.open(io.BytesIO(horse.data)))
    assert pixels[0, 0] > 240 and pixels[160, 200] < 15  # background corner, the horse's body


def test_sample_bytes_are_deterministic():
    first = [(i.name, i.data) for i in samples.sample_images()]
    samples._encoded.cache_clear()
    second = [(i.name, i.data) for i in samples.sample_images()]
    assert first == second


def test_sample_labels_score_a_true_answer_and_not_a_wrong_one():
    cat = samples.sample("chelsea").expected
    assert scoring.score("A tabby cat looks to the left.", cat) is True
    assert scoring.score("A cup of espresso on a saucer.", cat) is False
    assert scoring.score("A man operating a camera on a tripod.", samples.sample("camera").expected) is True
    assert scoring.score("An astronaut in a white space suit.", samples.sample("astronaut").expected) is True


def test_first_named_is_the_earliest_expected_label_by_the_scoring_rule():
    labels = ("cat", "kitten", "tabby")
    assert scoring.first_named("A tabby cat and two kittens.", labels) == "tabby"
    assert scoring.first_named("Kittens, then a cat.", labels) == "kitten"  # plurals count, as for `correct`
    assert scoring.first_named("A category of objects.", labels) is None  # whole words only
    assert scoring.first_named("A cat.", ("cat", "Cat")) == "cat"  # same place: the first listed


# --- collecting images ---------------------------------------------------------------------------------------


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "set"
    (root / "sub").mkdir(parents=True)
    (root / "a.jpg").write_bytes(picture(40, 30))
    (root / "b.png").write_bytes(picture(20, 20, "PNG"))
    (root / "no_extension").write_bytes(picture(16, 16, "GIF"))  # found by content
    (root / "notes.txt").write_text("not an image, and not named like one\n")
    (root / ".hidden.jpg").write_bytes(b"skipped: hidden")
    (root / "labels.json").write_text(json.dumps({"a.jpg": ["cat", "tabby"], "b.png": "coffee"}))
    (root / "sub" / "c.webp").write_bytes(picture(24, 12, "WEBP"))
    (root / "sub" / "labels.json").write_text(json.dumps({"c.webp": ["horse"]}))
    return root


def test_collect_walks_a_directory_with_its_labels(folder: Path):
    found = bench.collect_images([folder], settings=SETTINGS)
    assert [i.name for i in found] == ["a.jpg", "b.png", "no_extension", "sub/c.webp"]
    by_name = {i.name: i for i in found}
    assert by_name["a.jpg"].expected == ("cat", "tabby")
    assert by_name["b.png"].expected == ("coffee",)
    assert by_name["no_extension"].expected == ()
    assert by_name["sub/c.webp"].expected == ("horse",)
    assert (by_name["sub/c.webp"].width, by_name["sub/c.webp"].height) == (24, 12)
    assert by_name["a.jpg"].data == (folder / "a.jpg").read_bytes()


def test_collect_not_recursive_and_files_given_directly(folder: Path):
    assert [i.name for i in bench.collect_images([folder], recursive=False)] == ["a.jpg", "b.png", "no_extension"]
    direct = bench.collect_images([folder / "sub" / "c.webp"])
    assert [(i.name, i.expected) for i in direct] == [("c.webp", ("horse",))]


def test_collect_takes_each_file_once(folder: Path):
    found = bench.collect_images([folder / "a.jpg", folder, folder / "sub" / ".." / "a.jpg"])
    assert [i.name for i in found] == ["a.jpg", "b.png", "no_extension", "sub/c.webp"]


def test_a_damaged_image_names_its_path(folder: Path):
    broken = folder / "sub" / "broken.jpg"
    broken.write_bytes(picture(64, 64)[:300])
    with pytest.raises(ImageError) as caught:
        bench.collect_images([folder])
    assert str(broken) in caught.value.message and "truncated or corrupt" in caught.value.message
    assert isinstance(caught.value, UsageError)


def test_a_file_named_like_an_image_must_be_one(folder: Path):
    (folder / "notes.jpg").write_text("this is not an image\n")
    with pytest.raises(ImageError, match="notes.jpg is not an image"):
        bench.collect_images([folder])


def test_a_file_given_directly_must_be_an_image(folder: Path):
    with pytest.raises(ImageError, match=r"notes\.txt is not an image"):
        bench.collect_images([folder / "notes.txt"])


def test_size_limits_come_from_the_settings(folder: Path):
    tight = Settings.from_mapping({"MCV_MAX_PIXELS": "1000"})
    with pytest.raises(ImageError, match=r"a\.jpg is 40 x 30 px .*MCV_MAX_PIXELS"):
        bench.collect_images([folder / "a.jpg"], settings=tight)


def test_nothing_found_or_nothing_there(tmp_path: Path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.md").write_text("# no images here\n")
    with pytest.raises(UsageError, match="no images found in"):
        bench.collect_images([empty])
    with pytest.raises(UsageError, match="no such file or directory"):
        bench.collect_images([tmp_path / "missing"])
    with pytest.raises(UsageError, match="no images given"):
        bench.collect_images([])


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not valid JSON"),
        ('["a.jpg"]', "must be a JSON object"),
        ('{"a.jpg": [1, 2]}', "must be a list of strings"),
        ('{"typo.jpg": ["cat"]}', "'typo.jpg', which is not a file"),
        ('{"sub/c.webp": ["horse"]}', "is not a plain file name"),
    ],
)
def test_a_bad_labels_file_is_a_usage_error(folder: Path, content: str, message: str):
    (folder / "labels.json").write_text(content)
    with pytest.raises(UsageError, match=message) as caught:
        bench.collect_images([folder])
    assert "labels.json" in caught.value.message


# --- plans -------------------------------------------------------------------------------------------------------


def img(name: str = "a.jpg", expected: Sequence[str] = ()) -> BenchImage:
    return BenchImage(name, picture(8, 8), tuple(expected), 8, 8)


def test_plan_counts_calls():
    plan = BenchPlan((img("a"), img("b"), img("c")), ("sagemaker", "bedrock"), repeat=4, concurrency=3)
    assert (plan.comparisons, plan.calls) == (12, 24)
    assert BenchPlan([img()], ["x", "x", "y"]).providers == ("x", "y")


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"repeat": 0}, "repeat must be 1 to 1000"),
        ({"repeat": 1001}, "repeat must be 1 to 1000"),
        ({"repeat": True}, "repeat must be 1 to 1000"),
        ({"concurrency": 0}, "concurrency must be 1 to 16"),
        ({"concurrency": 17}, "concurrency must be 1 to 16"),
        ({"concurrency": 2.0}, "concurrency must be 1 to 16"),
        ({"images": ()}, "at least one image"),
        ({"providers": ()}, "at least one provider"),
        ({"prompt": "  "}, "the prompt is empty"),
    ],
)
def test_plan_validation(changes: dict, message: str):
    args = {"images": (img(),), "providers": ("sagemaker",), **changes}
    with pytest.raises(UsageError, match=message):
        BenchPlan(**args)


def test_plan_limits_are_accepted():
    BenchPlan((img(),), ("sagemaker",), repeat=1000, concurrency=16)
    BenchPlan((img(),), ("sagemaker",), repeat=1, concurrency=1)


# --- estimates ---------------------------------------------------------------------------------------------------

# 1000 x 1000: Claude gets it as is, 1,000,000 / 750 -> 1334 tokens; gpt-4o-mini scales it to 768 x 768,
# 2 x 2 tiles -> 2833 + 4 x 5667 = 25501. 200 x 100: 20,000 / 750 -> 27; one tile -> 8500.
BIG, SMALL = BenchImage("big.jpg", b"", (), 1000, 1000), BenchImage("small.jpg", b"", (), 200, 100)
ALL = ("sagemaker", "bedrock", "azure_openai")


@pytest.fixture
def no_price_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MCV_SAGEMAKER_USD_PER_GB_S", raising=False)


def test_estimate_without_history(no_price_override):
    plan = BenchPlan((BIG, SMALL), ALL, repeat=2, prompt=PROMPT)
    sagemaker, bedrock, azure = bench.estimate(plan, SETTINGS)

    assert bench.prompt_tokens(PROMPT) == 18
    assert (bedrock.provider, bedrock.model, bedrock.calls) == ("bedrock", "anthropic.claude-3-haiku-20240307-v1:0", 4)
    assert bedrock.image_tokens_per_call == (1334 + 27) / 2
    assert bedrock.input_tokens_total == (1334 + 27) * 2 + 4 * 18 == 2794
    assert bedrock.output_tokens_max == 4 * 300
    assert bedrock.output_tokens_typical == 4 * 60
    # Claude 3 Haiku: $0.25 in, $1.25 out per million tokens.
    assert bedrock.cost_usd_max == pytest.approx((2794 * 0.25 + 1200 * 1.25) / 1e6, rel=1e-12)
    assert bedrock.cost_usd_typical == pytest.approx((2794 * 0.25 + 240 * 1.25) / 1e6, rel=1e-12)
    assert "60 per call typical (assumed, no history)" in bedrock.basis

    assert azure.image_tokens_per_call == (25501 + 8500) / 2
    assert azure.input_tokens_total == (25501 + 8500) * 2 + 4 * 18 == 68074
    # gpt-4o-mini: $0.15 in, $0.60 out per million tokens.
    assert azure.cost_usd_max == pytest.approx((68074 * 0.15 + 1200 * 0.6) / 1e6, rel=1e-12)
    assert azure.cost_usd_typical == pytest.approx((68074 * 0.15 + 240 * 0.6) / 1e6, rel=1e-12)

    # 4 calls x 100 ms x 1 GB x $0.00002 per GB-second.
    assert sagemaker.calls == 4 and sagemaker.image_tokens_per_call is None
    assert sagemaker.cost_usd_max == sagemaker.cost_usd_typical == pytest.approx(4 * 0.1 * 0.00002, rel=1e-12)
    assert "100 ms billed per call (assumed, no history)" in sagemaker.basis


def test_estimate_from_history(no_price_override):
    history = [
        {"provider": "bedrock", "status": "ok", "output_tokens": 40},
        {"provider": "bedrock", "status": "ok", "output_tokens": 50},
        {"provider": "bedrock", "status": "error"},
        {"provider": "azure_openai", "status": "error", "output_tokens": 999},  # errors say nothing
        {"provider": "sagemaker", "status": "ok", "provider_latency_ms": 80.0},
        {"provider": "sagemaker", "status": "ok", "provider_latency_ms": 120.0},
        {"provider": "sagemaker", "status": "ok", "provider_latency_ms": 400.0},
    ]
    plan = BenchPlan((BIG, SMALL), ALL, repeat=2, prompt=PROMPT)
    sagemaker, bedrock, azure = bench.estimate(plan, SETTINGS, history=history)
    assert bedrock.output_tokens_typical == 4 * 45
    assert bedrock.cost_usd_typical == pytest.approx((2794 * 0.25 + 180 * 1.25) / 1e6, rel=1e-12)
    assert bedrock.cost_usd_max == pytest.approx((2794 * 0.25 + 1200 * 1.25) / 1e6, rel=1e-12)  # the bound stays
    assert "mean of 45 seen in history" in bedrock.basis
    assert azure.output_tokens_typical == 4 * 60
    assert sagemaker.cost_usd_typical == pytest.approx(4 * 0.12 * 0.00002, rel=1e-12)  # median 120 ms
    assert "120 ms billed per call (median provider latency in history)" in sagemaker.basis


def test_estimate_follows_the_settings(no_price_override):
    settings = Settings.from_mapping(
        {"MCV_AZURE_IMAGE_DETAIL": "low", "MCV_MAX_OUTPUT_TOKENS": "100", "MCV_SAGEMAKER_MEMORY_MB": "2048"}
    )
    plan = BenchPlan((BIG, SMALL), ALL, repeat=1, prompt="x" * 40)  # 10 + 7 tokens
    sagemaker, bedrock, azure = bench.estimate(plan, settings)
    assert azure.image_tokens_per_call == 2833
    assert azure.input_tokens_total == 2 * 2833 + 2 * 17
    assert azure.output_tokens_max == bedrock.output_tokens_max == 200
    assert sagemaker.cost_usd_max == pytest.approx(2 * 0.1 * 2 * 0.00002, rel=1e-12)


def test_estimate_measures_images_without_sizes_and_uses_the_default_prompt(no_price_override):
    measured = BenchImage("big.jpg", picture(1000, 1000))
    assert measured.width is None
    plan = BenchPlan((measured,), ("bedrock",))
    (bedrock,) = bench.estimate(plan, SETTINGS)
    assert bedrock.input_tokens_total == 1334 + bench.prompt_tokens(SETTINGS.default_prompt)


def test_a_claude_image_over_its_size_is_counted_as_sent():
    # 3000 x 2000 is sent as 1313 x 875 (1.15 MP): 1313 * 875 / 750 -> 1532 tokens.
    (bedrock,) = bench.estimate(BenchPlan((BenchImage("photo.jpg", b"", (), 3000, 2000),), ("bedrock",)), SETTINGS)
    assert models.CLAUDE.target_size(3000, 2000) == (1313, 875)
    assert bedrock.image_tokens_per_call == 1532


def test_a_provider_without_a_cost_model_is_listed_without_numbers():
    (other,) = bench.estimate(BenchPlan((BIG,), ("fake_vision",), repeat=3), SETTINGS)
    assert other.calls == 3 and other.cost_usd_max is None and "no cost model" in other.basis


CATALOGUE = targets.parse(
    """
[targets.nova]
service = "bedrock"
model = "apac.amazon.nova-lite-v1:0"
max_output_tokens = 50

[targets.mine]
service = "openai"
model = "my-own-vision-model"
input_usd_per_mtok = 1.0
output_usd_per_mtok = 2.0

[targets.unpriced]
service = "openai"
model = "llama3.2-vision"
""",
    SETTINGS,
)


def test_each_target_is_estimated_by_its_own_family_and_price():
    plan = BenchPlan((BIG, SMALL), ("nova", "mine", "unpriced"), repeat=1, prompt=PROMPT)
    nova, mine, unpriced = bench.estimate(plan, SETTINGS, catalogue=CATALOGUE)
    # Nova: 1000 x 1000 is sent as 1000 x 1000 (within 1300 x 1300) and counts as the 1:1 entry closest in area,
    # 900 x 900 -> 1300; 200 x 100 (2:1) -> 900 x 450 -> 800. Its own max_output_tokens: 50.
    assert nova.image_tokens_per_call == (1300 + 800) / 2
    assert nova.input_tokens_total == 1300 + 800 + 2 * 18
    assert nova.output_tokens_max == 2 * 50
    # Nova Lite through an inference profile: $0.06 in, $0.24 out per million tokens (genai-prices).
    assert nova.cost_usd_max == pytest.approx((2136 * 0.06 + 100 * 0.24) / 1e6, rel=1e-12)
    assert "Amazon Nova" in nova.basis and "genai-prices" in nova.basis
    # A model the app does not know: no image-token rule, so no input total and no cost, said plainly.
    assert mine.image_tokens_per_call is None and mine.input_tokens_total is None and mine.cost_usd_max is None
    assert "not a model this app knows" in mine.basis and "catalogue" in mine.basis
    # Llama 3.2 Vision on Ollama: a rule, but no price anywhere -> price unknown, never $0.
    # 1000 x 1000 -> fits a 2 x 2 canvas of 560-px tiles -> 4 x 1601; 200 x 100 -> one tile -> 1601.
    assert unpriced.image_tokens_per_call == (4 * 1601 + 1601) / 2
    assert unpriced.cost_usd_max is None and "price unknown" in unpriced.basis


# --- the runner ----------------------------------------------------------------------------------------------


class FakeWorkbench:
    """Load and compare as the Workbench does, without a cloud: each comparison sleeps, then answers.

    `answers` maps an image name to what every provider says about it; `raising` maps an image name to the
    exception its comparisons raise. `active`/`most_active` count comparisons running at once.
    """

    def __init__(
        self,
        delay: float = 0.02,
        answers: dict[str, str] | None = None,
        raising: dict[str, BaseException] | None = None,
        gate: Callable[[int], None] | None = None,
    ) -> None:
        self.delay = delay
        self.answers = answers or {}
        self.raising = raising or {}
        self.gate = gate
        self._lock = threading.Lock()
        self.active = 0
        self.most_active = 0
        self.started = 0
        self.finished = 0
        self.loaded: list[str] = []
        self.calls: list[dict] = []

    def load_image(self, data: bytes, name: str = "") -> SourceImage:
        self.loaded.append(name)
        return load_image(data, name, max_bytes=1 << 20, max_pixels=1 << 20)

    def compare(self, image, provider_names, prompt=None, *, source="cli", bench_id=None, expected=()):  # noqa: ANN001, ANN201
        with self._lock:
            self.active += 1
            self.started += 1
            number = self.started
            self.most_active = max(self.most_active, self.active)
            self.calls.append({"image": image.name, "source": source, "bench_id": bench_id, "expected": tuple(expected)})
        try:
            if self.gate is not None:
                self.gate(number)
            time.sleep(self.delay)
            if image.name in self.raising:
                raise self.raising[image.name]
            run = Run.new(image, prompt or "default", provider_names, source=source, bench_id=bench_id, expected=tuple(expected))
            answer = self.answers.get(image.name, "something")
            run.results = [
                ProviderResult(provider=p, model=f"{p}-m", status="ok", output=answer, latency_ms=10.0, cost_usd=0.001)
                for p in provider_names
            ]
            for result in run.results:
                result.correct = scoring.score(result.output, run.expected, result.ok)
            return run
        finally:
            with self._lock:
                self.active -= 1
                self.finished += 1


def plan_of(n: int, *, repeat: int = 1, concurrency: int = 2, providers: Sequence[str] = ("p1", "p2")) -> BenchPlan:
    return BenchPlan(tuple(img(f"i{k}.jpg") for k in range(n)), tuple(providers), repeat=repeat, concurrency=concurrency)


@pytest.mark.parametrize("concurrency", [1, 3, 5])
def test_never_more_than_k_comparisons_at_once(concurrency: int):
    fake = FakeWorkbench(delay=0.03)
    outcome = bench.run_bench(fake, plan_of(4, repeat=3, concurrency=concurrency))
    assert fake.most_active == concurrency  # reached, never passed
    assert len(outcome.runs) == 12 and not outcome.cancelled and outcome.all_ok


def test_every_image_x_repeat_is_one_comparison_in_plan_order():
    cat = BenchImage("cat.jpg", picture(8, 8), ("cat",), 8, 8)
    dog = BenchImage("dog.jpg", picture(9, 9), (), 9, 9)
    fake = FakeWorkbench(answers={"cat.jpg": "a tabby cat"})
    plan = BenchPlan((cat, dog), ("p1", "p2"), repeat=3, concurrency=3, prompt="What is it?")
    outcome = bench.run_bench(fake, plan, bench_id="bench-20250101T000000-abcdef")
    assert fake.loaded == ["cat.jpg", "dog.jpg"]  # each image loaded once, before any comparison
    assert len(fake.calls) == 6
    assert {(c["source"], c["bench_id"]) for c in fake.calls} == {("bench", "bench-20250101T000000-abcdef")}
    assert [outcome.slots[r.run_id] for r in outcome.runs] == [
        Slot("cat.jpg", 1), Slot("dog.jpg", 1), Slot("cat.jpg", 2), Slot("dog.jpg", 2), Slot("cat.jpg", 3), Slot("dog.jpg", 3)
    ]
    assert all(r.prompt == "What is it?" and r.bench_id == outcome.bench_id for r in outcome.runs)
    assert [r.expected for r in outcome.runs[:2]] == [("cat",), ()]
    assert [res.correct for res in outcome.runs[0].results] == [True, True]
    assert [res.correct for res in outcome.runs[1].results] == [None, None]
    assert outcome.planned == 6 and outcome.failures == []


def test_bench_ids_look_like_their_format():
    import re

    when = datetime(2025, 3, 4, 5, 6, 7, tzinfo=timezone.utc)
    assert re.fullmatch(r"bench-20250304T050607-[0-9a-f]{6}", bench.new_bench_id(when))
    outcome = bench.run_bench(FakeWorkbench(delay=0), plan_of(1))
    assert re.fullmatch(r"bench-\d{8}T\d{6}-[0-9a-f]{6}", outcome.bench_id)


def test_progress_and_eta_arithmetic():
    ticks = iter(range(0, 1000, 10))  # every clock reading is 10 s after the one before

    seen: list[Progress] = []
    outcome = bench.run_bench(
        FakeWorkbench(delay=0), plan_of(4, concurrency=1), on_progress=seen.append, clock=lambda: float(next(ticks))
    )
    # Start at 0; comparison k ends at 10 k: ETA = elapsed / done x (total - done).
    assert [(p.done, p.total, p.elapsed_s, p.eta_s) for p in seen] == [
        (1, 4, 10.0, 30.0),
        (2, 4, 20.0, 20.0),
        (3, 4, 30.0, 10.0),
        (4, 4, 40.0, 0.0),
    ]
    assert [(p.ok, p.errors, p.failed) for p in seen] == [(2, 0, 0), (4, 0, 0), (6, 0, 0), (8, 0, 0)]
    assert [p.last_image for p in seen] == ["i0.jpg", "i1.jpg", "i2.jpg", "i3.jpg"]
    assert outcome.wall_s == 50.0


def test_progress_is_reported_in_the_calling_thread_once_per_comparison():
    threads: set[str] = set()
    dones: list[int] = []

    def record(p: Progress) -> None:
        threads.add(threading.current_thread().name)
        dones.append(p.done)

    bench.run_bench(FakeWorkbench(delay=0.01), plan_of(3, repeat=2, concurrency=4), on_progress=record)
    assert threads == {threading.current_thread().name}
    assert dones == [1, 2, 3, 4, 5, 6]


def test_cancel_mid_way_keeps_what_ran_and_starts_nothing_new():
    cancel = threading.Event()
    fake = FakeWorkbench(delay=0.01)

    def stop_after_two(p: Progress) -> None:
        if p.done == 2:
            cancel.set()

    outcome = bench.run_bench(fake, plan_of(5, concurrency=1), on_progress=stop_after_two, cancel=cancel)
    assert outcome.cancelled and outcome.planned == 5
    assert len(outcome.runs) == 2 and fake.started == 2
    assert not outcome.all_ok


def test_cancel_lets_running_comparisons_finish():
    cancel = threading.Event()
    all_started = threading.Barrier(3, timeout=10)

    def gate(number: int) -> None:
        if number <= 3:
            all_started.wait()  # the first three run together; then the test cancels
            if number == 1:
                cancel.set()
        time.sleep(0.05)

    fake = FakeWorkbench(delay=0.0, gate=gate)
    progress: list[Progress] = []
    outcome = bench.run_bench(fake, plan_of(10, concurrency=3), cancel=cancel, on_progress=progress.append)
    assert outcome.cancelled
    assert fake.started == fake.finished == len(outcome.runs) == 3
    assert progress[-1].cancelling and progress[-1].done == 3


def test_cancel_after_the_last_submission_is_not_a_cancelled_outcome():
    cancel = threading.Event()
    outcome = bench.run_bench(
        FakeWorkbench(delay=0), plan_of(2, concurrency=2), cancel=cancel, on_progress=lambda p: cancel.set()
    )
    assert not outcome.cancelled and len(outcome.runs) == 2


def test_a_raising_comparison_is_a_failure_and_the_others_go_on():
    fake = FakeWorkbench(
        delay=0.01,
        raising={
            "i1.jpg": StorageError("write to table results failed: ResourceNotFoundException", hint="check the table"),
            "i3.jpg": RuntimeError("a bug"),
        },
    )
    progress: list[Progress] = []
    outcome = bench.run_bench(fake, plan_of(5, repeat=2, concurrency=3), on_progress=progress.append)
    assert len(outcome.runs) == 6 and not outcome.cancelled
    assert outcome.failures == [
        "i1.jpg, repeat 1: write to table results failed: ResourceNotFoundException (check the table)",
        "i3.jpg, repeat 1: RuntimeError: a bug",
        "i1.jpg, repeat 2: write to table results failed: ResourceNotFoundException (check the table)",
        "i3.jpg, repeat 2: RuntimeError: a bug",
    ]
    assert progress[-1].failed == 4 and progress[-1].ok == 12 and progress[-1].done == 10
    assert not outcome.all_ok


def test_an_image_that_does_not_load_stops_the_bench_before_any_comparison():
    fake = FakeWorkbench()
    plan = BenchPlan((img("good.jpg"), BenchImage("bad.jpg", b"not an image")), ("p1",))
    with pytest.raises(ImageError):
        bench.run_bench(fake, plan)
    assert fake.started == 0


# --- the background job -----------------------------------------------------------------------------------------


def test_bench_job_runs_in_the_background_and_reports():
    release = threading.Event()
    fake = FakeWorkbench(delay=0, gate=lambda n: release.wait(10))
    job = bench.BenchJob(fake, plan_of(3, concurrency=1)).start()
    assert job.progress.done == 0 and job.progress.total == 3 and not job.done
    release.set()
    assert job.wait(10)
    assert job.done and job.error is None
    assert job.outcome is not None and job.outcome.bench_id == job.bench_id and len(job.outcome.runs) == 3
    assert job.progress.done == 3


def test_bench_job_cancel():
    release = threading.Event()
    fake = FakeWorkbench(delay=0, gate=lambda n: release.wait(10))
    job = bench.BenchJob(fake, plan_of(6, concurrency=2)).start()
    deadline = time.monotonic() + 10
    while fake.started < 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    job.cancel()
    assert job.progress.cancelling
    release.set()
    assert job.wait(10)
    assert job.outcome.cancelled and len(job.outcome.runs) == 2


def test_bench_job_hands_over_the_error_that_stopped_it():
    job = bench.BenchJob(FakeWorkbench(), BenchPlan((BenchImage("bad.jpg", b"nope"),), ("p1",))).start()
    assert job.wait(10)
    assert isinstance(job.error, ImageError) and job.outcome is None


# --- summary and JSON --------------------------------------------------------------------------------------------


def result(provider: str, latency: float | None, *, cold: bool | None = None, ok: bool = True, cost: float | None = None,
           correct: bool | None = None) -> ProviderResult:
    return ProviderResult(
        provider=provider,
        model=f"{provider}-model",
        status="ok" if ok else "error",
        output="a tabby cat" if ok else "",
        labels=[Label("tabby", 0.75)] if provider == "sagemaker" else [],
        latency_ms=latency,
        cold_start=cold,
        cost_usd=cost,
        correct=correct,
        error=None if ok else "boom",
        error_type=None if ok else "service_error",
    )


@pytest.fixture(scope="module")
def source() -> SourceImage:
    return load_image(picture(8, 8), "x.jpg", max_bytes=1 << 20, max_pixels=1 << 20)


def synthetic_outcome(source: SourceImage) -> BenchOutcome:
    rows = [
        [result("sagemaker", 10.0, cold=False, cost=1e-6, correct=True), result("bedrock", 100.0, cost=0.001, correct=True)],
        [result("sagemaker", 1000.0, cold=True, cost=3e-6, correct=False), result("bedrock", 300.0, cost=0.003, correct=True)],
        [result("sagemaker", 20.0, cold=False, cost=1e-6, correct=True), result("bedrock", 200.0, cost=0.002, correct=False)],
        [result("sagemaker", 2000.0, cold=True, cost=None, correct=True), result("bedrock", None, ok=False, correct=False)],
        [result("sagemaker", 30.0, cold=False, cost=2e-6, correct=None), result("bedrock", 50.0, ok=False, correct=False)],
        [result("sagemaker", 40.0, cold=False, cost=2e-6, correct=None), result("bedrock", 400.0, cost=0.004, correct=None)],
    ]
    runs = []
    slots = {}
    for k, results in enumerate(rows):
        run = Run.new(source, "p", ["sagemaker", "bedrock"], source="bench", bench_id="bench-x", expected=("cat",) if k < 4 else ())
        run.run_id = f"run-{k}"
        run.results = results
        runs.append(run)
        slots[run.run_id] = Slot("cat.jpg" if k % 2 == 0 else "x.jpg", k // 2 + 1)
    return BenchOutcome("bench-x", runs, False, [], datetime(2025, 1, 1, tzinfo=timezone.utc), 1.23456, slots, planned=6)


def test_summary_numbers(source: SourceImage):
    sagemaker, bedrock = bench.summary(synthetic_outcome(source))
    # numpy linear interpolation on the raw values: warm [10, 20, 30, 40] -> p50 25, p95 30 + 0.85 x 10.
    assert sagemaker == {
        "provider": "sagemaker",
        "target": "sagemaker",
        "model": "sagemaker-model",
        "n": 6,
        "ok": 6,
        "errors": 0,
        "cold_starts": 2,
        "p50_ms": None,
        "p95_ms": None,
        "p50_warm_ms": pytest.approx(25.0),
        "p95_warm_ms": pytest.approx(38.5),
        "p50_cold_ms": pytest.approx(1500.0),
        "p95_cold_ms": pytest.approx(1950.0),
        "mean_cost_usd": pytest.approx(9e-6 / 5),
        "total_cost_usd": pytest.approx(9e-6),
        "n_scored": 4,
        "correct": 3,
        "accuracy": 0.75,
    }
    # ok latencies [100, 300, 200, 400] -> p50 250, p95 385; the errors are counted, never timed.
    assert bedrock["cold_starts"] is None and bedrock["p50_warm_ms"] is None and bedrock["p50_cold_ms"] is None
    assert (bedrock["n"], bedrock["ok"], bedrock["errors"]) == (6, 4, 2)
    assert bedrock["p50_ms"] == pytest.approx(250.0) and bedrock["p95_ms"] == pytest.approx(385.0)
    assert bedrock["mean_cost_usd"] == pytest.approx(0.0025)
    assert (bedrock["n_scored"], bedrock["correct"], bedrock["accuracy"]) == (5, 2, 0.4)


def test_summary_without_labels_or_successes(source: SourceImage):
    run = Run.new(source, "p", ["bedrock"], source="bench", bench_id="b")
    run.results = [result("bedrock", None, ok=False)]
    (row,) = bench.summary(BenchOutcome("b", [run], False, [], datetime.now(timezone.utc), 0.1))
    assert row["ok"] == 0 and row["p50_ms"] is None and row["mean_cost_usd"] is None
    assert row["accuracy"] is None and row["n_scored"] == 0
    assert bench.summary(BenchOutcome("b", [], True, ["x"], datetime.now(timezone.utc), 0.0)) == []


def test_bench_json_shape(source: SourceImage):
    doc = bench.bench_json(synthetic_outcome(source))
    json.dumps(doc)  # serialisable as is
    assert {"bench_id", "cancelled", "wall_s", "runs", "summary", "results"} <= set(doc)
    assert (doc["bench_id"], doc["cancelled"], doc["wall_s"], doc["runs"]) == ("bench-x", False, 1.235, 6)
    assert [row["provider"] for row in doc["summary"]] == ["sagemaker", "bedrock"]
    assert len(doc["results"]) == 12
    keys = {
        "run_id", "bench_id", "image", "repeat", "provider", "model", "status", "output", "labels", "latency_ms",
        "cold_start", "input_tokens", "output_tokens", "image_tokens", "cost_usd", "correct", "expected", "error",
    }
    for item in doc["results"]:
        assert keys <= set(item)
        assert item["bench_id"] == "bench-x"
    first, fourth_bedrock = doc["results"][0], doc["results"][7]
    assert (first["run_id"], first["image"], first["repeat"], first["provider"]) == ("run-0", "cat.jpg", 1, "sagemaker")
    assert first["labels"] == [{"label": "tabby", "score": 0.75}] and first["expected"] == ["cat"]
    assert (fourth_bedrock["image"], fourth_bedrock["repeat"], fourth_bedrock["status"]) == ("x.jpg", 2, "error")
    assert fourth_bedrock["error"] == "boom" and fourth_bedrock["correct"] is False
