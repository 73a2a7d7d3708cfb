"""Azure OpenAI Global Batch: the files API (`/openai/files`: upload with purpose "batch", get, content, delete)
and the batches API (`/openai/batches`: create, get, list, cancel), as learn.microsoft.com/azure/ai-foundry/
openai/how-to/batch and the REST reference describe them, with the api-key header.

A batch reads its input file (`{"custom_id", "method": "POST", "url": "/chat/completions", "body"}` lines, every
body's `model` one Global-Batch deployment), answers each request through that deployment's model's stand-in
(chat.answer, as online calls), and writes an output file (`{"id", "custom_id", "response": {"status_code": 200,
"request_id", "body"}, "error": null}` lines) and, when requests failed, an error file of the same shape with
their status and error (made, empty, when none failed, as Azure does). States: validating, in_progress, finalizing, completed, failed, cancelling, cancelled.
Input that does not validate (a duplicate custom_id, another url, a deployment that is not Global Batch, more
than 100,000 requests or 200 MB) fails the batch with Azure's error list.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from ..state import write_json_atomic
from . import azure_openai, chat
from .batch_jobs import BatchJobs, JobFailed, States
from .wire import BAD_INPUT, Handler, Route, WireError

SERVICE = "azure_openai"
MAX_REQUESTS = 100_000
MAX_FILE_BYTES = 200 * 1024 * 1024
STATES = States(
    submitted="validating", validating="validating", in_progress="in_progress", finalizing="finalizing",
    completed="completed", partially=None, failed="failed", stopping="cancelling", stopped="cancelled",
)  # fmt: skip
WINDOW_S = 24 * 3600


def _error(status: int, code: str, message: str) -> WireError:
    return azure_openai.azure_error(status, code, message)


class Files:
    """The resource's files: bytes on disk, their objects in files.json."""

    def __init__(self, root: Path) -> None:
        self.root = root / "azure-files"
        self._lock = threading.Lock()
        try:
            self.objects: dict[str, dict[str, Any]] = json.loads((self.root / "files.json").read_text())
        except (FileNotFoundError, ValueError):
            self.objects = {}

    def add(self, name: str, data: bytes, purpose: str) -> dict[str, Any]:
        file_id = f"file-{uuid.uuid4().hex}"
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / file_id).write_bytes(data)
        obj = {
            "id": file_id, "object": "file", "bytes": len(data), "created_at": int(time.time()), "filename": name,
            "purpose": purpose, "status": "processed", "status_details": None,
        }  # fmt: skip
        with self._lock:
            self.objects[file_id] = obj
            write_json_atomic(self.root / "files.json", self.objects, mode=0o600)
        return obj

    def get(self, file_id: str) -> dict[str, Any] | None:
        with self._lock:
            return self.objects.get(file_id)

    def content(self, file_id: str) -> bytes | None:
        return (self.root / file_id).read_bytes() if self.get(file_id) is not None else None

    def delete(self, file_id: str) -> bool:
        with self._lock:
            found = self.objects.pop(file_id, None)
            write_json_atomic(self.root / "files.json", self.objects, mode=0o600)
        (self.root / file_id).unlink(missing_ok=True)
        return found is not None


