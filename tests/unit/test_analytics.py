"""Analytics: the frame's dtypes, filters, exact statistics and every aggregate on hand-computable data."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mcv_core import analytics
from mcv_core.analytics import Filters

# The built-in catalogue's target ids, in its order (the History page passes its catalogue's order).
ORDER = ("sagemaker", "bedrock", "azure_openai")
Z95 = 1.959963984540054
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)


def iso(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def item(provider: str = "bedrock", status: str = "ok", minutes: float = 0, **fields: Any) -> dict[str, Any]:
    """A result item as History.load returns it: None values are not stored, so they are absent."""
    base: dict[str, Any] = {
        "run_id": f"run-{minutes}",
        "created_at": iso(T0 + timedelta(minutes=minutes)),
        "provider": provider,
        "model": {"sagemaker": "mcv-efficientnet", "bedrock": "anthropic.claude-3-haiku", "azure_openai": "gpt-4o-mini"}.get(provider, "m"),
        "status": status,
        "attempts": 1,
        "source": "ui",
        "image_key": "uploads/2026/03/02/abc.jpg",
        "image_name": "cat.jpg",
        "image_width": 1000,
        "image_height": 500,
        "image_bytes": 123456,
        "expires_at": 1_900_000_000,
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


def to_frame(items: list[dict[str, Any]]) -> pd.DataFrame:
    """The frame as the History page builds it: targets in the catalogue's order first."""
    return analytics.to_frame(items, ORDER)


def wilson(k: int, n: int) -> tuple[float, float]:
    """The Wilson score interval written out from its textbook formula."""
    p = k / n
    center = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
    half = Z95 / (1 + Z95**2 / n) * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n**2))
    return center - half, center + half


def row(frame: pd.DataFrame, **keys: str) -> pd.Series:
    mask = np.ones(len(frame), dtype=bool)
    for column, value in keys.items():
        mask &= (frame[column].astype(str) == value).to_numpy()
    assert mask.sum() == 1, f"expected one row for {keys}, found {mask.sum()}"
    return frame.loc[mask].iloc[0]


# --- a realistic generated history (also used by the chart and report tests) -----------------------------------------


