"""Azure OpenAI: `POST /openai/deployments/{deployment}/chat/completions?api-version=...` for each deployment.

Deployments map a name to a model, as in an Azure OpenAI resource: the daemon deploys its start-up ones and
`control.deploy_catalogue` those of the catalogue (`PUT /_mcv/azure/deployments`). Only a model models.py
knows can be deployed (Azure cannot deploy a model that does not exist); any other deployment name gets
Azure's DeploymentNotFound. Each deployment answers through its model's local stand-in, with its family's usage.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any, Callable, Mapping
from urllib.parse import unquote

from ... import models
from . import chat
from .wire import BAD_INPUT, FaultAnswers, Handler, Route, WireError, apply_fault

SERVICE = "azure_openai"
# The dated version Azure reports in `model` for the default versions of these models.
MODEL_VERSIONS = {"gpt-4o-mini": "gpt-4o-mini-2024-07-18", "gpt-4o": "gpt-4o-2024-11-20"}


def azure_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> WireError:
    return WireError(status, {"error": {"code": code, "message": message}}, headers)


FAULTS = FaultAnswers(
    throttle=lambda: azure_error(
        429,
        "429",
        "Requests to the ChatCompletions_Create Operation have exceeded call rate limit of your current tier. Please retry after 1 second.",
        headers={"Retry-After": "1", "retry-after-ms": "200"},
    ),
    error=lambda status: azure_error(status, "InternalServerError", "The server had an error while processing your request."),
    auth=lambda: azure_error(401, "401", "Access denied due to invalid subscription key or wrong API endpoint."),
    malformed=b'{"id": "chatcmpl-broken", "choices": [',
)


# Azure's first server-sent event of a stream: no choices yet, the prompt's content-filter results
# (learn.microsoft.com/azure/ai-services/openai/concepts/content-filter, "Streaming"); clients skip it.
_SAFE = {"filtered": False, "severity": "safe"}
PROMPT_FILTER_CHUNK = chat.sse(
    {
        "choices": [],
        "created": 0,
        "id": "",
        "model": "",
        "object": "",
        "prompt_filter_results": [
            {"prompt_index": 0, "content_filter_results": {k: _SAFE for k in ("hate", "self_harm", "sexual", "violence")}}
        ],
    }
)


BATCH_SKU = "GlobalBatch"


class Deployments:
    """Deployment name -> model name, as deployed; a Global-Batch deployment (`{"model": ..., "sku":
    "GlobalBatch"}`) takes batch jobs only, the others (a plain model name) calls only, as in Azure. Thread-safe;
    `on_change` gets the whole map after a change."""

    def __init__(self, initial: Mapping[str, Any] | None = None, on_change: Callable[[dict[str, Any]], None] | None = None) -> None:
        self._lock = threading.Lock()
        self._map: dict[str, Any] = {}
        self._on_change = on_change
        if initial:
            self.deploy(initial, notify=False)

    @staticmethod
    def _model_name(value: Any) -> str:
        return str(value.get("model", "")) if isinstance(value, dict) else str(value)

    def deploy(self, wanted: Mapping[str, Any], notify: bool = True) -> dict[str, Any]:
        """Add or update deployments (idempotent); ValueError, deploying nothing, when a model is unknown."""
        unknown = {name: value for name, value in wanted.items() if models.resolve(SERVICE, self._model_name(value)) is None}
        bad_sku = {name: v for name, v in wanted.items() if isinstance(v, dict) and v.get("sku", BATCH_SKU) != BATCH_SKU}
        if unknown or bad_sku or not all(isinstance(name, str) and name for name in wanted):
            raise ValueError(f"cannot deploy unknown models, other SKUs or empty names: {unknown or bad_sku or dict(wanted)}")
        with self._lock:
            changed = any(self._map.get(name) != value for name, value in wanted.items())
            self._map.update(wanted)
            snapshot = dict(self._map)
        if changed and notify and self._on_change is not None:
            self._on_change(snapshot)
        return snapshot

    def _find(self, deployment: str, batch: bool) -> tuple[str, models.Model] | None:
        with self._lock:
            value = self._map.get(deployment)
        if value is None or isinstance(value, dict) != batch:
            return None
        name = self._model_name(value)
        return name, models.resolve(SERVICE, name)  # type: ignore[return-value]

    def model(self, deployment: str) -> tuple[str, models.Model] | None:
        """The model of a deployment that takes calls."""
        return self._find(deployment, batch=False)

    def batch_model(self, deployment: str) -> tuple[str, models.Model] | None:
        """The model of a Global-Batch deployment."""
        return self._find(deployment, batch=True)

    def is_batch(self, deployment: str) -> bool:
        return self.batch_model(deployment) is not None

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._map)


def chat_completions(h: Handler, match: re.Match[str], query: dict[str, list[str]], body: bytes) -> None:
    if h.headers.get("api-key") != h.emu.conn.azure_api_key:
        raise azure_error(
            401,
            "401",
            "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid "
            "key for an active subscription and use a correct regional API endpoint for your resource.",
        )
    h.emu.count(SERVICE)
    fault = apply_fault(h.emu.faults, SERVICE, FAULTS)
    if not query.get("api-version"):
        raise azure_error(404, "404", "Resource not found")
    name = unquote(match.group(1))
    deployed = h.emu.azure_deployments.model(name)
    if deployed is None and h.emu.azure_deployments.is_batch(name):
        raise azure_error(
            400,
            "OperationNotSupported",
            "The chatCompletion operation does not work with the specified model deployment. Global batch "
            "deployments take batch jobs only.",
        )
    if deployed is None:
        raise azure_error(
            404,
            "DeploymentNotFound",
            "The API deployment for this resource does not exist. If you created the deployment within the last "
            "5 minutes, please wait a moment and try again.",
        )
    name, model = deployed
    try:
        request = chat.ChatRequest(body)
        answer = chat.answer(model, MODEL_VERSIONS.get(name, name), request)
    except BAD_INPUT as exc:
        raise azure_error(400, "BadRequest", f"Invalid image data or request: {exc}") from exc
    chat.respond(h, SERVICE, model, request, answer, fault, FAULTS.malformed, head=[PROMPT_FILTER_CHUNK])


def deployments(h: Handler, match: re.Match[str], query: dict[str, list[str]], body: bytes) -> None:
    """The local cloud's admin route: GET lists the deployments, PUT adds or updates some ({name: model})."""
    h.admin_authorise()
    if h.command == "PUT":
        try:
            wanted = json.loads(body or b"{}")
            if not isinstance(wanted, dict):
                raise ValueError("the body must be a JSON object {deployment: model}")
            h.emu.azure_deployments.deploy(wanted)
        except ValueError as exc:
            raise WireError(400, {"message": f"bad deployments: {exc}"}) from exc
    h.send_json(200, {"deployments": h.emu.azure_deployments.snapshot()})


ROUTES = (
    Route("POST", re.compile(r"/openai/deployments/([^/]+)/chat/completions"), chat_completions),
    Route("GET", re.compile(r"/_mcv/azure/deployments"), deployments),
    Route("PUT", re.compile(r"/_mcv/azure/deployments"), deployments),
)


def status(deployed: Deployments) -> dict[str, Any]:
    return {"deployments": deployed.snapshot()}
