"""Shared fixtures: a guard against real network calls, and one local cloud for the whole session."""

from __future__ import annotations

import io
import ipaddress
import os
import socket
from pathlib import Path
from typing import Any, Iterator

import pytest

REPO = Path(__file__).resolve().parents[1]
# Keys no test should ever see in the wild; the local cloud makes its own.
_SCRUBBED = (
    "AWS_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AZURE_OPENAI_API_KEY",
    "AZURE_OPENAI_ENDPOINT",
    "OPENAI_API_KEY",
)


def pytest_configure(config: pytest.Config) -> None:
    # Nothing a developer has in their shell or .env may reach the tests.
    for name in list(os.environ):
        if name.startswith(("MCV_", "AWS_ENDPOINT_URL")) or name in _SCRUBBED:
            os.environ.pop(name)
    os.environ["MCV_ENV_FILE"] = os.devnull
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"


_real_connect = socket.socket.connect


def _guarded_connect(self: socket.socket, address: object) -> object:
    if self.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
        host = address[0]
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise RuntimeError(f"a test tried to reach {host}: tests may only talk to 127.0.0.1")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connection to a non-loopback address fails loudly (pydantic-ai's guard, here for sockets)."""
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)


# --- AppTest ---------------------------------------------------------------------------------------------


@pytest.fixture
def routed(monkeypatch: pytest.MonkeyPatch) -> None:
    """AppTest resets Streamlit's legacy `pages/` flag before each run, so every run after the first would start
    in legacy mode; pages/_shared.py then reruns through the router (its deep-link fix), and that extra rerun
    drops the run's button clicks. On a server the flag is cleared once, by the first st.navigation call: here
    it is kept cleared, so each run is what a served app does. (The deep link itself: tests/browser.)"""
    from streamlit.runtime.pages_manager import PagesManager

    original = PagesManager.__init__

    def init(self: PagesManager, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)


# --- images ----------------------------------------------------------------------------------------------


def jpeg_bytes(array: object, quality: int = 92) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "JPEG", quality=quality)  # type: ignore[arg-type]
    return buffer.getvalue()


@pytest.fixture(scope="session")
def cat_jpeg() -> bytes:
    from skimage import data

    return jpeg_bytes(data.chelsea())


@pytest.fixture(scope="session")
def coffee_jpeg() -> bytes:
    from skimage import data

    return jpeg_bytes(data.coffee())


# --- the local cloud -------------------------------------------------------------------------------------

LOCAL_IDLE_S = 8.0


@pytest.fixture(scope="session")
def model_tar() -> Path:
    from mcv_core.local.control import ensure_model

    return ensure_model()


@pytest.fixture(scope="session")
def local_env(tmp_path_factory: pytest.TempPathFactory, model_tar: Path) -> Iterator[dict[str, str]]:
    """Starts a local cloud in a temporary data folder and points the settings at it; stops it at the end."""
    from mcv_core.config import Settings
    from mcv_core.local import control

    data_dir = tmp_path_factory.mktemp("mcv-data")
    env = {"MCV_MODE": "local", "MCV_DATA_DIR": str(data_dir), "MCV_LOCAL_IDLE_S": str(LOCAL_IDLE_S)}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    settings = Settings.load()
    try:
        control.up(settings, quiet=True)
        yield env
    finally:
        control.down(settings)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def local_settings(local_env: dict[str, str]):  # noqa: ANN201
    from mcv_core.config import Settings

    return Settings.load()


@pytest.fixture(scope="session")
def workbench(local_settings):  # noqa: ANN001, ANN201
    from mcv_core.workbench import Workbench

    return Workbench.open(local_settings, quiet=True)


@pytest.fixture(scope="session")
def sample_bench(local_env: dict[str, str]) -> dict:
    """The issue's benchmark: the shipped labelled sample set x 3 providers x 3 repeats on the local cloud,
    run once through the command line; its `bench --json` document."""
    import json
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "mcv_core", "bench", "--samples", "--repeat", "3", "--concurrency", "2", "--json"],
        cwd=REPO,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


@pytest.fixture(scope="session")
def three_photos(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Three of the shipped labelled samples as files, with their labels.json beside them: the batch tests' set."""
    import json

    from mcv_core.samples import sample_images

    folder = tmp_path_factory.mktemp("three-photos")
    by_name = {image.name: image for image in sample_images()}
    names = ("chelsea.jpg", "coffee.jpg", "astronaut.jpg")
    for name in names:
        (folder / name).write_bytes(by_name[name].data)
    (folder / "labels.json").write_text(json.dumps({name: list(by_name[name].expected) for name in names}))
    return [str(folder / name) for name in names]


@pytest.fixture
def batch_faults(local_settings):  # noqa: ANN001, ANN201
    """Sets the local cloud's batch fault plan (`{service: {fail_every, fail_job, record_delay_s}}`); cleared after."""
    from mcv_core.local import control

    conn = control.running(local_settings)

    def set_faults(plan: dict) -> None:
        control.emulator_admin(conn, "POST", "/_mcv/batch-faults", json=plan)

    yield set_faults
    control.emulator_admin(control.running(local_settings), "DELETE", "/_mcv/batch-faults")
