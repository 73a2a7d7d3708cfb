"""The Scorecard page through Streamlit's AppTest, on the session's local cloud.

The figures the page shows are checked against the stored result items, recomputed here with numpy and scipy
(accuracy, the Wilson interval by its formula, percentiles, cost per 1,000 images, McNemar's exact test as a
binomial test, Wilcoxon, Cohen's kappa by its formula, the Pareto front by its definition), never with
mcv_core.scorecard. The benchmark is the issue's (`sample_bench`: the labelled sample set x 3 targets x 3
repeats); the judge runs on a small benchmark of its own, so that a pass takes seconds.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd
import pytest
import streamlit as st
from scipy import stats
from streamlit.testing.v1 import AppTest

from mcv_core import formatting as fmt
from tests.app.tables import assert_tables_configured, shown_columns

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "app.py"

TARGETS = ("sagemaker", "bedrock", "azure_openai")  # the catalogue's order, the page's order
TITLES = {"sagemaker": "SageMaker Serverless", "bedrock": "Amazon Bedrock", "azure_openai": "Azure OpenAI"}
COLORS = {"sagemaker": "#EC7211", "bedrock": "#01A88D", "azure_openai": "#0078D4"}
DOMINATED = "#B4BCC7"
Z95 = stats.norm.ppf(0.975)
JUDGED = "scorecard.judged"


# --- fixtures -----------------------------------------------------------------------------------------------------


def bench_items(workbench: Any, bench_id: str) -> list[dict[str, Any]]:
    """The benchmark's result items, read back through the time index (not through History.select, which the
    page uses)."""
    since = datetime.now(timezone.utc) - timedelta(days=1)
    items = [i for i in workbench.history.results(since) if i.get("bench_id") == bench_id]
    assert items, f"no results of {bench_id}"
    return items


@pytest.fixture(scope="module")
def raw(workbench: Any, sample_bench: dict[str, Any]) -> list[dict[str, Any]]:
    items = bench_items(workbench, sample_bench["bench_id"])
    assert len(items) == 90, len(items)
    return items


@pytest.fixture(scope="module")
def small_bench(workbench: Any) -> str:
    """Two labelled samples once through the three targets: 6 results, for judge passes of a few seconds."""
    from mcv_core import bench, samples

    images = tuple(samples.sample_images()[:2])
    outcome = bench.run_bench(workbench, bench.BenchPlan(images, TARGETS, 1, 2, workbench.settings.default_prompt))
    assert len(outcome.runs) == 2 and not outcome.failures, outcome.failures
    return outcome.bench_id


@pytest.fixture
def deferred(monkeypatch: pytest.MonkeyPatch) -> dict[str, Callable[[], Any]]:
    """The callables of deferred downloads (made when the button is pressed), by file name."""
    from streamlit.runtime.media_file_manager import MediaFileManager

    found: dict[str, Callable[[], Any]] = {}
    original = MediaFileManager.add_deferred

    def add_deferred(self: Any, data: Callable[[], Any], mimetype: Any, coordinates: Any, file_name: Any = None, **kw: Any) -> str:
        found[str(file_name)] = data
        return original(self, data, mimetype, coordinates, file_name=file_name, **kw)

    monkeypatch.setattr(MediaFileManager, "add_deferred", add_deferred)
    return found


@pytest.fixture
def cleared_faults(local_settings: Any) -> Iterator[Any]:
    from mcv_core.local import control

    conn = control.running(local_settings)
    assert conn is not None, "the local cloud of the test session is not running"
    control.emulator_admin(conn, "DELETE", "/_mcv/faults")
    try:
        yield conn
    finally:
        control.emulator_admin(conn, "DELETE", "/_mcv/faults")


def _exceptions(at: AppTest) -> str:
    return "\n".join(f"{e.message}\n{''.join(e.stack_trace)}" for e in at.exception)


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, _exceptions(at)
    return at


def open_scorecard(bench_id: str, tab: str | None = None) -> AppTest:
    """The Scorecard of one benchmark (linked as ?bench=<id>), on `tab`."""
    st.cache_resource.clear()
    st.cache_data.clear()
    at = AppTest.from_file(str(APP), default_timeout=300)
    run(at)
    at.switch_page("pages/scorecard.py")
    at.query_params["bench"] = bench_id
    run(at)
    assert [t.value for t in at.title] == ["Scorecard"]
    if tab is not None:
        at.session_state["scorecard.tab"] = tab
        run(at)
    return at


@pytest.fixture
def scorecard_of(local_env: dict[str, str], routed: None) -> Iterator[Callable[..., AppTest]]:
    yield open_scorecard
    st.cache_resource.clear()
    st.cache_data.clear()


# The page's tables by the columns they show first (two show the same frame: the per-target figures).
TABLES = {
    "scorecard.quality": ["model", "accuracy_text"],
    "scorecard.speed": ["model", "p50_ms"],
    "scorecard.pair": ["test"],
    "scorecard.pairs": ["a", "b", "test"],
    "scorecard.agreement": ["a", "b", "kappa"],
    "scorecard.failed": ["model", "run_id", "reason"],
}


def find_table(at: AppTest, key: str) -> Any:
    head = TABLES[key]
    found = [d for d in at.dataframe if shown_columns(d)[: len(head)] == head]
    assert len(found) == 1, [shown_columns(d) for d in at.dataframe]
    return found[0]


def table(at: AppTest, key: str) -> pd.DataFrame:
    return find_table(at, key).value


def by_model(frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    by_title = {title: target for target, title in TITLES.items()}
    return {by_title[row["model"]]: row for row in frame.to_dict("records")}


def metric(at: AppTest, label: str) -> str:
    found = [m.value for m in at.metric if m.label == label]
    assert len(found) == 1, [m.label for m in at.metric]
    return found[0]


# --- the figures, from the raw items -------------------------------------------------------------------------------


def wilson(k: int, n: int) -> tuple[float, float]:
    p = k / n
    denom = 1 + Z95**2 / n
    center = (p + Z95**2 / (2 * n)) / denom
    half = Z95 / denom * np.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n))
    return max(0.0, center - half), min(1.0, center + half)


def expected_figures(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = {}
    for target in TARGETS:
        mine = [i for i in items if i["provider"] == target]
        ok = [i for i in mine if i["status"] == "ok"]
        labelled = [i for i in mine if i.get("correct") is not None]
        right = sum(1 for i in labelled if i["correct"])
        reports_cold = any(i.get("cold_start") is not None for i in ok)
        timed = [i["latency_ms"] for i in ok if not reports_cold or i.get("cold_start") is False]
        costs = [i["cost_usd"] for i in ok if i.get("cost_usd") is not None]
        out[target] = {
            "n": len(mine),
            "n_scored": len(labelled),
            "accuracy": right / len(labelled),
            "wilson": wilson(right, len(labelled)),
            "p50": float(np.percentile(timed, 50)),
            "p95": float(np.percentile(timed, 95)),
            "n_latency": len(timed),
            "cold_n": sum(1 for i in ok if i.get("cold_start") is True),
            "cost_per_1k": 1000 * float(np.mean(costs)),
        }
    points = {t: (f["accuracy"], -f["p95"], -f["cost_per_1k"]) for t, f in out.items()}
    for target, mine in points.items():
        out[target]["front"] = not any(
            all(o >= m for o, m in zip(other, mine)) and any(o > m for o, m in zip(other, mine))
            for name, other in points.items()
            if name != target
        )
    return out


def by_run(items: list[dict[str, Any]], target: str) -> dict[str, dict[str, Any]]:
    return {i["run_id"]: i for i in items if i["provider"] == target}


# --- the tests -----------------------------------------------------------------------------------------------------


def test_the_scorecard_of_a_benchmark_agrees_with_its_results(
    scorecard_of: Callable[..., AppTest], raw: list[dict[str, Any]], sample_bench: dict[str, Any]
) -> None:
    at = scorecard_of(sample_bench["bench_id"])
    expected = expected_figures(raw)
    assert at.session_state["scorecard.range"] == "Benchmark"
    assert at.selectbox(key="scorecard.bench").value == sample_bench["bench_id"]
    assert metric(at, "Results") == "90" and metric(at, "Comparisons") == "30"
    assert assert_tables_configured(at) == 4, "quality, speed and cost; the Pairs tab: a pair, every pair"

    quality = table(at, "scorecard.quality")
    assert shown_columns(find_table(at, "scorecard.quality")) == ["model", "accuracy_text", "judge_text", "rating_text", "front_text"]
    for target, row in by_model(quality).items():
        figures = expected[target]
        low, high = figures["wilson"]
        assert row["n"] == figures["n"]
        assert row["accuracy_text"] == (
            f"{fmt.percent(figures['accuracy'])} ({fmt.percent(low)}–{fmt.percent(high)}) n={figures['n_scored']}"
        ), row["accuracy_text"]
        assert row["front_text"] == ("yes" if figures["front"] else "dominated"), (target, row["front_text"])
        assert row["rating_text"].startswith(fmt.DASH)  # no votes on this benchmark

    speed = table(at, "scorecard.speed")
    for target, row in by_model(speed).items():
        figures = expected[target]
        assert row["p50_ms"] == pytest.approx(figures["p50"], rel=1e-9)
        assert row["p95_ms"] == pytest.approx(figures["p95"], rel=1e-9)
        assert row["n_latency"] == figures["n_latency"]
        assert row["cost_per_1k_usd"] == pytest.approx(figures["cost_per_1k"], rel=1e-9)
        assert row["cost_per_1k_usd (shown)"] == fmt.money(figures["cost_per_1k"])
        assert row["cold_text"].endswith(f"n={figures['cold_n']}") if figures["cold_n"] else row["cold_text"].startswith(fmt.DASH)
    assert by_model(speed)["sagemaker"]["latency_basis"] == "warm calls"

    front = [TITLES[t] for t in TARGETS if expected[t]["front"]]
    assert f"On the Pareto front: {', '.join(front)}." in at.caption[-1].value or any(
        f"On the Pareto front: {', '.join(front)}." in c.value for c in at.caption
    )

    # The Pareto chart: each target once per panel at its own figures, coloured on the front and grey off it.
    chart = json.loads(next(c for c in at.get("plotly_chart") if c.key == "scorecard.chart.pareto").proto.spec)
    assert chart["layout"]["title"]["text"].startswith("Which models are worth it?")
    points = [t for t in chart["data"] if t.get("mode") == "markers+text"]
    assert len(points) == 2 * len(TARGETS)
    for trace in points:
        target = {v: k for k, v in TITLES.items()}[trace["text"][0]]
        figures = expected[target]
        assert trace["y"][0] == pytest.approx(100 * figures["accuracy"], rel=1e-9)
        x = figures["cost_per_1k"] if trace.get("xaxis", "x") == "x" else figures["p95"]
        assert trace["x"][0] == pytest.approx(x, rel=1e-9), (target, trace.get("xaxis"))
        assert trace["marker"]["color"] == (COLORS[target] if figures["front"] else DOMINATED)
        assert f"n={figures['n']:,} results" in trace["hovertext"][0]
    lines = [t for t in chart["data"] if t.get("name") == "Pareto front"]
    assert len(lines) == 2, "the front's line in both panels"


def test_pairs_are_tested_on_the_same_images(
    scorecard_of: Callable[..., AppTest], raw: list[dict[str, Any]], sample_bench: dict[str, Any]
) -> None:
    at = scorecard_of(sample_bench["bench_id"], "Pairs")
    # Chosen the other way round from the scorecard's own order: every figure must turn round with it.
    at.selectbox(key="scorecard.pair_a").set_value("azure_openai")
    at.selectbox(key="scorecard.pair_b").set_value("bedrock")
    run(at)
    shown = table(at, "scorecard.pair")
    rows = {row["test"]: row for row in shown.to_dict("records")}
    assert set(rows) == {"McNemar exact (accuracy)", "Wilcoxon (warm latency)"}, "no judge yet: no bootstrap row"

    a, b = by_run(raw, "azure_openai"), by_run(raw, "bedrock")
    runs = sorted(a.keys() & b.keys())
    assert len(runs) == 30
    right_a = np.array([bool(a[r]["correct"]) for r in runs])
    right_b = np.array([bool(b[r]["correct"]) for r in runs])
    a_only, b_only = int(np.sum(right_a & ~right_b)), int(np.sum(~right_a & right_b))
    mcnemar = rows["McNemar exact (accuracy)"]
    assert mcnemar["n"] == 30
    assert mcnemar["discordant"] == f"A: {a_only} · B: {b_only}"
    effect = right_a.mean() - right_b.mean()
    assert mcnemar["effect"] == fmt.effect("correct", effect) + " of accuracy", mcnemar["effect"]
    if a_only + b_only:
        p = stats.binomtest(min(a_only, b_only), a_only + b_only, 0.5).pvalue
        assert mcnemar["p_value"] == fmt.p_value(p)
    else:
        assert mcnemar["p_value"].startswith(f"{fmt.DASH} no discordant pairs")

    both = [r for r in runs if a[r]["status"] == "ok" and b[r]["status"] == "ok"]
    x = np.array([a[r]["latency_ms"] for r in both])
    y = np.array([b[r]["latency_ms"] for r in both])
    wilcoxon = rows["Wilcoxon (warm latency)"]
    assert wilcoxon["n"] == len(both)
    p = stats.wilcoxon(x, y).pvalue
    assert wilcoxon["p_value"] == fmt.p_value(p)
    assert wilcoxon["effect"] == fmt.effect("latency_ms", np.median(x - y)) + " (median)"
    faster = TITLES["azure_openai"] if np.median(x - y) < 0 else TITLES["bedrock"]
    assert wilcoxon["verdict"] == (f"{faster} is faster" if p < 0.05 else "no clear difference (p ≥ 0.05)")

    # Every pair, in the scorecard's order.
    every = table(at, "scorecard.pairs")
    assert len(every) == 3 * 2, "three pairs, two tests each"
    assert assert_tables_configured(at) == 4


def test_agreement_gives_kappa_and_top_answers_with_their_n(
    scorecard_of: Callable[..., AppTest], raw: list[dict[str, Any]], sample_bench: dict[str, Any]
) -> None:
    at = scorecard_of(sample_bench["bench_id"], "Agreement")
    shown = table(at, "scorecard.agreement")
    assert len(shown) == 3
    by_title = {title: target for target, title in TITLES.items()}
    for row in shown.to_dict("records"):
        a, b = by_run(raw, by_title[row["a"]]), by_run(raw, by_title[row["b"]])
        runs = sorted(a.keys() & b.keys())
        x = np.array([bool(a[r]["correct"]) for r in runs])
        y = np.array([bool(b[r]["correct"]) for r in runs])
        observed = float(np.mean(x == y))
        chance = x.mean() * y.mean() + (1 - x.mean()) * (1 - y.mean())
        assert row["n"] == len(runs) == 30
        assert row["observed"] == fmt.percent(observed)
        if chance < 1:
            assert row["kappa"] == fmt.number((observed - chance) / (1 - chance), 2), (row, observed, chance)
        else:
            assert row["kappa"] == f"{fmt.DASH} undefined: no variation"
        assert 0 <= row["top_n"] <= 30
        assert row["top_agreement"].endswith("%") or row["top_agreement"].startswith(fmt.DASH)
    assert assert_tables_configured(at) == 3


def test_the_judge_scores_the_selection_and_the_scorecard_reads_it(
    scorecard_of: Callable[..., AppTest], workbench: Any, small_bench: str, cleared_faults: Any
) -> None:
    from mcv_core import judge
    from mcv_core.local import control

    at = scorecard_of(small_bench, "Judge")
    assert at.selectbox(key="scorecard.judge").options == [TITLES["bedrock"], TITLES["azure_openai"]], "the classifier cannot judge"
    assert at.text_area(key="scorecard.rubric").value == judge.DEFAULT_RUBRIC_TEXT
    at.selectbox(key="scorecard.judge").set_value("azure_openai")
    run(at)
    go = at.button(key="scorecard.judge_go")
    assert go.label == "Judge 6 answers" and not go.disabled
    assert metric(at, "Judgments") == "0"
    go.click()
    run(at)

    outcome = at.session_state[JUDGED]
    assert outcome.judge == "azure_openai" and outcome.scored == 6 and not outcome.failed
    stored = [
        j for j in workbench.history.judgments_for_runs({i["run_id"] for i in bench_items(workbench, small_bench)})
        if j["judge"] == "azure_openai" and j["rubric_id"] == judge.DEFAULT_RUBRIC.id
    ]  # fmt: skip
    assert len(stored) == 6 and all(1 <= j["score"] <= 5 for j in stored)
    cost = sum(j["cost_usd"] for j in stored)
    notes = [a.value for a in at.success]
    assert len(notes) == 1 and "6 answers scored, 0 answers skipped, 0 calls failed" in notes[0], notes
    assert f"The judge's cost: {fmt.money(cost)} for 6 calls." in notes[0], (notes[0], cost)

    # The scorecard above now reads these judgments: the judge's mean score per target with its n.
    assert metric(at, "Judgments") == "6"
    quality = by_model(table(at, "scorecard.quality"))
    for target in TARGETS:
        scores = [j["score"] for j in stored if j["target"] == target]
        assert quality[target]["judge_text"].startswith(fmt.number(np.mean(scores), 2)), quality[target]["judge_text"]
        assert quality[target]["judge_text"].endswith(f"n={len(scores)}")
    again = at.button(key="scorecard.judge_go")
    assert again.disabled and again.label == "Nothing to judge", "answers already judged with this rubric"

    # Another rubric is another judgment: every answer is to judge again. Every judge call fails here.
    at.text_area(key="scorecard.rubric").set_value("Score 5 when the answer names the main subject, else 1.")
    run(at)
    assert at.button(key="scorecard.judge_go").label == "Judge 6 answers"
    control.emulator_admin(cleared_faults, "POST", "/_mcv/faults", json={"azure_openai": [{"kind": "error", "status": 500, "count": 1000}]})
    at.button(key="scorecard.judge_go").click()
    run(at)
    control.emulator_admin(cleared_faults, "DELETE", "/_mcv/faults")
    failed = at.session_state[JUDGED]
    assert failed.scored == 0 and len(failed.failed) == 6
    assert any("0 answers scored, 0 answers skipped, 6 calls failed" in w.value for w in at.warning)
    reasons = table(at, "scorecard.failed")
    assert len(reasons) == 6 and all(r and r != "None" for r in reasons["reason"])
    # Nothing stored for the failed pass; the judged results keep their other figures.
    assert metric(at, "Judgments") == "6"
    assert by_model(table(at, "scorecard.quality"))["bedrock"]["accuracy_text"] == quality["bedrock"]["accuracy_text"]

    at.button(key="scorecard.rubric_default").click()
    run(at)
    assert at.text_area(key="scorecard.rubric").value == judge.DEFAULT_RUBRIC_TEXT
    assert at.button(key="scorecard.judge_go").disabled


def test_the_report_carries_the_scorecard(
    scorecard_of: Callable[..., AppTest], raw: list[dict[str, Any]], sample_bench: dict[str, Any], deferred: dict
) -> None:
    at = scorecard_of(sample_bench["bench_id"], "Report")
    buttons = [b for b in at.get("download_button") if b.proto.label == "Download report"]
    assert len(buttons) == 1
    name = f"mc-vision-scorecard-{sample_bench['bench_id']}.html"
    assert name in deferred, sorted(deferred)
    html = deferred[name]()
    html = html.decode("utf-8") if isinstance(html, bytes) else html
    assert "<h2>Scorecard: which model is best for the job</h2>" in html
    assert 'id="chart-pareto"' in html
    for title in TITLES.values():
        assert title in html
    expected = expected_figures(raw)
    for target in TARGETS:
        assert f"n={expected[target]['n_scored']}" in html
    assert "McNemar exact (accuracy)" in html and "Cohen&#x27;s kappa" in html
    markup = re.sub(r"<script\b[^>]*>.*?</script>", "", html, flags=re.DOTALL | re.IGNORECASE)
    assert not re.findall(r"<script\b[^>]*\bsrc\s*=", html, flags=re.IGNORECASE), "a script loads from elsewhere"
    links = re.findall(r"""\b(?:src|href)\s*=\s*["']?\s*([^"'\s>]+)""", markup, flags=re.IGNORECASE)
    assert [link for link in links if re.match(r"(?i)(https?:)?//", link)] == [], "the report links to the network"
    thumbnails = re.findall(r'<img [^>]*src="data:image/jpeg;base64,', html)
    assert len(thumbnails) == 6, "the six newest comparisons side by side"
    assert not re.search(r"(?<![\w-])(None|nan|NaN)(?![\w-])", re.sub(r"<[^>]+>", " ", markup))


def test_a_time_range_without_results_says_so(local_env: dict[str, str], routed: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """A range with nothing in it: a note, no table, no exception (the history is read for real, one hour back
    from a moment a year ahead)."""
    import pages._shared as shared

    st.cache_resource.clear()
    st.cache_data.clear()
    later = datetime.now(timezone.utc) + timedelta(days=365)

    class Later(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> datetime:  # noqa: D102
            return later if tz else later.replace(tzinfo=None)

    monkeypatch.setattr(shared, "datetime", Later)
    at = AppTest.from_file(str(APP), default_timeout=300)
    run(at)
    at.switch_page("pages/scorecard.py")
    run(at)
    at.session_state["scorecard.range"] = "24 hours"
    run(at)
    assert not at.dataframe
    assert any("No results in this selection yet" in i.value for i in at.info), [i.value for i in at.info]
    st.cache_data.clear()


# --- online against batch ------------------------------------------------------------------------------------------


def test_a_batch_benchmark_s_scorecard_says_so_and_puts_the_online_one_beside_it(
    scorecard_of: Callable[..., AppTest], workbench: Any, cat_jpeg: bytes, coffee_jpeg: bytes
) -> None:
    from tests.app.test_history_page import assert_two_modes_row, modes_row, write_two_modes

    benches = write_two_modes(workbench, cat_jpeg, coffee_jpeg)
    at = scorecard_of(benches["batch"])
    assert metric(at, "Results") == "6"
    said = [c.value for c in at.caption if c.value.startswith("Ran ")]
    assert len(said) == 1 and said[0].startswith("Ran as batch jobs: 6 records at the batch price"), said

    at.session_state["scorecard.tab"] = "Online vs batch"
    run(at)
    beside = at.selectbox(key="scorecard.other_mode")
    assert beside.options[0] == f"Online benchmark {benches['online']} · 2 same images", beside.options
    assert beside.value == benches["online"]
    assert_two_modes_row(modes_row(at))
    assert_tables_configured(at)

    # The online benchmark's scorecard says it ran online and finds the batch one.
    online = scorecard_of(benches["online"], "Online vs batch")
    assert any(c.value.startswith("Ran online: 4 calls") for c in online.caption)
    assert online.selectbox(key="scorecard.other_mode").value == benches["batch"]
    assert_two_modes_row(modes_row(online))


def test_a_benchmark_with_no_other_mode_on_its_images_says_what_to_run(
    scorecard_of: Callable[..., AppTest], small_bench: str
) -> None:
    at = scorecard_of(small_bench, "Online vs batch")
    [note] = [i.value for i in at.info]
    assert note.startswith("Only online results here, so there is nothing to put side by side."), note
    assert "--mode batch" in note
    assert "No batch benchmark of the last 30 days ran these images with the same prompt." in note
    assert all(s.key != "scorecard.other_mode" for s in at.selectbox)