class AzureRunner:
    """Azure's side of the batch engine."""

    def __init__(self, files: Files, deployments: azure_openai.Deployments) -> None:
        self.files = files
        self.deployments = deployments

    def states(self) -> States:
        return STATES

    def validate(self, job: dict[str, Any]) -> list[Any]:
        data = self.files.content(job["input_file_id"])
        if data is None:
            raise JobFailed("invalid_file: the input file was not found")
        if len(data) > MAX_FILE_BYTES:
            raise JobFailed(f"file_too_large: the input file is larger than {MAX_FILE_BYTES:,} bytes")
        records, seen, problems = [], set(), []
        deployments: set[str] = set()
        for number, line in enumerate(data.splitlines(), 1):
            if not line.strip():
                continue
            try:
                request = json.loads(line)
                custom_id, body = str(request["custom_id"]), request["body"]
                deployment = str(body["model"])
            except (ValueError, KeyError, TypeError):
                problems.append(f"line {number}: invalid_json_line: each line must be a JSON object with custom_id and body")
                continue
            if custom_id in seen:
                problems.append(f"line {number}: duplicate_custom_id: {custom_id}")
            if request.get("method") != "POST" or request.get("url") != job["endpoint"]:
                problems.append(f"line {number}: invalid_url: the request url must be {job['endpoint']} with method POST")
            if self.deployments.batch_model(deployment) is None:
                problems.append(f"line {number}: model_not_found: {deployment} is not a Global Batch deployment of this resource")
            seen.add(custom_id)
            deployments.add(deployment)
            records.append({"custom_id": custom_id, "body": body, "line": number})
        if len(deployments) > 1:
            problems.append("mixed_deployment: every request of a file must name the same deployment")
        if len(records) > MAX_REQUESTS:
            problems.append(f"too_many_tasks: a file may hold at most {MAX_REQUESTS:,} requests")
        if not records:
            problems.append("empty_file: the input file holds no requests")
        if problems:
            raise JobFailed("; ".join(problems[:10]))
        return records

    def answer(self, job: dict[str, Any], record: Any, failed: bool) -> tuple[bool, Any]:
        request_id = str(uuid.uuid4())
        line: dict[str, Any] = {"id": f"batch_req_{uuid.uuid4().hex}", "custom_id": record["custom_id"], "error": None}
        if failed:
            body = {"error": {"code": "server_error", "message": "The server had an error processing your request (injected fault)."}}
            line["response"] = {"status_code": 500, "request_id": request_id, "body": body}
            return False, line
        name, model = self.deployments.batch_model(record["body"]["model"])  # type: ignore[misc]
        try:
            request = chat.ChatRequest(json.dumps(record["body"]).encode())
            answer = chat.answer(model, azure_openai.MODEL_VERSIONS.get(name, name), request)
        except BAD_INPUT as exc:
            body = {"error": {"code": "BadRequest", "message": f"Invalid image data or request: {exc}"}}
            line["response"] = {"status_code": 400, "request_id": request_id, "body": body}
            return False, line
        line["response"] = {"status_code": 200, "request_id": request_id, "body": chat.completion(answer)}
        return True, line

    def finish(self, job: dict[str, Any], outputs: list[tuple[bool, Any]]) -> dict[str, Any]:
        good = [json.dumps(line).encode() for ok, line in outputs if ok]
        bad = [json.dumps(line).encode() for ok, line in outputs if not ok]
        output = self.files.add(f"{job['id']}_output.jsonl", b"\n".join(good) + b"\n" if good else b"", "batch_output")
        # Azure makes the error file even when nothing failed (an empty one).
        errors = self.files.add(f"{job['id']}_error.jsonl", b"\n".join(bad) + b"\n" if bad else b"", "batch_output")
        return {"output_file_id": output["id"], "error_file_id": errors["id"]}


def _authorise(h: Handler) -> None:
    if h.headers.get("api-key") != h.emu.conn.azure_api_key:
        raise _error(401, "401", "Access denied due to invalid subscription key or wrong API endpoint.")
    if not h.path.partition("?")[2]:
        raise _error(404, "404", "Resource not found")


def _engine(h: Handler) -> BatchJobs:
    return h.emu.batch  # type: ignore[attr-defined,no-any-return]


def _files(h: Handler) -> Files:
    return h.emu.azure_files  # type: ignore[attr-defined,no-any-return]


def _stamp(iso: str | None) -> int | None:
    if not iso:
        return None
    from datetime import datetime

    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())


def batch_object(job: dict[str, Any]) -> dict[str, Any]:
    status = job["status"]
    created = _stamp(job["submitted_at"]) or 0
    ended = _stamp(job.get("ended_at"))
    errors = {"object": "list", "data": [{"code": "validation_error", "message": job["message"], "line": None, "param": None}]} if job.get("message") else None
    return {
        "id": job["id"],
        "object": "batch",
        "endpoint": job["endpoint"],
        "errors": errors,
        "input_file_id": job["input_file_id"],
        "completion_window": job["completion_window"],
        "status": status,
        "output_file_id": job.get("output_file_id"),
        "error_file_id": job.get("error_file_id"),
        "created_at": created,
        "in_progress_at": created if job.get("total") else None,
        "expires_at": created + WINDOW_S,
        "finalizing_at": ended if status in ("finalizing", "completed") else None,
        "completed_at": ended if status == "completed" else None,
        "failed_at": ended if status == "failed" else None,
        "expired_at": None,
        "cancelling_at": _stamp(job.get("updated_at")) if status in ("cancelling", "cancelled") else None,
        "cancelled_at": ended if status == "cancelled" else None,
        "request_counts": {"total": job.get("total", 0), "completed": job.get("succeeded", 0), "failed": job.get("errored", 0)},
        "metadata": job.get("metadata"),
    }


