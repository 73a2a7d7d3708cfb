"""Security of the local cloud and of what the app keeps, against a local cloud of this module's own.

That local cloud runs with recognisable fake credentials (written to its credentials file before it starts, as
`local up` would have generated them): every AWS request of the session is signed with them and every Azure
request carries the key. The tests prove that they reach no log line, history item, CloudWatch event, S3
metadata, report, outbox file or page; that the local cloud rejects wrong credentials on every service and
listens on 127.0.0.1 only; and that presigned URLs are short-lived.
"""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from mcv_core import analytics, report
from mcv_core.config import Settings
from mcv_core.local import control
from mcv_core.local.state import Connection, Credentials, local_dir, recording_path, write_json_atomic
from mcv_core.workbench import Workbench

pytestmark = pytest.mark.timeout(900)
REPO = Path(__file__).resolve().parents[2]
APP = REPO / "app.py"

# 20 and 40 characters like AWS keys; each says what it is, so a leak is easy to see in a failure.
FAKE = Credentials(
    access_key_id="AKIAMCVFAKEKEYID0001",
    secret_access_key="mcvFAKEsecretACCESSkey0DoNotLog01234567",
    azure_api_key="mcvFAKEazureAPIkey0DoNotLog0123456789",
)
SECRETS = {"AWS secret access key": FAKE.secret_access_key, "Azure OpenAI API key": FAKE.azure_api_key}
KEY_ID = {"AWS access key id": FAKE.access_key_id}
# The files that hold the credentials by design (mode 0600), like ~/.aws/credentials.
CREDENTIAL_FILES = ("credentials.json", "cloud.json")


# --- the module's local cloud --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory, model_tar: Path) -> Iterator[dict[str, Any]]:
    data_dir = tmp_path_factory.mktemp("mcv-secrets")
    write_json_atomic(local_dir(data_dir) / "credentials.json", asdict(FAKE), mode=0o600)
    env = {**os.environ, "MCV_MODE": "local", "MCV_DATA_DIR": str(data_dir), "MCV_LOCAL_IDLE_S": "600"}
    settings = Settings.load(env)
    conn = control.up(settings, quiet=True)
    try:
        assert (conn.access_key_id, conn.secret_access_key, conn.azure_api_key) == (
            FAKE.access_key_id,
            FAKE.secret_access_key,
            FAKE.azure_api_key,
        )
        yield {"env": env, "settings": settings, "conn": conn, "data_dir": data_dir}
    finally:
        control.down(settings)


