"""lambda/lambda_function.py on S3 events, against moto in process: what it stores, what it skips, what it logs."""

from __future__ import annotations

import importlib.util
import io
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote_plus

import boto3
import numpy as np
import pytest
from moto import mock_aws
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
HANDLER_PATH = REPO / "lambda" / "lambda_function.py"
REGION = "ap-northeast-1"
BUCKET = "mc-vision-uploads-123456789012"
TABLE = "mc-vision-results"
REQUIRED_FIELDS = {"request_id", "bucket", "key", "size", "duration_ms", "outcome"}


# --- images, made with Pillow at odd sizes so that a swapped width and height shows ------------------------


def _pixels(width: int, height: int, channels: int = 3) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    planes = [(x * 7 + y * 3) % 256, (x * 2 + y * 5) % 256, (x * y) % 256, (x + y * 11) % 256][:channels]
    return np.stack(planes, axis=-1).astype(np.uint8)


def encode(fmt: str, width: int, height: int, mode: str = "RGB", **options: Any) -> bytes:
    image = Image.fromarray(_pixels(width, height, len(mode)), mode)
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def big_exif() -> bytes:
    """An EXIF block at the 64 KiB segment limit (a long description stands in for a large maker note)."""
    exif = Image.Exif()
    exif[0x010E] = "x" * 65_490  # ImageDescription: the segment comes within a few bytes of its 65535 limit
    return exif.tobytes()


def jpeg_frame_offset(data: bytes) -> int:
    """Where the first start-of-frame marker is, walking the segments as a decoder does."""
    i = 2
    while data[i + 1] not in (0xC0, 0xC1, 0xC2):
        i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
    return i


IMAGES = {
    "baseline_jpeg": (lambda: encode("JPEG", 131, 67, quality=90), "JPEG", 131, 67),
    "progressive_jpeg": (lambda: encode("JPEG", 97, 211, quality=85, progressive=True), "JPEG", 97, 211),
    # EXIF before the frame header pushes it past the first 64 KiB read.
    "jpeg_large_exif": (lambda: encode("JPEG", 150, 90, exif=big_exif()), "JPEG", 150, 90),
    # EXIF and a multi-segment ICC profile: the frame header lies several segments and reads further on.
    "jpeg_exif_and_icc": (lambda: encode("JPEG", 77, 55, exif=big_exif(), icc_profile=bytes(200_000)), "JPEG", 77, 55),
    "png": (lambda: encode("PNG", 300, 17), "PNG", 300, 17),
    "gif": (lambda: encode("GIF", 45, 123), "GIF", 45, 123),
    "webp_lossy": (lambda: encode("WEBP", 121, 63, quality=80), "WEBP", 121, 63),
    "webp_lossless": (lambda: encode("WEBP", 65, 129, lossless=True), "WEBP", 65, 129),
    "webp_extended_alpha": (lambda: encode("WEBP", 203, 41, mode="RGBA", quality=80), "WEBP", 203, 41),
}


# --- the handler against moto ----------------------------------------------------------------------------


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "TABLE_NAME": TABLE,
        "UPLOAD_PREFIX": "uploads/",
        "TTL_DAYS": "90",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("MAX_OBJECT_BYTES", raising=False)


def load_handler() -> Any:
    """Import the handler by file path as Lambda does, once per test: its settings and clients start fresh."""
    name = f"lambda_function_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, HANDLER_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def aws(aws_env: None) -> Iterator[dict[str, Any]]:
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        ddb = boto3.client("dynamodb", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        ddb.create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        )
        yield {"s3": s3, "ddb": ddb}


@pytest.fixture
def handler(aws: dict[str, Any]) -> Any:
    return load_handler()


class Context:
    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self.function_name = "mc-vision-upload-handler"
        self.memory_limit_in_mb = "512"
        self._deadline = time.monotonic() + 60

    def get_remaining_time_in_millis(self) -> int:
        return int((self._deadline - time.monotonic()) * 1000)


