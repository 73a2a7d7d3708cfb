"""`python -m mcv_core bench` against the session's local cloud, run as a user runs it (a subprocess).

Kept small: SageMaker alone on the sample set, all three providers on two labelled images, one cancel.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from mcv_core.samples import sample, sample_images

pytestmark = pytest.mark.timeout(600)
REPO = Path(__file__).resolve().parents[2]
RESULT_KEYS = {
    "run_id", "bench_id", "image", "repeat", "provider", "model", "status", "output", "labels", "latency_ms",
    "cold_start", "input_tokens", "output_tokens", "image_tokens", "cost_usd", "correct", "expected", "error",
}


def mcv(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "mcv_core", *args]
    return subprocess.run(command, cwd=REPO, env=dict(os.environ), capture_output=True, text=True, timeout=timeout)


def history_of(bench_id: str) -> list[dict]:
    done = mcv("history", "--since", "1h", "--json")
    assert done.returncode == 0, done.stderr
    return [item for item in json.loads(done.stdout)["results"] if item.get("bench_id") == bench_id]


@pytest.fixture(scope="module")
def labelled_dir(tmp_path_factory) -> Path:  # noqa: ANN001
    folder = tmp_path_factory.mktemp("labelled")
    by_name = {image.name: image for image in sample_images()}
    for name in ("chelsea.jpg", "coffee.jpg"):
        (folder / name).write_bytes(by_name[name].data)
    labels = {"chelsea.jpg": list(sample("chelsea").expected), "coffee.jpg": list(sample("coffee").expected)}
    (folder / "labels.json").write_text(json.dumps(labels))
    return folder


def test_samples_on_sagemaker_json_and_history(local_env):
    done = mcv("bench", "--samples", "--repeat", "1", "--providers", "sagemaker", "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)  # stdout is the JSON document and nothing else
    assert {"bench_id", "cancelled", "wall_s", "runs", "summary", "results"} <= set(doc)
    assert doc["cancelled"] is False and doc["runs"] == 10 and doc["wall_s"] > 0
    bench_id = doc["bench_id"]
    assert bench_id.startswith("bench-")
    assert f"bench {bench_id}: 10 images × 1 repeat × 1 target = 10 calls" in done.stderr  # the estimate
    results = doc["results"]
    assert [r["image"] for r in results] == [image.name for image in sample_images()]
    for r in results:
        assert RESULT_KEYS <= set(r)
        assert r["bench_id"] == bench_id and r["provider"] == "sagemaker" and r["repeat"] == 1
        assert r["status"] == "ok", r["error"]
        assert r["expected"] and r["correct"] in (True, False)
    cat = results[0]
    assert cat["correct"] is True and "cat" in cat["labels"][0]["label"].lower()
    (row,) = doc["summary"]
    assert (row["provider"], row["n"], row["ok"], row["n_scored"]) == ("sagemaker", 10, 10, 10)
    assert row["accuracy"] == sum(r["correct"] for r in results) / 10

    stored = history_of(bench_id)  # history --json carries bench_id (and source, expected, correct)
    assert {item["run_id"] for item in stored} == {r["run_id"] for r in results}
    assert all(item["source"] == "bench" and item["provider"] == "sagemaker" for item in stored)
    by_run = {item["run_id"]: item for item in stored}
    assert by_run[cat["run_id"]]["expected"] == ["cat", "kitten", "tabby"] and by_run[cat["run_id"]]["correct"] is True


def test_all_three_providers_on_two_labelled_images(local_env, labelled_dir):
    done = mcv("bench", str(labelled_dir), "--providers", "sagemaker,bedrock,azure_openai", "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["runs"] == 2 and len(doc["results"]) == 6
    for r in doc["results"]:
        assert r["status"] == "ok", r["error"]
        assert r["correct"] in (True, False) and r["cost_usd"] is not None
        if r["provider"] != "sagemaker":
            assert r["input_tokens"] > r["image_tokens"] > 0 and r["output_tokens"] > 0
    providers = ("sagemaker", "bedrock", "azure_openai")
    pairs = {(image, provider) for image in ("chelsea.jpg", "coffee.jpg") for provider in providers}
    assert {(r["image"], r["provider"]) for r in doc["results"]} == pairs
    assert [row["provider"] for row in doc["summary"]] == ["sagemaker", "bedrock", "azure_openai"]
    assert all(row["n_scored"] == 2 for row in doc["summary"])
    for provider in ("sagemaker:", "bedrock:", "azure_openai:"):
        assert provider in done.stderr  # each with the basis of its estimate
    assert len(history_of(doc["bench_id"])) == 6


def test_human_output_with_repeats(local_env, labelled_dir):
    cat = str(labelled_dir / "chelsea.jpg")
    done = mcv("bench", cat, "--providers", "sagemaker", "--repeat", "3", "--concurrency", "2")
    assert done.returncode == 0, done.stderr
    assert "3 comparisons in" in done.stdout and "sagemaker" in done.stdout
    assert "chelsea.jpg" in done.stdout and "3/3" in done.stdout  # correct on every repeat
    assert "3/3 comparisons, 3 ok, 0 errors" in done.stderr  # a plain progress line per comparison (no TTY)


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
        (["{dir}"], "broken.jpg is truncated or corrupt"),
        (["{dir}/cat.jpg", "{dir}/notes.jpg"], "notes.jpg is not an image"),
        ([], "bench needs images"),
        (["--samples", "--repeat", "0"], "repeat must be 1 to 1000"),
        (["--samples", "--concurrency", "17"], "concurrency must be 1 to 16"),
        (["--samples", "--providers", "sagemaker,rekognition"], "unknown target 'rekognition'"),
        (["{dir}/missing.jpg"], "no such file or directory"),
    ],
)
def test_bad_input_exits_2_and_stores_nothing(local_settings, tmp_path, args, message):
    cat = sample_images()[0].data
    (tmp_path / "cat.jpg").write_bytes(cat)
    (tmp_path / "broken.jpg").write_bytes(cat[:600])
    (tmp_path / "notes.jpg").write_text("not an image\n")
    since = datetime.now(timezone.utc) - timedelta(hours=1)
    before = _stored_counts(local_settings, since)
    argv = [a.format(dir=tmp_path) for a in args]
    if "--providers" not in argv:
        argv += ["--providers", "sagemaker"]
    done = mcv("bench", *argv)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], done.stderr
    assert _stored_counts(local_settings, since) == before


def test_ctrl_c_cancels_keeps_and_prints_what_ran(local_env):
    proc = subprocess.Popen(
        [sys.executable, "-m", "mcv_core", "bench", "--samples", "--providers", "sagemaker", "--repeat", "50",
         "--concurrency", "1"],
        cwd=REPO,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        head = []
        for line in proc.stderr:  # the first progress line: the bench is running and Ctrl-C is ours
            head.append(line)
            if " comparisons, " in line:
                break
        proc.send_signal(signal.SIGINT)
        out, rest = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = "".join(head) + rest
    assert proc.returncode == 1, err
    assert "cancelling:" in err and "the results so far are stored" in err and "Traceback" not in err
    bench_id = err.split("bench ", 1)[1].split(":", 1)[0]
    ran = int(re.search(r": ([\d,]+) comparisons? in ", out).group(1).replace(",", ""))
    assert 1 <= ran < 500 and f"cancelled after {ran} of 500" in out
    assert len(history_of(bench_id)) == ran
