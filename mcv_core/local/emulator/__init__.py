"""The AI emulator: the model APIs of every service, on loopback, answered by real local models.

Wire protocols served (so the real boto3 and openai clients run end to end), one module each:
  sagemaker.py          POST /endpoints/{name}/invocations        -> sagemaker_model/code/inference.py in a worker
  bedrock.py            POST /model/{modelId}/converse, /converse-stream (AWS event stream, eventstream.py)
                                                                  -> the model's local stand-in
  azure_openai.py       POST /openai/deployments/{name}/chat/completions?api-version=...  -> the deployment's model
  openai_compatible.py  POST /v1/chat/completions, GET /v1/models -> the named model's stand-in
and the batch control planes, run by one engine (batch_jobs.py) over the local S3 and the same stand-ins:
  bedrock_batch.py      CreateModelInvocationJob, GetModelInvocationJob, ListModelInvocationJobs, StopModelInvocationJob
  azure_batch.py        /openai/files (upload, get, content, delete), /openai/batches (create, get, list, cancel)
  sagemaker_transform.py  CreateTransformJob, DescribeTransformJob, StopTransformJob, ListTransformJobs (POST /,
                        X-Amz-Target SageMaker.*; the rest of SageMaker's control plane is moto's) -> inference.py
(chat.py: the chat-completions format both share, whole or streamed as server-sent events) over wire.py (HTTP
plumbing, faults, SigV4, token counts, images) and streaming.py (the text paced at each family's emulated rate,
MCV_LOCAL_TOKENS_PER_S for all; every answer's send times in a ring, GET /_mcv/streams). AWS requests must
carry a valid SigV4 signature made with the local cloud's key, Azure ones its api-key, OpenAI ones its key as
a bearer token. Faults (throttling, 5xx, timeouts, slow or malformed answers, refused credentials, connections
cut mid-answer) are injected per service through /_mcv/faults or MCV_LOCAL_FAULTS. Adding a service is one
module with SERVICE and ROUTES, listed below.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Mapping

from .. import describers
from ... import models
from ..state import Connection
from . import (
    azure_batch,
    azure_openai,
    bedrock,
    bedrock_batch,
    openai_compatible,
    sagemaker,
    sagemaker_transform,
    streaming,
)
from .azure_openai import Deployments
from .batch_jobs import BatchFault, BatchJobs
from .sagemaker import SageMakerHost
from .streaming import StreamLog
from .wire import BadImage, Fault, Faults, Handler, Route, WireError, approx_tokens, aws_error, truncate_to_tokens

log = logging.getLogger("mcv_core.local.emulator")

SERVICE_MODULES = (sagemaker, bedrock, azure_openai, openai_compatible)
SERVICES: tuple[str, ...] = tuple(module.SERVICE for module in SERVICE_MODULES)

__all__ = [
    "SERVICES", "BadImage", "Deployments", "Emulator", "Fault", "Faults", "SageMakerHost", "WireError",
    "approx_tokens", "aws_error", "truncate_to_tokens",
]  # fmt: skip


class Emulator:
    """Owns the server, the endpoint host, the Azure deployments, the fault plan and the log of answers sent.

    `MCV_LOCAL_TOKENS_PER_S` (read here, at start) sets every family's emulated output rate; ValueError when it
    is not a positive number."""

    def __init__(
        self,
        conn: Connection,
        port: int,
        work_root: Path,
        idle_s: float,
        azure_deployments: Mapping[str, Any],
        on_deployments_changed: Callable[[dict[str, Any]], None] | None = None,
        batch_root: Path | None = None,
    ) -> None:
        self.conn = conn
        try:
            self.token_rate = streaming.rate_override()
        except ValueError as exc:
            log.error("the AI emulator cannot start: %s", exc)  # the daemon's log is where `local up` points
            raise
        self.faults = Faults(SERVICES)
        self.streams = StreamLog()
        self.sagemaker = SageMakerHost(conn, work_root, idle_s)
        self.azure_deployments = Deployments(azure_deployments, on_deployments_changed)
        # Batch jobs and Azure's files live beside the endpoint's work folder unless told otherwise.
        batch_root = batch_root or work_root.parent / "batch"
        self.batch = BatchJobs(batch_root)
        self.azure_files = azure_batch.Files(batch_root)
        self.batch.register(bedrock_batch.SERVICE, bedrock_batch.BedrockRunner(conn))
        self.batch.register(azure_batch.SERVICE, azure_batch.AzureRunner(self.azure_files, self.azure_deployments))
        transform = sagemaker_transform.TransformRunner(conn, batch_root / "transform")
        self.batch.register(sagemaker_transform.SERVICE, transform)
        self.requests: dict[str, int] = {service: 0 for service in SERVICES}
        self._count_lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def count(self, service: str) -> None:
        with self._count_lock:
            self.requests[service] += 1

    def tokens_per_s(self, model: models.Model) -> float:
        return streaming.tokens_per_s(model, self.token_rate)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.server.serve_forever, name="ai-emulator", daemon=True)
        self._thread.start()
        self.batch.start()
        # The generative services are always on: their local models load now, once for all stand-ins, not on
        # the first request.
        threading.Thread(target=describers.warm, name="standin-warmup", daemon=True).start()

    def stop(self) -> None:
        self.batch.close()
        self.server.shutdown()
        self.server.server_close()
        self.sagemaker.close()

    def status(self) -> dict[str, Any]:
        with self._count_lock:
            requests = dict(self.requests)
        return {
            "url": self.url,
            "openai_base_url": f"{self.url}/v1",
            "requests": requests,
            "sagemaker": self.sagemaker.status(),
            "bedrock": bedrock.status(),
            "azure_openai": azure_openai.status(self.azure_deployments),
            "openai": openai_compatible.status(),
            "standins": describers.standins_status(),
            "faults": self.faults.describe(),
            "batch": self.batch.status(),
            "tokens_per_s": self.token_rate,  # None: each family's own emulated rate
        }


# --- the emulator's own routes ---------------------------------------------------------------------------------


def _status(h: Handler, match: re.Match[str], query: dict[str, list[str]], body: bytes) -> None:
    h.admin_authorise()
    h.send_json(200, h.emu.status())  # type: ignore[attr-defined]


def _ping(h: Handler, match: re.Match[str], query: dict[str, list[str]], body: bytes) -> None:
    h.send_json(200, {"status": "ok"})


def _set_faults(h: Handler, match: re.Match[str], query: dict[str, list[str]], body: bytes) -> None:
    h.admin_authorise()
    try:
        data = json.loads(body or b"{}")
        for service, faults in data.items():
            h.emu.faults.set(service, [Fault(**f) for f in faults])
    except (ValueError, TypeError, AttributeError) as exc:
        raise WireError(400, {"message": f"bad fault plan: {exc}"}) from exc
    h.send_json(200, {"faults": h.emu.faults.describe()})


def _clear_faults(h: Handler, match: re.Match[str], query: dict[str, list[str]], body: bytes) -> None:
    h.admin_authorise()
    h.emu.faults.clear()
    h.send_json(200, {"faults": {}})


def _set_batch_faults(h: Handler, match: re.Match[str], query: dict[str, list[str]], body: bytes) -> None:
    """{"bedrock": {"fail_every": 7, "fail_job": false, "record_delay_s": 0.2}, ...}: batch_jobs.BatchFault."""
    h.admin_authorise()
    try:
        data = json.loads(body or b"{}")
        for service, fault in data.items():
            if service not in h.emu.batch.runners:
                raise ValueError(f"no batch engine for {service!r}")
            h.emu.batch.set_fault(service, BatchFault(**fault))
    except (ValueError, TypeError, AttributeError) as exc:
        raise WireError(400, {"message": f"bad batch fault plan: {exc}"}) from exc
    h.send_json(200, {"faults": h.emu.batch.describe_faults()})


def _clear_batch_faults(h: Handler, match: re.Match[str], query: dict[str, list[str]], body: bytes) -> None:
    h.admin_authorise()
    h.emu.batch.clear_faults()
    h.send_json(200, {"faults": {}})


def _streams(h: Handler, match: re.Match[str], query: dict[str, list[str]], body: bytes) -> None:
    """The last answers sent (streamed or not), oldest first, with their monotonic send times (streaming.py)."""
    h.admin_authorise()
    h.send_json(200, {"kept": h.emu.streams.size, "streams": h.emu.streams.snapshot()})


def _scale_to_zero(h: Handler, match: re.Match[str], query: dict[str, list[str]], body: bytes) -> None:
    h.admin_authorise()
    h.emu.sagemaker.scale_to_zero()  # type: ignore[attr-defined]
    h.send_json(200, h.emu.sagemaker.status())  # type: ignore[attr-defined]


ADMIN_ROUTES = (
    Route("GET", re.compile(r"/_mcv/status"), _status),
    Route("GET", re.compile(r"/ping"), _ping),
    Route("POST", re.compile(r"/_mcv/faults"), _set_faults),
    Route("DELETE", re.compile(r"/_mcv/faults"), _clear_faults),
    Route("POST", re.compile(r"/_mcv/scale-to-zero"), _scale_to_zero),
    Route("GET", re.compile(r"/_mcv/streams"), _streams),
    Route("POST", re.compile(r"/_mcv/batch-faults"), _set_batch_faults),
    Route("DELETE", re.compile(r"/_mcv/batch-faults"), _clear_batch_faults),
)
BATCH_MODULES = (bedrock_batch, azure_batch, sagemaker_transform)
ROUTES: tuple[Route, ...] = ADMIN_ROUTES + tuple(
    route for module in (*SERVICE_MODULES, *BATCH_MODULES) for route in module.ROUTES
)


def _handler_for(emulator: Any) -> type[Handler]:
    class EmulatorHandler(Handler):
        emu = emulator
        routes = ROUTES

    return EmulatorHandler
