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
BATCH_RUNS = "benchmark.batch.runs"


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
    jobs = [at.session_state[key] for key in (JOB, "benchmark.sweep.job") if key in at.session_state]
    if BATCH_RUNS in at.session_state:
        jobs.extend(at.session_state[BATCH_RUNS].values())
    for job in jobs:
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


# --- batch benchmarks ---------------------------------------------------------------------------------------------

BATCH_TITLES = [TITLES["bedrock"], TITLES["azure_openai"]]


def batch_mode(at: AppTest) -> None:
    at.segmented_control(key="benchmark.mode").set_value("batch")
    run(at)


def batch_estimate(at: AppTest) -> Any:
    found = [d for d in at.dataframe if "batch_cost_usd_typical" in d.value.columns]
    assert len(found) == 1, f"{len(found)} batch estimate tables"
    return found[0]


def tiny_photos(count: int) -> list[tuple[str, bytes, str]]:
    """Small photos (uploads): the local cloud's batch engine answers one record at a time with real models."""
    from io import BytesIO

    from PIL import Image

    from mcv_core.samples import sample_images

    photos = []
    for image in sample_images()[:count]:
        small = Image.open(BytesIO(image.data)).convert("RGB")
        small.thumbnail((96, 96))
        out = BytesIO()
        small.save(out, "JPEG", quality=85)
        photos.append((f"small-{image.name}", out.getvalue(), "image/jpeg"))
    return photos


def batch_run_of(at: AppTest, bench_id: str | None = None) -> Any:
    runs = at.session_state[BATCH_RUNS] if BATCH_RUNS in at.session_state else {}
    assert runs, "no batch benchmark is followed by the page"
    return runs[bench_id] if bench_id else list(runs.values())[-1]


def batch_summary(at: AppTest) -> pd.DataFrame:
    found = [d.value for d in at.dataframe if "time_to_all_results" in d.value.columns]
    assert len(found) == 1, f"{len(found)} batch summary tables"
    return found[0]


def stored_batch(workbench: Any, bench_id: str) -> list[dict[str, Any]]:
    return [item for item in workbench.history.select(bench_id=bench_id) if item.get("mode") == "batch"]


def batch_able(workbench: Any) -> list[str]:
    """The default catalogue's targets whose service runs batch jobs here (the services say, not this test)."""
    return [t for t in ALL if workbench.target(t).batch_limits is not None]


