"""`python -m mcv_core sweep` against the session's local cloud, run as a user runs it (a subprocess).

Kept short: one streamed target over 1, 2 and 4 with 4 requests a level (--json, then checked against history),
the classifier the same way in words with its chart, and bad input.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from mcv_core import sweep
from mcv_core.samples import sample_images

pytestmark = pytest.mark.timeout(600)
REPO = Path(__file__).resolve().parents[2]


def mcv(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "mcv_core", *args]
    return subprocess.run(command, cwd=REPO, env=dict(os.environ), capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:  # noqa: ANN001
    folder = tmp_path_factory.mktemp("sweep")
    by_name = {image.name: image for image in sample_images()}
    for name in ("chelsea.jpg", "coffee.jpg"):
        (folder / name).write_bytes(by_name[name].data)
    return folder


def test_a_streamed_target_over_1_2_and_4_prints_each_levels_figures_and_stores_every_request(local_env, workbench, photos):
    done = mcv("sweep", str(photos / "chelsea.jpg"), str(photos / "coffee.jpg"), "--targets", "bedrock", "--concurrency", "1,2,4", "--requests", "4", "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)  # stdout is the JSON document and nothing else
    assert list(doc)[0] == "levels" and doc["sweep_id"].startswith("sweep-")
    assert f"sweep {doc['sweep_id']}: each target alone at 1, 2, 4 at once, 4 requests per level" in done.stderr  # the estimate
    assert [(lv["target"], lv["concurrency"]) for lv in doc["levels"]] == [("bedrock", 1), ("bedrock", 2), ("bedrock", 4)]
    for level in doc["levels"]:
        assert list(level)[: len(sweep.LEVEL_KEYS)] == list(sweep.LEVEL_KEYS)
        assert (level["requests"], level["ok"], level["errors"], level["throttled"]) == (4, 4, 0, 0), level
        assert 0 < level["p50_ms"] <= level["p95_ms"] <= level["p99_ms"]
        # Streamed: the first words come strictly inside the call, and the answers have tokens.
        assert 0 < level["p50_ttft_ms"] < level["p50_ms"], level
        assert level["images_per_s"] > 0 and level["output_tokens_per_s"] > 0
        assert level["images_per_s"] == pytest.approx(4 / level["wall_s"], rel=0.01)
    assert doc["stopped"] == {"bedrock": None} and doc["capped"] == {}

    since = datetime.now(timezone.utc) - timedelta(minutes=30)
    items = [i for i in workbench.history.results(since, fields=sweep.SWEEP_FIELDS) if i.get("sweep_id") == doc["sweep_id"]]
    assert len(items) == 12 and {i["source"] for i in items} == {"sweep"}
    assert sorted(i["concurrency"] for i in items) == [1] * 4 + [2] * 4 + [4] * 4
    rebuilt = sweep.levels_from_results(items)
    for got, want in zip(rebuilt, doc["levels"], strict=True):
        for key in ("target", "concurrency", "requests", "ok", "p50_ms", "p95_ms", "p99_ms", "p50_ttft_ms", "p95_ttft_ms"):
            assert got[key] == want[key], key
        assert got["wall_s"] <= want["wall_s"]  # history has no upload before the first call, nor the last write


def test_the_classifier_in_words_with_its_chart(local_env, photos, tmp_path):
    chart = tmp_path / "sweep.html"
    done = mcv("sweep", str(photos), "--targets", "sagemaker", "--concurrency", "1,2,4", "--requests", "4", "--chart", str(chart))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[1] == "SageMaker Serverless (5 slots)"
    assert lines[2].split()[:5] == ["at", "once", "requests", "ok", "failed"]
    figures = [line.split() for line in lines[3:6]]
    assert [row[0] for row in figures] == ["1", "2", "4"]
    for row in figures:
        assert row[1:5] == ["4", "4", "0", "0"], row  # requests, ok, failed, throttled
        assert row[6] in ("ms", "s")  # p50 with its unit
    assert "SageMaker Serverless at 1 at once (level 1 of 3)" in done.stderr  # a line as each level starts (no TTY)
    assert chart.stat().st_size > 100_000 and "Requests in flight at once" in chart.read_text()


def _stored_counts(local_settings, since) -> tuple[int, int]:  # noqa: ANN001
    """Upload objects, and results stored since `since`: a fixed start, so that nothing leaves the window
    between two counts."""
    from mcv_core.workbench import Workbench

    bench = Workbench(local_settings)
    objects = bench.clients.aws("s3").list_objects_v2(Bucket=local_settings.upload_bucket).get("KeyCount", 0)
    results = bench.history.results(since, fields=("run_id",))
    return objects, len(results)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--concurrency", "1,2,2"], "--concurrency '1,2,2': concurrency levels must increase: 2 comes after 2"),
        (["--concurrency", "0,1"], "concurrency level 0 is out of range"),
        (["--duration", "5"], "both given"),
        (["--drop-requests"], "neither given"),
        (["--targets", "sagemaker,rekognition"], "unknown target 'rekognition'"),
        (["--missing"], "no such file or directory"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_stores_nothing(local_settings, photos, args, message):
    # Each rule in detail is in tests/unit/test_sweep.py; here, that the command line says it and stores nothing.
    argv = ["sweep", str(photos / ("missing.jpg" if "--missing" in args else "chelsea.jpg"))]
    argv += [a for a in args if a not in ("--missing", "--drop-requests")]
    if "--drop-requests" not in args and "--requests" not in args:
        argv += ["--requests", "4"]
    if "--targets" not in args:
        argv += ["--targets", "sagemaker"]
    since = datetime.now(timezone.utc) - timedelta(hours=1)
    before = _stored_counts(local_settings, since)
    done = mcv(*argv)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], done.stderr
    assert _stored_counts(local_settings, since) == before
