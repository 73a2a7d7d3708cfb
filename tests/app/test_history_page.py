"""The History page through Streamlit's AppTest, on the issue's benchmark: the labelled sample set x 3 providers x 3
repeats, run once per session through the command line (`sample_bench`).

Every number the page shows is checked against the raw result items, recomputed here with numpy, never with
mcv_core.analytics: the headline metrics, each tab's table (DataFrame values) and each chart (the figure JSON
Streamlit sends to the browser). The page is filtered to the benchmark through `?bench=<id>`, as the Benchmark page
links to it, so results of other tests in the same local cloud do not count.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import subprocess
import sys
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from mcv_core import formatting as fmt
from tests.app.tables import assert_tables_configured, shown_columns

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "app.py"

PROVIDERS = ("sagemaker", "bedrock", "azure_openai")  # the page's display order
TITLES = {"sagemaker": "SageMaker Serverless", "bedrock": "Amazon Bedrock", "azure_openai": "Azure OpenAI"}
BY_TITLE = {title: name for name, title in TITLES.items()}
TABS = [
    "Latency", "Streaming", "Cold starts", "Cost & tokens", "Errors", "Accuracy", "Online vs batch", "Outputs", "Export",
]  # fmt: skip
# The question each chart answers (its title starts with it), by widget key; which tab shows which.
QUESTIONS = {
    "history.chart.latency": "How fast is each model?",
    "history.chart.time": "How did latency change over time?",
    "history.chart.size": "Does latency grow with image size?",
    "history.chart.anatomy": "Where does the time go?",
    "history.chart.ttft": "How long until the first words?",
    "history.chart.output_rate": "How fast do the words come after the first?",
    "history.chart.penalty": "What does a cold start cost?",
    "history.chart.cold": "How often does SageMaker Serverless start cold?",
    "history.chart.cost": "What does an image cost per model?",
    "history.chart.tokens": "How many tokens does each model use per image?",
    "history.chart.errors": "How often does each model fail or throttle?",
    "history.chart.accuracy": "How accurate is each model on labelled images?",
}
TAB_CHARTS = {
    "Latency": ["history.chart.latency", "history.chart.anatomy", "history.chart.time", "history.chart.size"],
    "Streaming": ["history.chart.ttft", "history.chart.output_rate"],
    "Cold starts": ["history.chart.penalty", "history.chart.cold"],
    "Cost & tokens": ["history.chart.cost", "history.chart.tokens"],
    "Errors": ["history.chart.errors"],
    "Accuracy": ["history.chart.accuracy"],
    "Online vs batch": [],
    "Outputs": [],
    "Export": [],
}
# Chart ids in the HTML report (mcv_core.charts.ALL_CHARTS keys: the report's contract with its readers).
REPORT_CHARTS = (
    "latency", "latency_over_time", "latency_vs_size", "ttft", "output_rate", "anatomy", "cold_start_penalty",
    "cold_start_rate", "cost_per_image", "tokens", "errors", "accuracy",
)  # fmt: skip
GRID_DEFAULT = 6  # comparisons the Outputs grid shows before any is picked
THUMBNAIL_PX = 320
RTOL = 1e-9
# What `history --json` and `bench --json` must agree on, result by result.
SAME_FIELDS = (
    "status", "latency_ms", "cost_usd", "cold_start", "correct", "model", "output", "input_tokens", "output_tokens",
)  # fmt: skip
TOKEN_TRACES = (  # token chart trace -> item field
    ("input (image included)", "input_tokens"),
    ("output", "output_tokens"),
    ("image (estimated part of input)", "image_tokens"),
)


# --- fixtures -----------------------------------------------------------------------------------------------------


@pytest.fixture
def media(monkeypatch: pytest.MonkeyPatch) -> dict[str, tuple[bytes, str, str | None]]:
    """What the page hands to the browser as files (images, downloads), by media file id: (bytes, mimetype, name)."""
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    files: dict[str, tuple[bytes, str, str | None]] = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def load_and_get_id(self: Any, path_or_data: Any, mimetype: str, kind: Any, filename: str | None = None) -> str:
        file_id = original(self, path_or_data, mimetype, kind, filename)
        data = path_or_data if isinstance(path_or_data, bytes) else Path(path_or_data).read_bytes()
        files[file_id] = (bytes(data), mimetype, filename)
        return file_id

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", load_and_get_id)
    return files


@pytest.fixture
def cleared_faults(local_settings: Any) -> Iterator[Any]:
    """The emulator's connection, with no fault planned before or after the test."""
    from mcv_core.local import control

    conn = control.running(local_settings)
    assert conn is not None, "the local cloud of the test session is not running"
    control.emulator_admin(conn, "DELETE", "/_mcv/faults")
    try:
        yield conn
    finally:
        control.emulator_admin(conn, "DELETE", "/_mcv/faults")


def mcv_json(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "mcv_core", *args],
        cwd=REPO,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def stored_items(bench_id: str) -> list[dict[str, Any]]:
    """The benchmark's result items as `history --json` prints them."""
    doc = mcv_json("history", "--since", "24h", "--json")
    return [item for item in doc["results"] if item.get("bench_id") == bench_id]


@pytest.fixture(scope="module")
def raw(sample_bench: dict[str, Any]) -> list[dict[str, Any]]:
    """The raw items every expected number below is computed from."""
    items = stored_items(sample_bench["bench_id"])
    assert len(items) == len(sample_bench["results"]) == 90, (len(items), len(sample_bench["results"]))
    return items


# --- the page -----------------------------------------------------------------------------------------------------


def _exceptions(at: AppTest) -> str:
    return "\n".join(f"{e.message}\n{''.join(e.stack_trace)}" for e in at.exception)


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, _exceptions(at)
    return at


def open_history(bench_id: str, tab: str = "Latency") -> AppTest:
    """History, filtered to one benchmark through the query string, on `tab`."""
    st.cache_resource.clear()  # the workbench and the page's frame cache come from this session's local cloud
    st.cache_data.clear()
    at = AppTest.from_file(str(APP), default_timeout=120)
    run(at)
    at.switch_page("pages/history.py")
    at.query_params["bench"] = bench_id
    run(at)
    assert [t.value for t in at.title] == ["History"]
    if tab != "Latency":
        at.session_state["history.tab"] = tab
        run(at)
    return at


@pytest.fixture
def history(
    routed: None, media: dict, raw: list[dict[str, Any]], sample_bench: dict[str, Any]
) -> Iterator[Callable[[str], AppTest]]:
    yield lambda tab="Latency": open_history(sample_bench["bench_id"], tab)
    st.cache_resource.clear()
    st.cache_data.clear()


