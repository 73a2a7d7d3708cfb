"""One Python child process seen from its parent: spawned with pipes, read line by line, stopped for sure.

Used by the SageMaker worker (sagemaker_worker.WorkerProcess) and the Lambda execution environment
(lambda_runner.HostProcess). Both of the child's output pipes are drained for its whole life, so it never blocks
on a full pipe: stdout lines go to the owner's callback (which looks for READY or a protocol message), stderr
lines to a bounded tail kept for error messages.
"""

from __future__ import annotations

import collections
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
TAIL_LINES = 40


def python_path_env(env: dict[str, str]) -> dict[str, str]:
    """`env` with this checkout on PYTHONPATH, so that `python -m mcv_core...` works from any directory."""
    return {**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))}


class Child:
    """A `python -m <module> ...` child with stdin, stdout and stderr piped.

    on_stdout(line) runs in a reader thread for each line of stdout (bytes, newline included) and on_eof() once
    stdout ends (the child exited or closed it), so that a parent waiting for a first line need not wait out
    its timeout."""

    def __init__(
        self,
        module: str,
        args: list[str],
        *,
        env: dict[str, str],
        on_stdout: Callable[[bytes], None],
        on_eof: Callable[[], None] = lambda: None,
        cwd: Path | None = None,
        name: str = "child",
    ) -> None:
        self.command = [sys.executable, "-m", module, *args]
        self.env, self.cwd, self.name = env, cwd, name
        self._on_stdout, self._on_eof = on_stdout, on_eof
        self._proc: subprocess.Popen[bytes] | None = None
        self._readers: list[threading.Thread] = []
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None else None

    def alive(self) -> bool:
        proc = self._proc
        return proc is not None and proc.poll() is None

    def start(self) -> None:
        self._stderr_tail.clear()
        proc = subprocess.Popen(
            self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=self.env, cwd=self.cwd, close_fds=True,
        )  # fmt: skip
        self._proc = proc
        self._readers = [
            threading.Thread(target=self._read_stdout, args=(proc,), name=f"{self.name}-stdout", daemon=True),
            threading.Thread(target=self._read_stderr, args=(proc,), name=f"{self.name}-stderr", daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def write_line(self, line: bytes) -> None:
        """Send one line to the child's stdin; BrokenPipeError or ValueError when the child is gone."""
        proc = self._proc
        if proc is None or proc.stdin is None:
            raise BrokenPipeError(f"the {self.name} process is not running")
        proc.stdin.write(line)
        proc.stdin.flush()

    def wait(self, timeout: float) -> int | None:
        """The exit code, waiting up to `timeout` s for it; None when it still runs or never ran."""
        proc = self._proc
        if proc is None:
            return None
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout: float, *, close_stdin_first: bool = False) -> int | None:
        """End the child: SIGTERM (or, with close_stdin_first, closing its stdin, which it takes as the signal to
        leave), then SIGKILL after `timeout` s. Returns its exit code (None: it was not started)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        if close_stdin_first:
            self._close_stdin(proc)
        elif proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        self._close_stdin(proc)
        for reader in self._readers:
            reader.join(timeout=2.0)
        self._readers = []
        return proc.returncode

    def stderr_tail(self) -> str:
        return "\n".join(self._stderr_tail).strip()

    @staticmethod
    def _close_stdin(proc: subprocess.Popen[bytes]) -> None:
        if proc.stdin is not None:
            try:
                proc.stdin.close()
            except OSError:  # a pipe whose reader is gone cannot flush; it is closed all the same
                pass

    def _read_stdout(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self._on_stdout(line)
        self._on_eof()

    def _read_stderr(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self._stderr_tail.append(line)
            log.debug("%s %s: %s", self.name, proc.pid, line)
