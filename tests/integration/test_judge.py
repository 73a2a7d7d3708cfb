"""The LLM judge and the votes end to end on the session's local cloud, through the real SDKs and DynamoDB.

One labelled sample photo compared over four targets (three answer, one's model does not exist), as a benchmark;
its results judged by a catalogue target through the emulator's stand-in judge (Bedrock Converse), judgments
stored with the judge's own tokens and cost and the results left as they were; a second pass judges nothing;
a judge call that fails stores nothing while the others are stored, and is judged on the next pass; the chat
completions path judges too; votes stored once per voter and pair.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from mcv_core import models, runner, samples, targets, votes
from mcv_core.bench import new_bench_id
from mcv_core.errors import UsageError
from mcv_core.judge import DEFAULT_RUBRIC, Rubric, build_prompt, judge_results, parse_reply
from mcv_core.local import control
from mcv_core.local.emulator.wire import approx_tokens
from mcv_core.workbench import Workbench

pytestmark = pytest.mark.timeout(600)

CATALOGUE = """\
[targets.classifier]
service = "sagemaker"

[targets.claude-3-haiku]
service = "bedrock"
model = "anthropic.claude-3-haiku-20240307-v1:0"

[targets.nova-lite]
service = "bedrock"
model = "amazon.nova-lite-v1:0"

[targets.gpt-4o-mini]
service = "azure_openai"
deployment = "gpt-4o-mini"
model = "gpt-4o-mini"

