"""The local outbox: a run's history items kept on disk while the results table cannot be written.

Layout: `<MCV_DATA_DIR>/outbox/<table>/`
  <created>-<run_id>.json   one file per run: a JSON list of exactly the items `history.run_items` makes
                            (what the table would hold, nothing more: no credentials, no settings)
  .lock                     flock'ed by the process flushing (another flusher skips instead of waiting)
  damaged/                  files that could not be read, moved aside and reported, never deleted

Files are written atomically and durably (temp file, fsync, rename, fsync of the folder), so a reader sees a
whole file or none. A flush writes every item with the table's conditional put (`attribute_not_exists(pk)`),
so an item already there counts as written: a flush interrupted after some writes is simply run again, and
every item ends up in the table exactly once. A file is removed only once all its items are in.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, NamedTuple, Sequence

from .errors import MCVError, StorageError
from .local.state import pid_alive

log = logging.getLogger(__name__)

SUFFIX = ".json"
LOCK_NAME = ".lock"
DAMAGED_DIR = "damaged"
_TEMP = re.compile(r"^\.(?P<name>.+\.json)\.(?P<pid>\d+)\.[0-9a-f]+\.tmp$")
# How often the background flusher looks at the outbox, and how long a compare waits before trying to flush
# again after a flush failed (each failed attempt costs the SDK's retries).
FLUSH_INTERVAL_S = 15.0
RETRY_AFTER_S = 15.0
# A temp file is an abandoned write when its writer's process is gone and it is at least this old (the age also
# covers a writer in another pid namespace sharing the folder).
ABANDONED_AFTER_S = 60.0

PutOnce = Callable[[dict[str, Any]], bool]  # writes an item unless it is there; True when this call wrote it


class Damaged(NamedTuple):
    path: Path  # where the file is now (under damaged/)
    reason: str


@dataclass(frozen=True)
class FlushResult:
    written: int = 0  # items this flush wrote
    already: int = 0  # items that were in the table already (e.g. written by an interrupted flush)
    remaining: int = 0  # runs still waiting in the outbox
    runs: int = 0  # runs this flush completed (their files removed)
    damaged: tuple[Damaged, ...] = ()  # files moved aside
    skipped: bool = False  # another flusher held the lock: this one did nothing
    error: str | None = None  # the storage failure that stopped this flush, if one did

    @property
    def failed(self) -> bool:
        return self.error is not None


class DamagedFile(ValueError):
    """An outbox file that is not a list of one run's items."""


