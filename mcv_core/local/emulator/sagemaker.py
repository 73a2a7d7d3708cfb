"""The AI emulator: the model APIs of the three providers, on loopback, answered by real local models.

Wire protocols served (so the real boto3 and openai clients run end to end):
  SageMaker runtime  POST /endpoints/{name}/invocations          -> sagemaker_model/code/inference.py in a worker
  Bedrock runtime    POST /model/{modelId}/converse              -> local describer "bedrock"
  Azure OpenAI       POST /openai/deployments/{name}/chat/completions?api-version=...  -> describer "azure_openai"
AWS requests must carry a valid SigV4 signature made with the local cloud's key, Azure ones its api-key.
The SageMaker endpoint must exist in moto's control plane; its worker scales to zero after `idle_s`.
Faults (throttling, 5xx, timeouts, slow or malformed answers, refused credentials) are injected per service
through /_mcv/faults or MCV_LOCAL_FAULTS.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import logging
import math
import re
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, unquote, urlsplit

import boto3
import botocore.exceptions as bce
from botocore.config import Config
from PIL import Image, UnidentifiedImageError

from .. import images
from . import sigv4
from .describers import get_describer
from .sagemaker_worker import WorkerProcess
from .state import Connection

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 30 * 1024 * 1024
SERVICES = ("sagemaker", "bedrock", "azure_openai")
# Bedrock model ids the emulator answers for: Anthropic Claude 3 and later, which take images.
BEDROCK_VISION_MODEL = re.compile(
    r"^(?:arn:aws[\w-]*:bedrock:[\w-]*:\d*:(?:foundation-model|inference-profile)/)?"
    r"(?:(?:us|eu|apac|jp|au|global)\.)?anthropic\.claude-(?:3|sonnet-4|opus-4|haiku-4|3-5|3-7)"
)
AZURE_MODELS = {"gpt-4o-mini": "gpt-4o-mini-2024-07-18", "gpt-4o": "gpt-4o-2024-11-20"}
_WORD = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def approx_tokens(text: str) -> int:
    """Text tokens as a BPE tokenizer counts them, approximately: a word costs one token per 4 characters."""
    return sum(max(1, math.ceil(len(piece) / 4)) if piece[0].isalnum() else 1 for piece in _WORD.findall(text))


def truncate_to_tokens(text: str, max_tokens: int) -> tuple[str, bool]:
    if approx_tokens(text) <= max_tokens:
        return text, False
    words = text.split()
    while words and approx_tokens(" ".join(words)) > max_tokens:
        words.pop()
    return " ".join(words), True


# --- faults ----------------------------------------------------------------------------------------------


@dataclass
class Fault:
    """One injected fault. kind: throttle, error, timeout, slow, malformed or auth."""

    kind: str
    count: int = -1  # requests it applies to; -1 until cleared
    delay_s: float = 0.0  # for slow and timeout
    status: int = 500  # for error

    KINDS = ("throttle", "error", "timeout", "slow", "malformed", "auth")

    def __post_init__(self) -> None:
        if self.kind not in self.KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; known: {', '.join(self.KINDS)}")


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._plan: dict[str, list[Fault]] = {}

    def set(self, service: str, faults: list[Fault]) -> None:
        if service not in SERVICES:
            raise ValueError(f"unknown service {service!r}; known: {', '.join(SERVICES)}")
        with self._lock:
            self._plan[service] = list(faults)

    def clear(self) -> None:
        with self._lock:
            self._plan.clear()

    def take(self, service: str) -> Fault | None:
        with self._lock:
            queue = self._plan.get(service, [])
            while queue:
                fault = queue[0]
                if fault.count == 0:
                    queue.pop(0)
                    continue
                if fault.count > 0:
                    fault.count -= 1
                return fault
            return None

    def describe(self) -> dict[str, list[dict[str, Any]]]:
        """The faults still to come (used-up ones are not listed)."""
        with self._lock:
            plan = {service: [asdict(f) for f in faults if f.count != 0] for service, faults in self._plan.items()}
            return {service: faults for service, faults in plan.items() if faults}


# --- SageMaker endpoints -----------------------------------------------------------------------------------


class EndpointError(Exception):
    def __init__(self, status: int, code: str, message: str, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra or {}


@dataclass
class Instance:
    """One serving container of an endpoint: a worker process that answers one request at a time."""

    worker: WorkerProcess
    busy: bool = True
    last_used: float = field(default_factory=time.monotonic)


@dataclass
class EndpointRuntime:
    """The serving side of one SageMaker serverless endpoint: up to MaxConcurrency instances that come and go.
    As on SageMaker Serverless, a request that finds no idle instance gets a new one, and pays its cold start."""

    name: str
    instances: list[Instance] = field(default_factory=list)
    in_flight: int = 0
    cold_starts: int = 0
    invocations: int = 0
    last_cold_start_s: float | None = None
    started: int = 0  # instances ever started (their work folders are numbered)


class SageMakerHost:
    def __init__(self, conn: Connection, work_root: Path, idle_s: float) -> None:
        self.conn = conn
        self.work_root = work_root
        self.idle_s = idle_s
        self._runtimes: dict[str, EndpointRuntime] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sm = self._moto_client("sagemaker")
        self._s3 = self._moto_client("s3")
        self._reaper = threading.Thread(target=self._reap, name="sagemaker-reaper", daemon=True)
        self._reaper.start()

    def _moto_client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.conn.moto_url,
            region_name=self.conn.region,
            aws_access_key_id=self.conn.access_key_id,
            aws_secret_access_key=self.conn.secret_access_key,
            config=Config(s3={"addressing_style": "path"}, retries={"mode": "standard", "total_max_attempts": 2}),
        )

    def _runtime(self, name: str) -> EndpointRuntime:
        with self._lock:
            return self._runtimes.setdefault(name, EndpointRuntime(name))

    def _describe(self, name: str) -> tuple[int, str]:
        """(max concurrency, s3 url of the model) from the control plane, or the error SageMaker gives."""
        not_found = EndpointError(400, "ValidationError", f"Endpoint {name} of account {self.conn.account_id} not found.")
        try:
            endpoint = self._sm.describe_endpoint(EndpointName=name)
        except bce.ClientError as exc:
            raise not_found from exc
        if endpoint["EndpointStatus"] != "InService":
            raise EndpointError(400, "ValidationError", f"Endpoint {name} is not InService ({endpoint['EndpointStatus']}).")
        config = self._sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
        variant = config["ProductionVariants"][0]
        model = self._sm.describe_model(ModelName=variant["ModelName"])
        concurrency = int(variant.get("ServerlessConfig", {}).get("MaxConcurrency", 1))
        return concurrency, model["PrimaryContainer"]["ModelDataUrl"]

    def invoke(self, name: str, body: bytes, content_type: str, accept: str, timeout: float = 60.0) -> tuple[int, str, bytes, dict[str, str]]:
        concurrency, model_url = self._describe(name)
        runtime = self._runtime(name)
        with self._lock:
            if runtime.in_flight >= concurrency:
                raise EndpointError(400, "ThrottlingException", f"Rate exceeded: endpoint {name} allows {concurrency} concurrent invocations.")
            runtime.in_flight += 1
            runtime.instances = [i for i in runtime.instances if i.busy or i.worker.alive()]
            instance = next((i for i in runtime.instances if not i.busy), None)
            if instance is not None:
                instance.busy = True
        try:
            if instance is None:
                instance = self._cold_start(runtime, model_url)
            try:
                status, out_type, out_body = instance.worker.invoke(body, content_type, accept, timeout)
            except OSError as exc:  # the worker died mid-request: SageMaker answers with a model error
                raise EndpointError(424, "ModelError", f"Received server error (500) from primary: {exc}", {"OriginalStatusCode": 500}) from exc
            runtime.invocations += 1
        finally:
            with self._lock:
                runtime.in_flight -= 1
                if instance is not None:
                    instance.busy = False
                    instance.last_used = time.monotonic()
        headers = {"x-Amzn-Invoked-Production-Variant": "AllTraffic"}
        if status >= 400:
            message = _message_of(out_body)
            kind = "CLIENT" if status < 500 else "SERVER"
            raise EndpointError(
                424,
                "ModelError",
                f"Received {kind.lower()} error ({status}) from primary with message \"{message}\".",
                {
                    "OriginalStatusCode": status,
                    "OriginalMessage": message,
                    "LogStreamArn": f"arn:aws:logs:{self.conn.region}:{self.conn.account_id}:log-group:/aws/sagemaker/Endpoints/{name}",
                    "ErrorCode": f"{kind}_ERROR_FROM_MODEL",
                },
            )
        return status, out_type, out_body, headers

    def _cold_start(self, runtime: EndpointRuntime, model_url: str) -> Instance:
        """A new instance, as on SageMaker: fetch the model artifact from S3, start the container, load the model."""
        with self._lock:
            runtime.started += 1
            work_dir = self.work_root / runtime.name / f"instance-{runtime.started}"
        work_dir.mkdir(parents=True, exist_ok=True)
        bucket, _, key = model_url.removeprefix("s3://").partition("/")
        tar = work_dir / "model.tar.gz"
        started = time.monotonic()
        self._s3.download_file(bucket, key, str(tar))
        worker = WorkerProcess(tar, work_dir / "model")
        worker.start()
        instance = Instance(worker)
        with self._lock:
            runtime.instances.append(instance)
            runtime.cold_starts += 1
            runtime.last_cold_start_s = round(time.monotonic() - started, 3)
        log.info("sagemaker endpoint %s: cold start in %.2f s", runtime.name, runtime.last_cold_start_s)
        return instance

    def _idle(self, older_than: float) -> list[Instance]:
        """Take the instances idle for `older_than` seconds out of service."""
        now = time.monotonic()
        idle: list[Instance] = []
        with self._lock:
            for runtime in self._runtimes.values():
                keep = []
                for instance in runtime.instances:
                    (idle if not instance.busy and now - instance.last_used >= older_than else keep).append(instance)
                runtime.instances = keep
        return idle

    def _reap(self) -> None:
        while not self._stop.wait(0.25):
            for instance in self._idle(self.idle_s):
                log.info("sagemaker: an instance idle for %.0f s scales to zero", self.idle_s)
                instance.worker.stop()

    def scale_to_zero(self) -> None:
        for instance in self._idle(0.0):
            instance.worker.stop()

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {
                name: {
                    "worker": "running" if any(i.worker.alive() for i in rt.instances) else "stopped",
                    "instances": sum(1 for i in rt.instances if i.worker.alive()),
                    "cold_starts": rt.cold_starts,
                    "invocations": rt.invocations,
                    "last_cold_start_s": rt.last_cold_start_s,
                    "idle_s": self.idle_s,
                }
                for name, rt in self._runtimes.items()
            }

    def close(self) -> None:
        self._stop.set()
        self.scale_to_zero()


def _message_of(body: bytes) -> str:
    try:
        return str(json.loads(body).get("message", body[:200].decode(errors="replace")))
    except (ValueError, AttributeError):
        return body[:200].decode(errors="replace")


# --- the describers behind Bedrock and Azure ----------------------------------------------------------------


class BadImage(ValueError):
    pass


def _open_image(data: bytes, max_bytes: int) -> Image.Image:
    if len(data) > max_bytes:
        raise BadImage(f"image exceeds {max_bytes // (1024 * 1024)} MB maximum")
    try:
        image = Image.open(io.BytesIO(data), formats=["JPEG", "PNG", "WEBP", "GIF"])
        image.load()
    except (UnidentifiedImageError, OSError) as exc:
        raise BadImage(f"could not process image: {exc}") from exc
    return image.convert("RGB")


def describe_or_decline(describer: str, model: str, picture: Image.Image | None, prompt: str) -> str:
    """The local describer's answer; without an image it says plainly that it only describes images
    (a text-only request, such as a health check's ping, gets that instead of an invented answer)."""
    local = get_describer(describer)
    if picture is None:
        return f"No image was given: this local stand-in for {model} ({' + '.join(local.models)}) only describes images."
    return local.describe(picture, prompt).text


# --- HTTP ----------------------------------------------------------------------------------------------------


class Emulator:
    """Owns the server, the endpoint host and the fault plan."""

    def __init__(self, conn: Connection, port: int, work_root: Path, idle_s: float, azure_deployments: dict[str, str]) -> None:
        self.conn = conn
        self.faults = Faults()
        self.sagemaker = SageMakerHost(conn, work_root, idle_s)
        self.azure_deployments = azure_deployments  # deployment name -> model name
        self.requests: dict[str, int] = {service: 0 for service in SERVICES}
        self.server = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self.server.serve_forever, name="ai-emulator", daemon=True)
        self._thread.start()
        # Bedrock and Azure OpenAI are always-on services: their stand-ins load now, not on the first request.
        threading.Thread(target=self._warm_describers, name="describer-warmup", daemon=True).start()

    def _warm_describers(self) -> None:
        for name in ("bedrock", "azure_openai"):
            get_describer(name).load()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.sagemaker.close()

    def status(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "requests": dict(self.requests),
            "sagemaker": self.sagemaker.status(),
            "describers": {name: get_describer(name).loaded for name in ("bedrock", "azure_openai")},
            "faults": self.faults.describe(),
        }


