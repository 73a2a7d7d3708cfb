"""Bedrock batch inference's control plane (the `bedrock` service, REST-JSON, SigV4 signing name "bedrock"):
CreateModelInvocationJob, GetModelInvocationJob, ListModelInvocationJobs and StopModelInvocationJob
(docs.aws.amazon.com/bedrock/latest/APIReference/API_CreateModelInvocationJob.html and its siblings).

A job reads its JSONL input from the local S3 (`{"recordId", "modelInput"}` lines; modelInvocationType Converse:
a Converse body per record), answers every record through the model's stand-in (bedrock.respond), and writes
`<output s3Uri><job id>/<input file name>.out` (one `{"recordId", "modelInput", "modelOutput"}` or
`{"recordId", "modelInput", "error": {"errorCode", "errorMessage"}}` line per record answered) and
`manifest.json.out` (the record and token counts), as Bedrock does (batch-inference-results.html). States:
Submitted, Validating, InProgress, then Completed, PartiallyCompleted (some records failed), Failed, or
Stopping and Stopped. A job of fewer than 100 records fails at validation, as Bedrock's minimum says.
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Any
from urllib.parse import unquote

import boto3
from botocore.config import Config

from ..state import Connection
from . import bedrock
from .batch_jobs import BatchJobs, JobFailed, States
from .wire import Handler, Route, WireError, aws_error

SERVICE = "bedrock"
MIN_RECORDS = 100
MAX_RECORDS = 50_000
STATES = States(
    submitted="Submitted", validating="Validating", in_progress="InProgress", finalizing=None, completed="Completed",
    partially="PartiallyCompleted", failed="Failed", stopping="Stopping", stopped="Stopped",
)  # fmt: skip
_S3_URI = re.compile(r"s3://([^/]+)/(.*)")


def s3_client(conn: Connection) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=conn.moto_url,
        region_name=conn.region,
        aws_access_key_id=conn.access_key_id,
        aws_secret_access_key=conn.secret_access_key,
        config=Config(s3={"addressing_style": "path"}, retries={"mode": "standard", "total_max_attempts": 3}),
    )


def _split_uri(uri: str) -> tuple[str, str]:
    match = _S3_URI.fullmatch(uri or "")
    if match is None:
        raise aws_error(400, "ValidationException", f"Invalid S3 URI: {uri!r}")
    return match.group(1), match.group(2)


class BedrockRunner:
    """Bedrock's side of the batch engine."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._s3: Any = None

    @property
    def s3(self) -> Any:
        if self._s3 is None:
            self._s3 = s3_client(self.conn)
        return self._s3

    def states(self) -> States:
        return STATES

    def validate(self, job: dict[str, Any]) -> list[Any]:
        bucket, key = _split_uri(job["inputDataConfig"]["s3InputDataConfig"]["s3Uri"])
        keys = [key] if not key.endswith("/") and key else self._keys(bucket, key)
        records: list[Any] = []
        for name in keys:
            try:
                body = self.s3.get_object(Bucket=bucket, Key=name)["Body"].read()
            except Exception as exc:  # noqa: BLE001 - any failure to read is the job's failure, as in Bedrock
                raise JobFailed(f"Unable to read the input file s3://{bucket}/{name}: {exc}") from exc
            for number, line in enumerate(body.splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    data = json.loads(line)
                    record = {"recordId": str(data["recordId"]), "modelInput": data["modelInput"], "file": name}
                except (ValueError, KeyError, TypeError) as exc:
                    raise JobFailed(f"Invalid JSONL at line {number} of s3://{bucket}/{name}: {exc}") from exc
                records.append(record)
        if len(records) < MIN_RECORDS:
            raise JobFailed(f"Batch job contains fewer records ({len(records)}) than the required minimum of {MIN_RECORDS}.")
        if len(records) > MAX_RECORDS:
            raise JobFailed(f"Batch job contains more records ({len(records)}) than the allowed maximum of {MAX_RECORDS}.")
        return records

    def _keys(self, bucket: str, prefix: str) -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", []) if item["Key"].endswith(".jsonl")]

    def answer(self, job: dict[str, Any], record: Any, failed: bool) -> tuple[bool, Any]:
        line: dict[str, Any] = {"recordId": record["recordId"], "modelInput": record["modelInput"], "file": record["file"]}
        if failed:
            line["error"] = {"errorCode": 500, "errorMessage": "Model invocation failed: an internal error occurred (injected fault)."}
            return False, line
        model = bedrock.served_model(job["modelId"])
        assert model is not None  # checked when the job was created
        try:
            text, stop_reason, input_tokens, output_tokens = bedrock.respond(model, json.dumps(record["modelInput"]).encode())
        except WireError as exc:
            line["error"] = {"errorCode": exc.status, "errorMessage": str(exc.body.get("message", exc.body))}
            return False, line
        line["modelOutput"] = {
            "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
            "stopReason": stop_reason,
            "usage": {"inputTokens": input_tokens, "outputTokens": output_tokens, "totalTokens": input_tokens + output_tokens},
        }
        return True, line

    def finish(self, job: dict[str, Any], outputs: list[tuple[bool, Any]]) -> dict[str, Any]:
        bucket, prefix = _split_uri(job["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"])
        prefix = prefix if prefix.endswith("/") or not prefix else prefix + "/"
        folder = f"{prefix}{job['id']}/"
        by_file: dict[str, list[bytes]] = {}
        tokens_in = tokens_out = 0
        for ok, line in outputs:
            name = line.pop("file").rsplit("/", 1)[-1]
            by_file.setdefault(name, []).append(json.dumps(line).encode())
            usage = (line.get("modelOutput") or {}).get("usage") or {}
            tokens_in += usage.get("inputTokens", 0)
            tokens_out += usage.get("outputTokens", 0)
        for name, lines in by_file.items():
            self.s3.put_object(Bucket=bucket, Key=f"{folder}{name}.out", Body=b"\n".join(lines) + b"\n")
        manifest = {
            "totalRecordCount": job.get("total", 0),
            "processedRecordCount": len(outputs),
            "successRecordCount": sum(1 for ok, _ in outputs if ok),
            "errorRecordCount": sum(1 for ok, _ in outputs if not ok),
            "inputTokenCount": tokens_in,
            "outputTokenCount": tokens_out,
        }
        self.s3.put_object(Bucket=bucket, Key=f"{folder}manifest.json.out", Body=json.dumps(manifest).encode())
        return {}


def _arn(h: Handler, job_id: str) -> str:
    return f"arn:aws:bedrock:{h.emu.conn.region}:{h.emu.conn.account_id}:model-invocation-job/{job_id}"


def _job_id(h: Handler, identifier: str) -> str:
    return unquote(identifier).rsplit("/", 1)[-1]


def _engine(h: Handler) -> BatchJobs:
    return h.emu.batch  # type: ignore[attr-defined,no-any-return]


def _describe(h: Handler, job: dict[str, Any]) -> dict[str, Any]:
    out = {
        "jobArn": _arn(h, job["id"]),
        "jobName": job["jobName"],
        "modelId": job["modelId"],
        "roleArn": job["roleArn"],
        "status": job["status"],
        "submitTime": job["submitted_at"],
        "lastModifiedTime": job["updated_at"],
        "inputDataConfig": job["inputDataConfig"],
        "outputDataConfig": job["outputDataConfig"],
        "timeoutDurationInHours": job.get("timeoutDurationInHours", 24),
        "modelInvocationType": job.get("modelInvocationType", "InvokeModel"),
        "totalRecordCount": job.get("total", 0),
        "processedRecordCount": job.get("processed", 0),
        "successRecordCount": job.get("succeeded", 0),
        "errorRecordCount": job.get("errored", 0),
    }
    if job.get("clientRequestToken"):
        out["clientRequestToken"] = job["clientRequestToken"]
    if job.get("message"):
        out["message"] = job["message"]
    if job.get("ended_at"):
        out["endTime"] = job["ended_at"]
    return out


def create(h: Handler, match: re.Match[str], query: dict[str, list[str]], body: bytes) -> None:
    h.aws_authorise(body, SERVICE)
    try:
        request = json.loads(body)
        name, role, model_id = str(request["jobName"]), str(request["roleArn"]), str(request["modelId"])
        input_uri = request["inputDataConfig"]["s3InputDataConfig"]["s3Uri"]
        output_uri = request["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"]
    except (ValueError, KeyError, TypeError) as exc:
        raise aws_error(400, "ValidationException", f"Invalid request: missing or malformed {exc}") from exc
    _split_uri(input_uri)
    _split_uri(output_uri)
    if bedrock.served_model(model_id) is None:
        raise aws_error(400, "ValidationException", "The provided model identifier is invalid.")
    if not re.fullmatch(rf"arn:aws:iam::{h.emu.conn.account_id}:role/[\w+=,.@-]+", role):
        raise aws_error(400, "ValidationException", f"The provided role ARN is not valid: {role}")
    engine = _engine(h)
    token = request.get("clientRequestToken")
    if token:  # the same token twice creates one job (idempotency)
        same = engine.find(lambda job: job["service"] == SERVICE and job.get("clientRequestToken") == token)
        if same:
            h.send_json(200, {"jobArn": _arn(h, same[0]["id"])})
            return
    if engine.find(lambda job: job["service"] == SERVICE and job["jobName"] == name):
        raise aws_error(400, "ConflictException", f"A batch inference job with the name {name} already exists.")
    job_id = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(12))
    engine.add(
        {
            "id": job_id,
            "service": SERVICE,
            "jobName": name,
            "roleArn": role,
            "modelId": model_id,
            "clientRequestToken": token,
            "inputDataConfig": request["inputDataConfig"],
            "outputDataConfig": request["outputDataConfig"],
            "timeoutDurationInHours": request.get("timeoutDurationInHours", 24),
            "modelInvocationType": request.get("modelInvocationType", "InvokeModel"),
        }
    )
    h.send_json(200, {"jobArn": _arn(h, job_id)})


