"""`local up | down | status | env`: start the local cloud in the background, stop it, look at it, use it."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

from .. import models
from ..config import Settings
from ..errors import LocalCloudError
from .state import Connection, connection_path, logs_dir, pid_alive, read_connection

if TYPE_CHECKING:
    from ..targets import Catalogue

REPO = Path(__file__).resolve().parents[2]
MODEL_TAR = REPO / "sagemaker_model" / "build" / "model.tar.gz"
AWS_ENDPOINT_VARIABLES = {
    "s3": "AWS_ENDPOINT_URL_S3",
    "dynamodb": "AWS_ENDPOINT_URL_DYNAMODB",
    "sqs": "AWS_ENDPOINT_URL_SQS",
    "sagemaker": "AWS_ENDPOINT_URL_SAGEMAKER",
    "sagemaker-runtime": "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME",
    "bedrock": "AWS_ENDPOINT_URL_BEDROCK",
    "bedrock-runtime": "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
    "logs": "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS",
    "lambda": "AWS_ENDPOINT_URL_LAMBDA",
    "iam": "AWS_ENDPOINT_URL_IAM",
    "sts": "AWS_ENDPOINT_URL_STS",
}


def running(settings: Settings) -> Connection | None:
    try:
        return read_connection(settings.data_dir)
    except LocalCloudError:
        return None


def ensure_model(model_tar: Path = MODEL_TAR) -> Path:
    if not model_tar.is_file():
        from sagemaker_model.build import build

        build(model_tar)
    return model_tar


def up(settings: Settings, timeout: float = 180.0, quiet: bool = False) -> Connection:
    """Start the local cloud unless it runs; returns how to reach it."""
    conn = running(settings)
    if conn is not None:
        return conn
    model_tar = ensure_model()
    log_path = logs_dir(settings.data_dir) / "daemon.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "mcv_core.local.daemon",
        "--data-dir",
        str(Path(settings.data_dir).resolve()),
        "--region",
        settings.region,
        "--model-tar",
        str(model_tar),
        "--idle-s",
        str(settings.local_idle_s),
        "--ttl-days",
        str(settings.result_ttl_days),
        "--azure-deployment",
        settings.azure_deployment,
        "--azure-model",
        settings.azure_model,
        "--azure-batch-deployment",
        settings.azure_batch_deployment,
    ]
    if not quiet:
        print(f"starting the local cloud in {settings.data_dir} (log: {log_path})", file=sys.stderr)
    with log_path.open("ab") as log_file:
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives the command that started it, like any daemon
            cwd=REPO,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LocalCloudError(
                f"the local cloud exited during start-up (code {proc.returncode}): {_tail(log_path)}",
                hint=f"see {log_path}",
            )
        conn = running(settings)
        if conn is not None and conn.pid == proc.pid:
            return conn
        time.sleep(0.2)
    proc.terminate()
    raise LocalCloudError(f"the local cloud did not start within {timeout:g} s", hint=f"see {log_path}")


def reprovision(settings: Settings) -> None:
    """Apply the stack's resources and settings again to the running local cloud (repairs drift; recorded,
    so the repair survives a restart)."""
    from .provision import connect_events, provision

    conn = running(settings)
    if conn is None:
        raise LocalCloudError("the local cloud is not running", hint="start it with `python -m mcv_core local up`")
    connect_events(conn, provision(conn, ensure_model(), settings.result_ttl_days))


def down(settings: Settings, timeout: float = 30.0) -> bool:
    """Stop the local cloud; False when it was not running. Its state stays in the data folder."""
    path = connection_path(settings.data_dir)
    try:
        conn = read_connection(settings.data_dir)
    except LocalCloudError:
        path.unlink(missing_ok=True)  # a stale file from a local cloud that died
        return False
    os.kill(conn.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(conn.pid):
            return True
        time.sleep(0.1)
    os.kill(conn.pid, signal.SIGKILL)
    path.unlink(missing_ok=True)
    return True


def admin(conn: Connection, method: str, path: str, timeout: float = 120.0, **kwargs: Any) -> Any:
    """Call the daemon's admin API (component stop/start, status)."""
    response = requests.request(method, f"{conn.admin_url}{path}", headers={"api-key": conn.azure_api_key}, timeout=timeout, **kwargs)
    response.raise_for_status()
    return response.json()


