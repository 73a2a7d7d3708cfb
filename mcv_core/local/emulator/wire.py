"""What every emulated service shares: the HTTP plumbing, the fault plan, authentication helpers, token counts.

A service module (sagemaker.py, bedrock.py, ...) declares its routes as (method, path pattern, function); the
function receives the request handler, the path match, the query and the body, and answers through the
handler's helpers or by raising `WireError` with the response its service would give.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import logging
import math
import re
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable, NamedTuple, Protocol
from urllib.parse import parse_qs, urlsplit

from PIL import Image, UnidentifiedImageError

from ...judge import parse_request as parse_judge_request
from ...models import Model
from .. import describers, sigv4
from . import standin_judge

log = logging.getLogger("mcv_core.local.emulator")

MAX_BODY_BYTES = 30 * 1024 * 1024
_WORD = re.compile(r"\w+|[^\w\s]", re.UNICODE)


# --- tokens --------------------------------------------------------------------------------------------------


def approx_tokens(text: str) -> int:
    """Text tokens as a BPE tokenizer counts them, approximately: a word costs one token per 4 characters."""
    return sum(max(1, math.ceil(len(piece) / 4)) if piece[0].isalnum() else 1 for piece in _WORD.findall(text))


def token_pieces(text: str) -> list[str]:
    """The text cut where `approx_tokens` counts tokens (a word in pieces of 4 characters, each punctuation mark
    alone, whitespace with the piece after it): as many pieces as tokens, joined back they are the text."""
    pieces: list[str] = []
    position = 0
    for match in _WORD.finditer(text):
        word = match.group()
        parts = [word[i : i + 4] for i in range(0, len(word), 4)] if word[0].isalnum() else [word]
        parts[0] = text[position : match.start()] + parts[0]
        pieces.extend(parts)
        position = match.end()
    if position < len(text):  # trailing whitespace (or a text of whitespace only)
        if pieces:
            pieces[-1] += text[position:]
        else:
            pieces.append(text[position:])
    return pieces


def truncate_to_tokens(text: str, max_tokens: int) -> tuple[str, bool]:
    if approx_tokens(text) <= max_tokens:
        return text, False
    words = text.split()
    while words and approx_tokens(" ".join(words)) > max_tokens:
        words.pop()
    return " ".join(words), True


# --- errors as each service sends them -----------------------------------------------------------------------


class WireError(Exception):
    """A complete error response: raised anywhere in a service's code, sent as is by the handler."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {body}")
        self.status, self.body, self.headers = status, body, headers or {}


def aws_error(status: int, code: str, message: str, extra: dict[str, Any] | None = None) -> WireError:
    # The REST-JSON protocol's error shape: botocore reads the code from x-amzn-ErrorType, before any colon.
    return WireError(status, {"message": message, **(extra or {})}, {"x-amzn-ErrorType": f"{code}:http://internal.amazon.com/"})


# --- faults --------------------------------------------------------------------------------------------------


@dataclass
class Fault:
    """One injected fault. kind: throttle, error, timeout, slow, malformed, auth or cut.

    throttle, error, auth: the service's error response instead of the answer (before a stream's first event);
    slow, timeout: the answer starts `delay_s` late; malformed: a broken body (a stream: a broken first event);
    cut: the connection is closed half-way through the answer (a stream after half its text, without its
    closing events), as when a connection drops mid-answer."""

    kind: str
    count: int = -1  # requests it applies to; -1 until cleared
    delay_s: float = 0.0  # for slow and timeout
    status: int = 500  # for error

    KINDS = ("throttle", "error", "timeout", "slow", "malformed", "auth", "cut")

    def __post_init__(self) -> None:
        if self.kind not in self.KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; known: {', '.join(self.KINDS)}")