def upload(h: Handler, match: re.Match[str], query: dict[str, list[str]], body: bytes) -> None:
    _authorise(h)
    content_type = h.headers.get("Content-Type", "")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    fields: dict[str, Any] = {}
    name = "upload.jsonl"
    if message.is_multipart():
        for part in message.iter_parts():
            field = part.get_param("name", header="content-disposition")
            if field == "file":
                name = part.get_filename() or name
                fields["file"] = part.get_payload(decode=True)
            elif field:
                fields[field] = (part.get_payload(decode=True) or b"").decode()
    if "file" not in fields or fields.get("purpose") != "batch":
        raise _error(400, "invalidPayload", "A multipart upload with a file and purpose 'batch' is expected.")
    h.send_json(200, _files(h).add(name, fields["file"], "batch"))


def file_get(h: Handler, match: re.Match[str], query: dict[str, list[str]], body: bytes) -> None:
    _authorise(h)
    found = _files(h).get(match.group(1))
    if found is None:
        raise _error(404, "fileNotFound", f"File with id '{match.group(1)}' was not found.")
    h.send_json(200, found)


def file_content(h: Handler, match: re.Match[str], query: dict[str, list[str]], body: bytes) -> None:
    _authorise(h)
    data = _files(h).content(match.group(1))
    if data is None:
        raise _error(404, "fileNotFound", f"File with id '{match.group(1)}' was not found.")
    h.send(200, data, content_type="application/octet-stream")


def file_delete(h: Handler, match: re.Match[str], query: dict[str, list[str]], body: bytes) -> None:
    _authorise(h)
    if not _files(h).delete(match.group(1)):
        raise _error(404, "fileNotFound", f"File with id '{match.group(1)}' was not found.")
    h.send_json(200, {"id": match.group(1), "object": "file", "deleted": True})


def create(h: Handler, match: re.Match[str], query: dict[str, list[str]], body: bytes) -> None:
    _authorise(h)
    try:
        request = json.loads(body)
        input_file, endpoint, window = str(request["input_file_id"]), str(request["endpoint"]), str(request["completion_window"])
    except (ValueError, KeyError, TypeError) as exc:
        raise _error(400, "invalidPayload", f"input_file_id, endpoint and completion_window are required ({exc})") from exc
    if endpoint != "/chat/completions":
        raise _error(400, "invalidPayload", f"endpoint must be /chat/completions, not {endpoint}")
    if window != "24h":
        raise _error(400, "invalidPayload", "completion_window must be 24h")
    if _files(h).get(input_file) is None:
        raise _error(404, "fileNotFound", f"File with id '{input_file}' was not found.")
    job = _engine(h).add(
        {
            "id": f"batch_{uuid.uuid4()}",
            "service": SERVICE,
            "input_file_id": input_file,
            "endpoint": endpoint,
            "completion_window": window,
            "metadata": request.get("metadata"),
        }
    )
    h.send_json(200, batch_object(job))


def get(h: Handler, match: re.Match[str], query: dict[str, list[str]], body: bytes) -> None:
    _authorise(h)
    job = _engine(h).get(match.group(1))
    if job is None or job["service"] != SERVICE:
        raise _error(404, "batchNotFound", f"Batch with id '{match.group(1)}' was not found.")
    h.send_json(200, batch_object(job))


def listing(h: Handler, match: re.Match[str], query: dict[str, list[str]], body: bytes) -> None:
    _authorise(h)
    jobs = sorted(_engine(h).find(lambda job: job["service"] == SERVICE), key=lambda job: job["submitted_at"], reverse=True)
    data = [batch_object(job) for job in jobs]
    h.send_json(200, {"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
                      "last_id": data[-1]["id"] if data else None, "has_more": False})  # fmt: skip


def cancel(h: Handler, match: re.Match[str], query: dict[str, list[str]], body: bytes) -> None:
    _authorise(h)
    engine = _engine(h)
    job = engine.get(match.group(1))
    if job is None or job["service"] != SERVICE:
        raise _error(404, "batchNotFound", f"Batch with id '{match.group(1)}' was not found.")
    if job["status"] in STATES.final:
        raise _error(409, "invalidState", f"Batch with status {job['status']} cannot be cancelled.")
    h.send_json(200, batch_object(engine.stop(job["id"]) or job))


ROUTES = (
    Route("POST", re.compile(r"/openai/files"), upload),
    Route("GET", re.compile(r"/openai/files/([^/]+)"), file_get),
    Route("GET", re.compile(r"/openai/files/([^/]+)/content"), file_content),
    Route("DELETE", re.compile(r"/openai/files/([^/]+)"), file_delete),
    Route("POST", re.compile(r"/openai/batches"), create),
    Route("GET", re.compile(r"/openai/batches"), listing),
    Route("GET", re.compile(r"/openai/batches/([^/]+)"), get),
    Route("POST", re.compile(r"/openai/batches/([^/]+)/cancel"), cancel),
)
