"""Azure OpenAI chat completions with a base64 data-URL image: one target per deployment (gpt-4o-mini, gpt-4o,
gpt-4.1 …); the target's `model` is the model behind the deployment, for its image rule and price."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Callable

import openai

from .. import formatting as fmt
from ..errors import CheckFailed, MalformedResponseError, MCVError, UsageError
from ..images import PreparedImage
from ..records import Reply
from . import chat, errors
from .base import HEALTH_PROMPT, BatchLimits, BatchOutput, BatchState, Service
from .registry import register

AUTH_HINT = "check AZURE_OPENAI_API_KEY or the Entra ID role on the resource"

# --- Global Batch (a JSONL file through the files API, then the batches API; 24-hour target) -----------------

# learn.microsoft.com/azure/ai-foundry/openai/how-to/batch ("Global batch limits"): at most 100,000 requests in
# a file and 200 MB per file (without your own storage account).
BATCH_LIMITS = BatchLimits(1, 100_000, 200 * 1024 * 1024, "learn.microsoft.com/azure/ai-foundry/openai/how-to/batch")
BATCH_URL = "/chat/completions"
BATCH_WINDOW = "24h"
# The batch object's status -> phase (learn.microsoft.com/azure/ai-foundry/openai/how-to/batch, "Batch object").
BATCH_PHASES = {
    "validating": "running", "in_progress": "running", "finalizing": "running", "cancelling": "running",
    "completed": "done", "failed": "failed", "expired": "failed", "cancelled": "cancelled",
}  # fmt: skip


def batch_request(custom_id: str, request: dict[str, Any]) -> dict[str, Any]:
    """One line of a Global-Batch input file: the chat-completions body for the batch deployment."""
    return {"custom_id": custom_id, "method": "POST", "url": BATCH_URL, "body": request}


def parse_batch_line(line: str | bytes, deployment: str) -> BatchOutput:
    """One line of a batch's output or error file: the custom id with the completion, or with its error."""
    try:
        data = json.loads(line)
        custom_id = str(data["custom_id"])
    except (ValueError, KeyError, TypeError) as exc:
        raise MalformedResponseError(f"Azure OpenAI batch output line without a custom_id: {str(line)[:200]}") from exc
    response = data.get("response") or {}
    error = data.get("error")
    status = response.get("status_code") if isinstance(response, dict) else None
    body = response.get("body") if isinstance(response, dict) else None
    if error or status != 200:
        inner = error or (body.get("error") if isinstance(body, dict) else None) or {}
        code = inner.get("code") if isinstance(inner, dict) else None
        message = str(inner.get("message") if isinstance(inner, dict) else inner) or f"status {status}"
        return custom_id, errors.from_batch_record(status if isinstance(status, int) else None, code, message)
    try:
        return custom_id, chat.parse_response(body, deployment, None, service="Azure OpenAI")
    except MalformedResponseError as exc:
        return custom_id, exc


