"""Where the local cloud keeps its state, and how clients find it.

Layout under the data folder (MCV_DATA_DIR, default .mcv/):
  local/credentials.json   the keys the local cloud hands out (made once, mode 0600)
  local/cloud.json         how to reach the running local cloud (written when it is ready, removed on stop)
  local/moto/recording.jsonl   moto's request recording, replayed at start: the AWS state across restarts
  local/outputs/aws.json, azure.json   the stack's outputs, in the shape of `terraform output -json`
  local/azure-deployments.json   the local Azure OpenAI resource's deployments (deployment -> model)
  local/logs/              the daemon's and moto's logs
"""

from __future__ import annotations

import json
import os
import secrets
import string
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import LocalCloudError

# Services served by the AI emulator; every other AWS service is moto's.
EMULATED_SERVICES = ("sagemaker-runtime", "bedrock-runtime", "bedrock")  # bedrock: batch inference's control plane


def local_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "local"


def connection_path(data_dir: Path) -> Path:
    return local_dir(data_dir) / "cloud.json"


def recording_path(data_dir: Path) -> Path:
    return local_dir(data_dir) / "moto" / "recording.jsonl"


def outputs_dir(data_dir: Path) -> Path:
    return local_dir(data_dir) / "outputs"


def deployments_path(data_dir: Path) -> Path:
    return local_dir(data_dir) / "azure-deployments.json"


def logs_dir(data_dir: Path) -> Path:
    return local_dir(data_dir) / "logs"


def write_json_atomic(path: Path, data: Any, mode: int = 0o644) -> None:
    """Write JSON so that readers see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2)
            handle.write("\n")
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    azure_api_key: str

    @classmethod
    def generate(cls) -> "Credentials":
        upper = string.ascii_uppercase + string.digits
        return cls(
            access_key_id="AKIA" + "".join(secrets.choice(upper) for _ in range(16)),
            secret_access_key=secrets.token_urlsafe(30)[:40],
            azure_api_key=secrets.token_hex(16),
        )


def load_or_create_credentials(data_dir: Path) -> Credentials:
    path = local_dir(data_dir) / "credentials.json"
    if path.is_file():
        return Credentials(**json.loads(path.read_text()))
    creds = Credentials.generate()
    write_json_atomic(path, asdict(creds), mode=0o600)
    return creds


@dataclass(frozen=True)
class Connection:
    """How to reach a running local cloud."""

    pid: int
    region: str
    moto_url: str
    emulator_url: str
    admin_url: str
    access_key_id: str
    secret_access_key: str
    azure_api_key: str
    account_id: str
    started_at: str

    def aws_endpoint(self, service: str) -> str:
        return self.emulator_url if service in EMULATED_SERVICES else self.moto_url

    @property
    def azure_endpoint(self) -> str:
        return self.emulator_url

    @property
    def openai_base_url(self) -> str:
        """The local OpenAI-compatible server (its key is the local cloud's api key)."""
        return f"{self.emulator_url}/v1"


def write_connection(data_dir: Path, conn: Connection) -> None:
    write_json_atomic(connection_path(data_dir), asdict(conn), mode=0o600)


def read_connection(data_dir: Path) -> Connection:
    path = connection_path(data_dir)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise LocalCloudError(
            f"the local cloud is not running (no {path})",
            hint="start it with `make run` or `python -m mcv_core local up`",
        ) from None
    conn = Connection(**data)
    if not pid_alive(conn.pid):
        raise LocalCloudError(
            f"the local cloud recorded in {path} is not running (process {conn.pid} is gone)",
            hint="start it again with `python -m mcv_core local up`",
        )
    return conn


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by its parent) is not alive for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True
