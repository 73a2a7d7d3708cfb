"""The local cloud's stream encodings, read back by the SDKs' own parsers: the AWS event stream (botocore's
EventStreamBuffer and its ConverseStream event parser) and chat-completion server-sent events (the openai SDK's
SSE decoder and its ChatCompletionChunk type)."""

from __future__ import annotations

import json
import random
import struct
import zlib

import boto3
import pytest
from botocore.eventstream import ChecksumMismatch, EventStream, EventStreamBuffer
from botocore.parsers import EventStreamJSONParser
from openai._streaming import SSEDecoder
from openai.types.chat import ChatCompletionChunk

from mcv_core.local.emulator import eventstream
from mcv_core.local.emulator.chat import DONE, ChatAnswer, Chunks, sse


def parse(data: bytes, pieces: list[int] | None = None) -> list:
    """botocore's messages from the bytes, fed to its buffer in pieces of these sizes (all at once by default)."""
    buffer = EventStreamBuffer()
    messages, position = [], 0
    for size in pieces or [len(data)]:
        buffer.add_data(data[position : position + size])
        position += size
        messages.extend(buffer)
    assert position >= len(data)
    return messages


# --- the framing ---------------------------------------------------------------------------------------------


def test_a_message_reads_back_with_its_headers_payload_and_both_crcs() -> None:
    data = eventstream.encode_message({":event-type": "contentBlockDelta", "x-custom": "é ✓"}, b'{"a":1}')
    (message,) = parse(data)
    assert message.headers == {":event-type": "contentBlockDelta", "x-custom": "é ✓"}
    assert message.payload == b'{"a":1}'
    # The prelude's lengths and CRC, and the message CRC over everything before it, as the spec lays them out.
    total, headers_length, prelude_crc = struct.unpack(">III", data[:12])
    assert total == len(data) and headers_length == len(data) - 12 - len(b'{"a":1}') - 4
    assert prelude_crc == zlib.crc32(data[:8]) == message.prelude.crc
    assert struct.unpack(">I", data[-4:])[0] == zlib.crc32(data[:-4]) == message.crc


def test_an_event_carries_the_three_headers_aws_services_send() -> None:
    (message,) = parse(eventstream.event("messageStop", {"stopReason": "end_turn"}))
    assert message.headers == {":event-type": "messageStop", ":content-type": "application/json", ":message-type": "event"}
    assert json.loads(message.payload) == {"stopReason": "end_turn"}
    assert message.to_response_dict()["status_code"] == 200


def test_an_empty_payload_and_no_headers_is_the_16_byte_minimum() -> None:
    data = eventstream.encode_message({}, b"")
    assert len(data) == 16
    (message,) = parse(data)
    assert (message.headers, message.payload) == ({}, b"")


def test_many_messages_split_at_arbitrary_boundaries_read_back_whole_and_in_order() -> None:
    rng = random.Random(13)
    payloads = [json.dumps({"delta": {"text": "x" * rng.randrange(0, 300)}, "n": i}).encode() for i in range(40)]
    data = b"".join(eventstream.encode_message({":event-type": f"e{i}"}, p) for i, p in enumerate(payloads))
    for _ in range(20):
        sizes, left = [], len(data)
        while left:
            sizes.append(min(left, rng.choice([1, 2, 3, 7, 12, 13, 64, 500, 4096])))
            left -= sizes[-1]
        messages = parse(data, sizes)
        assert [m.payload for m in messages] == payloads
        assert [m.headers[":event-type"] for m in messages] == [f"e{i}" for i in range(40)]


def test_every_split_point_of_two_messages_reads_back() -> None:
    start = eventstream.event("messageStart", {"role": "assistant"})
    data = start + eventstream.event("contentBlockStop", {"contentBlockIndex": 0})
    for cut in range(1, len(data)):
        messages = parse(data, [cut, len(data) - cut])
        assert [m.headers[":event-type"] for m in messages] == ["messageStart", "contentBlockStop"]


def test_a_corrupted_message_fails_botocores_check() -> None:
    with pytest.raises(ChecksumMismatch):
        parse(eventstream.corrupt(eventstream.event("messageStart", {"role": "assistant"})))


@pytest.mark.parametrize(("name", "value"), [("", "v"), ("n" * 256, "v"), ("h", "v" * 32768)])
def test_headers_beyond_the_format_s_limits_are_refused(name: str, value: str) -> None:
    with pytest.raises(ValueError):
        eventstream.encode_message({name: value}, b"")


