"""The history as a pandas frame, and the aggregates every chart and table is drawn from.

Conventions, the same in every function:
- One row of the frame is one result: one provider's answer on one image.
- Latency, cost and tokens are read from successful calls (`status == "ok"`) only; error counts and rates from
  every result. Every aggregate carries `n` (the rows it is made from) and the counts each rate is made from.
- Percentiles are computed from the raw values with linear interpolation between order statistics (numpy's
  default, `method="linear"`): p50 of [100, 200, 300, 400] is 250.
- Cold and warm calls are never mixed. `temperature` is "cold" or "warm" where the provider reported a cold-start
  flag and "not reported" where it did not (Bedrock and Azure OpenAI never do): those are never counted as warm.
- The median's interval is an exact bootstrap percentile interval (`median_ci`), not a Monte Carlo one.
- Proportions (accuracy, cold-start rate) carry a Wilson score interval.
- Group columns stay categorical; groups without rows are left out (`observed=True`).
Everything is vectorised: no Python loop runs over rows, only over a handful of groups at most.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timezone
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
from scipy import special, stats

from . import quality
from .records import ANATOMY, anatomy

STATUSES = ("ok", "error")
TEMPERATURES = ("warm", "cold", "not reported")
PERCENTILES = (50, 90, 95, 99)

STRING = pd.StringDtype()  # "string": missing values are pd.NA
TIMESTAMP = "datetime64[us, UTC]"  # history stores created_at with microseconds

_STRING_COLUMNS = ("run_id", "image_key", "image_name", "bench_id", "sweep_id")
_CATEGORY_COLUMNS = ("provider", "service", "title", "model", "error_type", "source")
MODES = ("online", "batch")  # how a result was made: a call, or a record of a batch job (batch.py)
# Counts (tokens, attempts, pixels, bytes) are float64 with NaN for "not recorded", like the measurements:
# one numeric dtype for every number, which numpy reduces directly and which survives empty frames and CSV.
_FLOAT_COLUMNS = (
    "latency_ms",
    "provider_latency_ms",
    "ttft_ms",
    "output_tokens_per_s",
    "cost_usd",
    "input_tokens",
    "output_tokens",
    "image_tokens",
    "attempts",
    "image_width",
    "image_height",
    "image_bytes",
    "concurrency",
)
_BOOLEAN_COLUMNS = ("cold_start", "streamed", "correct")
# Frame columns in order (the item fields, then what is derived from them).
COLUMNS = (
    "run_id",
    "created_at",
    "provider",
    "service",
    "title",
    "model",
    "status",
    "latency_ms",
    "provider_latency_ms",
    "ttft_ms",
    "output_tokens_per_s",
    *ANATOMY,  # queue_ms, prepare_ms, service_ms, network_ms
    "cost_usd",
    "input_tokens",
    "output_tokens",
    "image_tokens",
    "attempts",
    "cold_start",
    "streamed",
    "temperature",
    "error_type",
    "image_key",
    "image_name",
    "image_width",
    "image_height",
    "image_bytes",
    "image_megapixels",
    "source",
    "bench_id",
    "sweep_id",
    "concurrency",
    "correct",
    "mode",
)
# What is read from each item: the columns that are item fields, and timings (for the anatomy).
_ITEM_FIELDS = (*(c for c in COLUMNS if c not in ("temperature", "image_megapixels", *ANATOMY)), "timings")


# --- the frame ---------------------------------------------------------------------------------------------------


def _categorical(values: Sequence[Any], order: Sequence[str] = (), fixed: bool = False) -> pd.Categorical:
    """Values -> a categorical whose categories are `order` first (all of them when `fixed`, else those present),
    then the other values seen, in name order. Missing values stay missing."""
    codes, uniques = pd.factorize(np.asarray(values, dtype=object), use_na_sentinel=True)
    present = [str(u) for u in uniques]
    first = list(order) if fixed else [c for c in order if c in present]
    categories = first + sorted(set(present) - set(first))
    position = {c: i for i, c in enumerate(categories)}
    remap = np.array([position[p] for p in present] + [-1], dtype=np.int64)  # -1: the NA sentinel's slot
    return pd.Categorical.from_codes(remap[codes], categories=categories)


def _floats(values: Sequence[Any]) -> np.ndarray:
    try:
        return np.asarray(values, dtype=np.float64)  # ints, floats and None (-> NaN): the usual case, fast
    except (TypeError, ValueError):  # something else slipped in (a string): it becomes NaN, not an exception
        return pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(np.float64, na_value=np.nan)


def _booleans(values: Sequence[Any]) -> pd.api.extensions.ExtensionArray:
    return pd.array([v if isinstance(v, (bool, np.bool_)) else None for v in values], dtype="boolean")


def temperature_of(cold_start: pd.Series) -> pd.Categorical:
    """cold_start True/False/NA -> "cold"/"warm"/"not reported"."""
    flags = cold_start.astype("boolean")
    codes = np.where(flags.isna().to_numpy(), 2, np.where(flags.fillna(False).to_numpy(bool), 1, 0))
    return pd.Categorical.from_codes(codes, categories=list(TEMPERATURES))


def to_frame(items: list[dict[str, Any]], order: Sequence[str] = ()) -> pd.DataFrame:
    """Result items (as `History.load` returns them) -> one row per result, with the same dtypes for any input:

    run_id, image_key, image_name, bench_id,
    sweep_id                                      string (pd.NA when missing)
    created_at                                    datetime64[us, UTC]
    provider                                      category: the target ids in `order` (the catalogue's) first,
                                                  then the others in name order
    service, title, model, error_type, source     category (service and title missing in items stored
                                                  before targets had them)
    status                                        category, categories "ok", "error" (+ any other value seen)
    mode                                          category, categories "online", "batch": items without a mode
                                                  (stored before batch benchmarks) are "online"
    temperature                                   category "warm", "cold", "not reported" (from cold_start)
    latency_ms, provider_latency_ms, ttft_ms,
    output_tokens_per_s, cost_usd,
    input_tokens, output_tokens, image_tokens,
    attempts, image_width, image_height,
    image_bytes, image_megapixels, concurrency    float64, NaN when not recorded
    queue_ms, prepare_ms, service_ms, network_ms  float64: the call's anatomy (records.anatomy), NaN where a part
                                                  is not known (items stored before it was recorded; service_ms
                                                  where the service reports no time of its own)
    cold_start, streamed, correct                 boolean (nullable)

    image_megapixels is image_width * image_height / 1e6 of the uploaded image (not the size sent to the
    provider, which each provider resizes to its own best size). Keys not listed (e.g. expires_at) are dropped.
    """
    n = len(items)
    # One pass over the items, then a transpose: twice as fast as a pass per column.
    columns = list(zip(*[tuple(map(item.get, _ITEM_FIELDS)) for item in items])) if n else [()] * len(_ITEM_FIELDS)
    raw = dict(zip(_ITEM_FIELDS, columns))
    data: dict[str, Any] = {}
    for name in _STRING_COLUMNS:
        data[name] = pd.array([None if v is None else str(v) for v in raw[name]], dtype=STRING)
    created = pd.to_datetime(pd.Series(raw["created_at"], dtype=object), utc=True, format="ISO8601", errors="coerce")
    data["created_at"] = created.astype(TIMESTAMP).array
    data["provider"] = _categorical(raw["provider"], order)
    for name in ("service", "title", "model", "error_type", "source"):
        data[name] = _categorical(raw[name])
    data["status"] = _categorical(raw["status"], STATUSES, fixed=True)
    data["mode"] = _categorical([m or "online" for m in raw["mode"]], MODES, fixed=True)
    for name in _FLOAT_COLUMNS:
        data[name] = _floats(raw[name])
    for name in _BOOLEAN_COLUMNS:
        data[name] = _booleans(raw[name])
    parts = [anatomy(item) for item in items]
    for name in ANATOMY:
        data[name] = _floats([part.get(name) for part in parts])
    frame = pd.DataFrame(data, index=pd.RangeIndex(n))
    frame["temperature"] = temperature_of(frame["cold_start"])
    frame["image_megapixels"] = frame["image_width"] * frame["image_height"] / 1e6
    return frame[list(COLUMNS)]


def empty_frame() -> pd.DataFrame:
    return to_frame([])


def stored_titles(df: pd.DataFrame) -> dict[str, str]:
    """Target id -> the title stored with its newest result that has one (items stored before targets carried
    titles have none): how a target no longer in the catalogue is named."""
    if "title" not in df or df.empty:
        return {}
    named = df.loc[df["title"].notna().to_numpy(), ["provider", "title", "created_at"]]
    newest = named.sort_values("created_at", kind="stable").drop_duplicates("provider", keep="last")
    return dict(zip(newest["provider"].astype(str), newest["title"].astype(str)))


# --- filters -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """A selection of results. None or an empty tuple means "all". `since` and `until` are inclusive, like
    `History.load`; naive datetimes are taken as UTC."""

    since: datetime | None = None
    until: datetime | None = None
    providers: tuple[str, ...] | None = None
    models: tuple[str, ...] | None = None
    statuses: tuple[str, ...] | None = None
    temperatures: tuple[str, ...] | None = None
    bench_ids: tuple[str, ...] | None = None
    sources: tuple[str, ...] | None = None
    modes: tuple[str, ...] | None = None

    _COLUMNS = {
        "providers": "provider",
        "models": "model",
        "statuses": "status",
        "temperatures": "temperature",
        "bench_ids": "bench_id",
        "sources": "source",
        "modes": "mode",
    }

    def active(self) -> dict[str, Any]:
        """The filters that restrict anything, by field name."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)}

    # What people read for each filter instead of its field name.
    _LABELS = {
        "providers": "models",
        "models": "model ids",
        "statuses": "status",
        "temperatures": "cold or warm",
        "bench_ids": "benchmark runs",
        "sources": "started from",
        "modes": "mode",
    }

    def describe(self, title: Callable[[str], str] | None = None) -> list[str]:
        """One line per active filter, for people (the report's header); `title` names a target id."""
        lines = []
        for name, value in self.active().items():
            label = Filters._LABELS.get(name, name.replace("_", " "))
            if name == "providers":
                value = tuple(title(str(v)) if title else v for v in value)
            if isinstance(value, datetime):
                lines.append(f"{label}: {_utc(value):%Y-%m-%d %H:%M:%S} UTC")
            else:
                lines.append(f"{label}: {', '.join(str(v) for v in value)}")
        return lines


def _utc(when: datetime) -> pd.Timestamp:
    stamp = pd.Timestamp(when)
    return stamp.tz_localize(timezone.utc) if stamp.tzinfo is None else stamp.tz_convert(timezone.utc)


def apply_filters(df: pd.DataFrame, filters: Filters) -> pd.DataFrame:
    """The rows of `df` that `filters` select (vectorised masks). Categories are kept, so colours and orders stay
    the same whatever is selected; the frame itself is returned when nothing restricts it."""
    mask = np.ones(len(df), dtype=bool)
    if filters.since is not None:
        mask &= (df["created_at"] >= _utc(filters.since)).to_numpy()
    if filters.until is not None:
        mask &= (df["created_at"] <= _utc(filters.until)).to_numpy()
    for field_name, column in Filters._COLUMNS.items():
        wanted = getattr(filters, field_name)
        if wanted:
            mask &= df[column].isin(list(wanted)).to_numpy(dtype=bool, na_value=False)
    if mask.all():
        return df
    return df.loc[mask]


# --- statistics ---------------------------------------------------------------------------------------------------


def percentile(values: Any, q: float | Sequence[float]) -> Any:
    """Percentile(s) of the raw values, NaNs left out, linear interpolation (numpy's default). NaN when empty."""
    data = np.asarray(values, dtype=np.float64)
    data = data[~np.isnan(data)]
    if data.size == 0:
        return np.full(np.shape(q), np.nan) if np.ndim(q) else float("nan")
    result = np.percentile(data, q, method="linear")
    return result if np.ndim(q) else float(result)


def _order_stat_quantile(n: np.ndarray, r: np.ndarray, q: float) -> np.ndarray:
    """For each group of size n: the smallest k in 1..n with P(Bin(n, k/n) >= r) >= q, i.e. the index (1-based)
    of the q-quantile of the r-th order statistic of a bootstrap resample, whose CDF at the sample's k-th order
    statistic is P(at least r of n draws are <= x_(k)) = P(Bin(n, k/n) >= r) (ties are handled by taking the
    smallest index, whose value is the same). Solved in closed form with the inverse of the binomial CDF in p,
    then checked and nudged by one step against rounding: O(1) per group."""
    n = np.asarray(n, dtype=np.int64)
    r = np.asarray(r, dtype=np.int64)
    # P(Bin(n,p) >= r) >= q  <=>  bdtr(r-1, n, p) <= 1-q  <=>  p >= bdtri(r-1, n, 1-q)  (bdtr falls in p)
    p = special.bdtri(r - 1, n, 1.0 - q)
    k = np.clip(np.ceil(n * p).astype(np.int64), 1, n)

    def cdf(k: np.ndarray) -> np.ndarray:
        return stats.binom.sf(r - 1, n, k / n)

    for _ in range(64):  # the closed form is off by at most a step; bounded all the same
        down = (k > 1) & (cdf(np.maximum(k - 1, 1)) >= q)
        up = (k < n) & (cdf(k) < q)
        if not (down.any() or up.any()):
            break
        k = k - down + up
    return k


def _median_ci_sorted(
    values: np.ndarray, starts: np.ndarray, counts: np.ndarray, confidence: float
) -> tuple[np.ndarray, np.ndarray]:
    """Exact bootstrap percentile interval of the median for groups of sorted values (values[starts:starts+counts]).

    Odd n = 2m+1: numpy's median of a resample is its (m+1)-th order statistic, so the interval is the alpha/2 and
    1-alpha/2 quantiles of that order statistic's bootstrap distribution (Efron 1979). Even n = 2m: numpy's median
    is the mean of the m-th and (m+1)-th order statistics, so it lies between them; the interval runs from the
    alpha/2 quantile of the m-th to the 1-alpha/2 quantile of the (m+1)-th order statistic: conservative (each
    tail holds at most alpha/2 of the bootstrap medians) and it contains the sample median.
    """
    low = np.full(counts.shape, np.nan)
    high = np.full(counts.shape, np.nan)
    has = counts > 0
    if not has.any():
        return low, high
    n = counts[has].astype(np.int64)
    start = starts[has].astype(np.int64)
    alpha = 1.0 - confidence
    m = n // 2
    odd = n % 2 == 1
    r_low = np.where(odd, m + 1, m)  # order statistic whose lower quantile bounds the interval
    r_high = m + 1
    k_low = _order_stat_quantile(n, np.maximum(r_low, 1), alpha / 2)
    k_high = _order_stat_quantile(n, r_high, 1 - alpha / 2)
    low[has] = values[start + k_low - 1]
    high[has] = values[start + k_high - 1]
    return low, high


def median_ci(values: Any, confidence: float = 0.95) -> tuple[float, float]:
    """Bootstrap percentile interval of the median, computed exactly from order statistics and the binomial
    distribution instead of by resampling: no Monte Carlo noise, O(n log n) (one sort). NaNs are left out;
    (NaN, NaN) for no values; (x, x) for one value x. See `_median_ci_sorted` for odd and even n."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, not {confidence}")
    data = np.asarray(values, dtype=np.float64).ravel()
    data = np.sort(data[~np.isnan(data)])
    low, high = _median_ci_sorted(data, np.array([0]), np.array([data.size]), confidence)
    return float(low[0]), float(high[0])


def wilson_interval(successes: Any, n: Any, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a proportion, vectorised; NaN where n == 0. Its home is `quality.wilson_interval`
    (statsmodels' `proportion_confint`): every view's intervals come from the same function."""
    return quality.wilson_interval(successes, n, confidence)


@dataclass
class Groups:
    """Rows sorted by group, then by value: every group's percentiles by index arithmetic after a single sort."""

    keys: pd.DataFrame  # one row per group, in group order
    values: np.ndarray  # sorted within each group
    starts: np.ndarray
    counts: np.ndarray

    def quantile(self, q: float) -> np.ndarray:
        """Linear interpolation between order statistics, like numpy's default (q in [0, 1])."""
        if self.counts.size == 0:
            return np.array([], dtype=np.float64)
        pos = q * (self.counts - 1)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, self.counts - 1)
        frac = pos - lo
        a = self.values[self.starts + lo]
        b = self.values[self.starts + hi]
        return a + (b - a) * frac

    def mean(self) -> np.ndarray:
        if self.counts.size == 0:
            return np.array([], dtype=np.float64)
        return np.add.reduceat(self.values, self.starts) / self.counts

    def median_ci(self, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        return _median_ci_sorted(self.values, self.starts, self.counts, confidence)

    def group_values(self, i: int) -> np.ndarray:
        """The sorted values of group i (a view)."""
        return self.values[self.starts[i] : self.starts[i] + self.counts[i]]


def sorted_groups(frame: pd.DataFrame, by: list[str], value: str) -> Groups:
    """Group the rows with a value (NaN left out) by the `by` columns (rows with a missing key left out)."""
    values = frame[value].to_numpy(np.float64, na_value=np.nan)
    keep = ~np.isnan(values)
    for column in by:
        keep &= frame[column].notna().to_numpy()
    frame = frame.loc[keep, by]
    values = values[keep]
    grouped = frame.groupby(by, observed=True, sort=True)
    keys = grouped.size().index.to_frame(index=False)
    if values.size == 0:
        empty = np.array([], dtype=np.int64)
        return Groups(keys.iloc[:0], values, empty, empty)
    codes = grouped.ngroup().to_numpy(np.int64)
    order = np.lexsort((values, codes))
    counts = np.bincount(codes, minlength=len(keys))
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    return Groups(keys, values[order], starts, counts)


def successful(df: pd.DataFrame, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """The rows of successful calls, with only `columns` when given (copying the string columns of 100k rows
    for nothing costs more than the statistics)."""
    mask = (df["status"] == "ok").to_numpy(dtype=bool, na_value=False)
    return df.loc[mask, list(columns) if columns is not None else slice(None)]


def _with_keys(keys: pd.DataFrame, columns: dict[str, Any]) -> pd.DataFrame:
    out = keys.reset_index(drop=True).copy()
    for name, values in columns.items():
        out[name] = values
    return out


def _by_provider(df: pd.DataFrame) -> Any:
    return df.groupby("provider", observed=True, sort=True)


def _rate(numerator: Any, denominator: Any) -> np.ndarray:
    num = np.asarray(numerator, dtype=np.float64)
    den = np.asarray(denominator, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / den, np.nan)


def _lookup(by_provider: pd.Series, providers: pd.Series, fill: float = np.nan) -> np.ndarray:
    """by_provider[p] for each p of providers, `fill` where absent, as float64 (no Categorical.map surprises)."""
    table = pd.Series(by_provider.to_numpy(np.float64), index=by_provider.index.astype(str))
    return table.reindex(providers.astype(str).to_numpy()).fillna(fill).to_numpy(np.float64)


def _providers(df: pd.DataFrame, present: pd.DataFrame) -> pd.DataFrame:
    """A provider column with df's dtype holding the providers that occur in `present`, in category order."""
    dtype = df["provider"].dtype
    codes = np.unique(present["provider"].cat.codes.to_numpy())
    return pd.DataFrame({"provider": pd.Categorical.from_codes(codes[codes >= 0], dtype=dtype)})


# --- aggregates ---------------------------------------------------------------------------------------------------


def latency_percentiles(df: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Latency of successful calls (ms) per provider and temperature, cold and warm apart.

    Columns: provider, temperature, n, p50, p90, p95, p99, mean, median_ci_low, median_ci_high."""
    groups = sorted_groups(successful(df, _LATENCY), ["provider", "temperature"], "latency_ms")
    low, high = groups.median_ci(confidence)
    columns: dict[str, Any] = {"n": groups.counts.astype(np.int64)}
    for q in PERCENTILES:
        columns[f"p{q}"] = groups.quantile(q / 100)
    columns["mean"] = groups.mean()
    columns["median_ci_low"] = low
    columns["median_ci_high"] = high
    return _with_keys(groups.keys, columns)


_LATENCY = ["provider", "temperature", "cold_start", "latency_ms"]


def _reporting(ok: pd.DataFrame) -> pd.DataFrame:
    """Successful calls that carry a cold-start flag (the providers that report cold starts)."""
    return ok.loc[ok["cold_start"].notna().to_numpy()]


def cold_start_penalty(df: pd.DataFrame) -> pd.DataFrame:
    """What a cold start costs, per provider that reports cold starts: medians of successful calls (ms).

    Columns: provider, n_cold, n_warm, p50_cold, p50_warm, penalty_ms (p50_cold - p50_warm),
    penalty_ratio (p50_cold / p50_warm). NaN where one side has no calls."""
    reporting = _reporting(successful(df, _LATENCY))
    reporting = reporting.loc[reporting["latency_ms"].notna().to_numpy()]
    groups = sorted_groups(reporting, ["provider", "temperature"], "latency_ms")
    parts = _with_keys(groups.keys, {"n": groups.counts, "p50": groups.quantile(0.5)})
    out = _providers(df, reporting)
    for temperature in ("cold", "warm"):
        side = parts.loc[(parts["temperature"] == temperature).to_numpy()].set_index("provider")
        out[f"n_{temperature}"] = _lookup(side["n"], out["provider"], fill=0).astype(np.int64)
        out[f"p50_{temperature}"] = _lookup(side["p50"], out["provider"])
    out["penalty_ms"] = out["p50_cold"] - out["p50_warm"]
    out["penalty_ratio"] = _rate(out["p50_cold"], out["p50_warm"])
    return out[["provider", "n_cold", "n_warm", "p50_cold", "p50_warm", "penalty_ms", "penalty_ratio"]]


def cold_start_rate(df: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Share of successful calls that were cold starts, per provider that reports them.

    Columns: provider, n (calls with a cold-start flag), cold, rate, wilson_low, wilson_high."""
    reporting = _reporting(successful(df, _LATENCY))
    grouped = _by_provider(reporting)["cold_start"]
    out = _providers(df, reporting)
    out["n"] = _lookup(grouped.size(), out["provider"], fill=0).astype(np.int64)
    out["cold"] = _lookup(grouped.sum(), out["provider"], fill=0).astype(np.int64)
    out["rate"] = _rate(out["cold"], out["n"])
    out["wilson_low"], out["wilson_high"] = wilson_interval(out["cold"], out["n"], confidence)
    return out


def cost_per_image(df: pd.DataFrame) -> pd.DataFrame:
    """Cost of one image per provider, from successful calls with a known cost (USD). One result = one image.

    Columns: provider, n (priced calls), n_unpriced (successful calls without a cost), total_usd, mean_usd,
    per_1000_images_usd (mean_usd * 1000), p50_usd."""
    ok = successful(df, ["provider", "cost_usd"])
    groups = sorted_groups(ok, ["provider"], "cost_usd")
    total = np.add.reduceat(groups.values, groups.starts) if groups.counts.size else np.array([], np.float64)
    mean = _rate(total, groups.counts)
    out = _with_keys(
        groups.keys,
        {
            "n": groups.counts.astype(np.int64),
            "total_usd": total,
            "mean_usd": mean,
            "per_1000_images_usd": mean * 1000,
            "p50_usd": groups.quantile(0.5),
        },
    )
    unpriced = _by_provider(ok.loc[ok["cost_usd"].isna().to_numpy()]).size()
    out.insert(2, "n_unpriced", _lookup(unpriced, out["provider"], fill=0).astype(np.int64))
    return out


def tokens_per_provider(df: pd.DataFrame) -> pd.DataFrame:
    """Mean tokens per image, per provider whose successful calls recorded tokens.

    Columns: provider, n (calls with tokens), mean_input_tokens (the image included), mean_output_tokens,
    mean_image_tokens (the part of the input the image accounts for, estimated from its size; NaN when not
    estimated), mean_total_tokens (input + output)."""
    ok = successful(df, ["provider", "input_tokens", "output_tokens", "image_tokens"])
    has = ok[["input_tokens", "output_tokens"]].notna().any(axis=1).to_numpy()
    tokens = ok.loc[has, ["provider", "input_tokens", "output_tokens", "image_tokens"]]
    tokens = tokens.assign(total_tokens=tokens["input_tokens"].fillna(0) + tokens["output_tokens"].fillna(0))
    grouped = _by_provider(tokens)
    means = grouped[["input_tokens", "output_tokens", "image_tokens", "total_tokens"]].mean()
    out = _providers(df, tokens)
    out["n"] = _lookup(grouped.size(), out["provider"], fill=0).astype(np.int64)
    for name in ("input_tokens", "output_tokens", "image_tokens", "total_tokens"):
        out[f"mean_{name}"] = _lookup(means[name], out["provider"])
    return out


def error_rates(df: pd.DataFrame) -> pd.DataFrame:
    """Failures per provider over all results.

    Columns: provider, n, errors, error_rate, throttled (calls that ended throttled), throttle_rate,
    retried (calls that took more than one attempt, whatever their outcome), retry_rate."""
    flags = pd.DataFrame(
        {
            "provider": df["provider"],
            "errors": (df["status"] == "error").to_numpy(dtype=bool, na_value=False),
            "throttled": (df["error_type"] == "throttled").to_numpy(dtype=bool, na_value=False),
            "retried": (df["attempts"] > 1).to_numpy(dtype=bool),
        }
    )
    grouped = _by_provider(flags)
    sums = grouped[["errors", "throttled", "retried"]].sum()
    out = _providers(df, flags)
    out["n"] = _lookup(grouped.size(), out["provider"], fill=0).astype(np.int64)
    for name in ("errors", "throttled", "retried"):
        out[name] = _lookup(sums[name], out["provider"], fill=0).astype(np.int64)
    out.insert(3, "error_rate", _rate(out["errors"], out["n"]))
    out.insert(5, "throttle_rate", _rate(out["throttled"], out["n"]))
    out["retry_rate"] = _rate(out["retried"], out["n"])
    return out


def errors_by_type(df: pd.DataFrame) -> pd.DataFrame:
    """Errors per provider and error type (long form), over all results; a failure without a type is "unknown".

    Columns: provider, error_type, errors, n (all results of the provider), rate (errors / n)."""
    totals = _by_provider(df).size()
    failed = df.loc[(df["status"] == "error").to_numpy(dtype=bool, na_value=False), ["provider", "error_type"]]
    kinds = failed["error_type"].astype(str).where(failed["error_type"].notna(), "unknown")
    counts = failed.assign(error_type=kinds).groupby(["provider", "error_type"], observed=True, sort=True).size()
    out = counts.rename("errors").reset_index()
    if out.empty:
        out = _providers(df, failed).assign(error_type=pd.Series([], dtype=str), errors=np.array([], np.int64))
    out["error_type"] = out["error_type"].astype("category")
    out["errors"] = out["errors"].astype(np.int64)
    out["n"] = _lookup(totals, out["provider"], fill=0).astype(np.int64)
    out["rate"] = _rate(out["errors"], out["n"])
    return out.sort_values(["provider", "errors"], ascending=[True, False], kind="stable").reset_index(drop=True)


def accuracy(df: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Share of correct answers on labelled images, per provider, over the results that were scored (a failed call
    on a labelled image is scored as not correct: the user got no right answer).

    Columns: provider, n_scored, correct, accuracy, wilson_low, wilson_high (Wilson score interval)."""
    scored = df.loc[df["correct"].notna().to_numpy(), ["provider", "correct"]]
    grouped = _by_provider(scored)["correct"]
    out = _providers(df, scored)
    out["n_scored"] = _lookup(grouped.size(), out["provider"], fill=0).astype(np.int64)
    out["correct"] = _lookup(grouped.sum(), out["provider"], fill=0).astype(np.int64)
    out["accuracy"] = _rate(out["correct"], out["n_scored"])
    out["wilson_low"], out["wilson_high"] = wilson_interval(out["correct"], out["n_scored"], confidence)
    return out


# Bucket sizes for latency over time: (largest span of data, pandas frequency).
_BUCKETS = ((pd.Timedelta(hours=6), "min"), (pd.Timedelta(days=14), "h"))
_BUCKET_NAMES = {"min": "minute", "h": "hour", "D": "day", "W": "week"}


def choose_freq(span: pd.Timedelta) -> str:
    """Minute buckets up to 6 hours of data, hours up to 14 days, days beyond (a few hundred points at most)."""
    for limit, freq in _BUCKETS:
        if span <= limit:
            return freq
    return "D"


def latency_over_time(df: pd.DataFrame, freq: str | None = None) -> pd.DataFrame:
    """Latency of successful calls per provider, temperature and time bucket (ms).

    Columns: provider, temperature, bucket (start of the bucket, UTC), n, p50, p95.
    `freq` is a pandas frequency ("min", "h", "D", "15min" ...); None picks one from the span (`choose_freq`).
    The frequency used is in `result.attrs["freq"]`, its name ("minute", "hour", "day") in `attrs["bucket"]`."""
    ok = successful(df, ["provider", "temperature", "created_at", "latency_ms"])
    if freq is None:
        times = ok["created_at"]
        span = (times.max() - times.min()) if len(times) else pd.Timedelta(0)
        freq = choose_freq(span if pd.notna(span) else pd.Timedelta(0))
    frame = pd.DataFrame(
        {
            "provider": ok["provider"],
            "temperature": ok["temperature"],
            "bucket": ok["created_at"].dt.floor(freq),
            "latency_ms": ok["latency_ms"],
        }
    )
    groups = sorted_groups(frame, ["provider", "temperature", "bucket"], "latency_ms")
    keys = groups.keys
    if keys.empty:
        keys = frame[["provider", "temperature", "bucket"]].iloc[:0].reset_index(drop=True)
    out = _with_keys(
        keys, {"n": groups.counts.astype(np.int64), "p50": groups.quantile(0.5), "p95": groups.quantile(0.95)}
    )
    out["bucket"] = out["bucket"].astype(TIMESTAMP)
    out.attrs["freq"] = freq
    out.attrs["bucket"] = _BUCKET_NAMES.get(freq, freq)
    return out


def latency_vs_size(df: pd.DataFrame) -> pd.DataFrame:
    """Successful calls with a latency and a known image size, for a scatter.

    Columns: provider, temperature, image_megapixels, image_bytes, latency_ms."""
    ok = successful(df, ["provider", "temperature", "image_megapixels", "image_bytes", "latency_ms"])
    keep = (ok["latency_ms"].notna() & ok["image_megapixels"].notna()).to_numpy()
    columns = ["provider", "temperature", "image_megapixels", "image_bytes", "latency_ms"]
    return ok.loc[keep, columns].reset_index(drop=True)


def provider_summary(df: pd.DataFrame) -> pd.DataFrame:
    """One row per provider, for the benchmark summary.

    Columns: provider, n, ok, errors, error_rate, latency_basis, p50_ms, p95_ms, cold_start_rate, mean_cost_usd,
    per_1000_images_usd, accuracy, n_scored. p50_ms and p95_ms are of successful calls on `latency_basis`:
    "warm" calls for a provider that reports cold starts (so that a few cold starts do not move them), "all"
    successful calls for one that does not report them. cold_start_rate is NaN where not reported."""
    ok = successful(df, _LATENCY)
    errors = error_rates(df)
    out = errors[["provider", "n", "errors", "error_rate"]].copy()
    out.insert(2, "ok", _lookup(_by_provider(ok).size(), out["provider"], fill=0).astype(np.int64))
    reporting = list(_providers(df, _reporting(ok))["provider"].astype(str))
    is_reporting = ok["provider"].isin(reporting).to_numpy()
    basis = ok.loc[~is_reporting | (ok["temperature"] == "warm").to_numpy()]
    groups = sorted_groups(basis, ["provider"], "latency_ms")
    latency = _with_keys(groups.keys, {"p50_ms": groups.quantile(0.5), "p95_ms": groups.quantile(0.95)})
    latency = latency.set_index("provider")
    out["latency_basis"] = np.where(out["provider"].astype(str).isin(reporting), "warm", "all")
    out["p50_ms"] = _lookup(latency["p50_ms"], out["provider"])
    out["p95_ms"] = _lookup(latency["p95_ms"], out["provider"])
    out["cold_start_rate"] = _lookup(cold_start_rate(df).set_index("provider")["rate"], out["provider"])
    cost = cost_per_image(df).set_index("provider")
    out["mean_cost_usd"] = _lookup(cost["mean_usd"], out["provider"])
    out["per_1000_images_usd"] = _lookup(cost["per_1000_images_usd"], out["provider"])
    scored = accuracy(df).set_index("provider")
    out["accuracy"] = _lookup(scored["accuracy"], out["provider"])
    out["n_scored"] = _lookup(scored["n_scored"], out["provider"], fill=0).astype(np.int64)
    return out


def selection_summary(df: pd.DataFrame) -> dict[str, Any]:
    """What a frame holds, for headers: first/last result time, counts, providers present."""
    times = df["created_at"]
    return {
        "first": times.min() if len(df) else None,
        "last": times.max() if len(df) else None,
        "results": len(df),
        "comparisons": int(df["run_id"].nunique()),
        "errors": int((df["status"] == "error").sum()),
        "providers": [str(p) for p in df["provider"].cat.categories if (df["provider"] == p).any()],
        # NaN when results are there but none has a known cost: "unknown", not "$0".
        "cost_usd": float(df["cost_usd"].sum(min_count=1)) if len(df) else 0.0,
    }
