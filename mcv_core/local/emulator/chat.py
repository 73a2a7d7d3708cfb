"""The OpenAI chat-completions wire format, shared by the Azure OpenAI and the OpenAI-compatible services."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from PIL import Image

from ... import models
from .wire import approx_tokens, decode_base64, describe_or_decline, open_image, truncate_to_tokens

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


def image_tokens(model: models.Model, request: ChatRequest) -> int:
    """The image's tokens by the model family's rule (detail counts only for the tile-counting families)."""
    if request.picture is None:
        return 0
    detail = request.detail if model.family.takes_detail else "auto"
    return model.family.image_tokens(request.picture.width, request.picture.height, detail) or 0


def completion(model: models.Model, answered_as: str, request: ChatRequest) -> dict[str, Any]:
    """A chat.completion object answered by the model's local stand-in, with the family's usage."""
    text, truncated = truncate_to_tokens(describe_or_decline(model, request.picture, request.prompt), request.max_tokens)
    prompt_tokens = approx_tokens(request.prompt) + image_tokens(model, request) + MESSAGE_OVERHEAD_TOKENS
    completion_tokens = approx_tokens(text)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": answered_as,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "length" if truncated else "stop"}
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }
