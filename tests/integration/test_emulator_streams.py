"""The local cloud's streams on the real wire, read by the real clients: boto3's `converse_stream` (the AWS event
stream) and the openai SDK's `stream=True` (server-sent chat.completion.chunk events), on the OpenAI-compatible
server and on an Azure deployment. A stream carries the same answer and usage as the unstreamed call, in
token-sized pieces paced at the family's emulated rate; faults act before the first event (throttling) or cut the
stream half-way; the emulator's log of send times (`/_mcv/streams`) agrees with what the client saw.
"""

from __future__ import annotations

import base64
import io
import time
from typing import Any, Iterator

import boto3
import openai
import pytest
import requests
import urllib3
from botocore.config import Config
from botocore.eventstream import ChecksumMismatch
from botocore.exceptions import ClientError
from PIL import Image
from skimage import data

from mcv_core import models
from mcv_core.local import control

pytestmark = pytest.mark.timeout(600)
PROMPT = "What is in this picture?"
CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
AZURE_DEPLOYMENT = "gpt-4o-mini"  # the local cloud's start-up deployment (MCV_AZURE_DEPLOYMENT's default)
API_VERSION = "2024-10-21"


@pytest.fixture(scope="module")
def conn(local_settings):  # noqa: ANN001, ANN201
    return control.running(local_settings)


@pytest.fixture(scope="module")
def photo() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(data.chelsea()).resize((448, 320)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def bedrock(conn):  # noqa: ANN001, ANN201
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=conn.emulator_url,
        region_name=conn.region,
        aws_access_key_id=conn.access_key_id,
        aws_secret_access_key=conn.secret_access_key,
        config=Config(retries={"total_max_attempts": 1}, read_timeout=120),
    )


@pytest.fixture(scope="module")
def chat_clients(conn) -> dict[str, Any]:  # noqa: ANN001
    return {
        "openai": openai.OpenAI(base_url=conn.openai_base_url, api_key=conn.azure_api_key, max_retries=0, timeout=120),
        "azure_openai": openai.AzureOpenAI(
            azure_endpoint=conn.azure_endpoint, api_key=conn.azure_api_key, api_version=API_VERSION, max_retries=0, timeout=120
        ),
    }


@pytest.fixture
def faults(conn) -> Iterator[Any]:  # noqa: ANN001
    control.emulator_admin(conn, "DELETE", "/_mcv/faults")

    def inject(service: str, **fault: Any) -> None:
        control.emulator_admin(conn, "POST", "/_mcv/faults", json={service: [fault]})

    yield inject
    control.emulator_admin(conn, "DELETE", "/_mcv/faults")


def record_since(conn, since_ns: int) -> dict[str, Any]:  # noqa: ANN001
    """The emulator's record of the one answer it began after `since_ns` (it adds it once its last byte is
    written, which may be just after the client has read it)."""
    deadline = time.monotonic() + 5
    while True:
        found = [r for r in control.emulator_admin(conn, "GET", "/_mcv/streams")["streams"] if r["received_ns"] >= since_ns]
        if found or time.monotonic() > deadline:
            assert len(found) == 1, found
            return found[0]
        time.sleep(0.005)


# --- Bedrock ConverseStream -------------------------------------------------------------------------------------


def messages(image: bytes) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"image": {"format": "jpeg", "source": {"bytes": image}}}, {"text": PROMPT}]}]


def read_events(stream: Any, arrivals: list[int], events: list[dict[str, Any]]) -> None:
    for event in stream:
        arrivals.append(time.monotonic_ns())
        events.append(event)


