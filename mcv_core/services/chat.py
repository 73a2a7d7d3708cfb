"""The chat-completions wire format with one image, shared by Azure OpenAI and OpenAI-compatible servers (OpenAI,
Ollama, vLLM, LM Studio): pure request and response conversion, and the call through an openai client."""

from __future__ import annotations

import base64
from typing import Any

import openai

from ..errors import MalformedResponseError
from ..images import PreparedImage
from ..records import Reply
from . import errors


def build_request(model: str, image: PreparedImage, prompt: str, max_tokens: int, detail: str | None, temperature: float = 0.0) -> dict[str, Any]:
    """chat.completions.create() arguments; `model` is the deployment name on Azure, the model name elsewhere."""
    data_url = f"data:{image.media_type};base64,{base64.b64encode(image.data).decode('ascii')}"
    image_url: dict[str, Any] = {"url": data_url}
    if detail:
        image_url["detail"] = detail
    return {
        "model": model,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": prompt},
                    {"type": "image_url", "image_url": image_url},
                ],
            }
        ],
        "max_tokens": max_tokens,
        "temperature": temperature,
    }


def parse_response(completion: Any, model: str, image_tokens: int | None, attempts: int = 1, service: str = "the service") -> Reply:
    """A ChatCompletion (object or dict) -> Reply."""
    data = completion.model_dump() if hasattr(completion, "model_dump") else completion
    try:
        text = (data["choices"][0]["message"]["content"] or "").strip()
        usage = data["usage"]
        input_tokens = int(usage["prompt_tokens"])
        output_tokens = int(usage["completion_tokens"])
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise MalformedResponseError(f"{service} returned an unexpected response: {str(data)[:200]}") from exc
    return Reply(
        output=text,
        model=str(data.get("model") or model),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        # Part of prompt_tokens; the model family's published rule for the size sent.
        image_tokens=image_tokens,
        attempts=attempts,
    )


def complete(client: Any, request: dict[str, Any], *, service: str, auth_hint: str, not_found_hint: str) -> tuple[Any, int]:
    """Send the request; (completion, attempts). SDK errors become ProviderError subclasses."""
    try:
        raw = client.chat.completions.with_raw_response.create(**request)
        return raw.parse(), raw.retries_taken + 1
    except openai.OpenAIError as exc:
        raise errors.from_openai(exc, auth_hint=auth_hint, not_found_hint=not_found_hint) from exc
    except ValueError as exc:  # a 200 whose body is not JSON: the SDK's json() raises before it can validate
        raise MalformedResponseError(f"{service} returned a body that is not JSON: {exc}") from exc
