"""SageMaker runtime: `POST /endpoints/{name}/invocations`, answered by sagemaker_model/code/inference.py.

The endpoint must exist and be InService in moto's control plane; each instance is a worker process
(sagemaker_worker.py) started on demand, paying a real cold start, and stopped after `idle_s` without work.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import boto3
import botocore.exceptions as bce
from botocore.config import Config

from ..sagemaker_worker import WorkerProcess
from ..state import Connection
from .wire import FaultAnswers, Handler, Route, apply_fault, aws_error

log = logging.getLogger(__name__)

SERVICE = "sagemaker"
FAULTS = FaultAnswers(
    throttle=lambda: aws_error(400, "ThrottlingException", "Rate exceeded"),
    error=lambda status: aws_error(status, "ServiceUnavailable", "The service is unavailable. Please try again."),
    auth=lambda: aws_error(403, "UnrecognizedClientException", "The security token included in the request is invalid."),
    malformed=b"",  # unused: the model's own answer is cut in half
)


def invoke(h: Handler, match: re.Match[str], query: dict[str, list[str]], body: bytes) -> None:
    h.aws_authorise(body, "sagemaker")
    h.emu.count(SERVICE)
    fault = apply_fault(h.emu.faults, SERVICE, FAULTS)
    content_type = h.headers.get("Content-Type", "application/octet-stream")
    accept = h.headers.get("Accept", "application/json")
    status, out_type, out_body, headers = h.emu.sagemaker.invoke(unquote(match.group(1)), body, content_type, accept)
    if fault == "malformed":
        out_body = out_body[: len(out_body) // 2]
    h.send(status, out_body, out_type, headers, cut=fault == "cut")


ROUTES = (Route("POST", re.compile(r"/endpoints/([^/]+)/invocations"), invoke),)


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
        not_found = aws_error(400, "ValidationError", f"Endpoint {name} of account {self.conn.account_id} not found.")
        try:
            endpoint = self._sm.describe_endpoint(EndpointName=name)
        except bce.ClientError as exc:
            raise not_found from exc
        if endpoint["EndpointStatus"] != "InService":
            raise aws_error(400, "ValidationError", f"Endpoint {name} is not InService ({endpoint['EndpointStatus']}).")
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
                raise aws_error(400, "ThrottlingException", f"Rate exceeded: endpoint {name} allows {concurrency} concurrent invocations.")
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
                raise aws_error(424, "ModelError", f"Received server error (500) from primary: {exc}", {"OriginalStatusCode": 500}) from exc
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
            raise aws_error(
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
