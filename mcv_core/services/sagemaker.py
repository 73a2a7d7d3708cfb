"""SageMaker Serverless endpoint running our TorchScript classifier (sagemaker_model/code/inference.py), and
SageMaker Batch Transform jobs on the same model (the model.tar.gz and handler behind the endpoint) for batch
benchmarks: each record one JSON object under an S3 prefix, answered into `<object>.out` under the output prefix."""

from __future__ import annotations

import base64
import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, Callable

import botocore.exceptions as bce

from .. import pricing, stack
from ..errors import CheckFailed, MalformedResponseError
from ..images import PreparedImage
from ..records import Label, Reply
from . import batch_role, errors
from .base import BatchLimits, BatchOutput, BatchState, Service
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


# --- Batch Transform (CreateTransformJob over the record objects under an S3 prefix, one record per request) --------

# docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateTransformJob.html: MaxPayloadInMB (default 6, at
# most 100) must hold one record, and with SplitType None each object is one record; a job has no minimum of
# records, and no maximum of objects under its prefix is published, so a job here holds at most 10,000 records
# (a job is listed, read and joined whole) and no byte limit of its own beyond its records'.
TRANSFORM_MAX_PAYLOAD_MB = 6
TRANSFORM_MAX_RECORDS = 10_000
BATCH_LIMITS = BatchLimits(
    1,
    TRANSFORM_MAX_RECORDS,
    TRANSFORM_MAX_RECORDS * TRANSFORM_MAX_PAYLOAD_MB * 1024 * 1024,
    "docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateTransformJob.html (MaxPayloadInMB)",
    max_record_bytes=TRANSFORM_MAX_PAYLOAD_MB * 1024 * 1024,
)
# DescribeTransformJob's TransformJobStatus -> phase (API_DescribeTransformJob.html). Stopping is not over yet: a
# job asked to stop may still end Completed, and its output is read once it has ended.
BATCH_PHASES = {
    "InProgress": "running", "Stopping": "running", "Completed": "done", "Failed": "failed", "Stopped": "cancelled",
}  # fmt: skip
TRANSFORM_CONTENT_TYPE = "application/json"  # the handler's input_fn reads the online call's JSON body


def transform_job_name(name: str) -> str:
    """A job name SageMaker accepts ([a-zA-Z0-9] with inner hyphens, at most 63 characters); unique per job here."""
    cleaned = re.sub(r"[^a-zA-Z0-9]+", "-", f"mcv-{name}").strip("-")
    return cleaned[:63].rstrip("-")


def batch_record(record_id: str, image: PreparedImage) -> dict[str, Any]:
    """One record: its id and the object its transform job reads, the online call's JSON body (the same handler
    answers both)."""
    return {"recordId": record_id, "body": json.loads(build_request(image)["Body"])}


def transform_request(name: str, model: str, bucket: str, where: str, instance_type: str) -> dict[str, Any]:
    """create_transform_job arguments: every object under the job's input prefix is one record (SplitType None,
    SingleRecord), answered into `<object>.out` under its output prefix, on one instance of `instance_type`."""
    return {
        "TransformJobName": name,
        "ModelName": model,
        "MaxConcurrentTransforms": 1,
        "MaxPayloadInMB": TRANSFORM_MAX_PAYLOAD_MB,
        "BatchStrategy": "SingleRecord",
        "TransformInput": {
            "DataSource": {
                "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/{stack.BATCH_INPUT_PREFIX}{where}/"}
            },
            "ContentType": TRANSFORM_CONTENT_TYPE,
            "CompressionType": "None",
            "SplitType": "None",
        },
        "TransformOutput": {
            "S3OutputPath": f"s3://{bucket}/{stack.BATCH_OUTPUT_PREFIX}{where}/",
            "Accept": "application/json",
            "AssembleWith": "None",
        },
        "TransformResources": {"InstanceType": instance_type, "InstanceCount": 1},
    }


