"""Figures for the analytics views: a DataFrame in (an aggregate of mcv_core.analytics, or the result frame), a
plotly Figure out. No I/O, no Streamlit.

Every figure's title is the question it answers, its axes carry units, and the sample count n is shown (in the
axis labels, the legend or the hover). A target keeps one title and one colour in every figure: they come from a `Legend`
(`legend_for(frame, catalogue)`), given to each figure, never read from global state. An empty frame gives a figure
that says "No results in this selection" rather than an exception.

Labels and the hovers of aggregates are written by mcv_core.formatting (money never rounded to zero, ms or s, 0 to
100 %); the numbers behind them stay in each trace's customdata. Per-call points (up to 100,000) keep plotly's own
hover formats with separators, so as not to carry a string per call. Rates are drawn 0 to 100 with "%"
ticks; a latency axis spanning more than LOG_RATIO is logarithmic with 1-2-5 ticks in ms or s (`log_ticks`).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from scipy import stats

from . import analytics, formatting, targets

EMPTY_TEXT = "No results in this selection"
# Points of a call (box points, scatter dots): large enough to see, outlined in white so that overlapping dots
# and two targets' colours stay apart.
POINT_MARKER = {"size": 7, "opacity": 0.7, "line": {"color": "white", "width": 1}}
# Groups of at most this many calls draw every call as a point; larger ones draw only their outliers, so that a
# figure of 100,000 calls stays light in the browser.
POINTS_LIMIT = 2_000
# A latency axis turns logarithmic when the largest value is this many times the smallest (cold starts in
# seconds beside warm calls in tens of milliseconds would flatten the warm boxes).
LOG_RATIO = 30.0

# A small template of our own: assigning "plotly_white" deep-copies its defaults for every trace type into each
# figure (most of a figure's build time, and ~10 KB of JSON per figure).
_AXIS = {"gridcolor": "#E5EAF1", "linecolor": "#C9D2DD", "zerolinecolor": "#C9D2DD", "automargin": True, "ticks": ""}
TEMPLATE = go.layout.Template(
    layout={
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "font": {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "color": "#1d2733"},
        "xaxis": _AXIS,
        "yaxis": _AXIS,
        "hoverlabel": {"align": "left"},
        "colorway": [*targets.DEFAULT_COLORS.values(), *targets.PALETTE],
    }
)
TEMPERATURE_STYLE = {  # fill opacity of boxes and bars, line dash, marker symbol
    "warm": (0.55, "solid", "circle"),
    "cold": (0.15, "dot", "diamond"),
    "not reported": (0.35, "solid", "circle"),
}


# --- shared pieces -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Legend:
    """How every figure names and colours each target: id -> (title, colour), in display order.

    Built once per loaded frame (`legend_for`), so a target keeps its title and colour whatever the filters
    select. An id it does not hold is shown as itself, in a colour of its own."""

    entries: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def ids(self) -> list[str]:
        return list(self.entries)

    def title(self, target_id: object) -> str:
        entry = self.entries.get(str(target_id))
        return entry[0] if entry is not None else str(target_id)

    def color(self, target_id: object) -> str:
        entry = self.entries.get(str(target_id))
        return entry[1] if entry is not None else self.covering([str(target_id)]).entries[str(target_id)][1]

    def covering(self, ids: Iterable[object], titles: Mapping[str, str] | None = None) -> "Legend":
        """This legend plus any of `ids` it lacks (named by `titles`, else by the id), in spare colours."""
        missing = [i for i in dict.fromkeys(str(i) for i in ids) if i not in self.entries]
        if not missing:
            return self
        used = {color for _, color in self.entries.values()}
        spare = [c for c in targets.PALETTE if c not in used] or list(targets.PALETTE)
        entries = dict(self.entries)
        for n, target_id in enumerate(missing):
            entries[target_id] = ((titles or {}).get(target_id) or target_id, spare[n % len(spare)])
        return Legend(entries)


def legend(
    ids: Iterable[object], catalogue: targets.Catalogue | None = None, titles: Mapping[str, str] | None = None
) -> Legend:
    """A legend for these target ids: the catalogue's titles and colours; for an id not in it (old history, a
    target removed from the catalogue) its stored title from `titles`, else the id, and a colour of its own."""
    catalogue = catalogue or targets.Catalogue(())
    ids = [str(i) for i in ids]
    colors = targets.colors_for(ids, catalogue)
    titles = titles or {}
    entries = {
        i: (catalogue.title(i) if i in catalogue.by_id else (titles.get(i) or i), colors[i]) for i in ids
    }
    return Legend(entries)


def legend_for(frame: pd.DataFrame, catalogue: targets.Catalogue | None = None) -> Legend:
    """The legend of a result frame (analytics.to_frame): every target id of its provider column (the loaded
    frame's categories, kept by filters and aggregates), named by the catalogue or by its stored title."""
    return legend(_ids(frame), catalogue, analytics.stored_titles(frame))


def _ids(frame: pd.DataFrame) -> list[str]:
    column = frame["provider"]
    if isinstance(column.dtype, pd.CategoricalDtype):
        return [str(c) for c in column.cat.categories]
    return sorted(column.astype(str).unique())


def _legend(frame: pd.DataFrame, given: Legend | None) -> Legend:
    """The legend given, covering every id of `frame`; without one, the frame's ids named by their stored titles."""
    ids = _ids(frame)
    if given is not None and all(i in given.entries for i in ids):
        return given
    titles = analytics.stored_titles(frame) if "title" in frame and "created_at" in frame else None
    return legend(ids, None, titles) if given is None else given.covering(ids, titles)


def _rgba(color: str, alpha: float) -> str:
    red, green, blue = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


def _layout(fig: go.Figure, title: str, x_title: str | None, y_title: str, **extra: Any) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0, "xref": "paper", "xanchor": "left"},
        template=TEMPLATE,
        height=460,
        margin={"l": 70, "r": 30, "t": 70, "b": 90},
        legend={"orientation": "h", "yanchor": "top", "y": -0.18, "x": 0},
        xaxis_title=x_title,
        yaxis_title=y_title,
        **extra,
    )
    return fig


def _note(fig: go.Figure, text: str) -> None:
    fig.add_annotation(
        text=text, xref="paper", yref="paper", x=1, y=1.02, xanchor="right", yanchor="bottom",
        showarrow=False, font={"size": 11, "color": "#555"},
    )


def empty_figure(title: str) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(
        title={"text": title, "x": 0.02, "xanchor": "left"},
        template=TEMPLATE,
        height=300,
        xaxis={"visible": False},
        yaxis={"visible": False},
        annotations=[
            {
                "text": EMPTY_TEXT, "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5,
                "showarrow": False, "font": {"size": 16, "color": "#666"},
            }
        ],
    )
    return fig


def _patterned(providers: Iterable[str], legend: Legend, shape: str) -> dict[str, Any]:
    """Bar markers in the targets' colours: solid without a shape, else the pattern drawn in the colour on a
    light tint of it (so the legend swatch shows the pattern too)."""
    solid = [legend.color(p) for p in providers]
    if not shape:
        return {"color": solid}
    return {"color": solid, "pattern": {"shape": shape, "bgcolor": [_rgba(c, 0.18) for c in solid], "solidity": 0.45}}


def _axis_label(legend: Legend, provider: str, n: int, detail: str = "") -> str:
    return f"{legend.title(provider)}{'<br>' + detail if detail else ''}<br>n={n:,}"


def _log_axis(values: np.ndarray) -> bool:
    positive = values[np.isfinite(values) & (values > 0)]
    return positive.size > 1 and positive.max() / positive.min() > LOG_RATIO


def _latency_axis(what: str, log: bool) -> str:
    return f"{what} (ms or s, log scale)" if log else f"{what} (ms)"


def duration_tick(ms: float) -> str:
    """A tick of a latency axis: "20 ms", "500 ms", "1 s", "1.5 s", "2 s", "1,000 s" (up to three decimals, as
    many as the value needs)."""
    value, unit = (ms, "ms") if ms < 1000 else (ms / 1000, "s")
    return f"{f'{value:,.3f}'.rstrip('0').rstrip('.')} {unit}"


def log_ticks(values: Any) -> tuple[list[float], list[str]]:
    """Ticks of a log latency axis in 1-2-5 steps (10, 20, 50, 100 ms ... 1 s, 2 s, 5 s), from the largest step
    at or below the smallest value to the smallest at or above the largest, labelled in ms or s."""
    data = np.asarray(values, dtype=np.float64)
    data = data[np.isfinite(data) & (data > 0)]
    if data.size == 0:
        return [], []
    low, high = float(data.min()), float(data.max())
    decades = range(int(np.floor(np.log10(low))) - 1, int(np.ceil(np.log10(high))) + 1)
    steps = [m * 10.0**e for e in decades for m in (1, 2, 5)]
    below = [v for v in steps if v <= low * (1 + 1e-9)]
    above = [v for v in steps if v >= high * (1 - 1e-9)]
    first, last = (below[-1] if below else steps[0]), (above[0] if above else steps[-1])
    vals = [float(f"{v:.6g}") for v in steps if first <= v <= last]
    return vals, [duration_tick(v) for v in vals]


