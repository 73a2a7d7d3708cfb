"""Benchmark: run image sets through the targets, repeated, with a cost estimate first and a summary at the end;
online (calls from here) or as the services' own batch jobs (followed in the background, resumable after a restart)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pandas as pd
import streamlit as st

from mcv_core import batch, samples, services, sweep
from mcv_core import bench as benchmark
from mcv_core import formatting as fmt
from mcv_core.errors import MCVError
from pages._shared import (
    Column,
    download_report,
    get_workbench,
    mode_caption,
    plain,
    show_levels,
    show_table,
    target_title,
)

workbench = get_workbench()
settings = workbench.settings
JOB = "benchmark.job"
SWEEP_JOB = "benchmark.sweep.job"
SWEEP_LOOKBACK = timedelta(days=7)  # past sweeps to choose from
BATCH_RUNS = "benchmark.batch.runs"  # bench id -> batch.BatchRun followed by this session, in the order started
BATCH_ERROR = "benchmark.batch.error"  # why a Resume or Cancel of the in-flight list could not start
BATCH_DAYS = 8  # in-flight batch benchmarks offered: those started in these days (a Bedrock job may run 7)
BATCH_REPEAT = 10  # the sample set's ten photos ten times: the 100 records a Bedrock job needs at least
MODES = {"online": "Online", "batch": "Batch"}

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


def service_of(target: str) -> type[services.Service]:
    return services.get(workbench.catalogue.get(target).service)


def batch_targets() -> tuple[list[str], list[str]]:
    """The catalogue's targets whose service runs batch jobs here (its `batch_limits`), and the others."""
    ids = workbench.catalogue.ids
    able = [t for t in ids if service_of(t).batch_limits is not None]
    return able, [t for t in ids if t not in able]


def batch_limits_caption(chosen: list[str]) -> None:
    found = {service_of(t).service_title: service_of(t).batch_limits for t in chosen}
    limits = "; ".join(fmt.batch_limits_text(title, limit) for title, limit in found.items() if limit is not None)
    st.caption(
        "Every call is a record of its service's batch job, run on the service's own fleet at its batch price; "
        "results come within hours on a real cloud (minutes on the local cloud), and the jobs go on when this tab "
        f"is closed. {limits}."
    )