@register
class AzureOpenAI(Service):
    service = "azure_openai"
    service_title = "Azure OpenAI"
    cloud = "azure"
    price_provider = "azure"
    streams = True
    required_fields = ("deployment", "model")
    field_help = {
        "deployment": "set deployment to the Azure OpenAI deployment name",
        "model": "set model to the model behind the deployment (e.g. gpt-4o-mini), for its image rule and price",
    }
    batch_limits = BATCH_LIMITS

    @property
    def model_id(self) -> str:
        return self.target.deployment

    @property
    def not_found_hint(self) -> str:
        return (
            f"deployment {self.model_id!r} is not in this Azure OpenAI resource: check the deployment of target "
            f"{self.name!r}, AZURE_OPENAI_ENDPOINT and OPENAI_API_VERSION"
        )

    def call(self, image: PreparedImage, prompt: str, on_text: Callable[[str], None] | None = None) -> Reply:
        client = self.clients.azure_openai(timeout=self.timeout_s)
        detail = self.target.image_detail if self.target.family.takes_detail else None
        request = chat.build_request(self.model_id, image, prompt, self.max_output_tokens, detail or "auto", self.temperature)
        return chat.call(
            client,
            request,
            streaming=self.streaming,
            on_text=on_text,
            image_tokens=self.target.image_tokens(image.width, image.height),
            service="Azure OpenAI",
            auth_hint=AUTH_HINT,
            not_found_hint=self.not_found_hint,
        )

    # --- batch
    @property
    def batch_deployment(self) -> str:
        if not self.target.batch_deployment:
            raise UsageError(
                f"target {self.name!r} names no Global-Batch deployment",
                hint="set batch_deployment in its catalogue entry (or MCV_AZURE_BATCH_DEPLOYMENT for the built-in target)",
            )
        return self.target.batch_deployment

    def batch_line(self, record_id: str, image: PreparedImage, prompt: str) -> dict[str, Any]:
        detail = self.target.image_detail if self.target.family.takes_detail else None
        body = chat.build_request(self.batch_deployment, image, prompt, self.max_output_tokens, detail or "auto", self.temperature)
        return batch_request(record_id, body)

    def _batch_call(self, what: Callable[[Any], Any]) -> Any:
        try:
            return what(self.clients.azure_openai(timeout=self.timeout_s))
        except openai.OpenAIError as exc:
            raise errors.from_openai(exc, auth_hint=AUTH_HINT, not_found_hint=self.not_found_hint) from exc

    def batch_submit(self, where: str, name: str, lines: bytes) -> str:
        uploaded = self._batch_call(lambda c: c.files.create(file=(f"{name}.jsonl", lines, "application/jsonl"), purpose="batch"))
        batch = self._batch_call(
            lambda c: c.batches.create(
                input_file_id=uploaded.id, endpoint=BATCH_URL, completion_window=BATCH_WINDOW, metadata={"mcv_job": name[:512]}
            )
        )
        return str(batch.id)

    def batch_state(self, job_id: str) -> BatchState:
        batch = self._batch_call(lambda c: c.batches.retrieve(job_id))
        counts = batch.request_counts
        problems = [e.message for e in (batch.errors.data or [])] if batch.errors is not None else []
        return BatchState(
            job_id=job_id,
            status=str(batch.status),
            phase=BATCH_PHASES.get(str(batch.status), "running"),
            total=counts.total if counts else None,
            completed=counts.completed if counts else None,
            failed=counts.failed if counts else None,
            message="; ".join(str(p) for p in problems if p) or None,
            ended_at=_ended_at(batch),
        )

    def batch_cancel(self, job_id: str) -> None:
        try:
            self._batch_call(lambda c: c.batches.cancel(job_id))
        except MCVError as exc:
            # A batch that has already ended cannot be cancelled: there is nothing left to cancel.
            if getattr(exc, "status_code", None) not in (400, 409):
                raise

    def batch_outputs(self, job_id: str, where: str) -> list[BatchOutput]:
        batch = self._batch_call(lambda c: c.batches.retrieve(job_id))
        found: list[BatchOutput] = []
        for file_id in (batch.output_file_id, batch.error_file_id):
            if file_id:
                content = self._batch_call(lambda c: c.files.content(file_id)).content
                found.extend(parse_batch_line(line, self.batch_deployment) for line in content.splitlines() if line.strip())
        return found

    batch_probe_checks = "the Global-Batch deployment exists and takes batch jobs only; the batch API answers"

    def batch_probe(self, timeout: float) -> tuple[str, dict[str, Any]]:
        """Azure has no data-plane read of a deployment's SKU; a one-token call to the batch deployment tells:
        a Global-Batch deployment refuses it (400 OperationNotSupported), a missing one is 404, and a standard
        deployment answers it (batch jobs sent to it would fail validation)."""
        enable = "set batch_deployment_enabled = true in terraform/azure and apply, or name the deployment (batch_deployment)"
        if not self.target.batch_deployment:
            raise CheckFailed(f"target {self.name!r} names no Global-Batch deployment: batch benchmarks cannot run", enable, status="warn")
        name = self.target.batch_deployment
        try:
            client = self.clients.azure_openai(timeout=timeout, max_attempts=1)
        except MCVError as exc:
            raise CheckFailed(exc.message, exc.hint) from exc
        try:
            client.chat.completions.create(model=name, messages=[{"role": "user", "content": HEALTH_PROMPT}], max_tokens=1)
        except openai.BadRequestError as exc:
            if (exc.code or "") != "OperationNotSupported":
                raise CheckFailed(f"batch deployment {name}: {exc.message}", enable) from exc
        except openai.NotFoundError as exc:
            raise CheckFailed(f"batch deployment {name} is not there", enable) from exc
        except openai.OpenAIError as exc:
            status = getattr(exc, "status_code", None)
            fix = AUTH_HINT if status == 401 else "check AZURE_OPENAI_ENDPOINT and that the account is reachable"
            raise CheckFailed(f"batch deployment {name} could not be checked: {type(exc).__name__}: {exc}", fix) from exc
        else:
            raise CheckFailed(
                f"deployment {name} answers calls: it is not a Global-Batch deployment, and batch jobs sent to it fail",
                "make it a GlobalBatch deployment (terraform/azure batch_deployment_enabled) or name another one",
            )
        try:
            recent = client.batches.list(limit=20).data
        except openai.OpenAIError as exc:
            raise CheckFailed(f"the batch API did not answer: {type(exc).__name__}: {exc}", "check the account's region offers Global Batch") from exc
        running = sum(1 for batch in recent if BATCH_PHASES.get(str(batch.status), "running") == "running")
        return (
            f"batch deployment {name}: Global-Batch, takes jobs only; {fmt.count(running, 'batch')} running",
            {"deployment": name, "running": running, "batches_read": len(recent)},
        )

    def probe(self, timeout: float) -> tuple[str, dict[str, Any]]:
        try:
            client = self.clients.azure_openai(timeout=timeout, max_attempts=1)
            completion = client.chat.completions.create(
                model=self.model_id, messages=[{"role": "user", "content": HEALTH_PROMPT}], max_tokens=1
            )
        except MCVError as exc:
            raise CheckFailed(exc.message, exc.hint) from exc
        except openai.OpenAIError as exc:
            status = getattr(exc, "status_code", None)
            fix = {401: AUTH_HINT, 404: self.not_found_hint}.get(status or 0, "check AZURE_OPENAI_ENDPOINT and that the account is reachable")
            raise CheckFailed(f"deployment {self.model_id} did not answer: {type(exc).__name__}: {exc}", fix) from exc
        return (
            f"deployment {self.model_id} ({completion.model}) answered a one-token request",
            {"deployment": self.model_id, "model": completion.model},
        )


def _ended_at(batch: Any) -> datetime | None:
    """When a batch ended (Azure gives Unix seconds under the end state's own name), or None while it runs."""
    ends = [batch.completed_at, batch.failed_at, batch.cancelled_at, batch.expired_at]
    ended = max((int(t) for t in ends if t), default=None)
    return datetime.fromtimestamp(ended, timezone.utc) if ended is not None else None
