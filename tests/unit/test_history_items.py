"""What one run writes to DynamoDB (pure), the marshalling both ways, and `--since` parsing."""

from __future__ import annotations

import hashlib
import io
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import numpy as np
import pytest
from PIL import Image

from mcv_core import stack
from mcv_core.errors import UsageError
from mcv_core.history import ANALYTIC_FIELDS, RESULT_FIELDS, _marshal, _unmarshal, parse_since, run_items
from mcv_core.images import SourceImage, load_image
from mcv_core.records import Label, ProviderResult
from mcv_core.runner import Run

CREATED = datetime(2026, 11, 24, 23, 59, 59, 123456, tzinfo=timezone.utc)
CREATED_ISO = "2026-11-24T23:59:59.123456Z"
CREATED_EPOCH = 1795564799  # int(CREATED.timestamp()): 2026-11-24T23:59:59Z
RUN_ID = "20261124T235959-0123456789"
PROMPT = "Describe this image in one or two sentences."


@pytest.fixture(scope="module")
def jpeg() -> bytes:
    y, x = np.mgrid[0:48, 0:64]
    buffer = io.BytesIO()
    Image.fromarray(np.stack([x * 4, y * 5, (x + y) * 2], axis=-1).astype(np.uint8)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def image(jpeg: bytes) -> SourceImage:
    return load_image(jpeg, "gradient.jpg", max_bytes=1 << 20, max_pixels=1 << 20)


def ok_result() -> ProviderResult:
    return ProviderResult(
        provider="sagemaker",
        model="mc-vision-endpoint (efficientnet-lite0)",
        status="ok",
        output="Egyptian cat (77%), tabby (10%)",
        labels=[Label("Egyptian cat", 0.77), Label("tabby", 0.1)],
        latency_ms=123.45,
        provider_latency_ms=24.5,
        cold_start=True,
        cost_usd=2.5e-05,
        attempts=1,
        timings={"prepare_ms": 1.25, "model_load_ms": 350.0},
        image_width=224,
        image_height=224,
    )


def error_result() -> ProviderResult:
    return ProviderResult(
        provider="bedrock",
        model="anthropic.claude-3-haiku-20240307-v1:0",
        status="error",
        latency_ms=15.0,
        attempts=3,
        error_type="throttled",
        error="Too many requests, please wait before trying again. (the service is rate limiting)",
    )


def make_run(image: SourceImage, created: datetime = CREATED) -> Run:
    return Run(
        run_id=RUN_ID,
        created_at=created,
        image=image,
        prompt=PROMPT,
        providers=["sagemaker", "bedrock"],
        source="ui",
        image_key=f"uploads/2026/11/24/{image.sha256}.jpg",
        results=[ok_result(), error_result()],
        wall_ms=130.5,
    )


def image_fields(image: SourceImage, jpeg: bytes) -> dict[str, object]:
    return {
        "image_key": f"uploads/2026/11/24/{hashlib.sha256(jpeg).hexdigest()}.jpg",
        "image_sha256": hashlib.sha256(jpeg).hexdigest(),
        "image_name": "gradient.jpg",
        "image_format": "JPEG",
        "image_width": 64,
        "image_height": 48,
        "image_bytes": len(jpeg),
        "prompt": PROMPT,
        "source": "ui",
    }


# --- run_items -----------------------------------------------------------------------------------------


def test_run_items_exact(image: SourceImage, jpeg: bytes) -> None:
    expires = {"expires_at": CREATED_EPOCH + 90 * 86400}
    run_item, ok_item, error_item = run_items(make_run(image), ttl_days=90)
    assert run_item == {
        "pk": f"RUN#{RUN_ID}",
        "sk": "RUN",
        "type": "run",
        "run_id": RUN_ID,
        "created_at": CREATED_ISO,
        "providers": ["sagemaker", "bedrock"],
        "wall_ms": 130.5,
        **image_fields(image, jpeg),
        **expires,
    }
    keys = {
        "pk": f"RUN#{RUN_ID}",
        "type": "result",
        "run_id": RUN_ID,
        "created_at": CREATED_ISO,
        "gsi1pk": "DAY#2026-11-24",
    }
    assert ok_item == {
        **keys,
        "sk": "RESULT#sagemaker",
        "gsi1sk": f"{CREATED_ISO}#{RUN_ID}#sagemaker",
        "gsi2pk": "PROVIDER#sagemaker",
        "gsi2sk": f"{CREATED_ISO}#{RUN_ID}",
        "provider": "sagemaker",
        "model": "mc-vision-endpoint (efficientnet-lite0)",
        "status": "ok",
        "output": "Egyptian cat (77%), tabby (10%)",
        "labels": [{"label": "Egyptian cat", "score": 0.77}, {"label": "tabby", "score": 0.1}],
        "latency_ms": 123.45,
        "provider_latency_ms": 24.5,
        "cold_start": True,
        "cost_usd": 2.5e-05,
        "attempts": 1,
        "timings": {"prepare_ms": 1.25, "model_load_ms": 350.0},
        "mode": "online",
        "sent_width": 224,  # the size the provider was sent; image_width/height are the upload's
        "sent_height": 224,
        **image_fields(image, jpeg),
        **expires,
    }
    assert error_item == {
        **keys,
        "sk": "RESULT#bedrock",
        "gsi1sk": f"{CREATED_ISO}#{RUN_ID}#bedrock",
        "gsi2pk": "PROVIDER#bedrock",
        "gsi2sk": f"{CREATED_ISO}#{RUN_ID}",
        "provider": "bedrock",
        "model": "anthropic.claude-3-haiku-20240307-v1:0",
        "status": "error",
        "output": "",
        "labels": [],
        "latency_ms": 15.0,
        "attempts": 3,
        "error_type": "throttled",
        "error": "Too many requests, please wait before trying again. (the service is rate limiting)",
        "timings": {},
        "mode": "online",
        **image_fields(image, jpeg),
        **expires,
    }


def test_the_run_item_is_in_no_index(image: SourceImage) -> None:
    run_item = run_items(make_run(image), ttl_days=90)[0]
    assert not {"gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk"} & set(run_item)
    assert stack.INDEXES == {"by_time": ("gsi1pk", "gsi1sk"), "by_provider": ("gsi2pk", "gsi2sk")}


@pytest.mark.parametrize(("days", "expires_at"), [(1, CREATED_EPOCH + 86400), (30, CREATED_EPOCH + 2_592_000), (3650, CREATED_EPOCH + 315_360_000)])
def test_ttl_is_created_plus_days(image: SourceImage, days: int, expires_at: int) -> None:
    items = run_items(make_run(image), ttl_days=days)
    assert stack.TTL_ATTRIBUTE == "expires_at"
    assert [item["expires_at"] for item in items] == [expires_at] * 3
    assert all(type(item["expires_at"]) is int for item in items)


def test_ttl_0_keeps_forever(image: SourceImage) -> None:
    items = run_items(make_run(image), ttl_days=0)
    assert len(items) == 3
    assert not [item for item in items if "expires_at" in item]


def test_none_values_are_dropped(image: SourceImage) -> None:
    run = make_run(image)
    run.image_key = None
    _, ok_item, error_item = run_items(run, ttl_days=90)
    assert None not in ok_item.values() and None not in error_item.values()
    assert "bench_id" not in ok_item and "image_key" not in ok_item
    assert not {"input_tokens", "output_tokens", "image_tokens", "error_type", "error"} & set(ok_item)
    assert not {"provider_latency_ms", "cold_start", "cost_usd", "sent_width", "sent_height"} & set(error_item)


def test_bench_id_is_kept_when_set(image: SourceImage) -> None:
    run = make_run(image)
    run.source, run.bench_id = "bench", "bench-20261124-01"
    assert [(i["source"], i["bench_id"]) for i in run_items(run, ttl_days=0)] == [("bench", "bench-20261124-01")] * 3


def test_floats_stay_floats(image: SourceImage) -> None:
    _, ok_item, error_item = run_items(make_run(image), ttl_days=90)
    assert type(ok_item["latency_ms"]) is float and type(error_item["latency_ms"]) is float
    assert type(ok_item["timings"]["model_load_ms"]) is float
    assert type(ok_item["labels"][0]["score"]) is float


def test_time_keys_are_utc_whatever_the_zone_of_created_at(image: SourceImage) -> None:
    jst = timezone(timedelta(hours=9))
    created = datetime(2026, 11, 25, 8, 30, tzinfo=jst)  # 2026-11-24T23:30:00Z
    run_item, ok_item, _ = run_items(make_run(image, created), ttl_days=1)
    assert run_item["created_at"] == ok_item["created_at"] == "2026-11-24T23:30:00.000000Z"
    assert ok_item["gsi1pk"] == "DAY#2026-11-24"
    assert ok_item["gsi1sk"] == f"2026-11-24T23:30:00.000000Z#{RUN_ID}#sagemaker"
    assert ok_item["expires_at"] == 1795564800 - 1800 + 86400


# --- marshalling ---------------------------------------------------------------------------------------


def test_marshal_shapes(image: SourceImage) -> None:
    _, ok_item, _ = run_items(make_run(image), ttl_days=90)
    marshalled = _marshal(ok_item)
    assert marshalled["latency_ms"] == {"N": "123.45"}
    assert marshalled["cost_usd"] == {"N": "0.000025"}
    assert marshalled["attempts"] == {"N": "1"}
    assert marshalled["cold_start"] == {"BOOL": True}
    assert marshalled["labels"] == {
        "L": [
            {"M": {"label": {"S": "Egyptian cat"}, "score": {"N": "0.77"}}},
            {"M": {"label": {"S": "tabby"}, "score": {"N": "0.1"}}},
        ]
    }
    assert marshalled["timings"] == {"M": {"prepare_ms": {"N": "1.25"}, "model_load_ms": {"N": "350.0"}}}
    assert marshalled["expires_at"] == {"N": str(CREATED_EPOCH + 90 * 86400)}
    assert marshalled["pk"] == {"S": f"RUN#{RUN_ID}"}


def test_every_item_round_trips(image: SourceImage) -> None:
    for item in run_items(make_run(image), ttl_days=90):
        back = _unmarshal(_marshal(item))
        assert back == item
        assert {k: type(v) for k, v in back.items()} == {k: type(v) for k, v in item.items()}


def test_round_trip_of_numbers_and_nesting() -> None:
    item = {
        "f": 0.1,
        "whole_float": 2.0,
        "third": 1 / 3,
        "tiny": 1.5e-07,
        "i": 7,
        "zero": 0,
        "neg": -3.25,
        "b": False,
        "s": "",
        "labels": [{"label": "espresso", "score": 0.9}, {"label": "cup", "score": 0.05, "extra": {"deep": [1, 2.5]}}],
        "nested": {"keep": 1.0, "drop": None},
    }
    back = _unmarshal(_marshal(item))
    assert back == {**item, "nested": {"keep": 1.0}}
    assert type(back["whole_float"]) is float and type(back["i"]) is int and type(back["zero"]) is int
    assert type(back["labels"][1]["extra"]["deep"][0]) is int and type(back["labels"][1]["extra"]["deep"][1]) is float


def test_nan_inf_and_none_are_not_written() -> None:
    assert _marshal({"a": float("nan"), "b": float("inf"), "c": -float("inf"), "d": None, "e": 1.5}) == {"e": {"N": "1.5"}}


@pytest.mark.parametrize(
    ("number", "value"),
    [("350", 350), ("0.77", 0.77), ("1E+2", 100), ("2.5E-5", 2.5e-05), ("-12", -12), ("123.450", 123.45)],
)
def test_unmarshal_numbers_as_dynamodb_returns_them(number: str, value: float) -> None:
    # DynamoDB trims trailing zeros: a float that was whole comes back as an int, as it would from the service.
    back = _unmarshal({"x": {"N": number}})["x"]
    assert back == value and type(back) is type(value)
    assert not isinstance(back, Decimal)


# --- parse_since ---------------------------------------------------------------------------------------

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", datetime(2026, 11, 25, 11, 30, tzinfo=timezone.utc)),
        ("24h", datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)),
        ("7d", datetime(2026, 11, 18, 12, 0, tzinfo=timezone.utc)),
        ("2w", datetime(2026, 11, 11, 12, 0, tzinfo=timezone.utc)),
        ("0h", NOW),
        (" 24h ", datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)),
        ("2026-11-01", datetime(2026, 11, 1, tzinfo=timezone.utc)),
        ("2026-11-01T09:30:00", datetime(2026, 11, 1, 9, 30, tzinfo=timezone.utc)),
        ("2026-11-01T09:30:00+09:00", datetime(2026, 11, 1, 0, 30, tzinfo=timezone.utc)),
        ("2026-11-01T00:30:00Z", datetime(2026, 11, 1, 0, 30, tzinfo=timezone.utc)),
    ],
)
def test_parse_since(text: str, expected: datetime) -> None:
    when = parse_since(text, NOW)
    assert when == expected
    assert when.utcoffset() is not None  # aware: it is compared with aware times and formatted as UTC