def test_converse_stream_sends_the_converse_answer_in_token_sized_pieces_with_its_usage(bedrock, photo, conn) -> None:  # noqa: ANN001
    whole = bedrock.converse(modelId=CLAUDE, messages=messages(photo), inferenceConfig={"maxTokens": 400})
    text = whole["output"]["message"]["content"][0]["text"]

    since = time.monotonic_ns()
    response = bedrock.converse_stream(modelId=CLAUDE, messages=messages(photo), inferenceConfig={"maxTokens": 400})
    assert response["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "application/vnd.amazon.eventstream"
    arrivals: list[int] = []
    events: list[dict[str, Any]] = []
    read_events(response["stream"], arrivals, events)
    kinds = [next(iter(event)) for event in events]
    deltas = [i for i, kind in enumerate(kinds) if kind == "contentBlockDelta"]
    assert kinds == ["messageStart"] + ["contentBlockDelta"] * len(deltas) + ["contentBlockStop", "messageStop", "metadata"]
    assert events[0] == {"messageStart": {"role": "assistant"}}
    pieces = [events[i]["contentBlockDelta"]["delta"]["text"] for i in deltas]
    assert len(pieces) >= 10 and "".join(pieces) == text
    assert {events[i]["contentBlockDelta"]["contentBlockIndex"] for i in deltas} == {0}
    metadata = events[-1]["metadata"]
    assert metadata["usage"] == whole["usage"] and len(pieces) == whole["usage"]["outputTokens"]
    assert events[-2] == {"messageStop": {"stopReason": whole["stopReason"]}}
    assert metadata["metrics"]["latencyMs"] > 0

    # Paced at Claude's emulated rate: the last piece cannot leave before (n - 1) / rate after the first.
    rate = models.resolve("bedrock", CLAUDE).family.emulated_tokens_per_s
    assert (arrivals[deltas[-1]] - arrivals[deltas[0]]) / 1e9 >= (len(pieces) - 1) / rate - 0.05
    # The emulator's own record (CLOCK_MONOTONIC is one clock for every process): the first text left before it
    # arrived here, after the request came in.
    record = record_since(conn, since)
    assert (record["service"], record["model"], record["streamed"], record["ended"]) == ("bedrock", CLAUDE, True, "complete")
    assert record["text_events"] == len(pieces) and record["tokens_per_s"] == rate
    assert record["received_ns"] < record["first_text_ns"] <= arrivals[deltas[0]]
    assert record["first_text_ns"] < record["end_ns"] <= arrivals[-1]


def test_a_cut_converse_stream_fails_in_the_client_after_some_of_the_text(bedrock, photo, conn, faults) -> None:  # noqa: ANN001
    whole = bedrock.converse(modelId=CLAUDE, messages=messages(photo))["output"]["message"]["content"][0]["text"]
    faults("bedrock", kind="cut", count=1)
    since = time.monotonic_ns()
    response = bedrock.converse_stream(modelId=CLAUDE, messages=messages(photo))
    events: list[dict[str, Any]] = []
    # What boto3 raises when a connection drops in the middle of an event stream: urllib3's ProtocolError.
    with pytest.raises(urllib3.exceptions.ProtocolError, match="Response ended prematurely"):
        read_events(response["stream"], [], events)
    received = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    assert received and whole.startswith(received) and len(received) < len(whole)
    assert not any("messageStop" in e or "metadata" in e for e in events)
    record = record_since(conn, since)
    assert (record["ended"], record["text_events"]) == ("cut", sum("contentBlockDelta" in e for e in events))


def test_a_throttled_converse_stream_is_the_sdks_throttling_error_before_any_event(bedrock, photo, faults) -> None:  # noqa: ANN001
    faults("bedrock", kind="throttle", count=1)
    with pytest.raises(ClientError) as info:
        bedrock.converse_stream(modelId=CLAUDE, messages=messages(photo))
    assert info.value.response["Error"]["Code"] == "ThrottlingException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429


def test_a_malformed_converse_stream_fails_botocores_checksum(bedrock, photo, faults) -> None:  # noqa: ANN001
    faults("bedrock", kind="malformed", count=1)
    response = bedrock.converse_stream(modelId=CLAUDE, messages=messages(photo))
    with pytest.raises(ChecksumMismatch):
        list(response["stream"])


# --- chat completions with stream=True, on the OpenAI-compatible server and on Azure --------------------------------


def chat_request(service: str, image: bytes) -> dict[str, Any]:
    url = "data:image/jpeg;base64," + base64.b64encode(image).decode()
    return {
        "model": AZURE_DEPLOYMENT if service == "azure_openai" else "gpt-4o-mini",
        "max_tokens": 400,
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": PROMPT}, {"type": "image_url", "image_url": {"url": url}}]}
        ],
    }


