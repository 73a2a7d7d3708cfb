"""The OpenAI chat-completions wire format, shared by the Azure OpenAI and the OpenAI-compatible services: the
answer whole (chat.completion) or, with `"stream": true`, as server-sent chat.completion.chunk events."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, NamedTuple, Sequence

from PIL import Image

from ... import models
from .streaming import TextAnswer
from .wire import Handler, approx_tokens, decode_base64, describe_or_decline, open_image, truncate_to_tokens

MAX_IMAGE_BYTES = 20 * 1024 * 1024  # platform.openai.com/docs/guides/images-vision: up to 20 MB per image
# Tokens the chat format adds: 3 per message and 3 to prime the reply (OpenAI cookbook, "How to count tokens
# with tiktoken", num_tokens_from_messages).
MESSAGE_OVERHEAD_TOKENS = 6


class ChatRequest:
    """What the local stand-in needs from a chat-completions request: its last message's text and first image."""

    def __init__(self, body: bytes) -> None:
        request = json.loads(body)
        self.model: str = str(request.get("model") or "")
        content = request["messages"][-1]["content"]
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        self.prompt = " ".join(part["text"] for part in content if part.get("type") == "text").strip()
        image_parts = [part["image_url"] for part in content if part.get("type") == "image_url"]
        self.picture: Image.Image | None = None
        self.detail = "auto"
        if image_parts:
            url = image_parts[0]["url"]
            self.detail = image_parts[0].get("detail", "auto")
            header, _, data = url.partition(",")
            if not header.startswith("data:image/") or ";base64" not in header:
                raise ValueError("image_url must be a base64 data URL here (the local cloud does not fetch URLs)")
            self.picture = open_image(decode_base64(data), MAX_IMAGE_BYTES)
        self.max_tokens = int(request.get("max_tokens") or request.get("max_completion_tokens") or 4096)
        self.stream = bool(request.get("stream"))
        options = request.get("stream_options")
        if options is not None and not self.stream:
            raise ValueError("The 'stream_options' parameter is only allowed when 'stream' is enabled.")
        self.include_usage = bool((options or {}).get("include_usage"))


def image_tokens(model: models.Model, request: ChatRequest) -> int:
    """The image's tokens by the model family's rule (detail counts only for the tile-counting families)."""
    if request.picture is None:
        return 0
    detail = request.detail if model.family.takes_detail else "auto"
    return model.family.image_tokens(request.picture.width, request.picture.height, detail) or 0


class ChatAnswer(NamedTuple):
    """A chat request answered by the model's stand-in, before anything is sent."""

    id: str
    created: int
    model: str  # as the service names it in its answer
    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int

    def usage(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }


def answer(model: models.Model, answered_as: str, request: ChatRequest) -> ChatAnswer:
    """The model's local stand-in's answer (its real compute), with the family's usage."""
    text, truncated = truncate_to_tokens(describe_or_decline(model, request.picture, request.prompt), request.max_tokens)
    return ChatAnswer(
        f"chatcmpl-{uuid.uuid4().hex[:24]}",
        int(time.time()),
        answered_as,
        text,
        "length" if truncated else "stop",
        approx_tokens(request.prompt) + image_tokens(model, request) + MESSAGE_OVERHEAD_TOKENS,
        approx_tokens(text),
    )


def completion(a: ChatAnswer) -> dict[str, Any]:
    """The chat.completion object of an answer."""
    return {
        "id": a.id,
        "object": "chat.completion",
        "created": a.created,
        "model": a.model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": a.text}, "finish_reason": a.finish_reason}],
        "usage": a.usage(),
    }


def sse(data: Any) -> bytes:
    """One server-sent event carrying `data` as compact JSON (or as is when it is already bytes)."""
    raw = data if isinstance(data, bytes) else json.dumps(data, separators=(",", ":")).encode("utf-8")
    return b"data: " + raw + b"\n\n"


DONE = b"data: [DONE]\n\n"


class Chunks:
    """The chat.completion.chunk objects of a streamed answer, as OpenAI sends them
    (platform.openai.com/docs/api-reference/chat-streaming): a first chunk with the role, one per piece of
    text, one with the finish reason; with `stream_options.include_usage`, every chunk has `"usage": null` and
    a last one has no choices and the usage."""

    def __init__(self, a: ChatAnswer, include_usage: bool) -> None:
        self.a, self.include_usage = a, include_usage

    def chunk(self, choices: list[dict[str, Any]], usage: dict[str, int] | None = None) -> bytes:
        data: dict[str, Any] = {
            "id": self.a.id,
            "object": "chat.completion.chunk",
            "created": self.a.created,
            "model": self.a.model,
            "choices": choices,
        }
        if self.include_usage:
            data["usage"] = usage
        return sse(data)

    def choice(self, delta: dict[str, Any], finish_reason: str | None = None) -> list[dict[str, Any]]:
        return [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]

    def role(self) -> bytes:
        return self.chunk(self.choice({"role": "assistant", "content": "", "refusal": None}))

    def content(self, piece: str) -> bytes:
        return self.chunk(self.choice({"content": piece}))

    def end(self) -> list[bytes]:
        events = [self.chunk(self.choice({}, self.a.finish_reason))]
        if self.include_usage:
            events.append(self.chunk([], self.a.usage()))
        return [*events, DONE]


def respond(
    h: Handler, service: str, model: models.Model, request: ChatRequest, a: ChatAnswer, fault: str | None,
    malformed: bytes, head: Sequence[bytes] = (),
) -> None:  # fmt: skip
    """Send the answer: a chat.completion, or with `"stream": true` server-sent chunks ending in `data: [DONE]`
    (`head`: events a service sends before the first chunk, e.g. Azure's prompt filter results)."""
    out = TextAnswer(h, service, model, a.text, streamed=request.stream, fault=fault)
    if not request.stream:
        out.send_whole(lambda: json.dumps(completion(a)).encode(), malformed)
        return
    chunks = Chunks(a, request.include_usage)
    out.send_events(
        "text/event-stream; charset=utf-8",
        head=[*head, chunks.role()],
        delta=chunks.content,
        tail=chunks.end,
        malformed=sse(malformed),
    )
