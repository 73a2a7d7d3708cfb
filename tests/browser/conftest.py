"""Browser tests: the real app under `streamlit run`, on the session's local cloud, driven in Debian chromium."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
# Playwright cannot download its own browsers here; these flags keep Debian's chromium quiet and offline.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SERVER_START_S = 90.0
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


def _install_chromium() -> str | None:
    """What `make browser-deps` does; returns why it could not, or None once chromium is there."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return "not root or no apt-get, so it cannot be installed here (run `make browser-deps`)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "install", "-y", "-qq", "chromium"], ["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        try:
            subprocess.run(command, env=env, capture_output=True, timeout=600, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"`{' '.join(command)}` failed: {exc}"
        if CHROMIUM.exists():
            return None
    return "apt-get could not install it (no package source reachable?)"


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not CHROMIUM.exists():
        why = _install_chromium()
        if why is not None:
            pytest.skip(f"{CHROMIUM} is absent and {why}")
    return str(CHROMIUM)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


class StreamlitServer:
    def __init__(self, url: str, log: Path) -> None:
        self.url = url
        self.log = log

    def log_tail(self) -> str:
        return _tail(self.log)


@contextlib.contextmanager
def serve_streamlit(log_dir: Path) -> Iterator[StreamlitServer]:
    """`streamlit run app.py` on a free loopback port, with the environment of the test's local cloud."""
    log = log_dir / "streamlit.log"
    env = dict(os.environ)  # local_env has been applied to os.environ: the app finds the same local cloud
    for attempt in range(3):  # a free port can be taken between finding it and binding it
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        command = [
            sys.executable, "-m", "streamlit", "run", "app.py",
            "--server.address", "127.0.0.1",
            "--server.port", str(port),
            "--server.headless", "true",
            "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none",
        ]  # fmt: skip
        with log.open("ab") as log_file:
            proc = subprocess.Popen(command, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + SERVER_START_S
            while proc.poll() is None and time.monotonic() < deadline and not _healthy(url):
                time.sleep(0.25)
            if proc.poll() is not None:
                if attempt < 2 and "already in use" in _tail(log):
                    continue
                pytest.fail(f"streamlit exited during start-up (code {proc.returncode}):\n{_tail(log)}")
            if not _healthy(url):
                pytest.fail(f"streamlit did not answer on {url} within {SERVER_START_S:g} s:\n{_tail(log)}")
            yield StreamlitServer(url, log)
            return
        finally:
            _stop(proc)


@pytest.fixture(scope="module")
def streamlit_server(local_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[StreamlitServer]:
    """One server for the tests of a module."""
    with serve_streamlit(tmp_path_factory.mktemp("streamlit")) as server:
        yield server


@pytest.fixture
def fresh_streamlit_server(
    local_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StreamlitServer]:
    """A server of its own that has served no page yet: for what only a first visit shows (deep links)."""
    with serve_streamlit(tmp_path_factory.mktemp("streamlit-fresh")) as server:
        yield server


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


class GuardedPage:
    """A page whose requests may only go to loopback; the others are aborted and remembered."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.outside: list[str] = []
        page.route("**/*", self._route)

    def _route(self, route: Any) -> None:
        url = route.request.url
        host = urlsplit(url).hostname or ""
        if host in LOOPBACK or not url.startswith(("http:", "https:", "ws:", "wss:")):
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()


@pytest.fixture
def guarded_page(browser: Any) -> Iterator[GuardedPage]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(30_000)
    try:
        yield GuardedPage(context.new_page())
    finally:
        context.close()
