"""SageMaker Batch Transform's control plane (the `sagemaker` service, JSON protocol: POST / with X-Amz-Target
`SageMaker.<Operation>`, SigV4 signing name "sagemaker"): CreateTransformJob, DescribeTransformJob,
StopTransformJob and ListTransformJobs (docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateTransformJob.html
and its siblings). moto keeps the rest of SageMaker's control plane (the model, the endpoint); it stores transform
jobs but never runs them, so the clients send these four operations here (clients.py, in local mode only).

A job lists the objects under its input prefix in the local S3 (S3DataType S3Prefix; each object one record,
SplitType None), starts an instance of its model as SageMaker does — the model's ModelDataUrl (model.tar.gz) from
the local S3, unpacked and served by sagemaker_model/code/inference.py in a worker process of its own
(sagemaker_worker.py, the endpoint's serving container), a real cold start — sends each object to it with the job's
ContentType and Accept, and writes each answer to `<S3OutputPath><object's path under the prefix>.out`, as
SageMaker does (batch-transform.html). States: InProgress, then Completed; Failed (a record the model refused, or
the job could not start; FailureReason says why, and the outputs of the records answered are kept, as SageMaker
keeps the files it processed); Stopping and Stopped (a stopped job stores no output: API_StopTransformJob.html).
TransformStartTime is when its instance starts, TransformEndTime when the job ends: what the job is billed for.
"""

from __future__ import annotations

import json
import re
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions as bce
from botocore.config import Config

from ..sagemaker_worker import WorkerProcess
from ..state import Connection
from .batch_jobs import BatchJobs, JobFailed, States
from .bedrock_batch import s3_client
from .wire import Handler, Route, WireError, aws_error

SERVICE = "sagemaker"
TARGET_PREFIX = "SageMaker."
STATES = States(
    submitted="InProgress", validating="InProgress", in_progress="InProgress", finalizing=None, completed="Completed",
    partially=None, failed="Failed", stopping="Stopping", stopped="Stopped", fails_on_record_error=True,
)  # fmt: skip
MAX_PAYLOAD_LIMIT_MB = 100  # API_CreateTransformJob.html: MaxPayloadInMB cannot be greater than 100
DEFAULT_PAYLOAD_MB = 6
DEFAULT_INVOCATION_TIMEOUT_S = 600  # ModelClientConfig.InvocationsTimeoutInSeconds' default
_JOB_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
_S3_URI = re.compile(r"s3://([^/]+)/?(.*)")


def _error(code: str, message: str) -> WireError:
    # The JSON protocol's error: botocore reads `__type` (and x-amzn-ErrorType) for the code.
    return aws_error(400, code, message, {"__type": code})


def _split_uri(uri: str) -> tuple[str, str]:
    match = _S3_URI.fullmatch(uri or "")
    if match is None:
        raise _error("ValidationException", f"Invalid S3 URI: {uri!r}")
    return match.group(1), match.group(2)


def _moto_sagemaker(conn: Connection) -> Any:
    return boto3.client(
        "sagemaker",
        endpoint_url=conn.moto_url,
        region_name=conn.region,
        aws_access_key_id=conn.access_key_id,
        aws_secret_access_key=conn.secret_access_key,
        config=Config(retries={"mode": "standard", "total_max_attempts": 3}),
    )