def _latency_yaxis(fig: go.Figure, values: Any) -> bool:
    """A latency value axis: logarithmic with 1-2-5 ticks in ms or s when the values span more than LOG_RATIO,
    else linear with thousands separators. Returns whether it is logarithmic."""
    data = np.asarray(values, dtype=np.float64)
    log = _log_axis(data)
    finite = data[np.isfinite(data)]
    hover = ",.1f" if finite.size and np.nanmax(np.abs(finite)) < 10 else ",.0f"
    if log:
        tickvals, ticktext = log_ticks(data)
        fig.update_yaxes(type="log", tickmode="array", tickvals=tickvals, ticktext=ticktext, hoverformat=hover)
    else:
        fig.update_yaxes(type="linear", tickformat=",~f", hoverformat=hover, rangemode="tozero")
    return log


def _rate_yaxis(fig: go.Figure, top_percent: float, *, full: bool = False) -> None:
    """A rate axis in percent (the data 0 to 100): ticks "0%", "5%", "10%" ... in 1-2-5 steps, never above 100%,
    and room above the highest bar (or error bar) for its label. `full`: always 0 to 100%."""
    if full:
        top, upper = 100.0, 116.0
    else:
        top = top_percent if np.isfinite(top_percent) and top_percent > 0 else 1.0
        upper = top * 1.18
    raw = min(top, 100.0) / 5
    step = min((m * 10.0**e for e in range(-3, 3) for m in (1, 2, 5) if m * 10.0**e >= raw), default=20.0)
    tickvals = [float(f"{v:.6g}") for v in np.arange(0, min(top, 100.0) + step / 2, step) if v <= 100]
    fig.update_yaxes(
        range=[0, upper], tickmode="array", tickvals=tickvals,
        ticktext=[formatting.percent(v / 100, digits=2) for v in tickvals],
    )


def _pct(value: float) -> str:
    return formatting.percent(value)


def _of(part: Any, whole: Any, noun: str | None = None) -> str:
    """ "(4 of 11)", with a noun "(4 of 11 calls)"."""
    return f"({formatting.count(part)} of {formatting.count(whole, noun)})"


def _label_above(fig: go.Figure, x: Sequence[str], tops: Sequence[float], texts: Sequence[str]) -> None:
    """Bar labels above the top of each error bar, so a label never sits on one."""
    for xi, top, text in zip(x, tops, texts):
        fig.add_annotation(
            x=xi, y=float(top) if np.isfinite(top) else 0.0, text=text, showarrow=False,
            yanchor="bottom", yshift=4, font={"size": 12},
        )


# --- latency --------------------------------------------------------------------------------------------------------

LATENCY_TITLE = "How fast is each model? Latency per call (ms)"


def _box(values: np.ndarray, x0: str, name: str, color: str, fill: float, provider: object, **extra: Any) -> go.Box:
    """One group's box with its points (all of them up to POINTS_LIMIT, else the outliers), its mean, its colour."""
    return go.Box(
        y=values.astype(np.float32),
        x0=x0,
        name=name,
        boxpoints="all" if values.size <= POINTS_LIMIT else "outliers",
        jitter=0.4,
        pointpos=0,
        marker={"color": color, **POINT_MARKER},
        line={"color": color},
        fillcolor=_rgba(color, fill),
        boxmean=True,
        legendgroup=str(provider),
        **extra,
    )


def latency_distribution(df: pd.DataFrame, legend: Legend | None = None) -> go.Figure:
    """Box per provider and temperature (cold and warm apart) of successful calls' latency, from the result frame.
    Groups of at most POINTS_LIMIT calls show every call as a point, larger ones only their outliers."""
    ok = analytics.successful(df, ["provider", "temperature", "latency_ms"])
    groups = analytics.sorted_groups(ok, ["provider", "temperature"], "latency_ms")
    if groups.counts.size == 0:
        return empty_figure(LATENCY_TITLE)
    legend = _legend(df, legend)
    fig = go.Figure()
    large = False
    for i, (provider, temperature) in enumerate(groups.keys.itertuples(index=False)):
        values = groups.group_values(i)
        n = int(values.size)
        fill, _, _ = TEMPERATURE_STYLE[str(temperature)]
        color = legend.color(provider)
        large |= n > POINTS_LIMIT
        fig.add_trace(
            _box(
                values, _axis_label(legend, provider, n, str(temperature)),
                f"{legend.title(provider)} · {temperature} (n={n:,})", color, fill, provider,
            )  # fmt: skip
        )
    log = _latency_yaxis(fig, groups.values)
    _layout(fig, LATENCY_TITLE, None, _latency_axis("Latency per call", log), showlegend=False)
    _note(
        fig,
        "Successful calls; dashed line: mean. Each dot is one call"
        + (f"; groups of more than {POINTS_LIMIT:,} calls show only their outliers." if large else "."),
    )
    return fig


def latency_over_time(agg: pd.DataFrame, legend: Legend | None = None) -> go.Figure:
    """Median latency per time bucket, a line per provider and temperature (analytics.latency_over_time)."""
    bucket = agg.attrs.get("bucket", "bucket")
    title = f"How did latency change over time? Median latency per {bucket} (ms)"
    if agg.empty:
        return empty_figure(title)
    legend = _legend(agg, legend)
    fig = go.Figure()
    trace = go.Scattergl if len(agg) > 5_000 else go.Scatter
    for (provider, temperature), part in agg.groupby(["provider", "temperature"], observed=True, sort=True):
        _, dash, symbol = TEMPERATURE_STYLE[str(temperature)]
        n = int(part["n"].sum())
        fig.add_trace(
            trace(
                x=part["bucket"],
                y=part["p50"].to_numpy(),
                customdata=np.column_stack([part["n"].to_numpy(), part["p95"].to_numpy()]),
                mode="lines+markers",
                name=f"{legend.title(provider)} · {temperature} (n={n:,})",
                line={"color": legend.color(provider), "dash": dash},
                marker={"symbol": symbol, "size": 8, "line": {"color": "white", "width": 1}},
                hovertext=[
                    f"median {formatting.duration_ms(p50)} · p95 {formatting.duration_ms(p95)}"
                    f"<br>n={formatting.count(k)}"
                    for p50, p95, k in zip(part["p50"], part["p95"], part["n"])
                ],
                hovertemplate="%{x}<br>%{hovertext}<extra>%{fullData.name}</extra>",
            )
        )
    log = _latency_yaxis(fig, agg["p50"].to_numpy(np.float64))
    _layout(fig, title, f"Time (UTC), per {bucket}", _latency_axis("Median latency", log))
    # A few buckets only (a fresh history): show a sensible window around them, never sub-second ticks.
    step = pd.to_timedelta(pd.tseries.frequencies.to_offset(agg.attrs.get("freq", "min")))
    first, last = pd.Timestamp(agg["bucket"].min()), pd.Timestamp(agg["bucket"].max())
    if last - first < 10 * step:
        middle = first + (last - first) / 2
        fig.update_xaxes(range=[middle - 5 * step, middle + 5 * step])
    fig.update_xaxes(tickformat=_TIME_TICKS.get(bucket, "%b %d %H:%M"))
    # The legend under the axis title, not on it.
    fig.update_layout(margin={"b": 130}, legend={"y": -0.3})
    _note(fig, "Successful calls; cold and warm apart where the service reports cold starts.")
    return fig


_TIME_TICKS = {"minute": "%H:%M<br>%b %d", "hour": "%H:00<br>%b %d", "day": "%b %d"}


SIZE_TITLE = "Does latency grow with image size? Latency (ms) vs image size (megapixels)"


def latency_vs_size(agg: pd.DataFrame, legend: Legend | None = None) -> go.Figure:
    """Scatter (WebGL) of latency against the uploaded image's megapixels (analytics.latency_vs_size). The legend
    gives each group's n and Spearman rank correlation ρ."""
    if agg.empty:
        return empty_figure(SIZE_TITLE)
    legend = _legend(agg, legend)
    fig = go.Figure()
    grouped = agg.groupby(["provider", "temperature"], observed=True, sort=True)
    for (provider, temperature), part in grouped:
        x = part["image_megapixels"].to_numpy(np.float64)
        y = part["latency_ms"].to_numpy(np.float64)
        rho = stats.spearmanr(x, y).statistic if x.size > 2 and np.ptp(x) > 0 and np.ptp(y) > 0 else np.nan
        _, _, symbol = TEMPERATURE_STYLE[str(temperature)]
        correlation = f", ρ={rho:.2f}" if np.isfinite(rho) else ""
        label = f"{legend.title(provider)} · {temperature} (n={x.size:,}{correlation})"
        fig.add_trace(
            go.Scattergl(
                x=x.astype(np.float32),
                y=y.astype(np.float32),
                mode="markers",
                name=label,
                marker={"color": legend.color(provider), "symbol": symbol, **POINT_MARKER},
                hovertemplate="%{x:.2f} MP · %{y:,.0f} ms<extra>%{fullData.name}</extra>",
            )
        )
    log = _latency_yaxis(fig, agg["latency_ms"].to_numpy(np.float64))
    _layout(fig, SIZE_TITLE, "Uploaded image size (megapixels)", _latency_axis("Latency per call", log))
    fig.update_xaxes(tickformat=",~f", ticksuffix=" MP", rangemode="tozero")
    _note(fig, "Successful calls; ρ: Spearman rank correlation. Each service resizes the image before sending it.")
    return fig


# --- cold starts ----------------------------------------------------------------------------------------------------


def _cold_title(agg: pd.DataFrame, legend: Legend | None) -> str:
    providers = [str(p) for p in agg["provider"]]
    who = (legend or Legend()).title(providers[0]) if len(providers) == 1 else "each model"
    return f"How often does {who} start cold? Share of calls that were cold starts (%)"


