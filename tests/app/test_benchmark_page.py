"""The Benchmark page through Streamlit's AppTest, against the session's local cloud (real emulator, real models).

The page runs a benchmark in a background thread and polls it from a fragment that reruns every second in a browser;
AppTest does not rerun fragments on its own, so the tests call `at.run()` until the job is done (bounded).
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from tests.app.tables import assert_tables_configured, shown_columns

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "app.py"

ALL = ["sagemaker", "bedrock", "azure_openai"]
TITLES = {"sagemaker": "SageMaker Serverless", "bedrock": "Amazon Bedrock", "azure_openai": "Azure OpenAI"}
SAMPLES = 10  # photos in the labelled sample set
JOB = "benchmark.job"
# A bound, not a measurement: the first SageMaker call of a session pays a cold start on a busy machine.
JOB_DONE_S = 300
NOT_AN_IMAGE = b"<html><body>not a picture</body></html>"


# --- fixtures and helpers --------------------------------------------------------------------------------------


@pytest.fixture
def app(local_env: dict[str, str], routed: None) -> Iterator[AppTest]:
    """The Benchmark page, rendered once, with a workbench opened for this test's local cloud."""
    st.cache_resource.clear()
    st.cache_data.clear()
    at = AppTest.from_file(str(APP), default_timeout=120)
    run(at)
    at.switch_page("pages/benchmark.py")
    run(at)
    assert [t.value for t in at.title] == ["Benchmark"]
    yield at
    for key in (JOB, "benchmark.sweep.job"):
        job = at.session_state[key] if key in at.session_state else None
        if job is not None and not job.done:  # a failed test must not leave requests running into the next one
            job.cancel()
            job.wait(JOB_DONE_S)
    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture
def cleared_faults(local_settings: Any) -> Iterator[Any]:
    """The emulator's connection, with no fault planned before or after the test."""
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


def estimate_table(at: AppTest) -> pd.DataFrame:
    found = [d.value for d in at.dataframe if "cost_usd_typical" in d.value.columns]
    assert len(found) == 1, f"{len(found)} estimate tables"
    return found[0]


def plan(at: AppTest, providers: list[str], repeat: int) -> None:
    at.pills(key="benchmark.targets").set_value(providers)
    at.number_input(key="benchmark.repeat").set_value(repeat)
    run(at)
    assert list(estimate_table(at)["model"]) == [TITLES[p] for p in providers]


def start(at: AppTest) -> Any:
    button = at.button(key="benchmark.run")
    assert not button.disabled
    button.click()
    run(at)
    job = at.session_state[JOB] if JOB in at.session_state else None
    assert job is not None, "Run benchmark stored no job in session state"
    return job


def wait_done(at: AppTest, job: Any) -> None:
    """Rerun the page (as the fragment would, every second) until the job has finished."""
    deadline = time.monotonic() + JOB_DONE_S
    while not job.done:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the benchmark {job.bench_id} did not finish within {JOB_DONE_S} s: {job.progress}")
        run(at)
        job.wait(0.5)
    run(at)


def stored(workbench: Any, bench_id: str, since: datetime) -> list[dict[str, Any]]:
    return [item for item in workbench.history.results(since) if item.get("bench_id") == bench_id]


def summary(at: AppTest) -> pd.DataFrame:
    found = [d.value for d in at.dataframe if "accuracy" in d.value.columns]
    assert len(found) == 1, f"{len(found)} summary tables"
    return found[0]


# --- tests -------------------------------------------------------------------------------------------------------


