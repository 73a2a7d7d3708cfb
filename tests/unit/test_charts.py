"""Charts: built from frames without a browser; titles ask the question, axes carry units, n is shown."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from mcv_core import analytics, charts, targets
from mcv_core.config import Settings
from mcv_core.analytics import Filters
from tests.unit.test_analytics import _known, item, make_items, to_frame, wilson

# The built-in catalogue (the three targets of the proof of concept) names and colours the ids of _known().
CATALOGUE = targets.defaults(Settings.load())
LEGEND = charts.legend(CATALOGUE.ids, CATALOGUE)
COLOR = {t.id: t.color for t in CATALOGUE.targets}

QUESTIONS = {
    "latency": "How fast is each model? Latency per call (ms)",
    "latency_over_time": "How did latency change over time?",
    "latency_vs_size": "Does latency grow with image size?",
    "ttft": "How long until the first words? Time to first token per call (ms)",
    "output_rate": "How fast do the words come after the first? Output tokens per second per call",
    "anatomy": "Where does the time go? Median of each part of a call (ms)",
    "cold_start_penalty": "What does a cold start cost?",
    "cold_start_rate": "start cold?",
    "cost_per_image": "What does an image cost per model? (USD per 1,000 images)",
    "tokens": "How many tokens does each model use per image?",
    "errors": "How often does each model fail or throttle?",
    "accuracy": "How accurate is each model on labelled images?",
}
UNITS = {  # what the value axis says
    "latency": "(ms",
    "latency_over_time": "(ms",
    "latency_vs_size": "(ms",
    "ttft": "(ms",
    "output_rate": "(tokens/s)",
    "anatomy": "(ms)",  # horizontal bars: on the x axis
    "cold_start_penalty": "(ms)",
    "cold_start_rate": "(%",
    "cost_per_image": "USD per 1,000 images",
    "tokens": "Tokens per image",
    "errors": "(%)",
    "accuracy": "(%",
}


def _labelled() -> pd.DataFrame:
    items = [item("bedrock", latency_ms=100 + i, correct=i < 8, minutes=i) for i in range(10)]
    items += [item("sagemaker", latency_ms=20, cold_start=i == 0, correct=i < 2, minutes=i) for i in range(5)]
    return to_frame(items + _known_items())


def _known_items() -> list[dict]:
    return [
        item("azure_openai", latency_ms=500, input_tokens=3000, output_tokens=80, image_tokens=2833, cost_usd=0.0005),
        item("azure_openai", status="error", error_type="throttled", attempts=3),
    ]


def _annotations(fig: go.Figure) -> str:
    return " ".join(a.text or "" for a in fig.layout.annotations)


def _shown(fig: go.Figure) -> str:
    """Everything a reader sees or hovers: trace names, x labels, texts, hover templates, annotations."""
    parts = [_annotations(fig), str(fig.layout.xaxis.ticktext or ""), str(fig.layout.yaxis.ticktext or "")]
    for trace in fig.data:
        parts += [str(getattr(trace, name, "") or "") for name in ("name", "x0", "text", "hovertext", "hovertemplate")]
        x = getattr(trace, "x", None)
        if x is not None and len(x) and isinstance(x[0], str):
            parts.append(" ".join(x))
    return " ".join(parts)


def test_build_all_every_chart_asks_its_question_with_units_and_n() -> None:
    frame = _known()
    streamed = to_frame([i for i in _streamed_items() if i["provider"] in COLOR])  # the same categories: concat keeps them
    figures = charts.build_all(pd.concat([frame, _labelled(), streamed], ignore_index=True), LEGEND)
    assert list(figures) == [spec.key for spec in charts.ALL_CHARTS] == list(QUESTIONS)
    for key, fig in figures.items():
        assert QUESTIONS[key] in fig.layout.title.text, key
        value_axis = fig.layout.xaxis if key == "anatomy" else fig.layout.yaxis
        assert UNITS[key] in (value_axis.title.text or ""), key
        assert "n=" in _shown(fig) or " of " in _shown(fig), key
        assert fig.data, key
        fig.to_json()  # serialisable without a browser


def test_latency_distribution_boxes_per_provider_and_temperature() -> None:
    fig = charts.latency_distribution(_known(), LEGEND)
    assert all(isinstance(t, go.Box) for t in fig.data)
    names = [t.name for t in fig.data]
    assert names == [
        "SageMaker Serverless · warm (n=3)",
        "SageMaker Serverless · cold (n=2)",
        "Amazon Bedrock · not reported (n=4)",
        "Azure OpenAI · not reported (n=7)",
    ]
    assert {t.boxpoints for t in fig.data} == {"all"}
    assert list(fig.data[0].y) == [10, 20, 30]  # successful calls only
    assert fig.data[0].x0 == "SageMaker Serverless<br>warm<br>n=3"
    assert fig.data[0].line.color == COLOR["sagemaker"]
    assert fig.layout.yaxis.type == "log"  # 10 ms beside 3 s
    assert "only their outliers" not in _annotations(fig)


def test_large_groups_draw_only_outliers_and_say_so() -> None:
    items = [item("bedrock", latency_ms=100 + i % 50, minutes=i / 100) for i in range(charts.POINTS_LIMIT + 1)]
    items += [item("azure_openai", latency_ms=100 + i, minutes=i) for i in range(10)]
    fig = charts.latency_distribution(to_frame(items), LEGEND)
    by_name = {t.name.split(" ·")[0]: t for t in fig.data}
    assert by_name["Amazon Bedrock"].boxpoints == "outliers"
    assert by_name["Azure OpenAI"].boxpoints == "all"
    assert f"groups of more than {charts.POINTS_LIMIT:,} calls show only their outliers" in _annotations(fig)
    assert fig.layout.yaxis.type == "linear"


def test_latency_over_time_lines_with_n_in_hover() -> None:
    agg = analytics.latency_over_time(_known(), freq="h")
    fig = charts.latency_over_time(agg, LEGEND)
    assert "per hour" in fig.layout.title.text and "per hour" in fig.layout.xaxis.title.text
    bedrock = next(t for t in fig.data if t.name.startswith("Amazon Bedrock"))
    assert isinstance(bedrock, go.Scatter)
    assert list(bedrock.y) == [150.0, 350.0]
    assert bedrock.customdata[:, 0].tolist() == [2, 2]
    assert "%{hovertext}" in bedrock.hovertemplate
    assert list(bedrock.hovertext) == ["median 150 ms · p95 195 ms<br>n=2", "median 350 ms · p95 395 ms<br>n=2"]
    cold = next(t for t in fig.data if "cold" in t.name)
    assert cold.line.dash == "dot" and cold.line.color == COLOR["sagemaker"]


def test_latency_vs_size_is_webgl_with_n_and_rank_correlation() -> None:
    items = [item("bedrock", latency_ms=100 * (i + 1), image_width=1000 * (i + 1), minutes=i) for i in range(5)]
    fig = charts.latency_vs_size(analytics.latency_vs_size(to_frame(items)), LEGEND)
    (trace,) = fig.data
    assert isinstance(trace, go.Scattergl)
    assert trace.name == "Amazon Bedrock · not reported (n=5, ρ=1.00)"
    assert list(trace.x) == pytest.approx([0.5, 1.0, 1.5, 2.0, 2.5])
    assert "megapixels" in fig.layout.xaxis.title.text


def test_cold_start_rate_and_penalty() -> None:
    frame = _known()
    fig = charts.cold_start_rate(analytics.cold_start_rate(frame), LEGEND)
    assert fig.layout.title.text.startswith("How often does SageMaker Serverless start cold?")
    (bar,) = fig.data
    assert list(bar.y) == pytest.approx([40.0])
    assert list(bar.text) == ["40% (2 of 5)"]
    low, high = wilson(2, 5)
    assert list(bar.error_y.array) == pytest.approx([high * 100 - 40]) and list(bar.error_y.arrayminus) == pytest.approx([40 - low * 100])
    penalty = charts.cold_start_penalty(analytics.cold_start_penalty(frame))
    warm, cold = penalty.data
    assert (list(warm.y), list(cold.y)) == ([20.0], [2000.0])
    assert cold.text[0] == "2,000 ms (+1,980 ms, 100×)"


def test_cost_tokens_errors_accuracy_values() -> None:
    frame = pd.concat([_known(), _labelled()], ignore_index=True)
    cost = charts.cost_per_image(analytics.cost_per_image(_known()), LEGEND)
    assert dict(zip(cost.data[0].x, cost.data[0].y)) == pytest.approx(
        {"SageMaker Serverless<br>n=5": 0.02, "Amazon Bedrock<br>n=3": 2.0}
    )
    assert "1 without one left out" in _annotations(cost)
    tokens = charts.tokens_per_provider(analytics.tokens_per_provider(_known()))
    assert [t.name for t in tokens.data] == ["input (image included)", "output", "image (estimated part of input)"]
    assert [list(t.y) for t in tokens.data] == [[1500.0], [200.0], [1200.0]]
    errors = charts.error_rates(analytics.error_rates(_known()))
    failed = errors.data[0]
    assert failed.name == "failed" and "36.4%" in list(failed.text)
    assert "failed: 36.4% (4 of 11 calls)" in list(failed.hovertext)
    acc = charts.accuracy(analytics.accuracy(frame), LEGEND)
    (bar,) = acc.data
    texts = dict(zip([x.split("<br>")[0] for x in bar.x], bar.text))
    assert texts == {"SageMaker Serverless": "40% (2 of 5)", "Amazon Bedrock": "80% (8 of 10)"}
    low, high = wilson(8, 10)
    i = [x.split("<br>")[0] for x in bar.x].index("Amazon Bedrock")
    assert bar.error_y.array[i] == pytest.approx(high * 100 - 80) and bar.error_y.arrayminus[i] == pytest.approx(80 - low * 100)


def test_a_target_keeps_its_colour_across_figures_and_filters() -> None:
    frame = to_frame([item("rekognition", latency_ms=5), item("zeta", latency_ms=6), item("bedrock", latency_ms=7)])
    legend = charts.legend_for(frame, CATALOGUE)
    spare = [c for c in targets.PALETTE if c not in COLOR.values()]
    assert legend.entries == {
        "bedrock": ("Amazon Bedrock", COLOR["bedrock"]),
        "rekognition": ("rekognition", spare[0]),
        "zeta": ("zeta", spare[1]),
    }
    only_zeta = analytics.apply_filters(frame, Filters(providers=("zeta",)))
    fig = charts.latency_distribution(only_zeta, legend)
    assert fig.data[0].line.color == spare[1]  # the colour it has beside the others
    assert charts.latency_distribution(only_zeta).data[0].line.color == spare[1]  # the frame's categories, no legend
    bars = charts.cost_per_image(analytics.cost_per_image(to_frame([item("bedrock", cost_usd=0.001)])), legend)
    assert bars.data[0].marker.color[0] == COLOR["bedrock"]


def _catalogue() -> targets.Catalogue:
    return targets.parse(
        """
