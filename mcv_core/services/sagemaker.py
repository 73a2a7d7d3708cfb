"""SageMaker Serverless endpoint running our TorchScript classifier (sagemaker_model/code/inference.py)."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from typing import Any, Callable

import botocore.exceptions as bce

from .. import pricing, stack
from ..errors import CheckFailed, MalformedResponseError
from ..images import PreparedImage
from ..records import Label, Reply
from . import errors
from .base import Service
from .registry import register

TOP_K = 5


def build_request(image: PreparedImage, top_k: int = TOP_K) -> dict[str, Any]:
    """invoke_endpoint arguments, less the endpoint name: JSON with the base64 image, as the handler accepts."""
    body = {"image": base64.b64encode(image.data).decode("ascii"), "top_k": top_k}
    return {"ContentType": "application/json", "Accept": "application/json", "Body": json.dumps(body).encode()}


def parse_response(body: bytes, endpoint: str) -> Reply:
    """The handler's JSON -> Reply; anything else is a MalformedResponseError."""
    try:
        data = json.loads(body)
        labels = tuple(Label(label=str(item["label"]), score=float(item["score"])) for item in data["labels"])
    except (ValueError, KeyError, TypeError) as exc:
        raise MalformedResponseError(f"endpoint {endpoint} returned an unexpected body: {body[:200]!r}") from exc
    if not labels:
        raise MalformedResponseError(f"endpoint {endpoint} returned no labels")
    timings = {
        key: round(float(data[key]), 3)
        for key in ("model_load_ms", "preprocess_ms", "inference_ms")
        if isinstance(data.get(key), (int, float))
    }
    model_time = None
    if "inference_ms" in timings:
        model_time = round(timings["inference_ms"] + timings.get("preprocess_ms", 0.0), 3)
    output = ", ".join(f"{label.label} ({label.score:.0%})" for label in labels[:3])
    return Reply(
        output=output,
        model=f"{endpoint} ({data.get('model', 'classifier')})",
        labels=labels,
        provider_latency_ms=model_time,
        cold_start=bool(data["cold_start"]) if "cold_start" in data else None,
        timings=timings,
    )


@register
class SageMaker(Service):
    service = "sagemaker"
    service_title = "SageMaker Serverless"
    cloud = "aws"
    # SageMaker Serverless answers MaxConcurrency requests at a time (the endpoint's setting) and throttles the rest.
    default_concurrency = stack.SAGEMAKER_MAX_CONCURRENCY
    required_fields = ()
    field_help = {"endpoint": "set endpoint to the SageMaker endpoint name (default MCV_SAGEMAKER_ENDPOINT)"}
    probe_checks = "InService, serverless memory and concurrency"
    local_part = "local_aws"  # describe_endpoint is the control plane (moto)
    streams = False  # the classifier answers in one body; its model time is the service's own
    log_group_prefix = "/aws/sagemaker/Endpoints/"  # each endpoint's container logs

    @property
    def endpoint(self) -> str:
        return self.target.endpoint or self.settings.require("sagemaker_endpoint")

    @property
    def model_id(self) -> str:
        return self.target.endpoint or self.settings.sagemaker_endpoint or "(MCV_SAGEMAKER_ENDPOINT not set)"

    def call(self, image: PreparedImage, prompt: str, on_text: Callable[[str], None] | None = None) -> Reply:
        # The classifier takes no prompt: it always answers with its top ImageNet labels.
        endpoint = self.endpoint
        client = self.clients.aws("sagemaker-runtime", timeout=self.timeout_s)
        try:
            response = client.invoke_endpoint(EndpointName=endpoint, **build_request(image))
            body = response["Body"].read()
        except (bce.BotoCoreError, bce.ClientError) as exc:
            raise errors.from_botocore(exc) from exc
        reply = parse_response(body, endpoint)
        attempts = int(response.get("ResponseMetadata", {}).get("RetryAttempts", 0)) + 1
        return replace(reply, attempts=attempts)

    def cost(self, reply: Reply) -> float | None:
        return pricing.sagemaker_serverless_cost(
            billed_ms=reply.provider_latency_ms, memory_mb=self.settings.sagemaker_memory_mb, region=self.settings.region
        )

    def probe(self, timeout: float) -> tuple[str, dict[str, Any]]:
        name = self.endpoint
        sm = self.clients.aws("sagemaker", timeout=timeout, max_attempts=1)
        reapply = (
            "`python -m mcv_core local provision` re-applies the local stack"
            if self.settings.is_local
            else "`terraform -chdir=terraform/aws apply` re-applies the stack"
        )
        try:
            endpoint = sm.describe_endpoint(EndpointName=name)
        except bce.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            raise CheckFailed(f"endpoint {name} is not there ({code}): calls fail with not_found", f"restore the endpoint: {reapply}") from exc
        status = endpoint["EndpointStatus"]
        facts: dict[str, Any] = {"endpoint": name, "status": status, "config": endpoint.get("EndpointConfigName")}
        if status in ("Creating", "Updating", "SystemUpdating", "RollingBack"):
            raise CheckFailed(f"endpoint {name} is {status}", "wait: it takes a few minutes", status="warn")
        if status != "InService":
            raise CheckFailed(f"endpoint {name} is {status}: {endpoint.get('FailureReason', '')}", f"restore the endpoint: {reapply}")
        variants = sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])["ProductionVariants"]
        serverless = variants[0].get("ServerlessConfig")
        if not serverless:
            raise CheckFailed(f"endpoint {name} is InService but not serverless", f"restore the serverless endpoint config: {reapply}", status="warn")
        facts.update(memory_mb=serverless["MemorySizeInMB"], max_concurrency=serverless["MaxConcurrency"])
        return f"{name}: InService, serverless {facts['memory_mb']} MB, max concurrency {facts['max_concurrency']}", facts