def transform_state(job: dict[str, Any], region: str) -> BatchState:
    """DescribeTransformJob -> BatchState: the status, FailureReason as the message, and once the job has ended its
    bill (its instances' time between TransformStartTime and TransformEndTime, pricing.py)."""
    status = str(job.get("TransformJobStatus"))
    resources = job.get("TransformResources") or {}
    cost = pricing.sagemaker_transform_cost(
        job.get("TransformStartTime"),
        job.get("TransformEndTime"),
        str(resources.get("InstanceType", "")),
        int(resources.get("InstanceCount", 1)),
        region,
    )
    return BatchState(
        job_id=str(job.get("TransformJobName")),
        status=status,
        phase=BATCH_PHASES.get(status, "running"),
        message=job.get("FailureReason") or None,
        cost_usd=cost,
        ended_at=job.get("TransformEndTime"),
    )


def parse_transform_output(key: str, body: bytes, endpoint: str) -> BatchOutput:
    """`<prefix>/<record id>.out` and its body (the handler's JSON) -> (record id, Reply or error)."""
    record = key.rsplit("/", 1)[-1].removesuffix(".out")
    try:
        return record, parse_response(body, endpoint)
    except MalformedResponseError as exc:
        return record, exc


def transform_role_problems(trust: dict[str, Any], policies: list[dict[str, Any]]) -> list[str]:
    """What keeps the model's execution role from running Batch Transform jobs here (terraform/aws: the SageMaker
    role's ReadBatchInputs and WriteBatchOutputs)."""
    return batch_role.problems(trust, policies, "sagemaker.amazonaws.com", "SageMaker")


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
    batch_limits = BATCH_LIMITS

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

    # --- batch: Batch Transform
    def batch_line(self, record_id: str, image: PreparedImage, prompt: str) -> dict[str, Any]:
        return batch_record(record_id, image)  # the classifier takes no prompt

    def _model_name(self) -> str:
        """The SageMaker model behind the endpoint (its endpoint config's variant): its model.tar.gz and handler."""
        sm = self.clients.aws("sagemaker")
        endpoint = sm.describe_endpoint(EndpointName=self.endpoint)
        variants = sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])["ProductionVariants"]
        return str(variants[0]["ModelName"])

    def batch_submit(self, where: str, name: str, lines: bytes) -> str:
        """Each record to `<input prefix><where>/<record id>` (the JSON body), then one transform job over them.
        A job name is unique in the account: submitting the same `name` again finds the job it made."""
        bucket = self.settings.require("upload_bucket")
        records = [json.loads(line) for line in lines.splitlines() if line.strip()]
        s3 = self.clients.aws("s3")
        job_name = transform_job_name(name)

        def put(record: dict[str, Any]) -> None:
            key = f"{stack.BATCH_INPUT_PREFIX}{where}/{record['recordId']}"
            body = json.dumps(record["body"]).encode()
            s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=TRANSFORM_CONTENT_TYPE)

        try:
            with ThreadPoolExecutor(max_workers=8, thread_name_prefix="mcv-transform-put") as pool:
                list(pool.map(put, records))
            instance_type = self.settings.transform_instance_type
            request = transform_request(job_name, self._model_name(), bucket, where, instance_type)
            self.clients.aws("sagemaker").create_transform_job(**request)
        except bce.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceInUse":
                raise errors.from_botocore(exc) from exc
        except bce.BotoCoreError as exc:
            raise errors.from_botocore(exc) from exc
        return job_name

    def batch_state(self, job_id: str) -> BatchState:
        try:
            job = self.clients.aws("sagemaker").describe_transform_job(TransformJobName=job_id)
        except (bce.BotoCoreError, bce.ClientError) as exc:
            raise errors.from_botocore(exc) from exc
        return transform_state(job, self.settings.region)

    def batch_cancel(self, job_id: str) -> None:
        try:
            self.clients.aws("sagemaker").stop_transform_job(TransformJobName=job_id)
        except bce.ClientError as exc:
            # A job that has already ended cannot be stopped: there is nothing left to cancel.
            if exc.response.get("Error", {}).get("Code") != "ValidationException":
                raise errors.from_botocore(exc) from exc
        except bce.BotoCoreError as exc:
            raise errors.from_botocore(exc) from exc

    def batch_outputs(self, job_id: str, where: str) -> list[BatchOutput]:
        """The `<record id>.out` objects under the job's output prefix. A record with none has no line here: in a
        failed job it becomes an error with the job's FailureReason (batch.collect); a stopped job stores no output
        at all (AWS: StopTransformJob)."""
        bucket = self.settings.require("upload_bucket")
        prefix = f"{stack.BATCH_OUTPUT_PREFIX}{where}/"
        s3 = self.clients.aws("s3")
        try:
            keys = [
                item["Key"]
                for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
                for item in page.get("Contents", [])
                if item["Key"].endswith(".out")
            ]
            found: list[BatchOutput] = []
            for key in sorted(keys):
                body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
                found.append(parse_transform_output(key, body, self.endpoint))
        except (bce.BotoCoreError, bce.ClientError) as exc:
            raise errors.from_botocore(exc) from exc
        return found

    batch_probe_checks = "the endpoint's model and its role: trusted by SageMaker, reads batch inputs, writes outputs"

    def batch_probe(self, timeout: float) -> tuple[str, dict[str, Any]]:
        """A transform job runs the endpoint's model as the model's execution role: both must be there, and the
        role must let the job read the inputs and write the outputs. Read from the control plane and IAM only."""
        reapply = (
            "`python -m mcv_core local provision` re-applies the local stack"
            if self.settings.is_local
            else "`terraform -chdir=terraform/aws apply` re-applies the stack"
        )
        sm = self.clients.aws("sagemaker", timeout=timeout, max_attempts=1)
        try:
            endpoint = sm.describe_endpoint(EndpointName=self.endpoint)
        except bce.ClientError as exc:  # the endpoint's own check fails for it: this one only follows
            what = f"not checked: endpoint {self.endpoint}, whose model transform jobs run, is not there"
            raise CheckFailed(what, f"restore the endpoint: {reapply}", status="warn") from exc
        except bce.BotoCoreError as exc:
            what = f"SageMaker's control plane did not answer: {exc}"
            raise CheckFailed(what, "check the region and the credentials") from exc
        try:
            config = sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
            model_name = str(config["ProductionVariants"][0]["ModelName"])
            model = sm.describe_model(ModelName=model_name)
        except bce.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            what = f"the model behind endpoint {self.endpoint} cannot be read ({code})"
            raise CheckFailed(what, f"restore it: {reapply}") from exc
        except bce.BotoCoreError as exc:
            what = f"SageMaker's control plane did not answer: {exc}"
            raise CheckFailed(what, "check the region and the credentials") from exc
        role_arn = str(model.get("ExecutionRoleArn", ""))
        role_name = role_arn.rsplit("/", 1)[-1]
        iam = self.clients.aws("iam", timeout=timeout, max_attempts=1)
        try:
            trust, policies = batch_role.read_role(iam, role_name)
        except bce.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            what = f"model {model_name}'s role {role_name} cannot be read ({code})"
            raise CheckFailed(what, f"restore the role: {reapply}") from exc
        except bce.BotoCoreError as exc:
            raise CheckFailed(f"IAM did not answer: {exc}", "check the credentials") from exc
        problems = transform_role_problems(trust, policies)
        if problems:
            what = f"model {model_name}'s role {role_name}: " + "; ".join(problems)
            raise CheckFailed(what, f"restore the role's policies: {reapply}")
        instance = self.settings.transform_instance_type
        return (
            f"model {model_name}, role {role_name}: trusted by SageMaker, reads {stack.BATCH_INPUT_PREFIX}, writes "
            f"{stack.BATCH_OUTPUT_PREFIX}; jobs on {instance}",
            {"model": model_name, "role": role_arn, "instance_type": instance},
        )
