"""What every page shares: the cached workbench and how a result is drawn. UI only."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Sequence

import pandas as pd
import streamlit as st

from mcv_core import analytics, charts, history, report, targets
from mcv_core import formatting as fmt
from mcv_core.config import Settings
from mcv_core.errors import MCVError, hint_for
from mcv_core.records import ProviderResult, Run, TextDelta
from mcv_core.workbench import Workbench


@st.cache_resource(show_spinner="Connecting to the cloud…", on_release=Workbench.close)
def workbench() -> Workbench:
    # boto3 clients and the openai client are thread-safe: one workbench serves every session. Its background
    # flusher writes results kept in the outbox (table unreachable) once the table is back.
    opened = Workbench.open(Settings.load(), quiet=True)
    opened.start_flusher()
    return opened


def _through_the_router() -> None:
    """Run every page through app.py's st.navigation.

    On a fresh server, Streamlit's legacy pages/ mode runs a deep-linked page (e.g. /history) on its own,
    without app.py: no page config, file names as navigation. Its flag is cleared by the first call of
    st.navigation; clearing it here and rerunning sends this first visit through the router too.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


# Markdown (and Streamlit's own :color[...], :material/...: and $math$) in text that comes from users, files or
# services: file names, error messages, run labels. Escaped so that it is shown as written, never formatted
# (an underscore inside a word, as in MCV_MAX_PIXELS, formats nothing in CommonMark and is left as it is).
_MARKDOWN = re.compile(r"([\\`*\[\]<>#|~$!{}]|:(?=[A-Za-z/])|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")


def plain(text: object) -> str:
    """`text` for a markdown-rendering element (st.error, st.caption, st.markdown): shown as written, on one line."""
    return _MARKDOWN.sub(r"\\\1", " ".join(str(text).split()))


def get_workbench() -> Workbench:
    """The workbench, or a clear error on the page and a stop."""
    _through_the_router()
    try:
        return workbench()
    except MCVError as exc:
        st.error(plain(exc.user_text()), icon=":material/cloud_off:")
        st.stop()
        raise  # st.stop() raises; this line is for type checkers


def mode_caption(settings: Settings) -> str:
    if settings.is_local:
        return "Local cloud: AWS and Azure emulated on this machine, answered by local models."
    return f"Cloud: AWS {settings.region} and Azure OpenAI."


def target_title(target_id: str) -> str:
    """A target's title from the catalogue; an id that is not in it (any more) as itself."""
    return workbench().catalogue.title(target_id)


def result_title(result: ProviderResult) -> str:
    """The title stored with a result, else the catalogue's, else the target id."""
    return result.title or target_title(result.provider)


money = fmt.money  # the one money format of the app: never rounded to zero

_HEX = re.compile(r"#[0-9A-Fa-f]{6}")


def target_color(target_id: str) -> str:
    """The target's colour, as in every chart and the report (catalogue colours; ids no longer in it get one too)."""
    color = targets.colors_for([target_id], get_workbench().catalogue)[target_id]
    return color if _HEX.fullmatch(color) else "#7F7F7F"


def result_color(result: ProviderResult) -> str:
    return target_color(result.provider)


