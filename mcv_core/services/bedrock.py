"""Amazon Bedrock through the Converse API with an image block: Claude, Nova, Llama 3.2 Vision, Pixtral (any
Bedrock model id or inference profile that takes images).

Streamed (the default): ConverseStream, whose events botocore parses from the AWS event stream —
messageStart, contentBlockDelta (the text), contentBlockStop, messageStop, then metadata (usage, and the
service's own metrics.latencyMs). Unstreamed (MCV_STREAM=0 or the target's `stream = false`): Converse.
"""

from __future__ import annotations

import base64
import json
from typing import Any, Callable, Iterable

import botocore.eventstream
import botocore.exceptions as bce
import botocore.parsers
import urllib3.exceptions

from .. import formatting as fmt
from .. import stack
from ..errors import CheckFailed, InvalidRequestError, MalformedResponseError, ProviderError, UsageError
from ..images import PreparedImage
from ..records import Reply
from ..timing import StreamTimer
from . import batch_role, errors
from .base import HEALTH_PROMPT, BatchLimits, BatchOutput, BatchState, Service
from .registry import register


def build_request(model_id: str, image: PreparedImage, prompt: str, max_tokens: int, temperature: float = 0.0) -> dict[str, Any]:
    """converse() arguments: the image first, then the question, as Anthropic and Amazon recommend."""
    return {
        "modelId": model_id,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"image": {"format": image.format, "source": {"bytes": image.data}}},
                    {"text": prompt},
                ],
            }
        ],
        "inferenceConfig": {"maxTokens": max_tokens, "temperature": temperature},
    }


def parse_response(response: dict[str, Any], model_id: str, image_tokens: int | None) -> Reply:
    try:
        content = response["output"]["message"]["content"]
        text = "".join(block["text"] for block in content if "text" in block).strip()
        usage = response["usage"]
        input_tokens = int(usage["inputTokens"])
        output_tokens = int(usage["outputTokens"])
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedResponseError(f"Bedrock returned an unexpected response: {str(response)[:200]}") from exc
    latency = response.get("metrics", {}).get("latencyMs")
    return Reply(
        output=text,
        model=model_id,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        # Converse folds image tokens into inputTokens; this is the model family's published rule for the size sent.
        image_tokens=image_tokens,
        provider_latency_ms=float(latency) if latency is not None else None,
        attempts=int(response.get("ResponseMetadata", {}).get("RetryAttempts", 0)) + 1,
    )


# What may break off a stream while it is read: an error event (EventStreamError, a ClientError), the connection
# (urllib3, which botocore reads the event stream through), or a damaged frame or event.
STREAM_FAILURES = (
    bce.BotoCoreError,
    bce.ClientError,
    urllib3.exceptions.HTTPError,
    botocore.eventstream.ParserError,
    botocore.parsers.ResponseParserError,
    OSError,
)


def read_stream(events: Iterable[dict[str, Any]], timer: StreamTimer, model_id: str, image_tokens: int | None, attempts: int = 1) -> Reply:
    """ConverseStream's events (the dicts botocore yields) -> Reply, timing them with `timer` (started by the
    caller) and passing each text delta on. An error before the first text is mapped as any other; once text
    has arrived, anything that stops the stream before its end events is a StreamCutError keeping that text."""
    stop: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    try:
        for event in events:
            if "contentBlockDelta" in event:
                timer.text(str((event["contentBlockDelta"].get("delta") or {}).get("text") or ""))
            elif "messageStop" in event:
                stop = event["messageStop"]
            elif "metadata" in event:
                metadata = event["metadata"]
    except STREAM_FAILURES as exc:
        if timer.began:
            raise timer.cut(_stream_failure(exc), attempts=attempts) from exc
        raise _translate(exc, model_id) from exc
    timer.end()
    if stop is None or metadata is None:
        reason = f"the stream ended without its {'messageStop' if stop is None else 'metadata'} event"
        if timer.began:
            raise timer.cut(reason, attempts=attempts)
        raise MalformedResponseError(f"Bedrock: {reason}, and no text before it", attempts=attempts)
    try:
        usage = metadata["usage"]
        input_tokens = int(usage["inputTokens"])
        output_tokens = int(usage["outputTokens"])
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedResponseError(f"Bedrock's stream metadata has no usable usage: {str(metadata)[:200]}") from exc
    latency = (metadata.get("metrics") or {}).get("latencyMs")
    figures = timer.figures(output_tokens)
    return Reply(
        output=timer.received.strip(),
        model=model_id,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        image_tokens=image_tokens,
        provider_latency_ms=float(latency) if latency is not None else None,
        attempts=attempts,
        ttft_ms=figures.ttft_ms,
        output_tokens_per_s=figures.output_tokens_per_s,
        streamed=True,
    )


