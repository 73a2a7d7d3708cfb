"""A self-contained HTML report of a selection of results, for presentations: one file that opens offline.

The header says what was selected; then the per-provider summary and latency tables, every chart (plotly.js
inlined once, in the head; no CDN, no external URL), and the outputs grid (images side by side with each
provider's answer). Model output is untrusted: every answer, error and name is HTML-escaped, and plotly's JSON
escapes "<" and "/" itself, so nothing from the data can open a tag or close a script.
"""

from __future__ import annotations

import base64
import html
import math
from datetime import datetime, timezone
from typing import Any, Callable, Mapping, Sequence

import pandas as pd
import plotly.io as pio
from plotly.offline import get_plotlyjs

from . import analytics, charts
from .analytics import Filters

PLOT_CONFIG = {"displaylogo": False, "responsive": True}

_CSS = """
:root { color-scheme: light; --ink: #1d2733; --muted: #5b6776; --line: #dde3ea; --soft: #f5f7fa; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); margin: 0; }
main { max-width: 1280px; margin: 0 auto; padding: 28px 32px 60px; }
header h1 { margin: 0 0 4px; font-size: 28px; }
header .subtitle { margin: 0 0 16px; color: var(--muted); font-size: 17px; }
dl.selection { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0;
  padding: 12px 16px; background: var(--soft); border-radius: 8px; }
dl.selection dt { color: var(--muted); }
dl.selection dd { margin: 0; }
h2 { margin: 36px 0 8px; font-size: 21px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
p.note { color: var(--muted); margin: 4px 0 12px; font-size: 13px; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { border-bottom: 1px solid var(--line); padding: 6px 8px; text-align: left; vertical-align: top; }
th { background: var(--soft); font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.chart { break-inside: avoid; page-break-inside: avoid; margin: 12px 0 24px; min-height: 300px; }
table.grid td { width: 1%; }
table.grid img { max-width: 220px; max-height: 220px; border-radius: 4px; display: block; }
pre.answer { white-space: pre-wrap; word-break: break-word; margin: 0 0 6px;
  font: 13px/1.4 ui-monospace, Menlo, Consolas, monospace; max-height: 320px; overflow: auto; }
.meta { color: var(--muted); font-size: 12px; }
.error { color: #b3261e; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; }
@media print { main { padding: 0; } h2 { break-after: avoid; } }
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _finite(value: Any) -> bool:
    try:
        return value is not None and value is not pd.NA and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _count(value: Any) -> str:
    return f"{int(value):,}" if _finite(value) else "–"


def _ms(value: Any) -> str:
    return f"{float(value):,.0f} ms" if _finite(value) else "–"


def _usd(value: Any) -> str:
    if not _finite(value):
        return "–"
    value = float(value)
    return f"${value:,.6f}" if abs(value) < 0.01 else f"${value:,.4f}"


def _percent(value: Any) -> str:
    return f"{float(value):.1%}" if _finite(value) else "–"


def _ratio(value: Any) -> str:
    return f"×{float(value):.1f}" if _finite(value) else "–"


def _text(value: Any) -> str:
    return "–" if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)) else str(value)


Column = tuple[str, str, Callable[[Any], str], bool]  # field, heading, formatter, numeric
# The target column's formatter: its title, from the report's legend (table_html swaps it in).
TARGET = "provider"


SUMMARY_COLUMNS: tuple[Column, ...] = (
    (TARGET, "Target", _text, False),
    ("n", "Calls", _count, True),
    ("ok", "OK", _count, True),
    ("errors", "Errors", _count, True),
    ("error_rate", "Error rate", _percent, True),
    ("latency_basis", "Latency of", _text, False),
    ("p50_ms", "p50", _ms, True),
    ("p95_ms", "p95", _ms, True),
    ("cold_start_rate", "Cold starts", _percent, True),
    ("mean_cost_usd", "Cost per image", _usd, True),
    ("per_1000_images_usd", "Per 1,000 images", _usd, True),
    ("accuracy", "Accuracy", _percent, True),
    ("n_scored", "Labelled", _count, True),
)
PERCENTILE_COLUMNS: tuple[Column, ...] = (
    (TARGET, "Target", _text, False),
    ("temperature", "Cold or warm", _text, False),
    ("n", "n", _count, True),
    ("p50", "p50", _ms, True),
    ("median_ci_low", "p50 95% CI low", _ms, True),
    ("median_ci_high", "p50 95% CI high", _ms, True),
    ("p90", "p90", _ms, True),
    ("p95", "p95", _ms, True),
    ("p99", "p99", _ms, True),
    ("mean", "mean", _ms, True),
)
PENALTY_COLUMNS: tuple[Column, ...] = (
    (TARGET, "Target", _text, False),
    ("n_cold", "Cold calls", _count, True),
    ("n_warm", "Warm calls", _count, True),
    ("p50_cold", "p50 cold", _ms, True),
    ("p50_warm", "p50 warm", _ms, True),
    ("penalty_ms", "Penalty", _ms, True),
    ("penalty_ratio", "Cold / warm", _ratio, True),
)


def table_html(
    frame: pd.DataFrame, columns: Sequence[Column], css_class: str = "", legend: charts.Legend | None = None
) -> str:
    """A DataFrame as an HTML table: the chosen columns, formatted and escaped; target ids named by `legend`."""
    if frame.empty:
        return '<p class="note">No results in this selection.</p>'
    if legend is not None:
        columns = [(name, head, legend.title if name == TARGET else fmt, num) for name, head, fmt, num in columns]
    head = "".join(f"<th>{_e(heading)}</th>" for _, heading, _, _ in columns)
    rows = []
    for record in frame.to_dict("records"):
        cells = "".join(
            f'<td class="num">{_e(fmt(record.get(name)))}</td>' if numeric else f"<td>{_e(fmt(record.get(name)))}</td>"
            for name, _, fmt, numeric in columns
        )
        rows.append(f"<tr>{cells}</tr>")
    return f'<table class="{_e(css_class)}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _selection(df: pd.DataFrame, filters: Filters | None, legend: charts.Legend) -> str:
    info = analytics.selection_summary(df)
    first, last = info["first"], info["last"]
    span = "–" if first is None or pd.isna(first) else f"{first:%Y-%m-%d %H:%M} – {last:%Y-%m-%d %H:%M} UTC"
    rows: list[tuple[str, str]] = [
        ("Results", f"{info['results']:,} results in {info['comparisons']:,} comparisons, {info['errors']:,} errors"),
        ("First and last result", span),
        ("Targets", ", ".join(legend.title(p) for p in info["providers"]) or "–"),
        ("Cost of these results", _usd(info["cost_usd"])),
    ]
    if filters is not None:  # unknown when not given: better no line than a wrong "none"
        rows.append(("Filters", "; ".join(filters.describe(legend.title)) or "none"))
    rows.append(("Report made", f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC"))
    body = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in rows)
    return f'<dl class="selection">{body}</dl>'


def _thumbnail(data: bytes | None, name: str) -> str:
    if not data:
        return '<p class="meta">image no longer stored</p>'
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"thumbnail_jpeg of {name!r} must be bytes, not {type(data).__name__}")
    encoded = base64.b64encode(bytes(data)).decode("ascii")
    return f'<img alt="{_e(name)}" src="data:image/jpeg;base64,{encoded}">'


def _cell(result: Mapping[str, Any] | None) -> str:
    if result is None:
        return '<td><p class="meta">not asked</p></td>'
    parts = []
    if result.get("status") == "ok":
        parts.append(f'<pre class="answer">{_e(result.get("output", ""))}</pre>')
    else:
        kind = result.get("error_type") or "error"
        parts.append(f'<p class="error"><strong>{_e(kind)}</strong>: {_e(result.get("error", ""))}</p>')
    meta = [
        _ms(result.get("latency_ms")) if _finite(result.get("latency_ms")) else "",
        _usd(result.get("cost_usd")) if _finite(result.get("cost_usd")) else "",
        {True: "cold start", False: "warm"}[cold] if isinstance(cold := result.get("cold_start"), bool) else "",
    ]
    shown = [m for m in meta if m]
    if shown:
        parts.append(f'<p class="meta">{" · ".join(_e(m) for m in shown)}</p>')
    return f"<td>{''.join(parts)}</td>"


def grid_html(grid: Sequence[Mapping[str, Any]], legend: charts.Legend | None = None) -> str:
    """The outputs grid: a row per image, a column per target, thumbnails as data URLs, answers escaped.

    Targets in the legend's order, then the others by id; each named by the legend, else by the title stored
    with its results, else by its id."""
    if not grid:
        return '<p class="note">No comparisons were picked for the outputs grid (pick them in the Outputs tab).</p>'
    results = [r for row in grid for r in (row.get("results") or {}).items()]
    present = list(dict.fromkeys(str(p) for p, _ in results))
    stored = {str(p): str(item["title"]) for p, item in results if isinstance(item, Mapping) and item.get("title")}
    legend = (legend or charts.Legend()).covering(sorted(present), stored)
    providers = [p for p in legend.ids if p in present]
    head = "<th>Image</th>" + "".join(
        f'<th><span class="swatch" style="background:{_e(legend.color(p))}"></span>{_e(legend.title(p))}</th>'
        for p in providers
    )
    rows = []
    for row in grid:
        name = str(row.get("image_name") or "")
        results_by = row.get("results") or {}
        image = f"<td>{_thumbnail(row.get('thumbnail_jpeg'), name)}<p class=\"meta\">{_e(name)}</p></td>"
        rows.append(f"<tr>{image}{''.join(_cell(results_by.get(p)) for p in providers)}</tr>")
    return f'<table class="grid"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def chart_html(key: str, figure: Any) -> str:
    """One figure as a div and its script; plotly.js itself is in the head, once."""
    div = pio.to_html(figure, full_html=False, include_plotlyjs=False, div_id=f"chart-{key}", config=PLOT_CONFIG)
    return f'<div class="chart">{div}</div>'


def build_report(
    df: pd.DataFrame,
    grid: Sequence[Mapping[str, Any]],
    *,
    title: str,
    subtitle: str = "",
    filters: Filters | None = None,
    legend: charts.Legend | None = None,
) -> str:
    """The report as one HTML document (str). `df` is the selection (filtered result frame); `grid` the outputs
    grid rows: {"image_name": str, "thumbnail_jpeg": bytes | None, "results": {provider: result item}}, where a
    result item has at least status, output, latency_ms, cost_usd, error (error_type and cold_start are used
    when present). `filters`, when given, are listed in the header. `legend` names and colours the targets
    (charts.legend_for with the catalogue); without one, the frame's stored titles name them."""
    legend = legend or charts.legend_for(df)
    figures = charts.build_all(df, legend)
    charts_html = "".join(chart_html(key, fig) for key, fig in figures.items())
    penalty = analytics.cold_start_penalty(df)
    sections = [
        "<section><h2>Per target</h2>"
        '<p class="note">Latency of successful calls: warm calls for targets that report cold starts, '
        "all calls for the others. "
        "Cost per image is the mean over successful calls with a known cost; accuracy is over labelled images.</p>"
        + table_html(analytics.provider_summary(df), SUMMARY_COLUMNS, "summary", legend)
        + "</section>",
        "<section><h2>Latency percentiles</h2>"
        '<p class="note">Successful calls, cold and warm apart. Percentiles from the raw values with linear interpolation; '
        "the median's 95% interval is an exact bootstrap percentile interval.</p>"
        + table_html(analytics.latency_percentiles(df), PERCENTILE_COLUMNS, "percentiles", legend)
        + "</section>",
    ]
    if not penalty.empty:
        sections.append(
            "<section><h2>What a cold start costs</h2>"
            + table_html(penalty, PENALTY_COLUMNS, "penalty", legend)
            + "</section>"
        )
    sections.append(f"<section><h2>Charts</h2>{charts_html}</section>")
    sections.append(f"<section><h2>Outputs side by side</h2>{grid_html(grid, legend)}</section>")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style>"
        f'<script type="text/javascript">{get_plotlyjs()}</script>'
        "</head><body><main>"
        f'<header><h1>{_e(title)}</h1><p class="subtitle">{_e(subtitle)}</p>{_selection(df, filters, legend)}</header>'
        + "".join(sections)
        + '<footer><p class="note">Made by MC Vision. One file: charts, tables and images are inside it; '
        "it needs no network.</p></footer>"
        "</main></body></html>\n"
    )