def test_batch_offers_the_models_with_a_batch_engine_and_prices_online_and_batch_side_by_side(
    app: AppTest, workbench: Any
) -> None:
    at = app
    mode = at.segmented_control(key="benchmark.mode")
    assert mode.value == "online" and mode.options == ["Online", "Batch"]
    batch_mode(at)
    able = batch_able(workbench)
    assert {"bedrock", "azure_openai"} <= set(able)
    pills = at.pills(key="benchmark.batch.targets")
    assert pills.options == [TITLES[t] for t in able], "only the targets whose service runs batch jobs here"
    assert pills.value == able
    captions = " ".join(c.value for c in at.caption)
    others = [TITLES[t] for t in ALL if t not in able]
    if others:
        assert f"{others[0]} is not offered: its service has no batch engine here. Run it online." in captions
    else:
        assert "not offered" not in captions
    assert "Amazon Bedrock: 100 to 50,000 records and 1 GB per job" in captions, captions
    # A model without a batch price known beforehand (a job billed by its instance time) is named, not summed.
    rows = batch_estimate(at).value.set_index("model")
    unpriced = [title for title, cost in rows["batch_cost_usd_typical"].items() if pd.isna(cost)]
    notes = [c.value for c in at.caption if c.value.startswith("No batch price is known")]
    assert len(notes) == (1 if unpriced else 0) and all(title in notes[0] for title in unpriced), (unpriced, notes)
    at.pills(key="benchmark.batch.targets").set_value(["bedrock", "azure_openai"])
    run(at)
    assert not [c.value for c in at.caption if c.value.startswith("No batch price is known")]
    assert at.number_input(key="benchmark.batch.repeat").value == 10
    assert not [w for w in at.number_input if w.key == "benchmark.concurrency"], "batch jobs have no concurrency here"

    widget = batch_estimate(at)
    rows = widget.value.set_index("model")
    assert list(rows.index) == BATCH_TITLES and (rows["calls"] == SAMPLES * 10).all()
    for title in BATCH_TITLES:
        row = rows.loc[title]
        # The catalogue's default models are batch-priced at half their on-demand price.
        assert row["batch_cost_usd_typical"] == pytest.approx(row["cost_usd_typical"] / 2, rel=1e-9), row
        assert row["batch_cost_usd_max"] == pytest.approx(row["cost_usd_max"] / 2, rel=1e-9), row
        assert row["batch_cost_usd_typical (shown)"].startswith("$") and row["cost_usd_typical (shown)"].startswith("$")
    assert shown_columns(widget) == [
        "model", "calls", "cost_usd_typical (shown)", "batch_cost_usd_typical (shown)", "cost_usd_max (shown)",
        "batch_cost_usd_max (shown)",
    ]  # fmt: skip
    assert assert_tables_configured(at) == 1
    line = " ".join(m.value for m in at.markdown)
    assert f"{SAMPLES * 10} records per model, {SAMPLES * 10 * 2} records in all" in line, line
    assert "as batch jobs" in line and "online" in line
    assert [s.value for s in at.subheader] == ["Before you run it", "Batch benchmarks in flight"]
    assert at.button(key="benchmark.batch.run").label == "Run as batch jobs"
    assert not [b for b in at.button if b.key == "benchmark.run"]

    # Back online: every target again, and the online estimate.
    at.segmented_control(key="benchmark.mode").set_value("online")
    run(at)
    assert at.pills(key="benchmark.targets").options == [TITLES[p] for p in ALL]
    assert not [d for d in at.dataframe if "batch_cost_usd_typical" in d.value.columns]


def test_a_set_below_bedrock_s_minimum_is_refused_and_nothing_is_submitted(app: AppTest, workbench: Any) -> None:
    at = app
    before = {state["bench_id"] for state in workbench.history.batches(1)}
    batch_mode(at)
    at.number_input(key="benchmark.batch.repeat").set_value(3)
    run(at)
    errors = [e.value for e in at.error]
    assert len(errors) == 1, errors
    assert "Amazon Bedrock batch jobs need at least 100 records; this set has 30 (10 images × 3 repeats)" in errors[0]
    assert "run it online" in errors[0] and "add images or repeats to reach 100" in errors[0], errors[0]
    assert not [d for d in at.dataframe if "batch_cost_usd_typical" in d.value.columns], "an estimate for a refused set"
    assert not [b for b in at.button if b.key == "benchmark.batch.run"]
    assert BATCH_RUNS not in at.session_state or not at.session_state[BATCH_RUNS]
    assert {state["bench_id"] for state in workbench.history.batches(1)} == before
    # Azure OpenAI's batch jobs take a single record: the same set runs there.
    at.pills(key="benchmark.batch.targets").set_value(["azure_openai"])
    run(at)
    assert not at.error and at.button(key="benchmark.batch.run")