def mcv(cloud: dict[str, Any], *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mcv_core", *args],
        cwd=REPO,
        env={**cloud["env"], **extra_env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def leaks(text: str, secrets: dict[str, str]) -> list[str]:
    return [what for what, value in secrets.items() if value in text]


# --- nothing keeps the secrets ---------------------------------------------------------------------------------


def page_text(at: Any) -> str:
    """Everything an AppTest run drew: each element's protobuf as text (values, labels, captions, data)."""
    parts: list[str] = []

    def walk(node: Any) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(str(proto))
        for child in (getattr(node, "children", None) or {}).values():
            walk(child)

    walk(at.main)
    walk(at.sidebar)
    return "\n".join(parts)


def test_recognisable_secrets_reach_no_log_history_report_outbox_or_page(
    cloud: dict[str, Any],
    tmp_path: Path,
    cat_jpeg: bytes,
    coffee_jpeg: bytes,
    monkeypatch: pytest.MonkeyPatch,
    routed: None,
) -> None:
    conn: Connection = cloud["conn"]
    settings: Settings = cloud["settings"]
    data_dir: Path = cloud["data_dir"]
    cat, coffee = tmp_path / "cat.jpg", tmp_path / "coffee.jpg"
    cat.write_bytes(cat_jpeg)
    coffee.write_bytes(coffee_jpeg)
    quiet: list[str] = []  # command output at the default log level: no credential at all
    verbose: list[str] = []  # at DEBUG, where botocore logs request headers: no secret

    # Comparisons that succeed, at DEBUG, and ones whose providers fail on credentials, throttling and 5xx.
    done = mcv(cloud, "compare", str(cat), "--json", MCV_LOG_LEVEL="DEBUG")
    assert done.returncode == 0, done.stderr
    assert "DEBUG" in done.stderr  # the debug log did run
    verbose.append(done.stdout + done.stderr)
    faults = {"azure_openai": [{"kind": "auth", "count": 1}], "bedrock": [{"kind": "error", "status": 500, "count": 5}]}
    control.emulator_admin(conn, "POST", "/_mcv/faults", json=faults)
    try:
        done = mcv(cloud, "compare", str(coffee), "--json")
    finally:
        control.emulator_admin(conn, "DELETE", "/_mcv/faults")
    assert done.returncode == 1, done.stderr
    statuses = {r["provider"]: r["status"] for r in json.loads(done.stdout)["results"]}
    assert statuses == {"sagemaker": "ok", "bedrock": "error", "azure_openai": "error"}, statuses
    quiet.append(done.stdout + done.stderr)
    for args in (("bench", str(cat), "--providers", "sagemaker", "--repeat", "1", "--json"), ("health", "--json")):
        done = mcv(cloud, *args)
        assert done.returncode == 0, done.stdout + done.stderr
        quiet.append(done.stdout + done.stderr)

    # A run whose results table goes away: its results wait in the outbox, then arrive.
    control.admin(conn, "POST", "/components/moto/stop")
    try:
        workbench = Workbench(settings)
        image = workbench.load_image(cat_jpeg, "cat.jpg")
        # S3 is gone too: keep the image key the run would have had, the results are what matters here.
        monkeypatch.setattr(workbench.store, "upload", lambda image, when=None: "uploads/kept-while-down.jpg")
        run = workbench.compare(image, ["sagemaker", "azure_openai"])
    finally:
        control.admin(conn, "POST", "/components/moto/start", timeout=600)
    assert run.deferred and run.saved is not None and run.saved.outbox_path is not None
    outbox_text = run.saved.outbox_path.read_text()
    assert json.loads(outbox_text)[0]["run_id"] == run.run_id

    done = mcv(cloud, "history", "--since", "1h", "--json")
    assert done.returncode == 0, done.stderr
    assert "outbox: 1 earlier run written" in done.stderr, done.stderr
    quiet.append(done.stdout + done.stderr)
    items = json.loads(done.stdout)["results"]
    assert {item["status"] for item in items} == {"ok", "error"}

    # The report of that history, and the pages (Compare with a comparison, then History) as drawn.
    frame = analytics.to_frame(items)
    grid = [{"image_name": items[0]["image_name"], "thumbnail_jpeg": None, "results": {i["provider"]: i for i in items[:3]}}]
    html = report.build_report(frame, grid, title="MC Vision comparison")
    pages = app_pages(cloud, monkeypatch, cat_jpeg)

    # What is stored in the cloud: every table item, every CloudWatch event, every object's metadata.
    clients = workbench.clients
    table_items = []
    for page in clients.aws("dynamodb").get_paginator("scan").paginate(TableName=settings_table(workbench)):
        table_items.extend(page["Items"])
    logs = clients.aws("logs")
    events = []
    for group in logs.describe_log_groups()["logGroups"]:
        for page in logs.get_paginator("filter_log_events").paginate(logGroupName=group["logGroupName"]):
            events.extend(event["message"] for event in page["events"])
    assert any("mc-vision" in e or "upload" in e for e in events), "no Lambda log events to look at"
    s3 = clients.aws("s3")
    metadata = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=workbench.store.bucket):
        for obj in page.get("Contents", []):
            head = s3.head_object(Bucket=workbench.store.bucket, Key=obj["Key"])
            metadata.append(json.dumps(head["Metadata"]))

    # Every file the local cloud and the app wrote: logs, state, the history cache, the outbox, the recording.
    files: dict[str, str] = {}
    for path in sorted(p for p in data_dir.rglob("*") if p.is_file()):
        if path.name in CREDENTIAL_FILES:
            assert path.stat().st_mode & 0o777 == 0o600, path
            continue
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
        files[str(path.relative_to(data_dir))] = data.decode("utf-8", "replace")
    assert any(name.endswith(".log") for name in files), sorted(files)

    everything_but_wire = {
        "command output": "\n".join(quiet),
        "outbox file": outbox_text,
        "report": html,
        "pages": pages,
        "table items": json.dumps(table_items),
        "CloudWatch events": "\n".join(events),
        "S3 metadata": "\n".join(metadata),
        **{f"file {name}": text for name, text in files.items() if Path(name) != recording_path(Path("."))},
    }
    found = {where: leaks(text, {**SECRETS, **KEY_ID}) for where, text in everything_but_wire.items()}
    assert not {where: what for where, what in found.items() if what}, found
    # The DEBUG output and moto's recording of the requests it served (their Authorization headers) name the
    # access key id, as CloudTrail does; never a secret.
    for where, text in {"DEBUG output": "\n".join(verbose), **{f"file {n}": t for n, t in files.items()}}.items():
        assert not leaks(text, SECRETS), (where, leaks(text, SECRETS))


def settings_table(workbench: Workbench) -> str:
    return workbench.history.table


def app_pages(cloud: dict[str, Any], monkeypatch: pytest.MonkeyPatch, cat_jpeg: bytes) -> str:
    """Compare (one comparison) and History, through AppTest on the module's local cloud (runs `routed`)."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    for key in ("MCV_MODE", "MCV_DATA_DIR", "MCV_LOCAL_IDLE_S"):
        monkeypatch.setenv(key, cloud["env"][key])
    st.cache_resource.clear()
    st.cache_data.clear()
    try:
        at = AppTest.from_file(str(APP), default_timeout=240)
        at.run()
        at.file_uploader(key="compare.files").set_value([("cat.jpg", cat_jpeg, "image/jpeg")])
        at.run()
        at.button(key="compare.go").click()
        at.run()
        assert not at.exception, [e.message for e in at.exception]
        assert at.session_state["compare.outcomes"][0][1].results
        drawn = page_text(at)
        at.switch_page("pages/history.py").run()
        assert not at.exception, [e.message for e in at.exception]
        assert [t.value for t in at.title] == ["History"]
        return drawn + "\n" + page_text(at)
    finally:
        st.cache_resource.clear()
        st.cache_data.clear()


# --- wrong credentials are rejected --------------------------------------------------------------------------


AWS_CALLS = {
    "s3": lambda c: c.list_buckets(),
    "dynamodb": lambda c: c.list_tables(),
    "sqs": lambda c: c.list_queues(),
    "logs": lambda c: c.describe_log_groups(),
    "sagemaker": lambda c: c.list_endpoints(),
    "lambda": lambda c: c.list_functions(),
    "sts": lambda c: c.get_caller_identity(),
    "bedrock-runtime": lambda c: c.converse(
        modelId="anthropic.claude-3-haiku-20240307-v1:0", messages=[{"role": "user", "content": [{"text": "hi"}]}]
    ),
    "sagemaker-runtime": lambda c: c.invoke_endpoint(EndpointName="mc-vision-classifier", Body=b"x", ContentType="image/jpeg"),
}


def aws_client(conn: Connection, service: str, key_id: str, secret: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=conn.aws_endpoint(service),
        region_name=conn.region,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=60),
    )


@pytest.mark.parametrize("service", sorted(AWS_CALLS))
def test_every_aws_service_of_the_local_cloud_rejects_wrong_credentials(cloud: dict[str, Any], service: str) -> None:
    conn: Connection = cloud["conn"]
    call = AWS_CALLS[service]
    for label, key_id, secret in (
        ("another key", "AKIAMCVSOMEONEELSE01", FAKE.secret_access_key),
        ("a wrong secret", FAKE.access_key_id, "x" * 40),
    ):
        with pytest.raises(ClientError) as caught:
            call(aws_client(conn, service, key_id, secret))
        response = caught.value.response
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 403, (label, response["Error"])
    try:  # the right ones pass the check (what the service then says of the request is not the point)
        call(aws_client(conn, service, FAKE.access_key_id, FAKE.secret_access_key))
    except ClientError as exc:
        assert exc.response["ResponseMetadata"]["HTTPStatusCode"] != 403, exc.response["Error"]


def test_unsigned_requests_and_motos_own_api_are_refused(cloud: dict[str, Any]) -> None:
    conn: Connection = cloud["conn"]
    assert requests.get(f"{conn.moto_url}/", timeout=10).status_code == 403  # S3 ListBuckets, unsigned
    for path in ("/moto-api/data.json", "/moto-api/reset", "/moto-api/recorder/download-recording"):
        answer = requests.post(f"{conn.moto_url}{path}", timeout=10) if "reset" in path else requests.get(f"{conn.moto_url}{path}", timeout=10)
        assert answer.status_code == 403, (path, answer.status_code)
    # The state is still there: nothing was reset.
    right = aws_client(conn, "dynamodb", FAKE.access_key_id, FAKE.secret_access_key)
    assert right.list_tables()["TableNames"]


def test_azure_openai_rejects_a_wrong_key(cloud: dict[str, Any]) -> None:
    from openai import AuthenticationError, AzureOpenAI

    conn: Connection = cloud["conn"]
    settings: Settings = cloud["settings"]

    def ask(key: str) -> Any:
        client = AzureOpenAI(azure_endpoint=conn.emulator_url, api_key=key, api_version=settings.azure_api_version, max_retries=0)
        return client.chat.completions.create(
            model=settings.azure_deployment, messages=[{"role": "user", "content": "hi"}], max_tokens=1
        )

    with pytest.raises(AuthenticationError) as caught:
        ask("0" * 32)
    assert caught.value.status_code == 401
    assert ask(FAKE.azure_api_key).choices


# --- loopback only -----------------------------------------------------------------------------------------------


def process_tree(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = set(), [root]
    while todo:
        pid = todo.pop()
        tree.add(pid)
        todo.extend(children.get(pid, []))
    return tree


def socket_inodes(pids: set[int]) -> set[str]:
    inodes = set()
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            continue
    return inodes


def listening(inodes: set[str]) -> list[tuple[str, int]]:
    """(address, port) of every TCP socket in LISTEN among `inodes`, from /proc/net/tcp and tcp6."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state != "0A" or inode not in inodes:
                continue
            address, port = local.split(":")
            raw = bytes.fromhex(address)
            # /proc prints each 32-bit word in host (little-endian) order.
            ordered = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            family = socket.AF_INET if len(raw) == 4 else socket.AF_INET6
            found.append((socket.inet_ntop(family, ordered), int(port, 16)))
    return found


def test_the_local_cloud_listens_on_loopback_only(cloud: dict[str, Any]) -> None:
    conn: Connection = cloud["conn"]
    sockets = listening(socket_inodes(process_tree(conn.pid)))
    ports = {urlsplit(url).port for url in (conn.moto_url, conn.emulator_url, conn.admin_url)}
    assert ports <= {port for _, port in sockets}, (ports, sockets)
    assert sockets and all(address in ("127.0.0.1", "::1", "::ffff:127.0.0.1") for address, _ in sockets), sockets


# --- presigned URLs ------------------------------------------------------------------------------------------


def test_presigned_urls_are_short_lived_and_bound_to_their_object(cloud: dict[str, Any], cat_jpeg: bytes) -> None:
    workbench = Workbench(cloud["settings"])
    image = workbench.load_image(cat_jpeg, "cat.jpg")
    key = workbench.store.upload(image)
    url = workbench.store.presigned_url(key)
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Expires"] == ["300"] and query["X-Amz-Credential"][0].startswith(FAKE.access_key_id + "/")
    assert FAKE.secret_access_key not in url
    fetched = requests.get(url, timeout=30)
    assert fetched.status_code == 200 and fetched.content == cat_jpeg

    other = url.replace(image.sha256, "0" * 64)  # the same signature for another object
    assert requests.get(other, timeout=30).status_code == 403
    soon = workbench.store.presigned_url(key, expires_s=1)
    time.sleep(2.5)
    expired = requests.get(soon, timeout=30)
    assert expired.status_code == 403 and "Request has expired" in expired.text
