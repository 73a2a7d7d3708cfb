"""How a stand-in's text leaves the emulator: paced at its family's emulated rate, streamed or whole, recorded.

The stand-in's real compute runs first (before any byte of the answer): it stands for reading the prompt. Then
generation begins: the events that open a stream (messageStart, the role chunk) leave at once, and the text, cut
in token-sized pieces (`wire.token_pieces`: as many as `approx_tokens` counts), follows one piece per event,
piece k (from 0) at (k + 1) / rate seconds, each piece taking one token's time: the family's
`emulated_tokens_per_s` (models.py), or `MCV_LOCAL_TOKENS_PER_S` for every family. These rates are an emulation
setting, not a measurement. An unstreamed answer is sent whole when its last piece would have been, so a call
takes as long streamed as not, as on the real services.

Every answer (streamed or not) is recorded in a small ring, `StreamLog`, with the monotonic time
(`time.monotonic_ns`: CLOCK_MONOTONIC, the same clock in every process of the machine) at which its first text
started to leave: the admin route `GET /_mcv/streams` lists them, for the bench that checks the app's TTFT.
Faults: `cut` ends a stream after half its text pieces (an unstreamed answer after half its body) by closing
the connection, without the closing events; `malformed` sends a broken first event.
"""

from __future__ import annotations

import collections
import math
import os
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

from ... import models
from .wire import Handler, approx_tokens, token_pieces

TOKENS_PER_S_VARIABLE = "MCV_LOCAL_TOKENS_PER_S"
STREAM_LOG_SIZE = 256


def rate_override(environ: Any = os.environ) -> float | None:
    """`MCV_LOCAL_TOKENS_PER_S` as a number (None when unset); ValueError saying what it must be otherwise."""
    raw = (environ.get(TOKENS_PER_S_VARIABLE) or "").strip()
    if not raw:
        return None
    try:
        rate = float(raw)
    except ValueError:
        rate = math.nan
    if not rate > 0:
        raise ValueError(
            f"{TOKENS_PER_S_VARIABLE} must be a positive number of tokens per second "
            f"('inf' sends the text at once), not {raw!r}"
        )
    return rate


def tokens_per_s(model: models.Model, override: float | None) -> float:
    """The emulated output rate of a model's stand-in; inf (no pacing) for a family that declares none."""
    rate = override if override is not None else model.family.emulated_tokens_per_s
    return rate if rate > 0 else math.inf


def wait_until(deadline: float) -> None:
    """Sleep until time.monotonic() reaches `deadline` (deadlines, not intervals: oversleeps do not add up)."""
    remaining = deadline - time.monotonic()
    if remaining > 0:
        time.sleep(remaining)


@dataclass
class StreamRecord:
    """One answer as it left: monotonic nanoseconds, how it ended ("complete", "cut", "malformed", "client_gone")."""

    service: str
    model: str
    streamed: bool
    received_ns: int  # the request's line and headers had been read
    output_tokens: int
    tokens_per_s: float | None  # None: not paced
    connection_request: int  # the nth request read on its connection (1: it came on a new connection)
    # Stamped just before a write, so that a client cannot have the bytes before the stamp:
    first_text_ns: int | None = None  # the write carrying the first text began
    end_ns: int | None = None  # the answer's last write began (the stream's end, the cut; or it failed)
    text_events: int = 0
    ended: str = "complete"


class StreamLog:
    """The last `size` answers' records, oldest first; thread-safe."""

    def __init__(self, size: int = STREAM_LOG_SIZE) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._records: collections.deque[StreamRecord] = collections.deque(maxlen=size)

    def add(self, record: StreamRecord) -> None:
        with self._lock:
            self._records.append(record)

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(r) for r in self._records]


class TextAnswer:
    """A stand-in's answer on its way out of one request: paced, faults applied, recorded in the emulator's log."""

    def __init__(self, h: Handler, service: str, model: models.Model, text: str, streamed: bool, fault: str | None) -> None:
        self.h = h
        self.text = text
        self.pieces = token_pieces(text)
        self.rate = h.emu.tokens_per_s(model)
        self.fault = fault
        self.record = StreamRecord(
            service, model.key, streamed, h.received_ns, approx_tokens(text),
            None if math.isinf(self.rate) else self.rate, h.connection_requests,
        )  # fmt: skip

    def _at(self, piece: int) -> float:
        """When piece `piece` (from 0) is ready, seconds after generation began."""
        return 0.0 if math.isinf(self.rate) else (piece + 1) / self.rate

    def send_whole(self, body: Callable[[], bytes], malformed: bytes, content_type: str = "application/json") -> None:
        """The answer in one response, sent when its last piece would have been streamed; `body()` is built then."""
        start = time.monotonic()
        wait_until(start + self._at(len(self.pieces) - 1))
        payload = malformed if self.fault == "malformed" else body()
        self.record.ended = self.fault if self.fault in ("malformed", "cut") else "complete"

        def send() -> None:
            now = time.monotonic_ns()
            self.record.first_text_ns, self.record.end_ns = (now if self.pieces else None), now
            self.h.send(200, payload, content_type, cut=self.fault == "cut")

        self._finish(send)

    def send_events(
        self,
        content_type: str,
        head: Sequence[bytes],
        delta: Callable[[str], bytes],
        tail: Callable[[], Sequence[bytes]],
        malformed: bytes,
    ) -> None:
        """A streamed answer: `head` events at once, one `delta(piece)` event per piece at the emulated rate, then
        `tail()`'s events (built at the end, so they can carry the time taken); over chunked transfer, one HTTP
        chunk per event, each flushed as it is written."""
        self._finish(lambda: self._stream(content_type, head, delta, tail, malformed))

    def _stream(
        self, content_type: str, head: Sequence[bytes], delta: Callable[[str], bytes],
        tail: Callable[[], Sequence[bytes]], malformed: bytes,
    ) -> None:  # fmt: skip
        h = self.h
        h.start_chunked(content_type)
        if self.fault == "malformed":
            self.record.ended = "malformed"
            self._last_write(lambda: h.end_chunked(malformed))
            return
        for event in head:
            h.write_chunk(event)
        cut_after = max(1, len(self.pieces) // 2) if self.fault == "cut" else None
        start = time.monotonic()
        for k, piece in enumerate(self.pieces):
            if k == cut_after:
                break
            wait_until(start + self._at(k))
            if k == 0:
                self.record.first_text_ns = time.monotonic_ns()
            h.write_chunk(delta(piece))
            self.record.text_events += 1
        if self.fault == "cut":
            self.record.ended = "cut"
            self._last_write(h.cut)
            return
        events = list(tail())
        for event in events[:-1]:
            h.write_chunk(event)
        self._last_write(lambda: h.end_chunked(events[-1] if events else b""))  # the last event ends the body

    def _last_write(self, write: Callable[[], None]) -> None:
        self.record.end_ns = time.monotonic_ns()
        write()

    def _finish(self, send: Callable[[], None]) -> None:
        """Run the sending, recording the answer whatever happens (a client that goes away is recorded so)."""
        try:
            send()
        except (BrokenPipeError, ConnectionResetError):
            self.record.ended = "client_gone"
            raise
        finally:
            if self.record.end_ns is None or self.record.ended == "client_gone":
                self.record.end_ns = time.monotonic_ns()
            self.h.emu.streams.add(self.record)
