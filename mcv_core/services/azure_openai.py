"""Azure OpenAI chat completions with a base64 data-URL image: one target per deployment (gpt-4o-mini, gpt-4o,
gpt-4.1 …); the target's `model` is the model behind the deployment, for its image rule and price."""

from __future__ import annotations

from typing import Any, Callable

import openai

from ..errors import CheckFailed, MCVError
from ..images import PreparedImage
from ..records import Reply
from . import chat
from .base import HEALTH_PROMPT, Service
from .registry import register

AUTH_HINT = "check AZURE_OPENAI_API_KEY or the Entra ID role on the resource"


@register
class AzureOpenAI(Service):
    service = "azure_openai"
    service_title = "Azure OpenAI"
    cloud = "azure"
    price_provider = "azure"
    streams = True
    required_fields = ("deployment", "model")
    field_help = {
        "deployment": "set deployment to the Azure OpenAI deployment name",
        "model": "set model to the model behind the deployment (e.g. gpt-4o-mini), for its image rule and price",
    }

    @property
    def model_id(self) -> str:
        return self.target.deployment

    @property
    def not_found_hint(self) -> str:
        return (
            f"deployment {self.model_id!r} is not in this Azure OpenAI resource: check the deployment of target "
            f"{self.name!r}, AZURE_OPENAI_ENDPOINT and OPENAI_API_VERSION"
        )

    def call(self, image: PreparedImage, prompt: str, on_text: Callable[[str], None] | None = None) -> Reply:
        client = self.clients.azure_openai(timeout=self.timeout_s)
        detail = self.target.image_detail if self.target.family.takes_detail else None
        request = chat.build_request(self.model_id, image, prompt, self.max_output_tokens, detail or "auto", self.temperature)
        return chat.call(
            client,
            request,
            streaming=self.streaming,
            on_text=on_text,
            image_tokens=self.target.image_tokens(image.width, image.height),
            service="Azure OpenAI",
            auth_hint=AUTH_HINT,
            not_found_hint=self.not_found_hint,
        )

    def probe(self, timeout: float) -> tuple[str, dict[str, Any]]:
        try:
            client = self.clients.azure_openai(timeout=timeout, max_attempts=1)
            completion = client.chat.completions.create(
                model=self.model_id, messages=[{"role": "user", "content": HEALTH_PROMPT}], max_tokens=1
            )
        except MCVError as exc:
            raise CheckFailed(exc.message, exc.hint) from exc
        except openai.OpenAIError as exc:
            status = getattr(exc, "status_code", None)
            fix = {401: AUTH_HINT, 404: self.not_found_hint}.get(status or 0, "check AZURE_OPENAI_ENDPOINT and that the account is reachable")
            raise CheckFailed(f"deployment {self.model_id} did not answer: {type(exc).__name__}: {exc}", fix) from exc
        return (
            f"deployment {self.model_id} ({completion.model}) answered a one-token request",
            {"deployment": self.model_id, "model": completion.model},
        )
