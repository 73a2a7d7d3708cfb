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
    """A tick of a latency axis: "20 ms", "500 ms", "1 s", "2 s", "1,000 s"."""
    if ms < 1000:
        return f"{ms:,.{_decimals(ms)}f} ms"
    return f"{ms / 1000:,.{_decimals(ms / 1000)}f} s"


def _decimals(value: float) -> int:
    """Decimals a 1-2-5 tick needs: none from 1 up, one for 0.5, two for 0.05 ..."""
    return 0 if value >= 1 else int(-np.floor(np.log10(value) + 1e-9))


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
            go.Box(
                y=values.astype(np.float32),
                x0=_axis_label(legend, provider, n, str(temperature)),
                name=f"{legend.title(provider)} · {temperature} (n={n:,})",
                boxpoints="all" if n <= POINTS_LIMIT else "outliers",
                jitter=0.4,
                pointpos=0,
                marker={"color": color, **POINT_MARKER},
                line={"color": color},
                fillcolor=_rgba(color, fill),
                boxmean=True,
                legendgroup=str(provider),
            )
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