class TransformRunner:
    """SageMaker's side of the batch engine: one instance (a worker process) per job, while the job runs."""

    def __init__(self, conn: Connection, work_root: Path) -> None:
        self.conn = conn
        self.work_root = work_root
        self._s3: Any = None
        self._sm: Any = None
        self._lock = threading.Lock()
        self._worker: WorkerProcess | None = None

    @property
    def s3(self) -> Any:
        if self._s3 is None:
            self._s3 = s3_client(self.conn)
        return self._s3

    @property
    def sm(self) -> Any:
        if self._sm is None:
            self._sm = _moto_sagemaker(self.conn)
        return self._sm

    def states(self) -> States:
        return STATES

    def model_data_url(self, model: str) -> str | None:
        """The model's artifact in moto's control plane, or None when there is no such model."""
        try:
            return str(self.sm.describe_model(ModelName=model)["PrimaryContainer"]["ModelDataUrl"])
        except bce.ClientError:
            return None

    def validate(self, job: dict[str, Any]) -> list[Any]:
        bucket, prefix = _split_uri(job["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"])
        try:
            pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            found = [item for page in pages for item in page.get("Contents", []) if not item["Key"].endswith("/")]
        except bce.ClientError as exc:
            raise JobFailed(f"ClientError: Unable to list the input data source s3://{bucket}/{prefix}: {exc}") from exc
        if not found:
            raise JobFailed(
                f'ClientError: No S3 objects found under S3 URL "s3://{bucket}/{prefix}" given in input data source. '
                "Please ensure that the bucket exists in the selected region, that objects exist under that S3 prefix."
            )
        model_url = self.model_data_url(job["ModelName"])
        if model_url is None:
            raise JobFailed(f"ClientError: Could not find model \"{job['ModelName']}\".")
        self._start_instance(job, model_url)
        base = prefix if prefix.endswith("/") or not prefix else prefix.rsplit("/", 1)[0] + "/"
        return [
            {"bucket": bucket, "key": item["Key"], "name": item["Key"][len(base) :], "size": item["Size"]}
            for item in found
        ]

    def _start_instance(self, job: dict[str, Any], model_url: str) -> None:
        """The job's instance, as on SageMaker: fetch model.tar.gz from S3, start the container, load the model."""
        self.close()
        folder = self.work_root / job["id"]
        folder.mkdir(parents=True, exist_ok=True)
        bucket, _, key = model_url.removeprefix("s3://").partition("/")
        tar = folder / "model.tar.gz"
        try:
            self.s3.download_file(bucket, key, str(tar))
            worker = WorkerProcess(tar, folder / "model")
            worker.start()
        except (bce.BotoCoreError, bce.ClientError, OSError, RuntimeError) as exc:
            raise JobFailed(f"AlgorithmError: the model's container did not start: {exc}") from exc
        with self._lock:
            self._worker = worker

    def answer(self, job: dict[str, Any], record: Any, failed: bool) -> tuple[bool, Any]:
        line = {"key": record["key"], "name": record["name"]}
        limit = int(job.get("MaxPayloadInMB") or DEFAULT_PAYLOAD_MB) * 1024 * 1024
        if failed:
            return False, {**line, "error": "Received server error (500) from model: internal error (injected fault)"}
        if limit and record["size"] > limit:
            too_big = f"the record is {record['size']:,} bytes, more than MaxPayloadInMB allows ({limit:,})"
            return False, {**line, "error": too_big}
        with self._lock:
            worker = self._worker
        try:
            body = self.s3.get_object(Bucket=record["bucket"], Key=record["key"])["Body"].read()
            if worker is None:
                raise RuntimeError("the job's instance is not running")
            config = job.get("ModelClientConfig") or {}
            timeout = float(config.get("InvocationsTimeoutInSeconds", DEFAULT_INVOCATION_TIMEOUT_S))
            accept = job.get("TransformOutput", {}).get("Accept") or "application/json"
            status, out_type, out_body = worker.invoke(body, job["TransformInput"].get("ContentType"), accept, timeout)
        except (bce.BotoCoreError, bce.ClientError, OSError, RuntimeError) as exc:
            return False, {**line, "error": f"the record could not be sent to the model: {exc}"}
        if status != 200:
            refused = f"Received client error ({status}) from model with message {_message_of(out_body)!r}"
            return False, {**line, "error": refused}
        return True, {**line, "body": out_body, "content_type": out_type or accept}

    def finish(self, job: dict[str, Any], outputs: list[tuple[bool, Any]]) -> dict[str, Any]:
        self.close()  # the job's instance goes away with it
        if job.get("stop"):
            return {}  # a stopped job stores no output (API_StopTransformJob.html)
        bucket, prefix = _split_uri(job["TransformOutput"]["S3OutputPath"])
        prefix = prefix if prefix.endswith("/") or not prefix else prefix + "/"
        for ok, line in outputs:
            if ok:
                key = f"{prefix}{line['name']}.out"
                self.s3.put_object(Bucket=bucket, Key=key, Body=line["body"], ContentType=line["content_type"])
        failures = [line for ok, line in outputs if not ok]
        if not failures:
            return {}
        first = failures[0]
        return {
            "message": f"ClientError: {len(failures)} of {len(outputs)} records failed; the first, {first['name']}: "
            f"{first['error']}. See job logs for more information."
        }

    def close(self) -> None:
        with self._lock:
            worker, self._worker = self._worker, None
        if worker is not None:
            worker.stop()


