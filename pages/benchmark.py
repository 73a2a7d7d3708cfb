"""Benchmark: run image sets through the targets, repeated, with a cost estimate first and a summary at the end."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import streamlit as st

from mcv_core import bench as benchmark
from mcv_core import formatting as fmt
from mcv_core import samples
from mcv_core.errors import MCVError
from pages._shared import download_report, get_workbench, mode_caption, plain, show_table, target_title

workbench = get_workbench()
settings = workbench.settings
JOB = "benchmark.job"

st.title("Benchmark")
st.caption(
    "Run a set of images through the models, several times, and see latency, cost and accuracy side by side. "
    f"Every result is stored and tagged with the benchmark's id. {mode_caption(settings)}"
)


@st.cache_data(show_spinner=False)
def sample_set() -> list[benchmark.BenchImage]:
    return samples.sample_images()


@st.cache_data(ttl=300, show_spinner=False)
def recent_history() -> list[dict]:
    """A week of results: the typical output tokens and SageMaker's billed time for the estimate."""
    since = datetime.now(timezone.utc) - timedelta(days=7)
    return get_workbench().history.load(since, fields=benchmark.ESTIMATE_FIELDS)


def plan_form() -> benchmark.BenchPlan | None:
    with st.container(border=True):
        use_samples = st.toggle(
            f"The labelled sample set ({len(sample_set())} photos from scikit-image, with what each one shows)",
            value=True,
            key="benchmark.samples",
        )
        uploads = st.file_uploader("More images (no labels: scored for latency and cost only)", accept_multiple_files=True, key="benchmark.files")
        chosen = st.pills(
            "Models",
            workbench.catalogue.ids,
            format_func=target_title,
            selection_mode="multi",
            default=workbench.enabled,
            key="benchmark.targets",
            help=f"The targets of the catalogue ({workbench.catalogue.source_text}): each one a model on a service.",
        )
        c1, c2 = st.columns(2)
        repeat = c1.number_input("Repeat each image", 1, benchmark.MAX_REPEAT, 3, key="benchmark.repeat")
        concurrency = c2.number_input(
            "Comparisons at once", 1, benchmark.MAX_CONCURRENCY, 2, key="benchmark.concurrency",
            help="Each comparison calls every selected model at once.",
        )
        prompt = st.text_area(
            "Prompt", settings.default_prompt, max_chars=2000, height=70, key="benchmark.prompt",
            help="Sent to the language models; the image classifier ignores it and returns its top labels.",
        )
    images = list(sample_set()) if use_samples else []
    for upload in uploads or []:
        try:
            loaded = workbench.load_image(upload.getvalue(), upload.name)
        except MCVError as exc:
            st.error(plain(exc.user_text()), icon=":material/broken_image:")  # the message names the file
            return None
        images.append(benchmark.BenchImage(loaded.name, upload.getvalue(), (), width=loaded.width, height=loaded.height))
    if not images or not chosen:
        st.info("Choose images and at least one model.", icon=":material/info:")
        return None
    try:
        return benchmark.BenchPlan(tuple(images), tuple(chosen), int(repeat), int(concurrency), prompt)
    except MCVError as exc:
        st.error(plain(exc.user_text()))
        return None


def show_estimate(plan: benchmark.BenchPlan) -> None:
    estimates = benchmark.estimate(plan, settings, history=recent_history(), catalogue=workbench.catalogue)
    rows = pd.DataFrame(
        [
            {
                "provider": e.provider,
                "calls": e.calls,
                "image_tokens_per_call": e.image_tokens_per_call,
                "input_tokens": e.input_tokens_total,
                "cost_usd_typical": e.cost_usd_typical,
                "cost_usd_max": e.cost_usd_max,
                "basis": e.basis,
            }
            for e in estimates
        ]
    )
    typical = sum(e.cost_usd_typical or 0 for e in estimates)
    most = sum(e.cost_usd_max or 0 for e in estimates)
    st.subheader("Before you run it")
    st.markdown(
        f"{fmt.count(plan.comparisons, 'comparison')}, {fmt.count(plan.calls, 'model call')} · "
        f"typical cost **{fmt.money(typical)}**, at most **{fmt.money(most)}** at today's prices"
    )
    show_table(
        rows,
        key="benchmark.estimate",
        main=["calls", "cost_usd_typical", "cost_usd_max"],
        title_of=target_title,
        caption="What each model's share will cost. Add “Assumed” to see what each estimate rests on.",
    )


