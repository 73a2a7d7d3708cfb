"""The local Lambda runner: upload events from the events queue, run by the real handler, logged as Lambda logs.

In AWS the upload bucket invokes the function directly. moto cannot run function code here (no Docker), so the
bucket notifies an SQS queue (provision.connect_events) and this runner, a thread of the daemon, long-polls it.
Each message holds one S3 event; it is handed unchanged to lambda/lambda_function.py in an execution environment
process (lambda_host) that sees what a Lambda sees: the function's configuration read from moto (handler, memory,
timeout, environment variables), the keys and region, and AWS_ENDPOINT_URL_* pointing at the local cloud.
The first invocation starts that process (a cold start, with its Init Duration); later ones reuse it (warm) until
it crashes or times out, when the next invocation starts a fresh one.

Logs go where Lambda writes them: the function's log group, one stream per execution environment named
YYYY/MM/DD/[$LATEST]<hex>, with START, every line the function printed, END and REPORT for each invocation.

Failures follow S3's asynchronous invocation: a message whose invocation failed (uncaught error, crash, timeout)
goes back to the queue after a short delay and is retried up to MAX_ATTEMPTS times in all; then it is dropped
and logged in the daemon's log, where in AWS an on-failure destination or a dead-letter queue would receive it.
"""

from __future__ import annotations

import collections
import json
import logging
import math
import os
import queue
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import boto3
import botocore.exceptions as bce
from botocore.config import Config

from .child import Child
from .control import AWS_ENDPOINT_VARIABLES
from .provision import LAMBDA_SOURCE, LocalStack
from .state import Connection

log = logging.getLogger("mcv_core.local.lambda")

REPO_ROOT = Path(__file__).resolve().parents[2]
TASK_ROOT = LAMBDA_SOURCE.parent  # what /var/task holds in AWS: the function's deployment package
POLL_WAIT_S = 5  # long-poll wait: every poll is one request in moto's recording (dropped when compacted)
MAX_MESSAGES = 10
MAX_ATTEMPTS = 3  # S3 invokes asynchronously: Lambda's default is the first attempt and two retries
RETRY_DELAY_S = 2.0  # AWS waits 1 then 2 minutes between attempts; locally seconds, times the attempt number
IPC_GRACE_S = 0.5  # on top of the function's timeout, for the answer to cross the pipe
MAX_EVENT_CHARS = 200_000  # CloudWatch Logs takes events of up to 256 KB
EVENTS_PER_PUT = 1_000


@dataclass(frozen=True)
class FunctionConfig:
    name: str
    arn: str
    handler: str
    runtime: str
    memory_mb: int
    timeout_s: int
    variables: dict[str, str]
    log_group: str

    @classmethod
    def read(cls, lambda_client: Any, name: str) -> "FunctionConfig":
        """The provisioned function's configuration, as `lambda get-function-configuration` gives it."""
        cfg = lambda_client.get_function_configuration(FunctionName=name)
        return cls(
            name=cfg["FunctionName"],
            arn=cfg["FunctionArn"],
            handler=cfg["Handler"],
            runtime=cfg["Runtime"],
            memory_mb=int(cfg["MemorySize"]),
            timeout_s=int(cfg["Timeout"]),
            variables=dict((cfg.get("Environment") or {}).get("Variables") or {}),
            log_group=(cfg.get("LoggingConfig") or {}).get("LogGroup") or f"/aws/lambda/{cfg['FunctionName']}",
        )


def execution_environment(
    conn: Connection, fn: FunctionConfig, log_stream: str, task_root: Path = TASK_ROOT
) -> dict[str, str]:
    """The environment of a Lambda execution environment, built from nothing: no variable of the daemon leaks in."""
    env: dict[str, str] = {
        # Any AWS service the function calls is the local cloud's, never the real one.
        "AWS_ENDPOINT_URL": conn.moto_url,
        **{variable: conn.aws_endpoint(service) for service, variable in AWS_ENDPOINT_VARIABLES.items()},
    }
    env.update(fn.variables)
    # Reserved variables last: a function's configuration cannot override them in AWS either.
    env.update(
        {
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "LAMBDA_TASK_ROOT": str(task_root),
            "_HANDLER": fn.handler,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{fn.runtime}",
            "AWS_LAMBDA_FUNCTION_NAME": fn.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": fn.log_group,
            "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_REGION": conn.region,
            "AWS_DEFAULT_REGION": conn.region,
            "AWS_ACCESS_KEY_ID": conn.access_key_id,
            "AWS_SECRET_ACCESS_KEY": conn.secret_access_key,
            # No shared config or credentials files exist in Lambda; nothing from this machine's ~/.aws applies.
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            # Only so that `python -m mcv_core.local.lambda_host` is found; the host removes it before the import.
            "PYTHONPATH": str(REPO_ROOT),
        }
    )
    return env