def cold_start_rate(agg: pd.DataFrame, legend: Legend | None = None) -> go.Figure:
    """Bar of the cold-start rate per reporting target, with its Wilson interval (analytics.cold_start_rate); each
    bar's label sits above its error bar."""
    title = _cold_title(agg, legend)
    if agg.empty:
        return empty_figure(title)
    legend = _legend(agg, legend)
    rate = agg["rate"].to_numpy(np.float64) * 100
    high = agg["wilson_high"].to_numpy(np.float64) * 100
    low = agg["wilson_low"].to_numpy(np.float64) * 100
    x = [_axis_label(legend, p, n) for p, n in zip(agg["provider"], agg["n"])]
    labels = [f"{_pct(r)} {_of(c, n)}" for r, c, n in zip(agg["rate"], agg["cold"], agg["n"])]
    fig = go.Figure(
        go.Bar(
            x=x,
            y=rate,
            error_y={"type": "data", "symmetric": False, "array": high - rate, "arrayminus": rate - low},
            marker={"color": [legend.color(p) for p in agg["provider"]]},
            text=labels,
            textposition="none",
            customdata=np.column_stack([agg["cold"].to_numpy(), agg["n"].to_numpy()]),
            hovertext=[
                f"{_pct(r)} cold: {formatting.count(c)} of {formatting.count(n, 'call')}"
                f"<br>95% interval {_pct(lo / 100)} to {_pct(hi / 100)}"
                for r, c, n, lo, hi in zip(agg["rate"], agg["cold"], agg["n"], low, high)
            ],
            hovertemplate="%{hovertext}<extra></extra>",
        )
    )
    _label_above(fig, x, np.fmax(high, rate), labels)
    _layout(fig, title, None, "Cold starts (% of successful calls)", showlegend=False)
    _rate_yaxis(fig, float(np.nanmax(np.fmax(high, rate))) if len(rate) else 0.0)
    _note(fig, "Error bars: 95% Wilson interval. Only models whose service reports cold starts.")
    return fig


PENALTY_TITLE = "What does a cold start cost? Median latency, warm vs cold (ms)"


def cold_start_penalty(agg: pd.DataFrame, legend: Legend | None = None) -> go.Figure:
    """Median warm and cold latency side by side per reporting provider (analytics.cold_start_penalty)."""
    if agg.empty:
        return empty_figure(PENALTY_TITLE)
    legend = _legend(agg, legend)
    labels = [legend.title(p) for p in agg["provider"]]
    fig = go.Figure()
    for temperature in ("warm", "cold"):
        fill, _, _ = TEMPERATURE_STYLE[temperature]
        p50 = agg[f"p50_{temperature}"].to_numpy(np.float64)
        n = agg[f"n_{temperature}"].to_numpy()
        none = f"no {temperature} calls"
        if temperature == "cold":
            text = [
                formatting.duration_ms(v, unknown=none)
                + (f" (+{formatting.duration_ms(d)}, {formatting.ratio(r)})" if np.isfinite(d) else "")
                for v, d, r in zip(p50, agg["penalty_ms"], agg["penalty_ratio"])
            ]
        else:
            text = [formatting.duration_ms(v, unknown=none) for v in p50]
        fig.add_trace(
            go.Bar(
                x=labels,
                y=p50,
                name=f"{temperature} (median)",
                marker={
                    "color": [_rgba(legend.color(p), 1.0 if temperature == "cold" else 0.5) for p in agg["provider"]],
                    "pattern": {"shape": "/" if temperature == "cold" else ""},
                },
                text=text,
                textposition="outside",
                cliponaxis=False,
                customdata=n,
                hovertext=[
                    f"{temperature}: median {formatting.duration_ms(v, unknown=none)}, n={formatting.count(k)}"
                    for v, k in zip(p50, n)
                ],
                hovertemplate="%{hovertext}<extra></extra>",
            )
        )
    counts = (agg["n_cold"] + agg["n_warm"]).to_numpy()
    fig.update_xaxes(tickvals=labels, ticktext=[_axis_label(legend, p, int(n)) for p, n in zip(agg["provider"], counts)])
    _layout(fig, PENALTY_TITLE, None, "Median latency (ms)", barmode="group")
    fig.update_yaxes(tickformat=",~f", rangemode="tozero")
    _note(fig, "Successful calls. Penalty: cold median minus warm median.")
    return fig


# --- cost and tokens ------------------------------------------------------------------------------------------------

COST_TITLE = "What does an image cost per model? (USD per 1,000 images)"


def cost_per_image(agg: pd.DataFrame, legend: Legend | None = None) -> go.Figure:
    """Bar of USD per 1,000 images per target (analytics.cost_per_image)."""
    if agg.empty:
        return empty_figure(COST_TITLE)
    legend = _legend(agg, legend)
    fig = go.Figure(
        go.Bar(
            x=[_axis_label(legend, p, n) for p, n in zip(agg["provider"], agg["n"])],
            y=agg["per_1000_images_usd"].to_numpy(np.float64),
            marker={"color": [legend.color(p) for p in agg["provider"]]},
            text=[formatting.money(v) for v in agg["per_1000_images_usd"]],
            textposition="outside",
            cliponaxis=False,
            customdata=np.column_stack(
                [agg["n"].to_numpy(), agg["mean_usd"].to_numpy(), agg["p50_usd"].to_numpy(), agg["total_usd"].to_numpy()]
            ),
            hovertext=[
                f"{formatting.money_per_1000(mean)}<br>mean {formatting.money(mean)} · median {formatting.money(p50)}"
                f" per image<br>total {formatting.money(total)} over {formatting.count(n, 'image')}"
                for mean, p50, total, n in zip(agg["mean_usd"], agg["p50_usd"], agg["total_usd"], agg["n"])
            ],
            hovertemplate="%{hovertext}<extra></extra>",
        )
    )
    _layout(fig, COST_TITLE, None, "USD per 1,000 images", showlegend=False)
    top = float(np.nanmax(agg["per_1000_images_usd"].to_numpy(np.float64), initial=0.0))
    # Cents from ten cents up ("$0.80"); below that plotly's own precision, without exponent, so no tick reads $0.
    fig.update_yaxes(
        tickprefix="$", exponentformat="none", separatethousands=True, rangemode="tozero",
        tickformat=",.2f" if top >= 0.1 else None,
    )
    unpriced = int(agg["n_unpriced"].sum()) if "n_unpriced" in agg else 0
    _note(fig, "Successful calls with a known cost" + (f"; {unpriced:,} without one left out." if unpriced else "."))
    return fig


TOKENS_TITLE = "How many tokens does each model use per image? Mean tokens per call"
_TOKEN_KINDS = (
    ("mean_input_tokens", "input (image included)", ""),
    ("mean_output_tokens", "output", "/"),
    ("mean_image_tokens", "image (estimated part of input)", "."),
)


def tokens_per_provider(agg: pd.DataFrame, legend: Legend | None = None) -> go.Figure:
    """Grouped bars of mean input, output and image tokens per provider (analytics.tokens_per_provider)."""
    if agg.empty:
        return empty_figure(TOKENS_TITLE)
    legend = _legend(agg, legend)
    x = [_axis_label(legend, p, n) for p, n in zip(agg["provider"], agg["n"])]
    fig = go.Figure()
    for column, label, shape in _TOKEN_KINDS:
        values = agg[column].to_numpy(np.float64)
        fig.add_trace(
            go.Bar(
                x=x,
                y=values,
                name=label,
                marker=_patterned(agg["provider"], legend, shape),
                text=["" if not np.isfinite(v) else formatting.count(v) for v in values],
                textposition="outside",
                cliponaxis=False,
                customdata=agg["n"].to_numpy(),
                hovertext=[
                    f"{label}: {formatting.count(v, unknown='not reported')} tokens per call"
                    f" (mean of n={formatting.count(n)})"
                    for v, n in zip(values, agg["n"])
                ],
                hovertemplate="%{hovertext}<extra></extra>",
            )
        )
    _layout(fig, TOKENS_TITLE, None, "Tokens per image (mean)", barmode="group")
    fig.update_yaxes(tickformat=",~f", rangemode="tozero")
    _note(fig, "Successful calls that report tokens. Input tokens include the image's.")
    return fig


# --- failures and accuracy ------------------------------------------------------------------------------------------

ERRORS_TITLE = "How often does each model fail or throttle? Share of calls (%)"
_FAILURE_KINDS = (
    ("error_rate", "errors", "failed", ""),
    ("throttle_rate", "throttled", "failed throttled (after retries)", "/"),
    ("retry_rate", "retried", "needed a retry", "."),
)


