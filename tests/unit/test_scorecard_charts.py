"""The scorecard's figures (charts.pareto_chart, ratings_chart, win_rate_matrix) drawn from the hand-made benchmark
of test_scorecard.py: what is drawn where, in which colour, and what is said about what is left out."""

from __future__ import annotations

import numpy as np
import pytest

from mcv_core import charts, scorecard
from tests.unit.test_scorecard import ORDER, benchmark, judgments, votes


@pytest.fixture(scope="module")
def card() -> scorecard.Scorecard:
    return scorecard.build(benchmark(), judgments(), votes(), order=ORDER)


@pytest.fixture(scope="module")
def legend(card: scorecard.Scorecard) -> charts.Legend:
    return charts.Legend().covering(ORDER, card.titles)


def points(fig, panel: str) -> dict[str, dict]:
    """The target points of one panel ("x" for cost, "x2" for latency): title -> trace."""
    return {t.name: t for t in fig.data if t.mode == "markers+text" and (t.xaxis or "x") == panel}


def test_pareto_front_coloured_dominated_grey_and_the_unpriced_named(card, legend) -> None:
    fig = charts.pareto_chart(card, legend)
    cost, latency = points(fig, "x"), points(fig, "x2")
    # clf is on the front, haiku is dominated; gpt has no price, so it is missing from the cost panel only.
    assert set(cost) == {"CLF", "HAIKU"} and set(latency) == {"CLF", "HAIKU", "GPT"}
    assert cost["CLF"].marker.color == legend.color("clf")
    assert cost["HAIKU"].marker.color == charts.DOMINATED_COLOR
    assert cost["CLF"].marker.symbol == "circle" and cost["HAIKU"].marker.symbol == "circle-open"
    # Accuracy is drawn 0 to 100: clf got 5 of 10 right, with its Wilson interval as the error bar.
    clf = cost["CLF"]
    assert clf.y[0] == pytest.approx(50.0)
    assert clf.y[0] + clf.error_y.array[0] == pytest.approx(100 * 0.7634069094874361)
    assert clf.x[0] == pytest.approx(0.01)  # $ per 1,000 images
    note = " ".join(a.text for a in fig.layout.annotations)
    assert "Not drawn: GPT (no price)" in note
    assert fig.layout.xaxis.type == "log" and fig.layout.xaxis.ticktext  # a classifier at a fraction of an LLM's price


def test_the_front_line_steps_through_front_targets_only(card, legend) -> None:
    fig = charts.pareto_chart(card, legend)
    lines = [t for t in fig.data if t.name == "Pareto front"]
    assert lines and all(t.line.shape == "hv" for t in lines)
    assert list(lines[0].x) == [pytest.approx(0.01)] and list(lines[0].y) == [pytest.approx(50.0)]


def test_pareto_without_any_quality_says_what_to_do() -> None:
    items = [{**item, "correct": None, "expected": []} for item in benchmark()]
    fig = charts.pareto_chart(scorecard.build(items, order=ORDER))
    texts = " ".join(a.text for a in fig.layout.annotations)
    assert "No quality figure yet" in texts and not [t for t in fig.data if t.mode == "markers+text"]


def test_ratings_best_at_the_top_with_intervals_and_votes(card, legend) -> None:
    fig = charts.ratings_chart(card.ratings, legend)
    trace = fig.data[0]
    # Plotly draws the y axis from the bottom: the best rating is the last point.
    assert [label.split("<br>")[0] for label in trace.y] == ["HAIKU", "GPT"]
    assert list(trace.x) == sorted(trace.x)
    assert all(label.endswith(f"votes={n}") for label, n in zip(trace.y, [6, 6]))
    assert np.all(np.asarray(trace.error_x.array) >= 0) and np.all(np.asarray(trace.error_x.arrayminus) >= 0)
    assert np.mean(trace.x) == pytest.approx(1000, abs=1e-6)  # 1,000 is the average of the rated targets


def test_win_rate_matrix_in_percent_with_n(card, legend) -> None:
    fig = charts.win_rate_matrix(card.ratings, legend)
    heat = fig.data[0]
    names = list(heat.x)
    assert names == ["GPT", "HAIKU"]  # best first
    z = np.asarray(heat.z, dtype=float)
    assert z[0, 1] == pytest.approx(100 * 4 / 6) and z[1, 0] == pytest.approx(100 * 2 / 6)
    assert heat.text[0][1] == "66.7%<br>n=6" and heat.text[0][0] == ""  # no cell against itself
    assert charts.win_rate_matrix(None, legend).layout.annotations  # no votes: the empty figure says so