[targets.ghost]
service = "bedrock"
model = "anthropic.claude-9-imaginary-v1:0"
"""
JUDGED = ["classifier", "claude-3-haiku", "gpt-4o-mini", "ghost"]
JUDGE = "nova-lite"
STANDIN = "Local stand-in judge for Amazon Nova Lite (efficientnet-lite0 + RapidOCR): the answer names"


@pytest.fixture(scope="module")
def bench(local_settings: Any) -> Workbench:
    catalogue = targets.parse(CATALOGUE, local_settings)
    control.deploy_catalogue(local_settings, catalogue)
    return Workbench(local_settings, catalogue=catalogue)


@pytest.fixture(scope="module")
def cat(bench: Workbench) -> dict[str, Any]:
    """The cat photo compared as a one-image benchmark, then judged once by nova-lite; what every test reads."""
    sample = samples.sample("chelsea")
    image = next(item for item in samples.sample_images() if item.name == sample.file_name)
    bench_id = new_bench_id()
    run = bench.compare(bench.load_image(image.data, image.name), JUDGED, source="bench", bench_id=bench_id, expected=sample.expected)
    assert run.saved is not None and run.saved.stored
    assert [r.status for r in run.results] == ["ok", "ok", "ok", "error"], [r.error for r in run.results]
    results = bench.history.select(bench_id=bench_id)
    before = bench.history.run(run.run_id)
    outcome = judge_results(bench, JUDGE, results, DEFAULT_RUBRIC)
    return {"run": run, "bench_id": bench_id, "results": results, "before": before, "outcome": outcome}


def judgments(bench: Workbench, run_id: str, judge: str = JUDGE, rubric_id: str = DEFAULT_RUBRIC.id) -> dict[str, dict]:
    return {j["target"]: j for j in bench.history.judgments_for_runs([run_id]) if j["judge"] == judge and j["rubric_id"] == rubric_id}


def test_a_benchmark_is_selected_by_its_id_and_by_its_run(bench: Workbench, cat: dict) -> None:
    run = cat["run"]
    assert sorted(r["provider"] for r in cat["results"]) == sorted(JUDGED)
    assert all(r["bench_id"] == cat["bench_id"] and r["run_id"] == run.run_id for r in cat["results"])
    assert bench.history.select(run_id=run.run_id) == cat["results"]
    since = run.created_at - timedelta(seconds=1)
    assert [r for r in bench.history.select(since=since) if r["run_id"] == run.run_id] == cat["results"]
    assert bench.history.select(bench_id="bench-20200101T000000-abcdef") == []


def test_the_judge_scores_each_answer_and_stores_it_apart_from_the_result(bench: Workbench, cat: dict) -> None:
    run, outcome = cat["run"], cat["outcome"]
    doc = outcome.to_json()
    assert set(doc) == {"judge", "scored", "cost_usd", "results"} and doc["judge"] == JUDGE
    assert doc["scored"] == 3 and not outcome.failed
    assert [(s.target, s.why) for s in outcome.skipped] == [("ghost", "error result")]
    assert {r["target"] for r in doc["results"]} == {"classifier", "claude-3-haiku", "gpt-4o-mini"}
    for entry in doc["results"]:
        assert set(entry) == {"run_id", "target", "score", "reason", "status"} and entry["status"] == "ok"
        assert entry["reason"].startswith(STANDIN), entry["reason"]
        # Every answer names the cat the stand-in judge sees (the classifier's labels too).
        assert entry["score"] >= 4, entry
    stored = judgments(bench, run.run_id)
    assert set(stored) == {"classifier", "claude-3-haiku", "gpt-4o-mini"}
    results = {r["provider"]: r for r in cat["results"]}
    nova = bench.catalogue.by_id[JUDGE]
    total = 0.0
    for target, judgment in stored.items():
        result = results[target]
        assert judgment["score"] == next(e["score"] for e in doc["results"] if e["target"] == target)
        assert (judgment["created_at"], judgment["bench_id"], judgment["image_key"]) == (result["created_at"], cat["bench_id"], result["image_key"])
        assert judgment["judge_model"] == "amazon.nova-lite-v1:0" and judgment["latency_ms"] > 0
        # The judge's own tokens: its prompt (rubric, question, answer) and the image at the size Nova was sent.
        width, height = nova.image_spec.target_size(result["image_width"], result["image_height"])
        prompt = build_prompt(DEFAULT_RUBRIC, result["prompt"], result["output"])
        assert judgment["input_tokens"] == approx_tokens(prompt) + models.nova_image_tokens(width, height)
        assert judgment["output_tokens"] == approx_tokens(json.dumps({"score": judgment["score"], "reason": judgment["reason"]}))
        # ... priced as Nova Lite, apart from the judged target's own cost.
        assert judgment["cost_usd"] == pytest.approx(nova.token_cost(judgment["input_tokens"], judgment["output_tokens"]), rel=1e-9)
        assert judgment["cost_usd"] != result["cost_usd"]
        total += judgment["cost_usd"]
    assert doc["cost_usd"] == pytest.approx(total, rel=1e-9)
    # The run's own items are exactly as they were; the judgments are items of their own beside them.
    after = bench.history.run(run.run_id)
    assert sorted((i for i in after if not i["sk"].startswith("JUDGE#")), key=lambda i: i["sk"]) == sorted(cat["before"], key=lambda i: i["sk"])
    assert {i["sk"] for i in after if i["sk"].startswith("JUDGE#")} >= {f"JUDGE#{t}#{JUDGE}#{DEFAULT_RUBRIC.id}" for t in stored}
    # A time range reads the judgments of the results it selects.
    ranged = [j for j in bench.history.judgments(run.created_at - timedelta(seconds=1)) if j["run_id"] == run.run_id and j["judge"] == JUDGE]
    assert {j["target"]: j for j in ranged} == stored


def test_a_second_pass_with_the_same_judge_and_rubric_judges_nothing(bench: Workbench, cat: dict) -> None:
    again = judge_results(bench, JUDGE, cat["results"], DEFAULT_RUBRIC)
    assert again.to_json() == {"judge": JUDGE, "scored": 0, "cost_usd": 0.0, "results": []}
    assert sorted(s.why for s in again.skipped) == ["already judged"] * 3 + ["error result"]


def test_a_failing_judge_call_stores_nothing_and_the_others_are_stored(bench: Workbench, cat: dict, local_settings: Any) -> None:
    run = cat["run"]
    ghost = judge_results(bench, "ghost", cat["results"], DEFAULT_RUBRIC)
    assert ghost.scored == 0 and len(ghost.failed) == 3 and ghost.cost_usd == 0.0
    for entry in ghost.to_json()["results"]:
        assert entry["status"] == "error" and entry["score"] is None and "not a Bedrock model id" in entry["reason"]
    assert judgments(bench, run.run_id, judge="ghost") == {}

    rubric = Rubric("Does the answer name the animal in the photo? 5 yes, 1 no.")
    conn = control.running(local_settings)
    control.emulator_admin(conn, "POST", "/_mcv/faults", json={"bedrock": [{"kind": "auth", "count": 1}]})
    try:
        outcome = judge_results(bench, "claude-3-haiku", cat["results"], rubric)
    finally:
        control.emulator_admin(conn, "DELETE", "/_mcv/faults")
    assert outcome.scored == 2 and len(outcome.failed) == 1
    failed = outcome.failed[0]
    assert failed.score is None and failed.status == "error" and "AccessDenied" in failed.reason
    stored = judgments(bench, run.run_id, judge="claude-3-haiku", rubric_id=rubric.id)
    assert set(stored) == {"classifier", "claude-3-haiku", "gpt-4o-mini"} - {failed.target}
    # The result whose judgment failed keeps its own figures; the next pass judges it, and only it.
    result = next(item for item in bench.history.run(run.run_id) if item["sk"] == f"RESULT#{failed.target}")
    assert result == next(item for item in cat["before"] if item["sk"] == f"RESULT#{failed.target}")
    retry = judge_results(bench, "claude-3-haiku", cat["results"], rubric)
    assert [(r.target, r.status) for r in retry.results] == [(failed.target, "ok")]
    assert set(judgments(bench, run.run_id, judge="claude-3-haiku", rubric_id=rubric.id)) == {"classifier", "claude-3-haiku", "gpt-4o-mini"}


def test_the_chat_completions_stand_in_judges_too_and_tells_a_wrong_answer(bench: Workbench, cat: dict) -> None:
    service = bench.target("gpt-4o-mini")
    image = bench.load_image(bench.store.read(cat["run"].image_key), "chelsea.jpg")
    scores = {}
    for answer in ("A tabby cat lies on a rug.", "A red sports car on a racetrack."):
        call = runner.call_provider(service, image, build_prompt(DEFAULT_RUBRIC, "Describe this image.", answer))
        assert call.ok, call.error
        score, reason = parse_reply(call.output)
        assert reason.startswith("Local stand-in judge for gpt-4o-mini (efficientnet-lite1 + RapidOCR): the answer names")
        scores[answer] = score
    assert scores == {"A tabby cat lies on a rug.": 5, "A red sports car on a racetrack.": 1}


def _votes(bench: Workbench, run: Any) -> list[dict]:
    return [v for v in bench.history.votes(run.created_at - timedelta(seconds=1)) if v["run_id"] == run.run_id]


def test_a_vote_is_stored_once_per_voter_and_pair(bench: Workbench, cat: dict) -> None:
    run = cat["run"]
    first = votes.cast(bench, run.run_id, "gpt-4o-mini", "claude-3-haiku", "a", voter="ana")
    assert (first.a, first.b, first.winner) == ("claude-3-haiku", "gpt-4o-mini", "b")
    second = votes.cast(bench, run.run_id, "claude-3-haiku", "gpt-4o-mini", "tie", voter="ana")
    stored = _votes(bench, run)
    assert len(stored) == 1 and stored[0]["winner"] == "tie" and stored[0]["voted_at"] == second.voted_at
    assert (stored[0]["created_at"], stored[0]["bench_id"]) == (cat["results"][0]["created_at"], cat["bench_id"])
    votes.cast(bench, run.run_id, "gpt-4o-mini", "claude-3-haiku", "neither", voter="bo")
    assert sorted((v["voter"], v["winner"]) for v in _votes(bench, run)) == [("ana", "tie"), ("bo", "neither")]
    assert votes.arena_pairs(cat["results"]) == [(run.run_id, "claude-3-haiku", "gpt-4o-mini")]


@pytest.mark.parametrize(
    ("run_id", "a", "b", "winner", "message"),
    [
        ("20000101T000000-nosuchrun", "claude-3-haiku", "gpt-4o-mini", "a", "no run '20000101T000000-nosuchrun' in the history"),
        (None, "claude-3-haiku", "nova-lite", "a", "target 'nova-lite' is not in run"),
        (None, "claude-3-haiku", "ghost", "a", "target 'ghost' has no answer in run"),
        (None, "claude-3-haiku", "claude-3-haiku", "a", "targets a and b are both 'claude-3-haiku'"),
        (None, "claude-3-haiku", "gpt-4o-mini", "maybe", "the winner 'maybe' is not one of a, b, tie, neither"),
    ],
)
def test_a_bad_vote_is_refused_and_stores_nothing(bench: Workbench, cat: dict, run_id: str | None, a: str, b: str, winner: str, message: str) -> None:
    run = cat["run"]
    before = _votes(bench, run)
    with pytest.raises(UsageError) as caught:
        votes.cast(bench, run_id or run.run_id, a, b, winner, voter="cy")
    assert caught.value.message.startswith(message) and caught.value.hint
    assert _votes(bench, run) == before