def record(key: str, size: int, event_name: str = "ObjectCreated:Put", bucket: str = BUCKET) -> dict[str, Any]:
    """One record as S3 sends it: the key URL-encoded (spaces as '+'), the size from the upload."""
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": REGION,
        "eventTime": "2026-01-02T03:04:05.678Z",
        "eventName": event_name,
        "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "example"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "uploads-to-local-lambda-runner",
            "bucket": {"name": bucket, "ownerIdentity": {"principalId": "EXAMPLE"}, "arn": f"arn:aws:s3:::{bucket}"},
            "object": {"key": quote_plus(key, safe="/"), "size": size, "eTag": "0123456789abcdef", "sequencer": "0A1B2C3D4E5F678901"},
        },
    }


def put(aws: dict[str, Any], key: str, body: bytes, **extra: Any) -> dict[str, Any]:
    aws["s3"].put_object(Bucket=BUCKET, Key=key, Body=body, **extra)
    return record(key, len(body))


def item(aws: dict[str, Any], key: str) -> dict[str, Any] | None:
    return aws["ddb"].get_item(TableName=TABLE, Key={"pk": {"S": f"IMAGE#{key}"}, "sk": {"S": "META"}}).get("Item")


def log_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]


# --- formats ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(IMAGES))
def test_each_format_is_stored_with_its_dimensions(handler, aws, capsys, name):
    make, fmt, width, height = IMAGES[name]
    data = make()
    key = f"uploads/2026/01/02/{name}.bin"
    event = {"Records": [put(aws, key, data, Metadata={"sha256": "ab" * 32})]}
    context = Context()

    result = handler.lambda_handler(event, context)

    assert result == {"records": 1, "outcomes": {"stored": 1}}
    stored = item(aws, key)
    assert stored is not None
    assert stored["type"] == {"S": "image"} and stored["image_key"] == {"S": key} and stored["bucket"] == {"S": BUCKET}
    assert (stored["image_format"]["S"], int(stored["image_width"]["N"]), int(stored["image_height"]["N"])) == (fmt, width, height)
    assert int(stored["image_bytes"]["N"]) == len(data)
    assert stored["image_sha256"] == {"S": "ab" * 32}
    assert stored["etag"]["S"] and '"' not in stored["etag"]["S"]
    now = time.time()
    assert now + 90 * 86400 - 60 <= int(stored["expires_at"]["N"]) <= now + 90 * 86400 + 60
    [line] = log_lines(capsys)
    assert REQUIRED_FIELDS <= line.keys()
    assert line["request_id"] == context.aws_request_id and line["bucket"] == BUCKET and line["key"] == key
    assert line["size"] == len(data) and line["outcome"] == "stored" and line["level"] == "INFO"
    assert (line["format"], line["width"], line["height"]) == (fmt, width, height)
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0


def test_the_hard_jpeg_cases_are_what_they_claim():
    # Guards the cases above against an encoder that would quietly write something easier.
    progressive = IMAGES["progressive_jpeg"][0]()
    assert progressive[jpeg_frame_offset(progressive) + 1] == 0xC2  # SOF2: progressive
    baseline = IMAGES["baseline_jpeg"][0]()
    assert baseline[jpeg_frame_offset(baseline) + 1] == 0xC0
    for name in ("jpeg_large_exif", "jpeg_exif_and_icc"):
        data = IMAGES[name][0]()
        assert data[2:4] == b"\xff\xe0" or data[2:4] == b"\xff\xe1"
        assert b"Exif\x00\x00" in data[: jpeg_frame_offset(data)]
    handler_module = load_handler()
    assert jpeg_frame_offset(IMAGES["jpeg_large_exif"][0]()) > handler_module.HEADER_BYTES
    assert jpeg_frame_offset(IMAGES["jpeg_exif_and_icc"][0]()) > 3 * handler_module.HEADER_BYTES
    assert IMAGES["webp_lossy"][0]()[12:16] == b"VP8 "
    assert IMAGES["webp_lossless"][0]()[12:16] == b"VP8L"
    assert IMAGES["webp_extended_alpha"][0]()[12:16] == b"VP8X"