@pytest.mark.parametrize("service", ["openai", "azure_openai"])
def test_a_streamed_chat_completion_is_the_same_answer_in_chunks_with_the_usage_last(chat_clients, photo, conn, service) -> None:  # noqa: ANN001
    client = chat_clients[service]
    whole = client.chat.completions.create(**chat_request(service, photo))
    since = time.monotonic_ns()
    stream = client.chat.completions.create(**chat_request(service, photo), stream=True, stream_options={"include_usage": True})
    chunks, arrivals = [], []
    for chunk in stream:
        arrivals.append(time.monotonic_ns())
        chunks.append(chunk)
    with_choices = [c for c in chunks if c.choices]
    assert with_choices[0].choices[0].delta.role == "assistant"
    pieces = [c.choices[0].delta.content for c in with_choices if c.choices[0].delta.content]
    assert len(pieces) >= 10 and "".join(pieces) == whole.choices[0].message.content
    assert with_choices[-1].choices[0].finish_reason == whole.choices[0].finish_reason == "stop"
    assert {c.object for c in with_choices} == {"chat.completion.chunk"} and {c.model for c in with_choices} == {whole.model}
    usage = chunks[-1].usage
    assert chunks[-1].choices == [] and usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (
        whole.usage.prompt_tokens, whole.usage.completion_tokens, whole.usage.total_tokens,
    )  # fmt: skip
    assert len(pieces) == usage.completion_tokens
    if service == "azure_openai":  # Azure's first event: the prompt's content-filter results, no choices yet
        assert chunks[0].choices == [] and chunks[0].prompt_filter_results  # type: ignore[attr-defined]
    record = record_since(conn, since)
    assert (record["service"], record["streamed"], record["ended"], record["text_events"]) == (service, True, "complete", len(pieces))
    first_text = next(i for i, c in enumerate(chunks) if c.choices and c.choices[0].delta.content)
    assert record["received_ns"] < record["first_text_ns"] <= arrivals[first_text]
    rate = models.resolve(service, "gpt-4o-mini").family.emulated_tokens_per_s
    assert (arrivals[-1] - arrivals[first_text]) / 1e9 >= (len(pieces) - 1) / rate - 0.05


def test_without_include_usage_a_stream_has_no_usage_chunk(chat_clients, photo) -> None:  # noqa: ANN001
    chunks = list(chat_clients["openai"].chat.completions.create(**chat_request("openai", photo), stream=True))
    assert all(c.choices and c.usage is None for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


@pytest.mark.parametrize("service", ["openai", "azure_openai"])
def test_a_cut_chat_stream_fails_in_the_client_after_some_of_the_text(chat_clients, photo, conn, faults, service) -> None:  # noqa: ANN001
    client = chat_clients[service]
    whole = client.chat.completions.create(**chat_request(service, photo)).choices[0].message.content
    faults(service, kind="cut", count=1)
    since = time.monotonic_ns()
    received = []
    # The connection closes without the last chunk of the HTTP body: the SDK raises, no [DONE], no usage.
    with pytest.raises(openai.APIConnectionError):
        for chunk in client.chat.completions.create(**chat_request(service, photo), stream=True, stream_options={"include_usage": True}):
            assert chunk.usage is None and not (chunk.choices and chunk.choices[0].finish_reason)
            received.append(chunk.choices[0].delta.content or "" if chunk.choices else "")
    text = "".join(received)
    assert text and whole.startswith(text) and len(text) < len(whole)
    assert record_since(conn, since)["ended"] == "cut"


@pytest.mark.parametrize("service", ["openai", "azure_openai"])
def test_a_throttled_chat_stream_is_the_sdks_rate_limit_error(chat_clients, photo, faults, service) -> None:  # noqa: ANN001
    faults(service, kind="throttle", count=1)
    with pytest.raises(openai.RateLimitError):
        chat_clients[service].chat.completions.create(**chat_request(service, photo), stream=True)


def test_the_log_of_send_times_is_an_admin_route(conn) -> None:  # noqa: ANN001
    assert requests.get(f"{conn.emulator_url}/_mcv/streams", timeout=10).status_code == 401
    log = control.emulator_admin(conn, "GET", "/_mcv/streams")
    assert log["kept"] >= 100 and isinstance(log["streams"], list)
