"""A long piece of work (a benchmark, a concurrency sweep) in a background thread, for a page that polls it.

    job = BackgroundJob("benchmark bench-…", work, initial_progress).start()
    ... job.progress, job.done, job.cancel() ...
    job.outcome (when the work returned), job.error (when it raised: e.g. an image failed to load)

`work(on_progress, cancel)` reports its progress through `on_progress` and stops starting new pieces once `cancel`
is set; pieces already running finish and are kept. Reads are thread-safe.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from typing import Any, Callable, Generic, TypeVar

log = logging.getLogger(__name__)

P = TypeVar("P")  # the progress: a frozen dataclass with a `cancelling` field
O = TypeVar("O")  # the outcome

Work = Callable[[Callable[[P], None], threading.Event], O]


class BackgroundJob(Generic[P, O]):
    def __init__(self, name: str, work: Work[P, O], progress: P) -> None:
        self.name = name  # for the log and the thread: "benchmark bench-…", "sweep sweep-…"
        self._work = work
        self._cancel = threading.Event()
        self._finished = threading.Event()
        self._lock = threading.Lock()
        self._progress = progress
        self._outcome: O | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"mcv-{name.split()[-1]}", daemon=True)

    def start(self) -> Any:
        self._thread.start()
        return self

    def _set_progress(self, progress: P) -> None:
        with self._lock:
            self._progress = progress

    def _run(self) -> None:
        try:
            outcome = self._work(self._set_progress, self._cancel)
        except Exception as exc:  # handed to the page through .error; nothing is lost
            log.exception("%s stopped", self.name)
            with self._lock:
                self._error = exc
        else:
            with self._lock:
                self._outcome = outcome
        finally:
            self._finished.set()

    def cancel(self) -> None:
        """Start no more pieces; running ones finish and are kept."""
        self._cancel.set()
        with self._lock:
            if self._progress is not None and not self._finished.is_set():
                self._progress = replace(self._progress, cancelling=True)  # type: ignore[type-var]

    def wait(self, timeout: float | None = None) -> bool:
        """True once the job has finished (with an outcome or an error)."""
        return self._finished.wait(timeout)

    @property
    def progress(self) -> P:
        with self._lock:
            return self._progress

    @property
    def done(self) -> bool:
        return self._finished.is_set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def outcome(self) -> O | None:
        with self._lock:
            return self._outcome

    @property
    def error(self) -> BaseException | None:
        with self._lock:
            return self._error