def test_sniffing_needs_the_frame_header_not_just_a_signature():
    handler_module = load_handler()
    sniff = handler_module.sniff_image
    jpeg = IMAGES["baseline_jpeg"][0]()
    frame = jpeg_frame_offset(jpeg)
    assert sniff(jpeg[:frame]) is None  # cut before the frame header, nothing more to read
    assert sniff(jpeg[:frame], lambda offset, length: jpeg[offset : offset + length], len(jpeg)) == ("JPEG", 131, 67)
    assert sniff(b"\xff\xd8\xff\xda\x00\x08" + bytes(40)) is None  # scan data before any frame header
    png = IMAGES["png"][0]()
    assert sniff(png[:20]) is None
    assert sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 " + bytes(14)) is None  # no key frame start code
    assert sniff(b"GIF89a\x00\x00\x00\x00") is None  # zero-sized screen
    assert sniff("hello, world\n".encode() * 10) is None


# --- what is skipped, and why ----------------------------------------------------------------------------


def test_text_file_under_uploads_is_skipped_as_not_an_image(handler, aws, capsys):
    key = "uploads/2026/01/02/notes.txt"
    event = {"Records": [put(aws, key, b"not an image, just words\n" * 40)]}
    assert handler.lambda_handler(event, Context())["outcomes"] == {"skipped:not_an_image": 1}
    assert item(aws, key) is None
    [line] = log_lines(capsys)
    assert line["outcome"] == "skipped:not_an_image" and line["key"] == key and "format" not in line


def test_oversized_object_is_skipped_by_its_event_size(handler, aws, capsys):
    key = "uploads/2026/01/02/huge.png"
    event = {"Records": [put(aws, key, IMAGES["png"][0]())]}
    event["Records"][0]["s3"]["object"]["size"] = handler.MAX_OBJECT_BYTES + 1
    assert handler.lambda_handler(event, Context())["outcomes"] == {"skipped:too_large": 1}
    assert item(aws, key) is None
    [line] = log_lines(capsys)
    assert line["outcome"] == "skipped:too_large" and line["size"] == handler.MAX_OBJECT_BYTES + 1


def test_object_outside_the_upload_prefix_is_skipped(handler, aws, capsys):
    key = "sagemaker/elsewhere.png"
    event = {"Records": [put(aws, key, IMAGES["png"][0]())]}
    assert handler.lambda_handler(event, Context())["outcomes"] == {"skipped:outside_prefix": 1}
    assert item(aws, key) is None
    assert log_lines(capsys)[0]["outcome"] == "skipped:outside_prefix"


def test_empty_object_is_skipped(handler, aws, capsys):
    key = "uploads/2026/01/02/empty.jpg"
    event = {"Records": [put(aws, key, b"")]}
    assert handler.lambda_handler(event, Context())["outcomes"] == {"skipped:empty": 1}
    assert log_lines(capsys)[0]["outcome"] == "skipped:empty"


def test_key_with_spaces_and_non_ascii_is_decoded(handler, aws, capsys):
    key = "uploads/2026/01/02/my cat + café 猫.png"
    data = IMAGES["png"][0]()
    event = {"Records": [put(aws, key, data)]}
    encoded = event["Records"][0]["s3"]["object"]["key"]
    assert " " not in encoded and "+" in encoded and "%E7%8C%AB" in encoded  # as S3 sends it
    assert handler.lambda_handler(event, Context())["outcomes"] == {"stored": 1}
    stored = item(aws, key)
    assert stored is not None and stored["image_key"] == {"S": key}
    assert log_lines(capsys)[0]["key"] == key