def plan_form() -> tuple[benchmark.BenchPlan | None, bool]:
    """The plan of the form, or None (with the reason on the page); and whether it runs as batch jobs."""
    with st.container(border=True):
        mode = st.segmented_control(
            "Runs", list(MODES), format_func=MODES.get, default="online", required=True, key="benchmark.mode",
            help="Online: the calls from here, a few at once, with their latency. Batch: the services' own batch "
            "jobs at half price, results within hours (minutes on the local cloud), no latency per call.",
        )  # fmt: skip
        batch_mode = mode == "batch"
        use_samples, uploads = image_inputs("benchmark", "More images (no labels: scored for latency and cost only)")
        if batch_mode:
            able, others = batch_targets()
            chosen = st.pills(
                "Models",
                able,
                format_func=target_title,
                selection_mode="multi",
                default=[t for t in workbench.enabled if t in able],
                key="benchmark.batch.targets",
                help="The catalogue's targets whose service runs batch jobs here.",
            )
            if others:
                st.caption(plain(fmt.batch_not_offered([target_title(t) for t in others])))
            repeat = st.columns(2)[0].number_input(
                "Repeat each image", 1, benchmark.MAX_REPEAT, BATCH_REPEAT, key="benchmark.batch.repeat",
                help="Each image this many times: records per model = images × repeats.",
            )  # fmt: skip
            concurrency = benchmark.DEFAULT_CONCURRENCY  # the services' fleets decide
            batch_limits_caption(list(chosen or able))
        else:
            chosen = st.pills(
                "Models",
                workbench.catalogue.ids,
                format_func=target_title,
                selection_mode="multi",
                default=workbench.enabled,
                key="benchmark.targets",
                help=f"The targets of the catalogue ({workbench.catalogue.source_text}): each one a model on a "
                "service.",
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
        return None, batch_mode
    if not images or not chosen:
        st.info("Choose images and at least one model.", icon=":material/info:")
        return None, batch_mode
    try:
        plan = benchmark.BenchPlan(tuple(images), tuple(chosen), int(repeat), int(concurrency), prompt)
        if batch_mode:
            batch.check(workbench, plan)  # below a service's minimum: refused here, before anything is written
    except MCVError as exc:
        st.error(plain(exc.user_text()), icon=":material/error:")
        return None, batch_mode
    return plan, batch_mode


# The estimate table's money columns when the plan runs as batch jobs: online and batch side by side.
BATCH_ESTIMATE_COLUMNS = {
    "calls": Column("count", "Records each model's batch jobs will hold: one per image and repeat", "Records"),
    "cost_usd_typical": Column(
        "money", "Online, with the output tokens this model typically writes", "Online, typical"
    ),
    "batch_cost_usd_typical": Column("money", "The same as batch jobs, at the service's batch price", "Batch, typical"),
    "cost_usd_max": Column("money", "Online, every call writing the most output tokens allowed", "Online, at most"),
    "batch_cost_usd_max": Column("money", "The same as batch jobs, at the service's batch price", "Batch, at most"),
}


def show_estimate(plan: benchmark.BenchPlan, batch_mode: bool = False) -> None:
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
                **(
                    {"batch_cost_usd_typical": e.batch_cost_usd_typical, "batch_cost_usd_max": e.batch_cost_usd_max}
                    if batch_mode
                    else {}
                ),
                "basis": e.basis,
            }
            for e in estimates
        ]
    )
    typical = sum(e.cost_usd_typical or 0 for e in estimates)
    most = sum(e.cost_usd_max or 0 for e in estimates)
    st.subheader("Before you run it")
    if batch_mode:
        batch_typical = sum(e.batch_cost_usd_typical or 0 for e in estimates)
        batch_most = sum(e.batch_cost_usd_max or 0 for e in estimates)
        st.markdown(
            f"{fmt.count(plan.comparisons, 'record')} per model, {fmt.count(plan.calls, 'record')} in all · "
            f"typical cost **{fmt.money(batch_typical)}** as batch jobs, {fmt.money(typical)} online · "
            f"at most **{fmt.money(batch_most)}** as batch jobs, {fmt.money(most)} online, at today's prices"
        )
        unpriced = [target_title(e.provider) for e in estimates if e.batch_cost_usd_typical is None]
        if unpriced:
            st.caption(
                f"No batch price is known beforehand for {plain(', '.join(unpriced))}: the batch figures leave "
                f"{'it' if len(unpriced) == 1 else 'them'} out."
            )
        show_table(
            rows,
            key="benchmark.batch.estimate",
            main=list(BATCH_ESTIMATE_COLUMNS),
            title_of=target_title,
            caption="What each model's share will cost online and as batch jobs. Add “Assumed” to see what each "
            "estimate rests on.",
            columns=BATCH_ESTIMATE_COLUMNS,
        )
        return
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


# --- batch benchmarks: the services' batch jobs, followed in the background ---------------------------------------

# The summary of a batch benchmark adds its mode and each model's time to all results; its jobs get a table too.
BATCH_SUMMARY_COLUMNS = {
    "mode": Column("text", "Online: calls from here; batch: the services' batch jobs, at their batch price", "Mode"),
    "time_to_all_results": Column(
        "figure",
        "From this model's first job's creation to its last job's end: a batch benchmark's latency",
        "Time to all results",
    ),
    "n": Column("count", "Records of this model in the benchmark, answered or failed", "Records"),
    "errors": Column("count", "Records that ended in an error: failed in their job, or their job failed", "Failed"),
    "mean_cost_usd": Column("money", "Mean cost of one successful record, at the batch price", "Cost per image"),
}
BATCH_JOB_COLUMNS = {
    "job_id": Column("long", "The job's id at its service", "Job"),
    "status": Column("text", "The job's last status, as its service words it", "Status"),
    "records": Column("count", "Records the job was given", "Records"),
    "completed": Column("count", "Records the job answered", "Answered"),
    "failed": Column("count", "Records that failed inside the job, each stored as an error with its reason", "Failed"),
    "message": Column("text", "What the service said of the job", "Message"),
}


