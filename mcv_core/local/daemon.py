"""The local cloud's supervisor process: moto, provisioning, the AI emulator and an admin API, on 127.0.0.1.

Started in the background by `python -m mcv_core local up` (see control.py); stops on SIGTERM or SIGINT.
It writes local/cloud.json only once everything answers, and removes it when it stops.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import logging
import os
import signal
import socket
import sys
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .. import models
from ..config import LOCAL_ACCOUNT_ID
from .alarm_evaluator import AlarmEvaluator
from .aws_server import MotoProcess
from .emulator import Emulator, Fault
from .lambda_runner import LambdaRunner
from .provision import LocalStack, connect_events, provision, settings_alarm_targets, write_outputs
from .state import (
    Connection,
    connection_path,
    deployments_path,
    load_or_create_credentials,
    local_dir,
    logs_dir,
    recording_path,
    write_connection,
    write_json_atomic,
)

log = logging.getLogger("mcv_core.local")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        # As the servers bind (allow_reuse_address): a port in TIME_WAIT after our own restart is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def stable_ports(data_dir: Path, names: tuple[str, ...]) -> dict[str, int]:
    """The ports this data folder used last time when they are still free, so clients and shells that
    read `local env` before a restart keep working after it; fresh free ports otherwise."""
    path = local_dir(data_dir) / "ports.json"
    try:
        previous = json.loads(path.read_text())
    except (OSError, ValueError):
        previous = {}
    ports = {}
    for name in names:
        port = previous.get(name)
        ports[name] = port if isinstance(port, int) and port_is_free(port) else free_port()
    write_json_atomic(path, ports)
    return ports


class LocalCloud:
    """Everything the daemon runs, with per-component stop and start for fault tests."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.data_dir = Path(args.data_dir).resolve()
        self.creds = load_or_create_credentials(self.data_dir)
        ports = stable_ports(self.data_dir, ("moto", "emulator", "admin"))
        self.moto = MotoProcess(
            ports["moto"], recording_path(self.data_dir), logs_dir(self.data_dir) / "moto.log", self.creds, args.region
        )
        self.emulator: Emulator | None = None
        self.azure_deployments = self._initial_deployments()
        self._deployments_lock = threading.Lock()  # deployments may change from two requests at once
        self.stack: LocalStack | None = None
        self.lambda_runner: LambdaRunner | None = None
        self.alarm_evaluator: AlarmEvaluator | None = None
        # The alarms on the app's metrics are per enabled target: the catalogue of the environment `local up`
        # ran in (its working directory is the shell's PWD; this process runs in the repository).
        shell_cwd = Path(os.environ["PWD"]) if os.environ.get("PWD") and Path(os.environ["PWD"]).is_dir() else None
        self.alarm_targets, self.alarm_period_s = settings_alarm_targets(shell_cwd)
        self.admin = ThreadingHTTPServer(("127.0.0.1", ports["admin"]), _admin_handler(self))
        self.admin.daemon_threads = True
        self.admin_serving = False
        emulator_port = ports["emulator"]
        self.conn = Connection(
            pid=os.getpid(),
            region=args.region,
            moto_url=self.moto.url,
            emulator_url=f"http://127.0.0.1:{emulator_port}",
            admin_url=f"http://127.0.0.1:{self.admin.server_address[1]}",
            access_key_id=self.creds.access_key_id,
            secret_access_key=self.creds.secret_access_key,
            azure_api_key=self.creds.azure_api_key,
            account_id=LOCAL_ACCOUNT_ID,
            started_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )

    # --- components
    def start_moto(self) -> None:
        self.moto.start()
        self.moto.pause_recording()
        self.stack = provision(
            self.conn, Path(self.args.model_tar), self.args.ttl_days, self.alarm_targets, self.alarm_period_s
        )
        replayed = self.moto.replay()
        connect_events(self.conn, self.stack)
        self.moto.resume_recording()
        log.info("AWS (moto) ready on %s, %d recorded requests restored", self.moto.url, replayed)

    def start_emulator(self) -> None:
        port = int(self.conn.emulator_url.rsplit(":", 1)[1])
        self.emulator = Emulator(
            self.conn,
            port,
            local_dir(self.data_dir) / "sagemaker",
            self.args.idle_s,
            self.azure_deployments,
            on_deployments_changed=self._deployments_changed,
        )
        faults = json.loads(os.environ.get("MCV_LOCAL_FAULTS") or "{}")
        for service, plan in faults.items():
            self.emulator.faults.set(service, [Fault(**f) for f in plan])
        self.emulator.start()
        log.info("AI emulator ready on %s", self.emulator.url)

    def _initial_deployments(self) -> dict[str, Any]:
        """The Azure deployments of the last run (deployments outlive a restart, as in Azure), then the one of
        the command line; a model models.py does not know cannot be deployed, as in Azure."""
        try:
            previous = dict(json.loads(deployments_path(self.data_dir).read_text()))
        except FileNotFoundError:
            previous = {}
        except (OSError, ValueError, TypeError) as exc:
            log.warning("previous Azure deployments not restored (%s): %s", deployments_path(self.data_dir), exc)
            previous = {}
        wanted: dict[str, Any] = {**previous, self.args.azure_deployment: self.args.azure_model}
        if self.args.azure_batch_deployment:  # a Global-Batch deployment of the same model
            wanted[self.args.azure_batch_deployment] = {"model": self.args.azure_model, "sku": "GlobalBatch"}
        deployable = {
            name: value
            for name, value in wanted.items()
            if models.resolve("azure_openai", str(value.get("model") if isinstance(value, dict) else value))
        }
        for name in wanted.keys() - deployable.keys():
            log.warning("Azure deployment %s not made: the local cloud does not know its model %r", name, wanted[name])
        return deployable

    def _deployments_changed(self, deployments: dict[str, Any]) -> None:
        with self._deployments_lock:
            self.azure_deployments = deployments
            write_json_atomic(deployments_path(self.data_dir), deployments)

    def stop_emulator(self) -> None:
        if self.emulator is not None:
            self.emulator.stop()
            self.emulator = None

    def start_lambda(self) -> None:
        if self.lambda_runner is not None and self.lambda_runner.running():
            return
        assert self.stack is not None
        self.lambda_runner = LambdaRunner(self.conn, self.stack)
        self.lambda_runner.start()

    def stop_lambda(self) -> None:
        if self.lambda_runner is not None:
            self.lambda_runner.stop()
            self.lambda_runner = None

    def start_alarms(self) -> None:
        if self.alarm_evaluator is not None and self.alarm_evaluator.running():
            return
        self.alarm_evaluator = AlarmEvaluator(self.conn, self.data_dir)
        self.alarm_evaluator.start()

    def stop_alarms(self) -> None:
        if self.alarm_evaluator is not None:
            self.alarm_evaluator.stop()
            self.alarm_evaluator = None

    def start(self) -> None:
        self.start_moto()
        self.start_emulator()
        self.start_lambda()
        self.start_alarms()
        threading.Thread(target=self.admin.serve_forever, name="admin", daemon=True).start()
        self.admin_serving = True
        assert self.stack is not None
        write_outputs(self.data_dir, self.conn, self.stack, self.args.azure_deployment, self.args.azure_batch_deployment)
        write_connection(self.data_dir, self.conn)  # last: clients take its presence as "ready"
        log.info("local cloud ready (admin %s)", self.conn.admin_url)

    def stop(self) -> None:
        connection_path(self.data_dir).unlink(missing_ok=True)
        if self.admin_serving:  # shutdown() waits for serve_forever: it would wait for ever after a failed start
            self.admin.shutdown()
        self.admin.server_close()
        self.stop_alarms()
        self.stop_lambda()
        self.stop_emulator()
        self.moto.stop()
        log.info("local cloud stopped")

    def status(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "data_dir": str(self.data_dir),
            "started_at": self.conn.started_at,
            "components": {
                "moto": {"url": self.moto.url, "running": self.moto.alive()},
                "emulator": self.emulator.status() if self.emulator else {"running": False},
                "lambda": self.lambda_runner.status() if self.lambda_runner else {"running": False},
                "alarms": self.alarm_evaluator.status() if self.alarm_evaluator else {"running": False},
            },
        }

    def component(self, name: str, action: str) -> None:
        """Stop or start one component (fault injection: the cloud going away in the middle of a run)."""
        if name == "emulator":
            (self.stop_emulator if action == "stop" else self.start_emulator)()
        elif name == "lambda":
            (self.stop_lambda if action == "stop" else self.start_lambda)()
        elif name == "alarms":
            (self.stop_alarms if action == "stop" else self.start_alarms)()
        elif name == "moto":
            if action == "stop":
                self.moto.stop()
            else:
                # Same port, same recording: the state comes back as after a restart.
                self.moto = MotoProcess(self.moto.port, self.moto.recording, self.moto.log_file, self.creds, self.moto.region)
                self.start_moto()
        else:
            raise KeyError(name)