def make_items(n: int, seed: int = 7, days: float = 7.0) -> list[dict[str, Any]]:
    """About n result items: runs of the three providers over `days`, with SageMaker cold starts, Bedrock and
    Azure throttling, costs, tokens, image sizes and a labelled benchmark share."""
    rng = np.random.default_rng(seed)
    runs = n // 3 + 1
    providers = np.tile(np.array(["sagemaker", "bedrock", "azure_openai"]), runs)[:n]
    run = np.repeat(np.arange(runs), 3)[:n]
    start = datetime(2026, 3, 1, tzinfo=timezone.utc)
    seconds = np.sort(rng.uniform(0, days * 86400, runs))[run]
    width = rng.choice([640, 1024, 2048, 4000], runs)[run]
    height = (width * 0.75).astype(int)
    is_sm, is_br = providers == "sagemaker", providers == "bedrock"
    cold = is_sm & (rng.random(n) < 0.05)
    base = np.where(is_sm, 60.0, np.where(is_br, 1200.0, 900.0)) * (1 + width / 8000)
    latency = np.round(np.where(cold, 3500.0, base) * rng.lognormal(0, 0.3, n), 2)
    error_draw = rng.random(n)
    failed = error_draw < np.where(is_sm, 0.02, 0.04)
    kinds = np.where(is_sm, rng.choice(["timeout", "service_error"], n), rng.choice(["throttled", "throttled", "malformed_response"], n))
    attempts = np.where(failed, 3, np.where(rng.random(n) < 0.03, 2, 1))
    input_tokens = np.where(is_br, 1600 + rng.integers(0, 200, n), 2900 + rng.integers(0, 100, n))
    output_tokens = rng.integers(40, 200, n)
    cost = np.where(is_sm, 2.0e-5, input_tokens * 2.5e-7 + output_tokens * 1.25e-6)
    labelled = (run % 5) == 0
    correct = rng.random(n) < np.where(is_sm, 0.6, 0.8)
    created = [iso(start + timedelta(seconds=float(s))) for s in seconds]
    items: list[dict[str, Any]] = []
    for i in range(n):
        provider = str(providers[i])
        record: dict[str, Any] = {
            "run_id": f"r{run[i]:07d}",
            "created_at": created[i],
            "provider": provider,
            "model": {"sagemaker": "mcv-efficientnet", "bedrock": "anthropic.claude-3-haiku", "azure_openai": "gpt-4o-mini"}[provider],
            "status": "error" if failed[i] else "ok",
            "latency_ms": float(latency[i]),
            "attempts": int(attempts[i]),
            "image_key": f"uploads/{run[i]}.jpg",
            "image_name": f"image-{run[i] % 500}.jpg",
            "image_width": int(width[i]),
            "image_height": int(height[i]),
            "image_bytes": int(width[i] * height[i] // 5),
            "source": "bench" if labelled[i] else "ui",
            "expires_at": 1_900_000_000,
        }
        if failed[i]:
            record["error_type"] = str(kinds[i])
        else:
            record["cost_usd"] = float(cost[i])
            if provider == "sagemaker":
                record["cold_start"] = bool(cold[i])
            else:
                record["input_tokens"] = int(input_tokens[i])
                record["output_tokens"] = int(output_tokens[i])
                record["image_tokens"] = int(input_tokens[i] - 100)
        if labelled[i]:
            record["bench_id"] = f"bench-{run[i] % 3}"
            record["correct"] = bool(correct[i]) and not failed[i]
        items.append(record)
    return items


# --- the frame ----------------------------------------------------------------------------------------------------------

EXPECTED_DTYPES = {
    "run_id": "string",
    "created_at": "datetime64[us, UTC]",
    "provider": "category",
    "service": "category",
    "title": "category",
    "model": "category",
    "status": "category",
    "latency_ms": "float64",
    "provider_latency_ms": "float64",
    "ttft_ms": "float64",
    "output_tokens_per_s": "float64",
    "queue_ms": "float64",
    "prepare_ms": "float64",
    "service_ms": "float64",
    "network_ms": "float64",
    "cost_usd": "float64",
    "input_tokens": "float64",
    "output_tokens": "float64",
    "image_tokens": "float64",
    "attempts": "float64",
    "cold_start": "boolean",
    "streamed": "boolean",
    "temperature": "category",
    "error_type": "category",
    "image_key": "string",
    "image_name": "string",
    "image_width": "float64",
    "image_height": "float64",
    "image_bytes": "float64",
    "image_megapixels": "float64",
    "source": "category",
    "bench_id": "string",
    "sweep_id": "string",
    "concurrency": "float64",
    "correct": "boolean",
    "mode": "category",
}


@pytest.mark.parametrize("items", [[], [item()], [{"provider": "bedrock"}]], ids=["empty", "one", "sparse"])
def test_frame_dtypes_are_stable(items: list[dict[str, Any]]) -> None:
    frame = to_frame(items)
    assert {c: str(t) for c, t in frame.dtypes.items()} == EXPECTED_DTYPES
    assert list(frame["status"].cat.categories[:2]) == ["ok", "error"]
    assert list(frame["temperature"].cat.categories) == ["warm", "cold", "not reported"]
    assert list(frame["mode"].cat.categories) == ["online", "batch"]


def test_frame_values_mixed_ints_floats_missing_and_derived_columns() -> None:
    frame = to_frame(
        [
            item("sagemaker", latency_ms=50, cold_start=False, cost_usd=2e-5),
            item("sagemaker", latency_ms=3000.5, cold_start=True, minutes=1),
            item("bedrock", latency_ms=1200, input_tokens=1600, output_tokens=90, minutes=2, correct=True),
            item("azure_openai", status="error", error_type="throttled", attempts=3, minutes=3, image_width=None),
        ]
    )
    assert frame["latency_ms"].tolist()[:3] == [50.0, 3000.5, 1200.0]
    assert math.isnan(frame["latency_ms"].iloc[3])
    assert frame["temperature"].astype(str).tolist() == ["warm", "cold", "not reported", "not reported"]
    assert frame["cold_start"].tolist() == [False, True, pd.NA, pd.NA]
    assert frame["correct"].tolist() == [pd.NA, pd.NA, True, pd.NA]
    assert frame["image_megapixels"].tolist()[:3] == [0.5, 0.5, 0.5]
    assert math.isnan(frame["image_megapixels"].iloc[3])
    assert frame["attempts"].tolist() == [1.0, 1.0, 1.0, 3.0]
    assert frame["created_at"].iloc[1] == pd.Timestamp("2026-03-02T10:01:00Z")
    assert list(frame["provider"].cat.categories) == ["sagemaker", "bedrock", "azure_openai"]  # display order, not names
    assert "expires_at" not in frame


def test_frame_carries_streamed_figures_the_anatomy_and_sweeps() -> None:
    frame = to_frame(
        [
            item(
                "bedrock",
                latency_ms=900,
                provider_latency_ms=700,
                ttft_ms=250.5,
                output_tokens_per_s=80,
                streamed=True,
                timings={"queue_ms": 5, "prepare_ms": 3.5, "service_ms": 700, "network_ms": 200},
                sweep_id="sweep-20260302T100000-a1b2c3",
                concurrency=4,
            ),
            item("azure_openai", latency_ms=1000, ttft_ms=300, streamed=True, timings={"queue_ms": 0, "prepare_ms": 2}, minutes=1),
            item("sagemaker", latency_ms=50, provider_latency_ms=60, streamed=False, minutes=2),  # no timings: stored before them
        ]
    )
    assert frame["ttft_ms"].tolist()[:2] == [250.5, 300.0] and math.isnan(frame["ttft_ms"].iloc[2])
    assert frame["streamed"].tolist() == [True, True, False]
    # The anatomy as records.anatomy computes it from each item: unknown parts NaN, never guessed.
    assert frame.loc[0, ["queue_ms", "prepare_ms", "service_ms", "network_ms"]].tolist() == [5.0, 3.5, 700.0, 200.0]
    assert frame.loc[1, ["queue_ms", "prepare_ms", "network_ms"]].tolist() == [0.0, 2.0, 1000.0] and math.isnan(frame.loc[1, "service_ms"])
    assert math.isnan(frame.loc[2, "queue_ms"]) and frame.loc[2, ["service_ms", "network_ms"]].tolist() == [60.0, 0.0]
    assert frame["sweep_id"].tolist()[0] == "sweep-20260302T100000-a1b2c3" and frame["sweep_id"].isna().tolist()[1:] == [True, True]
    assert frame["concurrency"].tolist()[0] == 4.0 and frame["concurrency"].isna().sum() == 2


def test_frame_orders_targets_as_the_catalogue_does_and_keeps_service_and_title() -> None:
    items = [
        item("zeta", service="openai", title="Zeta (OpenAI-compatible)"),
        item("claude-35-sonnet", service="bedrock", title="Claude 3.5 Sonnet (Amazon Bedrock)", minutes=1),
        item("bedrock", minutes=2),  # stored before targets: no service, no title
    ]
    frame = analytics.to_frame(items, ["claude-35-sonnet", "gpt-41-mini"])
    assert list(frame["provider"].cat.categories) == ["claude-35-sonnet", "bedrock", "zeta"]  # catalogue first
    assert list(analytics.to_frame(items)["provider"].cat.categories) == ["bedrock", "claude-35-sonnet", "zeta"]
    assert frame["service"].tolist()[:2] == ["openai", "bedrock"] and pd.isna(frame["service"].iloc[2])
    assert pd.isna(frame["title"].iloc[2])
    assert analytics.stored_titles(frame) == {
        "zeta": "Zeta (OpenAI-compatible)",
        "claude-35-sonnet": "Claude 3.5 Sonnet (Amazon Bedrock)",
    }


def test_stored_titles_take_the_newest_title_of_each_target() -> None:
    frame = to_frame([item("x", title="Old name", minutes=0), item("x", title="New name", minutes=5), item("x", minutes=9)])
    assert analytics.stored_titles(frame) == {"x": "New name"}
    assert analytics.stored_titles(to_frame([])) == {}


def test_frame_turns_unusable_values_into_missing_ones() -> None:
    frame = to_frame([item(latency_ms="fast", cold_start="yes", created_at="not a time"), item(provider="rekognition")])
    assert math.isnan(frame["latency_ms"].iloc[0])
    assert frame["cold_start"].isna().all()
    assert pd.isna(frame["created_at"].iloc[0])
    assert list(frame["provider"].cat.categories) == ["bedrock", "rekognition"]


# --- filters ------------------------------------------------------------------------------------------------------------


def _filter_frame() -> pd.DataFrame:
    return to_frame(
        [
            item("sagemaker", latency_ms=50, cold_start=False, minutes=0, bench_id="b1", source="bench"),
            item("sagemaker", latency_ms=3000, cold_start=True, minutes=10),
            item("bedrock", latency_ms=1200, minutes=20, bench_id="b1", source="bench"),
            item("azure_openai", status="error", error_type="timeout", minutes=30),
            item("bedrock", latency_ms=None, minutes=40, bench_id="b2", source="bench", mode="batch", job_id="j1"),
        ]
    )


def test_a_result_without_a_mode_is_online() -> None:
    assert _filter_frame()["mode"].astype(str).tolist() == ["online"] * 4 + ["batch"]


def test_no_filter_returns_the_frame_itself() -> None:
    frame = _filter_frame()
    assert analytics.apply_filters(frame, Filters()) is frame
    assert analytics.apply_filters(frame, Filters(providers=(), statuses=None)) is frame


@pytest.mark.parametrize(
    ("filters", "providers"),
    [
        (Filters(providers=("sagemaker",)), ["sagemaker", "sagemaker"]),
        (Filters(temperatures=("warm", "not reported")), ["sagemaker", "bedrock", "azure_openai", "bedrock"]),
        (Filters(temperatures=("cold",)), ["sagemaker"]),
        (Filters(statuses=("error",)), ["azure_openai"]),
        (Filters(bench_ids=("b1",)), ["sagemaker", "bedrock"]),
        (Filters(sources=("ui",)), ["sagemaker", "azure_openai"]),
        (Filters(modes=("online",)), ["sagemaker", "sagemaker", "bedrock", "azure_openai"]),
        (Filters(modes=("batch",)), ["bedrock"]),
        (Filters(modes=("online", "batch")), ["sagemaker", "sagemaker", "bedrock", "azure_openai", "bedrock"]),
        (Filters(models=("gpt-4o-mini", "anthropic.claude-3-haiku")), ["bedrock", "azure_openai", "bedrock"]),
        (Filters(since=T0 + timedelta(minutes=10), until=T0 + timedelta(minutes=20)), ["sagemaker", "bedrock"]),  # inclusive
        (Filters(since=datetime(2026, 3, 2, 10, 25)), ["azure_openai", "bedrock"]),  # naive = UTC
        (Filters(providers=("sagemaker", "bedrock"), temperatures=("warm",)), ["sagemaker"]),
        (Filters(providers=("nobody",)), []),
    ],
)
def test_filters_select_rows(filters: Filters, providers: list[str]) -> None:
    selected = analytics.apply_filters(_filter_frame(), filters)
    assert selected["provider"].astype(str).tolist() == providers
    assert list(selected["provider"].cat.categories) == ["sagemaker", "bedrock", "azure_openai"]  # colours stay put


def test_filters_describe_themselves() -> None:
    text = Filters(since=T0, providers=("bedrock", "sagemaker")).describe()
    assert text == ["since: 2026-03-02 10:00:00 UTC", "models: bedrock, sagemaker"]
    titles = {"bedrock": "Amazon Bedrock", "gone": "Gone model"}
    assert Filters(providers=("bedrock", "gone")).describe(titles.__getitem__) == ["models: Amazon Bedrock, Gone model"]
    assert Filters().describe() == []
    assert Filters(temperatures=("cold",), bench_ids=("b1",)).describe() == ["cold or warm: cold", "benchmark runs: b1"]
    assert Filters(modes=("batch",)).describe() == ["mode: batch"]


# --- statistics ---------------------------------------------------------------------------------------------------------


def test_percentile_is_linear_interpolation_of_raw_values() -> None:
    assert analytics.percentile([100, 200, 300, 400], 50) == 250
    assert analytics.percentile([100, 200, 300, 400, np.nan], 90) == pytest.approx(370)
    assert math.isnan(analytics.percentile([], 50))


def test_median_ci_edge_cases() -> None:
    assert all(math.isnan(v) for v in analytics.median_ci([]))
    assert all(math.isnan(v) for v in analytics.median_ci([np.nan]))
    assert analytics.median_ci([42.0]) == (42.0, 42.0)
    assert analytics.median_ci([7, 7, 7, 7]) == (7.0, 7.0)
    # n=4 by hand: lower = 0.025-quantile of the 2nd order statistic: P(Bin(4, 1/4) >= 2) = 0.2617 >= 0.025 -> x(1);
    # upper = 0.975-quantile of the 3rd: P(Bin(4, 3/4) >= 3) = 0.738 < 0.975, P(Bin(4, 1) >= 3) = 1 -> x(4).
    assert analytics.median_ci([400, 100, 300, 200]) == (100.0, 400.0)
    with pytest.raises(ValueError):
        analytics.median_ci([1, 2], confidence=1.5)


def _bootstrap(x: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.sort(x[rng.integers(0, x.size, (resamples, x.size))], axis=1)


@pytest.mark.parametrize("n", [3, 5, 9, 15, 21, 31])
def test_median_ci_odd_n_equals_the_monte_carlo_bootstrap(n: int) -> None:
    x = np.round(np.random.default_rng(n).lognormal(5, 0.8, n), 1)
    low, high = analytics.median_ci(x)
    medians = np.median(_bootstrap(x, 20_000, seed=100 + n), axis=1)
    # The exact interval is the bootstrap's percentile interval: its tails hold alpha/2 within Monte Carlo error.
    tol = 0.004  # 3.6 standard errors at p=0.025 with 20,000 resamples
    assert np.mean(medians < low) <= 0.025 + tol and np.mean(medians <= low) >= 0.025 - tol
    assert np.mean(medians > high) <= 0.025 + tol and np.mean(medians >= high) >= 0.025 - tol
    mc_low, mc_high = np.quantile(medians, [0.025, 0.975], method="inverted_cdf")
    order = np.sort(x)
    assert abs(np.searchsorted(order, low) - np.searchsorted(order, mc_low)) <= 1  # same or adjacent order statistic
    assert abs(np.searchsorted(order, high) - np.searchsorted(order, mc_high)) <= 1


@pytest.mark.parametrize("n", [2, 4, 6, 10, 16, 30])
def test_median_ci_even_n_is_conservative_and_exact_on_the_middle_order_statistics(n: int) -> None:
    x = np.round(np.random.default_rng(n).lognormal(5, 0.8, n), 1)
    low, high = analytics.median_ci(x)
    resamples = _bootstrap(x, 20_000, seed=200 + n)
    medians = np.median(resamples, axis=1)
    tol = 0.004
    assert np.mean(medians < low) <= 0.025 + tol  # conservative: each tail at most alpha/2
    assert np.mean(medians > high) <= 0.025 + tol
    assert low <= np.median(x) <= high
    # And the bounds are the exact quantiles of the lower and upper middle order statistics.
    m = n // 2
    lower_middle, upper_middle = resamples[:, m - 1], resamples[:, m]
    assert np.mean(lower_middle < low) <= 0.025 + tol and np.mean(lower_middle <= low) >= 0.025 - tol
    assert np.mean(upper_middle > high) <= 0.025 + tol and np.mean(upper_middle >= high) >= 0.025 - tol


def test_median_ci_with_ties_matches_the_monte_carlo_bootstrap() -> None:
    x = np.array([10, 10, 10, 20, 20, 30, 40, 40, 40, 40, 90], dtype=float)
    low, high = analytics.median_ci(x, confidence=0.9)
    assert (low, high) == (10.0, 40.0)  # P(median* <= 10) = P(Bin(11, 3/11) >= 6) = 0.0512 >= 0.05
    medians = np.median(_bootstrap(x, 20_000, seed=3), axis=1)
    tol = 0.005
    assert np.mean(medians < low) <= 0.05 + tol and np.mean(medians <= low) >= 0.05 - tol
    assert np.mean(medians > high) <= 0.05 + tol and np.mean(medians >= high) >= 0.05 - tol


def test_median_ci_is_exact_on_100k_values() -> None:
    x = np.random.default_rng(1).lognormal(4, 1, 100_000)
    first = analytics.median_ci(x)
    assert first == analytics.median_ci(x[::-1])  # no resampling: the same answer every time
    assert first[0] < np.median(x) < first[1]
    # Normal-theory width of the median's 95% interval for n=100k: about 2*1.96*sqrt(pi/2)*sigma/sqrt(n) in log space.
    assert first[1] / first[0] == pytest.approx(math.exp(2 * 1.96 * math.sqrt(math.pi / 2) / math.sqrt(100_000)), rel=0.1)


def test_wilson_interval_matches_the_formula() -> None:
    low, high = analytics.wilson_interval([8, 0, 5], [10, 4, 0])
    assert (low[0], high[0]) == pytest.approx(wilson(8, 10))
    assert low[1] == 0 and high[1] == pytest.approx(wilson(0, 4)[1])
    assert math.isnan(low[2]) and math.isnan(high[2])


# --- aggregates ---------------------------------------------------------------------------------------------------------


def _known() -> pd.DataFrame:
    items = [
        # bedrock: four ok calls, one ok call without a cost, one failure with a (bogus) cost that must not count
        item("bedrock", latency_ms=100, cost_usd=0.001, input_tokens=1000, output_tokens=100, image_tokens=800, minutes=0),
        item("bedrock", latency_ms=200, cost_usd=0.002, input_tokens=2000, output_tokens=300, image_tokens=1600, minutes=5),
        item("bedrock", latency_ms=300, cost_usd=0.003, minutes=65),
        item("bedrock", latency_ms=400, minutes=70),
        item("bedrock", status="error", error_type="throttled", latency_ms=9999, cost_usd=5.0, attempts=3, minutes=71),
        # sagemaker: warm 10, 20, 30; cold 1000, 3000; one failure
        *[item("sagemaker", latency_ms=v, cold_start=False, cost_usd=0.00002, minutes=i) for i, v in enumerate([10, 20, 30])],
        *[item("sagemaker", latency_ms=v, cold_start=True, cost_usd=0.00002, minutes=10 + i) for i, v in enumerate([1000, 3000])],
        item("sagemaker", status="error", error_type="timeout", latency_ms=60000, minutes=20),
        # azure: 7 ok (one needed a retry), 2 throttled after retries, 1 timeout, 1 error without a type
        *[item("azure_openai", latency_ms=500 + i, attempts=2 if i == 0 else 1, minutes=i) for i in range(7)],
        item("azure_openai", status="error", error_type="throttled", attempts=3, minutes=30),
        item("azure_openai", status="error", error_type="throttled", attempts=3, minutes=31),
        item("azure_openai", status="error", error_type="timeout", minutes=32),
        item("azure_openai", status="error", minutes=33),
    ]
    return to_frame(items)


def test_latency_percentiles_exact_and_cold_warm_apart() -> None:
    table = analytics.latency_percentiles(_known())
    assert list(table.columns) == ["provider", "temperature", "n", "p50", "p90", "p95", "p99", "mean", "median_ci_low", "median_ci_high"]
    bedrock = row(table, provider="bedrock")
    assert bedrock["temperature"] == "not reported"
    assert (bedrock["n"], bedrock["p50"], bedrock["mean"]) == (4, 250.0, 250.0)
    assert (bedrock["p90"], bedrock["p95"], bedrock["p99"]) == pytest.approx((370.0, 385.0, 397.0))
    assert (bedrock["median_ci_low"], bedrock["median_ci_high"]) == (100.0, 400.0)
    warm, cold = row(table, provider="sagemaker", temperature="warm"), row(table, provider="sagemaker", temperature="cold")
    assert (warm["n"], warm["p50"], cold["n"], cold["p50"]) == (3, 20.0, 2, 2000.0)
    assert table[["provider", "temperature"]].astype(str).values.tolist() == [
        ["sagemaker", "warm"], ["sagemaker", "cold"], ["bedrock", "not reported"], ["azure_openai", "not reported"]
    ]


def test_latency_percentiles_agree_with_numpy_per_group() -> None:
    frame = to_frame(make_items(3_000, seed=2))
    table = analytics.latency_percentiles(frame)
    ok = frame[frame["status"] == "ok"]
    for record in table.itertuples():
        values = ok.loc[(ok["provider"] == record.provider) & (ok["temperature"] == record.temperature), "latency_ms"].to_numpy()
        assert record.n == values.size
        assert [record.p50, record.p90, record.p95, record.p99] == pytest.approx(np.percentile(values, [50, 90, 95, 99]))
        assert (record.median_ci_low, record.median_ci_high) == analytics.median_ci(values)


def test_cold_start_penalty_and_rate_only_for_providers_that_report() -> None:
    frame = _known()
    penalty = analytics.cold_start_penalty(frame)
    assert penalty["provider"].astype(str).tolist() == ["sagemaker"]
    sm = penalty.iloc[0]
    assert (sm["n_cold"], sm["n_warm"], sm["p50_cold"], sm["p50_warm"]) == (2, 3, 2000.0, 20.0)
    assert (sm["penalty_ms"], sm["penalty_ratio"]) == (1980.0, 100.0)
    rate = analytics.cold_start_rate(frame)
    assert rate["provider"].astype(str).tolist() == ["sagemaker"]
    assert (rate["n"].iloc[0], rate["cold"].iloc[0], rate["rate"].iloc[0]) == (5, 2, 0.4)
    assert (rate["wilson_low"].iloc[0], rate["wilson_high"].iloc[0]) == pytest.approx(wilson(2, 5))


def test_cold_start_penalty_with_only_warm_calls_has_no_penalty() -> None:
    penalty = analytics.cold_start_penalty(to_frame([item("sagemaker", latency_ms=10, cold_start=False)]))
    assert (penalty["n_cold"].iloc[0], penalty["n_warm"].iloc[0]) == (0, 1)
    assert math.isnan(penalty["penalty_ms"].iloc[0]) and math.isnan(penalty["penalty_ratio"].iloc[0])


def test_cost_per_image_exact() -> None:
    cost = analytics.cost_per_image(_known())
    assert list(cost.columns) == ["provider", "n", "n_unpriced", "total_usd", "mean_usd", "per_1000_images_usd", "p50_usd"]
    bedrock = row(cost, provider="bedrock")
    assert (bedrock["n"], bedrock["n_unpriced"]) == (3, 1)
    assert (bedrock["total_usd"], bedrock["mean_usd"], bedrock["per_1000_images_usd"], bedrock["p50_usd"]) == pytest.approx((0.006, 0.002, 2.0, 0.002))
    sagemaker = row(cost, provider="sagemaker")
    assert (sagemaker["n"], sagemaker["per_1000_images_usd"]) == (5, pytest.approx(0.02))
    assert "azure_openai" not in cost["provider"].astype(str).tolist()  # no priced call


def test_tokens_per_provider_exact() -> None:
    tokens = analytics.tokens_per_provider(_known())
    assert tokens["provider"].astype(str).tolist() == ["bedrock"]
    bedrock = tokens.iloc[0]
    assert bedrock["n"] == 2
    assert (bedrock["mean_input_tokens"], bedrock["mean_output_tokens"], bedrock["mean_image_tokens"], bedrock["mean_total_tokens"]) == (1500, 200, 1200, 1700)


def test_error_rates_and_errors_by_type_exact() -> None:
    frame = _known()
    rates = analytics.error_rates(frame)
    assert list(rates.columns) == ["provider", "n", "errors", "error_rate", "throttled", "throttle_rate", "retried", "retry_rate"]
    azure = row(rates, provider="azure_openai")
    assert (azure["n"], azure["errors"], azure["throttled"], azure["retried"]) == (11, 4, 2, 3)
    assert (azure["error_rate"], azure["throttle_rate"], azure["retry_rate"]) == pytest.approx((4 / 11, 2 / 11, 3 / 11))
    sagemaker = row(rates, provider="sagemaker")
    assert (sagemaker["n"], sagemaker["errors"], sagemaker["throttled"], sagemaker["error_rate"]) == (6, 1, 0, pytest.approx(1 / 6))
    by_type = analytics.errors_by_type(frame)
    assert list(by_type.columns) == ["provider", "error_type", "errors", "n", "rate"]
    azure_types = by_type[by_type["provider"] == "azure_openai"]
    assert azure_types[["error_type", "errors", "n"]].astype(str).values.tolist() == [
        ["throttled", "2", "11"], ["timeout", "1", "11"], ["unknown", "1", "11"]
    ]
    assert row(by_type, provider="bedrock", error_type="throttled")["rate"] == pytest.approx(1 / 5)


def test_accuracy_exact_with_wilson_bounds() -> None:
    items = [item("bedrock", latency_ms=1, correct=i < 8, minutes=i) for i in range(10)]
    items += [item("bedrock", latency_ms=1, minutes=20), item("sagemaker", latency_ms=1, cold_start=False, correct=False)]
    table = analytics.accuracy(to_frame(items))
    assert list(table.columns) == ["provider", "n_scored", "correct", "accuracy", "wilson_low", "wilson_high"]
    bedrock = row(table, provider="bedrock")
    assert (bedrock["n_scored"], bedrock["correct"], bedrock["accuracy"]) == (10, 8, 0.8)
    assert (bedrock["wilson_low"], bedrock["wilson_high"]) == pytest.approx(wilson(8, 10))
    assert bedrock["wilson_low"] == pytest.approx(0.4902, abs=1e-4) and bedrock["wilson_high"] == pytest.approx(0.9433, abs=1e-4)
    sagemaker = row(table, provider="sagemaker")
    assert (sagemaker["n_scored"], sagemaker["accuracy"], sagemaker["wilson_low"]) == (1, 0.0, 0.0)


def test_latency_over_time_buckets() -> None:
    frame = _known()
    hourly = analytics.latency_over_time(frame, freq="h")
    assert list(hourly.columns) == ["provider", "temperature", "bucket", "n", "p50", "p95"]
    assert hourly.attrs == {"freq": "h", "bucket": "hour"}
    bedrock = hourly[hourly["provider"] == "bedrock"]
    assert bedrock["bucket"].tolist() == [pd.Timestamp("2026-03-02T10:00Z"), pd.Timestamp("2026-03-02T11:00Z")]
    assert bedrock["n"].tolist() == [2, 2] and bedrock["p50"].tolist() == [150.0, 350.0]
    assert bedrock["p95"].tolist() == pytest.approx([195.0, 395.0])
    sagemaker = hourly[hourly["provider"] == "sagemaker"]
    assert sagemaker["temperature"].astype(str).tolist() == ["warm", "cold"]  # apart, never mixed
    auto = analytics.latency_over_time(frame)  # 70 minutes of data -> minute buckets
    assert auto.attrs["bucket"] == "minute" and auto["n"].sum() == 16


@pytest.mark.parametrize(("span", "freq"), [(timedelta(0), "min"), (timedelta(hours=6), "min"), (timedelta(days=3), "h"), (timedelta(days=30), "D")])
def test_bucket_chosen_from_the_span(span: timedelta, freq: str) -> None:
    assert analytics.choose_freq(pd.Timedelta(span)) == freq


def test_latency_vs_size_keeps_successful_calls_with_a_size() -> None:
    frame = to_frame(
        [item("bedrock", latency_ms=100), item("bedrock", latency_ms=5, image_width=None), item("bedrock", status="error", latency_ms=9)]
    )
    points = analytics.latency_vs_size(frame)
    assert list(points.columns) == ["provider", "temperature", "image_megapixels", "image_bytes", "latency_ms"]
    assert points[["image_megapixels", "image_bytes", "latency_ms"]].values.tolist() == [[0.5, 123456.0, 100.0]]


def test_provider_summary() -> None:
    summary = analytics.provider_summary(_known())
    assert list(summary.columns) == [
        "provider", "n", "ok", "errors", "error_rate", "latency_basis", "p50_ms", "p95_ms",
        "cold_start_rate", "mean_cost_usd", "per_1000_images_usd", "accuracy", "n_scored",
    ]
    sagemaker = row(summary, provider="sagemaker")
    assert (sagemaker["n"], sagemaker["ok"], sagemaker["errors"], sagemaker["latency_basis"]) == (6, 5, 1, "warm")
    assert (sagemaker["p50_ms"], sagemaker["p95_ms"]) == pytest.approx((20.0, 29.0))  # warm calls only
    assert sagemaker["cold_start_rate"] == 0.4
    bedrock = row(summary, provider="bedrock")
    assert (bedrock["latency_basis"], bedrock["p50_ms"], bedrock["per_1000_images_usd"]) == ("all", 250.0, pytest.approx(2.0))
    assert math.isnan(bedrock["cold_start_rate"]) and math.isnan(bedrock["accuracy"]) and bedrock["n_scored"] == 0
    azure = row(summary, provider="azure_openai")
    assert (azure["n"], azure["ok"], azure["errors"]) == (11, 7, 4) and math.isnan(azure["mean_cost_usd"])


AGGREGATES = [
    analytics.latency_percentiles,
    analytics.cold_start_penalty,
    analytics.cold_start_rate,
    analytics.cost_per_image,
    analytics.tokens_per_provider,
    analytics.error_rates,
    analytics.errors_by_type,
    analytics.accuracy,
    analytics.latency_over_time,
    analytics.latency_vs_size,
    analytics.provider_summary,
]


@pytest.mark.parametrize("aggregate", AGGREGATES, ids=lambda f: f.__name__)
def test_aggregates_of_an_empty_frame_are_empty_with_the_same_columns_and_dtypes(aggregate: Any) -> None:
    full = aggregate(_known())
    empty = aggregate(to_frame([]))
    filtered = aggregate(analytics.apply_filters(_known(), Filters(providers=("nobody",))))
    assert empty.empty and filtered.empty
    assert list(empty.columns) == list(full.columns) == list(filtered.columns)
    assert dict(empty.dtypes.astype(str)) == dict(full.dtypes.astype(str)) == dict(filtered.dtypes.astype(str))


def test_generated_history_numbers() -> None:
    items = make_items(6_000, seed=4)
    frame = to_frame(items)
    rates = analytics.error_rates(frame)
    for provider in ("sagemaker", "bedrock", "azure_openai"):
        mine = [i for i in items if i["provider"] == provider]
        errors = sum(i["status"] == "error" for i in mine)
        assert row(rates, provider=provider)["errors"] == errors
        priced = [i["cost_usd"] for i in mine if i["status"] == "ok"]
        assert row(analytics.cost_per_image(frame), provider=provider)["total_usd"] == pytest.approx(sum(priced))


def test_selection_summary_cost_is_unknown_when_nothing_is_priced() -> None:
    assert np.isnan(analytics.selection_summary(to_frame([item("bedrock", latency_ms=5, cost_usd=None)]))["cost_usd"])
    assert analytics.selection_summary(to_frame([]))["cost_usd"] == 0.0
    priced = to_frame([item("bedrock", cost_usd=0.25), item("bedrock", cost_usd=None)])
    assert analytics.selection_summary(priced)["cost_usd"] == pytest.approx(0.25)