def batch_runs() -> dict[str, batch.BatchRun]:
    return st.session_state.setdefault(BATCH_RUNS, {})


def follow_batch(run: batch.BatchRun) -> None:
    """Follow `run` here from now on; finished runs leave the panel, so that it shows what is going on."""
    runs = batch_runs()
    for bench_id in [b for b, r in runs.items() if r.done]:
        del runs[bench_id]
        st.session_state.pop(f"{BATCH_RUNS}.final.{bench_id}", None)
    runs[run.bench_id] = run.start()
    batches_in_flight.clear()


def pick_up(bench_id: str, cancel: bool) -> None:
    """Resume or Cancel of the in-flight list (a button callback): the recorded benchmark followed here, its jobs
    cancelled first when asked; what they finished is collected and stored either way."""
    try:
        recorded = batch.load(workbench, bench_id)
    except MCVError as exc:
        st.session_state[BATCH_ERROR] = exc.user_text()
        return
    run = batch.BatchRun(workbench, bench=recorded)
    if cancel:
        run.cancel()  # follow() cancels the jobs first, then collects what they finished
    follow_batch(run)


def final_bench(bench_id: str) -> batch.BatchBench:
    """A finished batch benchmark as recorded (its jobs' statuses and times), read once."""
    key = f"{BATCH_RUNS}.final.{bench_id}"
    if key not in st.session_state:
        st.session_state[key] = batch.load(workbench, bench_id)
    return st.session_state[key]


def batch_summary(outcome: benchmark.BenchOutcome, bench: batch.BatchBench) -> None:
    rows = pd.DataFrame(benchmark.summary(outcome))
    if rows.empty:
        return
    took = {
        target: batch.time_to_all_results_s(replace(bench, jobs=[job for job in bench.jobs if job.target == target]))
        for target in bench.targets
    }
    rows.insert(1, "mode", "batch")
    rows["time_to_all_results"] = [fmt.duration_long_s(took.get(str(p))) for p in rows["provider"]]
    show_table(
        rows,
        key=f"benchmark.batch.summary.{bench.bench_id}",
        main=["mode", "n", "errors", "time_to_all_results", "mean_cost_usd", "accuracy"],
        title_of=target_title,
        caption="Per model: records, failures, time to all results, cost at the batch price and accuracy on the "
        "labelled images. A batch record has no latency of its own.",
        columns=BATCH_SUMMARY_COLUMNS,
    )


def batch_jobs_table(bench: batch.BatchBench) -> None:
    rows = pd.DataFrame(
        [
            {
                "provider": job.target,
                "job_id": job.job_id,
                "status": fmt.batch_status(job.status),
                "records": job.count,
                "completed": job.completed,
                "failed": job.failed,
                "message": job.message or fmt.DASH,
            }
            for job in bench.jobs
        ]
    )
    if rows.empty:
        return
    if (rows["message"] == fmt.DASH).all():
        rows = rows.drop(columns=["message"])  # nothing said: no column to add
    show_table(
        rows,
        key=f"benchmark.batch.jobs.{bench.bench_id}",
        main=["status", "records", "completed", "failed", "job_id", "message"],
        title_of=target_title,
        caption="Its jobs, as their services last reported them.",
        columns=BATCH_JOB_COLUMNS,
    )