def _admin_handler(cloud: LocalCloud) -> type[BaseHTTPRequestHandler]:
    class Admin(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            log.debug("admin: " + format, *args)

        def _reply(self, status: int, data: Any) -> None:
            body = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _authorised(self) -> bool:
            if self.headers.get("api-key") == cloud.creds.azure_api_key:
                return True
            self._reply(401, {"message": "the local cloud's api-key header is required"})
            return False

        def do_GET(self) -> None:  # noqa: N802
            if self._authorised():
                self._reply(200, cloud.status())

        def do_POST(self) -> None:  # noqa: N802
            if not self._authorised():
                return
            parts = self.path.strip("/").split("/")
            if len(parts) == 3 and parts[0] == "components" and parts[2] in ("stop", "start"):
                try:
                    cloud.component(parts[1], parts[2])
                except KeyError:
                    self._reply(404, {"message": f"no component {parts[1]!r}"})
                    return
                self._reply(200, cloud.status())
                return
            self._reply(404, {"message": f"no route {self.path}"})

    return Admin


def _lock(data_dir: Path) -> Any:
    path = local_dir(data_dir) / "daemon.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"another local cloud is running on {data_dir}", file=sys.stderr)
        sys.exit(3)
    return handle


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mcv_core.local.daemon")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--region", required=True)
    parser.add_argument("--model-tar", required=True)
    parser.add_argument("--idle-s", type=float, default=120.0)
    parser.add_argument("--ttl-days", type=int, default=90)
    parser.add_argument("--azure-deployment", default="gpt-4o-mini")
    parser.add_argument("--azure-model", default="gpt-4o-mini")
    parser.add_argument("--azure-batch-deployment", default="", help="a Global-Batch deployment of the same model")
    args = parser.parse_args(argv)
    # The describers run torch beside moto and the HTTP servers: spinning OpenMP waiters would starve them.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    lock = _lock(Path(args.data_dir))
    cloud = LocalCloud(args)
    stopping = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        cloud.start()
        while not stopping.wait(0.5):
            pass
    finally:
        cloud.stop()
        lock.close()


if __name__ == "__main__":
    main()
