"""S3 upload event handler (AWS Lambda, Python 3.12, standard library and boto3 only).

For each s3:ObjectCreated record: read the object's metadata and first bytes, work out the image's format and
dimensions from its header, store that as an item in the results table, and log one JSON line. Objects that
are not images, are empty or too large, or are not under the uploads prefix are logged and skipped; a record
that fails (the object is gone, access is denied) is logged with outcome "error"; one bad record never fails
the batch. Locally the same handler runs on the local cloud's S3 -> SQS -> runner path.
"""

from __future__ import annotations

import json
import os
import struct
import time
import urllib.parse
from datetime import datetime, timezone
from typing import Any, Callable

import boto3

TABLE_NAME = os.environ.get("TABLE_NAME", "")
UPLOAD_PREFIX = os.environ.get("UPLOAD_PREFIX", "uploads/")
MAX_OBJECT_BYTES = int(os.environ.get("MAX_OBJECT_BYTES", str(50 * 1024 * 1024)))
TTL_DAYS = int(os.environ.get("TTL_DAYS", "90"))
HEADER_BYTES = 64 * 1024  # one ranged read; enough for every header but a JPEG with large metadata blocks
# A JPEG's frame header follows its metadata (EXIF, XMP, ICC profiles: up to 64 KiB per segment, several of
# them): it is looked for with further ranged reads, at most this many and no further than this offset.
JPEG_EXTRA_READS = 8
JPEG_SCAN_LIMIT = 4 * 1024 * 1024

_s3 = None
_ddb = None

ReadAt = Callable[[int, int], bytes]  # (offset, length) -> up to length bytes of the object from offset


def _clients() -> tuple[Any, Any]:
    # Created on first use so that importing the module (tests, cold start) costs nothing.
    global _s3, _ddb
    if _s3 is None:
        _s3 = boto3.client("s3")
        _ddb = boto3.client("dynamodb")
    return _s3, _ddb


class _Window:
    """The object's bytes seen through the first read, with further ranged reads where a walk needs them."""

    def __init__(self, head: bytes, read_at: ReadAt | None, total: int | None) -> None:
        self.data = head
        self.base = 0
        self.read_at = read_at
        self.total = total
        self.reads_left = JPEG_EXTRA_READS

    def get(self, offset: int, length: int) -> bytes | None:
        """`length` bytes at `offset`, or None when they lie past the end, the scan limit or the read budget."""
        if self.base <= offset and offset + length <= self.base + len(self.data):
            return self.data[offset - self.base : offset + length - self.base]
        if self.total is not None and offset + length > self.total:
            return None
        if self.read_at is None or self.reads_left <= 0 or offset + length > JPEG_SCAN_LIMIT:
            return None
        self.reads_left -= 1
        chunk = self.read_at(offset, max(length, HEADER_BYTES))
        if len(chunk) < length:
            return None
        self.data, self.base = chunk, offset
        return chunk[:length]


def sniff_image(head: bytes, read_at: ReadAt | None = None, total: int | None = None) -> tuple[str, int, int] | None:
    """(format, width, height) of a JPEG, PNG, GIF or WebP from its first bytes; None when not one of them.

    `read_at` lets a JPEG whose metadata outgrows `head` be followed to its frame header; `total` is the
    object's size, so that no read goes past its end.
    """
    if head.startswith(b"\x89PNG\r\n\x1a\n") and len(head) >= 24 and head[12:16] == b"IHDR":
        width, height = struct.unpack(">II", head[16:24])
        return ("PNG", width, height) if width and height else None
    if head[:6] in (b"GIF87a", b"GIF89a") and len(head) >= 10:
        width, height = struct.unpack("<HH", head[6:10])
        return ("GIF", width, height) if width and height else None
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP" and len(head) >= 30:
        return _webp_size(head)
    if head[:3] == b"\xff\xd8\xff":
        return _jpeg_size(_Window(head, read_at, total))
    return None


def _webp_size(head: bytes) -> tuple[str, int, int] | None:
    chunk = head[12:16]
    if chunk == b"VP8 " and head[23:26] == b"\x9d\x01\x2a":  # lossy: key frame start code, 14-bit sizes
        width, height = struct.unpack("<HH", head[26:30])
        return "WEBP", width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and head[20] == 0x2F:  # lossless: signature, then 14 bits each of width-1, height-1
        bits = int.from_bytes(head[21:25], "little")
        return "WEBP", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":  # extended (alpha, animation, metadata): the canvas size, 24 bits each, minus one
        width = int.from_bytes(head[24:27], "little") + 1
        height = int.from_bytes(head[27:30], "little") + 1
        return "WEBP", width, height
    return None


