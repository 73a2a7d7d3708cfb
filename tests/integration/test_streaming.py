"""Streamed answers end to end on the local cloud: `compare --json` as a user runs it gives every streamed result a
time to first token strictly inside its latency and an output rate (the issue's "done when"), history keeps them,
`--no-stream` calls without streaming, and a stream cut in the middle is an error result keeping its text."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from mcv_core import records
from mcv_core.local import control
from mcv_core.samples import sample_images
from mcv_core.workbench import Workbench

pytestmark = pytest.mark.timeout(600)
REPO = Path(__file__).resolve().parents[2]
STREAMING_SERVICES = ("bedrock", "azure_openai", "openai")


def mcv(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MCV_STREAM"}  # the default: streamed
    return subprocess.run([sys.executable, "-m", "mcv_core", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def sample_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chelsea = next(image for image in sample_images() if image.name.startswith("chelsea"))
    path = tmp_path_factory.mktemp("samples") / chelsea.name
    path.write_bytes(chelsea.data)
    return path


def test_compare_json_gives_every_streamed_result_a_ttft_inside_its_latency_and_a_rate(local_env, sample_file):  # noqa: ANN001
    done = mcv("compare", str(sample_file), "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    doc = json.loads(done.stdout)
    streamed = [r for r in doc["results"] if r["service"] in STREAMING_SERVICES]
    assert streamed, "the default catalogue has targets that stream"
    for r in doc["results"]:
        assert r["status"] == "ok", r["error"]
        assert set(records.ANATOMY) - {"service_ms"} <= set(r["timings"]), r["timings"]
        if r["service"] in STREAMING_SERVICES:
            assert r["streamed"] is True
            assert 0 < r["ttft_ms"] < r["latency_ms"], r
            assert r["output_tokens_per_s"] is not None and r["output_tokens_per_s"] > 0, r
            assert r["output_tokens"] >= 2
        else:  # the classifier answers in one body: its model time, no TTFT
            assert (r["streamed"], r["ttft_ms"], r["output_tokens_per_s"]) == (False, None, None)
            assert r["timings"]["service_ms"] == r["provider_latency_ms"]
    bedrock = next(r for r in streamed if r["service"] == "bedrock")
    # ConverseStream's metadata carries the service's own latency: the anatomy splits the call with it.
    assert bedrock["provider_latency_ms"] is not None and bedrock["timings"]["service_ms"] == bedrock["provider_latency_ms"]
    assert bedrock["timings"]["network_ms"] == pytest.approx(max(0.0, bedrock["latency_ms"] - bedrock["provider_latency_ms"]), abs=0.01)

    stored = json.loads(mcv("history", "--since", "1h", "--json").stdout)["results"]
    mine = {item["provider"]: item for item in stored if item["run_id"] == doc["run_id"]}
    for r in doc["results"]:
        item = mine[r["provider"]]  # history leaves out what is None, as it always has
        assert (item.get("ttft_ms"), item.get("output_tokens_per_s"), item["streamed"]) == (r["ttft_ms"], r["output_tokens_per_s"], r["streamed"])
        assert item["timings"] == r["timings"]

    unstreamed = mcv("compare", str(sample_file), "--targets", "bedrock", "--no-stream", "--json")
    assert unstreamed.returncode == 0, unstreamed.stderr[-2000:]
    [r] = json.loads(unstreamed.stdout)["results"]
    assert (r["status"], r["streamed"], r["ttft_ms"], r["output_tokens_per_s"]) == ("ok", False, None, None)


@pytest.fixture
def faults(local_settings: Any) -> Iterator[Any]:
    conn = control.running(local_settings)
    control.emulator_admin(conn, "DELETE", "/_mcv/faults")

    def inject(service: str, **fault: Any) -> None:
        control.emulator_admin(conn, "POST", "/_mcv/faults", json={service: [fault]})

    yield inject
    control.emulator_admin(conn, "DELETE", "/_mcv/faults")


@pytest.mark.parametrize("target", ["bedrock", "azure_openai"])
def test_a_stream_cut_in_the_middle_is_an_error_result_keeping_its_text(local_settings, cat_jpeg, faults, target):  # noqa: ANN001
    bench = Workbench(local_settings.with_(stream=True))
    faults(target, kind="cut", count=1)
    grown: list[records.TextDelta] = []
    run = bench.compare(bench.load_image(cat_jpeg, "cat.jpg"), [target], on_text=grown.append)
    [result] = run.results
    assert (result.status, result.error_type, result.streamed) == ("error", "stream_cut", True), result.error
    assert result.output and result.error.startswith(f"the answer stopped after {len(result.output):,} characters")
    assert result.ttft_ms is not None and 0 < result.ttft_ms < result.latency_ms
    assert grown and grown[-1].text == result.output[: len(grown[-1].text)]
    [item] = bench.history.select(run_id=run.run_id)
    assert (item["error_type"], item["output"], item["ttft_ms"]) == ("stream_cut", result.output, result.ttft_ms)

