"""Benchmark: run image sets through the targets, repeated, with a cost estimate first and a summary at the end."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import streamlit as st

from mcv_core import bench as benchmark
from mcv_core import charts, samples, sweep
from mcv_core import formatting as fmt
from mcv_core.errors import MCVError
from pages._shared import download_report, get_workbench, mode_caption, plain, show_levels, show_table, target_title

workbench = get_workbench()
settings = workbench.settings
JOB = "benchmark.job"
SWEEP_JOB = "benchmark.sweep.job"
SWEEP_LOOKBACK = timedelta(days=7)  # past sweeps to choose from

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


def image_inputs(prefix: str, uploads_label: str) -> tuple[bool, list]:
    """The sample-set toggle and the uploader of a form (keys `<prefix>.samples`, `<prefix>.files`)."""
    use_samples = st.toggle(
        f"The labelled sample set ({len(sample_set())} photos from scikit-image, with what each one shows)",
        value=True,
        key=f"{prefix}.samples",
    )
    uploads = st.file_uploader(uploads_label, accept_multiple_files=True, key=f"{prefix}.files")
    return use_samples, list(uploads or [])


def chosen_images(use_samples: bool, uploads: list) -> list[benchmark.BenchImage] | None:
    """The sample set (when chosen) and every upload, each checked; None (with the error shown) for a bad file."""
    images = list(sample_set()) if use_samples else []
    for upload in uploads:
        try:
            loaded = workbench.load_image(upload.getvalue(), upload.name)
        except MCVError as exc:
            st.error(plain(exc.user_text()), icon=":material/broken_image:")  # the message names the file
            return None
        images.append(benchmark.BenchImage(loaded.name, upload.getvalue(), (), width=loaded.width, height=loaded.height))
    return images


def plan_form() -> benchmark.BenchPlan | None:
    with st.container(border=True):
        use_samples, uploads = image_inputs("benchmark", "More images (no labels: scored for latency and cost only)")
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
    images = chosen_images(use_samples, uploads)
    if images is None:
        return None
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


def show_job_error(error: BaseException, what: str) -> None:
    """Why a background job (the benchmark, the sweep) stopped: the core's own words, else where to look."""
    if isinstance(error, MCVError):
        text = error.user_text()
    else:  # a bug, not a condition the core describes: say so, and where to look
        text = f"The {what} stopped on an unexpected error ({type(error).__name__}). Check the server log, then run it again."
    st.error(plain(text), icon=":material/error:")


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
        show_job_error(job.error, "benchmark")
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


def running(key: str) -> bool:
    job = st.session_state.get(key)
    return job is not None and not job.done


# --- concurrency sweeps ---------------------------------------------------------------------------------------

def sweep_form() -> sweep.SweepPlan | None:
    st.caption(
        "Each model alone, one after another, at each level: that many requests in flight at once, back to back, "
        "round-robin over the images. How latency, time to first token and throughput hold up as the load grows. "
        "Every request is stored with the sweep's id."
    )
    with st.container(border=True):
        use_samples, uploads = image_inputs("benchmark.sweep", "More images")
        chosen = st.pills(
            "Models",
            workbench.catalogue.ids,
            format_func=target_title,
            selection_mode="multi",
            default=workbench.enabled,
            key="benchmark.sweep.targets",
            help="Each model is swept alone, one after another, so that a level measures that model only.",
        )
        c1, c2, c3 = st.columns(3)
        levels = c1.text_input(
            "Concurrency levels", ", ".join(map(str, sweep.DEFAULT_LEVELS)), key="benchmark.sweep.levels",
            help="Requests in flight at once, increasing. A level above a model's slots runs at its slots.",
        )  # fmt: skip
        requests = c2.number_input("Requests per level", 1, sweep.MAX_REQUESTS, 16, key="benchmark.sweep.requests")
        share = c3.number_input(
            "Stop past this share of errors (%)", 0, 100, round(sweep.DEFAULT_MAX_ERROR_SHARE * 100), key="benchmark.sweep.errors",
            help="Once more than this share of a level's requests fail, that model's higher levels are not run.",
        )  # fmt: skip
    images = chosen_images(use_samples, uploads)
    if images is None:
        return None
    if not images or not chosen:
        st.info("Choose images and at least one model to sweep.", icon=":material/info:")
        return None
    try:
        return sweep.SweepPlan(tuple(images), tuple(chosen), sweep.parse_levels(levels), int(requests), None, share / 100)
    except MCVError as exc:
        st.error(plain(exc.user_text()), icon=":material/error:")
        return None


def sweep_estimate(plan: sweep.SweepPlan) -> None:
    slots = sweep.slots_of(workbench, plan.targets)
    estimates = sweep.estimate(plan, settings, slots, history=recent_history(), catalogue=workbench.catalogue)
    typical = sum(e.cost_usd_typical or 0 for e in estimates)
    most = sum(e.cost_usd_max or 0 for e in estimates)
    st.markdown(
        f"{fmt.count(sum(e.requests or 0 for e in estimates), 'request')} at most, {plan.per_level} per level · "
        f"typical cost **{fmt.money(typical)}**, at most **{fmt.money(most)}** at today's prices"
    )
    for target in plan.targets:
        cap = sweep.cap_of(plan, target, target_title(target), slots[target])
        if cap is not None:
            st.caption(plain(cap.text))