def test_a_batch_benchmark_runs_from_the_page_to_its_summary(app: AppTest, workbench: Any) -> None:
    at = app
    batch_mode(at)
    at.toggle(key="benchmark.samples").set_value(False)
    at.file_uploader(key="benchmark.files").set_value(tiny_photos(2))
    at.pills(key="benchmark.batch.targets").set_value(["azure_openai"])
    at.number_input(key="benchmark.batch.repeat").set_value(2)
    run(at)
    assert list(batch_estimate(at).value["calls"]) == [4]
    at.button(key="benchmark.batch.run").click()
    run(at)
    job = batch_run_of(at)
    bars = [p.proto.text for p in at.get("progress")]
    assert job.done or (len(bars) == 1 and bars[0].startswith(f"{job.bench_id}: ")), bars
    wait_done(at, job)
    assert job.error is None, job.error
    outcome = job.outcome

    successes = [s.value for s in at.success]
    assert len(successes) == 1 and re.fullmatch(
        rf"{re.escape(job.bench_id)} finished: 4 of 4 records per model as batch jobs, all results in [\d,.]+ (ms|s|min)",
        successes[0],
    ), successes
    shown = batch_summary(at)
    assert len(shown) == 1
    row = shown.iloc[0]
    assert (row["model"], row["mode"], row["n"], row["errors"]) == (TITLES["azure_openai"], "batch", 4, 0), row
    assert row["time_to_all_results"] != "–" and row["mean_cost_usd (shown)"].startswith("$0.0"), row
    widget = [d for d in at.dataframe if "time_to_all_results" in d.value.columns][0]
    assert shown_columns(widget) == [
        "model", "mode", "n", "errors", "time_to_all_results", "mean_cost_usd (shown)", "accuracy",
    ]  # fmt: skip
    (jobs,) = [d.value for d in at.dataframe if "job_id" in d.value.columns]
    assert list(jobs["status"]) == ["completed"] and list(jobs["records"]) == [4] and list(jobs["completed"]) == [4]
    assert assert_tables_configured(at) == 3, "the estimate, the summary and the jobs"
    assert [(p.proto.label, p.proto.query_string) for p in at.get("page_link")] == [
        ("Open in History", f"bench={job.bench_id}")
    ]

    items = stored_batch(workbench, job.bench_id)
    assert len(items) == 4 and {(i["provider"], i["status"], i["job_id"]) for i in items} == {
        ("azure_openai", "ok", jobs["job_id"][0])
    }
    assert workbench.history.batch(job.bench_id)["over"] is True
    # Collected: not in flight.
    assert not [b for b in at.button if b.key == f"benchmark.batch.resume.{job.bench_id}"]


def test_a_batch_benchmark_left_in_flight_is_listed_and_resume_collects_it(app: AppTest, workbench: Any) -> None:
    from mcv_core import batch
    from mcv_core.bench import BenchImage, BenchPlan

    at = app
    # Submitted and then left, as by a terminal closed after its jobs were created: nothing collected yet.
    images = tuple(BenchImage(name, data, ()) for name, data, _ in tiny_photos(3))
    recorded = batch.submit(workbench, BenchPlan(images, ("azure_openai",), 1))
    assert workbench.history.batch(recorded.bench_id)["over"] is False
    batch_mode(at)
    at.button(key="benchmark.batch.refresh").click()  # the list was read when the page opened, before the submit
    run(at)
    resume = at.button(key=f"benchmark.batch.resume.{recorded.bench_id}")
    assert resume.label == "Resume"
    assert at.button(key=f"benchmark.batch.stop.{recorded.bench_id}").label == "Cancel"
    listed = " ".join(m.value for m in at.markdown)
    assert f"{recorded.created_at:%Y-%m-%d %H:%M} UTC" in listed and "Azure OpenAI · 3 records per model" in listed, listed
    captions = [c.value for c in at.caption if recorded.bench_id in c.value]
    assert len(captions) == 1 and re.match(r"As last recorded: Azure OpenAI: [a-z ]+, \d of 3 records · ", captions[0]), captions
    assert "azure_openai" not in " ".join([listed, *captions]), "an internal name on the page"

    resume.click()
    run(at)
    job = batch_run_of(at, recorded.bench_id)
    assert not [b for b in at.button if b.key == f"benchmark.batch.resume.{recorded.bench_id}"], "listed while followed"
    wait_done(at, job)
    assert job.error is None, job.error
    successes = [s.value for s in at.success]
    assert len(successes) == 1 and successes[0].startswith(f"{recorded.bench_id} finished: 3 of 3 records per model"), successes
    assert batch_summary(at).iloc[0]["mode"] == "batch"
    assert len(stored_batch(workbench, recorded.bench_id)) == 3
    assert workbench.history.batch(recorded.bench_id)["over"] is True
    assert recorded.bench_id not in {state["bench_id"] for state in batch.in_flight(workbench)}