def _stream_failure(exc: BaseException) -> str:
    """Why a stream stopped, in a few words."""
    if isinstance(exc, bce.ClientError):  # an error event: exception type and message
        error = exc.response.get("Error", {})
        return f"the service sent {error.get('Code') or 'an error'}: {error.get('Message') or exc}"
    if isinstance(exc, (urllib3.exceptions.ReadTimeoutError, bce.ReadTimeoutError, TimeoutError)):
        return f"no data within the read timeout ({exc})"
    if isinstance(exc, (botocore.eventstream.ParserError, botocore.parsers.ResponseParserError)):
        return f"a damaged event ({type(exc).__name__}: {exc})"
    return f"the connection broke ({type(exc).__name__}: {exc})"


# --- batch inference (CreateModelInvocationJob over JSONL in S3, modelInvocationType Converse) -----------------

# docs.aws.amazon.com/bedrock/latest/userguide/quotas.html (batch inference) and batch-inference-data.html: at
# least 100 records per job, at most 50,000 per job and per input file, an input file of at most 1 GB.
BATCH_LIMITS = BatchLimits(100, 50_000, 1_000_000_000, "docs.aws.amazon.com/bedrock/latest/userguide/quotas.html")
# GetModelInvocationJob's status -> phase (docs.aws.amazon.com/bedrock/latest/APIReference/API_GetModelInvocationJob.html).
BATCH_PHASES = {
    "Submitted": "running", "Validating": "running", "Scheduled": "running", "InProgress": "running",
    "Stopping": "running", "Completed": "done", "PartiallyCompleted": "done", "Failed": "failed",
    "Expired": "failed", "Stopped": "cancelled",
}  # fmt: skip
BATCH_TIMEOUT_HOURS = 24  # the job's own limit (24 to 168 hours)


def batch_record(record_id: str, request: dict[str, Any]) -> dict[str, Any]:
    """One line of a Converse batch job: the record id and the converse() body (the model is the job's), its
    image bytes as base64 as in Converse's JSON."""
    body = {key: value for key, value in request.items() if key != "modelId"}
    messages = []
    for message in body["messages"]:
        content = []
        for block in message["content"]:
            if "image" in block:
                image = block["image"]
                data = base64.b64encode(image["source"]["bytes"]).decode("ascii")
                block = {"image": {"format": image["format"], "source": {"bytes": data}}}
            content.append(block)
        messages.append({**message, "content": content})
    return {"recordId": record_id, "modelInput": {**body, "messages": messages}}


def parse_batch_line(line: str | bytes, model_id: str) -> BatchOutput:
    """One line of a job's output (`<input>.jsonl.out`): the record id with the model's Converse response, or
    with the error Bedrock reports for that record."""
    try:
        data = json.loads(line)
        record_id = str(data["recordId"])
    except (ValueError, KeyError, TypeError) as exc:
        raise MalformedResponseError(f"Bedrock batch output line without a record id: {str(line)[:200]}") from exc
    error = data.get("error")
    if error:
        code = error.get("errorCode") if isinstance(error, dict) else None
        message = str(error.get("errorMessage") if isinstance(error, dict) else error)
        status = int(code) if isinstance(code, int) or (isinstance(code, str) and code.isdigit()) else None
        return record_id, errors.from_batch_record(status, None if status else code, message)
    try:
        return record_id, parse_response(data["modelOutput"], model_id, None)
    except (KeyError, MalformedResponseError) as exc:
        return record_id, MalformedResponseError(f"Bedrock batch record {record_id} has no usable output: {str(data)[:200]}")


def _job_name(where: str) -> str:
    """A job name Bedrock accepts ([a-zA-Z0-9] and -+. after the first, at most 63 characters)."""
    name = "".join(c if c.isalnum() or c in "-+." else "-" for c in f"mcv-{where}")
    return name[:63].rstrip("-")