@st.fragment(run_every=1.0)
def sweep_job_panel() -> None:
    """Progress and a cancel button while a sweep runs; its levels and chart once it is done."""
    job: sweep.SweepJob | None = st.session_state.get(SWEEP_JOB)
    if job is None:
        return
    if not job.done:
        p = job.progress
        if p is None:
            st.progress(0.0, text=f"{job.sweep_id}: the first requests are running")
        else:
            of = f" of {p.total}" if p.total else ""
            state = (
                "cancelling: running requests finish"
                if p.cancelling
                else f"{target_title(p.target)} at {p.concurrency} at once (level {p.step + 1} of {p.steps}), {p.done}{of} requests"
            )
            st.progress(p.fraction, text=f"{job.sweep_id}: {plain(state)}")
            st.caption(f"This level so far: {fmt.count(p.ok, 'answer')}, {fmt.count(p.errors, 'error')}")
        if st.button("Cancel sweep", icon=":material/stop_circle:", key="benchmark.sweep.cancel", disabled=job.cancelled):
            job.cancel()
        return
    if st.session_state.get(f"{SWEEP_JOB}.listed") != job.sweep_id:  # a finished sweep joins the past ones
        recent_sweep_items.clear()
        st.session_state[f"{SWEEP_JOB}.listed"] = job.sweep_id
    if job.error is not None:
        show_job_error(job.error, "sweep")
        return
    outcome = job.outcome
    assert outcome is not None
    ran = f"{fmt.count(len(outcome.runs), 'request')} at {fmt.count(len(outcome.levels), 'level')} in {outcome.wall_s:,.1f} s"
    if outcome.cancelled:
        st.warning(f"{outcome.sweep_id} cancelled: {ran}. Their results are stored.", icon=":material/stop_circle:")
    else:
        st.success(f"{outcome.sweep_id} finished: {ran}", icon=":material/check_circle:")
    for target in outcome.plan.targets:
        notes = [n.text for n in (outcome.capped.get(target), outcome.stopped.get(target)) if n is not None]
        for note in notes:
            st.caption(f"{plain(target_title(target))}: {plain(note)}")
    for failure in outcome.failures:
        st.error(plain(failure), icon=":material/error:")
    show_levels(
        [level.to_json() for level in outcome.levels],
        key="benchmark.sweep.levels_table",
        caption="Per model and level: requests, failures, latency and time to first token of the answered calls, and "
        "throughput over the level's wall time.",
    )


@st.cache_data(ttl=60, show_spinner=False)
def recent_sweep_items(until: datetime) -> list[dict]:
    """The stored requests of sweeps in the SWEEP_LOOKBACK before `until` (day partitions History keeps)."""
    items = get_workbench().history.load(until - SWEEP_LOOKBACK, until, fields=sweep.SWEEP_FIELDS)
    return [item for item in items if item.get("sweep_id")]


def _sweep_label(found: dict) -> str:
    started = found["started_at"]
    when = f"{started:%Y-%m-%d %H:%M} UTC · " if started else ""
    return (
        f"{when}{fmt.count(len(found['targets']), 'model')} · at {', '.join(map(str, found['levels']))} · "
        f"{fmt.count(found['requests'], 'request')} · {found['sweep_id']}"
    )


def past_sweeps() -> None:
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0) + timedelta(minutes=1)
    items = recent_sweep_items(now)
    found = {s["sweep_id"]: s for s in sweep.sweeps_in(items)}
    if not found:
        st.caption(f"No sweep in the last {SWEEP_LOOKBACK.days} days.")
        return
    chosen = st.selectbox(
        "A past sweep", list(found), index=None, key="benchmark.sweep.past", format_func=lambda s: _sweep_label(found[s]),
        placeholder="Choose one to see its levels", help=f"Sweeps of the last {SWEEP_LOOKBACK.days} days, newest first.",
    )  # fmt: skip
    if chosen is None:
        return
    levels = sweep.levels_from_results([item for item in items if item.get("sweep_id") == chosen])
    show_levels(
        levels,
        key="benchmark.sweep.past_table",
        caption="From history: each level's wall time runs from its first request's start to its last call's end "
        "(the upload before and the write after a call are not stored, so throughput reads a little higher than live).",
    )


plan = plan_form()
busy = running(JOB) or running(SWEEP_JOB)  # one at a time: a benchmark would disturb a sweep's levels, and back
if plan is not None:
    show_estimate(plan)
    clicked = st.button("Run benchmark", type="primary", icon=":material/play_arrow:", disabled=busy, key="benchmark.run")
    if clicked and not busy:  # the button may have been drawn enabled before the other job started
        st.session_state[JOB] = benchmark.BenchJob(workbench, plan).start()
        busy = True
job_panel()

with st.expander("Concurrency sweep: latency and throughput as the load grows", icon=":material/speed:"):
    sweep_plan = sweep_form()
    if sweep_plan is not None:
        sweep_estimate(sweep_plan)
        clicked = st.button("Run sweep", type="primary", icon=":material/play_arrow:", disabled=busy, key="benchmark.sweep.run")
        if clicked and not busy:
            st.session_state[SWEEP_JOB] = sweep.SweepJob(workbench, sweep_plan).start()
    sweep_job_panel()
    past_sweeps()