# --- Bedrock's ConverseStream events, through botocore's own event parser ---------------------------------------


class _Raw:
    """The response body botocore's EventStream reads: chunks as they would come off the connection."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    def stream(self):  # noqa: ANN201
        yield from self.chunks

    def close(self) -> None:
        pass


def test_converse_stream_events_parse_as_boto3_gives_them() -> None:
    client = boto3.client("bedrock-runtime", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    shape = client.meta.service_model.operation_model("ConverseStream").output_shape.members["stream"]
    usage = {"inputTokens": 196, "outputTokens": 3, "totalTokens": 199}
    events = [
        eventstream.event("messageStart", {"role": "assistant"}),
        *(eventstream.event("contentBlockDelta", {"delta": {"text": t}, "contentBlockIndex": 0}) for t in ["A", " tab", "by"]),
        eventstream.event("contentBlockStop", {"contentBlockIndex": 0}),
        eventstream.event("messageStop", {"stopReason": "end_turn"}),
        eventstream.event("metadata", {"usage": usage, "metrics": {"latencyMs": 812}}),
    ]
    data = b"".join(events)
    chunks = [data[i : i + 37] for i in range(0, len(data), 37)]  # boundaries inside messages
    parsed = list(EventStream(_Raw(chunks), shape, EventStreamJSONParser(), "ConverseStream"))
    assert parsed == [
        {"messageStart": {"role": "assistant"}},
        {"contentBlockDelta": {"delta": {"text": "A"}, "contentBlockIndex": 0}},
        {"contentBlockDelta": {"delta": {"text": " tab"}, "contentBlockIndex": 0}},
        {"contentBlockDelta": {"delta": {"text": "by"}, "contentBlockIndex": 0}},
        {"contentBlockStop": {"contentBlockIndex": 0}},
        {"messageStop": {"stopReason": "end_turn"}},
        {"metadata": {"usage": usage, "metrics": {"latencyMs": 812}}},
    ]


# --- chat completions as server-sent events, through the openai SDK's decoder -------------------------------------

ANSWER = ChatAnswer("chatcmpl-abc", 1_700_000_000, "gpt-4o-mini-2024-07-18", "A tabby cat.", "stop", 8510, 4)


def stream_bytes(include_usage: bool) -> bytes:
    chunks = Chunks(ANSWER, include_usage)
    return b"".join([chunks.role(), *(chunks.content(p) for p in ("A", " tab", "by", " cat", ".")), *chunks.end()])


def decode(data: bytes, size: int) -> list:
    return list(SSEDecoder().iter_bytes(iter([data[i : i + size] for i in range(0, len(data), size)])))


@pytest.mark.parametrize("size", [1, 5, 64, 100_000])
def test_sse_chunks_decode_into_openai_chunk_objects_with_the_usage_last(size: int) -> None:
    events = decode(stream_bytes(include_usage=True), size)
    assert events[-1].data == "[DONE]"
    chunks = [ChatCompletionChunk.model_validate(e.json()) for e in events[:-1]]
    assert {c.object for c in chunks} == {"chat.completion.chunk"} and {c.id for c in chunks} == {"chatcmpl-abc"}
    assert chunks[0].choices[0].delta.role == "assistant" and chunks[0].choices[0].delta.content == ""
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "A tabby cat."
    assert [c.choices[0].finish_reason for c in chunks if c.choices] == [None] * 6 + ["stop"]
    assert all(c.usage is None for c in chunks[:-1])
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens, last.usage.total_tokens) == (8510, 4, 8514)


def test_without_include_usage_there_is_no_usage_chunk_nor_usage_key() -> None:
    events = decode(stream_bytes(include_usage=False), 7)
    assert events[-1].data == "[DONE]"
    payloads = [e.json() for e in events[:-1]]
    assert all(p["choices"] for p in payloads) and all("usage" not in p for p in payloads)
    assert payloads[-1]["choices"][0]["finish_reason"] == "stop"


def test_an_sse_event_is_one_data_line_and_a_blank_line() -> None:
    assert sse({"a": "b\nc"}) == b'data: {"a":"b\\nc"}\n\n'
    assert DONE == b"data: [DONE]\n\n"