def batch_run_view(run: batch.BatchRun) -> None:
    """One batch benchmark of this session: progress and Cancel while it runs; its summary once it is over."""
    p = run.progress
    if not run.done:
        if p.cancelling:
            state = "cancelling: the jobs are stopped, what they finished is collected and stored"
        elif not p.jobs:
            state = "storing the images, writing the records and creating the jobs"
        else:
            failed = f" ({fmt.count(p.failed)} failed)" if p.failed else ""
            eta = f", about {fmt.duration_long_s(p.eta_s)} left" if p.eta_s is not None else ""
            state = f"{fmt.count(p.done)} of {fmt.count(p.total, 'record')} finished{failed}{eta}"
        st.progress(min(p.done / max(p.total, 1), 1.0), text=f"{run.bench_id}: {state}")
        if p.jobs:
            jobs = fmt.batch_jobs_line(p.jobs, target_title)
            st.caption(f"{plain(jobs)} · followed for {fmt.duration_long_s(p.elapsed_s)}")
        st.button(
            "Cancel", icon=":material/stop_circle:", key=f"benchmark.batch.cancel.{run.bench_id}", on_click=run.cancel,
            disabled=p.cancelling, help="Stop the jobs at their services; what they finished is stored.",
        )  # fmt: skip
        return
    if run.error is not None:
        show_job_error(run.error, "batch benchmark")
        return
    outcome = run.outcome
    assert outcome is not None
    try:
        bench = final_bench(run.bench_id)
    except MCVError as exc:
        st.error(plain(exc.user_text()), icon=":material/error:")
        return
    took = fmt.duration_long_s(batch.time_to_all_results_s(bench), unknown="not known")
    ran = (
        f"{fmt.count(len(outcome.runs))} of {fmt.count(outcome.planned, 'record')} per model as batch jobs, "
        f"all results in {took}"
    )
    if outcome.cancelled:
        st.warning(
            f"{outcome.bench_id} cancelled: {ran}. What its jobs finished is stored.", icon=":material/stop_circle:"
        )
    else:
        st.success(f"{outcome.bench_id} finished: {ran}", icon=":material/check_circle:")
    for job in bench.jobs:
        if job.phase == "failed":
            why = job.message or "its service gave no reason"
            text = f"{target_title(job.target)}: job {job.job_id} {fmt.batch_status(job.status)}: {why}"
            st.error(plain(text), icon=":material/error:")
    batch_summary(outcome, bench)
    batch_jobs_table(bench)
    st.page_link(
        "pages/history.py",
        label="Open in History",
        icon=":material/monitoring:",
        query_params={"bench": outcome.bench_id},
    )


@st.fragment(run_every=1.0)
def batch_panel() -> None:
    """Every batch benchmark this session follows, newest first."""
    for run in reversed(list(batch_runs().values())):
        with st.container(border=True):
            batch_run_view(run)


@st.cache_data(ttl=30, show_spinner=False)
def batches_in_flight() -> list[dict]:
    return batch.in_flight(get_workbench(), BATCH_DAYS)


def _job_rows(state: dict) -> list[tuple[str, str, int, int]]:
    """(target, status, finished records, records) of a recorded benchmark's jobs, as batch.BatchProgress has them."""
    rows = []
    for job in state.get("jobs", []):
        reported = (job.get("completed") or 0) + (job.get("failed") or 0)
        finished = job["count"] if job.get("collected") else min(job["count"], reported)
        rows.append((job["target"], job["status"], finished, job["count"]))
    return rows