def error_rates(agg: pd.DataFrame, legend: Legend | None = None) -> go.Figure:
    """Grouped bars of the error, throttle and retry rates per target (analytics.error_rates), in percent. Labels
    are the rates alone (three grouped labels with counts would run into each other); counts are in the hover."""
    if agg.empty:
        return empty_figure(ERRORS_TITLE)
    legend = _legend(agg, legend)
    x = [_axis_label(legend, p, n) for p, n in zip(agg["provider"], agg["n"])]
    fig = go.Figure()
    top = 0.0
    for rate_column, count_column, label, shape in _FAILURE_KINDS:
        if rate_column not in agg:
            continue
        rate = agg[rate_column].to_numpy(np.float64)
        counts = agg[count_column].to_numpy()
        fig.add_trace(
            go.Bar(
                x=x,
                y=rate * 100,
                name=label,
                marker=_patterned(agg["provider"], legend, shape),
                text=[_pct(r) for r in rate],
                textposition="outside",
                cliponaxis=False,
                customdata=np.column_stack([counts, agg["n"].to_numpy()]),
                hovertext=[f"{label}: {_pct(r)} {_of(c, n, 'call')}" for r, c, n in zip(rate, counts, agg["n"])],
                hovertemplate="%{hovertext}<extra></extra>",
            )
        )
        top = max(top, float(np.nanmax(rate * 100, initial=0.0)))
    _layout(fig, ERRORS_TITLE, None, "Share of calls (%)", barmode="group")
    _rate_yaxis(fig, top)
    _note(fig, "All calls. A call retried and then answered counts as retried, not failed.")
    return fig


ACCURACY_TITLE = "How accurate is each model on labelled images? Correct answers (%)"


def accuracy(agg: pd.DataFrame, legend: Legend | None = None) -> go.Figure:
    """Bars of accuracy with 95% Wilson intervals per target (analytics.accuracy); each bar's label sits above
    its error bar."""
    if agg.empty:
        return empty_figure(ACCURACY_TITLE)
    legend = _legend(agg, legend)
    value = agg["accuracy"].to_numpy(np.float64) * 100
    high = agg["wilson_high"].to_numpy(np.float64) * 100
    low = agg["wilson_low"].to_numpy(np.float64) * 100
    x = [_axis_label(legend, p, n) for p, n in zip(agg["provider"], agg["n_scored"])]
    labels = [f"{_pct(a)} {_of(c, n)}" for a, c, n in zip(agg["accuracy"], agg["correct"], agg["n_scored"])]
    fig = go.Figure(
        go.Bar(
            x=x,
            y=value,
            error_y={"type": "data", "symmetric": False, "array": high - value, "arrayminus": value - low},
            marker={"color": [legend.color(p) for p in agg["provider"]]},
            text=labels,
            textposition="none",
            customdata=np.column_stack([agg["correct"].to_numpy(), agg["n_scored"].to_numpy(), low, high]),
            hovertext=[
                f"{_pct(a)} correct {_of(c, n, 'labelled image')}<br>95% interval {_pct(lo / 100)} to {_pct(hi / 100)}"
                for a, c, n, lo, hi in zip(agg["accuracy"], agg["correct"], agg["n_scored"], low, high)
            ],
            hovertemplate="%{hovertext}<extra></extra>",
        )
    )
    _label_above(fig, x, np.fmax(high, value), labels)
    _layout(fig, ACCURACY_TITLE, None, "Correct answers (% of labelled images)", showlegend=False)
    _rate_yaxis(fig, 100.0, full=True)
    _note(fig, "Error bars: 95% Wilson interval. A failed call counts as not correct.")
    return fig


# --- all of them ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChartSpec:
    key: str  # stable id (div ids in the report, widget keys)
    build: Callable[[pd.DataFrame, Legend | None], go.Figure]  # the result frame (filtered), a legend -> figure


ALL_CHARTS: tuple[ChartSpec, ...] = (
    ChartSpec("latency", latency_distribution),
    ChartSpec("latency_over_time", lambda df, lg: latency_over_time(analytics.latency_over_time(df), lg)),
    ChartSpec("latency_vs_size", lambda df, lg: latency_vs_size(analytics.latency_vs_size(df), lg)),
    ChartSpec("ttft", lambda df, lg: ttft_distribution(df, lg)),  # streaming charts: defined further down
    ChartSpec("output_rate", lambda df, lg: output_rate(df, lg)),
    ChartSpec("anatomy", lambda df, lg: anatomy_per_target(df, lg)),
    ChartSpec("cold_start_penalty", lambda df, lg: cold_start_penalty(analytics.cold_start_penalty(df), lg)),
    ChartSpec("cold_start_rate", lambda df, lg: cold_start_rate(analytics.cold_start_rate(df), lg)),
    ChartSpec("cost_per_image", lambda df, lg: cost_per_image(analytics.cost_per_image(df), lg)),
    ChartSpec("tokens", lambda df, lg: tokens_per_provider(analytics.tokens_per_provider(df), lg)),
    ChartSpec("errors", lambda df, lg: error_rates(analytics.error_rates(df), lg)),
    ChartSpec("accuracy", lambda df, lg: accuracy(analytics.accuracy(df), lg)),
)


def build_all(df: pd.DataFrame, legend: Legend | None = None) -> dict[str, go.Figure]:
    """Every chart of the (filtered) result frame, by key, in display order; without a legend, the frame's own
    (its ids, named by their stored titles)."""
    legend = legend or legend_for(df)
    return {spec.key: spec.build(df, legend) for spec in ALL_CHARTS}


# --- streaming: time to first token, output speed, where a call's time goes --------------------------------------
# From the result frame's ttft_ms, output_tokens_per_s and anatomy columns (queue_ms, prepare_ms, service_ms,
# network_ms: records.anatomy of each result), and for one result on its Compare card. TTFT and output speed exist
# for streamed calls only (never estimated): a selection with answers but none streamed says so.

TTFT_TITLE = "How long until the first words? Time to first token per call (ms)"
OUTPUT_RATE_TITLE = "How fast do the words come after the first? Output tokens per second per call"
ANATOMY_TITLE = "Where does the time go? Median of each part of a call (ms)"
CALL_ANATOMY_TITLE = "Where did the time go?"
NOT_STREAMED_TEXT = "No streamed answers in this selection:<br>time to first token and output speed are measured on streamed calls only"
NO_ANATOMY_TEXT = "No result in this selection recorded the parts of its call"
# The parts of a call, in records.anatomy's order: what each is called and its bars' pattern (in the target's colour).
ANATOMY_PARTS: dict[str, tuple[str, str]] = {
    "queue_ms": ("waiting for a slot", "."),
    "prepare_ms": ("preparing the image", "x"),
    "service_ms": ("the service's own time", ""),
    "network_ms": ("network and client", "/"),
}
UNREPORTED_SERVICE = "network and client, with the service's own time (it reports none)"
# Dashes across each box (name, quantile, line width): the slow tail, high for a time, low for a speed.
SLOW_TAIL_TIME = (("p95", 0.95, 3.0), ("p99", 0.99, 1.5))
SLOW_TAIL_SPEED = (("p5", 0.05, 3.0), ("p1", 0.01, 1.5))
MARK_COLOR = "#3A4656"
PART_KEY_COLOR = "#5b6776"  # the parts' legend keys: their patterns in a neutral grey, the bars in the targets' colours


def _empty_because(title: str, reason: str) -> go.Figure:
    """The empty figure, saying why this selection gives nothing to draw."""
    fig = empty_figure(title)
    fig.update_annotations(text=reason)
    return fig


def _part_bar(providers: Sequence[str], legend: Legend, part: str) -> dict[str, Any]:
    """How a part of a call is drawn: its pattern in each target's colour on a light tint of it (the service's own
    time solid), its label dark on the tint and white on the solid colour."""
    _, shape = ANATOMY_PARTS[part]
    colors = [legend.color(p) for p in providers]
    if not shape:
        return {"marker": {"color": colors}, "insidetextfont": {"color": "white"}}
    pattern = {"shape": shape, "bgcolor": [_rgba(c, 0.14) for c in colors], "fgcolor": colors, "solidity": 0.3}
    return {
        "marker": {"color": colors, "pattern": pattern},
        "insidetextfont": {"color": "#1d2733", "shadow": "0 0 3px white, 0 0 3px white"},
    }


def _part_keys(fig: go.Figure, parts: Iterable[str], names: Mapping[str, str] | None = None, color: str = PART_KEY_COLOR) -> None:
    """Legend keys of the parts, each its pattern: in grey where the bars carry several targets' colours (a key in
    one of them would misname the others), in the target's colour for one target's bar."""
    for part in parts:
        name, shape = ANATOMY_PARTS[part]
        fig.add_trace(
            go.Bar(
                x=[None], y=[None], orientation="h", name=(names or {}).get(part, name), hoverinfo="skip",
                marker={"color": color, "pattern": {"shape": shape, "bgcolor": _rgba(color, 0.14), "solidity": 0.3}}
                if shape else {"color": color},
            )
        )  # fmt: skip


