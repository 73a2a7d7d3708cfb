"""An OpenAI-compatible server: `POST /v1/chat/completions` and `GET /v1/models`, as OpenAI, Ollama or vLLM serve.

It serves every model of models.py that the "openai" service serves, each through its own local stand-in and
with its family's usage. Authentication is `Authorization: Bearer <the local cloud's api key>`. Errors have
OpenAI's shape (platform.openai.com/docs/guides/error-codes): invalid_api_key (401), model_not_found (404).
"""

from __future__ import annotations

import re
import time
from typing import Any

from ... import models
from . import chat
from .wire import BAD_INPUT, FaultAnswers, Handler, Route, WireError, apply_fault

SERVICE = "openai"
STARTED = int(time.time())  # `created` of the listed models


def openai_error(status: int, message: str, kind: str, code: str | None, param: str | None = None, headers: dict[str, str] | None = None) -> WireError:
    return WireError(status, {"error": {"message": message, "type": kind, "param": param, "code": code}}, headers)


FAULTS = FaultAnswers(
    throttle=lambda: openai_error(
        429, "Rate limit reached for requests. Please try again in 1s.", "requests", "rate_limit_exceeded",
        headers={"retry-after": "1", "retry-after-ms": "200"},
    ),
    error=lambda status: openai_error(status, "The server had an error while processing your request. Sorry about that!", "server_error", None),
    auth=lambda: openai_error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    malformed=b'{"id": "chatcmpl-broken", "choices": [',
)  # fmt: skip


def served_model(name: str) -> models.Model | None:
    model = models.resolve(SERVICE, name)
    return model if model is not None and model in models.served(SERVICE) else None


def _authorise(h: Handler) -> None:
    header = h.headers.get("Authorization", "")
    if header != f"Bearer {h.emu.conn.azure_api_key}":
        shown = header.removeprefix("Bearer ").strip()
        masked = f"{shown[:3]}***{shown[-4:]}" if len(shown) > 8 else "***"
        raise openai_error(401, f"Incorrect API key provided: {masked}.", "invalid_request_error", "invalid_api_key")


def chat_completions(h: Handler, match: re.Match[str], query: dict[str, list[str]], body: bytes) -> None:
    _authorise(h)
    h.emu.count(SERVICE)
    fault = apply_fault(h.emu.faults, SERVICE, FAULTS)
    try:
        request = chat.ChatRequest(body)
    except BAD_INPUT as exc:
        raise openai_error(400, f"Invalid request: {exc}", "invalid_request_error", None, "messages") from exc
    model = served_model(request.model)
    if model is None:
        raise openai_error(
            404, f"The model `{request.model}` does not exist or you do not have access to it.",
            "invalid_request_error", "model_not_found",
        )  # fmt: skip
    try:
        answer = chat.answer(model, request.model, request)
    except BAD_INPUT as exc:
        raise openai_error(400, f"Invalid image: {exc}", "invalid_request_error", "invalid_image", "messages") from exc
    chat.respond(h, SERVICE, model, request, answer, fault, FAULTS.malformed)


def list_models(h: Handler, match: re.Match[str], query: dict[str, list[str]], body: bytes) -> None:
    _authorise(h)
    h.send_json(200, {"object": "list", "data": [_model_object(m) for m in models.served(SERVICE)]})


def _model_object(model: models.Model) -> dict[str, Any]:
    return {"id": model.key, "object": "model", "created": STARTED, "owned_by": "mcv-local"}


def status() -> dict[str, Any]:
    return {"models": [m.key for m in models.served(SERVICE)]}


ROUTES = (
    Route("POST", re.compile(r"/v1/chat/completions"), chat_completions),
    Route("GET", re.compile(r"/v1/models"), list_models),
)