def emulator_admin(conn: Connection, method: str, path: str, timeout: float = 30.0, **kwargs: Any) -> Any:
    """Call the AI emulator's own admin routes (/_mcv/faults, /_mcv/status, /_mcv/scale-to-zero)."""
    response = requests.request(method, f"{conn.emulator_url}{path}", headers={"api-key": conn.azure_api_key}, timeout=timeout, **kwargs)
    response.raise_for_status()
    return response.json()


def catalogue_deployments(catalogue: "Catalogue") -> dict[str, Any]:
    """Deployment -> model of the catalogue's Azure OpenAI targets whose model the local cloud knows, and their
    Global-Batch deployments (-> {"model", "sku": "GlobalBatch"}). Others are left out: calling them gets Azure's
    DeploymentNotFound, as in Azure, where an unknown model cannot be deployed."""
    wanted: dict[str, Any] = {}
    for target in catalogue.targets:
        if target.service == "azure_openai" and target.deployment:
            model = target.model or target.deployment
            if models.resolve("azure_openai", model) is not None:
                wanted[target.deployment] = model
                if target.batch_deployment:
                    wanted[target.batch_deployment] = {"model": model, "sku": "GlobalBatch"}
    return wanted


def deploy_catalogue(settings: Settings, catalogue: "Catalogue") -> dict[str, Any]:
    """Deploy the catalogue's Azure OpenAI deployments in the running local cloud, as Terraform creates them in
    Azure: one idempotent call; returns every deployment the local cloud now has (deployment -> model)."""
    conn = running(settings)
    if conn is None:
        raise LocalCloudError("the local cloud is not running", hint="start it with `python -m mcv_core local up`")
    wanted = catalogue_deployments(catalogue)
    method = "PUT" if wanted else "GET"  # nothing to deploy: only read what is there
    try:
        answer = emulator_admin(conn, method, "/_mcv/azure/deployments", json=wanted if wanted else None, timeout=10)
    except requests.RequestException as exc:
        raise LocalCloudError(
            f"the local cloud did not take the catalogue's Azure deployments: {exc}",
            hint="see `python -m mcv_core local status`, or restart it with `local down` then `local up`",
        ) from exc
    return dict(answer["deployments"])


def status(settings: Settings) -> dict[str, Any]:
    conn = running(settings)
    if conn is None:
        return {"running": False, "data_dir": str(settings.data_dir)}
    try:
        detail = admin(conn, "GET", "/status", timeout=10)
    except requests.RequestException as exc:
        return {"running": True, "pid": conn.pid, "error": f"admin API did not answer: {exc}"}
    return {"running": True, **detail}


def env_vars(settings: Settings, conn: Connection) -> dict[str, str]:
    """What makes any shell, script or the AWS CLI a client of the local cloud."""
    values = {
        "AWS_ACCESS_KEY_ID": conn.access_key_id,
        "AWS_SECRET_ACCESS_KEY": conn.secret_access_key,
        "AWS_REGION": conn.region,
        "AWS_DEFAULT_REGION": conn.region,
        "AWS_ENDPOINT_URL": conn.moto_url,
    }
    for service, variable in AWS_ENDPOINT_VARIABLES.items():
        values[variable] = conn.aws_endpoint(service)
    values.update(
        {
            "AZURE_OPENAI_ENDPOINT": conn.azure_endpoint,
            "AZURE_OPENAI_API_KEY": conn.azure_api_key,
            "OPENAI_API_VERSION": settings.azure_api_version,
            # The local OpenAI-compatible server, as the openai SDK (and Ollama or vLLM clients) read it.
            "OPENAI_BASE_URL": conn.openai_base_url,
            "OPENAI_API_KEY": conn.azure_api_key,
            "MCV_BUCKET": settings.upload_bucket,
            "MCV_TABLE": settings.results_table,
            "MCV_SAGEMAKER_ENDPOINT": settings.sagemaker_endpoint,
            "MCV_LAMBDA_FUNCTION": settings.lambda_function,
            "MCV_BEDROCK_MODEL_ID": settings.bedrock_model_id,
            "MCV_AZURE_DEPLOYMENT": settings.azure_deployment,
        }
    )
    return values


def env_lines(settings: Settings, conn: Connection) -> list[str]:
    return [f"export {name}={shlex.quote(value)}" for name, value in env_vars(settings, conn).items()]


def _tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"
