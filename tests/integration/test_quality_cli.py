"""The quality commands as a user runs them, on the session's labelled benchmark (`sample_bench`: the sample set
x 3 targets x 3 repeats): `judge`, `vote`, `scorecard`, and the scorecard agreeing with the stored results.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mcv_core import analytics

pytestmark = pytest.mark.timeout(600)
REPO = Path(__file__).resolve().parents[2]
TARGET_KEYS = {
    "target", "n", "accuracy", "accuracy_ci", "judge_score", "judge_ci", "rating", "rating_ci", "votes", "p50_ms",
    "p95_ms", "cost_per_1k_usd", "pareto",
}


def mcv(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "mcv_core", *args]
    return subprocess.run(command, cwd=REPO, env=dict(os.environ), capture_output=True, text=True, timeout=timeout)


def stored(bench_id: str) -> list[dict[str, Any]]:
    done = mcv("history", "--since", "1d", "--json")
    assert done.returncode == 0, done.stderr
    return [item for item in json.loads(done.stdout)["results"] if item.get("bench_id") == bench_id]


@pytest.fixture(scope="module")
def judged(sample_bench: dict[str, Any]) -> dict[str, Any]:
    """The benchmark judged once by the Bedrock target (its local stand-in judge): the `judge --json` document."""
    done = mcv("judge", "--bench", sample_bench["bench_id"], "--judge", "bedrock", "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_judge_scores_every_answer_once_with_its_own_cost(sample_bench, judged):
    answers = [r for r in sample_bench["results"] if r["status"] == "ok"]
    assert set(judged) == {"judge", "scored", "cost_usd", "results"} and judged["judge"] == "bedrock"
    assert judged["scored"] == len(answers) == len(judged["results"])
    assert {(r["run_id"], r["target"]) for r in judged["results"]} == {(r["run_id"], r["provider"]) for r in answers}
    for result in judged["results"]:
        assert result["score"] in {1, 2, 3, 4, 5} and result["status"] == "ok"
        assert result["reason"].startswith("Local stand-in judge") and "\n" not in result["reason"]
    assert judged["cost_usd"] > 0  # the judge's tokens at Claude 3 Haiku's price, apart from the judged results'

    again = mcv("judge", "--bench", sample_bench["bench_id"], "--judge", "bedrock", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == {"judge": "bedrock", "scored": 0, "cost_usd": 0.0, "results": []}

    text = mcv("judge", "--bench", sample_bench["bench_id"], "--judge", "bedrock")
    assert text.returncode == 0 and f"{len(answers)} answers already judged" in text.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("judge", "--since", "1h", "--judge", "sagemaker"), "cannot judge"),
        (("judge", "--since", "1h", "--judge", "nosuch"), "unknown judge 'nosuch'"),
        (("judge", "--bench", "bench-20260101T000000-abcdef", "--judge", "bedrock"), "has no stored results"),
        (("judge", "--since", "1h", "--judge", "bedrock", "--rubric", "/nonexistent/rubric.txt"), "rubric.txt"),
        (("vote", "no-such-run", "--a", "bedrock", "--b", "azure_openai", "--winner", "a"), "no-such-run"),
        (("vote", "x", "--a", "bedrock", "--b", "bedrock", "--winner", "a"), "bedrock"),
        (("scorecard", "--bench", "bench-20260101T000000-abcdef"), "has no stored results"),
        (("scorecard", "--since", "yesterday"), "--since 'yesterday'"),
    ],
)
def test_bad_input_exits_2_with_one_line(local_env, args, message):
    done = mcv(*args)
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert done.stderr.startswith("error: ") and message in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_scorecard_agrees_with_the_stored_results(sample_bench, judged):
    bench_id = sample_bench["bench_id"]
    runs = sorted({r["run_id"] for r in sample_bench["results"]})
    for run_id, winner in ((runs[0], "a"), (runs[1], "a"), (runs[2], "tie")):
        done = mcv("vote", run_id, "--a", "bedrock", "--b", "azure_openai", "--winner", winner, "--voter", "analyst")
        assert done.returncode == 0 and "vote stored" in done.stdout, done.stderr

    done = mcv("scorecard", "--bench", bench_id, "--json")
    assert done.returncode == 0, done.stderr
    card = json.loads(done.stdout)
    assert card["quality_metric"] == "accuracy"  # the sample set is labelled
    assert [t["target"] for t in card["targets"]] == ["sagemaker", "bedrock", "azure_openai"]
    items = stored(bench_id)
    scores = defaultdict(list)
    for result in judged["results"]:
        scores[result["target"]].append(result["score"])
    for t in card["targets"]:
        assert TARGET_KEYS <= set(t)
        mine = [i for i in items if i["provider"] == t["target"]]
        ok = [i for i in mine if i["status"] == "ok"]
        scored = [i for i in mine if i.get("correct") is not None]
        assert t["n"] == len(mine) == 30
        assert t["accuracy"] == pytest.approx(sum(bool(i["correct"]) for i in scored) / len(scored))
        assert t["accuracy_ci"][0] <= t["accuracy"] <= t["accuracy_ci"][1]
        assert t["cost_per_1k_usd"] == pytest.approx(1000 * np.mean([float(i["cost_usd"]) for i in ok]))
        warm = [float(i["latency_ms"]) for i in ok if i.get("cold_start") is not True]
        assert t["p50_ms"] == pytest.approx(float(analytics.percentile(warm, 50)))
        assert t["p95_ms"] == pytest.approx(float(analytics.percentile(warm, 95)))
        if t["target"] == "sagemaker":  # the classifier answers with labels: it is judged too, but takes no votes
            assert t["rating"] is None and t["votes"] == 0
        else:
            assert t["votes"] == 3 and t["rating"] is not None and t["rating_ci"][0] <= t["rating"] <= t["rating_ci"][1]
        assert t["judge_score"] == pytest.approx(np.mean(scores[t["target"]]))
    bedrock, azure = (next(t for t in card["targets"] if t["target"] == name) for name in ("bedrock", "azure_openai"))
    assert bedrock["rating"] > azure["rating"]  # two wins and a tie

    # The front, from the scorecard's own figures: on it exactly when no other target is at least as good on all
    # three and better on one.
    def dominates(x: dict[str, Any], y: dict[str, Any]) -> bool:
        at_least = x["accuracy"] >= y["accuracy"] and x["p95_ms"] <= y["p95_ms"] and x["cost_per_1k_usd"] <= y["cost_per_1k_usd"]
        better = x["accuracy"] > y["accuracy"] or x["p95_ms"] < y["p95_ms"] or x["cost_per_1k_usd"] < y["cost_per_1k_usd"]
        return at_least and better

    for t in card["targets"]:
        assert t["pareto"] is (not any(dominates(o, t) for o in card["targets"] if o is not t)), t
    assert any(t["pareto"] for t in card["targets"])

    pairs = {(p["a"], p["b"], p["test"]) for p in card["pairs"]}
    for a, b in (("sagemaker", "bedrock"), ("sagemaker", "azure_openai"), ("bedrock", "azure_openai")):
        assert {(a, b, "mcnemar"), (a, b, "wilcoxon"), (a, b, "paired_bootstrap")} <= pairs
    for p in card["pairs"]:
        assert p["n"] > 0 and (p["p_value"] is None) == (p.get("note") is not None)
        if p["p_value"] is not None:
            assert 0 <= p["p_value"] <= 1
    assert {(g["a"], g["b"]) for g in card["agreement"]} == {("sagemaker", "bedrock"), ("sagemaker", "azure_openai"), ("bedrock", "azure_openai")}
    assert all(g["n"] == 30 for g in card["agreement"])

    text = mcv("scorecard", "--bench", bench_id)
    assert text.returncode == 0, text.stderr
    assert "None" not in text.stdout and "nan" not in text.stdout.lower()
    assert text.stdout.startswith(f"scorecard benchmark {bench_id}: quality is accuracy; judge bedrock")