def test_deleted_object_is_an_error_and_the_batch_goes_on(handler, aws, capsys):
    gone = "uploads/2026/01/02/gone.png"
    kept = "uploads/2026/01/02/kept.gif"
    first = put(aws, gone, IMAGES["png"][0]())
    aws["s3"].delete_object(Bucket=BUCKET, Key=gone)  # versioned: a delete marker now hides it
    second = put(aws, kept, IMAGES["gif"][0]())

    result = handler.lambda_handler({"Records": [first, second]}, Context())

    assert result == {"records": 2, "outcomes": {"error": 1, "stored": 1}}
    assert item(aws, gone) is None and item(aws, kept) is not None
    error, stored = log_lines(capsys)
    assert error["outcome"] == "error" and error["level"] == "ERROR" and error["key"] == gone
    assert "NoSuchKey" in error["error"] and REQUIRED_FIELDS <= error.keys()
    assert stored["outcome"] == "stored" and stored["key"] == kept


def test_malformed_and_other_records_do_not_fail_the_batch(handler, aws, capsys):
    kept = "uploads/2026/01/02/fine.png"
    removed = record("uploads/2026/01/02/old.png", 0, event_name="ObjectRemoved:Delete")
    event = {"Records": [{"eventName": "ObjectCreated:Put"}, removed, put(aws, kept, IMAGES["png"][0]())]}
    result = handler.lambda_handler(event, Context())
    assert result["outcomes"] == {"error": 1, "skipped:not_object_created": 1, "stored": 1}
    malformed, other, stored = log_lines(capsys)
    assert malformed["outcome"] == "error" and "KeyError" in malformed["error"] and REQUIRED_FIELDS <= malformed.keys()
    assert other["outcome"] == "skipped:not_object_created" and other["key"] == "uploads/2026/01/02/old.png"
    assert stored["outcome"] == "stored"


def test_a_mixed_batch_stores_the_images_and_logs_one_line_per_record(handler, aws, capsys):
    records, expected = [], {}
    for name, (make, fmt, width, height) in IMAGES.items():
        key = f"uploads/2026/01/02/mixed {name}.img"
        records.append(put(aws, key, make()))
        expected[key] = ("stored", (fmt, width, height))
    text = "uploads/2026/01/02/readme.txt"
    records.append(put(aws, text, b"plain text\n"))
    expected[text] = ("skipped:not_an_image", None)
    huge = "uploads/2026/01/02/huge.jpg"
    records.append(put(aws, huge, IMAGES["baseline_jpeg"][0]()))
    records[-1]["s3"]["object"]["size"] = handler.MAX_OBJECT_BYTES + 1
    expected[huge] = ("skipped:too_large", None)
    outside = "elsewhere/photo.png"
    records.append(put(aws, outside, IMAGES["png"][0]()))
    expected[outside] = ("skipped:outside_prefix", None)
    gone = "uploads/2026/01/02/gone.webp"
    records.append(put(aws, gone, IMAGES["webp_lossy"][0]()))
    aws["s3"].delete_object(Bucket=BUCKET, Key=gone)
    expected[gone] = ("error", None)
    context = Context()

    result = handler.lambda_handler({"Records": records}, context)

    assert result["records"] == len(records)
    assert result["outcomes"] == {"stored": len(IMAGES), "skipped:not_an_image": 1, "skipped:too_large": 1, "skipped:outside_prefix": 1, "error": 1}
    lines = log_lines(capsys)
    assert [line["key"] for line in lines] == list(expected)  # one line per record, in order
    for line in lines:
        outcome, dims = expected[line["key"]]
        assert REQUIRED_FIELDS <= line.keys() and line["request_id"] == context.aws_request_id
        assert line["outcome"] == outcome
        stored = item(aws, line["key"])
        if dims is None:
            assert stored is None and "format" not in line
        else:
            assert (line["format"], line["width"], line["height"]) == dims
            assert (stored["image_format"]["S"], int(stored["image_width"]["N"]), int(stored["image_height"]["N"])) == dims


def test_ttl_days_zero_keeps_the_item_forever(aws, capsys, monkeypatch):
    monkeypatch.setenv("TTL_DAYS", "0")
    handler = load_handler()
    key = "uploads/2026/01/02/forever.png"
    handler.lambda_handler({"Records": [put(aws, key, IMAGES["png"][0]())]}, Context())
    stored = item(aws, key)
    assert stored is not None and "expires_at" not in stored
