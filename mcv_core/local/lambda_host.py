"""One Lambda execution environment for the local cloud: a process that imports a function once and invokes it.

    python -m mcv_core.local.lambda_host      (started by lambda_runner.HostProcess, not by hand)

It reads everything from its environment, set as Lambda sets it (LAMBDA_TASK_ROOT, _HANDLER, AWS_LAMBDA_*,
AWS_REGION, the keys, the function's own variables), imports the handler by file path from the task root,
then answers invocations one at a time until stdin closes. Line-delimited JSON on the original stdin/stdout:

    host -> parent, once:  {"type": "init", "ok": true|false, "error": {...}, "logs": [[ms, line], ...]}
    parent -> host:        {"request_id": ..., "event": {...}, "deadline_ms": ..., "invoked_function_arn": ...}
    host -> parent:        {"type": "invoke", "request_id": ..., "ok": ..., "result"|"error": ...,
                            "logs": [[ms, line], ...], "duration_ms": ..., "max_memory_mb": ...}

What the function prints (stdout, stderr, the root logger) is captured line by line with its time and returned
with the answer, which is how Lambda turns it into CloudWatch Logs events. The protocol streams are private
descriptors: the function cannot read the parent's requests nor write into the answers.
Standard library only, so that a cold start costs the interpreter and the function's own imports, nothing more.
"""

from __future__ import annotations

import importlib.util
import io
import json
import logging
import os
import resource
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable

REPO_ROOT = Path(__file__).resolve().parents[2]


def _now_ms() -> int:
    return int(time.time() * 1000)


class LogCapture(io.TextIOBase):
    """A text stream that keeps each complete line with the time it was written (one CloudWatch event each)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lines: list[list[Any]] = []
        self._partial = ""
        self._partial_ms = 0

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def write(self, text: str) -> int:
        with self._lock:
            now = _now_ms()
            if not self._partial:
                self._partial_ms = now
            *complete, rest = (self._partial + text).split("\n")
            for line in complete:
                self._lines.append([self._partial_ms, line])
                self._partial_ms = now
            self._partial = rest
        return len(text)

    def take(self) -> list[list[Any]]:
        """The lines written since the last take; an unfinished line counts as a line (Lambda flushes it too)."""
        with self._lock:
            if self._partial:
                self._lines.append([self._partial_ms, self._partial])
                self._partial = ""
            lines, self._lines = self._lines, []
        return lines


class LambdaContext:
    """The context object the Python runtime passes (memory_limit_in_mb is a str there too)."""

    def __init__(self, request_id: str, deadline_ms: int, invoked_function_arn: str) -> None:
        self.aws_request_id = request_id
        self.invoked_function_arn = invoked_function_arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - _now_ms())


class _RequestIdFilter(logging.Filter):
    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        return True


class _OneEventPerRecord(logging.StreamHandler):
    # The runtime keeps a multi-line record (a traceback) in one event: newlines become carriage returns.
    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).replace("\n", "\r")


def _install_root_logger(capture: LogCapture) -> _RequestIdFilter:
    """The Python runtime's root logger handler and format (level left at WARNING, as there)."""
    request_filter = _RequestIdFilter()
    handler = _OneEventPerRecord(capture)
    fmt = "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s"
    handler.setFormatter(logging.Formatter(fmt, "%Y-%m-%dT%H:%M:%S"))
    handler.formatter.converter = time.gmtime  # type: ignore[union-attr]
    handler.addFilter(request_filter)
    logging.getLogger().addHandler(handler)
    return request_filter


def error_of(exc: BaseException, error_type: str | None = None) -> dict[str, Any]:
    """The runtime's error document: errorMessage, errorType, stackTrace (the function's frames)."""
    frames = traceback.extract_tb(exc.__traceback__)
    return {
        "errorMessage": str(exc),
        "errorType": error_type or type(exc).__name__,
        "requestId": "",
        "stackTrace": traceback.format_list(frames),
    }


def error_line(error: dict[str, Any]) -> str:
    """The `[ERROR]` log event the runtime writes for an error, traceback included, as one event."""
    text = f"[ERROR] {error['errorType']}: {error['errorMessage']}"
    if error.get("stackTrace"):
        text += "\rTraceback (most recent call last):\r" + "".join(error["stackTrace"]).replace("\n", "\r")
    return text.rstrip("\r")