def figures(at: AppTest) -> dict[str, dict[str, Any]]:
    """The plotly figures on the page, by widget key, as the JSON the browser draws."""
    return {chart.key: json.loads(chart.proto.spec) for chart in at.get("plotly_chart")}


def title_of(figure: dict[str, Any]) -> str:
    title = figure["layout"].get("title", {})
    return title.get("text", "") if isinstance(title, dict) else str(title)


def array(value: Any) -> np.ndarray:
    """A figure array: plotly sends numbers as base64 typed arrays ({dtype, bdata, shape}) or as plain lists."""
    if isinstance(value, dict) and "bdata" in value:
        out = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype("<" + value["dtype"]))
        if "shape" in value:
            out = out.reshape([int(s) for s in str(value["shape"]).split(",")])
        return out.astype(np.float64)
    return np.asarray(value, dtype=object if value and isinstance(value[0], str) else np.float64)


def traces(figure: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {trace.get("name"): trace for trace in figure["data"]}


def bars_by_provider(trace: dict[str, Any]) -> dict[str, tuple[float, Any]]:
    """A bar trace whose x labels are "<provider title><br>n=<n>": {provider: (y, customdata row)}."""
    ys = array(trace["y"])
    custom = array(trace["customdata"]) if "customdata" in trace else [None] * len(ys)
    out = {}
    for label, y, extra in zip(trace["x"], ys, custom):
        title, _, n = label.partition("<br>")
        out[BY_TITLE[title]] = (float(y), extra)
    return out


def assert_charts(at: AppTest, tab: str) -> dict[str, dict[str, Any]]:
    """The tab shows exactly its charts (the others are lazy), each titled with its question and drawn from data."""
    shown = figures(at)
    assert sorted(shown) == sorted(TAB_CHARTS[tab]), f"{tab}: charts {sorted(shown)}"
    for key, figure in shown.items():
        assert title_of(figure).startswith(QUESTIONS[key]), (key, title_of(figure))
        assert figure["data"], f"{key} has no data"
    return shown


def table(at: AppTest, *columns: str) -> pd.DataFrame:
    """The one table on the page that has these columns. The page names targets by title in its "model" column:
    asked for "provider", this gives their ids back in a "provider" column."""
    wanted = {"model" if c == "provider" else c for c in columns}
    found = [d.value for d in at.dataframe if wanted <= set(d.value.columns)]
    shown = [list(d.value.columns) for d in at.dataframe]
    assert len(found) == 1, f"{len(found)} tables with columns {columns}: {shown}"
    frame = found[0].copy()
    if "provider" in columns:
        assert set(frame["model"]) <= set(BY_TITLE), f"targets not shown by title: {set(frame['model'])}"
        frame["provider"] = frame["model"].map(BY_TITLE)
    for name in ("provider", "temperature", "error_type", "latency_basis"):
        if name in frame:
            frame[name] = frame[name].astype(str)
    return frame


def close(actual: Any, expected: Any, what: str) -> None:
    np.testing.assert_allclose(
        np.asarray(actual, dtype=np.float64),
        np.asarray(expected, dtype=np.float64),
        rtol=RTOL,
        atol=1e-12,
        equal_nan=True,
        err_msg=what,
    )


# --- the raw numbers, with numpy ------------------------------------------------------------------------------------


def temperature(item: dict[str, Any]) -> str:
    return {True: "cold", False: "warm", None: "not reported"}[item.get("cold_start")]


def ok(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [i for i in items if i["status"] == "ok"]


def group(items: Iterable[dict[str, Any]], key: Callable[[dict[str, Any]], Any]) -> dict[Any, list[dict[str, Any]]]:
    out: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for item in items:
        out[key(item)].append(item)
    return dict(out)


def by_provider(items: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    return group(items, lambda i: i["provider"])


def numbers(items: Iterable[dict[str, Any]], field: str) -> np.ndarray:
    return np.array([float(i[field]) for i in items if i.get(field) is not None], dtype=np.float64)


def pct(values: np.ndarray, q: float) -> float:
    return float(np.percentile(values, q)) if values.size else float("nan")


def mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else float("nan")


def reports_cold(items: list[dict[str, Any]]) -> bool:
    return any(i.get("cold_start") is not None for i in ok(items))


def money_close(shown: str, value: float) -> None:
    """The page's money text ("$0.0515", "$0.000123") is `value` rounded to the digits it shows."""
    m = re.fullmatch(r"\$([\d,]+)\.(\d+)", shown)
    assert m, shown
    digits = len(m.group(2))
    number = float(f"{m.group(1).replace(',', '')}.{m.group(2)}")
    assert abs(number - value) <= 0.5 * 10**-digits + 1e-12, (shown, value)


def headline(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def assert_headline(at: AppTest, items: list[dict[str, Any]]) -> None:
    shown = headline(at)
    assert set(shown) == {"Results", "Comparisons", "Errors", "Cost"}, shown
    assert shown["Results"] == f"{len(items):,}"
    assert shown["Comparisons"] == f"{len({i['run_id'] for i in items}):,}"
    assert shown["Errors"] == f"{sum(i['status'] != 'ok' for i in items):,}"
    money_close(shown["Cost"], float(numbers(items, "cost_usd").sum()))


# --- tests --------------------------------------------------------------------------------------------------------


# Each tab's table: the columns it shows before "More columns" is used (money as its formatted text).
TAB_TABLES = {
    "Latency": ("latency", ["model", "temperature", "n", "p50", "p95", "p99"]),
    "Cold starts": ("penalty", ["model", "p50_cold", "p50_warm", "penalty_ms", "penalty_ratio (shown)"]),
    "Cost & tokens": ("cost", ["model", "n", "mean_usd (shown)", "per_1000_images_usd (shown)", "total_usd (shown)"]),
    "Errors": ("errors", ["model", "error_type (shown)", "errors", "rate"]),
    "Accuracy": ("accuracy", ["model", "accuracy", "n_scored", "p50_ms", "mean_cost_usd (shown)"]),
}


def test_every_tab_s_table_is_titled_explained_and_without_raw_values(history: Callable[..., AppTest]) -> None:
    at = history("Latency")
    for tab, (name, columns) in TAB_TABLES.items():
        at.session_state["history.tab"] = tab
        run(at)
        if tab == "Errors" and not at.dataframe:
            continue  # no error in the sample benchmark: the tab has its chart only
        assert assert_tables_configured(at) == 1, f"{tab}: one table"
        assert shown_columns(at.dataframe[0]) == columns, tab
        more = at.multiselect(key=f"history.table.{name}.more")
        more.set_value(list(more.options))
        run(at)
        shown = shown_columns(at.dataframe[0])
        assert len(shown) > len(columns) and shown[: len(columns)] == columns, (tab, shown)
        assert_tables_configured(at)


def test_history_json_returns_the_benchmarks_items(sample_bench: dict[str, Any], raw: list[dict[str, Any]]) -> None:
    bench = {(r["run_id"], r["provider"]): r for r in sample_bench["results"]}
    stored = {(i["run_id"], i["provider"]): i for i in raw}
    assert len(bench) == len(sample_bench["results"]) == 90 and len({r for r, _ in bench}) == 30
    assert set(stored) == set(bench) and len(stored) == len(raw)
    for key, item in stored.items():
        printed = bench[key]
        for field in SAME_FIELDS:
            assert item.get(field) == printed.get(field), (key, field, item.get(field), printed.get(field))
        assert item["source"] == "bench" and item["bench_id"] == sample_bench["bench_id"]
        assert item["image_name"] == printed["image"]
    assert {p for _, p in stored} == set(PROVIDERS)


def test_latency_tab_matches_the_raw_items(
    history: Callable[..., AppTest], raw: list[dict[str, Any]], sample_bench: dict[str, Any]
) -> None:
    at = history("Latency")
    assert at.multiselect(key="history.bench").value == [sample_bench["bench_id"]], "?bench= did not filter"
    assert [t.label for t in at.tabs] == TABS
    assert_headline(at, raw)
    shown = assert_charts(at, "Latency")

    # The percentile table: per provider and temperature, SageMaker's warm and cold calls apart.
    frame = table(at, "provider", "temperature", "n", "p50", "p95")
    expected = group(ok(raw), lambda i: (i["provider"], temperature(i)))
    assert sorted(zip(frame["provider"], frame["temperature"])) == sorted(expected), frame[["provider", "temperature"]]
    assert {t for p, t in expected if p != "sagemaker"} == {"not reported"}, "only SageMaker reports cold starts"
    assert {t for p, t in expected if p == "sagemaker"} <= {"warm", "cold"} and ("sagemaker", "warm") in expected
    assert list(dict.fromkeys(frame["provider"])) == [p for p in PROVIDERS if p in set(frame["provider"])]
    for row in frame.to_dict("records"):
        latency = numbers(expected[(row["provider"], row["temperature"])], "latency_ms")
        what = f"{row['provider']} {row['temperature']}"
        assert row["n"] == latency.size, what
        for q in (50, 90, 95, 99):
            close(row[f"p{q}"], pct(latency, q), f"{what} p{q}")
        close(row["mean"], latency.mean(), f"{what} mean")
        assert latency.min() <= row["median_ci_low"] <= row["p50"] <= row["median_ci_high"] <= latency.max(), row

    # The box plot holds every successful call's latency, one box per provider and temperature.
    boxes = traces(shown["history.chart.latency"])
    assert len(boxes) == len(expected)
    for (provider, temp), items in expected.items():
        name = f"{TITLES[provider]} · {temp} (n={len(items):,})"
        assert name in boxes, (name, list(boxes))
        close(np.sort(array(boxes[name]["y"])), np.sort(numbers(items, "latency_ms").astype(np.float32)), name)

    # Median per time bucket (the bucket the title names), n and p95 in customdata.
    over_time = shown["history.chart.time"]
    unit = re.search(r"Median latency per (minute|hour)", title_of(over_time))
    assert unit, title_of(over_time)
    freq = {"minute": "min", "hour": "h"}[unit.group(1)]
    lines = traces(over_time)
    assert len(lines) == len(expected)
    for (provider, temp), items in expected.items():
        name = f"{TITLES[provider]} · {temp} (n={len(items):,})"
        line = lines[name]
        buckets = group(items, lambda i: pd.Timestamp(i["created_at"]).tz_convert("UTC").floor(freq).tz_localize(None))
        xs = [pd.Timestamp(x) for x in line["x"]]
        assert sorted(xs) == sorted(buckets), (name, xs, sorted(buckets))
        custom = array(line["customdata"])
        for x, y, (n, p95) in zip(xs, array(line["y"]), custom):
            latency = numbers(buckets[x], "latency_ms")
            assert n == latency.size, (name, x)
            close(y, pct(latency, 50), f"{name} {x} p50")
            close(p95, pct(latency, 95), f"{name} {x} p95")

    # Latency against the uploaded image's megapixels: the same (size, latency) pairs as the items.
    points = traces(shown["history.chart.size"])
    assert len(points) == len(expected)
    for (provider, temp), items in expected.items():
        prefix = f"{TITLES[provider]} · {temp} (n={len(items):,}"
        [name] = [n for n in points if n.startswith(prefix)]
        pairs = sorted(zip(array(points[name]["x"]), array(points[name]["y"])))
        megapixels = [np.float32(i["image_width"] * i["image_height"] / 1e6) for i in items]
        want = sorted(zip(megapixels, numbers(items, "latency_ms").astype(np.float32)))
        close(pairs, want, name)


def streamed(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [i for i in ok(items) if i.get("ttft_ms") is not None]


def test_streaming_tab_matches_the_raw_items(history: Callable[..., AppTest], raw: list[dict[str, Any]]) -> None:
    at = history("Streaming")
    assert_headline(at, raw)
    shown = assert_charts(at, "Streaming")
    expected = by_provider(streamed(raw))
    # The language models stream (on by default); the classifier cannot: it has no time to first token.
    assert sorted(expected) == ["azure_openai", "bedrock"], sorted(expected)
    assert all(i.get("streamed") is True for its in expected.values() for i in its)
    assert all(i.get("ttft_ms") is None for i in raw if i["provider"] == "sagemaker")
    for key, field, tail in (
        ("history.chart.ttft", "ttft_ms", ("p95", "p99")),
        ("history.chart.output_rate", "output_tokens_per_s", ("p5", "p1")),
    ):
        figure = shown[key]
        boxes = {t["name"]: t for t in figure["data"] if t["type"] == "box"}
        marks = {t["name"]: t for t in figure["data"] if t["type"] == "scatter"}
        assert sorted(marks) == sorted(tail), (key, list(marks))
        assert len(boxes) == len(expected), (key, list(boxes))
        for provider, items in expected.items():
            values = numbers(items, field)
            assert values.size == len(items), f"{provider}: every streamed call has its {field}"
            name = f"{TITLES[provider]} (n={len(items):,})"  # no cold starts reported: no temperature
            close(np.sort(array(boxes[name]["y"])), np.sort(values.astype(np.float32)), f"{key} {name}")
            where = list(marks[tail[0]]["x"]).index(boxes[name]["x0"])
            for mark in tail:
                close(array(marks[mark]["y"])[where], pct(values, float(mark[1:])), f"{key} {provider} {mark}")
    for provider, items in expected.items():  # the first words come strictly inside the whole answer
        assert all(0 < i["ttft_ms"] < i["latency_ms"] for i in items), provider
    captions = " ".join(c.value for c in at.caption)
    assert "No concurrency sweep in this selection" in captions, captions  # the benchmark has none

    # The classifier alone: nothing was streamed, and both charts say so rather than stay blank.
    at.multiselect(key="history.targets").set_value(["sagemaker"])
    run(at)
    for key, figure in figures(at).items():
        assert not figure["data"], key
        notes = " ".join(a.get("text", "") for a in figure["layout"].get("annotations", []))
        assert "No streamed answers in this selection" in notes, (key, notes)


def test_the_anatomy_of_calls_matches_the_raw_items(history: Callable[..., AppTest], raw: list[dict[str, Any]]) -> None:
    at = history("Latency")
    figure = assert_charts(at, "Latency")["history.chart.anatomy"]
    parts = {
        "waiting for a slot": lambda i: (i.get("timings") or {}).get("queue_ms"),
        "preparing the image": lambda i: (i.get("timings") or {}).get("prepare_ms"),
        "the service's own time": lambda i: i.get("provider_latency_ms"),
        "network and client": lambda i: i["latency_ms"] - (i.get("provider_latency_ms") or 0),
    }
    bars = {t["name"]: t for t in figure["data"] if t.get("hoverinfo") != "skip"}
    assert list(bars) == list(parts), list(bars)
    expected = by_provider(ok(raw))
    for name, value in parts.items():
        got = {label.split("<br>")[0]: x for label, x in zip(bars[name]["y"], array(bars[name]["x"]))}
        for provider, items in expected.items():
            values = np.array([float(v) for v in map(value, items) if v is not None], dtype=np.float64)
            close(got[TITLES[provider]], np.median(values) if values.size else np.nan, f"{provider} {name}")
    labels = list(bars["network and client"]["y"])
    assert labels == [f"{TITLES[p]}<br>n={len(expected[p]):,}" for p in PROVIDERS], labels
    # Chat completions report no time of their own: Azure's whole call is network and client.
    assert all(i.get("provider_latency_ms") is None for i in expected["azure_openai"])


def test_cold_starts_tab_matches_the_raw_items(history: Callable[..., AppTest], raw: list[dict[str, Any]]) -> None:
    at = history("Cold starts")
    assert_headline(at, raw)
    shown = assert_charts(at, "Cold starts")
    reporting = {p: items for p, items in by_provider(ok(raw)).items() if reports_cold(items)}
    assert list(reporting) == ["sagemaker"], "only SageMaker reports cold starts"

    frame = table(at, "provider", "n_cold", "n_warm", "p50_cold", "p50_warm", "penalty_ms", "penalty_ratio")
    assert list(frame["provider"]) == list(reporting)
    penalty = traces(shown["history.chart.penalty"])
    rate = bars_by_provider(shown["history.chart.cold"]["data"][0])
    assert set(rate) == set(reporting)
    for row in frame.to_dict("records"):
        items = reporting[row["provider"]]
        cold = numbers([i for i in items if i["cold_start"] is True], "latency_ms")
        warm = numbers([i for i in items if i["cold_start"] is False], "latency_ms")
        assert (row["n_cold"], row["n_warm"]) == (cold.size, warm.size)
        close(
            [row["p50_cold"], row["p50_warm"], row["penalty_ms"], row["penalty_ratio"]],
            [pct(cold, 50), pct(warm, 50), pct(cold, 50) - pct(warm, 50), pct(cold, 50) / pct(warm, 50)],
            row["provider"],
        )
        title = TITLES[row["provider"]]
        for temp, values in (("cold", cold), ("warm", warm)):
            bar = penalty[f"{temp} (median)"]
            at_x = dict(zip(bar["x"], zip(array(bar["y"]), array(bar["customdata"]))))
            close(at_x[title][0], pct(values, 50), f"{temp} median bar")
            assert at_x[title][1] == values.size
        y, (n_cold, n) = rate[row["provider"]]
        assert (n_cold, n) == (cold.size, cold.size + warm.size)
        close(y, 100 * cold.size / (cold.size + warm.size), "cold-start rate (%)")


def test_cost_and_tokens_tab_matches_the_raw_items(history: Callable[..., AppTest], raw: list[dict[str, Any]]) -> None:
    at = history("Cost & tokens")
    assert_headline(at, raw)
    shown = assert_charts(at, "Cost & tokens")
    expected = by_provider(ok(raw))

    frame = table(at, "provider", "n", "total_usd", "mean_usd", "per_1000_images_usd")
    assert list(frame["provider"]) == [p for p in PROVIDERS if p in expected]
    bars = bars_by_provider(shown["history.chart.cost"]["data"][0])
    for row in frame.to_dict("records"):
        items = expected[row["provider"]]
        cost = numbers(items, "cost_usd")
        assert cost.size == len(items), f"{row['provider']}: every successful call has a cost"
        assert (row["n"], row["n_unpriced"]) == (cost.size, len(items) - cost.size)
        close(
            [row["total_usd"], row["mean_usd"], row["per_1000_images_usd"], row["p50_usd"]],
            [cost.sum(), cost.mean(), cost.mean() * 1000, pct(cost, 50)],
            row["provider"],
        )
        assert row["mean_usd"] > 0, row
        y, custom = bars[row["provider"]]
        close(y, cost.mean() * 1000, f"{row['provider']} per 1,000 images")
        close(custom, [cost.size, cost.mean(), pct(cost, 50), cost.sum()], f"{row['provider']} cost hover")

    # Mean tokens per call of the providers that count tokens (SageMaker does not).
    def counts_tokens(item: dict[str, Any]) -> bool:
        return item.get("input_tokens") is not None or item.get("output_tokens") is not None

    counted = {p: [i for i in its if counts_tokens(i)] for p, its in expected.items()}
    with_tokens = {p: its for p, its in counted.items() if its}
    assert sorted(with_tokens) == ["azure_openai", "bedrock"]
    kinds = traces(shown["history.chart.tokens"])
    for name, field in TOKEN_TRACES:
        got = bars_by_provider(kinds[name])
        assert set(got) == set(with_tokens), (name, set(got))
        for provider, items in with_tokens.items():
            close(got[provider][0], mean(numbers(items, field)), f"{provider} mean {field}")
            assert got[provider][1] == len(items)


def test_errors_tab_matches_the_raw_items(history: Callable[..., AppTest], raw: list[dict[str, Any]]) -> None:
    at = history("Errors")
    assert_headline(at, raw)
    shown = assert_charts(at, "Errors")
    assert_error_views(at, shown["history.chart.errors"], raw)


def assert_error_views(at: AppTest, figure: dict[str, Any], items: list[dict[str, Any]]) -> None:
    """The error, throttle and retry rates per provider (chart) and the errors by type (table), from `items`."""
    everyone = by_provider(items)
    kinds = traces(figure)
    checks = (
        ("failed", lambda i: i["status"] == "error"),
        ("failed throttled (after retries)", lambda i: i.get("error_type") == "throttled"),
        ("needed a retry", lambda i: (i.get("attempts") or 1) > 1),
    )
    for name, counted in checks:
        got = bars_by_provider(kinds[name])
        assert set(got) == set(everyone), (name, set(got))
        for provider, its in everyone.items():
            hits = sum(1 for i in its if counted(i))
            close(got[provider][0], 100 * hits / len(its), f"{provider} {name} (%)")
            close(got[provider][1], [hits, len(its)], f"{provider} {name} counts")

    frame = table(at, "provider", "error_type", "errors", "n", "rate")
    failed = [i for i in items if i["status"] == "error"]
    failures = group(failed, lambda i: (i["provider"], i.get("error_type") or "unknown"))
    assert sorted(zip(frame["provider"], frame["error_type"])) == sorted(failures), frame
    for row in frame.to_dict("records"):
        n = len(everyone[row["provider"]])
        errors = len(failures[(row["provider"], row["error_type"])])
        assert (row["errors"], row["n"]) == (errors, n), row
        close(row["rate"], errors / n, f"{row['provider']} {row['error_type']} rate")


def test_accuracy_tab_matches_the_raw_items(history: Callable[..., AppTest], raw: list[dict[str, Any]]) -> None:
    at = history("Accuracy")
    assert_headline(at, raw)
    shown = assert_charts(at, "Accuracy")
    assert_accuracy_views(at, shown["history.chart.accuracy"], raw)


def assert_accuracy_views(at: AppTest, figure: dict[str, Any], items: list[dict[str, Any]]) -> None:
    """Accuracy per provider (chart) and the per-provider summary (table), from `items`."""
    everyone = by_provider(items)
    scored = {p: [i for i in its if i.get("correct") is not None] for p, its in everyone.items()}
    bars = bars_by_provider(figure["data"][0])
    assert set(bars) == {p for p, its in scored.items() if its}
    for provider, (y, custom) in bars.items():
        right = sum(1 for i in scored[provider] if i["correct"])
        close(y, 100 * right / len(scored[provider]), f"{provider} accuracy (%)")
        assert (custom[0], custom[1]) == (right, len(scored[provider]))
        assert custom[2] <= y <= custom[3], f"{provider}: the accuracy lies outside its interval"

    frame = table(at, "provider", "n", "ok", "errors", "accuracy", "n_scored", "latency_basis")
    assert list(frame["provider"]) == [p for p in PROVIDERS if p in everyone]
    for row in frame.to_dict("records"):
        its = everyone[row["provider"]]
        good = ok(its)
        cold_flags = [i for i in good if i.get("cold_start") is not None]
        basis = [i for i in good if i.get("cold_start") is False] if cold_flags else good
        latency = numbers(basis, "latency_ms")
        cost = numbers(good, "cost_usd")
        right = sum(1 for i in scored[row["provider"]] if i["correct"])
        what = row["provider"]
        counts = (len(its), len(good), len(its) - len(good), len(scored[what]))
        assert (row["n"], row["ok"], row["errors"], row["n_scored"]) == counts, row
        assert row["latency_basis"] == ("warm" if cold_flags else "all"), row
        close(
            [
                row["error_rate"], row["p50_ms"], row["p95_ms"], row["mean_cost_usd"], row["per_1000_images_usd"],
                row["accuracy"], row["cold_start_rate"],
            ],
            [
                (len(its) - len(good)) / len(its), pct(latency, 50), pct(latency, 95), mean(cost), mean(cost) * 1000,
                right / len(scored[what]) if scored[what] else np.nan,
                sum(1 for i in cold_flags if i["cold_start"]) / len(cold_flags) if cold_flags else np.nan,
            ],
            what,
        )  # fmt: skip


def grid_texts(at: AppTest) -> list[str]:
    return [t.value for t in at.text]


def expected_grid_texts(items: list[dict[str, Any]], run_ids: list[str]) -> list[str]:
    """The answers of these comparisons, row by row, in the page's provider order."""
    results = {(i["run_id"], i["provider"]): i for i in items}
    present = [p for p in PROVIDERS if any(i["provider"] == p for i in items)]
    shown = [results[(r, p)] for r in run_ids for p in present if (r, p) in results]
    return [item["output"] for item in shown if item["status"] == "ok"]


def newest_runs(items: list[dict[str, Any]]) -> list[str]:
    first = {}
    for item in sorted(items, key=lambda i: pd.Timestamp(i["created_at"]), reverse=True):
        first.setdefault(item["run_id"], item)
    return list(first)


def assert_thumbnails(at: AppTest, media: dict, items: list[dict[str, Any]], run_ids: list[str]) -> None:
    """One thumbnail per comparison, in order: a JPEG at most 320 px a side, shaped like the uploaded image."""
    from PIL import Image

    sizes = {i["run_id"]: (i["image_width"], i["image_height"]) for i in items}
    urls = [img.url for element in at.get("image") for img in element.proto.imgs]
    assert len(urls) == len(run_ids), (len(urls), run_ids)
    for url, run_id in zip(urls, run_ids):
        data, mimetype, _ = media[url.rsplit("/", 1)[-1].split(".")[0]]
        with Image.open(io.BytesIO(data)) as image:
            assert image.format == "JPEG" and max(image.size) <= THUMBNAIL_PX, (image.format, image.size)
            width, height = sizes[run_id]
            assert abs(image.size[0] / image.size[1] - width / height) < 0.02, (image.size, (width, height))


def test_outputs_tab_shows_thumbnails_and_answers_of_the_chosen_runs(
    history: Callable[..., AppTest], raw: list[dict[str, Any]], media: dict
) -> None:
    at = history("Outputs")
    assert_charts(at, "Outputs")
    runs = newest_runs(raw)
    picker = at.multiselect(key="history.grid_runs")
    one_each = {i["run_id"]: i for i in raw}.values()
    labels = [f"{pd.Timestamp(i['created_at']):%Y-%m-%d %H:%M:%S} · {i['image_name']}" for i in one_each]
    assert sorted(picker.options) == sorted(labels), "every comparison of the benchmark can be picked"
    chosen = runs[:GRID_DEFAULT]
    assert picker.value == chosen, "the newest comparisons are shown first"
    assert_thumbnails(at, media, raw, chosen)
    assert grid_texts(at) == expected_grid_texts(raw, chosen)
    captions = [c.value for c in at.caption]
    names = {i["run_id"]: i["image_name"] for i in raw}
    for run_id in chosen:
        assert f"{names[run_id]} · run {run_id}" in captions, run_id
    for item in (i for i in raw if i["run_id"] in chosen):
        assert any(c.startswith(f"{fmt.duration_ms(item['latency_ms'])} · ") for c in captions), item["latency_ms"]

    picked = runs[-2:]  # the two oldest: not in the default choice
    picker.set_value(picked)
    run(at)
    assert at.multiselect(key="history.grid_runs").value == picked
    assert_thumbnails(at, media, raw, picked)
    assert grid_texts(at) == expected_grid_texts(raw, picked)

    at.multiselect(key="history.grid_runs").set_value([])
    run(at)
    assert not at.get("image") and not at.text
    assert [i.value for i in at.info] == ["Pick comparisons to see their answers side by side."]


def strip_scripts(html: str) -> str:
    return re.sub(r"<script\b[^>]*>.*?</script>", "", html, flags=re.DOTALL | re.IGNORECASE)


def assert_self_contained_report(html: str, items: list[dict[str, Any]], run_ids: list[str]) -> None:
    assert html.startswith("<!DOCTYPE html>")
    markup = strip_scripts(html)
    assert not re.findall(r"<script\b[^>]*\bsrc\s*=", html, flags=re.IGNORECASE), "a script loads from elsewhere"
    links = re.findall(r"""\b(?:src|href)\s*=\s*["']?\s*([^"'\s>]+)""", markup, flags=re.IGNORECASE)
    remote = [link for link in links if re.match(r"(?i)(https?:)?//", link)]
    assert remote == [], f"the report links to the network: {remote[:5]}"
    assert re.search(r"plotly\.js v\d", html), "plotly.js is not inlined"
    for key in REPORT_CHARTS:
        assert f'id="chart-{key}"' in html, f"chart {key} is missing"
    assert html.count("Plotly.newPlot(") == len(REPORT_CHARTS)
    for question in QUESTIONS.values():
        assert question in html, question
    thumbnails = re.findall(r'<img [^>]*src="data:image/jpeg;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(thumbnails) == len(run_ids), (len(thumbnails), len(run_ids))
    for encoded in thumbnails:
        assert base64.b64decode(encoded)[:3] == b"\xff\xd8\xff", "a thumbnail is not a JPEG"
    names = {i["run_id"]: i["image_name"] for i in items}
    for run_id in run_ids:
        assert f'alt="{names[run_id]}"' in html, run_id
    errors = sum(i["status"] != "ok" for i in items)
    assert f"{len(items):,} results in {len({i['run_id'] for i in items}):,} comparisons, {errors:,} errors" in html


def downloads(at: AppTest, media: dict) -> dict[str, tuple[bytes, str, str | None]]:
    return {b.key: media[b.proto.url.rsplit("/", 1)[-1].split(".")[0]] for b in at.download_button}


def test_export_tab_offers_csv_parquet_and_a_self_contained_report(
    history: Callable[..., AppTest], raw: list[dict[str, Any]], media: dict
) -> None:
    at = history("Export")
    assert_charts(at, "Export")
    assert {b.key: b.label for b in at.download_button} == {
        "history.csv": "CSV", "history.parquet": "Parquet", "history.report": "HTML report",
    }  # fmt: skip
    files = downloads(at, media)
    keys = {(i["run_id"], i["provider"]) for i in raw}
    latency = {(i["run_id"], i["provider"]): i["latency_ms"] for i in raw}

    data, mimetype, name = files["history.csv"]
    assert mimetype == "text/csv" and name and name.endswith(".csv")
    csv = pd.read_csv(io.BytesIO(data))
    assert len(csv) == 90
    assert set(zip(csv["run_id"], csv["provider"])) == keys
    for row in csv.to_dict("records"):
        assert row["latency_ms"] == latency[(row["run_id"], row["provider"])]
        assert row["bench_id"] == raw[0]["bench_id"]

    data, _, name = files["history.parquet"]
    assert name and name.endswith(".parquet")
    parquet = pd.read_parquet(io.BytesIO(data))
    assert len(parquet) == 90 and set(zip(parquet["run_id"], parquet["provider"].astype(str))) == keys

    data, mimetype, name = files["history.report"]
    assert mimetype == "text/html" and name and name.endswith(".html")
    assert_self_contained_report(data.decode("utf-8"), raw, newest_runs(raw)[:GRID_DEFAULT])

    # The report's outputs are the comparisons picked in the Outputs tab.
    at.session_state["history.tab"] = "Outputs"
    run(at)
    picked = newest_runs(raw)[-3:]
    at.multiselect(key="history.grid_runs").set_value(picked)
    run(at)
    at.session_state["history.tab"] = "Export"
    run(at)
    html = downloads(at, media)["history.report"][0].decode("utf-8")
    assert_self_contained_report(html, raw, picked)


def test_a_time_range_without_results_says_so(history: Callable[..., AppTest]) -> None:
    at = history("Latency")
    assert figures(at), "the benchmark's charts were not shown first"
    at.segmented_control(key="history.range").set_value("Custom")
    run(at)
    today = datetime.now(timezone.utc).date()
    start, end = at.date_input(key="history.dates").value
    assert end in (today, today + timedelta(days=1)) and end - start == timedelta(days=7), (start, end)  # 23:59 UTC
    assert figures(at), "the last 7 days hold the benchmark"
    before: tuple[date, date] = (today - timedelta(days=60), today - timedelta(days=53))
    at.date_input(key="history.dates").set_value(before)
    run(at)
    assert [i.value for i in at.info] == ["No results in this time range yet. Compare some images, or run a benchmark."]
    assert not at.metric and not figures(at) and not at.dataframe and not at.tabs
    assert not at.error and not at.warning


def test_a_link_to_a_benchmark_without_results_in_the_range_shows_no_other_results(
    history: Callable[..., AppTest], sample_bench: dict[str, Any]
) -> None:
    from mcv_core.bench import new_bench_id

    elsewhere = new_bench_id(datetime.now(timezone.utc) - timedelta(days=3))  # e.g. last week's link, bookmarked
    try:
        at = open_history(elsewhere)  # the range holds the sample benchmark (the `history` fixture checked)
        shown = headline(at)
        assert not shown and not figures(at), f"the page for {elsewhere} shows other results: {shown}"
    finally:
        st.cache_resource.clear()
        st.cache_data.clear()


def test_a_failing_provider_counts_in_errors_and_accuracy(
    routed: None, media: dict, workbench: Any, local_settings: Any, cleared_faults: Any
) -> None:
    """The sample benchmark has no errors; this one has one Bedrock failure (a 500 on every attempt)."""
    from mcv_core import bench, samples
    from mcv_core.local import control

    control.emulator_admin(
        cleared_faults, "POST", "/_mcv/faults",
        json={"bedrock": [{"kind": "error", "status": 500, "count": local_settings.max_attempts}]},
    )  # fmt: skip
    cat = samples.sample_images()[0]
    outcome = bench.run_bench(workbench, bench.BenchPlan((cat,), ("sagemaker", "bedrock"), 1, 1))
    assert not outcome.failures, outcome.failures
    items = stored_items(outcome.bench_id)
    assert sorted((i["provider"], i["status"]) for i in items) == [("bedrock", "error"), ("sagemaker", "ok")], items
    try:
        at = open_history(outcome.bench_id, "Errors")
        assert_headline(at, items)
        assert headline(at)["Errors"] == "1"
        assert_error_views(at, assert_charts(at, "Errors")["history.chart.errors"], items)

        at.session_state["history.tab"] = "Accuracy"
        run(at)
        assert_accuracy_views(at, assert_charts(at, "Accuracy")["history.chart.accuracy"], items)
        frame = table(at, "provider", "accuracy", "n_scored")
        failed = frame[frame["provider"] == "bedrock"].iloc[0]
        assert (failed["n_scored"], failed["accuracy"]) == (1, 0.0), "a failed call on a labelled image is not correct"

        at.session_state["history.tab"] = "Latency"
        run(at)
        shown = table(at, "provider", "temperature", "p50")
        assert list(shown["provider"]) == ["sagemaker"], "a failed call has no latency to rank"
    finally:
        st.cache_resource.clear()
        st.cache_data.clear()


def test_calls_that_waited_for_a_cold_start_are_not_counted_warm(
    routed: None, media: dict, workbench: Any, local_settings: Any, cleared_faults: Any
) -> None:
    from mcv_core import bench, samples
    from mcv_core.local import control

    control.emulator_admin(cleared_faults, "POST", "/_mcv/scale-to-zero")
    # Two comparisons at once on a scaled-to-zero endpoint: both reach it before its worker is up.
    plan = bench.BenchPlan(tuple(samples.sample_images()[:2]), ("sagemaker",), 1, 2)
    outcome = bench.run_bench(workbench, plan)
    items = stored_items(outcome.bench_id)
    if outcome.failures or [i["status"] for i in items] != ["ok", "ok"]:  # not the failure this test is about
        raise RuntimeError(f"the two comparisons did not both answer: {outcome.failures} {items}")
    try:
        at = open_history(outcome.bench_id, "Latency")
        frame = table(at, "provider", "temperature", "n")
        shown = sorted(zip(frame["provider"], frame["temperature"], frame["n"]))
        assert shown == [("sagemaker", "cold", 2)], f"SageMaker rows {shown}: a call that waited for the worker is warm"
    finally:
        st.cache_resource.clear()
        st.cache_data.clear()


# --- targets that are not in the catalogue -----------------------------------------------------------------------

RETIRED_TITLE = "Retired model (Amazon Bedrock)"


def test_results_of_targets_no_longer_in_the_catalogue_show_under_their_stored_names(
    routed: None, media: dict, workbench: Any, cat_jpeg: bytes
) -> None:
    """History holds results of a target removed from targets.toml (stored with its title) and of an id stored
    before results carried titles: the page shows both, the first by its stored title, the second by its id."""
    from mcv_core.bench import new_bench_id
    from mcv_core.records import ProviderResult, Run

    assert "retired-model" not in workbench.catalogue.ids and "old_service" not in workbench.catalogue.ids
    image = workbench.load_image(cat_jpeg, "cat.jpg")
    bench_id = new_bench_id(datetime.now(timezone.utc))
    run_ = Run.new(image, "What is in this image?", ["retired-model", "old_service"], source="bench", bench_id=bench_id)
    run_.image_key = workbench.store.upload(image, run_.created_at)
    run_.results = [
        ProviderResult(
            "retired-model", "anthropic.claude-3-opus", "ok", service="bedrock", title=RETIRED_TITLE,
            output="A tabby cat on a rug.", latency_ms=812.0, input_tokens=1600, output_tokens=12, cost_usd=0.0004,
        ),
        ProviderResult("old_service", "m1", "ok", output="cat", latency_ms=90.0),  # no service, no title: old item
    ]
    run_.wall_ms = 812.0
    assert workbench.history.save(run_).stored
    try:
        at = open_history(bench_id, "Latency")
        models = at.multiselect(key="history.targets")
        # Every target of the time range can be picked (other tests' results too); these two by their stored names.
        assert {RETIRED_TITLE, "old_service"} <= set(models.options) and "retired-model" not in models.options
        names = [trace["name"] for trace in figures(at)["history.chart.latency"]["data"]]
        assert sorted(n.split(" ·")[0] for n in names) == sorted([RETIRED_TITLE, "old_service"]), names
        shown = [d.value for d in at.dataframe if "p50" in d.value.columns][0]
        assert sorted(shown["model"]) == sorted([RETIRED_TITLE, "old_service"])

        at.session_state["history.tab"] = "Outputs"
        run(at)
        bold = [m.value for m in at.markdown if m.value.startswith("**")]
        assert f"**{RETIRED_TITLE}**" in bold and "**old_service**" in bold, bold
        assert "A tabby cat on a rug." in [t.value for t in at.text]

        at.session_state["history.tab"] = "Export"
        run(at)
        html = downloads(at, media)["history.report"][0].decode("utf-8")
        assert RETIRED_TITLE in html and "old_service" in html
    finally:
        st.cache_resource.clear()
        st.cache_data.clear()


# --- online against batch ----------------------------------------------------------------------------------------

MODES_PROMPT = "What is in this image?"  # not the default prompt: other tests' benchmarks never pair with these


def write_two_modes(workbench: Any, cat_jpeg: bytes, coffee_jpeg: bytes) -> dict[str, Any]:
    """An online benchmark (two images twice, $0.002 a call, 1 s each, the four calls started a second apart: all
    its results within 4 s) and a batch benchmark of the same images three times ($0.001 a record, its one job 30
    minutes from creation to end), written through the history API as the benchmarks write them. Answers: the cat
    the same every time; on the coffee, online names "coffee" first once where batch names "espresso" (3 of 4
    pairs give the same top answer, 3 of 4 the same text)."""
    from mcv_core import scoring
    from mcv_core.bench import new_bench_id
    from mcv_core.records import ProviderResult, Run

    now = datetime.now(timezone.utc).replace(microsecond=0)
    online_id, batch_id = new_bench_id(now - timedelta(minutes=50)), new_bench_id(now - timedelta(minutes=40))
    pictures = {
        "cat": (workbench.load_image(cat_jpeg, "cat.jpg"), ("cat",)),
        "coffee": (workbench.load_image(coffee_jpeg, "coffee.jpg"), ("espresso", "coffee")),
    }
    keys = {name: workbench.store.upload(image, now) for name, (image, _) in pictures.items()}
    cat, espresso = ("cat", "A cat on a sofa."), ("coffee", "A cup of espresso.")
    answers = {"online": [cat, espresso, cat, ("coffee", "A cup of coffee.")], "batch": [cat, espresso] * 3}
    job_start = now - timedelta(minutes=40)
    collected = job_start + timedelta(minutes=30)  # batch results are stored when their job ends
    starts = {"online": (online_id, now - timedelta(minutes=50)), "batch": (batch_id, collected)}
    for mode, (bench_id, start) in starts.items():
        for k, (name, text) in enumerate(answers[mode]):
            image, expected = pictures[name]
            run_ = Run.new(image, MODES_PROMPT, ["bedrock"], source="bench", bench_id=bench_id, expected=expected)
            run_.created_at, run_.image_key = start + timedelta(seconds=k), keys[name]
            figures: dict[str, Any] = {"latency_ms": 1000.0, "cost_usd": 0.002}
            if mode == "batch":
                figures = {"mode": "batch", "job_id": "job-1", "cost_usd": 0.001}
            run_.results = [
                ProviderResult(
                    "bedrock", "anthropic.claude-3-haiku-20240307-v1:0", "ok", service="bedrock",
                    title=TITLES["bedrock"], output=text, input_tokens=1500, output_tokens=20,
                    correct=scoring.score(text, expected), **figures,
                )
            ]  # fmt: skip
            assert workbench.history.save(run_).stored
    job = {
        "target": "bedrock", "part": 0, "job_id": "job-1", "first": 0, "count": 6, "status": "Completed",
        "phase": "done", "collected": True, "submitted_at": job_start.isoformat(),
        "ended_at": (job_start + timedelta(minutes=30)).isoformat(),
    }  # fmt: skip
    workbench.history.save_batch(
        {"bench_id": batch_id, "created_at": job_start.isoformat(), "targets": ["bedrock"], "records": 6,
         "cancelled": False, "over": True, "jobs": [job]}
    )  # fmt: skip
    return {"online": online_id, "batch": batch_id}


def modes_row(at: AppTest) -> dict[str, Any]:
    found = [d for d in at.dataframe if shown_columns(d)[:2] == ["model", "images"]]
    assert len(found) == 1, [shown_columns(d) for d in at.dataframe]
    assert shown_columns(found[0]) == [
        "model", "images", "online_cost_per_1k_usd (shown)", "batch_cost_per_1k_usd (shown)", "online_time",
        "batch_time", "agreement",
    ]  # fmt: skip
    rows = found[0].value.to_dict("records")
    assert len(rows) == 1, rows
    return rows[0]


def assert_two_modes_row(row: dict[str, Any]) -> None:
    assert row["model"] == TITLES["bedrock"] and row["images"] == 2
    assert (row["online_results"], row["batch_results"], row["pairs"]) == (4, 6, 4)
    assert row["online_cost_per_1k_usd (shown)"] == "$2.00" and row["batch_cost_per_1k_usd (shown)"] == "$1.00"
    assert (row["online_time"], row["batch_time"]) == ("4,000 ms", "30.0 min")
    assert (row["agreement"], row["same_text"]) == ("75% n=4", "75% n=4")
    assert row["mcnemar"] == f"{fmt.DASH} too few pairs (n=4; needs 6)"


def test_online_and_batch_results_side_by_side_and_the_mode_filter(
    routed: None, media: dict, workbench: Any, cat_jpeg: bytes, coffee_jpeg: bytes
) -> None:
    benches = write_two_modes(workbench, cat_jpeg, coffee_jpeg)
    try:
        at = open_history(benches["online"], "Online vs batch")
        # One benchmark: online results only, and what to run for the other mode.
        [note] = [i.value for i in at.info]
        assert note.startswith("Only online results here") and "--mode batch" in note, note
        assert not at.dataframe

        at.multiselect(key="history.bench").set_value([benches["online"], benches["batch"]])
        run(at)
        assert headline(at)["Results"] == "10"
        assert assert_tables_configured(at) == 1
        assert_two_modes_row(modes_row(at))
        more = at.multiselect(key="history.table.modes.more")
        more.set_value(list(more.options))
        run(at)
        assert_tables_configured(at)

        at.segmented_control(key="history.mode").set_value("Batch")
        run(at)
        assert headline(at)["Results"] == "6" and headline(at)["Cost"] == "$0.0060"
        assert [i.value for i in at.info] == [
            "The Mode filter shows batch results only: choose Both under Filters to put the two modes side by side."
        ]

        at.segmented_control(key="history.mode").set_value("Online")
        run(at)
        assert headline(at)["Results"] == "4" and headline(at)["Cost"] == "$0.0080"
        at.segmented_control(key="history.mode").set_value("Both")
        at.session_state["history.tab"] = "Outputs"
        run(at)
        captions = [c.value for c in at.caption]
        assert any(c.endswith(" · batch job") and c.startswith(f"{fmt.DASH} · $0.0010") for c in captions), captions
    finally:
        st.cache_resource.clear()
        st.cache_data.clear()
