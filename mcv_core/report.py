"""A self-contained HTML report of a selection of results, for presentations: one file that opens offline.

The header says what was selected; then, when given, the quality scorecard (per-target table, Pareto chart,
paired tests, agreement, ratings); then the per-provider summary and latency tables, every chart (plotly.js
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
from . import formatting as fmt
from .analytics import Filters
from .formatting import column_title

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
h3 { margin: 28px 0 6px; font-size: 17px; }
p.note { color: var(--muted); margin: 4px 0 12px; font-size: 13px; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { border-bottom: 1px solid var(--line); padding: 6px 8px; text-align: left; vertical-align: top; }
th { background: var(--soft); font-weight: 600; vertical-align: bottom; }
th.num, td.num { text-align: right; }
td.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
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


def _text(value: Any) -> str:
    return fmt.dash() if fmt.missing(value) else str(value)


def _ms(why: str) -> Callable[[Any], str]:
    return lambda value: fmt.duration_ms(value, unknown=why)


def _percent(why: str) -> Callable[[Any], str]:
    return lambda value: fmt.percent(value, unknown=why)


def _call_cost(usd: Any) -> str:
    """A call's cost; below a cent with what 1,000 such calls come to, which is easier to weigh."""
    if not _finite(usd):
        return ""
    return f"{fmt.money(usd)} ({fmt.money_per_1000(usd)})" if float(usd) < 0.01 else fmt.money(usd)


def _heading(name: str) -> str:
    """The column's title without the unit its cells show themselves ("850 ms", "12.3 s", "$0.42"): a "(ms)" over
    a cell in seconds would mislead."""
    return column_title(name).removesuffix(" (ms)").removesuffix(" (USD)")


Column = tuple[str, str, Callable[[Any], str], bool]  # field, heading, formatter, numeric
# The target column's formatter: its title, from the report's legend (table_html swaps it in).
TARGET = "provider"
NO_LATENCY = "no successful calls"


SUMMARY_COLUMNS: tuple[Column, ...] = (
    (TARGET, column_title(TARGET), _text, False),
    ("n", column_title("n"), fmt.count, True),
    ("ok", column_title("ok"), fmt.count, True),
    ("errors", column_title("errors"), fmt.count, True),
    ("error_rate", column_title("error_rate"), _percent("no calls"), True),
    ("latency_basis", "Latency of", lambda v: {"warm": "warm calls", "all": "all calls"}.get(str(v), _text(v)), False),
    ("p50_ms", _heading("p50_ms"), _ms(NO_LATENCY), True),
    ("p95_ms", _heading("p95_ms"), _ms(NO_LATENCY), True),
    ("cold_start_rate", column_title("cold_start_rate"), _percent("not reported"), True),
    ("mean_cost_usd", _heading("mean_cost_usd"), fmt.money, True),
    ("per_1000_images_usd", _heading("cost_per_1000_usd"), fmt.money, True),
    ("accuracy", column_title("accuracy"), _percent("no labelled images"), True),
    ("n_scored", "Labelled images", fmt.count, True),
)
PERCENTILE_COLUMNS: tuple[Column, ...] = (
    (TARGET, column_title(TARGET), _text, False),
    ("temperature", column_title("temperature"), _text, False),
    ("n", column_title("n"), fmt.count, True),
    ("p50", "Median (p50)", _ms(NO_LATENCY), True),
    ("median_ci_low", _heading("median_ci_low"), _ms("too few calls"), True),
    ("median_ci_high", _heading("median_ci_high"), _ms("too few calls"), True),
    ("p90", _heading("p90_ms"), _ms(NO_LATENCY), True),
    ("p95", _heading("p95_ms"), _ms(NO_LATENCY), True),
    ("p99", _heading("p99_ms"), _ms(NO_LATENCY), True),
    ("mean", "Mean", _ms(NO_LATENCY), True),
)
PENALTY_COLUMNS: tuple[Column, ...] = (
    (TARGET, column_title(TARGET), _text, False),
    ("n_cold", "Cold calls", fmt.count, True),
    ("n_warm", "Warm calls", fmt.count, True),
    ("p50_cold", "Median cold", _ms("no cold calls"), True),
    ("p50_warm", "Median warm", _ms("no warm calls"), True),
    ("penalty_ms", "Penalty (cold − warm)", _ms("needs cold and warm calls"), True),
    ("penalty_ratio", column_title("penalty_ratio"), lambda v: fmt.ratio(v, unknown="needs cold and warm calls"), True),
)