def load_handler(task_root: Path, handler: str) -> Callable[[Any, Any], Any]:
    """Import `module.function` from the task root by file path, under the module's own name, as Lambda does.

    Raises _RuntimeFailure with the runtime's error type when the module or the function cannot be loaded.
    """
    module_name, _, function_name = handler.rpartition(".")
    if not module_name or not function_name:
        raise _RuntimeFailure("Runtime.MalformedHandlerName", f"Bad handler '{handler}': not enough values to unpack")
    path = task_root / (module_name.replace(".", "/") + ".py")
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None or not path.is_file():
        message = f"Unable to import module '{module_name}': No module named '{module_name}'"
        raise _RuntimeFailure("Runtime.ImportModuleError", message)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        message = f"Syntax error in module '{module_name}': {exc}"
        raise _RuntimeFailure("Runtime.UserCodeSyntaxError", message, exc) from exc
    except Exception as exc:  # the runtime reports any import failure as this error type, with the cause
        message = f"Unable to import module '{module_name}': {exc}"
        raise _RuntimeFailure("Runtime.ImportModuleError", message, exc) from exc
    function = getattr(module, function_name, None)
    if not callable(function):
        raise _RuntimeFailure("Runtime.HandlerNotFound", f"Handler '{function_name}' missing on module '{module_name}'")
    return function


class _RuntimeFailure(Exception):
    """A failure the runtime reports under its own error type (Runtime.ImportModuleError, Runtime.MarshalError...)."""

    def __init__(self, error_type: str, message: str, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.cause = cause

    def document(self) -> dict[str, Any]:
        doc = error_of(self.cause or self, self.error_type)
        doc["errorMessage"] = str(self)
        return doc


def _max_memory_mb() -> int:
    """The peak resident size of this environment, as Lambda's Max Memory Used.

    VmHWM rather than ru_maxrss: Linux keeps ru_maxrss across execve, so a child forked from a large parent
    would report the parent's peak.
    """
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return -(-int(line.split()[1]) // 1024)
    except (OSError, ValueError, IndexError):
        pass
    return -(-resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)  # KiB on Linux


def _send(out: io.TextIOBase, message: dict[str, Any]) -> None:
    out.write(json.dumps(message, separators=(",", ":"), default=str) + "\n")
    out.flush()


def serve() -> int:
    # Private copies of the protocol streams; the function's stdin reads nothing and its fd-1 writes land on
    # stderr (which the parent drains), so no stray byte can break a protocol line.
    inbox = os.fdopen(os.dup(0), "rb")
    outbox = os.fdopen(os.dup(1), "w", encoding="utf-8")
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    capture = LogCapture()
    sys.stdout = capture
    sys.stderr = capture
    request_filter = _install_root_logger(capture)

    # The function sees Lambda's path (its task root first), not this checkout that let `-m` find this module.
    os.environ.pop("PYTHONPATH", None)
    sys.path[:] = [p for p in sys.path if p and Path(p).resolve() != REPO_ROOT]
    task_root = Path(os.environ.get("LAMBDA_TASK_ROOT", os.getcwd()))
    if str(task_root) not in sys.path:
        sys.path.insert(0, str(task_root))

    try:
        handler = load_handler(task_root, os.environ.get("_HANDLER", "lambda_function.lambda_handler"))
    except _RuntimeFailure as exc:
        error = exc.document()
        capture.write(error_line(error) + "\n")
        _send(outbox, {"type": "init", "ok": False, "error": error, "logs": capture.take()})
        return 1
    _send(outbox, {"type": "init", "ok": True, "logs": capture.take()})

    while True:
        line = inbox.readline()
        if not line:
            return 0  # the parent closed stdin (or is gone): the environment shuts down
        request = json.loads(line)
        request_id = request["request_id"]
        request_filter.request_id = request_id
        context = LambdaContext(request_id, int(request["deadline_ms"]), request.get("invoked_function_arn", ""))
        answer: dict[str, Any] = {"type": "invoke", "request_id": request_id}
        started = time.perf_counter()
        try:
            result = handler(request["event"], context)
            try:
                answer.update(ok=True, result=json.loads(json.dumps(result)))
            except (TypeError, ValueError) as exc:
                raise _RuntimeFailure("Runtime.MarshalError", f"Unable to marshal response: {exc}", exc) from exc
        except _RuntimeFailure as exc:
            answer.update(ok=False, error=exc.document())
        except SystemExit as exc:
            # The function ended the process: the runtime reports Runtime.ExitError and the environment is gone.
            code = exc.code if isinstance(exc.code, int) else 1
            error = {"errorMessage": f"Runtime exited with error: exit status {code}", "errorType": "Runtime.ExitError"}
            _send(outbox, {"type": "invoke", "request_id": request_id, "ok": False, "exited": True, "error": error,
                           "logs": capture.take(), "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                           "max_memory_mb": _max_memory_mb()})  # fmt: skip
            return code
        except Exception as exc:  # an uncaught function error: reported to the caller as Lambda reports it
            answer.update(ok=False, error=error_of(exc))
        answer["duration_ms"] = round((time.perf_counter() - started) * 1000, 2)
        if not answer["ok"]:
            answer["error"]["requestId"] = request_id
            capture.write(error_line(answer["error"]) + "\n")
        answer["logs"] = capture.take()
        answer["max_memory_mb"] = _max_memory_mb()
        request_filter.request_id = ""
        _send(outbox, answer)


def main() -> int:
    try:
        return serve()
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