@pytest.fixture
def slow_batch(local_settings: Any) -> Iterator[None]:
    """Every Azure OpenAI batch record takes 0.3 s longer: a job that is still running when Cancel is pressed."""
    from mcv_core.local import control

    conn = control.running(local_settings)
    assert conn is not None, "the local cloud of the test session is not running"
    control.emulator_admin(conn, "POST", "/_mcv/batch-faults", json={"azure_openai": {"record_delay_s": 0.3}})
    try:
        yield
    finally:
        control.emulator_admin(control.running(local_settings), "DELETE", "/_mcv/batch-faults")


def wait_records(at: AppTest, job: Any, records: int) -> None:
    deadline = time.monotonic() + JOB_DONE_S
    while job.progress.done < records:
        if job.done or time.monotonic() > deadline:
            raise RuntimeError(f"{job.bench_id}: fewer than {records} records finished: {job.progress}, error {job.error}")
        job.wait(0.2)
    run(at)


def test_cancel_stops_a_batch_benchmark_s_jobs_and_keeps_what_they_finished(
    app: AppTest, workbench: Any, slow_batch: None
) -> None:
    at = app
    batch_mode(at)
    at.toggle(key="benchmark.samples").set_value(False)
    at.file_uploader(key="benchmark.files").set_value(tiny_photos(3))
    at.pills(key="benchmark.batch.targets").set_value(["azure_openai"])
    at.number_input(key="benchmark.batch.repeat").set_value(10)
    run(at)
    at.button(key="benchmark.batch.run").click()
    run(at)
    job = batch_run_of(at)
    wait_records(at, job, 2)
    bars = [p.proto.text for p in at.get("progress")]
    assert len(bars) == 1 and re.fullmatch(
        rf"{re.escape(job.bench_id)}: \d+ of 30 records finished(, about [\d,.]+ (ms|s|min) left)?", bars[0]
    ), bars
    captions = [c.value for c in at.caption if c.value.startswith("Azure OpenAI: ")]
    assert len(captions) == 1 and re.match(r"Azure OpenAI: in progress, \d+ of 30 records · followed for ", captions[0])
    at.button(key=f"benchmark.batch.cancel.{job.bench_id}").click()
    run(at)
    assert job.cancelled, "Cancel did not reach the batch benchmark"
    wait_done(at, job)
    assert job.error is None, job.error
    outcome = job.outcome
    assert outcome.cancelled and 2 <= len(outcome.runs) < 30, len(outcome.runs)
    warnings = [w.value for w in at.warning]
    assert len(warnings) == 1 and warnings[0].startswith(
        f"{job.bench_id} cancelled: {len(outcome.runs)} of 30 records per model as batch jobs"
    ), warnings
    (jobs,) = [d.value for d in at.dataframe if "job_id" in d.value.columns]
    assert list(jobs["status"]) == ["cancelled"]
    assert len(stored_batch(workbench, job.bench_id)) == len(outcome.runs)


def test_cancel_in_the_in_flight_list_stops_a_recorded_benchmark(app: AppTest, workbench: Any, slow_batch: None) -> None:
    from mcv_core import batch
    from mcv_core.bench import BenchImage, BenchPlan

    at = app
    images = tuple(BenchImage(name, data, ()) for name, data, _ in tiny_photos(3))
    recorded = batch.submit(workbench, BenchPlan(images, ("azure_openai",), 10))
    batch_mode(at)
    at.button(key="benchmark.batch.refresh").click()
    run(at)
    at.button(key=f"benchmark.batch.stop.{recorded.bench_id}").click()
    run(at)
    job = batch_run_of(at, recorded.bench_id)
    assert job.cancelled
    wait_done(at, job)
    assert job.error is None, job.error
    assert job.outcome.cancelled and len(job.outcome.runs) < 30
    warnings = [w.value for w in at.warning]
    assert len(warnings) == 1 and warnings[0].startswith(f"{recorded.bench_id} cancelled: "), warnings
    state = workbench.history.batch(recorded.bench_id)
    assert state["cancelled"] is True and state["over"] is True
    assert len(stored_batch(workbench, recorded.bench_id)) == len(job.outcome.runs)