# --- tables -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """How a table column is shown: its kind decides the format, `help` is the tooltip of its header.
    kinds: "name" (the row's name, pinned), "text", "count", "ms", "money", "rate" (0..1, a bar), "ratio", "tokens",
    "figure" (a measurement already formatted as text, right-aligned like the numbers)."""

    kind: str
    help: str
    title: str | None = None  # else formatting.column_title
    width: str | int | None = None  # "small", "medium", "large" or pixels; else as wide as the values


# The columns of the analytics aggregates, the benchmark summary and estimate: what each shows, what it means.
# Titles come from formatting.COLUMN_TITLES where it has the name; the others are given here.
COLUMNS: dict[str, Column] = {
    "model": Column("name", "The target: one model on one service", "Model"),
    "model id": Column("text", "What the service calls the model", "Model id"),
    "temperature": Column("text", "Cold start or warm call; “not reported” for models without cold starts"),
    "latency_basis": Column("text", "Which calls the latency is of: warm ones where cold starts are reported, else all", "Latency of"),
    "error_type": Column("kind", "The kind of error the call ended with", "Error"),
    "n": Column("count", "Results counted in this row", "Calls"),
    "ok": Column("count", "Calls that returned an answer"),
    "errors": Column("count", "Calls that ended in an error, after retries"),
    "n_scored": Column("count", "Results on labelled images, which can be scored"),
    "correct": Column("count", "Scored results whose answer names what the image shows"),
    "n_cold": Column("count", "Successful calls that were cold starts", "Cold calls"),
    "n_warm": Column("count", "Successful calls that were warm", "Warm calls"),
    "n_unpriced": Column("count", "Successful calls without a known price", "Unpriced calls"),
    "cold": Column("count", "Successful calls that were cold starts", "Cold starts"),
    "cold_starts": Column("count", "Successful calls that were cold starts"),
    "throttled": Column("count", "Calls that ended throttled", "Throttled calls"),
    "retried": Column("count", "Calls that needed more than one attempt", "Retried calls"),
    "calls": Column("count", "Model calls the benchmark will make", "Calls"),
    "p50": Column("ms", "Median latency of successful calls", "p50 (ms)"),
    "p90": Column("ms", "9 in 10 successful calls were at least this fast", "p90 (ms)"),
    "p95": Column("ms", "19 in 20 successful calls were at least this fast", "p95 (ms)"),
    "p99": Column("ms", "99 in 100 successful calls were at least this fast", "p99 (ms)"),
    "mean": Column("ms", "Mean latency of successful calls", "Mean (ms)"),
    "median_ci_low": Column("ms", "Lower end of the median's 95% confidence interval (exact bootstrap)", "p50 CI low (ms)"),
    "median_ci_high": Column("ms", "Upper end of the median's 95% confidence interval (exact bootstrap)", "p50 CI high (ms)"),
    "p50_ms": Column("ms", "Median latency of successful calls (client wall time)"),
    "p95_ms": Column("ms", "19 in 20 successful calls were at least this fast"),
    "p50_warm_ms": Column("ms", "Median latency of warm calls"),
    "p95_warm_ms": Column("ms", "p95 latency of warm calls"),
    "p50_cold_ms": Column("ms", "Median latency of cold starts"),
    "p95_cold_ms": Column("ms", "p95 latency of cold starts"),
    "p50_cold": Column("ms", "Median latency of cold starts", "p50 cold (ms)"),
    "p50_warm": Column("ms", "Median latency of warm calls", "p50 warm (ms)"),
    "penalty_ms": Column("ms", "What a cold start adds: median cold minus median warm latency", "Cold-start penalty (ms)"),
    "penalty_ratio": Column("ratio", "How many times slower a cold start is than a warm call"),
    "error_rate": Column("rate", "Share of calls that ended in an error"),
    "throttle_rate": Column("rate", "Share of calls that ended throttled", "Throttle rate"),
    "retry_rate": Column("rate", "Share of calls that needed more than one attempt", "Retry rate"),
    "rate": Column("rate", "Share of all this model's calls", "Share of calls"),
    "cold_start_rate": Column("rate", "Share of successful calls that were cold starts"),
    "accuracy": Column("rate", "Share of scored answers that name what the image shows"),
    "wilson_low": Column("rate", "Lower end of the 95% Wilson interval", "95% CI low"),
    "wilson_high": Column("rate", "Upper end of the 95% Wilson interval", "95% CI high"),
    "mean_cost_usd": Column("money", "Mean cost of one successful call", "Cost per image"),
    "total_cost_usd": Column("money", "Sum of the cost of every successful call", "Total cost"),
    "per_1000_images_usd": Column("money", "What 1,000 images would cost at the mean", "Per 1,000 images"),
    "total_usd": Column("money", "Sum of the cost of every priced call", "Total cost"),
    "mean_usd": Column("money", "Mean cost of one image", "Cost per image"),
    "p50_usd": Column("money", "Median cost of one image", "Median cost per image"),
    "cost_usd_typical": Column("money", "With the output tokens this model typically writes", "Typical cost"),
    "cost_usd_max": Column("money", "Every call writing the most output tokens allowed", "At most"),
    "image_tokens_per_call": Column("tokens", "Tokens one image counts for, by the model's rule", "Image tokens per call"),
    "input_tokens": Column("tokens", "Input tokens of every call together, images included", "Input tokens"),
    "mean_input_tokens": Column("tokens", "Mean input tokens per call, the image included", "Input tokens per call"),
    "mean_output_tokens": Column("tokens", "Mean output tokens per call", "Output tokens per call"),
    "mean_image_tokens": Column("tokens", "The part of the input the image accounts for (estimated)", "Image tokens per call"),
    "mean_total_tokens": Column("tokens", "Input and output tokens per call", "Tokens per call"),
    "basis": Column("text", "What the estimate assumes", "Assumed"),
}
SHOWN_SUFFIX = " (shown)"  # the formatted text beside a money or ratio column, which keeps its number for tests
# Shown as formatting's text: no printf format says "$0.0000012" or "35×" / "1.5×" as formatting does.
TEXT_FORMATS: dict[str, Callable[[Any], str]] = {
    "money": fmt.money,
    "ratio": fmt.ratio,
    "kind": lambda v: fmt.dash() if fmt.missing(v) else str(v).replace("_", " ").capitalize(),  # "service_error"
}


def column_spec(name: str, extra: dict[str, Column] | None = None) -> Column:
    return (extra or {}).get(name) or COLUMNS.get(name) or Column("text", "")


def column_title(name: str, extra: dict[str, Column] | None = None) -> str:
    spec = column_spec(name, extra)
    return spec.title or fmt.column_title(name)


def _config(name: str, extra: dict[str, Column] | None) -> Any:
    spec = column_spec(name, extra)
    title, help_text = column_title(name, extra), spec.help or None
    cc = st.column_config
    if spec.kind == "name":
        return cc.TextColumn(title, help=help_text, pinned=True)
    if spec.kind == "text":
        return cc.TextColumn(title, help=help_text)
    if spec.kind == "long":  # ids and ARNs: a wide column, so that a table of them still fits its box
        return cc.TextColumn(title, help=help_text, width=spec.width or "large")
    if spec.kind == "money":
        return cc.TextColumn(title, help=help_text, alignment="right")
    if spec.kind == "rate":
        return cc.ProgressColumn(title, help=help_text, format="percent", min_value=0.0, max_value=1.0, width="small")
    if spec.kind in ("ratio", "figure"):
        return cc.TextColumn(title, help=help_text, alignment="right")
    if spec.kind == "kind":
        return cc.TextColumn(title, help=help_text)
    return cc.NumberColumn(title, help=help_text, format="%,.0f")  # counts, ms and tokens: whole, with separators


def display_frame(
    frame: pd.DataFrame, title_of: Callable[[object], str] | None = None, extra: dict[str, Column] | None = None
) -> pd.DataFrame:
    """`frame` ready for st.dataframe: targets by title in "model" (the service's model id in "model id"), numbers as
    floats (a missing one drawn as the placeholder), money as text beside its number, text with a dash for missing."""
    out = frame.reset_index(drop=True).copy()
    if "provider" in out:
        out = out.drop(columns=[c for c in ("target",) if c in out])
        out = out.rename(columns={"model": "model id"})
        titles = [(title_of or str)(p) for p in out["provider"].astype(object)]
        out = out.drop(columns=["provider"])
        out.insert(0, "model", titles)
    for name in list(out.columns):
        kind = column_spec(name, extra).kind
        column = out[name]
        if kind in ("count", "ms", "tokens", "rate"):
            out[name] = pd.to_numeric(column, errors="coerce").astype("float64")
        elif kind in TEXT_FORMATS:
            out[name + SHOWN_SUFFIX] = [TEXT_FORMATS[kind](v) for v in column.astype(object)]
        elif not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            out[name] = [fmt.dash() if fmt.missing(v) else str(v) for v in column.astype(object)]
    return out


def show_table(
    frame: pd.DataFrame,
    *,
    key: str,
    main: Sequence[str],
    title_of: Callable[[object], str] | None = None,
    caption: str | None = None,
    columns: dict[str, Column] | None = None,
) -> None:
    """A table that answers one question: the `main` columns by default (the target's name pinned first), the
    others of `frame` behind a "More columns" choice; every column titled with its unit and a tooltip."""
    extra_specs = columns
    shown = display_frame(frame, title_of, extra_specs)
    base = [c for c in shown.columns if not c.endswith(SHOWN_SUFFIX)]
    main = [c for c in ["model", *main] if c in base]
    extra = [c for c in base if c not in main]
    more: list[str] = []
    left, right = st.columns([2, 1], vertical_alignment="bottom") if extra else (st.container(), None)
    if caption:
        left.caption(caption)
    if right is not None:
        more = right.multiselect(
            "More columns",
            extra,
            format_func=lambda name: column_title(name, extra_specs),
            key=f"{key}.more",
            placeholder="Add columns",
            help="The table shows the columns that answer its question; add the others here.",
        )
    picked = [*main, *[c for c in extra if c in more]]
    order = [c + SHOWN_SUFFIX if column_spec(c, extra_specs).kind in TEXT_FORMATS else c for c in picked]
    config = {shown_name: _config(name, extra_specs) for name, shown_name in zip(picked, order)}
    st.dataframe(
        shown,
        hide_index=True,
        width="stretch",
        height="content" if len(shown) <= 20 else "auto",
        column_order=order,
        column_config=config,
        placeholder=fmt.DASH,
        key=key,
    )


# --- a concurrency sweep's levels (Benchmark, History) ---------------------------------------------------------

# The level table's columns (sweep.Level.to_json), titled and explained.
SWEEP_COLUMNS: dict[str, Column] = {
    "concurrency": Column("count", "Requests in flight at once at this level", "At once"),
    "asked_concurrency": Column("count", "The level asked for, above the model's slots: it ran at the slots", "Asked"),
    "requests": Column("count", "Requests sent at this level", "Requests"),
    "ok": Column("count", "Requests that returned an answer", "Succeeded"),
    "errors": Column("count", "Requests that ended in an error, throttles included", "Failed"),
    "throttled": Column("count", "Failed requests that the service throttled", "Throttled"),
    "p50_ms": Column("ms", "Median latency of the answered calls (client wall time of the call)", "p50 (ms)"),
    "p95_ms": Column("ms", "19 in 20 answered calls were at least this fast", "p95 (ms)"),
    "p99_ms": Column("ms", "99 in 100 answered calls were at least this fast", "p99 (ms)"),
    "p50_ttft_ms": Column("ms", "Median time to first token of streamed answers: request sent to first words", "TTFT p50 (ms)"),
    "p95_ttft_ms": Column("ms", "19 in 20 streamed answers began at least this soon", "TTFT p95 (ms)"),
    "images_per_s": Column("figure", "Answered images per second of the level's wall time, all requests together", "Images/s"),
    "output_tokens_per_s": Column(
        "figure", "Output tokens of the answers per second of the level's wall time, all requests together", "Output tokens/s"
    ),
    "errors_by_kind": Column("text", "Failed requests by kind of error", "Failures by kind"),
    "error_share": Column("rate", "Share of the level's requests that failed", "Error share"),
    "wall_ms": Column("ms", "From the level's first request's start to its last one's end", "Level's wall time (ms)"),
}
# What sizing a deployment asks first; successes, throttles, p99 and the rest are behind "More columns". Nine columns
# fit a 1,024 px page.
SWEEP_MAIN = ["concurrency", "requests", "errors", "p50_ms", "p95_ms", "p50_ttft_ms", "images_per_s", "output_tokens_per_s"]


def show_levels(levels: list[dict], *, key: str, caption: str) -> None:
    """A sweep's level table (rows as sweep.Level.to_json) and its chart."""
    if not levels:
        st.caption("No level ran.")
        return
    frame = pd.DataFrame(levels)
    frame.insert(0, "provider", frame.pop("target"))
    frame["images_per_s"] = [fmt.number(v, 2) for v in frame["images_per_s"]]
    frame["output_tokens_per_s"] = [fmt.number(v, 1) for v in frame["output_tokens_per_s"]]
    frame["errors_by_kind"] = [
        ", ".join(f"{fmt.count(n)} {kind.replace('_', ' ')}" for kind, n in (kinds or {}).items()) or "none"
        for kinds in frame["errors_by_kind"]
    ]
    frame["wall_ms"] = frame.pop("wall_s").astype("float64") * 1000
    show_table(frame, key=key, main=SWEEP_MAIN, title_of=target_title, caption=caption, columns=SWEEP_COLUMNS)
    ids = list(dict.fromkeys(str(row["target"]) for row in levels))
    st.plotly_chart(charts.sweep_chart(levels, charts.legend(ids, get_workbench().catalogue)), key=f"{key}.chart")



# --- a result card ----------------------------------------------------------------------------------------------
# One structure for every card, streaming or final, answer or error: title, colour bar, model id, badge, the figures
# one per line (so every card's block of figures is as tall), what 1,000 images cost, the service's details, "Where
# the time went", then the answer (or the error). A streaming card becomes its final card in place: nothing moves
# but the values.

FIGURES: dict[str, str] = {  # the card's figures, in order: label -> what it means (its tooltip)
    "Latency": "From sending the request to the whole answer, as this app measured it",
    "Time to first token": (
        "From sending the request to the first words of the answer arriving (TTFT). "
        "– when the answer was not streamed: it is never estimated"
    ),
    "Output speed": (
        "Output tokens after the first, per second after the first words arrived; – when the answer was not streamed"
    ),
    "Tokens in / out": (
        "Input tokens (the image included) / output tokens, as the service reported them; – when it reports none"
    ),
    "Cost": "What this one call cost, at list prices (USD)",
}
ANATOMY_LABEL = "Where the time went"


def _tokens(result: ProviderResult) -> str:
    if result.input_tokens is None and result.output_tokens is None:
        return fmt.DASH
    return f"{fmt.count(result.input_tokens)} / {fmt.count(result.output_tokens)}"


def _card_head(title: str, color: str, model: str) -> None:
    st.markdown(f"**{plain(title)}**")
    # The target's colour, as its charts draw it: a bar under its title (the colour is one of ours, never input).
    st.html(f'<div style="height:4px;border-radius:2px;background:{color}"></div>')
    st.caption(plain(model))


def _figures(values: Sequence[str]) -> None:
    for (label, help_text), value in zip(FIGURES.items(), values, strict=True):
        st.metric(label, value, help=help_text)


def _anatomy(result: ProviderResult | None, key: str) -> None:
    """The "Where the time went" button: the call's parts (records.anatomy) as a stacked bar; disabled until the
    call has ended."""
    with st.popover(
        ANATOMY_LABEL,
        icon=":material/timer:",
        type="tertiary",
        disabled=result is None,
        help="Waiting for a slot, preparing the image, the service's own time, network and client",
    ):
        if result is None:
            return
        legend = charts.legend([result.provider], get_workbench().catalogue, {result.provider: result_title(result)})
        # Its legend names each part with its duration.
        st.plotly_chart(
            charts.call_anatomy(result, legend), key=f"compare.anatomy.{key}", width=460, config={"displayModeBar": False}
        )


def _badge(result: ProviderResult) -> tuple[str, str, str]:
    if not result.ok:
        return "error", ":material/error:", "red"
    if result.cold_start:
        return "cold start", ":material/ac_unit:", "orange"
    if result.cold_start is False:
        return "warm", ":material/local_fire_department:", "green"
    return "answered", ":material/check_circle:", "blue"  # label, icon, colour


def render_result(result: ProviderResult, key: str) -> None:
    """One target's answer as a card of the one structure (above). `key`: unique on the page (its widgets' keys)."""
    with st.container(border=True):
        _card_head(result_title(result), result_color(result), result.model)
        label, icon, color = _badge(result)
        st.badge(label, icon=icon, color=color)
        _figures(
            [
                fmt.duration_ms(result.latency_ms),
                fmt.duration_ms(result.ttft_ms),
                fmt.tokens_per_s(result.output_tokens_per_s),
                _tokens(result),
                fmt.money(result.cost_usd),
            ]
        )
        st.caption(fmt.money_per_1000(result.cost_usd) if result.cost_usd else "no cost recorded for 1,000 images")
        details = []
        if result.provider_latency_ms is not None:
            details.append(f"service time {fmt.duration_ms(result.provider_latency_ms)}")
        if result.image_tokens is not None:
            details.append(f"image ≈ {fmt.tokens(result.image_tokens)}")
        if result.image_width:
            details.append(f"sent {result.image_width}×{result.image_height}")
        if result.attempts > 1:
            details.append(fmt.count(result.attempts, "attempt"))
        if result.streamed is False:
            details.append("not streamed")
        st.caption(" · ".join(details) if details else "no service details reported")
        _anatomy(result, key)
        if not result.ok:
            st.error(plain(result.error or result.error_type or "The call failed."), icon=":material/error:")
            hint = hint_for(result.error_type)
            if hint and hint not in (result.error or ""):
                st.caption(f"What to do: {plain(hint)}")
            if result.output:  # a stream cut in the middle keeps what had arrived
                st.caption("What arrived before the error:")
                st.text(result.output)
            return
        # Model output is shown as plain text, never as markdown or HTML.
        st.text(result.output)
        if result.labels:
            st.dataframe(
                {"label": [l.label for l in result.labels], "score": [100 * l.score for l in result.labels]},
                column_config={
                    "label": st.column_config.TextColumn("Label", help="What the classifier sees", pinned=True),
                    "score": st.column_config.ProgressColumn(
                        "Score", help="The classifier's confidence", min_value=0.0, max_value=100.0, format="%.0f%%", width="small"
                    ),
                },
                hide_index=True,
                width="stretch",
                height="content",
            )


class StreamingCard:
    """A target's card from the moment its call starts until it ends. Drawn whole at once, before any answer (a
    "waiting" badge, the figures as dashes, "Waiting for <title>…" where the answer goes), so that when the first
    words arrive (records.TextDelta) only small elements change: the time to first token, the caption, the text,
    the badge; after that each delta replaces only the answer's text. One small message per change, so the words
    reach the screen as they arrive. `slot` is the card's st.empty, which render_result replaces when the call
    ends."""

    def __init__(self, slot: Any, provider: str, model: str, key: str) -> None:
        self.slot = slot
        self.provider = provider
        self.key = key
        self.shown = ""
        self.started = False  # whether the first words have been drawn
        title = target_title(provider)
        with slot.container(), st.container(border=True):
            _card_head(title, target_color(provider), model)
            self.badge = st.empty()
            self.badge.badge("waiting", icon=":material/hourglass_top:", color="gray")
            self.figures = [st.empty() for _ in FIGURES]
            for place, (label, help_text) in zip(self.figures, FIGURES.items()):
                place.metric(label, fmt.DASH, help=help_text)
            st.caption("the cost follows the whole answer")
            self.note = st.empty()
            self.note.caption("no words yet")
            _anatomy(None, key)
            self.text = st.empty()
            self.text.info(f"Waiting for {plain(title)}…", icon=":material/hourglass_top:")

    def show(self, delta: TextDelta) -> None:
        if delta.text == self.shown:
            return  # nothing new to draw (a delta without text)
        if not self.started:
            label = "Time to first token"
            self.figures[list(FIGURES).index(label)].metric(label, fmt.duration_ms(delta.ttft_ms), help=FIGURES[label])
            self.note.caption("the answer is streaming in")
        self.text.text(delta.text)  # plain text, never markdown
        if not self.started:
            self.badge.badge("writing", icon=":material/edit_note:", color="violet")
            self.started = True
        self.shown = delta.text


# --- the report of some comparisons -----------------------------------------------------------------------------


def _thumbnail(run: Run) -> bytes:
    from io import BytesIO

    small = run.image.pixels.copy()
    small.thumbnail((320, 320))
    out = BytesIO()
    small.convert("RGB").save(out, "JPEG", quality=85)
    return out.getvalue()


def comparison_report(runs: Sequence[Run], title: str) -> str:
    """The self-contained HTML report (mcv_core.report) of these comparisons: tables, charts, every answer."""
    opened = workbench()
    per_run = [[i for i in history.run_items(run, 0) if i["type"] == "result"] for run in runs]
    frame = analytics.to_frame([i for items in per_run for i in items], opened.catalogue.ids)
    grid = [
        {"image_name": run.image.name, "thumbnail_jpeg": _thumbnail(run), "results": {i["provider"]: i for i in items}}
        for run, items in zip(runs, per_run)
    ]
    first = min(run.created_at for run in runs)
    subtitle = f"{first:%Y-%m-%d %H:%M} UTC · {fmt.count(len(runs), 'comparison')} · {fmt.count(len(frame), 'result')}"
    legend = charts.legend_for(frame, opened.catalogue)
    return report.build_report(frame, grid, title=title, subtitle=subtitle, legend=legend)


def download_report(runs: Sequence[Run], *, title: str, key: str) -> None:
    """A "Download report" button for these comparisons; the report is built when it is pressed."""
    runs = list(runs)
    st.download_button(
        "Download report",
        lambda: comparison_report(runs, title),
        f"mc-vision-{runs[0].bench_id or runs[0].run_id}.html",
        "text/html",
        icon=":material/download:",
        key=key,
        help="One self-contained HTML file: tables, charts and every answer side by side. It opens offline.",
    )


# --- choosing what a quality view covers: a time range or one benchmark ---------------------------------------

SELECTION_RANGES = {"24 hours": timedelta(days=1), "7 days": timedelta(days=7), "30 days": timedelta(days=30)}
BENCHMARK_CHOICE = "Benchmark"
BENCH_LOOKBACK = timedelta(days=30)  # benchmarks offered for choice: those with results in this window
SELECTION_TTL_S = 60  # a selection's results are read again after this (Refresh reads them now)


@dataclass(frozen=True)
class Selection:
    """What a scorecard or the arena covers: results created in [since, until], or those of one benchmark
    (whose results and votes are read from its start, which its id carries)."""

    since: datetime
    until: datetime
    bench_id: str | None = None
    choice: str = ""  # the range's name or the bench id: the same choice minute after minute (`until` moves on)

    @property
    def label(self) -> str:
        if self.bench_id:
            return f"benchmark {self.bench_id}"
        return f"{self.since:%Y-%m-%d %H:%M} – {self.until:%Y-%m-%d %H:%M} UTC"


@st.cache_data(ttl=SELECTION_TTL_S, show_spinner=False)
def recent_benchmarks(until: datetime) -> list[dict[str, Any]]:
    """Benchmarks with results in the BENCH_LOOKBACK before `until`, newest first: {bench_id, started, results,
    targets}. From the analytics partitions History already keeps (past days are cached on disk)."""
    items = get_workbench().history.load(until - BENCH_LOOKBACK, until, fields=("run_id", "created_at", "provider", "bench_id"))
    found: dict[str, dict[str, Any]] = {}
    for item in items:
        bench_id = item.get("bench_id")
        if not bench_id:
            continue
        entry = found.setdefault(bench_id, {"bench_id": bench_id, "started": item["created_at"], "results": 0, "targets": set()})
        entry["results"] += 1
        entry["targets"].add(item.get("provider"))
        entry["started"] = min(entry["started"], item["created_at"])
    benches = sorted(found.values(), key=lambda e: e["started"], reverse=True)
    return [{**e, "targets": sorted(t for t in e["targets"] if t)} for e in benches]


def _bench_label(bench: dict[str, Any]) -> str:
    started = datetime.fromisoformat(str(bench["started"]).replace("Z", "+00:00"))
    return (
        f"{started:%Y-%m-%d %H:%M} UTC · {fmt.count(bench['results'], 'result')} · "
        f"{fmt.count(len(bench['targets']), 'model')} · {bench['bench_id']}"
    )


def selection_picker(page: str, *, default: str = "30 days", prefer_benchmark: bool = False) -> Selection | None:
    """A time range or a benchmark to work on; None (with a note on the page) when a benchmark is asked for and
    there is none. `?bench=<id>` in the address chooses that benchmark. `prefer_benchmark`: start on the newest
    benchmark when there is one."""
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0) + timedelta(minutes=1)
    benches = recent_benchmarks(now)
    by_id = {b["bench_id"]: b for b in benches}
    linked = st.query_params.get("bench")
    choices = [*SELECTION_RANGES, BENCHMARK_CHOICE]
    start = BENCHMARK_CHOICE if linked or (prefer_benchmark and benches) else default
    left, right = st.columns([4, 1], vertical_alignment="bottom")
    choice = left.segmented_control(
        "Results from", choices, default=start, key=f"{page}.range", required=True,
        help="A time range (results created in it), or every result of one benchmark.",
    )  # fmt: skip
    if right.button("Refresh", icon=":material/refresh:", key=f"{page}.refresh", help="Read the newest results now"):
        st.cache_data.clear()
    if choice != BENCHMARK_CHOICE:
        return Selection(now - SELECTION_RANGES[choice], now, choice=choice)
    ids = list(by_id)
    if linked and linked not in by_id:
        ids.insert(0, linked)  # a link to a benchmark older than the list: still what was asked for
    if not ids:
        st.info(
            f"No benchmark in the last {BENCH_LOOKBACK.days} days: run one on the Benchmark page, or choose a time range.",
            icon=":material/info:",
        )
        return None
    bench_id = st.selectbox(
        "Benchmark", ids, index=ids.index(linked) if linked in ids else 0, key=f"{page}.bench",
        format_func=lambda b: _bench_label(by_id[b]) if b in by_id else b,
        help=f"Benchmarks with results in the last {BENCH_LOOKBACK.days} days, newest first.",
    )  # fmt: skip
    try:
        started = history.bench_started(bench_id)
    except MCVError as exc:
        st.error(plain(exc.user_text()), icon=":material/error:")
        return None
    return Selection(started - timedelta(minutes=1), now, bench_id, choice=bench_id)


@st.cache_data(ttl=SELECTION_TTL_S, show_spinner="Reading the results…", max_entries=32)
def selected_results(selection: Selection, fields: tuple[str, ...] = history.RESULT_FIELDS) -> list[dict[str, Any]]:
    """The selection's result items (every key of `fields` present), newest first."""
    if selection.bench_id:
        return get_workbench().history.select(bench_id=selection.bench_id, fields=fields)
    return get_workbench().history.select(since=selection.since, until=selection.until, fields=fields)


def selection_votes(selection: Selection, results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The votes on the selection's runs (read every time: a vote just cast must count)."""
    runs = {r["run_id"] for r in results}
    return [v for v in get_workbench().history.votes(selection.since, selection.until) if v["run_id"] in runs]


@st.cache_data(ttl=600, show_spinner=False, max_entries=256)
def image_jpeg(image_key: str, size: int = 320) -> bytes | None:
    """A stored upload as a JPEG of at most `size` px a side; None when the bucket no longer has it."""
    from io import BytesIO

    from PIL import Image

    try:
        data = get_workbench().store.read(image_key)
    except MCVError:
        return None  # expired by the bucket's lifecycle: the caller says so
    image = Image.open(BytesIO(data))
    image.thumbnail((size, size))
    out = BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=88)
    return out.getvalue()


def results_legend(results: Sequence[dict[str, Any]]) -> charts.Legend:
    """Titles and colours of the targets of these result items: the catalogue's, in its order; targets no longer
    in it after them, by their stored titles."""
    catalogue = get_workbench().catalogue
    present = {str(r["provider"]) for r in results}
    ids = [i for i in catalogue.ids if i in present] + sorted(present - set(catalogue.ids))
    return charts.legend(ids, catalogue, {str(r["provider"]): str(r["title"]) for r in results if r.get("title")})