def _per_call_boxes(
    df: pd.DataFrame, column: str, title: str, legend: Legend | None, show: Callable[[float], str], tail: tuple
) -> go.Figure | None:
    """A box per target (and per temperature, where the service reports cold starts) of a per-call measure of
    successful calls, the slow tail's percentiles (`tail`) marked across each box, p50 and the first of them
    under its name; None when no successful call has the measure."""
    groups = analytics.sorted_groups(analytics.successful(df, ["provider", "temperature", column]), ["provider", "temperature"], column)
    if groups.counts.size == 0:
        return None
    legend = _legend(df, legend)
    fig = go.Figure()
    marks: dict[str, tuple[list[str], list[float], list[str]]] = {name: ([], [], []) for name, _, _ in tail}
    p50 = groups.quantile(0.5)
    large = False
    for i, (provider, temperature) in enumerate(groups.keys.itertuples(index=False)):
        values = groups.group_values(i)
        n = int(values.size)
        reported = str(temperature) != "not reported"
        fill, _, _ = TEMPERATURE_STYLE[str(temperature)]
        color = legend.color(provider)
        large |= n > POINTS_LIMIT
        quantiles = {name: float(groups.quantile(q)[i]) for name, q, _ in tail}
        first = tail[0][0]
        label = (
            _axis_label(legend, provider, n, str(temperature) if reported else "")
            + f"<br>p50 {show(p50[i])} · {first} {show(quantiles[first])}"
        )
        fig.add_trace(
            _box(
                values, label, f"{legend.title(provider)}{' · ' + str(temperature) if reported else ''} (n={n:,})",
                color, fill, provider, showlegend=False,
            )  # fmt: skip
        )
        for name, _, _ in tail:
            xs, ys, texts = marks[name]
            xs.append(label)
            ys.append(quantiles[name])
            texts.append(f"{legend.title(provider)}: {name} {show(quantiles[name])} (n={formatting.count(n)})")
    for name, _, width in tail:
        xs, ys, texts = marks[name]
        fig.add_trace(
            go.Scatter(
                x=xs, y=ys, mode="markers", name=name,
                marker={"symbol": "line-ew", "size": 34, "color": MARK_COLOR, "line": {"color": MARK_COLOR, "width": width}},
                hovertext=texts, hovertemplate="%{hovertext}<extra></extra>",
            )
        )  # fmt: skip
    _layout(fig, title, None, "")
    # Four lines of labels under each box: the key of the marks below them, at the foot of the figure.
    fig.update_layout(
        margin={"b": 150},
        legend={"title": {"text": "Marked across each box:", "side": "left"}, "yref": "container", "y": 0.02, "yanchor": "bottom"},
    )
    _note(
        fig,
        "Successful streamed calls; box: quartiles and median, dashed line: mean. Each dot is one call"
        + (f"; groups of more than {POINTS_LIMIT:,} calls show only their outliers." if large else "."),
    )
    return fig


def ttft_distribution(df: pd.DataFrame, legend: Legend | None = None) -> go.Figure:
    """Time to first token of successful streamed calls (the result frame's ttft_ms): a box per target, cold and
    warm apart where the service reports cold starts, p95 and p99 marked."""
    if analytics.successful(df, ["status"]).empty:
        return empty_figure(TTFT_TITLE)
    fig = _per_call_boxes(df, "ttft_ms", TTFT_TITLE, legend, formatting.duration_ms, SLOW_TAIL_TIME)
    if fig is None:
        return _empty_because(TTFT_TITLE, NOT_STREAMED_TEXT)
    log = _latency_yaxis(fig, analytics.successful(df, ["ttft_ms"])["ttft_ms"].to_numpy(np.float64))
    fig.update_yaxes(title_text=_latency_axis("Time to first token", log))
    return fig


def output_rate(df: pd.DataFrame, legend: Legend | None = None) -> go.Figure:
    """Output tokens per second after the first token, of successful streamed calls (output_tokens_per_s): a box per
    target, cold and warm apart where reported, p5 and p1 marked (the slow tail of a speed is its low end)."""
    if analytics.successful(df, ["status"]).empty:
        return empty_figure(OUTPUT_RATE_TITLE)
    fig = _per_call_boxes(df, "output_tokens_per_s", OUTPUT_RATE_TITLE, legend, formatting.tokens_per_s, SLOW_TAIL_SPEED)
    if fig is None:
        return _empty_because(OUTPUT_RATE_TITLE, NOT_STREAMED_TEXT)
    fig.update_yaxes(title_text="Output speed (tokens/s)", tickformat=",~f", hoverformat=",.1f", rangemode="tozero")
    return fig


def anatomy_per_target(df: pd.DataFrame, legend: Legend | None = None) -> go.Figure:
    """A stacked bar per target of the median of each part of its successful calls (records.anatomy: waiting for a
    slot, preparing the image, the service's own time where it reports one, network and client)."""
    parts = list(ANATOMY_PARTS)
    ok = analytics.successful(df, ["provider", *parts])
    if ok.empty:
        return empty_figure(ANATOMY_TITLE)
    ok = ok.loc[ok[parts].notna().any(axis=1).to_numpy()]
    if ok.empty:
        return _empty_because(ANATOMY_TITLE, NO_ANATOMY_TEXT)
    legend = _legend(df, legend)
    grouped = ok.groupby("provider", observed=True, sort=True)
    medians, counts, calls = grouped[parts].median(), grouped[parts].count(), grouped.size()
    providers = [str(p) for p in medians.index]
    labels = [_axis_label(legend, p, int(calls.iloc[i])) for i, p in enumerate(providers)]
    no_service = medians["service_ms"].isna().to_numpy()
    fig = go.Figure()
    for part, (name, shape) in ANATOMY_PARTS.items():
        values = medians[part].to_numpy(np.float64)
        if not np.isfinite(values).any():
            continue
        names = [UNREPORTED_SERVICE if part == "network_ms" and unreported else name for unreported in no_service]
        fig.add_trace(
            go.Bar(
                x=values, y=labels, orientation="h", name=name, showlegend=False,
                **_part_bar(providers, legend, part),
                text=["" if not np.isfinite(v) else formatting.duration_ms(v) for v in values],
                textposition="inside", insidetextanchor="middle", textangle=0,  # level, or hidden where it does not fit
                customdata=counts[part].to_numpy(),
                hovertext=[
                    f"{legend.title(p)}, {what}: median {formatting.duration_ms(v, unknown='not reported')}"
                    f" (n={formatting.count(k)})"
                    for p, what, v, k in zip(providers, names, values, counts[part])
                ],
                hovertemplate="%{hovertext}<extra></extra>",
            )
        )  # fmt: skip
    drawn = [part for part in ANATOMY_PARTS if medians[part].notna().any()]
    _part_keys(fig, drawn)
    _layout(fig, ANATOMY_TITLE, "Median time per call (ms)", "", barmode="stack")
    fig.update_layout(legend={"traceorder": "normal"})
    fig.update_xaxes(tickformat=",~f", rangemode="tozero")
    fig.update_yaxes(autorange="reversed")  # the catalogue's order from the top
    fig.update_layout(
        height=max(340, 210 + 80 * len(providers)), margin={"b": 130}, uniformtext={"minsize": 10, "mode": "hide"},
        legend={"yref": "container", "y": 0.07, "yanchor": "bottom"},
    )  # fmt: skip
    _note(fig, "Successful calls; each part's median: they need not add up to the median latency.")
    if no_service.any():
        silent = [legend.title(p) for p, unreported in zip(providers, no_service) if unreported]
        said = (
            f"{silent[0]} reports no service time of its own: it is inside network and client."
            if len(silent) == 1
            else f"{', '.join(silent[:-1])} and {silent[-1]} report no service time of their own: it is inside network and client."
        )
        lines = textwrap.wrap(said, 120)  # wrapped: one line would run off a 1,024 px page
        if len(lines) > 1:  # the legend keys above the note move up by its extra lines
            height = fig.layout.height
            fig.update_layout(legend={"y": (0.07 * height + 15 * (len(lines) - 1)) / height})
        fig.add_annotation(
            text="<br>".join(lines),
            xref="paper", yref="paper", x=0, y=(6 - 130) / (fig.layout.height - 70 - 130), xanchor="left", yanchor="bottom",
            showarrow=False, font={"size": 11, "color": "#555"}, align="left",
        )  # fmt: skip
    return fig


def call_anatomy(result: Any, legend: Legend | None = None) -> go.Figure:
    """One call's parts (records.anatomy of a ProviderResult or a stored result item) as one stacked bar, from the
    start (waiting for a slot) to the whole answer; a dashed line where the first words arrived, when streamed."""
    from . import records

    def field_of(name: str) -> Any:
        return result.get(name) if isinstance(result, Mapping) else getattr(result, name, None)

    parts = records.anatomy(result)
    if not parts:
        return _empty_because(CALL_ANATOMY_TITLE, "No timings were recorded for this call")
    provider = str(field_of("provider"))
    legend = (legend or Legend()).covering([provider])
    total = float(sum(parts.values()))
    fig = go.Figure()
    names: dict[str, str] = {}
    for part, value in parts.items():
        name = UNREPORTED_SERVICE if part == "network_ms" and "service_ms" not in parts else ANATOMY_PARTS[part][0]
        names[part] = f"{name}: {formatting.duration_ms(value)}"
        fig.add_trace(
            go.Bar(
                x=[value], y=[""], orientation="h", name=names[part], showlegend=False,
                **_part_bar([provider], legend, part),
                text=[formatting.duration_ms(value)], textposition="inside", insidetextanchor="middle", textangle=0,
                hovertext=[f"{name}: {formatting.duration_ms(value)} ({formatting.percent(value / total if total else 0)})"],
                hovertemplate="%{hovertext}<extra></extra>",
            )
        )  # fmt: skip
    _part_keys(fig, parts, names, legend.color(provider))
    _layout(fig, f"{CALL_ANATOMY_TITLE} {formatting.duration_ms(total)} in all", "Time from the start (ms)", "", barmode="stack")
    ttft = field_of("ttft_ms")
    if not formatting.missing(ttft):
        first = parts.get("queue_ms", 0.0) + parts.get("prepare_ms", 0.0) + float(ttft)
        fig.add_vline(
            x=first, line={"color": MARK_COLOR, "dash": "dash", "width": 1.5},
            annotation={"text": f"first words at {formatting.duration_ms(first)}", "font": {"size": 11}},
            annotation_position="top",
        )  # fmt: skip
    fig.update_xaxes(tickformat=",~f", rangemode="tozero")
    fig.update_yaxes(showticklabels=False, showgrid=False)
    fig.update_layout(
        height=320, margin={"l": 20, "r": 20, "t": 60, "b": 150}, bargap=0.35,
        legend={"orientation": "v", "yref": "container", "yanchor": "bottom", "y": 0.02, "x": 0, "traceorder": "normal"},
        uniformtext={"minsize": 10, "mode": "hide"},
    )  # fmt: skip
    return fig