@register
class Bedrock(Service):
    service = "bedrock"
    service_title = "Amazon Bedrock"
    cloud = "aws"
    price_provider = "aws"
    streams = True
    field_help = {"model": "set model to a Bedrock model id or inference profile, e.g. anthropic.claude-3-haiku-20240307-v1:0"}
    batch_limits = BATCH_LIMITS

    @property
    def model_id(self) -> str:
        return self.target.model

    def call(self, image: PreparedImage, prompt: str, on_text: Callable[[str], None] | None = None) -> Reply:
        client = self.clients.aws("bedrock-runtime", timeout=self.timeout_s)
        request = build_request(self.model_id, image, prompt, self.max_output_tokens, self.temperature)
        image_tokens = self.target.image_tokens(image.width, image.height)
        if not self.streaming:
            try:
                response = client.converse(**request)
            except (bce.BotoCoreError, bce.ClientError) as exc:
                raise _translate(exc, self.model_id) from exc
            return parse_response(response, self.model_id, image_tokens)
        timer = StreamTimer(on_text)
        timer.start()
        try:
            response = client.converse_stream(**request)
        except (bce.BotoCoreError, bce.ClientError, botocore.parsers.ResponseParserError) as exc:  # refused at once
            raise _translate(exc, self.model_id) from exc
        attempts = int(response.get("ResponseMetadata", {}).get("RetryAttempts", 0)) + 1
        stream = response["stream"]
        try:
            return read_stream(stream, timer, self.model_id, image_tokens, attempts)
        finally:
            stream.close()  # a stream left early gives its connection back

    # --- batch
    def batch_line(self, record_id: str, image: PreparedImage, prompt: str) -> dict[str, Any]:
        return batch_record(record_id, build_request(self.model_id, image, prompt, self.max_output_tokens, self.temperature))

    def _s3_uri(self, prefix: str, where: str) -> str:
        return f"s3://{self.settings.require('upload_bucket')}/{prefix}{where}/"

    def batch_submit(self, where: str, name: str, lines: bytes) -> str:
        role = self.settings.bedrock_batch_role_arn
        if not role:
            raise UsageError(
                "Bedrock batch inference needs the role it runs as",
                hint="set MCV_BEDROCK_BATCH_ROLE_ARN to terraform output bedrock_batch_role_arn",
            )
        bucket = self.settings.require("upload_bucket")
        key = f"{stack.BATCH_INPUT_PREFIX}{where}/records.jsonl"
        try:
            self.clients.aws("s3").put_object(Bucket=bucket, Key=key, Body=lines, ContentType="application/jsonl")
            created = self.clients.aws("bedrock").create_model_invocation_job(
                jobName=_job_name(name),
                roleArn=role,
                modelId=self.model_id,
                clientRequestToken=_job_name(name),  # the same benchmark part never makes two jobs
                inputDataConfig={"s3InputDataConfig": {"s3Uri": f"s3://{bucket}/{key}", "s3InputFormat": "JSONL"}},
                outputDataConfig={"s3OutputDataConfig": {"s3Uri": self._s3_uri(stack.BATCH_OUTPUT_PREFIX, where)}},
                modelInvocationType="Converse",
                timeoutDurationInHours=BATCH_TIMEOUT_HOURS,
            )
        except (bce.BotoCoreError, bce.ClientError) as exc:
            raise _translate(exc, self.model_id) from exc
        return str(created["jobArn"]).rsplit("/", 1)[-1]

    def batch_state(self, job_id: str) -> BatchState:
        try:
            job = self.clients.aws("bedrock").get_model_invocation_job(jobIdentifier=job_id)
        except (bce.BotoCoreError, bce.ClientError) as exc:
            raise _translate(exc, self.model_id) from exc
        status = str(job.get("status"))
        return BatchState(
            job_id=job_id,
            status=status,
            phase=BATCH_PHASES.get(status, "running"),
            total=job.get("totalRecordCount"),
            completed=job.get("successRecordCount"),
            failed=job.get("errorRecordCount"),
            message=job.get("message") or None,
            ended_at=job.get("endTime"),
        )

    def batch_cancel(self, job_id: str) -> None:
        try:
            self.clients.aws("bedrock").stop_model_invocation_job(jobIdentifier=job_id)
        except bce.ClientError as exc:
            # A job that has already ended cannot be stopped: there is nothing left to cancel.
            if exc.response.get("Error", {}).get("Code") != "ValidationException":
                raise _translate(exc, self.model_id) from exc
        except bce.BotoCoreError as exc:
            raise _translate(exc, self.model_id) from exc

    def batch_outputs(self, job_id: str, where: str) -> list[BatchOutput]:
        """The `.jsonl.out` files under <output prefix>/<job id>/ (Bedrock writes manifest.json.out beside them)."""
        bucket = self.settings.require("upload_bucket")
        prefix = f"{stack.BATCH_OUTPUT_PREFIX}{where}/{job_id}/"
        s3 = self.clients.aws("s3")
        found: list[BatchOutput] = []
        try:
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    if not item["Key"].endswith(".jsonl.out"):
                        continue
                    body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                    found.extend(parse_batch_line(line, self.model_id) for line in body.splitlines() if line.strip())
        except (bce.BotoCoreError, bce.ClientError) as exc:
            raise _translate(exc, self.model_id) from exc
        return found

    batch_probe_checks = "the batch role: trusted by Bedrock, reads the batch inputs, writes the outputs; jobs in progress"

    def batch_probe(self, timeout: float) -> tuple[str, dict[str, Any]]:
        role_arn = self.settings.bedrock_batch_role_arn
        reapply = "`terraform -chdir=terraform/aws apply` makes the role (output bedrock_batch_role_arn)"
        if self.settings.is_local:
            reapply = "`python -m mcv_core local provision` re-applies the local stack"
        if not role_arn:
            raise CheckFailed("no batch role is set: batch benchmarks cannot run", f"set MCV_BEDROCK_BATCH_ROLE_ARN; {reapply}", status="warn")
        name = role_arn.rsplit("/", 1)[-1]
        iam = self.clients.aws("iam", timeout=timeout, max_attempts=1)
        try:
            trust, policies = batch_role.read_role(iam, name)
        except bce.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            raise CheckFailed(f"batch role {name} cannot be read ({code})", f"restore the role: {reapply}") from exc
        problems = batch_role_problems(trust, policies)
        if problems:
            raise CheckFailed(f"batch role {name}: " + "; ".join(problems), f"restore the role's policies: {reapply}")
        try:
            jobs = self.clients.aws("bedrock", timeout=timeout, max_attempts=1).list_model_invocation_jobs(
                statusEquals="InProgress", maxResults=100
            )["invocationJobSummaries"]
        except (bce.BotoCoreError, bce.ClientError) as exc:
            raise CheckFailed(f"Bedrock's batch API did not answer: {exc}", "check the region and the credentials") from exc
        running = fmt.count(len(jobs), "job")
        return (
            f"batch role {name}: trusted by Bedrock, reads {stack.BATCH_INPUT_PREFIX}, writes {stack.BATCH_OUTPUT_PREFIX}; "
            f"{running} in progress",
            {"role": role_arn, "in_progress": len(jobs)},
        )

    def probe(self, timeout: float) -> tuple[str, dict[str, Any]]:
        client = self.clients.aws("bedrock-runtime", timeout=timeout, max_attempts=1)
        try:
            response = client.converse(
                modelId=self.model_id,
                messages=[{"role": "user", "content": [{"text": HEALTH_PROMPT}]}],
                inferenceConfig={"maxTokens": 1},
            )
        except (bce.BotoCoreError, bce.ClientError) as exc:
            code = exc.response.get("Error", {}).get("Code", "") if isinstance(exc, bce.ClientError) else type(exc).__name__
            fix = {
                "AccessDeniedException": "request access to the model in the Bedrock console (Model access) for this region",
                "ValidationException": f"check the model of target {self.name!r}: the model id or inference profile is not valid in this region",
            }.get(code, "check the region, the credentials and that Bedrock is reachable")
            raise CheckFailed(f"{self.model_id} did not answer: {code}: {exc}", fix) from exc
        tokens = response.get("usage", {}).get("inputTokens")
        read = fmt.count(tokens, "input token", unknown="input tokens not reported")
        return f"{self.model_id} answered a one-token request ({read})", {"model": self.model_id, "usage": response.get("usage", {})}


def _translate(exc: BaseException, model_id: str) -> ProviderError:
    error = errors.from_botocore(exc)
    if isinstance(error, InvalidRequestError) and "model identifier" in error.message:
        error.hint = f"{model_id} is not a Bedrock model id or inference profile here: check the target's model and region"
    return error



def batch_role_problems(trust: dict[str, Any], policies: list[dict[str, Any]]) -> list[str]:
    """What keeps a role from serving Bedrock batch inference here (AWS's batch inference service role)."""
    return batch_role.problems(trust, policies, "bedrock.amazonaws.com", "Bedrock")
