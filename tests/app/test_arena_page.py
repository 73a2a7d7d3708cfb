"""The Arena page through Streamlit's AppTest, on the session's local cloud: a small benchmark of its own (three
labelled samples through the two language-model targets, so every comparison is one pair of text answers), blind
votes stored once per voter and pair, and the names and the ratings shown only after the vote."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "app.py"
TEXT_TARGETS = ("bedrock", "azure_openai")
TITLES = {"sagemaker": "SageMaker Serverless", "bedrock": "Amazon Bedrock", "azure_openai": "Azure OpenAI"}
PAIR, VOTED, VOTER = "arena.pair", "arena.voted", "arena.voter"


def _bench(workbench: Any, targets: tuple[str, ...], images: int) -> str:
    from mcv_core import bench, samples

    chosen = tuple(samples.sample_images()[:images])
    outcome = bench.run_bench(workbench, bench.BenchPlan(chosen, targets, 1, 2, workbench.settings.default_prompt))
    assert len(outcome.runs) == images and not outcome.failures, outcome.failures
    assert all(r.ok for run in outcome.runs for r in run.results), "every answer is needed for a pair"
    return outcome.bench_id


@pytest.fixture(scope="module")
def text_bench(workbench: Any) -> str:
    return _bench(workbench, TEXT_TARGETS, 3)


@pytest.fixture(scope="module")
def classifier_bench(workbench: Any) -> str:
    """Answers with labels only: nothing to set side by side."""
    return _bench(workbench, ("sagemaker",), 1)


def _exceptions(at: AppTest) -> str:
    return "\n".join(f"{e.message}\n{''.join(e.stack_trace)}" for e in at.exception)


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, _exceptions(at)
    return at


def open_arena(bench_id: str) -> AppTest:
    st.cache_resource.clear()
    st.cache_data.clear()
    at = AppTest.from_file(str(APP), default_timeout=300)
    run(at)
    at.switch_page("pages/arena.py")
    at.query_params["bench"] = bench_id
    run(at)
    assert [t.value for t in at.title] == ["Arena"]
    return at


@pytest.fixture
def arena(local_env: dict[str, str], routed: None) -> Iterator[Callable[[str], AppTest]]:
    yield open_arena
    st.cache_resource.clear()
    st.cache_data.clear()


def results_of(workbench: Any, bench_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    since = datetime.now(timezone.utc) - timedelta(days=1)
    return {(i["run_id"], i["provider"]): i for i in workbench.history.results(since) if i.get("bench_id") == bench_id}


def my_votes(workbench: Any, bench_id: str, voter: str) -> list[dict[str, Any]]:
    since = datetime.now(timezone.utc) - timedelta(days=1)
    return [v for v in workbench.history.votes(since) if v["bench_id"] == bench_id and v["voter"] == voter]


def shown_answers(at: AppTest) -> list[str]:
    return [t.value for t in at.text][-2:]


def test_a_blind_pair_then_the_vote_the_names_and_the_ratings(
    arena: Callable[[str], AppTest], workbench: Any, text_bench: str
) -> None:
    at = arena(text_bench)
    stored = results_of(workbench, text_bench)
    pair = at.session_state[PAIR]
    assert pair["choice"] == text_bench
    assert sorted(pair["shown"]) == sorted(TEXT_TARGETS)
    left, right = (stored[(pair["run_id"], t)] for t in pair["shown"])
    # The image's prompt, then answer A and answer B as plain text, and no model named before the vote.
    assert shown_answers(at) == [left["output"], right["output"]]
    assert [m.value for m in at.markdown if m.value.startswith("**Answer")] == ["**Answer A**", "**Answer B**"]
    assert len(at.image) == 1
    assert not at.get("plotly_chart"), "no ratings before the vote"
    assert at.text_input(key=VOTER).value == "anonymous"

    # A rerun keeps the pair and its order.
    run(at)
    assert at.session_state[PAIR]["run_id"] == pair["run_id"] and at.session_state[PAIR]["shown"] == pair["shown"]

    voter = f"tester-{datetime.now(timezone.utc):%H%M%S%f}"
    at.text_input(key=VOTER).set_value(voter)
    run(at)
    at.button(key="arena.vote.a").click()
    run(at)

    votes = my_votes(workbench, text_bench, voter)
    assert len(votes) == 1
    vote = votes[0]
    a, b = sorted(pair["shown"])
    assert (vote["run_id"], vote["a"], vote["b"]) == (pair["run_id"], a, b)
    assert vote["winner"] == ("a" if pair["shown"][0] == a else "b"), "stored relative to the sorted pair"
    first, second = (TITLES[t] for t in pair["shown"])
    assert [m.value for m in at.markdown if m.value.startswith("**Answer")] == [f"**Answer A** · {first}", f"**Answer B** · {second}"]
    assert at.success[0].value == f"Your vote as {voter}: {first} better than {second}. A was {first}, B was {second}."
    chart = at.get("plotly_chart")
    assert [c.key for c in chart] == ["arena.chart.ratings"]
    assert not [b for b in at.button if b.key.startswith("arena.vote.")], "one vote per pair shown"

    # The next pair prefers one this voter has not voted on; the name is kept.
    at.button(key="arena.next").click()
    run(at)
    following = at.session_state[PAIR]
    assert following["run_id"] != pair["run_id"]
    assert at.text_input(key=VOTER).value == voter
    at.button(key="arena.vote.tie").click()
    run(at)
    assert len(my_votes(workbench, text_bench, voter)) == 2
    assert "a tie between" in at.success[0].value


def test_a_second_vote_on_a_pair_replaces_the_first(arena: Callable[[str], AppTest], workbench: Any, text_bench: str) -> None:
    voter = f"twice-{datetime.now(timezone.utc):%H%M%S%f}"
    at = arena(text_bench)
    at.text_input(key=VOTER).set_value(voter)
    run(at)
    pair = at.session_state[PAIR]
    at.button(key="arena.vote.neither").click()
    run(at)
    assert [v["winner"] for v in my_votes(workbench, text_bench, voter)] == ["neither"]
    # The same pair shown again (as after a reload that kept it) and voted the other way.
    at.session_state[PAIR] = {**pair, "shown": list(reversed(pair["shown"]))}
    del at.session_state[VOTED]
    run(at)
    at.button(key="arena.vote.b").click()
    run(at)
    votes = my_votes(workbench, text_bench, voter)
    assert len(votes) == 1, votes
    winner = pair["shown"][0]  # B of the reversed order is the first shown before
    assert votes[0]["winner"] == ("a" if winner == votes[0]["a"] else "b")


def test_an_empty_name_is_refused_and_nothing_is_stored(
    arena: Callable[[str], AppTest], workbench: Any, text_bench: str
) -> None:
    at = arena(text_bench)
    before = len([v for v in workbench.history.votes(datetime.now(timezone.utc) - timedelta(days=1)) if v["bench_id"] == text_bench])
    at.text_input(key=VOTER).set_value("   ")
    run(at)
    at.button(key="arena.vote.a").click()
    run(at)
    assert any("name is empty" in e.value for e in at.error), [e.value for e in at.error]
    after = len([v for v in workbench.history.votes(datetime.now(timezone.utc) - timedelta(days=1)) if v["bench_id"] == text_bench])
    assert after == before
    assert [m.value for m in at.markdown if m.value.startswith("**Answer")] == ["**Answer A**", "**Answer B**"], "still hidden"


def test_answers_in_labels_only_make_no_pair(arena: Callable[[str], AppTest], classifier_bench: str) -> None:
    at = arena(classifier_bench)
    assert any("No comparison in this selection has two answers in words" in i.value for i in at.info)
    assert not at.button or not [b for b in at.button if b.key and b.key.startswith("arena.vote.")]