def test_the_plan_and_its_cost_estimate(app: AppTest) -> None:
    at = app
    toggle = at.toggle(key="benchmark.samples")
    assert toggle.value is True and f"({SAMPLES} photos" in toggle.label, toggle.label
    pills = at.pills(key="benchmark.targets")
    assert pills.options == [TITLES[p] for p in ALL]
    assert pills.value == ALL, "every enabled target is chosen by default"
    assert "targets.toml" in (pills.help or "")
    assert at.number_input(key="benchmark.repeat").value == 3
    assert at.number_input(key="benchmark.concurrency").value == 2
    assert [s.value for s in at.subheader] == ["Before you run it"]
    assert at.button(key="benchmark.run").label == "Run benchmark" and not at.button(key="benchmark.run").disabled
    assert JOB not in at.session_state

    for repeat in (3, 2):
        at.number_input(key="benchmark.repeat").set_value(repeat)
        run(at)
        rows = estimate_table(at).set_index("model")
        assert list(rows.index) == [TITLES[p] for p in ALL]
        assert (rows["calls"] == SAMPLES * repeat).all(), rows["calls"]
        for provider in ("bedrock", "azure_openai"):
            row = rows.loc[TITLES[provider]]
            assert 0 < row["cost_usd_typical"] <= row["cost_usd_max"], row
            assert row["image_tokens_per_call"] > 0 and row["input_tokens"] > 0, row
        sagemaker = rows.loc[TITLES["sagemaker"]]
        assert sagemaker["cost_usd_typical"] == sagemaker["cost_usd_max"] > 0, sagemaker
        assert assert_tables_configured(at) == 1
        line = " ".join(m.value for m in at.markdown)
        assert f"{SAMPLES * repeat:,} comparisons, {SAMPLES * repeat * len(ALL):,} model calls" in line, line

    # Sample set off and nothing uploaded: no plan, no estimate, nothing to run.
    at.toggle(key="benchmark.samples").set_value(False)
    run(at)
    assert [i.value for i in at.info] == ["Choose images and at least one model."]
    assert not at.dataframe and not at.subheader
    assert not [b for b in at.button if b.key == "benchmark.run"]


def test_a_file_that_is_not_an_image_shows_an_error_and_no_estimate(app: AppTest) -> None:
    at = app
    at.file_uploader(key="benchmark.files").set_value([("notes.jpg", NOT_AN_IMAGE, "image/jpeg")])
    run(at)
    errors = [e.value for e in at.error]
    # One message that names the file once (the core's message names it; the page adds nothing before it).
    assert len(errors) == 1 and errors[0].count("notes.jpg") == 1, errors
    assert not at.dataframe and not at.subheader, "an estimate was shown for a plan with a broken file"
    assert not [b for b in at.button if b.key == "benchmark.run"]
    assert JOB not in at.session_state


def test_a_small_benchmark_runs_to_its_summary(app: AppTest, workbench: Any) -> None:
    at = app
    since = datetime.now(timezone.utc) - timedelta(seconds=5)
    plan(at, ["sagemaker"], 1)
    rows = estimate_table(at)
    assert list(rows["calls"]) == [SAMPLES]

    job = start(at)
    assert job.plan.providers == ("sagemaker",) and job.plan.comparisons == SAMPLES
    wait_done(at, job)
    assert job.error is None, job.error
    outcome = job.outcome

    successes = [s.value for s in at.success]
    assert successes == [
        f"{job.bench_id} finished: {SAMPLES} of {SAMPLES} comparisons in {outcome.wall_s:,.1f} s"
    ], successes
    shown = summary(at)
    assert len(shown) == 1
    row = shown.iloc[0]
    assert row["model"] == TITLES["sagemaker"] and row["model id"], row
    assert assert_tables_configured(at) == 2, "the estimate and the summary"
    summary_table = [d for d in at.dataframe if "accuracy" in d.value.columns][0]
    # The question a summary answers: how fast, how dear, how right; the rest behind "More columns".
    assert shown_columns(summary_table) == ["model", "n", "errors", "p50_ms", "p95_ms", "mean_cost_usd (shown)", "accuracy"]
    assert row["p50_ms"] == row["p50_warm_ms"], "the classifier's p50 is of its warm calls"
    assert row["mean_cost_usd (shown)"].startswith("$0.0") and row["mean_cost_usd (shown)"] != "$0.000000"
    reports = [b for b in at.get("download_button") if b.proto.label == "Download report"]
    assert len(reports) == 1, "no report of the benchmark under its summary"
    assert (row["n"], row["ok"] + row["errors"]) == (SAMPLES, SAMPLES), row

    items = stored(workbench, job.bench_id, since)
    assert len(items) == SAMPLES and {i["provider"] for i in items} == {"sagemaker"}
    assert all(i["source"] == "bench" for i in items)
    assert {i["run_id"] for i in items} == {r.run_id for r in outcome.runs}
    scored = [i for i in items if i.get("correct") is not None]
    assert len(scored) == SAMPLES, "every sample is labelled"
    assert row["n_scored"] == SAMPLES and row["correct"] == sum(1 for i in scored if i["correct"])
    assert row["accuracy"] == pytest.approx(sum(1 for i in scored if i["correct"]) / len(scored), rel=1e-12)
    assert row["ok"] == sum(1 for i in items if i["status"] == "ok")

    links = [link.proto for link in at.get("page_link")]
    assert [(p.label, p.query_string) for p in links] == [("Open in History", f"bench={job.bench_id}")]
    assert not at.button(key="benchmark.run").disabled, "a finished benchmark must not block the next one"
    assert not [b for b in at.button if b.key == "benchmark.cancel"]