# --- the quality scorecard ------------------------------------------------------------------------------------------
# Figures of a scorecard (mcv_core.scorecard), read through its `to_json()` document: the issue's `scorecard --json`
# shape, the contract every view of the scorecard shares.

DOMINATED_COLOR = "#B4BCC7"  # lighter than the palette's own grey (#7F7F7F), so a dominated target never passes for one
FRONT_LINE = "#3A4656"
PARETO_TITLE = "Which models are worth it? Quality against cost and p95 latency"
QUALITY_TITLES = {"accuracy": "Accuracy (% of labelled images)", "judge_score": "Judge score (1 to 5)"}


def _doc(scorecard: Any) -> Mapping[str, Any]:
    return scorecard.to_json() if hasattr(scorecard, "to_json") else scorecard


def _number(value: Any) -> float:
    return float(value) if not formatting.missing(value) else np.nan


def _ci(value: Any) -> tuple[float, float]:
    if value is None or len(value) != 2:
        return np.nan, np.nan
    return _number(value[0]), _number(value[1])


def quality_text(metric: str, value: Any, ci: Any = None, n: Any = None) -> str:
    """A quality figure as people read it, with its 95% interval and n: "80% (49%–94%) n=10", "3.4 (2.9–3.9) n=12"."""
    if metric == "accuracy":
        shown = formatting.interval(value, ci, formatting.percent, unknown="no labelled results")
    else:
        shown = formatting.interval(value, ci, lambda v: formatting.number(v, 2), unknown="not judged")
    return shown if formatting.missing(value) or formatting.missing(n) else f"{shown} n={formatting.count(n)}"


def quality_of(row: Mapping[str, Any], metric: str) -> tuple[float, tuple[float, float], Any]:
    """A scorecard row's quality on `metric`: (value, (ci low, ci high), n behind it), values as floats (NaN)."""
    if metric == "accuracy":
        return _number(row.get("accuracy")), _ci(row.get("accuracy_ci")), row.get("n_scored", row.get("n"))
    return _number(row.get("judge_score")), _ci(row.get("judge_ci")), row.get("n_judged", row.get("n"))


def _front_steps(x: np.ndarray, y: np.ndarray) -> tuple[list[float], list[float]]:
    """The staircase of the best quality to be had at a given x or less (x: cost or latency, lower is better),
    through the front targets' points: sorted by x, a point is a step when its quality beats every cheaper one."""
    order = np.lexsort((-y, x))
    steps_x: list[float] = []
    steps_y: list[float] = []
    best = -np.inf
    for i in order:
        if y[i] > best:
            steps_x.append(float(x[i]))
            steps_y.append(float(y[i]))
            best = y[i]
    return steps_x, steps_y


def money_tick(usd: float) -> str:
    """A tick of a cost axis: formatting's money without the trailing zero of its two significant digits
    ("$0.005", "$0.02", "$0.50", "$2")."""
    text = formatting.money(usd)
    if float(usd) < 0.01:
        text = text.rstrip("0").rstrip(".")
    return text.removesuffix(".00")


def _thinned(tickvals: list[float]) -> list[float]:
    """1-2-5 ticks over many decades crowd a narrow panel: keep 1-5 steps, then decades alone."""
    for keep in ((1, 2, 5), (1, 5), (1,)):
        kept = [v for v in tickvals if round(v / 10 ** np.floor(np.log10(v) + 1e-9)) in keep]
        if len(kept) <= 5:
            return kept
    return kept


def _padded(values: np.ndarray, log: bool, right: float) -> list[float]:
    """An x range around `values` with room on the right for the points' names (`right`: a share of the span)."""
    if log:
        low, high = np.log10(values.min()), np.log10(values.max())
        span = max(high - low, 0.5)
        return [low - 0.12 * span, high + right * span]
    high = float(values.max()) if values.size else 1.0
    return [0.0, high * (1 + right) if high > 0 else 1.0]


def _money_axis(fig: go.Figure, values: np.ndarray, col: int) -> bool:
    """A cost axis: logarithmic with 1-2-5 ticks in dollars when the costs span more than LOG_RATIO (a
    classifier at a thousandth of an LLM's price), else linear from zero. Returns whether it is logarithmic."""
    log = values.size > 1 and bool((values > 0).all()) and _log_axis(values)
    if log:
        tickvals = _thinned(log_ticks(values)[0])
        fig.update_xaxes(
            type="log", tickmode="array", tickvals=tickvals, ticktext=[money_tick(v) for v in tickvals],
            range=_padded(values, True, 0.35), row=1, col=col,
        )  # fmt: skip
    else:
        fig.update_xaxes(
            tickprefix="$", exponentformat="none", separatethousands=True, range=_padded(values, False, 0.35), row=1, col=col
        )
    return log


def _duration_axis(fig: go.Figure, values: np.ndarray, col: int) -> bool:
    log = bool((values > 0).all()) and _log_axis(values)
    if log:
        tickvals = _thinned(log_ticks(values)[0])
        fig.update_xaxes(
            type="log", tickmode="array", tickvals=tickvals, ticktext=[duration_tick(v) for v in tickvals],
            range=_padded(values, True, 0.35), row=1, col=col,
        )  # fmt: skip
    else:
        span = _padded(values, False, 0.35)
        raw = span[1] / 5
        step = min((m * 10.0**e for e in range(0, 8) for m in (1, 2, 5) if m * 10.0**e >= raw), default=raw)
        tickvals = [float(v) for v in np.arange(0, span[1], step)]
        fig.update_xaxes(
            tickmode="array", tickvals=tickvals, ticktext=[duration_tick(v) if v else "0" for v in tickvals],
            range=span, row=1, col=col,
        )  # fmt: skip
    return log


