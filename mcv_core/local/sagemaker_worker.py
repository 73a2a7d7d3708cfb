"""A local stand-in for the SageMaker PyTorch serving container: one process, one model, loopback only.

    python -m mcv_core.local.sagemaker_worker --model-tar PATH --work-dir DIR [--port 0]

Like the container it unpacks model.tar.gz, imports code/inference.py, calls model_fn once, then answers
`GET /ping` and `POST /invocations` (input_fn -> predict_fn -> output_fn) with the container's conventions.
It binds the socket first, loads the model, and only then prints `READY <port>`, so a parent that times
spawn -> READY measures a real cold start. `WorkerProcess` is that parent's handle on one such process.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import os
import signal
import socketserver
import sys
import tarfile
import threading
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import Any

from .child import Child, python_path_env

HOST = "127.0.0.1"  # never anything else: the worker runs user-supplied handler code
# What the container's model server accepts (TorchServe max_request_size); larger bodies get a 413.
MAX_REQUEST_BYTES = 6_553_500
# Bodies up to this size are read and dropped before an error answer; a larger one just closes the connection.
DISCARD_LIMIT_BYTES = 64 * 1024 * 1024
# The container answers Accept */* (or none) with this (SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT).
DEFAULT_ACCEPT = os.environ.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", "application/json")
# The container hands input_fn a str for exactly these content types, bytes for any other.
UTF8_TYPES = ("application/json", "text/csv")


class UnsafeArchiveError(ValueError):
    """model.tar.gz holds a member that would land outside the work directory, or is not a plain file."""


def extract_model(model_tar: Path, work_dir: Path) -> Path:
    """Unpack model.tar.gz into work_dir (created if missing; existing files are overwritten)."""
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    with tarfile.open(model_tar, "r:*") as tar:
        members = tar.getmembers()
        for member in members:
            path = PurePosixPath(member.name)
            if path.is_absolute() or ".." in path.parts:
                raise UnsafeArchiveError(f"{model_tar}: member {member.name!r} would escape {work_dir}")
            if not (member.isfile() or member.isdir()):
                raise UnsafeArchiveError(f"{model_tar}: member {member.name!r} is a link or device, not a file")
        if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4: a second line of defence, and no odd modes
            tar.extractall(work_dir, members=members, filter="data")
        else:  # pragma: no cover - older Pythons; the checks above already rejected anything unsafe
            tar.extractall(work_dir, members=members)
    return work_dir


def load_handler(path: Path) -> ModuleType:
    """Import code/inference.py by file path under a fresh module name, as the container imports it."""
    code_dir = str(Path(path).parent)
    if code_dir not in sys.path:
        sys.path.insert(0, code_dir)  # the container puts code/ on the path, so the handler may import siblings
    name = f"mcv_sagemaker_handler_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import a handler from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    required = ("model_fn", "input_fn", "predict_fn", "output_fn")
    missing = [fn for fn in required if not callable(getattr(module, fn, None))]
    if missing:
        raise ImportError(f"{path} does not define {', '.join(missing)}")
    return module


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # A cold client may connect while the model is still loading: let the backlog hold it.
    request_queue_size = 64

    def __init__(self, port: int) -> None:
        super().__init__((HOST, port), _Handler)
        self.handler: ModuleType | None = None
        self.model: Any = None
        # One model instance serves every request, as one container worker does: one call at a time.
        self.lock = threading.Lock()

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN (a reverse DNS lookup) only to name itself.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = HOST, self.server_address[1]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = 120  # seconds a silent connection may hold a thread
    # Headers and body leave in one write, without Nagle: on a kept-alive connection, separate small writes wait
    # for the client's delayed ACK (about 40 ms a request). The stdlib flushes after every request.
    wbufsize = -1
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] != "/ping":
            self._send_json(404, {"message": f"no route GET {self.path}: use GET /ping or POST /invocations"})
        elif self.server.model is None:
            self._send_json(503, {"message": "the model is still loading"})
        else:
            self._send(200, "application/json", b"{}")

    def do_POST(self) -> None:
        if self.path.split("?", 1)[0] != "/invocations":
            self._discard_body()
            self._send_json(404, {"message": f"no route POST {self.path}: use POST /invocations"})
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self._send_json(400, {"message": "Content-Length must be a byte count"}, close=True)
            return
        if length > MAX_REQUEST_BYTES:
            # Read it anyway (into nothing): a client still sending when we close would see a broken pipe.
            self._discard_body()
            self._send_json(413, {"message": f"request body of {length} bytes exceeds {MAX_REQUEST_BYTES}"}, close=True)
            return
        body = self.rfile.read(length)
        if self.server.model is None:
            self._send_json(503, {"message": "the model is still loading"})
            return
        content_type = self.headers.get("Content-Type", "")
        accept = self.headers.get("Accept", "")
        if not accept or accept == "*/*":
            accept = DEFAULT_ACCEPT
        try:
            payload, response_type = self._invoke(body, content_type, accept)
            status = 200
        except ValueError as exc:
            # The handler's input errors (a ValueError subclass) say what to fix; a 4xx status they carry wins.
            code = getattr(exc, "status_code", 400)
            status = code if isinstance(code, int) and 400 <= code < 500 else 400
            response_type, payload = "application/json", json.dumps({"message": str(exc)}).encode()
        except Exception as exc:  # the container answers any other handler failure with a 500 as well
            traceback.print_exc(file=sys.stderr)
            response_type = "application/json"
            status, payload = 500, json.dumps({"message": f"{type(exc).__name__}: {exc}"}).encode()
        self._send(status, response_type, payload)

    def _invoke(self, body: bytes, content_type: str, accept: str) -> tuple[bytes, str]:
        handler = self.server.handler
        data: bytes | str = body
        if content_type in UTF8_TYPES:
            try:
                data = body.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ValueError(f"the {content_type} request body is not UTF-8 text ({exc})") from exc
        with self.server.lock:
            prediction = handler.predict_fn(handler.input_fn(data, content_type), self.server.model)
            result = handler.output_fn(prediction, accept)
        response_type = accept
        if isinstance(result, tuple):  # (body, content type), which the container also accepts
            result, response_type = result
        return (result.encode("utf-8") if isinstance(result, str) else bytes(result)), response_type

    def _discard_body(self) -> None:
        try:
            remaining = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            remaining = -1
        if not 0 <= remaining <= DISCARD_LIMIT_BYTES:
            self.close_connection = True
            return
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 1 << 16))
            if not chunk:
                break
            remaining -= len(chunk)

    def _send_json(self, status: int, payload: dict, close: bool = False) -> None:
        self._send(status, "application/json", json.dumps(payload).encode(), close=close)

    def _send(self, status: int, content_type: str, payload: bytes, close: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        if close:  # the unread body would otherwise be parsed as the next request
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        # A line per request would bury the tracebacks that WorkerProcess reports from the stderr tail.
        pass


def serve(model_tar: Path, work_dir: Path, port: int = 0, exit_on_stdin_eof: bool = False) -> None:
    """Bind, load, print READY <port>, serve until SIGTERM/SIGINT. Runs in the worker process."""
    stop = threading.Event()

    def _request_stop(signum: int, frame: Any) -> None:
        if stop.is_set():
            return
        stop.set()
        # Stop while still loading too: unwinding runs the finally below, which closes the socket.
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _request_stop)
    signal.signal(signal.SIGINT, _request_stop)
    if exit_on_stdin_eof:
        threading.Thread(target=_exit_on_stdin_eof, name="sagemaker-worker-lifeline", daemon=True).start()
    server = _Server(port)  # bound and listening before the load, as the container's front end is
    serving = threading.Thread(target=server.serve_forever, name="sagemaker-worker-http", daemon=True)
    serving.start()
    try:
        model_dir = extract_model(model_tar, work_dir)
        handler = load_handler(model_dir / "code" / "inference.py")
        model = handler.model_fn(str(model_dir))
        server.handler, server.model = handler, model
        print(f"READY {server.server_address[1]}", flush=True)
        while not stop.wait(3600):
            pass
    finally:
        server.shutdown()
        server.server_close()


def _exit_on_stdin_eof() -> None:
    # The parent holds our stdin open; EOF means it is gone (even killed with SIGKILL): shut down as on SIGTERM
    # rather than live on as an orphan holding a port and a model. os.read on the bare descriptor: a daemon
    # thread blocked inside sys.stdin's buffered reader holds its lock, and the interpreter aborts at exit.
    while os.read(0, 4096):
        pass
    os.kill(os.getpid(), signal.SIGTERM)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mcv_core.local.sagemaker_worker", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--model-tar", type=Path, required=True, help="model.tar.gz built by sagemaker_model.build")
    parser.add_argument("--work-dir", type=Path, required=True, help="where to unpack it (as /opt/ml/model)")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--exit-on-stdin-eof", action="store_true", help="stop when stdin closes (parent gone)")
    args = parser.parse_args(argv)
    if not args.model_tar.is_file():
        parser.error(f"--model-tar {args.model_tar} is not a file: build it with `python -m sagemaker_model.build`")
    # OpenMP threads spin while they wait for work; with the rest of the local cloud busy on the same cores,
    # that made one inference take 2.4 s instead of 38 ms here. Passive waiting costs ~4 ms when idle (21 -> 25).
    # Set before the handler imports torch, which reads it once.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    serve(args.model_tar, args.work_dir, args.port, args.exit_on_stdin_eof)
    return 0


class WorkerProcess:
    """A worker process seen from its parent: start (timed cold start), invoke, stop. Thread-safe."""

    def __init__(self, model_tar: Path | str, work_dir: Path | str, env: dict[str, str] | None = None) -> None:
        self.model_tar = Path(model_tar).resolve()
        self.work_dir = Path(work_dir).resolve()
        self.env = dict(env or {})  # on top of this process's environment
        self._lock = threading.Lock()
        self._child: Child | None = None
        self._port: int | None = None
        self._last_stderr = ""  # of the last worker, once it is stopped

    @property
    def url(self) -> str:
        """http://127.0.0.1:<port> of the running worker."""
        port = self._port
        if port is None:
            raise RuntimeError("the SageMaker worker is not running: call start() first")
        return f"http://{HOST}:{port}"

    @property
    def pid(self) -> int | None:
        child = self._child
        return child.pid if child is not None else None

    def alive(self) -> bool:
        child = self._child
        return child is not None and self._port is not None and child.alive()

    def start(self, timeout: float = 60.0) -> float:
        """Spawn the worker and wait for READY; return the seconds from spawn to READY (0.0 if already up).

        Raises RuntimeError, with the end of the worker's stderr, when it exits or is not ready in time.
        """
        with self._lock:
            if self.alive():
                return 0.0
            self._stop_locked()
            ready = threading.Event()
            found: list[int] = []

            def on_line(line: bytes) -> None:
                if not found and line.startswith(b"READY "):
                    try:
                        found.append(int(line.split()[1]))
                    except (IndexError, ValueError):
                        return
                    ready.set()

            # The worker imports mcv_core from this checkout, whatever the parent's working directory.
            child = Child(
                "mcv_core.local.sagemaker_worker",
                ["--model-tar", str(self.model_tar), "--work-dir", str(self.work_dir), "--port", "0", "--exit-on-stdin-eof"],
                env=python_path_env({**os.environ, **self.env}),
                on_stdout=on_line,
                on_eof=ready.set,  # the worker exited, so start() need not wait out its timeout
                name="sagemaker-worker",
            )
            started = time.perf_counter()
            child.start()
            self._child = child
            ready.wait(timeout)
            elapsed = time.perf_counter() - started
            if not found:
                code = child.wait(0)
                status = "did not print READY" if code is None else f"exited with code {code}"
                self._stop_locked()
                tail = self._last_stderr
                raise RuntimeError(
                    f"SageMaker worker for {self.model_tar} {status} within {timeout:.0f} s; "
                    f"its stderr ends with:\n{tail or '(nothing)'}"
                )
            self._port = found[0]
            return elapsed

    def stop(self, timeout: float = 10.0) -> int | None:
        """Terminate the worker (SIGTERM, then SIGKILL after `timeout` s); return its exit code (None: not running).

        0 means it shut down cleanly on SIGTERM.
        """
        with self._lock:
            return self._stop_locked(timeout)

    def _stop_locked(self, timeout: float = 10.0) -> int | None:
        child, self._child, self._port = self._child, None, None
        if child is None:
            return None
        code = child.stop(timeout)
        self._last_stderr = child.stderr_tail()  # complete now: stop() waited for the stderr reader
        return code

    def stderr_tail(self) -> str:
        child = self._child
        return child.stderr_tail() if child is not None else self._last_stderr

    def ping(self, timeout: float = 5.0) -> bool:
        """True when the worker answers GET /ping with 200."""
        try:
            return self._request("GET", "/ping", None, {}, timeout)[0] == 200
        except (OSError, RuntimeError):
            return False

    def invoke(
        self, body: bytes, content_type: str | None, accept: str | None = "application/json", timeout: float = 60.0
    ) -> tuple[int, str, bytes]:
        """POST /invocations; return (status, content type, body) for any HTTP status.

        An empty or None content type or accept sends no such header, as a client that omits it would.
        Raises RuntimeError when the worker is not running and OSError (refused, reset, timed out)
        when it cannot be reached or breaks off.
        """
        headers = {name: value for name, value in (("Content-Type", content_type), ("Accept", accept)) if value}
        return self._request("POST", "/invocations", body, headers, timeout)

    def _request(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str], timeout: float
    ) -> tuple[int, str, bytes]:
        # http.client rather than urllib: no proxy variables to dodge and no Content-Type added behind our back.
        port = self._port
        if port is None:
            raise RuntimeError("the SageMaker worker is not running: call start() first")
        connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.getheader("Content-Type", ""), response.read()
        except http.client.HTTPException as exc:
            raise ConnectionError(f"SageMaker worker at {HOST}:{port} answered {method} {path} badly: {exc!r}") from exc
        finally:
            connection.close()

    def __enter__(self) -> WorkerProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


if __name__ == "__main__":
    sys.exit(main())
