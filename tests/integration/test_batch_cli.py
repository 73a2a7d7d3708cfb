"""Batch benchmarks through the local cloud's batch control planes, with the real SDKs, run as a user runs them.

The issue's benchmark: three three_photos repeated 34 times over Bedrock and Azure OpenAI (102 records per target),
every one of its 204 results stored once, marked batch, at half the on-demand price of its tokens. Then an
interrupted benchmark whose terminal went away and whose local cloud restarted, resumed to the same end, and a
cancelled one; and a set below Bedrock's minimum, refused.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mcv_core.local import control

pytestmark = pytest.mark.timeout(900)
REPO = Path(__file__).resolve().parents[2]
TARGETS = "bedrock,azure_openai"


def mcv(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "mcv_core", *args]
    return subprocess.run(command, cwd=REPO, env=dict(os.environ), capture_output=True, text=True, timeout=timeout)


def _stored(workbench, bench_id: str) -> list[dict]:  # noqa: ANN001
    return [item for item in workbench.history.select(bench_id=bench_id) if item["mode"] == "batch"]


def test_three_photos_34_times_over_bedrock_and_azure_as_batch_jobs_at_half_price(local_env, workbench, three_photos):
    done = mcv("bench", *three_photos, "--targets", TARGETS, "--repeat", "34", "--mode", "batch", "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    doc = json.loads(done.stdout)
    assert doc["mode"] == "batch" and doc["over"] is True and doc["planned"] == 102
    # The estimate showed online and batch side by side before anything ran.
    assert "online typical" in done.stderr and "batch typical" in done.stderr
    jobs = doc["jobs"]
    assert sorted((job["target"], job["count"], job["status"]) for job in jobs) == [
        ("azure_openai", 102, "completed"), ("bedrock", 102, "Completed"),
    ]  # fmt: skip
    results = doc["results"]
    assert len(results) == 204 and len(doc["runs"] if isinstance(doc["runs"], list) else range(doc["runs"])) == 102
    by_target = {t: [r for r in results if r["target"] == t] for t in ("bedrock", "azure_openai")}
    job_of = {job["target"]: job["job_id"] for job in jobs}
    catalogue = workbench.catalogue
    for target, found in by_target.items():
        assert len(found) == 102
        assert {(r["image"], r["repeat"]) for r in found} == {(Path(p).name, k) for p in three_photos for k in range(1, 35)}
        for r in found:
            assert (r["mode"], r["job_id"], r["status"], r["latency_ms"], r["ttft_ms"]) == ("batch", job_of[target], "ok", None, None), r
            assert r["output"] and r["input_tokens"] > 0 and r["output_tokens"] > 0
            on_demand = catalogue.get(target).token_cost(r["input_tokens"], r["output_tokens"])
            assert r["cost_usd"] == pytest.approx(on_demand / 2, rel=1e-9)
        # Answered by the model's own stand-in, which says so.
        assert "local stand-in" in found[0]["output"].lower() or "stand-in" in found[0]["output"].lower()
    # History holds every result once, marked batch, under the benchmark's own runs.
    stored = _stored(workbench, doc["bench_id"])
    assert len(stored) == 204
    assert len({(item["run_id"], item["provider"]) for item in stored}) == 204
    assert {item["job_id"] for item in stored} == set(job_of.values())
    assert sum(1 for item in stored if item["correct"] is not None) == 204
    # `history --json` says the same, and an online result says online.
    shown = json.loads(mcv("history", "--since", "1h", "--json").stdout)
    modes = {(row["run_id"], row["provider"]): row["mode"] for row in shown["results"]}
    assert all(modes.get((item["run_id"], item["provider"])) == "batch" for item in stored)
    # Every other result says its mode too: a call is online without a job, a batch record has its job.
    others = [row for row in shown["results"] if row.get("bench_id") != doc["bench_id"]]
    assert all(row["mode"] in ("online", "batch") for row in others)
    assert all((row["mode"] == "batch") == bool(row.get("job_id")) for row in others)


def test_an_interrupted_batch_resumes_after_the_local_cloud_restarts_to_the_same_end(local_env, local_settings, workbench, three_photos, batch_faults):
    # Slow records (30 s for the job) and every 25th failing: a plan the restart below throws away.
    batch_faults({"bedrock": {"record_delay_s": 0.3, "fail_every": 25}})
    command = [sys.executable, "-m", "mcv_core", "bench", *three_photos, "--targets", "bedrock", "--repeat", "34", "--mode", "batch"]
    proc = subprocess.Popen(command, cwd=REPO, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    bench_id = None
    deadline = time.monotonic() + 120
    while bench_id is None and time.monotonic() < deadline:
        for state in workbench.history.batches(1):
            if state["jobs"] and not state["over"] and state["targets"] == ["bedrock"]:
                bench_id = state["bench_id"]
        time.sleep(0.5)
    assert bench_id is not None, "the job was never recorded"
    proc.send_signal(signal.SIGINT)  # the terminal goes away: the job goes on
    _, err = proc.communicate(timeout=60)
    assert f"bench --resume {bench_id}" in err
    assert _stored(workbench, bench_id) == []  # nothing collected yet: the job had not ended

    # The local cloud restarts with the job in progress: the job starts again from its first record, without
    # the fault plan (it was the stopped cloud's), so every record is answered.
    control.down(local_settings)
    control.up(local_settings, quiet=True)
    done = mcv("bench", "--resume", bench_id, "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    doc = json.loads(done.stdout)
    assert doc["over"] is True and [job["status"] for job in doc["jobs"]] == ["Completed"]
    stored = _stored(workbench, bench_id)
    assert len(stored) == 102 and len({item["run_id"] for item in stored}) == 102
    assert all(item["status"] == "ok" for item in stored)
    # A second resume finds everything collected and stores nothing twice.
    again = mcv("bench", "--resume", bench_id, "--json")
    assert json.loads(again.stdout)["results"] == doc["results"]
    assert len(_stored(workbench, bench_id)) == 102


def test_a_cancelled_batch_keeps_what_its_job_finished_failed_records_as_errors(local_env, workbench, three_photos, batch_faults):
    batch_faults({"azure_openai": {"record_delay_s": 0.2, "fail_every": 3}})
    command = [sys.executable, "-m", "mcv_core", "bench", *three_photos, "--targets", "azure_openai", "--repeat", "34", "--mode", "batch"]
    proc = subprocess.Popen(command, cwd=REPO, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    bench_id = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        states = [s for s in workbench.history.batches(1) if s["targets"] == ["azure_openai"] and s["jobs"] and not s["over"]]
        if states:
            bench_id = states[-1]["bench_id"]
            job = workbench.target("azure_openai").batch_state(states[-1]["jobs"][0]["job_id"])
            if (job.completed or 0) >= 5:
                break
        time.sleep(0.5)
    assert bench_id is not None
    done = mcv("bench", "--cancel", bench_id, "--json")
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert done.returncode == 1, done.stderr[-2000:]
    doc = json.loads(done.stdout)
    assert doc["cancelled"] is True and [job["status"] for job in doc["jobs"]] == ["cancelled"]
    stored = _stored(workbench, bench_id)
    assert 5 <= len(stored) < 102
    failed = [item for item in stored if item["status"] == "error"]
    # Every third record failed inside the job: an error result with the service's reason, never a price.
    assert len(failed) == len(stored) // 3 and {item["error_type"] for item in failed} == {"service_error"}
    assert all("server_error" in item["error"] and item["cost_usd"] is None for item in failed)
    assert len(doc["results"]) == len(stored)
    # A resume after the cancel reaches the same end: nothing new, nothing twice.
    again = mcv("bench", "--resume", bench_id, "--json")
    assert json.loads(again.stdout)["results"] == doc["results"] and len(_stored(workbench, bench_id)) == len(stored)


def test_a_set_below_bedrock_s_minimum_is_refused_before_anything_is_written(local_env, workbench, three_photos):
    before = {state["bench_id"] for state in workbench.history.batches(1)}
    done = mcv("bench", *three_photos, "--targets", "bedrock", "--repeat", "3", "--mode", "batch")
    assert done.returncode == 2
    assert "Amazon Bedrock batch jobs need at least 100 records; this set has 9 (3 images × 3 repeats)" in done.stderr
    assert "--mode online" in done.stderr
    assert {state["bench_id"] for state in workbench.history.batches(1)} == before