# Start-of-frame markers (baseline, extended, progressive, lossless, hierarchical, arithmetic); C4, C8 and CC
# share the range but are DHT, JPG and DAC.
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg_size(window: _Window) -> tuple[str, int, int] | None:
    i = 2
    while True:
        marker_bytes = window.get(i, 2)
        if marker_bytes is None or marker_bytes[0] != 0xFF:
            return None
        marker = marker_bytes[1]
        if marker == 0xFF:  # fill byte before a marker
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            i += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, or scan data, before any frame header
            return None
        length_bytes = window.get(i + 2, 2)
        if length_bytes is None:
            return None
        (length,) = struct.unpack(">H", length_bytes)
        if length < 2:
            return None
        if marker in _SOF_MARKERS:
            frame = window.get(i + 4, 5)  # precision, height, width
            if frame is None or length < 7:
                return None
            height, width = struct.unpack(">HH", frame[1:5])
            # A height of 0 is deferred to a DNL marker after the first scan: not worth chasing here.
            return ("JPEG", width, height) if width and height else None
        i += 2 + length


def _log(**fields: Any) -> None:
    print(json.dumps(fields, default=str, separators=(",", ":")))


def handle_record(record: dict[str, Any], request_id: str) -> str:
    """Process one S3 record and log its line; returns its outcome (stored, skipped:<reason> or error)."""
    started = time.perf_counter()
    fields: dict[str, Any] = {"request_id": request_id, "bucket": None, "key": None, "size": None}
    outcome = "stored"
    level = "INFO"
    try:
        s3_part = record["s3"]
        bucket = s3_part["bucket"]["name"]
        # S3 sends the key URL-encoded, spaces as '+'.
        key = urllib.parse.unquote_plus(s3_part["object"]["key"])
        size = int(s3_part["object"].get("size", 0))
        fields.update(bucket=bucket, key=key, size=size)
        if not str(record.get("eventName", "")).startswith("ObjectCreated"):
            outcome = "skipped:not_object_created"
        elif not key.startswith(UPLOAD_PREFIX):
            outcome = "skipped:outside_prefix"
        elif size > MAX_OBJECT_BYTES:
            outcome = "skipped:too_large"
        elif size == 0:
            outcome = "skipped:empty"  # a ranged read of nothing is an error (416), and there is nothing to read
        else:
            outcome = _process(bucket, key, size, fields)
    except Exception as exc:  # one bad record must not fail the batch; it is logged with its error
        outcome = "error"
        level = "ERROR"
        fields["error"] = f"{type(exc).__name__}: {exc}"
    fields.update(level=level, outcome=outcome, duration_ms=round((time.perf_counter() - started) * 1000, 2))
    _log(**fields)
    return outcome


def _process(bucket: str, key: str, size: int, fields: dict[str, Any]) -> str:
    s3, ddb = _clients()
    head = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{HEADER_BYTES - 1}")
    total = _total_size(head.get("ContentRange", "")) or size

    def read_at(offset: int, length: int) -> bytes:
        last = min(offset + length, total) - 1
        return s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={offset}-{last}")["Body"].read()

    info = sniff_image(head["Body"].read(), read_at, total)
    if info is None:
        return "skipped:not_an_image"
    fmt, width, height = info
    fields.update(format=fmt, width=width, height=height)
    _store(ddb, bucket, key, size, fmt, width, height, head.get("Metadata", {}), head.get("ETag", ""))
    return "stored"


def _total_size(content_range: str) -> int | None:
    # "bytes 0-65535/1234567": the object's full size after the slash.
    _, _, total = content_range.rpartition("/")
    return int(total) if total.isdigit() else None


def _store(ddb: Any, bucket: str, key: str, size: int, fmt: str, width: int, height: int, metadata: dict, etag: str) -> None:
    now = datetime.now(timezone.utc)
    item: dict[str, Any] = {
        "pk": {"S": f"IMAGE#{key}"},
        "sk": {"S": "META"},
        "type": {"S": "image"},
        "bucket": {"S": bucket},
        "image_key": {"S": key},
        "image_bytes": {"N": str(size)},
        "image_format": {"S": fmt},
        "image_width": {"N": str(width)},
        "image_height": {"N": str(height)},
        "etag": {"S": etag.strip('"')},
        "created_at": {"S": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")},
    }
    if metadata.get("sha256"):
        item["image_sha256"] = {"S": metadata["sha256"]}
    if TTL_DAYS > 0:
        item["expires_at"] = {"N": str(int(now.timestamp()) + TTL_DAYS * 86400)}
    ddb.put_item(TableName=TABLE_NAME, Item=item)


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request_id = getattr(context, "aws_request_id", "local")
    outcomes: dict[str, int] = {}
    for record in event.get("Records", []):
        outcome = handle_record(record, request_id)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return {"records": sum(outcomes.values()), "outcomes": outcomes}
