"""The Arena in a real browser: a benchmark of its own (two comparisons: two language-model targets answer two
labelled photos), then two blind votes; after each, the names are revealed and the ratings drawn, and the second
vote moves them the way it says. The page is linked to that benchmark (?bench=<id>), so other tests' votes do not
count."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

TEXT_TARGETS = ["bedrock", "azure_openai"]
TITLES = {"bedrock": "Amazon Bedrock", "azure_openai": "Azure OpenAI"}
RATINGS_QUESTION = "Which answers do people prefer?"
REVEALED = re.compile(r"A was (.+), B was (.+)\.$")


@pytest.fixture(scope="module")
def two_comparisons(workbench: Any) -> str:
    """The bench id of two comparisons (the first two labelled samples, through the two text targets)."""
    from mcv_core import bench, samples

    images = tuple(samples.sample_images()[:2])
    outcome = bench.run_bench(workbench, bench.BenchPlan(images, tuple(TEXT_TARGETS), 1, 2, workbench.settings.default_prompt))
    assert len(outcome.runs) == 2 and all(r.ok for run in outcome.runs for r in run.results), outcome.failures
    return outcome.bench_id


def settle(page: Any) -> None:
    from playwright.sync_api import expect

    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=90_000)
    page.wait_for_timeout(500)


def ratings(page: Any) -> dict[str, tuple[float, int]]:
    """The ratings chart's points as drawn: model title -> (rating, votes)."""
    from playwright.sync_api import expect

    chart = page.locator(".js-plotly-plot").filter(has=page.locator(".gtitle", has_text=RATINGS_QUESTION))
    expect(chart).to_have_count(1, timeout=60_000)
    expect(chart.locator("svg.main-svg").first).to_be_visible()
    data = chart.evaluate("el => ({x: Array.from(el._fullData[0].x), y: Array.from(el._fullData[0].y)})")
    out = {}
    for rating, label in zip(data["x"], data["y"]):
        title, _, votes = label.partition("<br>votes=")
        out[title] = (float(rating), int(votes))
    assert len(out) == len(data["y"]), data
    return out


def vote_a(page: Any) -> tuple[str, str]:
    """Press "A is better" on the pair shown; the names revealed: (A's title, B's title)."""
    from playwright.sync_api import expect

    page.get_by_role("button", name="A is better").click()
    note = page.get_by_test_id("stAlert").filter(has_text="Your vote as")
    expect(note).to_be_visible(timeout=60_000)
    settle(page)
    found = REVEALED.search(note.inner_text().strip())
    assert found, note.inner_text()
    return found.group(1), found.group(2)


def test_two_votes_and_the_rating_moves(
    guarded_page: Any, streamlit_server: Any, two_comparisons: str, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    page = guarded_page.page
    page.goto(f"{streamlit_server.url}/arena?bench={two_comparisons}")
    expect(page.get_by_role("heading", name="Arena", exact=True)).to_be_visible(timeout=60_000)
    settle(page)
    expect(page.get_by_text("2 pairs of answers in benchmark " + two_comparisons, exact=False)).to_be_visible()
    expect(page.get_by_role("button", name="A is better")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("Ratings so far")).to_have_count(0)
    names_before = page.get_by_test_id("stMarkdown").filter(has_text=re.compile(r"^Answer [AB]")).all_inner_texts()
    assert sorted(t.strip() for t in names_before) == ["Answer A", "Answer B"], names_before

    voter = page.locator(".st-key-arena-voter input")
    name = f"browser-{datetime.now(timezone.utc):%H%M%S%f}"
    voter.fill(name)
    voter.press("Enter")
    settle(page)

    first_a, first_b = vote_a(page)
    assert {first_a, first_b} == set(TITLES.values())
    after_first = ratings(page)
    assert set(after_first) == set(TITLES.values()), after_first
    assert after_first[first_a][0] > after_first[first_b][0], ("A won, so A rates higher", after_first)
    page.screenshot(path=str(tmp_path / "arena-first-vote.png"), full_page=True)

    page.get_by_role("button", name="Next pair").click()
    settle(page)
    expect(page.get_by_role("button", name="A is better")).to_be_visible(timeout=60_000)
    expect(voter).to_have_value(name)  # kept for the session
    second_a, second_b = vote_a(page)
    after_second = ratings(page)

    # One more vote for each of the two; and the winner of the second vote gains on the loser.
    assert after_second[second_a][1] == after_first[second_a][1] + 1
    assert after_second[second_b][1] == after_first[second_b][1] + 1
    gap_before = after_first[second_a][0] - after_first[second_b][0]
    gap_after = after_second[second_a][0] - after_second[second_b][0]
    assert gap_after > gap_before, (after_first, after_second)
    assert guarded_page.outside == [], guarded_page.outside
