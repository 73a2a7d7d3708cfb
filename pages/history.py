"""History: latency, cold starts, tokens, cost, errors, accuracy and outputs, from the results in DynamoDB."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from io import BytesIO
from typing import Callable

import pandas as pd
import streamlit as st

from mcv_core import analytics, charts, history, modes, report, sweep
from mcv_core import formatting as fmt
from mcv_core.errors import MCVError
from pages._shared import Column, get_workbench, plain, show_levels, show_table

workbench = get_workbench()

RANGES = {"1 hour": timedelta(hours=1), "24 hours": timedelta(days=1), "7 days": timedelta(days=7), "30 days": timedelta(days=30)}
TABS = [
    "Latency", "Streaming", "Cold starts", "Cost & tokens", "Errors", "Accuracy", "Online vs batch", "Outputs", "Export",
]  # fmt: skip
FRAME_TTL_S = 60  # a loaded time range is read again after this
GRID_LIMIT = 24  # runs shown side by side at once
GRID_CHOICE = "history.grid_choice"  # the grid's runs, kept while the Outputs tab is closed
MODE_CHOICES = {"Both": None, "Online": ("online",), "Batch": ("batch",)}
MODE_COLUMNS = {name: Column(kind, help_text, title) for name, (kind, title, help_text) in modes.COLUMNS.items()}
BATCH_LOOKBACK = timedelta(days=8)  # a batch benchmark's jobs may run 7 days before its results arrive


class FrameCache:
    """Frames by time range, shared by every session (never modified: filters make new frames)."""

    def __init__(self, keep: int = 8) -> None:
        self.keep = keep
        self.lock = threading.Lock()
        self.frames: dict[tuple[datetime, datetime], tuple[float, pd.DataFrame]] = {}

    def get(self, key: tuple[datetime, datetime]) -> pd.DataFrame | None:
        with self.lock:
            hit = self.frames.get(key)
        return hit[1] if hit is not None and time.monotonic() - hit[0] < FRAME_TTL_S else None

    def put(self, key: tuple[datetime, datetime], frame: pd.DataFrame) -> None:
        with self.lock:
            self.frames[key] = (time.monotonic(), frame)
            for old in sorted(self.frames, key=lambda k: self.frames[k][0])[: -self.keep]:
                del self.frames[old]

    def clear(self) -> None:
        with self.lock:
            self.frames.clear()


@st.cache_resource
def frame_cache() -> FrameCache:
    return FrameCache()


def load_frame(since: datetime, until: datetime, on_progress: Callable[[int, int, int], None]) -> pd.DataFrame:
    """Result items of [since, until] as a frame, kept for FRAME_TTL_S; a refresh drops it. Not st.cache_data:
    the load reports its progress on the page, which a cached function may not do."""
    frame = frame_cache().get((since, until))
    if frame is None:
        frame = analytics.to_frame(workbench.history.load(since, until, on_progress=on_progress), workbench.catalogue.ids)
        frame_cache().put((since, until), frame)
    return frame


@st.cache_data(ttl=600, show_spinner=False, max_entries=256)
def thumbnail(image_key: str) -> bytes | None:
    from PIL import Image

    try:
        data = get_workbench().store.read(image_key)
    except MCVError:
        return None  # expired by the bucket's lifecycle: the grid says so
    image = Image.open(BytesIO(data))
    image.thumbnail((320, 320))
    out = BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=85)
    return out.getvalue()


def time_range() -> tuple[datetime, datetime]:
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    choice = left.segmented_control(
        "Time range", [*RANGES, "Custom"], default="24 hours", key="history.range", required=True
    )
    if right.button("Refresh", icon=":material/refresh:", key="history.refresh", help="Read the newest results now"):
        frame_cache().clear()
    # Rounded to the minute so that the cached frame serves every rerun within it.
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0) + timedelta(minutes=1)
    if choice == "Custom":
        today = now.date()
        picked = st.date_input("Dates (UTC)", (today - timedelta(days=7), today), max_value=today, key="history.dates")
        start, end = (picked if isinstance(picked, tuple) and len(picked) == 2 else (picked, picked))  # type: ignore[misc]
        since = datetime.combine(start, datetime.min.time(), tzinfo=timezone.utc)
        return since, datetime.combine(end, datetime.min.time(), tzinfo=timezone.utc) + timedelta(days=1)
    return now - RANGES[choice], now


def filters(df: pd.DataFrame, legend: charts.Legend) -> analytics.Filters:
    def options(column: str) -> list[str]:
        return sorted(str(v) for v in df[column].dropna().unique()) if column in df else []

    bench_default = st.query_params.get("bench")
    if bench_default and bench_default not in options("bench_id"):
        # A link to one benchmark must not quietly show everything else.
        st.warning(
            f"Benchmark {bench_default} has no results in this time range: widen the range, or clear the link.",
            icon=":material/filter_alt_off:",
        )
        st.stop()
    with st.expander("Filters", icon=":material/filter_alt:", expanded=bool(bench_default)):
        c1, c2, c3 = st.columns(3)
        chosen = c1.multiselect(
            "Models", [p for p in legend.ids if p in options("provider")], format_func=legend.title, key="history.targets"
        )
        models = c2.multiselect("Model ids", options("model"), key="history.models")
        statuses = c3.multiselect("Status", options("status"), key="history.status")
        c4, c5, c6 = st.columns(3)
        temperatures = c4.multiselect("Cold or warm", options("temperature"), key="history.temperature")
        bench_ids = options("bench_id")
        bench_pick = c5.multiselect(
            "Benchmark", bench_ids, default=[b for b in [bench_default] if b in bench_ids], key="history.bench"
        )
        sources = c6.multiselect("Source", options("source"), key="history.source")
        mode = st.segmented_control(
            "Mode", list(MODE_CHOICES), default="Both", key="history.mode", required=True,
            help="Online: results of calls (Compare, benchmarks). Batch: results of batch jobs (bench --mode batch), "
            "at the batch price and without a latency of their own.",
        )  # fmt: skip
    return analytics.Filters(
        providers=tuple(chosen),
        models=tuple(models),
        statuses=tuple(statuses),
        temperatures=tuple(temperatures),
        bench_ids=tuple(bench_pick),
        sources=tuple(sources),
        modes=MODE_CHOICES[mode or "Both"],
    )


def headline(df: pd.DataFrame) -> None:
    ok = int((df["status"] == "ok").sum())
    cols = st.columns(4)
    cols[0].metric("Results", fmt.count(len(df)), help="One result is one model's answer on one image")
    cols[1].metric("Comparisons", fmt.count(df["run_id"].nunique()), help="One comparison is one image sent to the models chosen")
    cols[2].metric("Errors", fmt.count(len(df) - ok), help="Calls that ended in an error, after their retries")
    cols[3].metric("Cost", fmt.money(float(df["cost_usd"].sum())), help="Sum of every result's cost, USD")


def table(frame: pd.DataFrame, legend: charts.Legend, *, key: str, main: list[str], caption: str) -> None:
    """An aggregate as a table, its targets by title (the id stays in history and on the command line)."""
    show_table(frame, key=key, main=main, title_of=legend.title, caption=caption)


def run_labels(df: pd.DataFrame) -> dict[str, str]:
    """The comparisons in the selection, newest first, with a label for each."""
    runs = df.sort_values("created_at", ascending=False).drop_duplicates("run_id")
    return {r.run_id: f"{r.created_at:%Y-%m-%d %H:%M:%S} · {r.image_name}" for r in runs.itertuples()}


def chosen_runs(df: pd.DataFrame) -> list[str]:
    """The comparisons picked for the grid (kept across tabs), else the newest few."""
    labels = run_labels(df)
    kept = [run for run in st.session_state.get(GRID_CHOICE, []) if run in labels]
    return kept or list(labels)[:6]


def grid_rows(df: pd.DataFrame, run_ids: list[str]) -> list[dict]:
    """Images x targets for these comparisons: full results by key (BatchGetItem) and a thumbnail each."""
    picked = df[df["run_id"].isin(run_ids)]
    items = workbench.history.get_results(list(zip(picked["run_id"], picked["provider"].astype(str))))
    by_run: dict[str, dict[str, dict]] = {}
    for item in items:
        by_run.setdefault(item["run_id"], {})[item["provider"]] = item
    rows = []
    for run_id in run_ids:
        results = by_run.get(run_id, {})
        first = next(iter(results.values()), {})
        rows.append(
            {
                "run_id": run_id,
                "image_name": first.get("image_name", run_id),
                "thumbnail_jpeg": thumbnail(first["image_key"]) if first.get("image_key") else None,
                "results": results,
            }
        )
    return rows


def sweeps_section(df: pd.DataFrame) -> None:
    """A concurrency sweep of this selection: latency, TTFT and throughput per level (the Benchmark page runs them)."""
    found = {s["sweep_id"]: s for s in sweep.sweeps_in(sweep.frame_items(df))}
    st.subheader("Concurrency sweeps")
    if not found:
        st.caption("No concurrency sweep in this selection: the Benchmark page and `python -m mcv_core sweep` run them.")
        return
    chosen = st.selectbox(
        "Sweep",
        list(found),
        key="history.sweep",
        format_func=lambda s: (
            f"{found[s]['started_at']:%Y-%m-%d %H:%M} UTC · " if found[s]["started_at"] else ""
        ) + f"{fmt.count(len(found[s]['targets']), 'model')} at {', '.join(map(str, found[s]['levels']))} · {s}",
        help="Sweeps with results in this selection, newest first.",
    )
    show_levels(
        sweep.levels_from_results(sweep.frame_items(df, chosen)),
        key="history.table.sweep",
        caption="Each model alone at each level of requests in flight. A level's wall time runs from its first "
        "request's start to its last call's end, as stored; results outside the filters are left out.",
    )


@st.cache_data(ttl=FRAME_TTL_S, show_spinner="Reading the answers…", max_entries=16)
def full_results(keys: tuple[tuple[str, str], ...]) -> list[dict]:
    """Whole result items (answers, image hash, prompt) by (run_id, target): what pairing answers needs."""
    return get_workbench().history.get_results(list(keys), fields=history.RESULT_FIELDS)


@st.cache_data(ttl=FRAME_TTL_S, show_spinner=False, max_entries=16)
def batch_states(days: int) -> list[dict]:
    return get_workbench().history.batches(days)


def modes_section(df: pd.DataFrame, legend: charts.Legend, selection: analytics.Filters) -> None:
    """Each model online and in batch on the same images: cost per 1,000 images, time to all results, agreement."""
    present = {str(m) for m in df["mode"].dropna().unique()}
    if selection.modes and len(present) == 1:
        st.info(
            f"The Mode filter shows {next(iter(present))} results only: choose Both under Filters to put the two "
            "modes side by side.",
            icon=":material/filter_alt:",
        )
        return
    both = sorted(
        set(df.loc[(df["mode"] == "online").to_numpy(dtype=bool), "provider"].astype(str))
        & set(df.loc[(df["mode"] == "batch").to_numpy(dtype=bool), "provider"].astype(str))
    )
    if not both:
        st.info(modes.lacking_note(next(iter(present)) if len(present) == 1 else None), icon=":material/info:")
        return
    picked = df.loc[df["provider"].astype(str).isin(both).to_numpy(), ["run_id", "provider"]]
    keys = tuple(sorted(zip(picked["run_id"].astype(str), picked["provider"].astype(str))))
    days = (datetime.now(timezone.utc) - df["created_at"].min().to_pydatetime()).days + BATCH_LOOKBACK.days
    comparisons = modes.compare(full_results(keys), batch_states(days), order=legend.ids)
    show_table(
        modes.table(comparisons), key="history.table.modes", main=modes.MAIN_COLUMNS, title_of=legend.title,
        columns=MODE_COLUMNS,
        caption="Each model online and as a batch job on the same images: what 1,000 images cost, how long a "
        "benchmark took to have all its results, and how often the two give the same top answer (n: images "
        "compared). Accuracy of each mode and McNemar's test are among the other columns.",
    )  # fmt: skip


def outputs_grid(df: pd.DataFrame, legend: charts.Legend) -> None:
    labels = run_labels(df)

    def keep_choice() -> None:
        st.session_state[GRID_CHOICE] = st.session_state["history.grid_runs"]

    chosen = st.multiselect(
        f"Comparisons (at most {GRID_LIMIT})",
        list(labels),
        default=chosen_runs(df),
        format_func=labels.get,
        max_selections=GRID_LIMIT,
        key="history.grid_runs",
        on_change=keep_choice,
    )
    if not chosen:
        st.info("Pick comparisons to see their answers side by side.")
        return
    rows = grid_rows(df, chosen)
    results = [(p, item) for row in rows for p, item in row["results"].items()]
    stored = {p: str(item["title"]) for p, item in results if item.get("title")}
    legend = legend.covering(sorted({p for p, _ in results}), stored)
    columns = [p for p in legend.ids if any(p == q for q, _ in results)]
    for row in rows:
        with st.container(border=True):
            cols = st.columns([1] + [2] * len(columns))
            with cols[0]:
                if row["thumbnail_jpeg"]:
                    st.image(row["thumbnail_jpeg"], width="stretch")
                else:
                    st.caption("image no longer stored (30-day lifecycle)")
                st.caption(plain(f"{row['image_name']} · run {row['run_id']}"))
            for col, provider in zip(cols[1:], columns):
                with col:
                    st.markdown(f"**{plain(legend.title(provider))}**")
                    result = row["results"].get(provider)
                    if result is None:
                        st.caption("not asked")
                        continue
                    if result.get("status") == "ok":
                        st.text(result.get("output", ""))  # model output: plain text, never markdown
                    else:
                        st.error(plain(result.get("error") or "The call failed."), icon=":material/error:")
                    cold = {True: " · cold start", False: " · warm"}.get(result.get("cold_start"), "")
                    how = " · batch job" if modes.mode_of(result) == modes.BATCH else ""
                    figures = f"{fmt.duration_ms(result.get('latency_ms'))} · {fmt.money(result.get('cost_usd'))}"
                    st.caption(f"{figures}{cold}{how}")


st.title("History")
st.caption("Every stored result, charted: which model is fastest and steadiest, what cold starts and images cost, where answers differ.")

since, until = time_range()
progress = st.empty()
try:
    frame = load_frame(
        since,
        until,
        lambda done, days, n: progress.progress(done / days, text=f"Reading day {done} of {days} · {n:,} results"),
    )
except MCVError as exc:
    st.error(plain(exc.user_text()), icon=":material/cloud_off:")
    st.stop()
progress.empty()

if frame.empty:
    st.info("No results in this time range yet. Compare some images, or run a benchmark.", icon=":material/info:")
    st.page_link("pages/compare.py", label="Go to Compare", icon=":material/compare:")
    st.stop()

# Titles and colours from the catalogue, and for targets no longer in it from their stored titles: made from the
# whole loaded frame, so that a target keeps its colour whatever the filters select.
legend = charts.legend_for(frame, workbench.catalogue)
selection = filters(frame, legend)
df = analytics.apply_filters(frame, selection)
if df.empty:
    st.warning("No results match these filters.", icon=":material/filter_alt_off:")
    st.stop()
headline(df)

tabs = st.tabs(TABS, key="history.tab", on_change="rerun")
latency_tab, streaming_tab, cold_tab, cost_tab, errors_tab, accuracy_tab, modes_tab, outputs_tab, export_tab = tabs

if latency_tab.open:
    with latency_tab:
        st.plotly_chart(charts.latency_distribution(df, legend), key="history.chart.latency")
        table(
            analytics.latency_percentiles(df),
            legend,
            key="history.table.latency",
            main=["temperature", "n", "p50", "p95", "p99"],
            caption="How fast each model answers: latency percentiles of successful calls, warm and cold apart. "
            "The median's 95% interval and the mean are among the other columns.",
        )
        st.plotly_chart(charts.anatomy_per_target(df, legend), key="history.chart.anatomy")
        st.plotly_chart(charts.latency_over_time(analytics.latency_over_time(df), legend), key="history.chart.time")
        st.plotly_chart(charts.latency_vs_size(analytics.latency_vs_size(df), legend), key="history.chart.size")

if streaming_tab.open:
    with streaming_tab:
        st.caption(
            "Streamed answers: how long until the first words arrive, and how fast the rest follows. Calls made "
            "without streaming (a target with `stream = false`, MCV_STREAM=0, the image classifier) have neither."
        )
        st.plotly_chart(charts.ttft_distribution(df, legend), key="history.chart.ttft")
        st.plotly_chart(charts.output_rate(df, legend), key="history.chart.output_rate")
        sweeps_section(df)

if cold_tab.open:
    with cold_tab:
        penalty = analytics.cold_start_penalty(df)
        if penalty.empty:
            st.info("No model in this selection reports cold starts (only the SageMaker classifier does).")
        else:
            st.plotly_chart(charts.cold_start_penalty(penalty, legend), key="history.chart.penalty")
            table(
                penalty,
                legend,
                key="history.table.penalty",
                main=["p50_cold", "p50_warm", "penalty_ms", "penalty_ratio"],
                caption="What a cold start costs: median cold minus median warm latency.",
            )
            st.plotly_chart(charts.cold_start_rate(analytics.cold_start_rate(df), legend), key="history.chart.cold")

if cost_tab.open:
    with cost_tab:
        cost = analytics.cost_per_image(df)
        st.plotly_chart(charts.cost_per_image(cost, legend), key="history.chart.cost")
        table(
            cost,
            legend,
            key="history.table.cost",
            main=["n", "mean_usd", "per_1000_images_usd", "total_usd"],
            caption="What one image costs per model, and 1,000 images at that rate (USD, successful calls).",
        )
        tokens = analytics.tokens_per_provider(df)
        st.plotly_chart(charts.tokens_per_provider(tokens, legend), key="history.chart.tokens")

if errors_tab.open:
    with errors_tab:
        st.plotly_chart(charts.error_rates(analytics.error_rates(df), legend), key="history.chart.errors")
        table(
            analytics.errors_by_type(df),
            legend,
            key="history.table.errors",
            main=["error_type", "errors", "rate"],
            caption="Errors by kind, per model, after each call's retries.",
        )

if accuracy_tab.open:
    with accuracy_tab:
        scored = analytics.accuracy(df)
        if scored.empty:
            st.info("No labelled images in this selection: run a benchmark on the sample set to score answers.")
        else:
            st.plotly_chart(charts.accuracy(scored, legend), key="history.chart.accuracy")
            summary = analytics.provider_summary(df)
            table(
                summary[summary["n_scored"] > 0],  # the models that were scored: an accuracy for each
                legend,
                key="history.table.accuracy",
                main=["accuracy", "n_scored", "p50_ms", "mean_cost_usd"],
                caption="Accuracy beside latency and cost, per model.",
            )

if modes_tab.open:
    with modes_tab:
        modes_section(df, legend, selection)

if outputs_tab.open:
    with outputs_tab:
        outputs_grid(df, legend)

if export_tab.open:
    with export_tab:
        stamp = f"{since:%Y%m%d-%H%M}-{until:%Y%m%d-%H%M}"
        st.caption(f"{fmt.count(len(df), 'result')} as filtered above.")
        c1, c2, c3 = st.columns(3)
        c1.download_button("CSV", df.to_csv(index=False).encode(), f"mc-vision-{stamp}.csv", "text/csv", icon=":material/download:", key="history.csv")
        parquet = BytesIO()
        df.to_parquet(parquet, index=False)
        c2.download_button(
            "Parquet", parquet.getvalue(), f"mc-vision-{stamp}.parquet", "application/vnd.apache.parquet", icon=":material/download:", key="history.parquet"
        )
        html = report.build_report(
            df,
            grid_rows(df, chosen_runs(df)),
            title="MC Vision comparison",
            subtitle=f"{since:%Y-%m-%d %H:%M} – {until:%Y-%m-%d %H:%M} UTC · {len(df):,} results",
            filters=selection,
            legend=legend,
        )
        c3.download_button("HTML report", html.encode(), f"mc-vision-report-{stamp}.html", "text/html", icon=":material/slideshow:", key="history.report")
        st.caption("The report is one self-contained file: tables, every chart and the comparisons picked in Outputs. It opens offline.")