def _message_of(body: bytes) -> str:
    try:
        return str(json.loads(body).get("message", body[:200].decode(errors="replace")))
    except (ValueError, AttributeError):
        return body[:200].decode(errors="replace")


# --- the control plane ------------------------------------------------------------------------------------------


def _engine(h: Handler) -> BatchJobs:
    return h.emu.batch  # type: ignore[attr-defined,no-any-return]


def _runner(h: Handler) -> TransformRunner:
    return _engine(h).runners[SERVICE]  # type: ignore[return-value]


def _arn(h: Handler, name: str) -> str:
    return f"arn:aws:sagemaker:{h.emu.conn.region}:{h.emu.conn.account_id}:transform-job/{name.lower()}"


def _epoch(iso: str | None) -> float | None:
    if not iso:
        return None
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _describe(h: Handler, job: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "TransformJobName": job["TransformJobName"],
        "TransformJobArn": _arn(h, job["TransformJobName"]),
        "TransformJobStatus": job["status"],
        "ModelName": job["ModelName"],
        "MaxConcurrentTransforms": job.get("MaxConcurrentTransforms", 1),
        "MaxPayloadInMB": job.get("MaxPayloadInMB", DEFAULT_PAYLOAD_MB),
        "BatchStrategy": job.get("BatchStrategy", "MultiRecord"),
        "TransformInput": job["TransformInput"],
        "TransformOutput": job["TransformOutput"],
        "TransformResources": job["TransformResources"],
        "CreationTime": _epoch(job["submitted_at"]),
    }
    for key in ("Environment", "ModelClientConfig", "DataProcessing"):
        if job.get(key):
            out[key] = job[key]
    if job["status"] == STATES.failed and job.get("message"):
        out["FailureReason"] = job["message"]
    if job.get("started_at"):
        out["TransformStartTime"] = _epoch(job["started_at"])
    if job.get("ended_at"):
        out["TransformEndTime"] = _epoch(job["ended_at"])
    return out


def _summary(h: Handler, job: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "TransformJobName": job["TransformJobName"],
        "TransformJobArn": _arn(h, job["TransformJobName"]),
        "CreationTime": _epoch(job["submitted_at"]),
        "LastModifiedTime": _epoch(job["updated_at"]),
        "TransformJobStatus": job["status"],
    }
    if job.get("ended_at"):
        out["TransformEndTime"] = _epoch(job["ended_at"])
    if job["status"] == STATES.failed and job.get("message"):
        out["FailureReason"] = job["message"]
    return out


def _find(h: Handler, name: str) -> dict[str, Any]:
    job = _engine(h).get(str(name))
    if job is None or job["service"] != SERVICE:
        raise _error("ResourceNotFound", f"Could not find requested job with name {name}")
    return job


