"""The AWS event stream's binary framing (`application/vnd.amazon.eventstream`), as Bedrock's ConverseStream sends it.

Published by AWS as "Event stream encoding" (docs.aws.amazon.com/transcribe/latest/dg/event-stream.html; the same
text for Lex V2: docs.aws.amazon.com/lexv2/latest/dg/event-stream-encoding.html). Each message is

    prelude   total length (uint32), headers length (uint32), CRC-32 of those 8 bytes (uint32)
    headers   per header: name length (uint8), name (UTF-8), value type (uint8; 7 = string),
              value length (uint16), value (UTF-8)
    payload   the event's bytes (here JSON)
    CRC-32    of everything before it (prelude, its CRC, headers and payload)

all integers big-endian; CRC-32 is the IEEE polynomial (zlib's). A message is at most 16 MB, its headers at most
128 KB. Only string headers are written: an event's `:event-type`, `:content-type` and `:message-type`.
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any, Mapping

CONTENT_TYPE = "application/vnd.amazon.eventstream"
PRELUDE_BYTES = 12  # two lengths and the prelude's CRC
MESSAGE_CRC_BYTES = 4
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
MAX_HEADERS_BYTES = 128 * 1024
STRING = 7  # the header value type of a UTF-8 string


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode("utf-8"), value.encode("utf-8")
    if not 0 < len(raw_name) <= 255:
        raise ValueError(f"a header name is 1 to 255 bytes, not {len(raw_name)} ({name!r})")
    if len(raw_value) > 32767:
        raise ValueError(f"a string header's value is at most 32767 bytes, not {len(raw_value)} ({name!r})")
    return struct.pack(">B", len(raw_name)) + raw_name + struct.pack(">BH", STRING, len(raw_value)) + raw_value


def encode_message(headers: Mapping[str, str], payload: bytes) -> bytes:
    """One event-stream message with these string headers and this payload."""
    encoded_headers = b"".join(_header(name, value) for name, value in headers.items())
    if len(encoded_headers) > MAX_HEADERS_BYTES:
        raise ValueError(f"headers of {len(encoded_headers)} bytes exceed {MAX_HEADERS_BYTES}")
    total = PRELUDE_BYTES + len(encoded_headers) + len(payload) + MESSAGE_CRC_BYTES
    if total > MAX_MESSAGE_BYTES:
        raise ValueError(f"a message of {total} bytes exceeds {MAX_MESSAGE_BYTES}")
    lengths = struct.pack(">II", total, len(encoded_headers))
    prelude = lengths + struct.pack(">I", zlib.crc32(lengths))
    body = prelude + encoded_headers + payload
    return body + struct.pack(">I", zlib.crc32(body))


def event(event_type: str, payload: Mapping[str, Any]) -> bytes:
    """An event message, as AWS services send a stream's events: JSON payload, three headers."""
    headers = {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}
    return encode_message(headers, json.dumps(payload, separators=(",", ":")).encode("utf-8"))


def corrupt(message: bytes) -> bytes:
    """The message with its last CRC wrong: what a damaged stream carries (the malformed fault)."""
    return message[:-MESSAGE_CRC_BYTES] + struct.pack(">I", zlib.crc32(message[:-MESSAGE_CRC_BYTES]) ^ 0xFFFFFFFF)
