"""Any OpenAI-compatible chat-completions server that takes images: OpenAI itself, Ollama, vLLM, LM Studio.

A target names its `model` (as the server knows it), and optionally `base_url` and `api_key_env` (default:
OPENAI_BASE_URL and OPENAI_API_KEY, as the openai SDK reads them; in local mode, the local cloud's server).
"""

from __future__ import annotations

from typing import Any, Callable

import openai

from ..errors import CheckFailed, MCVError
from ..images import PreparedImage
from ..records import Reply
from . import chat
from .base import HEALTH_PROMPT, Service
from .registry import register


@register
class OpenAICompatible(Service):
    service = "openai"
    service_title = "OpenAI-compatible"
    cloud = "openai"
    price_provider = "openai"
    streams = True
    field_help = {"model": "set model to the model name the server knows (e.g. gpt-4.1-mini, or llama3.2-vision on Ollama)"}

    @property
    def model_id(self) -> str:
        return self.target.model

    @property
    def probe_needs(self) -> tuple[str, ...]:
        # A server of the user's own (base_url) is not the local cloud's: nothing to wait for.
        return () if self.target.base_url else super().probe_needs

    def _client(self, timeout: float, max_attempts: int | None = None) -> Any:
        return self.clients.openai_compatible(
            base_url=self.target.base_url, api_key_env=self.target.api_key_env, timeout=timeout, max_attempts=max_attempts
        )

    @property
    def auth_hint(self) -> str:
        return f"check the key in {self.target.api_key_env or 'OPENAI_API_KEY'}"

    @property
    def not_found_hint(self) -> str:
        return f"the server does not serve {self.model_id!r}: check the model of target {self.name!r} (GET /v1/models lists what it serves)"

    def call(self, image: PreparedImage, prompt: str, on_text: Callable[[str], None] | None = None) -> Reply:
        client = self._client(self.timeout_s)
        detail = self.target.image_detail if self.target.family.takes_detail else None
        request = chat.build_request(self.model_id, image, prompt, self.max_output_tokens, detail, self.temperature)
        return chat.call(
            client,
            request,
            streaming=self.streaming,
            on_text=on_text,
            image_tokens=self.target.image_tokens(image.width, image.height),
            service="the OpenAI-compatible server",
            auth_hint=self.auth_hint,
            not_found_hint=self.not_found_hint,
        )

    def probe(self, timeout: float) -> tuple[str, dict[str, Any]]:
        try:
            client = self._client(timeout, max_attempts=1)
            completion = client.chat.completions.create(
                model=self.model_id, messages=[{"role": "user", "content": HEALTH_PROMPT}], max_tokens=1
            )
        except MCVError as exc:
            raise CheckFailed(exc.message, exc.hint) from exc
        except openai.OpenAIError as exc:
            status = getattr(exc, "status_code", None)
            fix = {401: self.auth_hint, 404: self.not_found_hint}.get(status or 0, "check the base URL and that the server is running")
            raise CheckFailed(f"{self.model_id} did not answer: {type(exc).__name__}: {exc}", fix) from exc
        return f"{self.model_id} answered a one-token request at {client.base_url}", {"model": self.model_id, "base_url": str(client.base_url)}