class HostCrashed(Exception):
    """The execution environment process ended without answering."""

    def __init__(self, exit_code: int | None, stderr_tail: str) -> None:
        super().__init__(f"the Lambda host exited with code {exit_code}: {stderr_tail or '(no stderr)'}")
        self.exit_code = exit_code
        self.stderr_tail = stderr_tail


class HostTimedOut(Exception):
    """No answer before the deadline; the process was killed, as Lambda ends a timed-out environment."""


class HostProcess:
    """One `python -m mcv_core.local.lambda_host` process seen from the runner: start, invoke, stop."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env = env
        self.cwd = cwd
        self._answers: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._child: Child | None = None
        self._last_stderr = ""  # of the host, once it is stopped
        self.peak_memory_mb = 0

    @property
    def pid(self) -> int | None:
        return self._child.pid if self._child is not None else None

    def alive(self) -> bool:
        return self._child is not None and self._child.alive()

    def start(self, timeout: float) -> dict[str, Any]:
        """Spawn the process and wait for its init message ({"ok": ..., "logs": ..., "error": ...})."""
        self._child = Child(
            "mcv_core.local.lambda_host", [], env=self.env, cwd=self.cwd, name="lambda-host",
            on_stdout=self._answer_line, on_eof=lambda: self._answers.put(None),
        )  # fmt: skip
        self._child.start()
        return self._next_answer(timeout)

    def invoke(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        child = self._child
        if child is None:
            raise HostCrashed(None, "not started")
        try:
            child.write_line(json.dumps(request, separators=(",", ":")).encode() + b"\n")
        except (BrokenPipeError, ValueError):
            raise HostCrashed(self._exit_code(), self.stderr_tail()) from None
        answer = self._next_answer(timeout)
        self.peak_memory_mb = max(self.peak_memory_mb, int(answer.get("max_memory_mb") or 0))
        return answer

    def _next_answer(self, timeout: float) -> dict[str, Any]:
        try:
            answer = self._answers.get(timeout=timeout)
        except queue.Empty:
            self.peak_memory_mb = max(self.peak_memory_mb, self._peak_rss_mb())
            self.stop(timeout=0)
            raise HostTimedOut(f"no answer within {timeout:.1f} s") from None
        if answer is None:
            raise HostCrashed(self._exit_code(), self.stderr_tail())
        return answer

    def _exit_code(self) -> int | None:
        return self._child.wait(5) if self._child is not None else None

    def _peak_rss_mb(self) -> int:
        # What the process reached before it is killed on a timeout (it cannot report it itself then).
        try:
            with open(f"/proc/{self.pid}/status") as handle:
                for line in handle:
                    if line.startswith("VmHWM:"):
                        return -(-int(line.split()[1]) // 1024)
        except (OSError, ValueError, IndexError):
            pass
        return 0

    def _answer_line(self, line: bytes) -> None:
        try:
            self._answers.put(json.loads(line))
        except ValueError:
            log.error("the Lambda host wrote a line that is not JSON: %r", line[:200])

    def stderr_tail(self) -> str:
        # Only what bypassed sys.stdout/sys.stderr (C extensions, the interpreter itself) arrives there.
        return self._child.stderr_tail() if self._child is not None else self._last_stderr

    def stop(self, timeout: float = 5.0) -> None:
        """Close stdin (the host's signal to leave), then kill it when it lingers."""
        child, self._child = self._child, None
        if child is not None:
            child.stop(timeout, close_stdin_first=True)
            self._last_stderr = child.stderr_tail()


@dataclass
class _Environment:
    host: HostProcess
    log_stream: str
    created_ms: int
    init_ms: float
    init_logs: list[list[Any]]
    init_error: dict[str, Any] | None
    invocations: int = 0


@dataclass
class Invocation:
    """One invocation as the runner saw it."""

    request_id: str
    ok: bool
    cold: bool
    duration_ms: float
    init_ms: float | None = None
    result: Any = None
    error: dict[str, Any] | None = None
    status: str = "success"  # success | error | timeout | crash
    log_stream: str = ""
    max_memory_mb: int = 0
    log_events: list[tuple[int, str]] = field(default_factory=list)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _error(error_type: str, message: str) -> dict[str, Any]:
    return {"errorType": error_type, "errorMessage": message}


def _client(conn: Connection, service: str, read_timeout: float = 30.0) -> Any:
    return boto3.client(
        service,
        endpoint_url=conn.moto_url,
        region_name=conn.region,
        aws_access_key_id=conn.access_key_id,
        aws_secret_access_key=conn.secret_access_key,
        config=Config(
            connect_timeout=3, read_timeout=read_timeout, retries={"mode": "standard", "total_max_attempts": 2}
        ),
    )


class LambdaRunner:
    """The daemon's stand-in for S3 -> Lambda: polls the events queue and invokes the function for each event."""

    def __init__(
        self,
        conn: Connection,
        local: LocalStack,
        *,
        task_root: Path = TASK_ROOT,
        max_attempts: int = MAX_ATTEMPTS,
        retry_delay_s: float = RETRY_DELAY_S,
        poll_wait_s: int = POLL_WAIT_S,
    ) -> None:
        self.conn = conn
        self.task_root = task_root
        self.function_name = local.names.lambda_function
        self.queue_url = local.queue_url
        self.queue_name = local.names.events_queue
        self.max_attempts = max_attempts
        self.retry_delay_s = retry_delay_s
        self.poll_wait_s = poll_wait_s
        self._sqs = _client(conn, "sqs", read_timeout=poll_wait_s + 10)
        self._logs = _client(conn, "logs")
        self._lambda = _client(conn, "lambda")
        self.function: FunctionConfig | None = None
        self._env: _Environment | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.counts: collections.Counter[str] = collections.Counter()
        self.last: dict[str, Any] = {}

    # --- life cycle
    def start(self) -> None:
        """Read the function's configuration (fails loudly when it is missing), then start polling."""
        self.function = FunctionConfig.read(self._lambda, self.function_name)
        self._stop.clear()
        self._thread = threading.Thread(target=self._poll, name="lambda-runner", daemon=True)
        self._thread.start()
        log.info("Lambda runner polling %s for %s", self.queue_name, self.function_name)

    def stop(self) -> None:
        """Finish the invocation in flight, hand back what was received and not run, end the environment."""
        self._stop.set()
        if self._thread is not None:
            timeout = self.poll_wait_s + (self.function.timeout_s if self.function else 60) + 10
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("the Lambda runner did not stop within %.0f s", timeout)
            self._thread = None
        self._end_environment()
        log.info("Lambda runner stopped")

    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def status(self) -> dict[str, Any]:
        env = self._env
        return {
            "running": self.running(),
            "function": self.function_name,
            "queue": self.queue_name,
            "environment": (
                {"state": "warm", "pid": env.host.pid, "log_stream": env.log_stream, "invocations": env.invocations}
                if env is not None and env.host.alive()
                else {"state": "none"}
            ),
            "counts": dict(self.counts),
            "last": dict(self.last),
        }

    # --- the queue
    def _poll(self) -> None:
        unreachable = False
        while not self._stop.is_set():
            try:
                messages = self._sqs.receive_message(
                    QueueUrl=self.queue_url,
                    MaxNumberOfMessages=MAX_MESSAGES,
                    WaitTimeSeconds=self.poll_wait_s,
                    VisibilityTimeout=self._visibility_s(),
                    MessageSystemAttributeNames=["ApproximateReceiveCount"],
                ).get("Messages", [])
            except (bce.BotoCoreError, bce.ClientError) as exc:
                if not unreachable:
                    log.warning("Lambda runner cannot reach the events queue (%s); retrying every second", exc)
                    unreachable = True
                self._stop.wait(1.0)
                continue
            if unreachable:
                log.info("Lambda runner reached the events queue again")
                unreachable = False
            for index, message in enumerate(messages):
                if self._stop.is_set():
                    self._release(messages[index:])
                    break
                try:
                    self._handle(message)
                except (bce.BotoCoreError, bce.ClientError) as exc:
                    log.warning("Lambda runner: message %s stays on the queue for a retry: %s", message.get("MessageId"), exc)
                except Exception:  # a bug here must not end the runner; the message comes back after its visibility
                    log.exception("Lambda runner failed on message %s; it stays on the queue", message.get("MessageId"))
                    self.counts["runner_errors"] += 1

    def _visibility_s(self) -> int:
        # Long enough for a whole batch run one after the other; a failed message is made visible sooner.
        timeout = self.function.timeout_s if self.function else 60
        return MAX_MESSAGES * (timeout + int(IPC_GRACE_S) + 1)

    def _release(self, messages: list[dict[str, Any]]) -> None:
        for message in messages:
            try:
                self._visible_in(message, 0)
            except (bce.BotoCoreError, bce.ClientError) as exc:
                log.warning("could not hand message %s back to the queue: %s", message.get("MessageId"), exc)

    def _visible_in(self, message: dict[str, Any], seconds: int) -> None:
        self._sqs.change_message_visibility(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=seconds)

    def _delete(self, message: dict[str, Any]) -> None:
        self._sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def _handle(self, message: dict[str, Any]) -> None:
        attempt = int((message.get("Attributes") or {}).get("ApproximateReceiveCount", "1"))
        try:
            event = json.loads(message["Body"])
        except ValueError:
            event = None
        if isinstance(event, dict) and event.get("Event") == "s3:TestEvent":
            # S3 sends it when the notification is configured; Lambda never sees it.
            self.counts["test_events"] += 1
            self._delete(message)
            return
        if not isinstance(event, dict) or not isinstance(event.get("Records"), list):
            log.error("Lambda runner: dropping message %s, not an S3 event: %.500s", message.get("MessageId"), message["Body"])
            self.counts["not_events"] += 1
            self._delete(message)
            return
        invocation = self.invoke(event)
        if invocation.ok:
            self._delete(message)
        elif attempt >= self.max_attempts:
            log.error(
                "Lambda runner: dropping the event after %d failed attempts (last: %s %s). In AWS the asynchronous "
                "invocation's on-failure destination or dead-letter queue would receive it; locally it ends here: %s",
                attempt, invocation.status, (invocation.error or {}).get("errorMessage", ""), json.dumps(event),
            )  # fmt: skip
            self.counts["dropped"] += 1
            self._delete(message)
        else:
            delay = int(self.retry_delay_s * attempt)
            log.warning(
                "Lambda runner: attempt %d of %d failed (%s); retrying in %d s", attempt, self.max_attempts, invocation.status, delay
            )
            self.counts["retried"] += 1
            self._visible_in(message, delay)

    # --- invocations
    def invoke(self, event: dict[str, Any]) -> Invocation:
        """Invoke the function once with this event in the (warm or new) execution environment; logs written."""
        if self.function is None:
            raise RuntimeError("the Lambda runner is not started")
        request_id = str(uuid.uuid4())
        env, cold = self._environment()
        fn = self.function
        events: list[tuple[int, str]] = []
        if cold:
            events.append((env.created_ms, f"INIT_START Runtime Version: local-python:{sys.version.split()[0]}"))
            events.extend((int(ms), line) for ms, line in env.init_logs)
        started_ms = _now_ms()
        deadline_ms = started_ms + fn.timeout_s * 1000
        events.append((started_ms, f"START RequestId: {request_id} Version: $LATEST"))
        invocation = Invocation(request_id=request_id, ok=False, cold=cold, duration_ms=0.0, log_stream=env.log_stream)
        invocation.init_ms = env.init_ms if cold else None
        started = time.perf_counter()
        if env.init_error is not None:
            invocation.status, invocation.error = "error", env.init_error
        else:
            request = {"request_id": request_id, "event": event, "deadline_ms": deadline_ms, "invoked_function_arn": fn.arn}
            events.extend(self._run(env, fn, request, invocation))
        if invocation.status == "timeout":
            invocation.duration_ms = fn.timeout_s * 1000.0
        elif invocation.status == "crash" or env.init_error is not None:
            invocation.duration_ms = round((time.perf_counter() - started) * 1000, 2)
        if invocation.status in ("timeout", "crash") or env.init_error is not None:
            self._end_environment()  # Lambda does not reuse an environment after these
        env.invocations += 1
        invocation.max_memory_mb = env.host.peak_memory_mb
        ended_ms = _now_ms()
        events.append((ended_ms, f"END RequestId: {request_id}"))
        events.append((ended_ms, self._report_line(fn, invocation)))
        invocation.log_events = events
        self._write_logs(fn, env.log_stream, events)
        self._count(invocation, event)
        return invocation

    def _run(self, env: _Environment, fn: FunctionConfig, request: dict[str, Any], inv: Invocation) -> list[tuple[int, str]]:
        """One request to the host; fills in the invocation and returns the log events it produced."""
        rid = inv.request_id
        events: list[tuple[int, str]] = []
        try:
            answer: dict[str, Any] | None = env.host.invoke(request, timeout=fn.timeout_s + IPC_GRACE_S)
        except HostTimedOut:
            answer = None
        except HostCrashed as exc:
            inv.status = "crash"
            inv.error = _error("Runtime.ExitError", f"Runtime exited with error: exit status {exc.exit_code}")
            events.append((_now_ms(), f"RequestId: {rid} Error: {inv.error['errorMessage']}\nRuntime.ExitError"))
            log.error("the Lambda execution environment crashed during %s: %s", rid, exc)
            return events
        if answer is not None:
            events.extend((int(ms), line) for ms, line in answer.get("logs", []))
            if float(answer.get("duration_ms", 0.0)) > fn.timeout_s * 1000:
                answer = None  # it finished, but after the deadline: Lambda would have stopped it there
        if answer is None:
            inv.status = "timeout"
            inv.error = _error("Sandbox.Timedout", f"Task timed out after {fn.timeout_s:.2f} seconds")
            stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            events.append((_now_ms(), f"{stamp} {rid} {inv.error['errorMessage']}"))
            return events
        inv.ok = bool(answer.get("ok"))
        inv.result = answer.get("result")
        inv.error = answer.get("error")
        inv.duration_ms = float(answer.get("duration_ms", 0.0))
        inv.status = "success" if inv.ok else "error"
        if answer.get("exited"):  # the function ended its process (sys.exit): the environment is gone
            inv.status = "crash"
            message = (inv.error or {}).get("errorMessage")
            events.append((_now_ms(), f"RequestId: {rid} Error: {message}\nRuntime.ExitError"))
        return events

    @staticmethod
    def _report_line(fn: FunctionConfig, inv: Invocation) -> str:
        # Since August 2025 Lambda bills the init phase of on-demand functions too: it is in Billed Duration.
        parts = [
            f"REPORT RequestId: {inv.request_id}",
            f"Duration: {inv.duration_ms:.2f} ms",
            f"Billed Duration: {max(1, math.ceil(inv.duration_ms + (inv.init_ms or 0.0)))} ms",
            f"Memory Size: {fn.memory_mb} MB",
            f"Max Memory Used: {inv.max_memory_mb} MB",
        ]
        if inv.init_ms is not None:
            parts.append(f"Init Duration: {inv.init_ms:.2f} ms")
        error_type = (inv.error or {}).get("errorType", "")
        if inv.status == "timeout":
            parts.append("Status: timeout")
        elif inv.status == "crash" or error_type.startswith("Runtime."):
            parts.append(f"Status: error\tError Type: {error_type or 'Runtime.Unknown'}")
        return "\t".join(parts) + "\t"

    def _count(self, inv: Invocation, event: dict[str, Any]) -> None:
        self.counts["invocations"] += 1
        self.counts["cold_starts" if inv.cold else "warm_starts"] += 1
        if not inv.ok:
            self.counts["failed"] += 1
        self.last = {
            "request_id": inv.request_id,
            "status": inv.status,
            "cold": inv.cold,
            "init_ms": inv.init_ms,
            "duration_ms": inv.duration_ms,
            "max_memory_mb": inv.max_memory_mb,
        }
        keys = [
            unquote_plus(str(((r.get("s3") or {}).get("object") or {}).get("key", "?")))
            for r in event.get("Records", [])
            if isinstance(r, dict)
        ]
        log.info(
            "Lambda %s %s for %s: %s in %.1f ms%s",
            self.function_name, inv.request_id, ", ".join(keys) or "(no records)", inv.status, inv.duration_ms,
            f" (cold start, init {inv.init_ms:.0f} ms)" if inv.cold and inv.init_ms is not None else "",
        )  # fmt: skip

    # --- execution environments
    def _environment(self) -> tuple[_Environment, bool]:
        env = self._env
        if env is not None and env.host.alive():
            return env, False
        self._end_environment()
        # A new environment gets the function's current configuration, as after an update in AWS.
        try:
            self.function = FunctionConfig.read(self._lambda, self.function_name)
        except (bce.BotoCoreError, bce.ClientError) as exc:
            log.warning("could not read the configuration of %s again, using the one read before: %s", self.function_name, exc)
        fn = self.function
        assert fn is not None
        created = datetime.now(timezone.utc)
        log_stream = f"{created:%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"
        self._create_stream(fn, log_stream)
        host = HostProcess(execution_environment(self.conn, fn, log_stream, self.task_root), self.task_root)
        started = time.perf_counter()
        init_error: dict[str, Any] | None = None
        try:
            init = host.start(timeout=fn.timeout_s)
            init_logs = init.get("logs", [])
            if not init.get("ok"):
                init_error = init.get("error") or {"errorType": "Runtime.Unknown", "errorMessage": "init failed"}
        except (HostCrashed, HostTimedOut) as exc:
            init_logs = []
            init_error = {"errorType": "Runtime.ExitError", "errorMessage": str(exc)}
            log.error("the Lambda execution environment did not start: %s", exc)
        init_ms = round((time.perf_counter() - started) * 1000, 2)
        self._env = _Environment(host, log_stream, int(created.timestamp() * 1000), init_ms, init_logs, init_error)
        return self._env, True

    def _end_environment(self) -> None:
        env, self._env = self._env, None
        if env is not None:
            env.host.stop()

    # --- CloudWatch Logs
    def _create_stream(self, fn: FunctionConfig, log_stream: str) -> None:
        try:
            try:
                self._logs.create_log_stream(logGroupName=fn.log_group, logStreamName=log_stream)
            except self._logs.exceptions.ResourceNotFoundException:
                # Lambda creates its log group when it is missing (the role allows it); so does the runner.
                self._logs.create_log_group(logGroupName=fn.log_group)
                self._logs.create_log_stream(logGroupName=fn.log_group, logStreamName=log_stream)
        except (bce.BotoCoreError, bce.ClientError) as exc:
            log.warning("could not create log stream %s in %s: %s", log_stream, fn.log_group, exc)

    def _write_logs(self, fn: FunctionConfig, log_stream: str, events: list[tuple[int, str]]) -> None:
        # Lambda's text format: every event ends with a newline; times never go backwards within a stream.
        items: list[dict[str, Any]] = []
        last = 0
        for ms, message in events:
            last = max(last, ms)
            items.append({"timestamp": last, "message": message[:MAX_EVENT_CHARS] + "\n"})
        try:
            for start in range(0, len(items), EVENTS_PER_PUT):
                batch = items[start : start + EVENTS_PER_PUT]
                try:
                    self._logs.put_log_events(logGroupName=fn.log_group, logStreamName=log_stream, logEvents=batch)
                except self._logs.exceptions.ResourceNotFoundException:
                    # The group or stream went away (deleted, or a moto restart without it): make it again.
                    self._create_stream(fn, log_stream)
                    self._logs.put_log_events(logGroupName=fn.log_group, logStreamName=log_stream, logEvents=batch)
        except (bce.BotoCoreError, bce.ClientError) as exc:
            log.warning("could not write %d log events to %s %s: %s", len(items), fn.log_group, log_stream, exc)
