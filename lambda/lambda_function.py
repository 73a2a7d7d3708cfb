"""S3 upload event handler (AWS Lambda, Python 3.12, standard library and boto3 only).

For each s3:ObjectCreated record: read the object's metadata and first bytes, work out the image's format and
dimensions from its header, store that as an item in the results table, and log one JSON line. Objects that
are not images, are too large, or are not under the uploads prefix are logged and skipped; one bad record never
fails the batch. Locally the same handler runs on the local cloud's S3 -> SQS -> runner path.
"""

from __future__ import annotations

import json
import os
import struct
import time
import urllib.parse
from datetime import datetime, timezone
from typing import Any

import boto3

TABLE_NAME = os.environ.get("TABLE_NAME", "")
UPLOAD_PREFIX = os.environ.get("UPLOAD_PREFIX", "uploads/")
MAX_OBJECT_BYTES = int(os.environ.get("MAX_OBJECT_BYTES", str(50 * 1024 * 1024)))
TTL_DAYS = int(os.environ.get("TTL_DAYS", "90"))
HEADER_BYTES = 64 * 1024

_s3 = None
_ddb = None


def _clients() -> tuple[Any, Any]:
    # Created on first use so that importing the module (tests, cold start) costs nothing.
    global _s3, _ddb
    if _s3 is None:
        _s3 = boto3.client("s3")
        _ddb = boto3.client("dynamodb")
    return _s3, _ddb


def sniff_image(head: bytes) -> tuple[str, int, int] | None:
    """(format, width, height) from the first bytes of a JPEG, PNG, GIF or WebP; None when not one of them."""
    if head.startswith(b"\x89PNG\r\n\x1a\n") and len(head) >= 24 and head[12:16] == b"IHDR":
        width, height = struct.unpack(">II", head[16:24])
        return "PNG", width, height
    if head[:6] in (b"GIF87a", b"GIF89a") and len(head) >= 10:
        width, height = struct.unpack("<HH", head[6:10])
        return "GIF", width, height
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP" and len(head) >= 30:
        chunk = head[12:16]
        if chunk == b"VP8 " and head[23:26] == b"\x9d\x01\x2a":
            width, height = struct.unpack("<HH", head[26:30])
            return "WEBP", width & 0x3FFF, height & 0x3FFF
        if chunk == b"VP8L" and head[20] == 0x2F:
            bits = int.from_bytes(head[21:25], "little")
            return "WEBP", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        if chunk == b"VP8X":
            width = int.from_bytes(head[24:27], "little") + 1
            height = int.from_bytes(head[27:30], "little") + 1
            return "WEBP", width, height
        return None
    if head[:3] == b"\xff\xd8\xff":
        return _jpeg_size(head)
    return None


def _jpeg_size(head: bytes) -> tuple[str, int, int] | None:
    i = 2
    while i + 9 < len(head):
        if head[i] != 0xFF:
            return None
        marker = head[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            i += 2
            continue
        (length,) = struct.unpack(">H", head[i + 2 : i + 4])
        # Start-of-frame markers (baseline, progressive, ...) carry the dimensions; DHT/JPG/DAC are not frames.
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", head[i + 5 : i + 9])
            return "JPEG", width, height
        i += 2 + length
    return None


def _log(**fields: Any) -> None:
    print(json.dumps(fields, default=str, separators=(",", ":")))


def handle_record(record: dict[str, Any], request_id: str) -> str:
    """Process one S3 record; returns its outcome (stored or skipped:<reason>)."""
    started = time.perf_counter()
    bucket = record["s3"]["bucket"]["name"]
    key = urllib.parse.unquote_plus(record["s3"]["object"]["key"])
    size = int(record["s3"]["object"].get("size", 0))
    fields: dict[str, Any] = {"request_id": request_id, "bucket": bucket, "key": key, "size": size}
    outcome = "stored"
    level = "INFO"
    try:
        if not key.startswith(UPLOAD_PREFIX):
            outcome = "skipped:outside_prefix"
        elif size > MAX_OBJECT_BYTES:
            outcome = "skipped:too_large"
        else:
            s3, ddb = _clients()
            head = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{HEADER_BYTES - 1}")
            info = sniff_image(head["Body"].read())
            if info is None:
                outcome = "skipped:not_an_image"
            else:
                fmt, width, height = info
                fields.update(format=fmt, width=width, height=height)
                _store(ddb, bucket, key, size, fmt, width, height, head.get("Metadata", {}), head.get("ETag", ""))
    except Exception as exc:  # one bad record must not fail the batch; it is logged with its error
        outcome = "error"
        level = "ERROR"
        fields["error"] = f"{type(exc).__name__}: {exc}"
    fields.update(level=level, outcome=outcome, duration_ms=round((time.perf_counter() - started) * 1000, 2))
    _log(**fields)
    return outcome


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
        if not str(record.get("eventName", "")).startswith("ObjectCreated"):
            _log(level="INFO", request_id=request_id, outcome="skipped:not_object_created", event=record.get("eventName"))
            continue
        outcome = handle_record(record, request_id)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return {"records": sum(outcomes.values()), "outcomes": outcomes}