def test_cancel_stops_the_benchmark_and_keeps_what_ran(app: AppTest, workbench: Any, cleared_faults: Any) -> None:
    from mcv_core.local import control

    at = app
    since = datetime.now(timezone.utc) - timedelta(seconds=5)
    # Every SageMaker answer comes half a second late, so 50 comparisons cannot be over before Cancel is pressed.
    slow = {"sagemaker": [{"kind": "slow", "delay_s": 0.5}]}
    control.emulator_admin(cleared_faults, "POST", "/_mcv/faults", json=slow)
    plan(at, ["sagemaker"], 5)
    job = start(at)
    planned = SAMPLES * 5
    assert job.plan.comparisons == planned
    # Cancel once something has run, so that there is something to keep.
    deadline = time.monotonic() + JOB_DONE_S
    while job.progress.done < 1:
        if job.done or time.monotonic() > deadline:
            raise RuntimeError(f"no comparison of {job.bench_id} ended: {job.progress}, error {job.error}")
        job.wait(0.2)
    run(at)
    bars = [p.proto.text for p in at.get("progress")]
    assert len(bars) == 1 and re.fullmatch(
        rf"{re.escape(job.bench_id)}: \d+ of {planned} comparisons(, about [\d,]+ s left)?", bars[0]
    ), bars
    assert at.button(key="benchmark.run").disabled, "a second benchmark can be started while one runs"
    cancel = at.button(key="benchmark.cancel")
    assert not cancel.disabled
    cancel.click()
    run(at)
    assert job.cancelled, "Cancel did not reach the job"
    wait_done(at, job)
    assert job.error is None, job.error

    outcome = job.outcome
    assert outcome.cancelled and outcome.planned == planned
    assert 0 < len(outcome.runs) < planned, f"{len(outcome.runs)} of {planned} comparisons ran"
    assert not at.success, "a cancelled benchmark is not a success"
    warnings = [w.value for w in at.warning]
    assert len(warnings) == 1 and re.match(
        rf"{re.escape(job.bench_id)} cancelled: {len(outcome.runs)} of {planned} comparisons in [\d,.]+ s\. ", warnings[0]
    ), warnings
    assert summary(at).iloc[0]["n"] == len(outcome.runs)

    items = stored(workbench, job.bench_id, since)
    assert sorted(i["run_id"] for i in items) == sorted(r.run_id for r in outcome.runs), "what ran was not stored"
    assert all(i["provider"] == "sagemaker" and i["status"] == "ok" for i in items)


# --- the concurrency sweep panel ----------------------------------------------------------------------------------

SWEEP_JOB = "benchmark.sweep.job"
SWEEP_PANEL = "Concurrency sweep: latency and throughput as the load grows"


def sweep_markdown(at: AppTest) -> str:
    return " ".join(m.value for m in at.markdown)


def level_tables(at: AppTest) -> list[pd.DataFrame]:
    return [d.value for d in at.dataframe if "concurrency" in d.value.columns]


def test_the_sweep_panel_plans_prices_and_refuses_bad_levels(app: AppTest) -> None:
    at = app
    assert [e.label for e in at.expander] == [SWEEP_PANEL]
    assert at.text_input(key="benchmark.sweep.levels").value == "1, 2, 4, 8"
    assert at.number_input(key="benchmark.sweep.requests").value == 16
    assert at.number_input(key="benchmark.sweep.errors").value == 20
    assert at.pills(key="benchmark.sweep.targets").value == ALL
    assert at.toggle(key="benchmark.sweep.samples").value is True
    # Nothing of a sweep until one runs or is chosen: no table, no message.
    assert not level_tables(at) and not at.success and not at.warning and not at.error
    # 16 requests at each of 1, 2, 4, 8 for the two LLM targets; SageMaker's 5 slots run 8 at 5.
    line = sweep_markdown(at)
    assert f"{3 * 4 * 16} requests at most, 16 requests per level" in line, line
    captions = " ".join(c.value for c in at.caption)
    assert "SageMaker Serverless takes 5 calls at once" in captions and "8 runs at 5" in captions, captions
    run_button = at.button(key="benchmark.sweep.run")
    assert run_button.label == "Run sweep" and not run_button.disabled

    at.text_input(key="benchmark.sweep.levels").set_value("4, 2")
    run(at)
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "concurrency levels must increase: 2 comes after 4" in errors[0], errors
    assert not [b for b in at.button if b.key == "benchmark.sweep.run"]

    at.text_input(key="benchmark.sweep.levels").set_value("1, 2, 4, 8")
    at.number_input(key="benchmark.sweep.requests").set_value(4)
    run(at)
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "4 requests per level cannot keep 8 in flight at once" in errors[0], errors

    at.number_input(key="benchmark.sweep.requests").set_value(8)
    at.pills(key="benchmark.sweep.targets").set_value(["bedrock"])
    run(at)
    assert f"{4 * 8} requests at most, 8 requests per level" in sweep_markdown(at)
    assert [b for b in at.button if b.key == "benchmark.sweep.run"] and not at.error