def pareto_chart(scorecard: Any, legend: Legend | None = None) -> go.Figure:
    """Quality (accuracy or judge score, as the scorecard's `quality_metric`) against cost per 1,000 images (left)
    and against p95 latency (right), one point per target with its quality's 95% interval. Targets on the
    Pareto front (the scorecard's `pareto`) in their colours and named; dominated ones grey. In each panel the
    front's staircase: the best quality to be had at that cost (or latency) or less. Targets without a quality,
    a cost or a latency are left out of the panel that needs it, and the note says which."""
    from plotly.subplots import make_subplots

    doc = _doc(scorecard)
    metric = str(doc.get("quality_metric") or "accuracy")
    rows = [r for r in doc.get("targets", [])]
    legend = (legend or Legend()).covering([r["target"] for r in rows])
    quality = np.array([quality_of(r, metric)[0] for r in rows], dtype=np.float64)
    if not rows or not np.isfinite(quality).any():
        fig = empty_figure(PARETO_TITLE)
        if rows:  # results, but no quality figure to place them by
            fig.update_annotations(text="No quality figure yet: score labelled images (the sample set) or run the judge")
        return fig
    fig = make_subplots(
        rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.06,
        subplot_titles=("against cost per 1,000 images", "against p95 latency (warm calls)"),
    )  # fmt: skip
    _layout(fig, PARETO_TITLE, None, QUALITY_TITLES[metric])
    scale = 100.0 if metric == "accuracy" else 1.0  # accuracy drawn 0 to 100 with "%" ticks, as every rate
    front = np.array([bool(r.get("pareto")) for r in rows])
    panels = (
        ("cost_per_1k_usd", 1, "Cost per 1,000 images (USD", "no price"),
        ("p95_ms", 2, "p95 latency, warm calls (ms or s", "no latency"),
    )
    left_out: dict[str, list[str]] = {  # target title -> why it is missing from a panel
        legend.title(r["target"]): [f"no {'accuracy on labelled images' if metric == 'accuracy' else 'judge score'}"]
        for r, q in zip(rows, quality)
        if not np.isfinite(q)
    }
    hover = []
    for r, q in zip(rows, quality):
        value, ci, n = quality_of(r, metric)
        hover.append(
            f"<b>{legend.title(r['target'])}</b>"
            f"<br>{QUALITY_TITLES[metric].split(' (')[0]}: {quality_text(metric, value, ci, n)}"
            f"<br>Cost: {formatting.money_per_1000(_number(r.get('cost_per_1k_usd')) / 1000)}"
            f"<br>p95 latency: {formatting.duration_ms(r.get('p95_ms'), unknown='no successful warm calls')}"
            f"<br>n={formatting.count(r.get('n'))} results"
            f"<br>{'on the Pareto front' if r.get('pareto') else 'dominated: another model is as good on all three and better on one'}"
        )
    for column, col, axis_title, why in panels:
        x = np.array([_number(r.get(column)) for r in rows], dtype=np.float64)
        drawn = np.isfinite(x) & np.isfinite(quality)
        for i in np.flatnonzero(~drawn & np.isfinite(quality)):
            left_out.setdefault(legend.title(rows[i]["target"]), []).append(why)
        if not drawn.any():
            continue
        on = drawn & front
        if on.any():
            steps_x, steps_y = _front_steps(x[on], quality[on] * scale)
            fig.add_trace(
                go.Scatter(
                    x=steps_x, y=steps_y, mode="lines", line={"color": FRONT_LINE, "width": 1.5, "dash": "dash", "shape": "hv"},
                    name="Pareto front", legendgroup="front", showlegend=col == 1, hoverinfo="skip",
                ),
                row=1, col=col,
            )  # fmt: skip
        for i in np.flatnonzero(drawn):
            row = rows[i]
            _, (low, high), _ = quality_of(row, metric)
            y = quality[i] * scale
            color = legend.color(row["target"]) if front[i] else DOMINATED_COLOR
            error = (
                {"type": "data", "symmetric": False, "array": [high * scale - y], "arrayminus": [y - low * scale],
                 "color": _rgba(color, 0.55) if color.startswith("#") else color, "thickness": 1.2, "width": 4}
                if np.isfinite(low) and np.isfinite(high) else None
            )  # fmt: skip
            fig.add_trace(
                go.Scatter(
                    x=[x[i]], y=[y], mode="markers+text",
                    marker={"color": color, "size": 13 if front[i] else 10, "symbol": "circle" if front[i] else "circle-open",
                            "line": {"color": "white" if front[i] else color, "width": 1 if front[i] else 2}},
                    error_y=error,
                    text=[legend.title(row["target"])], textposition="top right",
                    textfont={"color": "#1d2733" if front[i] else "#8A94A1", "size": 12},
                    cliponaxis=False, showlegend=False,
                    customdata=[[row.get("n"), x[i]]],
                    hovertext=[hover[i]], hovertemplate="%{hovertext}<extra></extra>",
                    name=legend.title(row["target"]),
                ),
                row=1, col=col,
            )  # fmt: skip
        log = (_money_axis if col == 1 else _duration_axis)(fig, x[drawn], col)
        fig.update_xaxes(title_text=f"{axis_title}{', log scale' if log else ''})", row=1, col=col)
    # No legend entry per target: each point is named beside it; the legend keys the front's line.
    fig.update_layout(height=500, legend={"orientation": "h", "yanchor": "top", "y": -0.2, "x": 0})
    if metric == "accuracy":
        _rate_yaxis(fig, 100.0, full=True)
    else:
        fig.update_yaxes(range=[0.6, 5.5], tickmode="array", tickvals=[1, 2, 3, 4, 5])
    fig.update_yaxes(title_text=QUALITY_TITLES[metric], row=1, col=1)
    fig.update_annotations(font={"size": 13, "color": "#5b6776"}, selector={"text": "against cost per 1,000 images"})
    fig.update_annotations(font={"size": 13, "color": "#5b6776"}, selector={"text": "against p95 latency (warm calls)"})
    note = (
        "Coloured: on the Pareto front (no other model is at least as good on quality, cost and p95 latency and better"
        "<br>on one); grey: dominated. Bars: 95% interval of the quality. Line: the best quality at that cost or latency."
    )
    extra_lines = 0
    if left_out:
        # Wrapped as the two lines above are, so that it fits a 1,024 px page; the figure grows by its extra lines.
        lines = textwrap.wrap(
            "Not drawn: " + "; ".join(f"{name} ({', '.join(whys)})" for name, whys in left_out.items()) + ".", 110
        )
        note += "<br>" + "<br>".join(lines)
        extra_lines = len(lines) - 1
    fig.add_annotation(
        text=note, xref="paper", yref="paper", x=0, y=-0.32, xanchor="left", yanchor="top",
        showarrow=False, font={"size": 11, "color": "#555"}, align="left",
    )  # fmt: skip
    fig.update_layout(height=500 + 15 * extra_lines, margin={"l": 70, "r": 30, "t": 90, "b": 150 + 15 * extra_lines})
    fig.update_xaxes(tickangle=0)
    return fig


RATINGS_TITLE = "Which answers do people prefer? Rating from blind votes (Bradley-Terry)"


def ratings_chart(ratings: Any, legend: Legend | None = None) -> go.Figure:
    """Each rated target's Bradley-Terry rating on the Elo-like scale with its 95% bootstrap interval, best at the
    top (a quality.Ratings: items, rating, low, high, votes). 1,000 is the average of the rated targets."""
    if ratings is None or not len(ratings.items):
        return empty_figure(RATINGS_TITLE)
    legend = (legend or Legend()).covering(ratings.items)
    order = np.argsort(np.asarray(ratings.rating, dtype=np.float64), kind="stable")  # plotly draws y from the bottom
    items = [ratings.items[i] for i in order]
    rating = np.asarray(ratings.rating, dtype=np.float64)[order]
    low = np.asarray(ratings.low, dtype=np.float64)[order]
    high = np.asarray(ratings.high, dtype=np.float64)[order]
    count = np.asarray(ratings.votes)[order]
    labels = [_axis_label(legend, t, int(n)).replace("n=", "votes=") for t, n in zip(items, count)]
    has_interval = np.isfinite(low) & np.isfinite(high)
    fig = go.Figure(
        go.Scatter(
            x=rating,
            y=labels,
            mode="markers+text",
            marker={"color": [legend.color(t) for t in items], "size": 14, "line": {"color": "white", "width": 1}},
            error_x={
                "type": "data", "symmetric": False, "color": "#5b6776", "thickness": 1.5, "width": 6,
                "array": np.where(has_interval, high - rating, 0.0), "arrayminus": np.where(has_interval, rating - low, 0.0),
            },  # fmt: skip
            text=[formatting.count(r) for r in rating],
            textposition="top center",
            cliponaxis=False,
            customdata=np.column_stack([count, low, high]),
            hovertext=[
                f"<b>{legend.title(t)}</b><br>rating {formatting.count(r)}"
                + (f"<br>95% interval {formatting.count(lo)} to {formatting.count(hi)}" if ok else "<br>no interval from one vote")
                + f"<br>{formatting.count(n, 'vote')}"
                for t, r, lo, hi, ok, n in zip(items, rating, low, high, has_interval, count)
            ],
            hovertemplate="%{hovertext}<extra></extra>",
        )
    )
    fig.add_vline(x=1000, line={"color": "#C9D2DD", "dash": "dot"})
    _layout(fig, RATINGS_TITLE, "Rating (Elo-like: 1,000 is the average; 400 points mean 10:1 odds)", "", showlegend=False)
    fig.update_layout(height=max(260, 90 + 70 * len(items)), margin={"l": 70, "r": 30, "t": 70, "b": 70})
    fig.update_xaxes(tickformat=",~f")
    fig.update_yaxes(range=[-0.5, len(items) - 0.2])  # room above the top point for its label, under the note
    _note(fig, f"Bars: 95% bootstrap interval ({formatting.count(ratings.comparisons, 'vote')}). A tie or “both bad” counts half a win each way.")
    return fig


WIN_RATE_TITLE = "Who beats whom? Share of votes the row's model won against the column's"


def win_rate_matrix(ratings: Any, legend: Legend | None = None) -> go.Figure:
    """A heatmap of the share of votes each target won against each other (quality.Ratings: wins, games), ties
    counting half; each cell says how many votes it is made of, and pairs that never met say so."""
    if ratings is None or len(ratings.items) < 2:
        return empty_figure(WIN_RATE_TITLE)
    legend = (legend or Legend()).covering(ratings.items)
    order = np.argsort(-np.asarray(ratings.rating, dtype=np.float64), kind="stable")  # best first, as the ratings
    items = [ratings.items[i] for i in order]
    share = np.asarray(ratings.wins, dtype=np.float64)[np.ix_(order, order)]
    games = np.asarray(ratings.games)[np.ix_(order, order)]
    names = [legend.title(t) for t in items]
    text = [
        ["" if i == j else (f"{formatting.percent(share[i, j])}<br>n={formatting.count(games[i, j])}"
                            if games[i, j] else "never met")
         for j in range(len(items))]
        for i in range(len(items))
    ]  # fmt: skip
    hover = [
        [
            "" if i == j else (
                f"{names[i]} won {formatting.percent(share[i, j])} of {formatting.count(games[i, j], 'vote')} against {names[j]}"
                if games[i, j] else f"{names[i]} and {names[j]} have no vote between them"
            )
            for j in range(len(items))
        ]
        for i in range(len(items))
    ]  # fmt: skip
    fig = go.Figure(
        go.Heatmap(
            z=share * 100,
            x=names,
            y=names,
            zmin=0,
            zmax=100,
            colorscale=[[0, "#C4473A"], [0.5, "#F4F1EA"], [1, "#2F7E5F"]],
            colorbar={"title": {"text": "won (%)"}, "ticksuffix": "%", "len": 0.8},
            text=text,
            texttemplate="%{text}",
            hovertext=hover,
            hovertemplate="%{hovertext}<extra></extra>",
            xgap=2,
            ygap=2,
        )
    )
    _layout(fig, WIN_RATE_TITLE, "against", "", showlegend=False)
    fig.update_yaxes(autorange="reversed", showgrid=False)
    fig.update_xaxes(showgrid=False, side="bottom")
    fig.update_layout(height=max(300, 160 + 70 * len(items)), margin={"l": 70, "r": 30, "t": 70, "b": 70})
    _note(fig, "Ties and “both bad” count half a win each way.")
    return fig