class Faults:
    """The fault plan of each service: a queue of faults, each for its count of requests."""

    def __init__(self, services: tuple[str, ...]) -> None:
        self.services = services
        self._lock = threading.Lock()
        self._plan: dict[str, list[Fault]] = {}

    def set(self, service: str, faults: list[Fault]) -> None:
        if service not in self.services:
            raise ValueError(f"unknown service {service!r}; known: {', '.join(self.services)}")
        with self._lock:
            self._plan[service] = list(faults)

    def clear(self) -> None:
        with self._lock:
            self._plan.clear()

    def take(self, service: str) -> Fault | None:
        with self._lock:
            queue = self._plan.get(service, [])
            while queue:
                fault = queue[0]
                if fault.count == 0:
                    queue.pop(0)
                    continue
                if fault.count > 0:
                    fault.count -= 1
                return fault
            return None

    def describe(self) -> dict[str, list[dict[str, Any]]]:
        """The faults still to come (used-up ones are not listed)."""
        with self._lock:
            plan = {service: [asdict(f) for f in faults if f.count != 0] for service, faults in self._plan.items()}
            return {service: faults for service, faults in plan.items() if faults}


class FaultAnswers(NamedTuple):
    """How one service answers the injected faults that replace an answer (fresh errors: requests run at once)."""

    throttle: Callable[[], WireError]
    error: Callable[[int], WireError]  # the status asked for -> the service's 5xx
    auth: Callable[[], WireError]
    malformed: bytes  # a truncated body, as a proxy that cut the connection would leave


def apply_fault(faults: Faults, service: str, answers: FaultAnswers) -> str | None:
    """Act on the service's next fault before answering: sleep for slow and timeout, raise the answer for
    throttle, error and auth. Returns what is left to do to the answer itself: "malformed", "cut" or None."""
    fault = faults.take(service)
    if fault is None:
        return None
    if fault.kind in ("slow", "timeout"):
        time.sleep(fault.delay_s)
        return None
    if fault.kind == "throttle":
        raise answers.throttle()
    if fault.kind == "error":
        raise answers.error(fault.status)
    if fault.kind == "auth":
        raise answers.auth()
    return fault.kind


# --- images --------------------------------------------------------------------------------------------------


class BadImage(ValueError):
    pass


def open_image(data: bytes, max_bytes: int) -> Image.Image:
    """A decoded RGB image from the bytes a request carried, or BadImage saying why not."""
    if len(data) > max_bytes:
        raise BadImage(f"image exceeds {max_bytes // (1024 * 1024)} MB maximum")
    try:
        image = Image.open(io.BytesIO(data), formats=["JPEG", "PNG", "WEBP", "GIF"])
        image.load()
    except (UnidentifiedImageError, OSError) as exc:
        raise BadImage(f"could not process image: {exc}") from exc
    return image.convert("RGB")


def decode_base64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


BAD_INPUT = (ValueError, KeyError, TypeError, IndexError, binascii.Error)  # what a malformed request raises


# --- HTTP ----------------------------------------------------------------------------------------------------


class Host(Protocol):
    """What the handler needs from the emulator that owns it."""

    conn: Any  # state.Connection
    faults: Faults
    streams: Any  # streaming.StreamLog

    def count(self, service: str) -> None: ...

    def tokens_per_s(self, model: Model) -> float: ...


class Route(NamedTuple):
    method: str
    pattern: re.Pattern[str]
    answer: Callable[["Handler", re.Match[str], dict[str, list[str]], bytes], None]