def test_a_small_sweep_runs_to_its_levels_and_chart_and_is_kept_in_history(app: AppTest, workbench: Any) -> None:
    at = app
    at.pills(key="benchmark.sweep.targets").set_value(["sagemaker"])
    at.text_input(key="benchmark.sweep.levels").set_value("1, 2")
    at.number_input(key="benchmark.sweep.requests").set_value(2)
    run(at)
    at.button(key="benchmark.sweep.run").click()
    run(at)
    job = at.session_state[SWEEP_JOB] if SWEEP_JOB in at.session_state else None
    assert job is not None, "Run sweep stored no job in session state"
    assert job.plan.targets == ("sagemaker",) and job.plan.levels == (1, 2) and job.plan.requests == 2
    run(at)
    assert job.done or at.button(key="benchmark.run").disabled, "a benchmark can start while a sweep runs"
    deadline = time.monotonic() + JOB_DONE_S
    while not job.done:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the sweep {job.sweep_id} did not finish within {JOB_DONE_S} s: {job.progress}")
        run(at)
        job.wait(0.5)
    run(at)
    assert job.error is None, job.error
    outcome = job.outcome
    successes = [s.value for s in at.success]
    assert successes == [f"{job.sweep_id} finished: 4 requests at 2 levels in {outcome.wall_s:,.1f} s"], successes

    (table,) = level_tables(at)
    assert list(zip(table["model"], table["concurrency"])) == [(TITLES["sagemaker"], 1), (TITLES["sagemaker"], 2)]
    assert list(table["requests"]) == [2, 2] and list(table["ok"] + table["errors"]) == [2, 2]
    assert table["p50_ms"].notna().all() and (table["p50_ttft_ms"].isna()).all(), "the classifier does not stream"
    assert all(float(v) > 0 for v in table["images_per_s"]) and list(table["output_tokens_per_s"]) == ["–", "–"]
    assert assert_tables_configured(at) == 2, "the benchmark's estimate and the sweep's levels"
    widget = [d for d in at.dataframe if "concurrency" in d.value.columns][0]
    assert shown_columns(widget)[:4] == ["model", "concurrency", "requests", "errors"]
    charts = [c for c in at.get("plotly_chart")]
    assert len(charts) == 1 and "How do latency and throughput hold up" in charts[0].proto.spec

    since = datetime.now(timezone.utc) - timedelta(minutes=30)
    items = [i for i in workbench.history.results(since) if i.get("sweep_id") == job.sweep_id]
    assert len(items) == 4 and {(i["source"], i["provider"]) for i in items} == {("sweep", "sagemaker")}
    assert sorted(i["concurrency"] for i in items) == [1, 1, 2, 2]

    # The finished sweep is among the past ones; choosing it rebuilds its levels from history.
    past = at.selectbox(key="benchmark.sweep.past")
    assert job.sweep_id in past.options[0], past.options
    past.set_value(job.sweep_id)
    run(at)
    tables = level_tables(at)
    assert len(tables) == 2
    rebuilt = tables[1]
    assert list(rebuilt["concurrency"]) == [1, 2] and list(rebuilt["requests"]) == [2, 2]
    assert list(rebuilt["p50_ms"]) == list(table["p50_ms"])
    assert len(at.get("plotly_chart")) == 2

    # History's Streaming tab draws the same sweep from the results of its time range.
    at.switch_page("pages/history.py")
    run(at)
    at.session_state["history.tab"] = "Streaming"
    run(at)
    chosen = at.selectbox(key="history.sweep")
    assert job.sweep_id in chosen.options[0], chosen.options
    chosen.set_value(job.sweep_id)
    run(at)
    (in_history,) = level_tables(at)
    assert list(in_history["concurrency"]) == [1, 2] and list(in_history["requests"]) == [2, 2]
    assert list(in_history["p50_ms"]) == list(rebuilt["p50_ms"])
    sweep_charts = [c for c in at.get("plotly_chart") if "How do latency and throughput hold up" in c.proto.spec]
    assert len(sweep_charts) == 1