[targets.claude-35-sonnet]
service = "bedrock"
model = "anthropic.claude-3-5-sonnet-20241022-v2:0"

[targets.gpt-41-mini]
service = "openai"
model = "gpt-4.1-mini"
title = "GPT-4.1 mini"
""",
        Settings.load(),
    )


def test_titles_and_colours_come_from_the_catalogue_and_stored_titles_name_the_rest() -> None:
    catalogue = _catalogue()
    frame = analytics.to_frame(
        [
            item("gpt-41-mini", latency_ms=10, title="an older title"),
            item("claude-35-sonnet", latency_ms=20, title="Claude 3.5 Sonnet (Amazon Bedrock)"),
            item("retired-model", latency_ms=30, title="Retired model (Amazon Bedrock)"),  # left the catalogue
            item("bedrock", latency_ms=40),  # stored before targets had titles
        ],
        catalogue.ids,
    )
    legend = charts.legend_for(frame, catalogue)
    assert legend.ids == ["claude-35-sonnet", "gpt-41-mini", "bedrock", "retired-model"]
    assert [legend.title(i) for i in legend.ids] == [
        "Claude 3.5 Sonnet (Amazon Bedrock)", "GPT-4.1 mini", "bedrock", "Retired model (Amazon Bedrock)",
    ]
    colors = [legend.color(i) for i in legend.ids]
    assert colors[:2] == [catalogue.color("claude-35-sonnet"), catalogue.color("gpt-41-mini")]
    assert colors[2] == targets.DEFAULT_COLORS["bedrock"] and len(set(colors)) == 4
    fig = charts.latency_distribution(frame, legend)
    assert [t.name.split(" ·")[0] for t in fig.data] == [legend.title(i) for i in legend.ids]
    assert [t.line.color for t in fig.data] == colors
    # Without a legend, a frame's stored titles still name its targets.
    assert charts.latency_distribution(frame).data[0].name.startswith("Claude 3.5 Sonnet (Amazon Bedrock)")


@pytest.mark.parametrize("spec", charts.ALL_CHARTS, ids=lambda spec: spec.key)
@pytest.mark.parametrize("frame", ["empty", "filtered away", "only failures"])
def test_empty_selections_give_a_clear_figure(spec: charts.ChartSpec, frame: str) -> None:
    data = {
        "empty": to_frame([]),
        "filtered away": analytics.apply_filters(_known(), Filters(providers=("nobody",))),
        "only failures": to_frame([item("bedrock", status="error", error_type="timeout")]),
    }[frame]
    fig = spec.build(data, LEGEND)
    if spec.key == "errors" and frame == "only failures":
        assert fig.data  # failures are what this chart shows
        return
    assert not fig.data
    assert charts.EMPTY_TEXT in _annotations(fig)
    assert fig.layout.title.text
    fig.to_json()


def test_100k_results_all_aggregates_and_figures() -> None:
    items = make_items(100_000, seed=11)
    started = time.perf_counter()
    frame = to_frame(items)
    load_s = time.perf_counter() - started
    charts.build_all(to_frame(items[:300]))  # plotly loads its validators lazily: once per process

    started = time.perf_counter()
    selected = analytics.apply_filters(frame, Filters(statuses=("ok", "error"), sources=("ui", "bench")))
    tables = {
        fn.__name__: fn(selected)
        for fn in (
            analytics.latency_percentiles,
            analytics.cold_start_penalty,
            analytics.cold_start_rate,
            analytics.cost_per_image,
            analytics.tokens_per_provider,
            analytics.error_rates,
            analytics.errors_by_type,
            analytics.accuracy,
            analytics.provider_summary,
        )
    }
    figures = charts.build_all(selected)
    elapsed = time.perf_counter() - started
    print(f"\n100k results: to_frame {load_s:.2f} s; filters + {len(tables)} tables + {len(figures)} figures {elapsed:.2f} s (target 1.5 s)")

    assert len(selected) == 100_000
    ok = selected[selected["status"] == "ok"]
    warm = ok.loc[(ok["provider"] == "sagemaker") & (ok["temperature"] == "warm"), "latency_ms"].to_numpy()
    percentiles = tables["latency_percentiles"]
    sm_warm = percentiles[(percentiles["provider"] == "sagemaker") & (percentiles["temperature"] == "warm")].iloc[0]
    assert sm_warm["n"] == warm.size and sm_warm["p50"] == pytest.approx(np.percentile(warm, 50))
    assert sm_warm["p99"] == pytest.approx(np.percentile(warm, 99))
    errors = tables["error_rates"].set_index(tables["error_rates"]["provider"].astype(str))
    assert errors["errors"].sum() == sum(i["status"] == "error" for i in items)
    assert errors.loc["bedrock", "throttled"] == sum(i.get("error_type") == "throttled" and i["provider"] == "bedrock" for i in items)
    assert tables["cost_per_image"]["total_usd"].sum() == pytest.approx(sum(i.get("cost_usd", 0.0) for i in items))
    boxes = figures["latency"].data
    assert {b.boxpoints for b in boxes} == {"outliers", "all"}  # ~1,500 cold starts drawn as points, the rest not
    assert sum(len(t.x) for t in figures["latency_vs_size"].data) == len(ok)


# --- reading at a glance --------------------------------------------------------------------------------------------


def test_log_ticks_run_in_1_2_5_steps_labelled_in_ms_and_s() -> None:
    assert charts.log_ticks([12, 3_400]) == (
        [10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0],
        ["10 ms", "20 ms", "50 ms", "100 ms", "200 ms", "500 ms", "1 s", "2 s", "5 s"],
    )
    assert charts.log_ticks([0.3, 40])[1] == ["0.2 ms", "0.5 ms", "1 ms", "2 ms", "5 ms", "10 ms", "20 ms", "50 ms"]
    assert charts.log_ticks([20_000, 1_500_000])[1][-3:] == ["500 s", "1,000 s", "2,000 s"]
    assert charts.log_ticks([np.nan, 0, -1]) == ([], [])


def _mantissas(values: list[float]) -> set[int]:
    return {int(round(v / 10 ** np.floor(np.log10(v)))) for v in values}


@pytest.mark.parametrize("key", ["latency", "latency_over_time", "latency_vs_size"])
def test_log_latency_axes_have_1_2_5_ticks_with_units(key: str) -> None:
    items = [item("sagemaker", latency_ms=v, cold_start=v > 500, image_width=500 + v, minutes=i)
             for i, v in enumerate([12, 15, 30, 45, 1_800, 4_200])]
    fig = charts.build_all(to_frame(items), LEGEND)[key]
    axis = fig.layout.yaxis
    assert axis.type == "log" and axis.tickmode == "array"
    assert _mantissas(list(axis.tickvals)) <= {1, 2, 5}
    assert axis.tickvals[0] <= 12 and axis.tickvals[-1] >= (4_200 if key != "latency_over_time" else 1_800)
    assert all(t.endswith((" ms", " s")) for t in axis.ticktext)
    assert "1 s" in axis.ticktext and "1,000 ms" not in axis.ticktext


def test_linear_latency_axes_use_separators() -> None:
    fig = charts.latency_distribution(to_frame([item("bedrock", latency_ms=1200 + i) for i in range(5)]), LEGEND)
    assert fig.layout.yaxis.type == "linear" and fig.layout.yaxis.tickformat == ",~f"


@pytest.mark.parametrize("key", ["cold_start_rate", "errors", "accuracy"])
def test_rates_are_in_percent_on_axis_title_and_ticks(key: str) -> None:
    fig = charts.build_all(pd.concat([_known(), _labelled()], ignore_index=True), LEGEND)[key]
    axis = fig.layout.yaxis
    assert "%" in fig.layout.title.text and "%" in axis.title.text
    assert all(t.endswith("%") for t in axis.ticktext) and axis.ticktext[0] == "0%"
    assert max(axis.tickvals) <= 100 and axis.range[1] > max(t.y.max() for t in fig.data)
    assert max(t.y.max() for t in fig.data) > 1  # percent, not fractions: 40% is 40, not 0.4
    step = axis.tickvals[1] - axis.tickvals[0]  # a linear axis: a 1-2-5 step
    assert _mantissas([step]) <= {1, 2, 5} and np.diff(axis.tickvals) == pytest.approx(step)


def test_small_rates_read_as_percent() -> None:
    items = [item("bedrock", latency_ms=10, minutes=i) for i in range(999)] + [item("bedrock", status="error")]
    fig = charts.error_rates(analytics.error_rates(to_frame(items)), LEGEND)
    assert fig.data[0].text[0] == "0.1%"
    assert fig.layout.yaxis.ticktext[-1].endswith("%") and fig.layout.yaxis.tickvals[-1] <= 0.2


@pytest.mark.parametrize("key", ["cold_start_rate", "accuracy"])
def test_labels_sit_above_the_error_bars(key: str) -> None:
    fig = charts.build_all(pd.concat([_known(), _labelled()], ignore_index=True), LEGEND)[key]
    (bar,) = fig.data
    assert bar.textposition == "none"  # not drawn on the bar, where the error bar runs through it
    tops = np.asarray(bar.y) + np.asarray(bar.error_y.array)
    labels = {a.text: a for a in fig.layout.annotations if a.x in bar.x}
    assert set(labels) == set(bar.text)
    for x, top, text in zip(bar.x, tops, bar.text):
        note = labels[text]
        assert note.x == x and note.y == pytest.approx(top) and note.yanchor == "bottom" and note.yshift > 0
    assert fig.layout.yaxis.range[1] > max(tops)


def test_points_are_visible_and_outlined() -> None:
    figures = charts.build_all(_known(), LEGEND)
    markers = [t.marker for t in figures["latency"].data] + [t.marker for t in figures["latency_vs_size"].data]
    for marker in markers:
        assert marker.size >= 6 and marker.opacity >= 0.6
        assert marker.line.color == "white" and marker.line.width >= 1


def test_no_label_or_hover_says_none_or_nan() -> None:
    items = [
        item("bedrock", latency_ms=100, cost_usd=None, minutes=1),  # no price, no tokens
        item("bedrock", latency_ms=120, cost_usd=0.0000012, minutes=2),
        item("sagemaker", latency_ms=30, cold_start=True, minutes=3),  # cold only: no warm median
        item("azure_openai", latency_ms=400, input_tokens=3000, output_tokens=None, minutes=4, correct=False),
        item("azure_openai", status="error", error_type=None, minutes=5),
    ]
    for key, fig in charts.build_all(to_frame(items), LEGEND).items():
        shown = _shown(fig)
        for word in ("None", "nan", "NaN", "inf"):
            assert word not in shown.replace("Inference", ""), (key, word, shown)
    cost = charts.cost_per_image(analytics.cost_per_image(to_frame(items)), LEGEND)
    assert cost.data[0].text[0] == "$0.0012"  # per 1,000 images: never rounded to zero
    assert "mean $0.0000012" in cost.data[0].hovertext[0] and "$0.0012 per 1,000 images" in cost.data[0].hovertext[0]
    penalty = charts.cold_start_penalty(analytics.cold_start_penalty(to_frame(items)), LEGEND)
    assert penalty.data[0].text[0] == "– no warm calls"


def test_catalogue_colours_are_one_per_target_and_reused_everywhere() -> None:
    figures = charts.build_all(pd.concat([_known(), _labelled()], ignore_index=True), LEGEND)
    by_title = {LEGEND.title(i): LEGEND.color(i) for i in LEGEND.ids}
    assert len(set(by_title.values())) == len(by_title)
    for key in ("cold_start_rate", "cost_per_image", "accuracy"):
        (bar,) = figures[key].data
        for x, color in zip(bar.x, bar.marker.color):
            assert by_title[x.split("<br>")[0]] == color, key
    for trace in figures["latency"].data:
        assert by_title[trace.name.split(" ·")[0]] == trace.line.color == trace.marker.color


def test_latency_over_time_of_a_single_minute_reads_in_minutes() -> None:
    """A fresh history (every call in one minute) gets a ten-minute window with HH:MM ticks, never sub-second ones."""
    items = [
        {"run_id": f"r{i}", "created_at": f"2026-12-04T18:52:00.{i:06d}Z", "provider": "sagemaker", "model": "m",
         "status": "ok", "latency_ms": 100.0 + i, "cold_start": False}
        for i in range(5)
    ]  # fmt: skip
    fig = charts.latency_over_time(analytics.latency_over_time(analytics.to_frame(items)))
    low, high = (pd.Timestamp(x) for x in fig.layout.xaxis.range)
    assert high - low == pd.Timedelta(minutes=10)
    assert fig.layout.xaxis.tickformat.startswith("%H:%M")
    assert fig.layout.legend.y < -0.25  # below the axis title


# --- streaming: time to first token, output speed, where the time goes ------------------------------------------

STREAM_TIMINGS = {"queue_ms": 0.5, "prepare_ms": 12.0}


def _streamed_items() -> list[dict]:
    """Streamed answers (Bedrock reports its own time, Azure does not), a classifier with cold starts that does not
    stream, and a target of an OpenAI-compatible server that streams and reports cold starts."""
    items = [
        item("bedrock", latency_ms=900 + 10 * i, provider_latency_ms=800, ttft_ms=300 + 20 * i, output_tokens_per_s=80 + i,
             output_tokens=60, streamed=True, timings=STREAM_TIMINGS, minutes=i)
        for i in range(6)
    ]  # fmt: skip
    items += [
        item("azure_openai", latency_ms=1500 + i, ttft_ms=700 + i, output_tokens_per_s=120 - i, output_tokens=60,
             streamed=True, timings={"queue_ms": 1.0, "prepare_ms": 20.0 + i}, minutes=i)
        for i in range(4)
    ]  # fmt: skip
    items += [
        item("sagemaker", latency_ms=40 + i, provider_latency_ms=30, cold_start=i == 0, streamed=False, timings=STREAM_TIMINGS, minutes=i)
        for i in range(3)
    ]  # fmt: skip
    items += [
        item("ollama-llava", latency_ms=3000 + 100 * i, ttft_ms=6000 if i == 0 else 150 + i, output_tokens_per_s=30,
             cold_start=i == 0, streamed=True, timings=STREAM_TIMINGS, minutes=i)
        for i in range(3)
    ]  # fmt: skip
    items.append(item("bedrock", status="error", error_type="stream_cut", latency_ms=400, ttft_ms=250, streamed=True, minutes=9))
    return items


def _streamed() -> pd.DataFrame:
    return to_frame(_streamed_items())


def _marks(fig: go.Figure) -> dict[str, go.Scatter]:
    return {t.name: t for t in fig.data if isinstance(t, go.Scatter)}


def test_ttft_boxes_per_target_cold_and_warm_apart_with_their_percentiles() -> None:
    items = _streamed_items()
    fig = charts.ttft_distribution(to_frame(items), LEGEND)
    boxes = [t for t in fig.data if isinstance(t, go.Box)]
    assert [b.name for b in boxes] == [
        "Amazon Bedrock (n=6)", "Azure OpenAI (n=4)", "ollama-llava · warm (n=2)", "ollama-llava · cold (n=1)",
    ]  # successful streamed calls only: not the classifier, not the cut stream; cold and warm apart where reported
    assert list(boxes[0].y) == [300, 320, 340, 360, 380, 400]
    assert boxes[0].line.color == COLOR["bedrock"] and boxes[1].line.color == COLOR["azure_openai"]
    assert boxes[2].line.color == boxes[3].line.color == LEGEND.covering(["ollama-llava"]).color("ollama-llava")
    bedrock = np.array([300, 320, 340, 360, 380, 400], dtype=float)
    p50, p95 = np.percentile(bedrock, [50, 95])
    assert boxes[0].x0 == f"Amazon Bedrock<br>n=6<br>p50 {fmt_ms(p50)} · p95 {fmt_ms(p95)}"
    assert "warm<br>n=2" in boxes[2].x0 and "cold<br>n=1" in boxes[3].x0
    marks = _marks(fig)
    assert list(marks) == ["p95", "p99"]
    assert marks["p95"].y[0] == pytest.approx(p95) and marks["p99"].y[0] == pytest.approx(np.percentile(bedrock, 99))
    assert list(marks["p95"].x) == [b.x0 for b in boxes]  # one dash across each box
    assert "Amazon Bedrock: p95 395 ms (n=6)" in marks["p95"].hovertext
    assert fig.layout.yaxis.title.text == "Time to first token (ms or s, log scale)"  # 151 ms beside 6 s
    assert all(t.endswith((" ms", " s")) for t in fig.layout.yaxis.ticktext)


def fmt_ms(value: float) -> str:
    from mcv_core import formatting

    return formatting.duration_ms(value)


def test_output_speed_boxes_mark_the_slow_tail_in_tokens_per_second() -> None:
    fig = charts.output_rate(_streamed(), LEGEND)
    boxes = [t for t in fig.data if isinstance(t, go.Box)]
    assert [b.name for b in boxes][:2] == ["Amazon Bedrock (n=6)", "Azure OpenAI (n=4)"]
    assert list(boxes[1].y) == [117, 118, 119, 120]  # sorted
    assert fig.layout.yaxis.title.text == "Output speed (tokens/s)" and fig.layout.yaxis.rangemode == "tozero"
    marks = _marks(fig)
    assert list(marks) == ["p5", "p1"]  # a speed's slow tail is its low end
    azure = np.array([117, 118, 119, 120], dtype=float)
    assert marks["p5"].y[1] == pytest.approx(np.percentile(azure, 5))
    assert boxes[1].x0.endswith(f"p50 {np.percentile(azure, 50):,.0f} tokens/s · p5 {np.percentile(azure, 5):,.0f} tokens/s")


@pytest.mark.parametrize("build", [charts.ttft_distribution, charts.output_rate], ids=["ttft", "output_rate"])
def test_a_selection_without_streamed_answers_says_so(build) -> None:
    frame = to_frame([item("sagemaker", latency_ms=30, streamed=False), item("bedrock", latency_ms=900, streamed=False)])
    fig = build(frame, LEGEND)
    assert not fig.data
    assert "No streamed answers in this selection" in _annotations(fig)
    assert "measured on streamed calls only" in _annotations(fig)
    assert charts.EMPTY_TEXT in _annotations(build(to_frame([]), LEGEND))  # nothing at all: the usual words


def test_anatomy_stacks_each_part_s_median_per_target() -> None:
    fig = charts.anatomy_per_target(_streamed(), LEGEND)
    bars = [t for t in fig.data if t.x is not None and t.x[0] is not None]
    keys = [t for t in fig.data if t.x is not None and t.x[0] is None]
    assert [t.name for t in bars] == ["waiting for a slot", "preparing the image", "the service's own time", "network and client"]
    assert [t.name for t in keys] == [t.name for t in bars]  # the legend: one key per part, in grey
    assert {t.marker.color for t in keys} == {charts.PART_KEY_COLOR} and all(not t.showlegend for t in bars)
    assert fig.layout.barmode == "stack" and all(t.orientation == "h" for t in bars)
    labels = list(bars[0].y)
    assert [label.split("<br>")[0] for label in labels] == ["SageMaker Serverless", "Amazon Bedrock", "Azure OpenAI", "ollama-llava"]
    assert labels[1] == "Amazon Bedrock<br>n=6"
    by_part = {t.name: dict(zip([label.split("<br>")[0] for label in t.y], t.x)) for t in bars}
    assert by_part["preparing the image"]["Azure OpenAI"] == pytest.approx(21.5)  # the median of 20, 21, 22, 23
    assert by_part["the service's own time"]["Amazon Bedrock"] == 800
    assert by_part["network and client"]["Amazon Bedrock"] == pytest.approx(np.median([100 + 10 * i for i in range(6)]))
    assert not np.isfinite(by_part["the service's own time"]["Azure OpenAI"])  # it reports none
    assert by_part["network and client"]["Azure OpenAI"] == pytest.approx(1501.5)  # the whole call
    network = bars[3]
    azure = [h for h in network.hovertext if h.startswith("Azure OpenAI")][0]
    assert "with the service's own time (it reports none)" in azure and "(n=4)" in azure
    assert list(network.marker.color) == [LEGEND.color(p) for p in ("sagemaker", "bedrock", "azure_openai")] + [
        LEGEND.covering(["ollama-llava"]).color("ollama-llava")
    ]
    assert network.marker.pattern.shape == "/" and not bars[2].marker.pattern.shape
    assert fig.layout.xaxis.title.text == "Median time per call (ms)"
    assert "need not add up" in _annotations(fig)
    assert "Azure OpenAI and ollama-llava report no service time of their own: it is inside network and client." in _annotations(fig)


def test_anatomy_says_when_no_call_recorded_its_parts() -> None:
    frame = to_frame([item("bedrock", status="ok")])  # no latency, no timings: nothing to take apart
    fig = charts.anatomy_per_target(frame, LEGEND)
    assert not fig.data and charts.NO_ANATOMY_TEXT in _annotations(fig)


def test_one_call_s_anatomy_from_a_result_or_a_stored_item() -> None:
    from mcv_core.records import ProviderResult

    result = ProviderResult(
        provider="bedrock", model="m", status="ok", latency_ms=1200.0, provider_latency_ms=1100.0, ttft_ms=400.0,
        timings={"queue_ms": 2.0, "prepare_ms": 18.0},
    )  # fmt: skip
    for given in (result, result.to_json()):
        fig = charts.call_anatomy(given, LEGEND)
        bars = [t for t in fig.data if t.x[0] is not None]
        assert [t.x[0] for t in bars] == [2.0, 18.0, 1100.0, 100.0]
        assert [t.text[0] for t in bars] == ["2 ms", "18 ms", "1,100 ms", "100 ms"]
        assert fig.layout.title.text == "Where did the time go? 1,220 ms in all"
        keys = [t for t in fig.data if t.x[0] is None]
        assert [t.name for t in keys] == [
            "waiting for a slot: 2 ms", "preparing the image: 18 ms", "the service's own time: 1,100 ms", "network and client: 100 ms",
        ]  # fmt: skip
        assert {t.marker.color for t in keys} == {COLOR["bedrock"]}
        (line,) = fig.layout.shapes
        assert line.x0 == line.x1 == 420.0  # waited and prepared, then the first words 400 ms after the request left
        assert "first words at 420 ms" in _annotations(fig)
        assert fig.layout.xaxis.title.text == "Time from the start (ms)"
    unreported = charts.call_anatomy(ProviderResult(provider="azure_openai", model="m", status="ok", latency_ms=900.0), LEGEND)
    assert [t.name for t in unreported.data if t.x[0] is None] == [
        "network and client, with the service's own time (it reports none): 900 ms"
    ]
    assert not unreported.layout.shapes  # not streamed: no first words to mark
    nothing = charts.call_anatomy({"provider": "bedrock", "status": "error"}, LEGEND)
    assert not nothing.data and "No timings were recorded for this call" in _annotations(nothing)


# --- an alarm's metric (the Infrastructure page) ---------------------------------------------------------------------


def _alarm_series(values: list[float], unit: str = "share", threshold: float = 0.1) -> object:
    from datetime import datetime, timedelta, timezone

    from mcv_core import alarms

    end = datetime(2026, 12, 6, 4, 0, tzinfo=timezone.utc)
    start = end - timedelta(hours=1)
    return alarms.MetricSeries(
        name="mc-vision-target-error-rate-bedrock", namespace=alarms.NAMESPACE, metric_name="Errors", statistic="Average",
        period_s=60, threshold=threshold, comparison_operator="GreaterThanThreshold", evaluation_periods=3,
        datapoints_to_alarm=2, treat_missing_data="notBreaching", description="", unit=unit, start=start, end=end,
        timestamps=tuple(end - timedelta(minutes=len(values) - i) for i in range(len(values))), values=tuple(values),
    )  # fmt: skip


def test_an_alarm_s_metric_is_drawn_over_its_window_with_the_threshold_line() -> None:
    series = _alarm_series([0.0, 0.25, 0.5])
    fig = charts.alarm_metric(series, "Errors (Average) per 1 min, last hour (UTC)")
    (trace,) = fig.data
    assert list(trace.y) == [0.0, 25.0, 50.0]  # a share drawn in percent
    assert list(trace.hovertext) == ["0%", "25%", "50%"]
    (line,) = fig.layout.shapes
    assert line.y0 == line.y1 == pytest.approx(10.0) and line.line.dash == "dash"
    assert [a.text for a in fig.layout.annotations] == ["threshold 10%"]
    assert list(fig.layout.xaxis.range) == [series.start, series.end]  # the whole hour, not just the points
    assert fig.layout.yaxis.range[1] > 50.0 and fig.layout.yaxis.ticksuffix == "%"
    assert fig.layout.height == 200


def test_an_alarm_without_datapoints_still_shows_its_threshold_and_says_why() -> None:
    fig = charts.alarm_metric(_alarm_series([], unit="ms", threshold=20000))
    assert not fig.data
    texts = [a.text for a in fig.layout.annotations]
    assert "threshold 20.0 s" in texts and charts.NO_DATAPOINTS_TEXT in texts
    assert fig.layout.shapes[0].y0 == 20000 and fig.layout.yaxis.range[1] > 20000


def test_sagemaker_s_microseconds_are_drawn_and_labelled_as_durations() -> None:
    fig = charts.alarm_metric(_alarm_series([1_500_000.0, 2_500_000.0], unit="µs", threshold=2_000_000))
    (trace,) = fig.data
    assert list(trace.y) == [1500.0, 2500.0] and list(trace.hovertext) == ["1,500 ms", "2,500 ms"]
    assert fig.layout.shapes[0].y0 == pytest.approx(2000.0)
    assert [a.text for a in fig.layout.annotations] == ["threshold 2,000 ms"]
    assert list(fig.layout.yaxis.ticktext) == ["0", "1 s", "2 s", "3 s"]


@pytest.mark.parametrize(
    ("ms", "text"),
    [(0.5, "0.5 ms"), (20, "20 ms"), (500, "500 ms"), (1000, "1 s"), (1500, "1.5 s"), (2000, "2 s"), (0.3 * 10, "3 ms"),
     (1_000_000, "1,000 s")],
)  # fmt: skip
def test_a_duration_tick_shows_as_many_decimals_as_its_value_needs(ms: float, text: str) -> None:
    assert charts.duration_tick(ms) == text


def test_an_alarm_s_duration_axis_never_repeats_a_label() -> None:
    fig = charts.alarm_metric(_alarm_series([], unit="µs", threshold=2_000_000))
    labels = list(fig.layout.yaxis.ticktext)
    assert labels == ["0", "500 ms", "1 s", "1.5 s", "2 s"] and len(set(labels)) == len(labels)


def test_the_chart_s_feed_reads_each_alarm_s_statistic_per_period_from_cloudwatch() -> None:
    """alarms.metric_series_from on moto: the alarm's own statistic, period and dimensions over the window; a
    percentile from per-second sets where CloudWatch (moto) cannot give it."""
    from datetime import datetime, timedelta, timezone

    import boto3
    from moto import mock_aws

    from mcv_core import alarms

    now = datetime.now(timezone.utc).replace(second=30, microsecond=0)
    dims = [{"Name": "Target", "Value": "bedrock"}, {"Name": "Service", "Value": "bedrock"}]
    other = [{"Name": "Target", "Value": "azure_openai"}, {"Name": "Service", "Value": "azure_openai"}]
    with mock_aws():
        cloudwatch = boto3.client("cloudwatch", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
        for definition in alarms.target_alarms({"bedrock": "bedrock"}, 60):
            cloudwatch.put_metric_alarm(**definition.put_kwargs())
        minute = now.replace(second=0) - timedelta(minutes=2)  # a whole period before the window's end
        for i, (error, latency) in enumerate([(1.0, 100.0), (0.0, 200.0), (0.0, 300.0), (1.0, 400.0)]):
            at = minute + timedelta(seconds=5 + 10 * i)
            cloudwatch.put_metric_data(Namespace=alarms.NAMESPACE, MetricData=[
                {"MetricName": "Errors", "Dimensions": dims, "Value": error, "Timestamp": at, "StorageResolution": 1},
                {"MetricName": "Latency", "Dimensions": dims, "Value": latency, "Timestamp": at, "StorageResolution": 1},
                {"MetricName": "Errors", "Dimensions": other, "Value": 1.0, "Timestamp": at, "StorageResolution": 1},
            ])  # fmt: skip
        items = cloudwatch.describe_alarms(AlarmNamePrefix="mc-vision-")["MetricAlarms"]
        found = alarms.metric_series_from(cloudwatch, items, now, 60, raw_percentiles=True)
    errors, latency = found["mc-vision-target-error-rate-bedrock"], found["mc-vision-target-latency-p95-bedrock"]
    assert (errors.statistic, errors.period_s, errors.unit, errors.threshold) == ("Average", 60, "share", 0.1)
    assert errors.values == (0.5,) and errors.timestamps == (minute,)  # the other target's errors are not counted
    assert latency.statistic == "p95" and latency.unit == "ms" and latency.values == (400.0,)
    assert errors.end - errors.start == timedelta(hours=1) and errors.end <= now