@pytest.mark.parametrize("text", ["yesterday", "", "10x", "-5h", "1.5h", "24 h", "h", "24H", "2026-13-01"])
def test_a_bad_since_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_since(text, NOW)
    assert info.value.message == f"--since {text.strip()!r} is neither a duration nor a date"
    assert info.value.hint == "use e.g. 24h, 7d or 2026-11-01"


@pytest.mark.parametrize("text", ["²h", "1000000d"])
def test_odd_durations_are_usage_errors_too(text: str) -> None:
    with pytest.raises(UsageError):
        parse_since(text, NOW)


def test_parse_since_defaults_to_now() -> None:
    before = datetime.now(timezone.utc)
    when = parse_since("1h")
    after = datetime.now(timezone.utc)
    assert before - timedelta(hours=1) <= when <= after - timedelta(hours=1)


def test_streamed_figures_the_anatomy_and_a_sweep_s_id_and_level_are_stored(image: SourceImage) -> None:
    run = make_run(image)
    run.source, run.sweep_id, run.concurrency = "sweep", "sweep-20261124T235959-a1b2c3", 4
    ok, cut = run.results
    ok.ttft_ms, ok.output_tokens_per_s, ok.streamed = 250.5, 42.125, True
    ok.timings = {"prepare_ms": 1.25, "queue_ms": 0.5, "service_ms": 24.5, "network_ms": 98.95}
    cut.error_type, cut.output, cut.ttft_ms, cut.streamed = "stream_cut", "A cat on", 80.0, True
    items = run_items(run, ttl_days=0)
    assert [(i["source"], i["sweep_id"], i["concurrency"]) for i in items] == [("sweep", "sweep-20261124T235959-a1b2c3", 4)] * 3
    _, ok_item, cut_item = items
    assert (ok_item["ttft_ms"], ok_item["output_tokens_per_s"], ok_item["streamed"]) == (250.5, 42.125, True)
    assert ok_item["timings"] == ok.timings
    assert (cut_item["output"], cut_item["ttft_ms"], cut_item["streamed"]) == ("A cat on", 80.0, True)
    assert "output_tokens_per_s" not in cut_item
    assert _unmarshal(_marshal(ok_item)) == ok_item
    for name in ("ttft_ms", "output_tokens_per_s", "streamed", "sweep_id", "concurrency", "timings"):
        assert name in RESULT_FIELDS and name in ANALYTIC_FIELDS, name
    # A run that is not a sweep's stores neither.
    assert not {"sweep_id", "concurrency"} & set(run_items(make_run(image), ttl_days=0)[1])
