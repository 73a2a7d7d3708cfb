"""Azure OpenAI chat completions with a base64 data-URL image (a gpt-4o-mini deployment by default)."""

from __future__ import annotations

import base64
from typing import Any

import openai

from .. import pricing
from ..errors import MalformedResponseError
from ..images import ImageSpec, PreparedImage, gpt4o_mini_spec, gpt4o_mini_image_tokens
from . import errors
from .base import Provider, Reply
from .registry import register


def build_request(deployment: str, image: PreparedImage, prompt: str, max_tokens: int, detail: str) -> dict[str, Any]:
    """chat.completions.create() arguments; `model` is the deployment name on Azure."""
    data_url = f"data:{image.media_type};base64,{base64.b64encode(image.data).decode('ascii')}"
    return {
        "model": deployment,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": prompt},
                    {"type": "image_url", "image_url": {"url": data_url, "detail": detail}},
                ],
            }
        ],
        "max_tokens": max_tokens,
        "temperature": 0,
    }


def parse_response(completion: Any, deployment: str, image: PreparedImage, detail: str, attempts: int = 1) -> Reply:
    """A ChatCompletion (object or dict) -> Reply."""
    data = completion.model_dump() if hasattr(completion, "model_dump") else completion
    try:
        text = (data["choices"][0]["message"]["content"] or "").strip()
        usage = data["usage"]
        input_tokens = int(usage["prompt_tokens"])
        output_tokens = int(usage["completion_tokens"])
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise MalformedResponseError(f"Azure OpenAI returned an unexpected response: {str(data)[:200]}") from exc
    return Reply(
        output=text,
        model=str(data.get("model") or deployment),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        # Part of prompt_tokens; OpenAI's published tiling rule for the size sent.
        image_tokens=gpt4o_mini_image_tokens(image.width, image.height, detail),
        attempts=attempts,
    )


@register
class AzureOpenAIProvider(Provider):
    name = "azure_openai"
    title = "Azure OpenAI"
    cloud = "azure"

    @property
    def model_id(self) -> str:
        return self.settings.azure_deployment

    @property
    def image_spec(self) -> ImageSpec:
        return gpt4o_mini_spec(self.settings.azure_image_detail)

    def call(self, image: PreparedImage, prompt: str) -> Reply:
        client = self.clients.azure_openai(timeout=self.timeout_s)
        detail = self.settings.azure_image_detail
        request = build_request(self.model_id, image, prompt, self.settings.max_output_tokens, detail)
        try:
            raw = client.chat.completions.with_raw_response.create(**request)
            completion = raw.parse()
        except openai.OpenAIError as exc:
            raise errors.from_openai(exc) from exc
        except ValueError as exc:  # a 200 whose body is not JSON: the SDK's json() raises before it can validate
            raise MalformedResponseError(f"Azure OpenAI returned a body that is not JSON: {exc}") from exc
        return parse_response(completion, self.model_id, image, detail, attempts=raw.retries_taken + 1)

    def cost(self, reply: Reply) -> float | None:
        return pricing.token_cost(self.settings.azure_model, "azure", reply.input_tokens, reply.output_tokens)