def get(h: Handler, match: re.Match[str], query: dict[str, list[str]], body: bytes) -> None:
    h.aws_authorise(body, SERVICE)
    job = _engine(h).get(_job_id(h, match.group(1)))
    if job is None or job["service"] != SERVICE:
        raise aws_error(404, "ResourceNotFoundException", "The specified batch inference job was not found.")
    h.send_json(200, _describe(h, job))


def listing(h: Handler, match: re.Match[str], query: dict[str, list[str]], body: bytes) -> None:
    h.aws_authorise(body, SERVICE)
    status = (query.get("statusEquals") or [None])[0]
    name = (query.get("nameContains") or [""])[0]
    jobs = _engine(h).find(
        lambda job: job["service"] == SERVICE and (status is None or job["status"] == status) and name in job["jobName"]
    )
    jobs.sort(key=lambda job: job["submitted_at"], reverse=True)
    h.send_json(200, {"invocationJobSummaries": [_describe(h, job) for job in jobs]})


def stop(h: Handler, match: re.Match[str], query: dict[str, list[str]], body: bytes) -> None:
    h.aws_authorise(body, SERVICE)
    engine = _engine(h)
    job = engine.get(_job_id(h, match.group(1)))
    if job is None or job["service"] != SERVICE:
        raise aws_error(404, "ResourceNotFoundException", "The specified batch inference job was not found.")
    if job["status"] in STATES.final:
        raise aws_error(400, "ValidationException", f"The batch inference job is {job['status']} and cannot be stopped.")
    engine.stop(job["id"])
    h.send_json(200, {})


ROUTES = (
    Route("POST", re.compile(r"/model-invocation-job"), create),
    Route("GET", re.compile(r"/model-invocation-jobs"), listing),
    Route("GET", re.compile(r"/model-invocation-job/([^/]+)"), get),
    Route("POST", re.compile(r"/model-invocation-job/([^/]+)/stop"), stop),
)