# --- concurrency sweeps ---------------------------------------------------------------------------------------------
# From a sweep's level table (mcv_core.sweep: `SweepOutcome.to_json()["levels"]` or `levels_from_results`): one
# point per target and level, each target in its colour.

SWEEP_TITLE = "How do latency and throughput hold up as the load grows? Per concurrency level"
SWEEP_PANELS = ("Latency of ok calls: p50 solid, p95 dashed", "Images per second", "Output tokens per second")


def _sweep_rows(levels: Any) -> list[Mapping[str, Any]]:
    return list(levels.to_json()["levels"] if hasattr(levels, "to_json") else levels)


def _sweep_hover(title: str, row: Mapping[str, Any]) -> str:
    ttft = row.get("p50_ttft_ms")
    return (
        f"<b>{title}</b>, {formatting.count(row.get('concurrency'))} at once"
        f"<br>{formatting.count(row.get('ok'))} of {formatting.count(row.get('requests'), 'request')} ok"
        f" · {formatting.count(row.get('errors'))} failed ({formatting.count(row.get('throttled'))} throttled)"
        f"<br>latency p50 {formatting.duration_ms(row.get('p50_ms'))} · p95 {formatting.duration_ms(row.get('p95_ms'))}"
        f" · p99 {formatting.duration_ms(row.get('p99_ms'))}"
        + (f"<br>TTFT p50 {formatting.duration_ms(ttft)} · p95 {formatting.duration_ms(row.get('p95_ttft_ms'))}" if not formatting.missing(ttft) else "")
        + f"<br>{formatting.number(row.get('images_per_s'), 2)} images/s"
        + (f" · {formatting.number(row.get('output_tokens_per_s'), 1)} output tokens/s" if not formatting.missing(row.get("output_tokens_per_s")) else "")
    )


def sweep_chart(levels: Any, legend: Legend | None = None) -> go.Figure:
    """Latency (p50 solid, p95 dashed) and throughput (images per second, output tokens per second) against the
    concurrency level, a line per target in its colour; a level where requests failed is drawn with an open
    marker. The concurrency axis is logarithmic with a tick at every level swept (1, 2, 4, 8 evenly apart); the
    latency axis turns logarithmic in 1-2-5 steps when it spans more than LOG_RATIO. `levels`: level rows (see
    above) or a SweepOutcome."""
    from plotly.subplots import make_subplots

    rows = [r for r in _sweep_rows(levels) if not formatting.missing(r.get("concurrency"))]
    if not rows:
        return empty_figure(SWEEP_TITLE)
    ids = list(dict.fromkeys(str(r["target"]) for r in rows))
    legend = (legend or Legend()).covering(ids)
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.09, subplot_titles=SWEEP_PANELS)
    latencies: list[float] = []
    has_tokens = False
    for target in ids:
        part = sorted((r for r in rows if str(r["target"]) == target), key=lambda r: int(r["concurrency"]))
        x = [int(r["concurrency"]) for r in part]
        color = legend.color(target)
        title = legend.title(target)
        n = sum(int(r.get("requests") or 0) for r in part)
        hover = [_sweep_hover(title, r) for r in part]
        symbols = ["circle-open" if (r.get("errors") or 0) > 0 else "circle" for r in part]
        marker = {"color": color, "size": 9, "symbol": symbols, "line": {"color": color, "width": 2}}

        def values(key: str) -> np.ndarray:
            return np.array([_number(r.get(key)) for r in part], dtype=np.float64)

        series = (
            ("p50_ms", 1, "solid", True),
            ("p95_ms", 1, "dash", False),
            ("images_per_s", 2, "solid", False),
            ("output_tokens_per_s", 3, "solid", False),
        )
        for key, col, dash, shown in series:
            y = values(key)
            if not np.isfinite(y).any():
                continue
            if col == 1:
                latencies.extend(y[np.isfinite(y)].tolist())
            has_tokens |= col == 3
            fig.add_trace(
                go.Scatter(
                    x=x, y=y, mode="lines+markers", name=f"{title} (n={n:,})", legendgroup=target, showlegend=shown,
                    line={"color": color, "dash": dash, "width": 2 if dash == "solid" else 1.5},
                    marker=marker, hovertext=hover, hovertemplate="%{hovertext}<extra></extra>",
                ),
                row=1, col=col,
            )  # fmt: skip
    _layout(fig, SWEEP_TITLE, None, "")
    swept = sorted({int(r["concurrency"]) for r in rows})
    low, high = np.log10(swept[0]), np.log10(swept[-1])
    pad = max(high - low, 0.3) * 0.08
    fig.update_xaxes(
        type="log", tickmode="array", tickvals=swept, ticktext=[formatting.count(v) for v in swept],
        range=[low - pad, high + pad], title_text="Requests in flight at once",
    )  # fmt: skip
    data = np.asarray(latencies, dtype=np.float64)
    log = _log_axis(data)
    if log:
        tickvals, ticktext = log_ticks(data)
        fig.update_yaxes(type="log", tickmode="array", tickvals=tickvals, ticktext=ticktext, row=1, col=1)
    else:
        fig.update_yaxes(tickformat=",~f", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title_text=_latency_axis("Latency per call", log), row=1, col=1)
    fig.update_yaxes(title_text="Images per second (ok answers)", tickformat=",~f", rangemode="tozero", row=1, col=2)
    fig.update_yaxes(title_text="Output tokens per second (ok answers)", tickformat=",~f", rangemode="tozero", row=1, col=3)
    if not has_tokens:
        fig.add_annotation(
            text="No output tokens reported<br>(an image classifier has none)", xref="x3 domain", yref="y3 domain",
            x=0.5, y=0.5, showarrow=False, font={"size": 12, "color": "#666"},
        )  # fmt: skip
    for panel in SWEEP_PANELS:
        fig.update_annotations(font={"size": 13, "color": "#5b6776"}, selector={"text": panel})
    fig.add_annotation(
        text="Each model alone at each level. Open markers: levels where requests failed. "
        "Throughput: ok answers and their output tokens per second of the level's wall time.",
        xref="paper", yref="paper", x=0, y=-0.36, xanchor="left", yanchor="top",
        showarrow=False, font={"size": 11, "color": "#555"}, align="left",
    )  # fmt: skip
    fig.update_layout(height=480, margin={"l": 70, "r": 30, "t": 90, "b": 130}, legend={"y": -0.2})
    return fig


# --- an alarm's metric (the Infrastructure page) --------------------------------------------------------------------

ALARM_LINE = "#3A6EA5"
THRESHOLD_COLOR = "#D62728"
NO_DATAPOINTS_TEXT = "No datapoints in this window"


def alarm_metric(series: Any, title: str = "") -> go.Figure:
    """A small chart of an alarm's metric (`alarms.MetricSeries`: its statistic per period over a window) with the
    threshold as a dashed line; shares drawn 0 to 100 %, milli- and microseconds as durations. The x axis is the whole
    window, so an hour with two datapoints still reads as an hour."""
    unit = series.unit
    scale = {"share": 100.0, "µs": 0.001}.get(unit, 1.0)  # drawn in % and ms
    values = np.asarray(series.values, dtype=np.float64) * scale
    threshold = float(series.threshold) * scale
    fig = go.Figure()
    if len(values):
        fig.add_trace(
            go.Scatter(
                x=list(series.timestamps),
                y=values,
                mode="lines+markers",
                name=f"{series.metric_name} ({series.statistic})",
                line={"color": ALARM_LINE, "width": 2},
                marker={"size": 5},
                hovertext=[formatting.alarm_value(v, unit) for v in series.values],
                hovertemplate="%{x|%H:%M:%S} UTC<br>%{hovertext}<extra></extra>",
            )
        )
    fig.add_hline(
        y=threshold, line={"color": THRESHOLD_COLOR, "dash": "dash", "width": 1.5},
        annotation={"text": f"threshold {formatting.alarm_value(series.threshold, unit)}", "font": {"size": 11, "color": THRESHOLD_COLOR}},
        annotation_position="top left",
    )  # fmt: skip
    top = max([threshold, *values[np.isfinite(values)]]) if len(values) else threshold
    fig.update_layout(
        title={"text": title, "x": 0, "xanchor": "left", "font": {"size": 13}} if title else None,
        template=TEMPLATE,
        height=200,
        margin={"l": 10, "r": 10, "t": 30 if title else 10, "b": 10},
        showlegend=False,
        xaxis={"type": "date", "range": [series.start, series.end], "tickformat": "%H:%M", "title": None},
        yaxis={"range": [0, top * 1.25 if top > 0 else 1], "title": None, "rangemode": "tozero"},
    )
    if unit == "share":
        fig.update_yaxes(ticksuffix="%", tickformat=",~f")
    elif unit in ("ms", "µs"):  # 1-2-5 steps labelled as durations: "500 ms", "10 s"
        upper = top * 1.25 if top > 0 else 1.0
        step = min((m * 10.0**e for e in range(-1, 9) for m in (1, 2, 5) if m * 10.0**e >= upper / 5), default=upper / 4)
        tickvals = [float(v) for v in np.arange(0, upper, step)]
        fig.update_yaxes(tickmode="array", tickvals=tickvals, ticktext=[duration_tick(v) if v else "0" for v in tickvals])
    if not len(values):
        fig.add_annotation(
            text=NO_DATAPOINTS_TEXT, xref="paper", yref="paper", x=0.5, y=0.5, showarrow=False, font={"size": 13, "color": "#666"}
        )
    return fig