def in_flight_list() -> None:
    """Batch benchmarks of the last days whose jobs are not all collected, from this app or the command line."""
    left, right = st.columns([4, 1], vertical_alignment="bottom")
    left.subheader("Batch benchmarks in flight")
    with right.container(horizontal=True, horizontal_alignment="right"):
        if st.button("Refresh", icon=":material/refresh:", key="benchmark.batch.refresh", help="Read them again now"):
            batches_in_flight.clear()
    error = st.session_state.pop(BATCH_ERROR, None)
    if error:
        st.error(plain(error), icon=":material/error:")
    try:
        states = batches_in_flight()
    except MCVError as exc:
        st.error(plain(exc.user_text()), icon=":material/error:")
        return
    followed = set(batch_runs())
    states = [s for s in reversed(states) if s["bench_id"] not in followed]  # newest first
    if not states:
        st.caption(f"Nothing in flight: every batch benchmark of the last {BATCH_DAYS} days is collected.")
        return
    st.caption(
        "Their jobs go on at the services when a tab or a terminal is closed. Resume follows one here and stores "
        "its results as they come; Cancel stops its jobs and stores what they finished."
    )
    now = datetime.now(timezone.utc)
    for state in states:
        bench_id = state["bench_id"]
        created = datetime.fromisoformat(state["created_at"])
        titles = ", ".join(target_title(t) for t in state["targets"])
        records = f"{fmt.count(state['records'], 'record')} per model"
        asked = " · cancel asked" if state.get("cancelled") else ""
        with st.container(border=True, key=f"benchmark.batch.flight.{bench_id}"):
            left, right = st.columns([5, 2], vertical_alignment="center")
            left.markdown(
                f"**{created:%Y-%m-%d %H:%M} UTC** ({fmt.duration_long_s((now - created).total_seconds())} ago) · "
                f"{plain(titles)} · {records}{asked}"
            )
            jobs = fmt.batch_jobs_line(_job_rows(state), target_title)
            left.caption(f"As last recorded: {plain(jobs)} · {bench_id}")
            with right.container(horizontal=True, horizontal_alignment="right"):
                st.button(
                    "Resume", icon=":material/play_arrow:", key=f"benchmark.batch.resume.{bench_id}", on_click=pick_up,
                    args=(bench_id, False), help="Follow its jobs here and store their results as they end",
                )  # fmt: skip
                st.button(
                    "Cancel", icon=":material/stop_circle:", key=f"benchmark.batch.stop.{bench_id}", on_click=pick_up,
                    args=(bench_id, True), help="Stop its jobs; what they finished is stored",
                )  # fmt: skip


def in_flight_note() -> None:
    """In online mode: a line when batch benchmarks wait to be collected, so that they are not forgotten."""
    try:
        waiting = [s for s in batches_in_flight() if s["bench_id"] not in batch_runs()]
    except MCVError:
        return  # the batch view says why, when it is chosen
    if waiting:
        st.caption(f"{fmt.count(len(waiting), 'batch benchmark')} in flight: choose Batch above to follow or cancel.")


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


plan, batch_mode = plan_form()
busy = running(JOB) or running(SWEEP_JOB)  # one at a time: a benchmark would disturb a sweep's levels, and back
if plan is not None:
    show_estimate(plan, batch_mode)
    if batch_mode:  # the services' fleets run it: it waits for no online run here, and blocks none
        if st.button("Run as batch jobs", type="primary", icon=":material/cloud_upload:", key="benchmark.batch.run"):
            follow_batch(batch.BatchRun(workbench, plan))
    else:
        clicked = st.button(
            "Run benchmark", type="primary", icon=":material/play_arrow:", disabled=busy, key="benchmark.run"
        )
        if clicked and not busy:  # the button may have been drawn enabled before the other job started
            st.session_state[JOB] = benchmark.BenchJob(workbench, plan).start()
            busy = True
job_panel()
batch_panel()
if batch_mode:
    in_flight_list()
else:
    in_flight_note()

with st.expander("Concurrency sweep: latency and throughput as the load grows", icon=":material/speed:"):
    sweep_plan = sweep_form()
    if sweep_plan is not None:
        sweep_estimate(sweep_plan)
        clicked = st.button("Run sweep", type="primary", icon=":material/play_arrow:", disabled=busy, key="benchmark.sweep.run")
        if clicked and not busy:
            st.session_state[SWEEP_JOB] = sweep.SweepJob(workbench, sweep_plan).start()
    sweep_job_panel()
    past_sweeps()