def _handler_for(emulator: Emulator) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        emu = emulator

    return Handler


class _Handler(BaseHTTPRequestHandler):
    emu: Emulator
    protocol_version = "HTTP/1.1"
    server_version = "mcv-ai-emulator"
    # Headers and body leave in one write, without Nagle: on a kept-alive connection, separate small writes wait
    # for the client's delayed ACK (about 40 ms a request). The stdlib flushes after every request.
    wbufsize = -1
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        log.debug("%s - %s", self.address_string(), format % args)

    # ---- plumbing
    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            raise EndpointError(413, "ValidationException", f"Request body of {length} bytes exceeds {MAX_BODY_BYTES}.")
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes, content_type: str = "application/json", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(data).encode(), headers=headers)

    def _aws_error(self, status: int, code: str, message: str, extra: dict[str, Any] | None = None) -> None:
        self._json(status, {"message": message, **(extra or {})}, headers={"x-amzn-ErrorType": f"{code}:http://internal.amazon.com/"})

    def _azure_error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        self._json(status, {"error": {"code": code, "message": message}}, headers=headers)

    def _aws_authorised(self, body: bytes, signing_name: str) -> bool:
        failure = sigv4.verify(
            self.command,
            self.path,
            {k: v for k, v in self.headers.items()},
            body,
            self.emu.conn.access_key_id,
            self.emu.conn.secret_access_key,
            self.headers.get("Host", ""),
            expected_service=signing_name,
            expected_region=self.emu.conn.region,
        )
        if failure is not None:
            self._aws_error(403, failure.code, failure.message)
            return False
        return True

    def _apply_fault(self, service: str, on_throttle: Callable[[], None], on_error: Callable[[int], None], on_auth: Callable[[], None]) -> str | None:
        """Act on an injected fault; returns 'malformed' when the answer must be broken, 'handled' when sent."""
        fault = self.emu.faults.take(service)
        if fault is None:
            return None
        if fault.kind in ("slow", "timeout"):
            time.sleep(fault.delay_s)
            return None
        if fault.kind == "throttle":
            on_throttle()
            return "handled"
        if fault.kind == "error":
            on_error(fault.status)
            return "handled"
        if fault.kind == "auth":
            on_auth()
            return "handled"
        return "malformed"

    # ---- routing
    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        path = urlsplit(self.path).path
        if path == "/_mcv/status":
            if self._admin_ok():
                self._json(200, self.emu.status())
            return
        if path == "/ping":
            self._json(200, {"status": "ok"})
            return
        self._json(404, {"message": f"no route for GET {path}"})

    def do_DELETE(self) -> None:  # noqa: N802
        if urlsplit(self.path).path == "/_mcv/faults" and self._admin_ok():
            self.emu.faults.clear()
            self._json(200, {"faults": {}})
            return
        self._json(404, {"message": "no route"})

    def do_POST(self) -> None:  # noqa: N802
        parts = urlsplit(self.path)
        path = parts.path
        try:
            body = self._body()
            if m := re.fullmatch(r"/endpoints/([^/]+)/invocations", path):
                self._sagemaker(unquote(m.group(1)), body)
            elif m := re.fullmatch(r"/model/([^/]+)/converse", path):
                self._bedrock(unquote(m.group(1)), body)
            elif m := re.fullmatch(r"/openai/deployments/([^/]+)/chat/completions", path):
                self._azure(unquote(m.group(1)), parse_qs(parts.query), body)
            elif path == "/_mcv/faults":
                if self._admin_ok():
                    self._set_faults(body)
            elif path == "/_mcv/scale-to-zero":
                if self._admin_ok():
                    self.emu.sagemaker.scale_to_zero()
                    self._json(200, self.emu.sagemaker.status())
            else:
                self._json(404, {"message": f"no route for POST {path}"})
        except EndpointError as exc:
            self._aws_error(exc.status, exc.code, exc.message, exc.extra)
        except (BrokenPipeError, ConnectionResetError):
            log.info("client went away during %s", path)

    def _admin_ok(self) -> bool:
        if self.headers.get("api-key") == self.emu.conn.azure_api_key:
            return True
        self._json(401, {"message": "admin calls need the local cloud's api-key header"})
        return False

    def _set_faults(self, body: bytes) -> None:
        try:
            data = json.loads(body or b"{}")
            for service, faults in data.items():
                self.emu.faults.set(service, [Fault(**f) for f in faults])
        except (ValueError, TypeError, AttributeError) as exc:
            self._json(400, {"message": f"bad fault plan: {exc}"})
            return
        self._json(200, {"faults": self.emu.faults.describe()})

    # ---- SageMaker runtime
    def _sagemaker(self, endpoint: str, body: bytes) -> None:
        if not self._aws_authorised(body, "sagemaker"):
            return
        self.emu.requests["sagemaker"] += 1
        fault = self._apply_fault(
            "sagemaker",
            on_throttle=lambda: self._aws_error(400, "ThrottlingException", "Rate exceeded"),
            on_error=lambda status: self._aws_error(status, "ServiceUnavailable", "The service is unavailable. Please try again."),
            on_auth=lambda: self._aws_error(403, "UnrecognizedClientException", "The security token included in the request is invalid."),
        )
        if fault == "handled":
            return
        content_type = self.headers.get("Content-Type", "application/octet-stream")
        accept = self.headers.get("Accept", "application/json")
        status, out_type, out_body, headers = self.emu.sagemaker.invoke(endpoint, body, content_type, accept)
        if fault == "malformed":
            out_body = out_body[: len(out_body) // 2]
        self._send(status, out_body, out_type, headers)

    # ---- Bedrock runtime: Converse
    def _bedrock(self, model_id: str, body: bytes) -> None:
        if not self._aws_authorised(body, "bedrock"):
            return
        self.emu.requests["bedrock"] += 1
        fault = self._apply_fault(
            "bedrock",
            on_throttle=lambda: self._aws_error(429, "ThrottlingException", "Too many requests, please wait before trying again."),
            on_error=lambda status: self._aws_error(
                status,
                "ServiceUnavailableException" if status == 503 else "InternalServerException",
                "Bedrock is unable to process your request." if status == 503 else "The server encountered an internal error.",
            ),
            on_auth=lambda: self._aws_error(403, "AccessDeniedException", "You don't have access to the model with the specified model ID."),
        )
        if fault == "handled":
            return
        started = time.perf_counter()
        if not BEDROCK_VISION_MODEL.match(model_id):
            self._aws_error(400, "ValidationException", "The provided model identifier is invalid.")
            return
        try:
            request = json.loads(body)
            content = request["messages"][-1]["content"]
            prompt = " ".join(block["text"] for block in content if "text" in block).strip()
            blocks = [block["image"] for block in content if "image" in block]
            max_tokens = int(request.get("inferenceConfig", {}).get("maxTokens", 4096))
            picture = _open_image(base64.b64decode(blocks[0]["source"]["bytes"], validate=True), 3_932_160) if blocks else None
        except (ValueError, KeyError, TypeError, IndexError, binascii.Error) as exc:
            self._aws_error(400, "ValidationException", f"Malformed input request: {exc}")
            return
        answer_text = describe_or_decline("bedrock", model_id, picture, prompt)
        text, truncated = truncate_to_tokens(answer_text, max_tokens)
        # Anthropic's accounting: w*h/750 tokens for the image as the model sees it (after its own downscale).
        image_tokens = images.claude_image_tokens(picture.width, picture.height) if picture else 0
        input_tokens = approx_tokens(prompt) + image_tokens
        output_tokens = approx_tokens(text)
        answer = {
            "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
            "stopReason": "max_tokens" if truncated else "end_turn",
            "usage": {"inputTokens": input_tokens, "outputTokens": output_tokens, "totalTokens": input_tokens + output_tokens},
            "metrics": {"latencyMs": int((time.perf_counter() - started) * 1000)},
        }
        if fault == "malformed":
            self._send(200, b'{"output": {"message": ', "application/json")
            return
        self._json(200, answer)

    # ---- Azure OpenAI: chat completions
    def _azure(self, deployment: str, query: dict[str, list[str]], body: bytes) -> None:
        if self.headers.get("api-key") != self.emu.conn.azure_api_key:
            self._azure_error(
                401,
                "401",
                "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid "
                "key for an active subscription and use a correct regional API endpoint for your resource.",
            )
            return
        self.emu.requests["azure_openai"] += 1
        fault = self._apply_fault(
            "azure_openai",
            on_throttle=lambda: self._azure_error(
                429,
                "429",
                "Requests to the ChatCompletions_Create Operation have exceeded call rate limit of your current tier. Please retry after 1 second.",
                headers={"Retry-After": "1", "retry-after-ms": "200"},
            ),
            on_error=lambda status: self._azure_error(status, "InternalServerError", "The server had an error while processing your request."),
            on_auth=lambda: self._azure_error(401, "401", "Access denied due to invalid subscription key or wrong API endpoint."),
        )
        if fault == "handled":
            return
        if not query.get("api-version"):
            self._azure_error(404, "404", "Resource not found")
            return
        model = self.emu.azure_deployments.get(deployment)
        if model is None:
            self._azure_error(
                404,
                "DeploymentNotFound",
                "The API deployment for this resource does not exist. If you created the deployment within the last "
                "5 minutes, please wait a moment and try again.",
            )
            return
        try:
            request = json.loads(body)
            content = request["messages"][-1]["content"]
            if isinstance(content, str):
                content = [{"type": "text", "text": content}]
            prompt = " ".join(part["text"] for part in content if part.get("type") == "text").strip()
            image_parts = [part["image_url"] for part in content if part.get("type") == "image_url"]
            picture, detail = None, "auto"
            if image_parts:
                url = image_parts[0]["url"]
                detail = image_parts[0].get("detail", "auto")
                header, _, data = url.partition(",")
                if not header.startswith("data:image/") or ";base64" not in header:
                    raise ValueError("image_url must be a base64 data URL here (the local cloud does not fetch URLs)")
                picture = _open_image(base64.b64decode(data, validate=True), 20 * 1024 * 1024)
            max_tokens = int(request.get("max_tokens") or request.get("max_completion_tokens") or 4096)
        except (ValueError, KeyError, TypeError, IndexError, binascii.Error) as exc:
            self._azure_error(400, "BadRequest", f"Invalid image data or request: {exc}")
            return
        answer_text = describe_or_decline("azure_openai", AZURE_MODELS.get(model, model), picture, prompt)
        text, truncated = truncate_to_tokens(answer_text, max_tokens)
        # OpenAI's accounting for gpt-4o-mini images (tiles of 512 px), plus 3 per message and 3 to prime the reply.
        image_tokens = images.gpt4o_mini_image_tokens(picture.width, picture.height, detail) if picture else 0
        prompt_tokens = approx_tokens(prompt) + image_tokens + 6
        completion_tokens = approx_tokens(text)
        answer = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": AZURE_MODELS.get(model, model),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "length" if truncated else "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
        if fault == "malformed":
            self._send(200, b'{"id": "chatcmpl-broken", "choices": [', "application/json")
            return
        self._json(200, answer)

