"""The local cloud's supervisor stops cleanly whatever point its start reached."""

from __future__ import annotations

import argparse
import threading
from pathlib import Path

from mcv_core.local import daemon


def test_a_cloud_whose_start_failed_stops_at_once_and_frees_its_admin_port(tmp_path: Path) -> None:
    """A start that fails before the admin server serves (moto or the emulator did not come up) must not leave
    the daemon's `finally` waiting for ever on a server that never ran."""
    args = argparse.Namespace(
        data_dir=str(tmp_path), region="us-east-1", model_tar=str(tmp_path / "model.tar.gz"), idle_s=1.0,
        ttl_days=1, azure_deployment="gpt-4o-mini", azure_model="gpt-4o-mini", azure_batch_deployment="",
    )  # fmt: skip
    cloud = daemon.LocalCloud(args)
    port = cloud.admin.server_address[1]
    stopper = threading.Thread(target=cloud.stop, daemon=True)
    stopper.start()
    stopper.join(10.0)
    assert not stopper.is_alive(), "stop() hung on an admin server that never served"
    assert daemon.port_is_free(port), "the admin socket was left open"