class Outbox:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def damaged_dir(self) -> Path:
        return self.root / DAMAGED_DIR

    # --- adding ---------------------------------------------------------------------------------------------
    def add(self, items: Sequence[dict[str, Any]]) -> Path:
        """Keep one run's items; returns the file. Adding the same run again replaces its file (same items)."""
        items = list(items)
        _check(items)
        data = json.dumps(items, ensure_ascii=False).encode("utf-8")
        path = self.root / _file_name(items)
        self._ensure_root()
        tmp = self.root / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(self.root)
        return path

    # --- looking --------------------------------------------------------------------------------------------
    def pending(self) -> list[Path]:
        """The runs waiting, oldest first (file names start with the run's creation time)."""
        return sorted(path for path in self._entries() if _is_run_file(path.name))

    def has_pending(self) -> bool:
        """Cheap: True as soon as one run (or a leftover of an interrupted add) is seen."""
        return any(_is_run_file(path.name) or _TEMP.match(path.name) for path in self._entries())

    def read(self, path: Path) -> list[dict[str, Any]]:
        try:
            items = json.loads(path.read_bytes())
        except (UnicodeDecodeError, ValueError) as exc:
            raise DamagedFile(f"not JSON: {exc}") from None
        _check(items, DamagedFile)
        return items

    # --- flushing -------------------------------------------------------------------------------------------
    def flush(self, put_once: PutOnce) -> FlushResult:
        """Write every waiting run, oldest first, with `put_once`; see the module's docstring.

        Stops at the first StorageError (the rest waits for the next flush). Another process or thread
        flushing the same outbox makes this call return at once with `skipped`.
        """
        if not self.has_pending():
            return FlushResult()
        lock = self._try_lock()
        if lock is None:
            return FlushResult(skipped=True, remaining=len(self.pending()))
        written = already = runs = 0
        damaged: list[Damaged] = []
        error: str | None = None
        try:
            damaged.extend(self._recover_interrupted_adds())
            for path in self.pending():
                try:
                    items = self.read(path)
                except DamagedFile as exc:
                    damaged.append(self._move_aside(path, str(exc)))
                    continue
                except FileNotFoundError:  # completed by a flusher that ran before the lock was taken
                    continue
                try:
                    for item in items:
                        if put_once(item):
                            written += 1
                        else:
                            already += 1
                except StorageError as exc:
                    error = exc.user_text()
                    break
                path.unlink(missing_ok=True)
                _fsync_dir(self.root)
                runs += 1
        finally:
            os.close(lock)  # releases the flock
        if written or runs:
            log.info("outbox %s: %d runs written (%d items written, %d already there)", self.root, runs, written, already)
        return FlushResult(written, already, len(self.pending()), runs, tuple(damaged), False, error)

    # --- helpers --------------------------------------------------------------------------------------------
    def _entries(self) -> Iterator[Path]:
        try:
            with os.scandir(self.root) as entries:
                for entry in entries:
                    if entry.is_file(follow_symlinks=False):
                        yield Path(entry.path)
        except FileNotFoundError:
            return

    def _ensure_root(self) -> None:
        if self.root.is_dir():
            return
        missing = [p for p in (self.root, *self.root.parents) if not p.exists()]
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        for folder in reversed(missing):  # make the new folders' entries durable too
            _fsync_dir(folder.parent)

    def _try_lock(self) -> int | None:
        fd = os.open(self.root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return None
            raise
        return fd

    def _recover_interrupted_adds(self) -> list[Damaged]:
        """Temp files whose writer died before renaming them: a whole, valid one becomes the run's file (its
        writer had fsynced it), anything else is moved aside. A live writer's temp file is left alone."""
        damaged = []
        for path in self._entries():
            match = _TEMP.match(path.name)
            if not match or pid_alive(int(match["pid"])):
                continue
            try:
                if time.time() - path.stat().st_mtime < ABANDONED_AFTER_S:
                    continue
            except FileNotFoundError:
                continue
            try:
                self.read(path)
            except DamagedFile as exc:
                damaged.append(self._move_aside(path, f"left by an interrupted write, {exc}"))
                continue
            os.replace(path, self.root / match["name"])
            _fsync_dir(self.root)
        return damaged

    def _move_aside(self, path: Path, reason: str) -> Damaged:
        self.damaged_dir.mkdir(exist_ok=True, mode=0o700)
        target = self.damaged_dir / path.name.lstrip(".")
        if target.exists():
            target = target.with_name(f"{target.name}.{time.time_ns()}")
        os.replace(path, target)
        _fsync_dir(self.root)
        _fsync_dir(self.damaged_dir)
        log.info("outbox file %s could not be read (%s): moved to %s", path.name, reason, target)
        return Damaged(target, reason)


class Flusher:
    """Flushes an outbox at the right moments: on demand, before a comparison (unless the outbox is empty or a
    flush failed moments ago) and, in long-lived processes, from a background thread while runs wait."""

    def __init__(
        self,
        flush: Callable[[], FlushResult],
        waiting: Callable[[], bool],
        *,
        interval_s: float = FLUSH_INTERVAL_S,
        retry_after_s: float = RETRY_AFTER_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._flush = flush
        self._waiting = waiting
        self.interval_s = interval_s
        self.retry_after_s = retry_after_s
        self._clock = clock
        self._failed_at: float | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def flush(self) -> FlushResult:
        result = self._flush()
        self._failed_at = self._clock() if result.failed else None
        for damaged in result.damaged:  # the only report a background flush can give
            log.warning("an outbox file could not be read (%s): moved to %s, nothing written from it", damaged.reason, damaged.path)
        return result

    def maybe_flush(self) -> FlushResult | None:
        """A flush when runs wait and no flush failed in the last `retry_after_s`; None when none was tried.
        An outbox folder that cannot be read is logged, not raised: it must not stop a comparison."""
        if self._failed_at is not None and self._clock() - self._failed_at < self.retry_after_s:
            return None
        try:
            if not self._waiting():
                return None
            return self.flush()
        except OSError as exc:
            log.warning("the outbox could not be flushed: %s", exc)
            return None

    # --- background -----------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the background flusher (a daemon thread) unless it runs."""
        with self._lock:
            if self.running:
                return
            self._stop = threading.Event()  # its own: a thread still ending after a stop() stays stopped
            self._thread = threading.Thread(target=self._loop, args=(self._stop,), name="mcv-outbox-flusher", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        with self._lock:
            self._stop.set()
            thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _loop(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                if self._waiting():
                    result = self.flush()
                    if result.failed:
                        log.info("outbox: %d runs wait for the table (%s)", result.remaining, result.error)
            except (MCVError, OSError) as exc:  # e.g. no table set, or the folder unreadable: try again later
                log.warning("the background outbox flush failed: %s", exc)
            stop.wait(self.interval_s)


def _is_run_file(name: str) -> bool:
    return name.endswith(SUFFIX) and not name.startswith(".")


def _check(items: Any, error: type[ValueError] = ValueError) -> None:
    if not isinstance(items, list) or not items:
        raise error("not a non-empty list of items")
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("pk"), str) or not isinstance(item.get("sk"), str):
            raise error("an item without string keys pk and sk")
    if len({item["pk"] for item in items}) != 1:
        raise error("items of more than one run")


def _file_name(items: list[dict[str, Any]]) -> str:
    """<created, digits only>-<run id>.json: sorts oldest first, one name per run."""
    created = next((item["created_at"] for item in items if isinstance(item.get("created_at"), str)), "")
    stamp = re.sub(r"\D", "", created) or f"{time.time_ns()}"
    run = items[0]["pk"].removeprefix("RUN#")
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", run)[:120]
    if safe != run:  # distinct runs must not share a file
        safe += "-" + hashlib.sha256(run.encode()).hexdigest()[:12]
    return f"{stamp}-{safe}{SUFFIX}"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