def summary_table(outcome: benchmark.BenchOutcome) -> None:
    rows = pd.DataFrame(benchmark.summary(outcome))
    if rows.empty:
        return
    # Latency of warm calls where cold starts are reported, of all calls elsewhere: one pair of columns for both.
    for name in ("p50", "p95"):
        rows[f"{name}_ms"] = rows[f"{name}_ms"].astype("float64").fillna(rows[f"{name}_warm_ms"].astype("float64"))
    show_table(
        rows,
        key="benchmark.summary",
        main=["n", "errors", "p50_ms", "p95_ms", "mean_cost_usd", "accuracy"],
        title_of=target_title,
        caption="Per model: calls, latency of successful calls (warm ones where cold starts are reported), cost and "
        "accuracy on the labelled images.",
    )


@st.fragment(run_every=1.0)
def job_panel() -> None:
    """Progress with an ETA and a cancel button while it runs; the summary once it is done."""
    job: benchmark.BenchJob | None = st.session_state.get(JOB)
    if job is None:
        return
    progress = job.progress
    if not job.done:
        eta = f", about {progress.eta_s:,.0f} s left" if progress.eta_s is not None else ""
        state = "cancelling: running comparisons finish" if progress.cancelling else f"{progress.done} of {progress.total} comparisons{eta}"
        st.progress(progress.done / max(progress.total, 1), text=f"{job.bench_id}: {state}")
        st.caption(
            f"{fmt.count(progress.ok, 'answer')}, {fmt.count(progress.errors, 'error')} so far · "
            f"last: {plain(progress.last_image or fmt.DASH)}"
        )
        if st.button("Cancel", icon=":material/stop_circle:", key="benchmark.cancel", disabled=progress.cancelling):
            job.cancel()
        return
    if job.error is not None:
        if isinstance(job.error, MCVError):
            text = job.error.user_text()
        else:  # a bug, not a condition the core describes: say so, and where to look
            text = f"The benchmark stopped on an unexpected error ({type(job.error).__name__}). Check the server log, then run it again."
        st.error(plain(text), icon=":material/error:")
        return
    outcome = job.outcome
    assert outcome is not None
    ran = f"{len(outcome.runs)} of {outcome.planned} comparisons in {outcome.wall_s:,.1f} s"
    if outcome.cancelled:
        st.warning(
            f"{outcome.bench_id} cancelled: {ran}. Their results are stored; run it again for the rest.",
            icon=":material/stop_circle:",
        )
    else:
        st.success(f"{outcome.bench_id} finished: {ran}", icon=":material/check_circle:")
    for failure in outcome.failures:
        st.error(plain(failure), icon=":material/error:")
    summary_table(outcome)
    with st.container(horizontal=True, vertical_alignment="center"):
        if outcome.runs:
            download_report(outcome.runs, title=f"MC Vision benchmark {outcome.bench_id}", key="benchmark.report")
        st.page_link("pages/history.py", label="Open in History", icon=":material/monitoring:", query_params={"bench": outcome.bench_id})


plan = plan_form()
running = st.session_state.get(JOB) is not None and not st.session_state[JOB].done
if plan is not None:
    show_estimate(plan)
    if st.button("Run benchmark", type="primary", icon=":material/play_arrow:", disabled=running, key="benchmark.run"):
        st.session_state[JOB] = benchmark.BenchJob(workbench, plan).start()
job_panel()
