"""Bedrock runtime: `POST /model/{modelId}/converse` and `/converse-stream`, for every model Bedrock serves.

Model ids are resolved as Bedrock resolves them (foundation-model ids, cross-region inference profiles such as
`us.anthropic...`, and their ARNs, through models.resolve); each known model answers through its own local
stand-in, and its usage follows its family's image-token rule. Any other id gets Bedrock's ValidationException.
ConverseStream sends the same answer as AWS event-stream messages (eventstream.py), paced as streaming.py says;
its errors before the first event are ordinary HTTP errors, as Converse's.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any, NamedTuple
from urllib.parse import unquote

from ... import models
from . import eventstream
from .streaming import TextAnswer
from .wire import (
    BAD_INPUT, FaultAnswers, Handler, Route, apply_fault, approx_tokens, aws_error, decode_base64,
    describe_or_decline, open_image, truncate_to_tokens,
)  # fmt: skip

SERVICE = "bedrock"
# Converse's limit for an image block's bytes (docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ImageBlock.html).
MAX_IMAGE_BYTES = 3_932_160
FAULTS = FaultAnswers(
    throttle=lambda: aws_error(429, "ThrottlingException", "Too many requests, please wait before trying again."),
    error=lambda status: aws_error(
        status,
        "ServiceUnavailableException" if status == 503 else "InternalServerException",
        "Bedrock is unable to process your request." if status == 503 else "The server encountered an internal error.",
    ),
    auth=lambda: aws_error(403, "AccessDeniedException", "You don't have access to the model with the specified model ID."),
    malformed=b'{"output": {"message": ',
)


def served_model(model_id: str) -> models.Model | None:
    """The known model a Bedrock model id (or inference profile, or ARN) names, if the local cloud serves it."""
    model = models.resolve(SERVICE, model_id)
    return model if model is not None and model in models.served(SERVICE) else None


def parse_request(body: bytes) -> tuple[str, Any, int]:
    """(prompt, the first image block or None, maxTokens) of a Converse request's last message."""
    request = json.loads(body)
    content = request["messages"][-1]["content"]
    prompt = " ".join(block["text"] for block in content if "text" in block).strip()
    blocks = [block["image"] for block in content if "image" in block]
    max_tokens = int(request.get("inferenceConfig", {}).get("maxTokens", 4096))
    return prompt, (blocks[0] if blocks else None), max_tokens


class Answer(NamedTuple):
    """A Converse request answered by the model's stand-in, before anything is sent."""

    model: models.Model
    text: str
    stop_reason: str
    input_tokens: int
    output_tokens: int
    fault: str | None  # what is left to do to the answer: "malformed", "cut" or None
    started: float  # time.perf_counter() once the request was authorised and its faults applied

    def usage(self) -> dict[str, int]:
        total = self.input_tokens + self.output_tokens
        return {"inputTokens": self.input_tokens, "outputTokens": self.output_tokens, "totalTokens": total}

    def metrics(self) -> dict[str, int]:
        return {"latencyMs": int((time.perf_counter() - self.started) * 1000)}


def answer(h: Handler, match: re.Match[str], body: bytes) -> Answer:
    """Authorise, apply the faults that come before an answer, and have the stand-in answer (its real compute)."""
    h.aws_authorise(body, "bedrock")
    h.emu.count(SERVICE)
    fault = apply_fault(h.emu.faults, SERVICE, FAULTS)
    started = time.perf_counter()
    model = served_model(unquote(match.group(1)))
    if model is None:
        raise aws_error(400, "ValidationException", "The provided model identifier is invalid.")
    text, stop_reason, input_tokens, output_tokens = respond(model, body)
    return Answer(model, text, stop_reason, input_tokens, output_tokens, fault, started)


def respond(model: models.Model, body: bytes) -> tuple[str, str, int, int]:
    """The stand-in's answer to a Converse body: (text, stopReason, input tokens, output tokens). Online calls
    and batch records (batch_control.py) both answer through it; a bad body is Bedrock's ValidationException."""
    try:
        prompt, block, max_tokens = parse_request(body)
        picture = open_image(decode_base64(block["source"]["bytes"]), MAX_IMAGE_BYTES) if block else None
    except BAD_INPUT as exc:
        raise aws_error(400, "ValidationException", f"Malformed input request: {exc}") from exc
    text, truncated = truncate_to_tokens(describe_or_decline(model, picture, prompt), max_tokens)
    # The family's own accounting, on the image as received (Claude: w*h/750 after its own downscale).
    image_tokens = (model.family.image_tokens(picture.width, picture.height) or 0) if picture else 0
    stop_reason = "max_tokens" if truncated else "end_turn"
    return text, stop_reason, approx_tokens(prompt) + image_tokens, approx_tokens(text)


def converse(h: Handler, match: re.Match[str], query: dict[str, list[str]], body: bytes) -> None:
    a = answer(h, match, body)

    def whole() -> bytes:
        return json.dumps(
            {
                "output": {"message": {"role": "assistant", "content": [{"text": a.text}]}},
                "stopReason": a.stop_reason,
                "usage": a.usage(),
                "metrics": a.metrics(),
            }
        ).encode()

    TextAnswer(h, SERVICE, a.model, a.text, streamed=False, fault=a.fault).send_whole(whole, FAULTS.malformed)


def converse_stream(h: Handler, match: re.Match[str], query: dict[str, list[str]], body: bytes) -> None:
    """ConverseStream: the same answer as the events messageStart, contentBlockDelta per piece of text,
    contentBlockStop, messageStop and metadata (docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ConverseStream.html)."""
    a = answer(h, match, body)
    TextAnswer(h, SERVICE, a.model, a.text, streamed=True, fault=a.fault).send_events(
        eventstream.CONTENT_TYPE,
        head=[eventstream.event("messageStart", {"role": "assistant"})],
        delta=lambda piece: eventstream.event("contentBlockDelta", {"delta": {"text": piece}, "contentBlockIndex": 0}),
        tail=lambda: [
            eventstream.event("contentBlockStop", {"contentBlockIndex": 0}),
            eventstream.event("messageStop", {"stopReason": a.stop_reason}),
            eventstream.event("metadata", {"usage": a.usage(), "metrics": a.metrics()}),
        ],
        malformed=eventstream.corrupt(eventstream.event("messageStart", {"role": "assistant"})),
    )


def status() -> dict[str, Any]:
    served = models.served(SERVICE)
    return {"models": len(served), "model_ids": [m.key for m in served]}


ROUTES = (
    Route("POST", re.compile(r"/model/([^/]+)/converse"), converse),
    Route("POST", re.compile(r"/model/([^/]+)/converse-stream"), converse_stream),
)