def create(h: Handler, request: dict[str, Any]) -> dict[str, Any]:
    try:
        name, model = str(request["TransformJobName"]), str(request["ModelName"])
        source = request["TransformInput"]["DataSource"]["S3DataSource"]
        output_path = request["TransformOutput"]["S3OutputPath"]
        resources = request["TransformResources"]
        instance_type, count = str(resources["InstanceType"]), int(resources["InstanceCount"])
    except (KeyError, TypeError, ValueError) as exc:
        raise _error("ValidationException", f"1 validation error detected: missing or malformed {exc}") from exc
    if not _JOB_NAME.fullmatch(name):
        raise _error(
            "ValidationException",
            f"Value '{name}' at 'transformJobName' failed to satisfy constraint: Member must satisfy regular "
            "expression pattern: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}",
        )
    if source.get("S3DataType") != "S3Prefix":
        kind = source.get("S3DataType")
        raise _error("ValidationException", f"S3DataType {kind!r} is not served by the local cloud: use S3Prefix")
    _split_uri(source.get("S3Uri", ""))
    _split_uri(output_path)
    payload = int(request.get("MaxPayloadInMB", DEFAULT_PAYLOAD_MB))
    if not 0 <= payload <= MAX_PAYLOAD_LIMIT_MB:
        raise _error("ValidationException", f"MaxPayloadInMB {payload} cannot be greater than {MAX_PAYLOAD_LIMIT_MB}")
    if not instance_type.startswith("ml.") or count < 1:
        raise _error("ValidationException", f"Invalid TransformResources: {instance_type} x {count}")
    if _runner(h).model_data_url(model) is None:
        raise _error("ValidationException", f'Could not find model "{model}".')
    engine = _engine(h)
    if engine.get(name) is not None:
        raise _error(
            "ResourceInUse",
            "Job name must be unique within an AWS account and region, and a job with this name already exists "
            f"({_arn(h, name)})",
        )
    fields = (
        "ModelName", "MaxConcurrentTransforms", "MaxPayloadInMB", "BatchStrategy", "Environment", "ModelClientConfig",
        "TransformInput", "TransformOutput", "TransformResources", "DataProcessing",
    )  # fmt: skip
    given = {key: request[key] for key in fields if key in request}
    engine.add({"id": name, "service": SERVICE, "TransformJobName": name, **given})
    return {"TransformJobArn": _arn(h, name)}


def describe(h: Handler, request: dict[str, Any]) -> dict[str, Any]:
    return _describe(h, _find(h, str(request.get("TransformJobName", ""))))


def stop(h: Handler, request: dict[str, Any]) -> dict[str, Any]:
    job = _find(h, str(request.get("TransformJobName", "")))
    if job["status"] in STATES.final:
        name, status = job["TransformJobName"], job["status"]
        raise _error("ValidationException", f"The transform job {name} is {status} and cannot be stopped.")
    _engine(h).stop(job["id"])
    return {}


def listing(h: Handler, request: dict[str, Any]) -> dict[str, Any]:
    status, contains = request.get("StatusEquals"), str(request.get("NameContains", ""))
    jobs = _engine(h).find(
        lambda job: job["service"] == SERVICE
        and (status is None or job["status"] == status)
        and contains in job["TransformJobName"]
    )
    key = "TransformJobName" if request.get("SortBy") == "Name" else "submitted_at"
    jobs.sort(key=lambda job: job[key], reverse=request.get("SortOrder", "Descending") == "Descending")
    start = int(request.get("NextToken") or 0)
    size = int(request.get("MaxResults", 10))
    out: dict[str, Any] = {"TransformJobSummaries": [_summary(h, job) for job in jobs[start : start + size]]}
    if start + size < len(jobs):
        out["NextToken"] = str(start + size)
    return out


OPERATIONS = {
    "CreateTransformJob": create,
    "DescribeTransformJob": describe,
    "StopTransformJob": stop,
    "ListTransformJobs": listing,
}


def dispatch(h: Handler, match: re.Match[str], query: dict[str, list[str]], body: bytes) -> None:
    h.aws_authorise(body, SERVICE)
    target = h.headers.get("X-Amz-Target", "")
    operation = OPERATIONS.get(target.removeprefix(TARGET_PREFIX)) if target.startswith(TARGET_PREFIX) else None
    if operation is None:
        raise _error("UnknownOperationException", f"The local cloud serves SageMaker transform jobs here, not {target!r}")
    try:
        request = json.loads(body or b"{}")
    except ValueError as exc:
        raise _error("SerializationException", f"the request body is not JSON: {exc}") from exc
    if not isinstance(request, dict):
        raise _error("SerializationException", "the request body is not a JSON object")
    h.send(200, json.dumps(operation(h, request)).encode(), "application/x-amz-json-1.1")


ROUTES = (Route("POST", re.compile(r"/"), dispatch),)