def table_html(
    frame: pd.DataFrame, columns: Sequence[Column], css_class: str = "", legend: charts.Legend | None = None
) -> str:
    """A DataFrame as an HTML table: the chosen columns, formatted and escaped; target ids named by `legend`."""
    if frame.empty:
        return '<p class="note">No results in this selection.</p>'
    if legend is not None:
        columns = [(name, head, legend.title if name == TARGET else show, num) for name, head, show, num in columns]
    # A numeric column's heading is aligned like its cells (right), so that a value never reads as the next column's.
    head = "".join(
        f'<th class="num">{_e(heading)}</th>' if numeric else f"<th>{_e(heading)}</th>"
        for _, heading, _, numeric in columns
    )
    rows = []
    for record in frame.to_dict("records"):
        cells = "".join(
            f'<td class="num">{_e(show(record.get(name)))}</td>' if numeric
            else f"<td>{_e(show(record.get(name)))}</td>"
            for name, _, show, numeric in columns
        )
        rows.append(f"<tr>{cells}</tr>")
    return f'<table class="{_e(css_class)}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _selection(df: pd.DataFrame, filters: Filters | None, legend: charts.Legend) -> str:
    info = analytics.selection_summary(df)
    first, last = info["first"], info["last"]
    span = fmt.dash("no results") if fmt.missing(first) else f"{first:%Y-%m-%d %H:%M} – {last:%Y-%m-%d %H:%M} UTC"
    counts = (
        f"{fmt.count(info['results'], 'result')} in {fmt.count(info['comparisons'], 'comparison')}, "
        f"{fmt.count(info['errors'], 'error')}"
    )
    rows: list[tuple[str, str]] = [
        ("Results", counts),
        ("First and last result", span),
        ("Models", ", ".join(legend.title(p) for p in info["providers"]) or fmt.dash("none")),
        ("Cost of these results", fmt.money(info["cost_usd"])),
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
        fmt.duration_ms(result.get("latency_ms")) if _finite(result.get("latency_ms")) else "",
        _call_cost(result.get("cost_usd")),
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
    scorecard: Any = None,
) -> str:
    """The report as one HTML document (str). `df` is the selection (filtered result frame); `grid` the outputs
    grid rows: {"image_name": str, "thumbnail_jpeg": bytes | None, "results": {provider: result item}}, where a
    result item has at least status, output, latency_ms, cost_usd, error (error_type and cold_start are used
    when present). `filters`, when given, are listed in the header. `legend` names and colours the targets
    (charts.legend_for with the catalogue); without one, the frame's stored titles name them. `scorecard`, a
    scorecard.Scorecard of the same selection, puts its section (`scorecard_html`) first."""
    legend = legend or charts.legend_for(df)
    figures = charts.build_all(df, legend)
    charts_html = "".join(chart_html(key, fig) for key, fig in figures.items())
    penalty = analytics.cold_start_penalty(df)
    sections = [scorecard_html(scorecard, legend)] if scorecard is not None else []
    sections += [
        "<section><h2>Per model</h2>"
        '<p class="note">Latency of successful calls: warm calls for models whose service reports cold starts, '
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


# --- the quality scorecard -------------------------------------------------------------------------------------
# How the scorecard's figures read, on the Scorecard page and in the report alike: every figure with its n, an
# interval where there is one, a dash with the reason where there is no figure (a test with too few pairs says so).

ALPHA = 0.05  # a difference is called clear below this p-value
TEST_TITLES = {
    "mcnemar": "McNemar exact (accuracy)",
    "wilcoxon": "Wilcoxon (warm latency)",
    "paired_bootstrap": "Paired bootstrap (judge score)",
}
QUALITY_NAMES = {"accuracy": "accuracy on labelled images", "judge_score": "the judge's score"}


def p_value_text(p: Any, note: Any = None) -> str:
    """formatting.p_value: "0.031", "< 0.001"; without a p-value, a dash with why ("– too few pairs (n=3; needs 6)")."""
    return fmt.p_value(p if _finite(p) else None, unknown=str(note) if note else "no test")


EFFECT_NOTES = {"correct": " of accuracy", "latency_ms": " (median)", "judge_score": " of 5"}


def effect_text(metric: str, effect: Any, ci: Any = None) -> str:
    """An effect a - b as people read it: "+10 points of accuracy", "−7,093 ms (median)", "+0.40 of 5 (95% CI
    +0.10 to +0.70)"."""
    if not _finite(effect):
        return fmt.dash("no pairs")
    text = fmt.effect(metric, effect) + EFFECT_NOTES.get(metric, "")
    if ci is not None and len(ci) == 2 and _finite(ci[0]) and _finite(ci[1]):
        text += f" (95% CI {fmt.effect(metric, ci[0])} to {fmt.effect(metric, ci[1])})"
    return text


def oriented(pair: Mapping[str, Any], first: str) -> dict[str, Any]:
    """A scorecard pair (to_json) as `first` against the other: the effect, its interval and McNemar's discordant
    counts turned round when the pair was computed the other way."""
    out = dict(pair)
    if pair["a"] == first:
        return out
    out["a"], out["b"] = pair["b"], pair["a"]
    if _finite(pair.get("effect")):
        out["effect"] = -float(pair["effect"])
    if pair.get("effect_ci"):
        low, high = pair["effect_ci"]
        out["effect_ci"] = [-high, -low] if _finite(low) and _finite(high) else pair["effect_ci"]
    if pair.get("discordant"):
        out["discordant"] = list(reversed(pair["discordant"]))
    return out


def pair_verdict(pair: Mapping[str, Any], a_title: str, b_title: str) -> str:
    """What a test says, in words: which model is better, no clear difference, or why there is no test."""
    p, effect, test = pair.get("p_value"), pair.get("effect"), pair.get("test")
    if not _finite(p):
        return fmt.dash("no test")  # why is beside it, in the p-value
    if float(p) >= ALPHA or not _finite(effect) or float(effect) == 0:
        return f"no clear difference (p ≥ {ALPHA:g})"
    a_wins = float(effect) < 0 if test == "wilcoxon" else float(effect) > 0
    better = a_title if a_wins else b_title
    what = {"mcnemar": "is more accurate", "wilcoxon": "is faster", "paired_bootstrap": "scores higher"}[str(test)]
    return f"{better} {what}"


def accuracy_text(row: Mapping[str, Any]) -> str:
    if not _finite(row.get("accuracy")):
        return fmt.dash("no labelled images")
    return f"{fmt.interval(row['accuracy'], row.get('accuracy_ci'), fmt.percent)} n={fmt.count(row.get('n_scored'))}"


def judge_text(row: Mapping[str, Any]) -> str:
    if not _finite(row.get("judge_score")):
        return fmt.dash("not judged")
    shown = fmt.interval(row["judge_score"], row.get("judge_ci"), lambda v: fmt.number(v, 2))
    return f"{shown} n={fmt.count(row.get('n_judged'))}"


def rating_text(row: Mapping[str, Any]) -> str:
    if not _finite(row.get("rating")):
        return fmt.dash("no votes")
    shown = fmt.interval(row["rating"], row.get("rating_ci"), lambda v: fmt.number(v, 0))
    return f"{shown} n={fmt.count(row.get('votes'))}"


def cold_text(row: Mapping[str, Any]) -> str:
    if not row.get("cold_n"):
        return fmt.dash("none" if row.get("latency_basis") == "warm" else "not reported")
    return f"{fmt.duration_ms(row.get('cold_p50_ms'))} n={fmt.count(row['cold_n'])}"


def front_text(flag: Any) -> str:
    if flag is None:
        return fmt.dash("not drawn")  # quality, p95 latency or cost unknown: the chart's caption names which
    return "yes" if flag else "dominated"


def scorecard_targets(card: Any) -> pd.DataFrame:
    """The per-target table of a scorecard.Scorecard: `provider` (the target id), the figures as numbers where a
    column is numeric, and as text with their interval and n where they are read together."""
    rows = []
    for row in card.to_json()["targets"]:
        rows.append(
            {
                "provider": row["target"],
                "n": row["n"],
                "accuracy_text": accuracy_text(row),
                "judge_text": judge_text(row),
                "rating_text": rating_text(row),
                "p50_ms": row["p50_ms"],
                "p95_ms": row["p95_ms"],
                "n_latency": row["n_latency"],
                "latency_basis": {"warm": "warm calls", "all": "all calls"}.get(row["latency_basis"], row["latency_basis"]),
                "cold_text": cold_text(row),
                "cost_per_1k_usd": row["cost_per_1k_usd"],
                "n_priced": row["n_priced"],
                "front_text": front_text(row["pareto"]),
                "n_scored": row["n_scored"],
                "n_judged": row["n_judged"],
                "votes": row["votes"],
            }
        )
    columns = ["provider", "n", "accuracy_text", "judge_text", "rating_text", "p50_ms", "p95_ms", "n_latency",
               "latency_basis", "cold_text", "cost_per_1k_usd", "n_priced", "front_text", "n_scored", "n_judged", "votes"]  # fmt: skip
    frame = pd.DataFrame(rows, columns=columns)
    for name in ("p50_ms", "p95_ms", "cost_per_1k_usd"):
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    return frame


def scorecard_pairs(card: Any, title: Callable[[str], str], first: str | None = None, second: str | None = None) -> pd.DataFrame:
    """Every paired test of the scorecard as text (one row per pair and test), or only those of `first` against
    `second` (turned round to read that way)."""
    rows = []
    for pair in card.to_json()["pairs"]:
        if first is not None and {pair["a"], pair["b"]} != {first, second}:
            continue
        pair = oriented(pair, first) if first is not None else pair
        a, b = title(pair["a"]), title(pair["b"])
        discordant = pair.get("discordant")
        rows.append(
            {
                "a": a,
                "b": b,
                "test": TEST_TITLES.get(pair["test"], pair["test"]),
                "n": pair["n"],
                "effect": effect_text(pair.get("metric", ""), pair.get("effect"), pair.get("effect_ci")),
                "p_value": p_value_text(pair.get("p_value"), pair.get("note")),
                "verdict": pair_verdict(pair, a, b),
                "discordant": (
                    f"A: {fmt.count(discordant[0])} · B: {fmt.count(discordant[1])}" if discordant else fmt.dash("not McNemar")
                ),
            }
        )
    return pd.DataFrame(rows, columns=["a", "b", "test", "n", "effect", "p_value", "verdict", "discordant"])


def kappa_text(row: Mapping[str, Any]) -> str:
    """Cohen's kappa with two decimals; without one, why, in a few words (the scorecard's note is the long form)."""
    if _finite(row.get("kappa")):
        return fmt.number(row["kappa"], 2)
    return fmt.dash("none labelled" if not row.get("n") else "undefined: no variation")


def scorecard_agreement(card: Any, title: Callable[[str], str]) -> pd.DataFrame:
    """How each two targets agree, as text with every figure's n."""
    rows = []
    for row in card.to_json()["agreement"]:
        rows.append(
            {
                "a": title(row["a"]),
                "b": title(row["b"]),
                "kappa": kappa_text(row),
                "n": row["n"],
                "observed": fmt.percent(row.get("observed"), unknown="none labelled"),
                "top_agreement": fmt.percent(row.get("top_agreement"), unknown="none compared"),
                "top_n": row["top_n"],
            }
        )
    return pd.DataFrame(rows, columns=["a", "b", "kappa", "n", "observed", "top_agreement", "top_n"])


def _text_columns(names: Sequence[tuple[str, str, bool]]) -> tuple[Column, ...]:
    return tuple((name, heading, fmt.count if numeric else _text, numeric) for name, heading, numeric in names)


SCORECARD_COLUMNS: tuple[Column, ...] = (
    (TARGET, column_title(TARGET), _text, False),
    ("n", "Results", fmt.count, True),
    ("accuracy_text", "Accuracy (95% CI, n)", _text, True),
    ("judge_text", "Judge score 1–5 (95% CI, n)", _text, True),
    ("rating_text", "Rating (95% CI, votes)", _text, True),
    ("p50_ms", "p50", _ms(NO_LATENCY), True),
    ("p95_ms", "p95", _ms(NO_LATENCY), True),
    ("n_latency", "Calls timed", fmt.count, True),
    ("latency_basis", "Latency of", _text, False),
    ("cold_text", "Cold starts", _text, True),
    ("cost_per_1k_usd", "Per 1,000 images", fmt.money, True),
    ("front_text", "Pareto front", _text, False),
)
PAIR_COLUMNS = _text_columns(
    (("a", "Model A", False), ("b", "Model B", False), ("test", "Test", False), ("n", "Pairs", True),
     ("effect", "Effect (A − B)", False), ("p_value", "p-value", False), ("verdict", "Verdict", False),
     ("discordant", "Only one right (A · B)", False))
)  # fmt: skip
AGREEMENT_COLUMNS = _text_columns(
    (("a", "Model A", False), ("b", "Model B", False), ("kappa", "Cohen's kappa", False), ("n", "Labelled", True),
     ("observed", "Same verdict", False), ("top_agreement", "Same top answer", False), ("top_n", "Compared", True))
)  # fmt: skip


def scorecard_summary(card: Any, legend: charts.Legend) -> str:
    """One sentence of what the scorecard rests on: quality metric, judge, runs, judgments, votes, the front."""
    metric = QUALITY_NAMES.get(card.quality_metric, card.quality_metric)
    judge = (
        f"judge {legend.title(card.judge)} (rubric {card.rubric_id}), {fmt.count(card.judgments, 'judgment')}"
        if card.judge else "no judgments"
    )  # fmt: skip
    front = ", ".join(legend.title(t) for t in card.front()) or fmt.dash("no model has all three figures")
    return (
        f"Quality is {metric}. {fmt.count(card.runs, 'comparison')} · {judge} · {fmt.count(card.votes, 'vote')}. "
        f"On the Pareto front: {front}."
    )


def scorecard_html(card: Any, legend: charts.Legend | None = None) -> str:
    """The scorecard as a section of the report: the per-target table, the Pareto chart, every paired test, the
    agreement, and the ratings with the win-rate matrix when there are votes."""
    legend = (legend or charts.Legend()).covering([row.target for row in card.targets], card.titles)
    parts = [
        "<section><h2>Scorecard: which model is best for the job</h2>",
        f'<p class="note">{_e(scorecard_summary(card, legend))} Latency of successful calls: warm calls where the '
        "service reports cold starts, all calls elsewhere; cold starts apart. Cost per 1,000 images: 1,000 times the "
        "mean cost of successful calls with a known price.</p>",
        table_html(scorecard_targets(card), SCORECARD_COLUMNS, "scorecard", legend),
        chart_html("pareto", charts.pareto_chart(card, legend)),
        "<h3>Is the difference real? Paired tests on the same images</h3>",
        '<p class="note">Effects are model A minus model B on the comparisons both answered. A test with fewer '
        "pairs than it needs says so instead of giving a p-value.</p>",
        table_html(scorecard_pairs(card, legend.title), PAIR_COLUMNS, "pairs"),
        "<h3>Do the models agree?</h3>",
        '<p class="note">Cohen\'s kappa on right/wrong over the labelled images both were scored on (1: always '
        "agree, 0: no more than chance); the share of comparisons where their top answers are the same.</p>",
        table_html(scorecard_agreement(card, legend.title), AGREEMENT_COLUMNS, "agreement"),
    ]
    if card.ratings is not None:
        parts += [
            "<h3>Blind votes</h3>",
            chart_html("ratings", charts.ratings_chart(card.ratings, legend)),
            chart_html("win_rates", charts.win_rate_matrix(card.ratings, legend)),
        ]
    parts.append("</section>")
    return "".join(parts)
