"""Timing a streamed answer: when the request left, when its first text arrived, when the stream ended, and the
two figures made from those stamps.

- `ttft_ms`: from the request leaving (stamped just before the SDK call that sends it) to the first non-empty
  text arriving.
- `output_tokens_per_s`: the output tokens after the first, over the time from the first text to the end of the
  stream — the rate at which the rest of the answer came. None with fewer than 2 output tokens or no time
  after the first text (nothing to divide).

`stream_figures` is the one place this arithmetic lives; `StreamTimer` takes the stamps on an injectable clock
(tests drive it with a clock of their own), passes each text delta on, and keeps the text received so far (what a
cut stream's error result keeps).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

from .errors import StreamCutError


@dataclass(frozen=True)
class StreamFigures:
    ttft_ms: float | None
    output_tokens_per_s: float | None


def stream_figures(sent: float, first_text: float | None, ended: float | None, output_tokens: int | None) -> StreamFigures:
    """The figures of one streamed call from its stamps (seconds on one clock). No first text: neither figure."""
    if first_text is None:
        return StreamFigures(None, None)
    ttft_ms = round((first_text - sent) * 1000, 3)
    rate = None
    if ended is not None and output_tokens is not None and output_tokens >= 2 and ended > first_text:
        rate = round((output_tokens - 1) / (ended - first_text), 3)
    return StreamFigures(ttft_ms, rate)


class StreamTimer:
    """The stamps of one streamed call. `start()` just before the SDK call, `text(delta)` for each text delta as
    it arrives (passed on to `on_text`), `end()` when the stream's last event arrived."""

    def __init__(self, on_text: Callable[[str], None] | None = None, clock: Callable[[], float] = time.perf_counter) -> None:
        self.on_text = on_text
        self.clock = clock
        self.sent: float | None = None
        self.first_text: float | None = None
        self.ended: float | None = None
        self._parts: list[str] = []

    def start(self) -> None:
        self.sent = self.clock()

    def text(self, delta: str) -> None:
        if not delta:
            return
        if self.first_text is None:
            self.first_text = self.clock()
        self._parts.append(delta)
        if self.on_text is not None:
            self.on_text(delta)

    def end(self) -> None:
        self.ended = self.clock()

    @property
    def received(self) -> str:
        """Every text delta so far, joined."""
        return "".join(self._parts)

    @property
    def began(self) -> bool:
        """True once the first text has arrived."""
        return self.first_text is not None

    @property
    def ttft_ms(self) -> float | None:
        return self.figures(None).ttft_ms

    def figures(self, output_tokens: int | None) -> StreamFigures:
        if self.sent is None:
            return StreamFigures(None, None)
        return stream_figures(self.sent, self.first_text, self.ended, output_tokens)

    def cut(self, reason: str, **kwargs: Any) -> StreamCutError:
        """The error for this stream stopping now, keeping what it received."""
        return StreamCutError.after(self.received, reason, ttft_ms=self.ttft_ms, **kwargs)
