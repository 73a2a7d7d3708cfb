"""The local SageMaker serving container (mcv_core.local.sagemaker_worker) as a real process on loopback."""

from __future__ import annotations

import base64
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from PIL import Image
from skimage import data as samples

from mcv_core.local.sagemaker_worker import HOST, UnsafeArchiveError, WorkerProcess, extract_model
from sagemaker_model import build as build_mod

pytestmark = pytest.mark.timeout(300)

DOMESTIC_CATS = {281, 282, 283, 284, 285}
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture(scope="module")
def model_tar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_mod.build(tmp_path_factory.mktemp("artifact") / "model.tar.gz")


@pytest.fixture(scope="module")
def worker(model_tar: Path, tmp_path_factory: pytest.TempPathFactory):
    process = WorkerProcess(model_tar, tmp_path_factory.mktemp("worker"))
    process.start(timeout=120)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def cat_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(samples.chelsea()).save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def listening_addresses(port: int) -> list[str]:
    """Local addresses of the sockets listening on `port`, from the kernel's tables (hex, as Linux writes them)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            address, port_hex = fields[1].rsplit(":", 1)
            if int(port_hex, 16) == port and fields[3] == "0A":  # 0A: LISTEN
                found.append(address)
    return found


def test_lifecycle_cold_start_then_warm_then_scale_to_zero(model_tar: Path, tmp_path: Path, cat_jpeg: bytes) -> None:
    process = WorkerProcess(model_tar, tmp_path / "work")
    assert not process.alive()
    try:
        seconds = process.start(timeout=120)
        assert seconds > 0 and process.alive()
        assert process.url.startswith(f"http://{HOST}:")
        with NO_PROXY.open(f"{process.url}/ping", timeout=10) as response:
            assert response.status == 200
        answers = []
        for _ in range(3):
            status, content_type, body = process.invoke(cat_jpeg, "image/jpeg", "application/json", timeout=60)
            assert status == 200 and content_type == "application/json", body
            answers.append(json.loads(body))
        assert [a["cold_start"] for a in answers] == [True, False, False]
        assert "cat" in answers[0]["labels"][0]["label"]
        assert answers[0]["labels"][0]["index"] in DOMESTIC_CATS
        assert answers[0]["model_load_ms"] > 0 and answers[0]["model"] == "efficientnet-lite0"
        assert (tmp_path / "work" / "code" / "inference.py").is_file()  # unpacked as the container would
        assert process.start() == 0.0  # already up: no second process
    finally:
        exit_code = process.stop()
    assert exit_code == 0  # SIGTERM is a clean shutdown
    assert not process.alive() and not process.ping(timeout=2)
    # Scaled to zero and back: the new process pays (and reports) a cold start again.
    try:
        process.start(timeout=120)
        status, _, body = process.invoke(cat_jpeg, "image/jpeg", "*/*")
        assert status == 200 and json.loads(body)["cold_start"] is True
    finally:
        process.stop()


def test_worker_exits_when_its_parent_dies(model_tar: Path, tmp_path: Path) -> None:
    # A parent killed outright never calls stop(): the worker must not live on as an orphan.
    parent = subprocess.run(
        [sys.executable, "-c", (
            "import os, sys\n"
            "from mcv_core.local.sagemaker_worker import WorkerProcess\n"
            "worker = WorkerProcess(sys.argv[1], sys.argv[2])\n"
            "worker.start(timeout=120)\n"
            "print(worker.pid, flush=True)\n"
            "os._exit(0)\n"
        ), str(model_tar), str(tmp_path / "work")],
        capture_output=True, text=True, timeout=180, cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    assert parent.returncode == 0, parent.stderr
    pid = int(parent.stdout.split()[-1])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        time.sleep(0.1)
    orphaned = Path(f"/proc/{pid}").exists()
    if orphaned:
        os.kill(pid, signal.SIGKILL)  # do not leave it behind when this test fails
    assert not orphaned, f"orphaned worker {pid} still running 30 s after its parent died"


def test_ping(worker: WorkerProcess) -> None:
    assert worker.ping()
    with NO_PROXY.open(f"{worker.url}/ping", timeout=10) as response:
        assert response.status == 200


def test_json_request_and_top_k(worker: WorkerProcess, cat_jpeg: bytes) -> None:
    body = json.dumps({"image": base64.b64encode(cat_jpeg).decode(), "top_k": 2}).encode()
    status, content_type, payload = worker.invoke(body, "application/json", "application/json")
    assert status == 200 and content_type == "application/json"
    result = json.loads(payload)
    assert len(result["labels"]) == 2 and result["labels"][0]["index"] in DOMESTIC_CATS


@pytest.mark.parametrize(
    ("body", "content_type", "accept", "status", "fragment"),
    [
        (b"definitely not an image", "image/jpeg", "application/json", 400, "not a JPEG"),
        (b"{broken json", "application/json", "application/json", 400, "not valid JSON"),
        (b'{"image": "AAAA", "top_k": 99}', "application/json", "application/json", 400, "top_k"),
        (b"\xff\xfe\xfa", "application/json", "application/json", 400, "not UTF-8"),
        (b"hello", "text/plain", "application/json", 415, "unsupported content type"),
    ],
)
def test_bad_requests_get_4xx_with_a_message(worker, body, content_type, accept, status, fragment) -> None:
    got_status, got_type, payload = worker.invoke(body, content_type, accept)
    assert got_status == status
    assert got_type == "application/json"
    assert fragment in json.loads(payload)["message"]


def test_missing_content_type_is_refused_not_guessed(worker: WorkerProcess, cat_jpeg: bytes) -> None:
    status, _, payload = worker.invoke(cat_jpeg, None, None)
    assert status == 415 and "unsupported content type ''" in json.loads(payload)["message"]


def test_unsupported_accept(worker: WorkerProcess, cat_jpeg: bytes) -> None:
    status, _, payload = worker.invoke(cat_jpeg, "image/jpeg", "text/csv")
    assert status == 406 and "application/json" in json.loads(payload)["message"]


def test_body_over_the_container_limit_is_refused(worker: WorkerProcess) -> None:
    status, _, payload = worker.invoke(b"\0" * 7_000_000, "image/jpeg", "application/json")
    assert status == 413 and "exceeds" in json.loads(payload)["message"]
    assert worker.ping()  # and the worker carries on


def test_unknown_route(worker: WorkerProcess) -> None:
    request = urllib.request.Request(f"{worker.url}/models", data=b"x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as caught:
        NO_PROXY.open(request, timeout=10)
    assert caught.value.code == 404


def test_concurrent_requests_are_all_answered(worker: WorkerProcess, cat_jpeg: bytes) -> None:
    results: list[int] = []

    def call() -> None:
        results.append(worker.invoke(cat_jpeg, "image/jpeg", "application/json")[0])

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert results == [200, 200, 200, 200]


def test_binds_loopback_only(worker: WorkerProcess) -> None:
    if not Path("/proc/net/tcp").exists():
        pytest.skip("needs Linux /proc/net/tcp to see the bound address")
    port = int(worker.url.rsplit(":", 1)[1])
    assert listening_addresses(port) == ["0100007F"]  # 127.0.0.1, and no IPv6 or wildcard socket


def test_start_failure_reports_the_workers_stderr(tmp_path: Path) -> None:
    broken = tmp_path / "model.tar.gz"
    with tarfile.open(broken, "w:gz") as tar:
        info = tarfile.TarInfo("model.json")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"{}"))
    process = WorkerProcess(broken, tmp_path / "work")
    with pytest.raises(RuntimeError, match="inference.py"):
        process.start(timeout=60)
    assert not process.alive()


def test_start_failure_on_a_missing_tar(tmp_path: Path) -> None:
    process = WorkerProcess(tmp_path / "nowhere.tar.gz", tmp_path / "work")
    with pytest.raises(RuntimeError, match="is not a file"):
        process.start(timeout=60)


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink"])
def test_unsafe_archives_are_rejected(tmp_path: Path, kind: str) -> None:
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        if kind == "symlink":
            info = tarfile.TarInfo("code")
            info.type = tarfile.SYMTYPE
            info.linkname = "/etc"
            tar.addfile(info)
        else:
            info = tarfile.TarInfo("../escaped.txt" if kind == "dotdot" else str(tmp_path / "absolute.txt"))
            info.size = 4
            tar.addfile(info, io.BytesIO(b"evil"))
    with pytest.raises(UnsafeArchiveError):
        extract_model(archive, tmp_path / "work")
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "absolute.txt").exists()
    assert not (tmp_path / "work" / "code").exists()
