"""Amazon Bedrock through the Converse API with an image block: Claude, Nova, Llama 3.2 Vision, Pixtral (any
Bedrock model id or inference profile that takes images)."""

from __future__ import annotations

from typing import Any

import botocore.exceptions as bce

from .. import formatting as fmt
from ..errors import CheckFailed, InvalidRequestError, MalformedResponseError
from ..images import PreparedImage
from ..records import Reply
from . import errors
from .base import HEALTH_PROMPT, Service
from .registry import register


def build_request(model_id: str, image: PreparedImage, prompt: str, max_tokens: int, temperature: float = 0.0) -> dict[str, Any]:
    """converse() arguments: the image first, then the question, as Anthropic and Amazon recommend."""
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
        "inferenceConfig": {"maxTokens": max_tokens, "temperature": temperature},
    }


def parse_response(response: dict[str, Any], model_id: str, image_tokens: int | None) -> Reply:
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
        # Converse folds image tokens into inputTokens; this is the model family's published rule for the size sent.
        image_tokens=image_tokens,
        provider_latency_ms=float(latency) if latency is not None else None,
        attempts=int(response.get("ResponseMetadata", {}).get("RetryAttempts", 0)) + 1,
    )


@register
class Bedrock(Service):
    service = "bedrock"
    service_title = "Amazon Bedrock"
    cloud = "aws"
    price_provider = "aws"
    field_help = {"model": "set model to a Bedrock model id or inference profile, e.g. anthropic.claude-3-haiku-20240307-v1:0"}

    @property
    def model_id(self) -> str:
        return self.target.model

    def call(self, image: PreparedImage, prompt: str) -> Reply:
        client = self.clients.aws("bedrock-runtime", timeout=self.timeout_s)
        request = build_request(self.model_id, image, prompt, self.max_output_tokens, self.temperature)
        try:
            response = client.converse(**request)
        except (bce.BotoCoreError, bce.ClientError) as exc:
            raise _translate(exc, self.model_id) from exc
        return parse_response(response, self.model_id, self.target.image_tokens(image.width, image.height))

    def probe(self, timeout: float) -> tuple[str, dict[str, Any]]:
        client = self.clients.aws("bedrock-runtime", timeout=timeout, max_attempts=1)
        try:
            response = client.converse(
                modelId=self.model_id,
                messages=[{"role": "user", "content": [{"text": HEALTH_PROMPT}]}],
                inferenceConfig={"maxTokens": 1},
            )
        except (bce.BotoCoreError, bce.ClientError) as exc:
            code = exc.response.get("Error", {}).get("Code", "") if isinstance(exc, bce.ClientError) else type(exc).__name__
            fix = {
                "AccessDeniedException": "request access to the model in the Bedrock console (Model access) for this region",
                "ValidationException": f"check the model of target {self.name!r}: the model id or inference profile is not valid in this region",
            }.get(code, "check the region, the credentials and that Bedrock is reachable")
            raise CheckFailed(f"{self.model_id} did not answer: {code}: {exc}", fix) from exc
        tokens = response.get("usage", {}).get("inputTokens")
        read = fmt.count(tokens, "input token", unknown="input tokens not reported")
        return f"{self.model_id} answered a one-token request ({read})", {"model": self.model_id, "usage": response.get("usage", {})}


def _translate(exc: Exception, model_id: str) -> Exception:
    error = errors.from_botocore(exc)
    if isinstance(error, InvalidRequestError) and "model identifier" in error.message:
        error.hint = f"{model_id} is not a Bedrock model id or inference profile here: check the target's model and region"
    return error
