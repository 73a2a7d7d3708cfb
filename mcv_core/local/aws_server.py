"""moto in server mode, in a process of its own, with its state kept across restarts.

moto's recorder appends every request it serves to a file; at start the recording is compacted (reads and the
transient SQS traffic are dropped), then replayed into the fresh server through
`/moto-api/recorder/replay-recording`. The recorder pauses itself during a replay, so nothing is recorded twice.
Provisioning runs before the replay with recording paused: it is redone at every start, and the replay then
applies the data and every later change on top of it.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Iterator
from urllib.parse import parse_qs, urlsplit

import requests

from ..errors import LocalCloudError
from .moto_guard import ADMIN_HEADER
from .state import Credentials

log = logging.getLogger(__name__)

# Actions that only read (JSON and query protocols name them in X-Amz-Target or Action=).
_READ_PREFIXES = ("Get", "Describe", "List", "Query", "Scan", "BatchGet", "Head", "Filter", "Search", "Test")
_TRANSIENT_TARGETS = ("AmazonSQS.",)  # queue traffic is redone by provisioning, its messages are transient


def _action(entry: dict) -> str:
    headers = {k.lower(): v for k, v in (entry.get("headers") or {}).items()}
    target = headers.get("x-amz-target", "")
    if target:
        return target
    body = entry.get("body") or ""
    if entry.get("body_encoded"):  # moto's server records every body base64-encoded
        try:
            body = base64.b64decode(body).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            return ""
    if "Action=" in body:
        return parse_qs(body).get("Action", [""])[0]
    return ""


def is_worth_replaying(entry: dict) -> bool:
    """True for requests that changed state that the next start must restore."""
    method = str(entry.get("method", "")).upper()
    if method in ("GET", "HEAD", "OPTIONS"):
        return False
    action = _action(entry)
    if any(action.startswith(prefix) for prefix in _TRANSIENT_TARGETS):
        return False
    headers = {k.lower(): v for k, v in (entry.get("headers") or {}).items()}
    scope = headers.get("authorization", "").split("/")[3:4]  # SigV4's credential scope names the service
    if "sqs" in scope:
        return False
    if "monitoring" in scope and "PutMetricData" in f"{entry.get('url', '')} {action}":
        return False  # metrics are transient too: alarms look at minutes, and a restart starts them afresh
    if method == "PUT" and "notification" in urlsplit(str(entry.get("url", ""))).query.split("&"):
        # The bucket's event notification is connected at every start, after the replay: replaying it would
        # announce the uploads replayed after it again.
        return False
    name = action.rsplit(".", 1)[-1]
    return not name.startswith(_READ_PREFIXES)


def _entries(line: str) -> Iterator[tuple[str, dict | None]]:
    """The recorded requests on one line, each with its text; (rest, None) for a rest that is no request.

    moto's recorder writes an entry and its newline in two writes, from every server thread at once: an entry
    large enough to go to the file at once (a multi-megabyte upload) can have a small entry written between it
    and its newline, which puts two entries on one line. Both are requests that happened, so both are kept."""
    decoder = json.JSONDecoder()
    at = 0
    while at < len(line):
        try:
            entry, end = decoder.raw_decode(line, at)
        except json.JSONDecodeError:
            yield line[at:], None  # cut short by a crash mid-write
            return
        yield line[at:end], entry if isinstance(entry, dict) else None
        at = end
        while at < len(line) and line[at].isspace():
            at += 1


def compact_recording(path: Path) -> tuple[int, int]:
    """Keep only what is worth replaying; returns (kept, dropped). Atomic: a crash leaves the old file."""
    if not path.is_file():
        return 0, 0
    kept: list[str] = []
    dropped = 0
    with path.open() as handle:
        for line in handle:
            line = line.strip()
            for text, entry in _entries(line):
                if entry is not None and is_worth_replaying(entry):
                    kept.append(text)
                else:
                    dropped += 1
    tmp = path.with_suffix(".compact")
    tmp.write_text("".join(f"{line}\n" for line in kept))
    os.replace(tmp, path)
    return len(kept), dropped


class MotoProcess:
    """moto's server on 127.0.0.1:port behind the local cloud's credentials (moto_guard.py), recording into
    `recording`. Its own API (recorder, state) takes the admin token made here for this process."""

    def __init__(self, port: int, recording: Path, log_file: Path, creds: Credentials, region: str) -> None:
        self.port = port
        self.recording = recording
        self.log_file = log_file
        self.creds = creds
        self.region = region
        self.url = f"http://127.0.0.1:{port}"
        self._admin = {ADMIN_HEADER: secrets.token_urlsafe(24)}
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        self.recording.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.update(
            MOTO_ENABLE_RECORDING="True",
            MOTO_RECORDER_FILEPATH=str(self.recording),
            # moto must not reach the internet for anything (no docker, no AMI lookups).
            MOTO_DOCKER_NETWORK_MODE="none",
            MCV_MOTO_ACCESS_KEY_ID=self.creds.access_key_id,
            MCV_MOTO_SECRET_ACCESS_KEY=self.creds.secret_access_key,
            MCV_MOTO_REGION=self.region,
            MCV_MOTO_ADMIN_TOKEN=self._admin[ADMIN_HEADER],
        )
        for key in [k for k in env if k.startswith("AWS_ENDPOINT_URL")]:
            env.pop(key)
        self._log = self.log_file.open("ab")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "mcv_core.local.moto_guard", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise LocalCloudError(f"moto server exited with code {self._proc.returncode}", hint=f"see {self.log_file}")
            try:
                requests.get(f"{self.url}/moto-api/data.json", headers=self._admin, timeout=2).raise_for_status()
                return
            except requests.ConnectionError:
                time.sleep(0.1)
        self.stop()
        raise LocalCloudError(f"moto server did not answer within {timeout:g} s", hint=f"see {self.log_file}")

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _post(self, path: str, timeout: float = 600.0) -> None:
        response = requests.post(f"{self.url}/moto-api/recorder/{path}", headers=self._admin, timeout=timeout)
        response.raise_for_status()

    def pause_recording(self) -> None:
        self._post("stop-recording")

    def resume_recording(self) -> None:
        self._post("start-recording")

    def replay(self) -> int:
        """Replay the compacted recording into this server; returns the number of requests replayed."""
        kept, dropped = compact_recording(self.recording)
        if kept:
            started = time.monotonic()
            self._post("replay-recording")
            log.info("replayed %d requests (%d dropped as reads or transient) in %.1f s", kept, dropped, time.monotonic() - started)
        return kept

    def stop(self, timeout: float = 10.0) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
