"""Benchmark: run image sets through the targets, repeated, with a cost estimate first and a summary at the end."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import streamlit as st

from mcv_core import bench as benchmark
from mcv_core import samples
from mcv_core.errors import MCVError
from mcv_core.images import safe_name
from pages._shared import get_workbench, mode_caption, money, plain, target_title

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
            st.error(plain(f"{safe_name(upload.name)}: {exc.user_text()}"), icon=":material/broken_image:")
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
                "model": target_title(e.provider),
                "calls": e.calls,
                "image tokens / call": e.image_tokens_per_call,
                "input tokens": e.input_tokens_total,
                "typical cost (USD)": e.cost_usd_typical,
                "at most (USD)": e.cost_usd_max,
                "assumed": e.basis,
            }
            for e in estimates
        ]
    )
    typical = sum(e.cost_usd_typical or 0 for e in estimates)
    most = sum(e.cost_usd_max or 0 for e in estimates)
    st.subheader("Before you run it")
    st.markdown(
        f"{plan.comparisons:,} comparisons, {plan.calls:,} model calls · typical cost **{money(typical)}**, "
        f"at most **{money(most)}** at today's prices"
    )
    st.dataframe(
        rows,
        hide_index=True,
        width="stretch",
        column_config={
            "typical cost (USD)": st.column_config.NumberColumn(format="$%.6f"),
            "at most (USD)": st.column_config.NumberColumn(format="$%.6f"),
            "image tokens / call": st.column_config.NumberColumn(format="%.0f"),
            "assumed": st.column_config.TextColumn(width="large"),
        },
    )


def summary_table(outcome: benchmark.BenchOutcome) -> None:
    rows = pd.DataFrame(benchmark.summary(outcome))
    if "provider" in rows:
        rows["provider"] = rows["provider"].map(target_title)
        rows = rows.rename(columns={"model": "model id"}).rename(columns={"provider": "model"})
    st.dataframe(rows, hide_index=True, width="stretch")


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
        st.caption(f"{progress.ok} answers, {progress.errors} errors so far · last: {plain(progress.last_image or '–')}")
        if st.button("Cancel", icon=":material/stop_circle:", key="benchmark.cancel", disabled=progress.cancelling):
            job.cancel()
        return
    if job.error is not None:
        text = job.error.user_text() if isinstance(job.error, MCVError) else f"{type(job.error).__name__}: {job.error}"
        st.error(plain(f"The benchmark could not run: {text}"), icon=":material/error:")
        return
    outcome = job.outcome
    assert outcome is not None
    verdict = "cancelled" if outcome.cancelled else "finished"
    st.success(
        f"{outcome.bench_id} {verdict}: {len(outcome.runs)} of {outcome.planned} comparisons in {outcome.wall_s:,.1f} s",
        icon=":material/check_circle:",
    )
    for failure in outcome.failures:
        st.error(plain(failure), icon=":material/error:")
    summary_table(outcome)
    st.page_link("pages/history.py", label="Open in History", icon=":material/monitoring:", query_params={"bench": outcome.bench_id})


plan = plan_form()
running = st.session_state.get(JOB) is not None and not st.session_state[JOB].done
if plan is not None:
    show_estimate(plan)
    if st.button("Run benchmark", type="primary", icon=":material/play_arrow:", disabled=running, key="benchmark.run"):
        st.session_state[JOB] = benchmark.BenchJob(workbench, plan).start()
job_panel()