class Handler(BaseHTTPRequestHandler):
    """The request handler every service's routes run in; `emu` and `routes` are set by the emulator."""

    emu: Host
    routes: tuple[Route, ...] = ()
    received_ns = 0  # time.monotonic_ns() when the request's line and headers had been read
    connection_requests = 0  # requests read on this connection so far (one handler per connection)
    protocol_version = "HTTP/1.1"
    server_version = "mcv-ai-emulator"
    # Headers and body leave in one write, without Nagle: on a kept-alive connection, separate small writes wait
    # for the client's delayed ACK (about 40 ms a request). The stdlib flushes after every request.
    wbufsize = -1
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        log.debug("%s - %s", self.address_string(), format % args)

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            raise aws_error(413, "ValidationException", f"Request body of {length} bytes exceeds {MAX_BODY_BYTES}.")
        return self.rfile.read(length) if length else b""

    def send(
        self, status: int, body: bytes, content_type: str = "application/json", headers: dict[str, str] | None = None,
        cut: bool = False,
    ) -> None:  # fmt: skip
        """A whole response; `cut`: only the first half of the body, then the connection is closed."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if cut:
            self.wfile.write(body[: len(body) // 2])
            self.cut()
            return
        self.wfile.write(body)

    # A stream: HTTP/1.1 chunked transfer, one chunk per event, each flushed as it is written (Nagle is off, so
    # it leaves at once). The headers leave with the first event. A cut closes the connection without the last
    # (empty) chunk, so the client sees the body end early, as when a real connection drops.
    def start_chunked(self, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()

    def write_chunk(self, data: bytes) -> None:
        if data:  # an empty chunk would end the body
            self.wfile.write(b"%x\r\n%b\r\n" % (len(data), data))
            self.wfile.flush()

    def end_chunked(self, last: bytes = b"") -> None:
        """End the body: the last event's chunk (if any) and the empty chunk leave in one write."""
        self.wfile.write((b"%x\r\n%b\r\n" % (len(last), last) if last else b"") + b"0\r\n\r\n")
        self.wfile.flush()

    def cut(self) -> None:
        self.wfile.flush()
        self.close_connection = True  # the server closes the socket once this handler returns

    def send_json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        self.send(status, json.dumps(data).encode(), headers=headers)

    def aws_authorise(self, body: bytes, signing_name: str) -> None:
        """Raise the AWS error for a request not signed (SigV4) with the local cloud's key for this service."""
        failure = sigv4.verify(
            self.command,
            self.path,
            {k: v for k, v in self.headers.items()},
            body,
            self.emu.conn.access_key_id,
            self.emu.conn.secret_access_key,
            self.headers.get("Host", ""),
            expected_service=signing_name,
            expected_region=self.emu.conn.region,
        )
        if failure is not None:
            raise aws_error(403, failure.code, failure.message)

    def admin_authorise(self) -> None:
        """The local cloud's own routes (/_mcv/...) take its api-key, as its admin API does."""
        if self.headers.get("api-key") != self.emu.conn.azure_api_key:
            raise WireError(401, {"message": "admin calls need the local cloud's api-key header"})

    def _dispatch(self) -> None:
        self.received_ns = time.monotonic_ns()
        self.connection_requests += 1
        path = self.path.split("?", 1)[0]
        try:
            parts = urlsplit(self.path)
            for route in self.routes:
                if route.method == self.command and (match := route.pattern.fullmatch(parts.path)):
                    body = self.read_body() if self.command in ("POST", "PUT") else b""
                    route.answer(self, match, parse_qs(parts.query), body)
                    return
            self.send_json(404, {"message": f"no route for {self.command} {path}"})
        except WireError as exc:
            self.send_json(exc.status, exc.body, exc.headers)
        except (BrokenPipeError, ConnectionResetError):
            log.info("client went away during %s %s", self.command, path)

    do_GET = do_POST = do_PUT = do_DELETE = _dispatch  # noqa: N815 - the stdlib's names


# --- the stand-ins' answers ----------------------------------------------------------------------------------


def describe_or_decline(model: Model, picture: Image.Image | None, prompt: str) -> str:
    """The model's local stand-in's answer; without an image it says plainly that it only describes images
    (a text-only request, such as a health check's ping, gets that instead of an invented answer). A judge
    request (mcv_core.judge's format) with its image gets the stand-in judge's JSON judgment."""
    local = describers.for_model(model)
    if picture is None:
        return f"No image was given: this local stand-in for {model.title} ({' + '.join(local.models)}) only describes images."
    request = parse_judge_request(prompt)
    if request is not None:
        return standin_judge.judge(local, model.title, picture, request)
    return local.describe(picture, prompt).text
