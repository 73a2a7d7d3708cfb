"""Amazon Bedrock through the Converse API with an image block (Claude 3 Haiku by default)."""

from __future__ import annotations

from typing import Any

import botocore.exceptions as bce

from .. import pricing
from ..errors import MalformedResponseError
from ..images import CLAUDE, ImageSpec, PreparedImage, claude_image_tokens
from . import errors
from .base import Provider, Reply
from .registry import register


def build_request(model_id: str, image: PreparedImage, prompt: str, max_tokens: int) -> dict[str, Any]:
    """converse() arguments: the image first, then the question, as Anthropic recommends."""
    return {
        "modelId": model_id,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"image": {"format": image.format, "source": {"bytes": image.data}}},
                    {"text": prompt},
                ],
            }
        ],
        "inferenceConfig": {"maxTokens": max_tokens, "temperature": 0.0},
    }


def parse_response(response: dict[str, Any], model_id: str, image: PreparedImage) -> Reply:
    try:
        content = response["output"]["message"]["content"]
        text = "".join(block["text"] for block in content if "text" in block).strip()
        usage = response["usage"]
        input_tokens = int(usage["inputTokens"])
        output_tokens = int(usage["outputTokens"])
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedResponseError(f"Bedrock returned an unexpected response: {str(response)[:200]}") from exc
    latency = response.get("metrics", {}).get("latencyMs")
    return Reply(
        output=text,
        model=model_id,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        # Converse folds image tokens into inputTokens; this is Anthropic's published estimate for the size sent.
        image_tokens=claude_image_tokens(image.width, image.height),
        provider_latency_ms=float(latency) if latency is not None else None,
        attempts=int(response.get("ResponseMetadata", {}).get("RetryAttempts", 0)) + 1,
    )


@register
class BedrockProvider(Provider):
    name = "bedrock"
    title = "Amazon Bedrock"
    cloud = "aws"

    @property
    def model_id(self) -> str:
        return self.settings.bedrock_model_id

    @property
    def image_spec(self) -> ImageSpec:
        return CLAUDE

    def call(self, image: PreparedImage, prompt: str) -> Reply:
        client = self.clients.aws("bedrock-runtime", timeout=self.timeout_s)
        request = build_request(self.model_id, image, prompt, self.settings.max_output_tokens)
        try:
            response = client.converse(**request)
        except (bce.BotoCoreError, bce.ClientError) as exc:
            raise errors.from_botocore(exc) from exc
        return parse_response(response, self.model_id, image)

    def cost(self, reply: Reply) -> float | None:
        return pricing.token_cost(self.model_id, "aws", reply.input_tokens, reply.output_tokens)
