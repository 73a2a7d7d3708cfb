"""How numbers and names are shown to people: the one formatting layer of the pages, the HTML report and the CLI.

Rules, the same everywhere:
- Money is never rounded to zero: two significant digits below a cent ("$0.0000012"), cents above ("$0.42"),
  whole dollars from $1,000 ("$1,234"); a true zero is "$0"; unknown is a dash with the reason
  ("– price unknown").
- Durations in ms below 10 s ("850 ms", "1,234 ms"), in s above ("12.3 s", "1,234 s"), with separators.
- Percentages are 0 to 100 with "%" ("12.5%", "<0.1%", "100%"); counts have thousands separators.
- A missing value is "–" (an en dash), with a reason where one is known; never "None", "nan" or "NaN".
- Column and target names are titles with units (`COLUMN_TITLES`, `Catalogue.title`), never internal names.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Mapping

DASH = "–"


def missing(value: Any) -> bool:
    """None, NaN, pandas' NA and NaT: nothing to show."""
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN, NA and NaT are not equal to themselves
    except (TypeError, ValueError):  # pandas.NA raises on bool()
        return True


def dash(reason: str | None = None) -> str:
    return f"{DASH} {reason}" if reason else DASH


def _significant(value: float, digits: int) -> str:
    """`value` (> 0) to `digits` significant digits, without exponent, trailing zeros of the digits kept off."""
    exponent = math.floor(math.log10(abs(value)))
    places = max(0, digits - 1 - exponent)
    quantum = Decimal(1).scaleb(-places)
    rounded = Decimal(repr(value)).quantize(quantum, rounding=ROUND_HALF_UP)
    if rounded != 0 and math.floor(math.log10(abs(float(rounded)))) > exponent:  # 0.0000099 -> 0.000010
        places = max(0, places - 1)
        rounded = Decimal(repr(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    text = f"{rounded:,.{places}f}"
    return text


def money(usd: Any, *, unknown: str = "price unknown") -> str:
    """A cost in USD: "$0.0000012", "$0.0034", "$0.42", "$1,234"; "$0" for nothing; a dash with why."""
    if missing(usd):
        return dash(unknown)
    value = float(usd)
    if value == 0:
        return "$0"
    sign = "-" if value < 0 else ""
    value = abs(value)
    if value < 0.01:
        return f"{sign}${_significant(value, 2)}"
    if value < 1000:
        return f"{sign}${value:,.2f}"
    return f"{sign}${value:,.0f}"


def money_per_1000(usd: Any, *, unknown: str = "price unknown") -> str:
    """What 1,000 calls at this cost come to: "$1.20 per 1,000 images"."""
    if missing(usd):
        return dash(unknown)
    return f"{money(float(usd) * 1000)} per 1,000 images"


def duration_ms(ms: Any, *, unknown: str | None = None) -> str:
    """A duration given in ms: "850 ms", "1,234 ms", "12.3 s", "1,234 s"."""
    if missing(ms):
        return dash(unknown)
    value = float(ms)
    # Each unit's bound is checked on the value as it would be shown: 9,999.6 ms reads "10.0 s", not "10,000 ms".
    if abs(round(value, 1)) < 10:
        return f"{value:,.1f} ms" if value != int(value) else f"{int(value)} ms"
    if abs(round(value)) < 10_000:
        return f"{value:,.0f} ms"
    seconds = value / 1000
    return f"{seconds:,.1f} s" if abs(round(seconds, 1)) < 100 else f"{seconds:,.0f} s"


def percent(fraction: Any, *, unknown: str | None = None, digits: int = 1) -> str:
    """A fraction 0..1 as a percentage: 0.125 -> "12.5%", 1 -> "100%", 0.0004 -> "<0.1%"."""
    if missing(fraction):
        return dash(unknown)
    value = float(fraction) * 100
    if value == 0:
        return "0%"
    smallest = 10**-digits
    if 0 < abs(value) < smallest:
        return f"<{smallest:g}%"
    text = f"{value:,.{digits}f}"
    if digits > 0:  # trailing zeros of the decimals only: 50 stays "50%"
        text = text.rstrip("0").rstrip(".")
    return f"{text}%"


def count(n: Any, noun: str | None = None, *, unknown: str | None = None) -> str:
    """A whole number with separators, and its noun in the right number: "1 call", "12,345 calls"."""
    if missing(n):
        return dash(unknown)
    value = int(round(float(n)))
    text = f"{value:,}"
    if noun is None:
        return text
    return f"{text} {noun if value == 1 else plural(noun)}"


def plural(noun: str) -> str:
    if noun.endswith(("s", "x", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def number(value: Any, digits: int = 1, *, unknown: str | None = None) -> str:
    """A plain measurement with separators and at most `digits` decimals: 1921.8283 -> "1,921.8"."""
    if missing(value):
        return dash(unknown)
    text = f"{float(value):,.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def tokens(n: Any, *, unknown: str = "not reported") -> str:
    return count(n, "token", unknown=unknown)


def tokens_per_s(rate: Any, *, unknown: str | None = None) -> str:
    """An output rate: 85.04 -> "85 tokens/s", 8.46 -> "8.5 tokens/s", 1 -> "1 token/s"."""
    if missing(rate):
        return dash(unknown)
    value = float(rate)
    text = f"{value:,.0f}" if abs(value) >= 10 else f"{value:,.1f}".rstrip("0").rstrip(".")
    return f"{text} {'token' if text == '1' else 'tokens'}/s"


def ratio(value: Any, *, unknown: str | None = None) -> str:
    """How many times: 41.1556 -> "41×", 1.5 -> "1.5×"."""
    if missing(value):
        return dash(unknown)
    v = float(value)
    return f"{v:,.0f}×" if abs(v) >= 10 else f"{v:,.1f}×".replace(".0×", "×")


def price(usd: Any) -> str:
    """A list price as published, never rounded away: "$15.00", "$0.25", "$0.035", "$0.00002"."""
    if missing(usd):
        return dash("price unknown")
    value = float(usd)
    if value >= 0.01:
        whole, _, cents = f"{value:,.4f}".rstrip("0").partition(".")
        return f"${whole}.{cents.ljust(2, '0')}"
    return f"${_significant(value, 3).rstrip('0').rstrip('.')}" if value else "$0.00"


def usd_per_unit(usd: Any, unit: str) -> str:
    """A list price: "$0.00002 per GB-second", "$0.25 per million tokens"."""
    if missing(usd):
        return dash("price unknown")
    return f"{price(usd)} per {unit}"


def target_price(described: Mapping[str, Any], usd_per_gb_second: float | None = None) -> str:
    """A target's list price from `Target.describe()`: "$0.25 in / $1.25 out per million tokens", the compute
    price of a model billed by the GB-second, or why there is none."""
    if described.get("billing") == "compute":
        return usd_per_unit(usd_per_gb_second, "GB-second of compute")
    if missing(described.get("input_usd_per_mtok")):
        return dash("price unknown")
    return f"{price(described['input_usd_per_mtok'])} in / {price(described['output_usd_per_mtok'])} out per million tokens"


def p_value(p: Any, *, unknown: str | None = None) -> str:
    """A test's p-value as papers print it: "0.042", "< 0.001"; a dash with the reason when there is none."""
    if missing(p):
        return dash(unknown)
    value = float(p)
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def effect(metric: str, value: Any, *, unknown: str | None = None) -> str:
    """A paired difference a − b with its sign, in the metric's unit: "+12 points" (accuracy), "−85 ms"
    (latency), "+0.40" (judge score, 1 to 5)."""
    if missing(value):
        return dash(unknown)
    v = float(value)
    sign = "+" if v > 0 else "−" if v < 0 else "±"
    if metric == "correct":
        return f"{sign}{abs(v) * 100:,.0f} points"
    if metric == "latency_ms":
        return f"{sign}{duration_ms(abs(v))}"
    return f"{sign}{abs(v):,.2f}"


def interval(value: Any, ci: Any, show: Any, *, unknown: str | None = None) -> str:
    """A figure with its 95% interval: "80% (49%–94%)"; the figure alone when there is no interval."""
    if missing(value):
        return dash(unknown)
    if not ci or missing(ci[0]) or missing(ci[1]):
        return show(value)
    return f"{show(value)} ({show(ci[0])}–{show(ci[1])})"


def shorten(text: Any, width: int) -> str:
    """One line of at most `width` characters, cut at a word with "…" when longer."""
    flat = " ".join(str(text if not missing(text) else "").split())
    if len(flat) <= width:
        return flat
    cut = flat[: width - 1]
    if " " in cut and not flat[width - 1].isspace():
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(" ,;:.") + "…"


# What people read instead of the frame's and history's column names. Units in the title, not in the cells.
COLUMN_TITLES: dict[str, str] = {
    "provider": "Model",
    "target": "Model",
    "title": "Model",
    "service": "Service",
    "model": "Model id",
    "status": "Status",
    "n": "Calls",
    "ok": "Succeeded",
    "errors": "Failed",
    "error_rate": "Error rate",
    "throttle_rate": "Throttled",
    "latency_ms": "Latency (ms)",
    "provider_latency_ms": "Service time (ms)",
    "ttft_ms": "Time to first token (ms)",
    "output_tokens_per_s": "Output tokens per second",
    "streamed": "Streamed",
    "queue_ms": "Waiting for a slot (ms)",
    "prepare_ms": "Preparing the image (ms)",
    "service_ms": "Service's own time (ms)",
    "network_ms": "Network and client (ms)",
    "p50_ttft_ms": "p50 time to first token (ms)",
    "p95_ttft_ms": "p95 time to first token (ms)",
    "images_per_s": "Images per second",
    "concurrency": "Concurrency",
    "sweep_id": "Sweep",
    "throttled": "Throttled",
    "requests": "Requests",
    "median_ms": "Median latency (ms)",
    "median_ci_low": "Median, 95% CI low (ms)",
    "median_ci_high": "Median, 95% CI high (ms)",
    "p50_ms": "p50 (ms)",
    "p90_ms": "p90 (ms)",
    "p95_ms": "p95 (ms)",
    "p99_ms": "p99 (ms)",
    "p50_warm_ms": "p50 warm (ms)",
    "p95_warm_ms": "p95 warm (ms)",
    "p50_cold_ms": "p50 cold (ms)",
    "p95_cold_ms": "p95 cold (ms)",
    "cold_starts": "Cold starts",
    "cold_start_rate": "Cold-start rate",
    "penalty_ms": "Cold-start penalty (ms)",
    "penalty_ratio": "Cold ÷ warm",
    "cost_usd": "Cost (USD)",
    "mean_cost_usd": "Mean cost per call (USD)",
    "total_cost_usd": "Total cost (USD)",
    "cost_per_1000_usd": "Per 1,000 images (USD)",
    "input_tokens": "Input tokens",
    "output_tokens": "Output tokens",
    "image_tokens": "Image tokens",
    "accuracy": "Accuracy",
    "correct": "Correct",
    "n_scored": "Scored",
    "temperature": "Cold or warm",
    "image_name": "Image",
    "created_at": "Time (UTC)",
    "attempts": "Attempts",
}


def column_title(name: str) -> str:
    """The title of a column; an unknown name is made readable rather than shown raw."""
    return COLUMN_TITLES.get(name) or name.replace("_", " ").capitalize()


def duration_long_s(seconds: Any, *, unknown: str | None = None) -> str:
    """A duration given in s that may run to hours or days (a batch job's): as `duration_ms` below 100 s, then
    "12.5 min", "3.2 h", "1.5 days"."""
    if missing(seconds):
        return dash(unknown)
    value = float(seconds)
    if abs(round(value, 1)) < 100:
        return duration_ms(value * 1000)
    minutes = value / 60
    if abs(round(minutes, 1)) < 120:
        return f"{minutes:,.1f} min"
    hours = minutes / 60
    if abs(round(hours, 1)) < 48:
        return f"{hours:,.1f} h"
    return f"{hours / 24:,.1f} days"


# --- batch benchmarks: the services' batch jobs as people read them ---------------------------------------------


def batch_status(word: Any) -> str:
    """A batch job's status as its service words it, made readable: "InProgress" and "in_progress" -> "in
    progress", "PartiallyCompleted" -> "partially completed"; a dash when there is none."""
    if missing(word) or not str(word).strip():
        return DASH
    text = str(word).replace("_", " ")
    spaced = "".join(f" {c}" if c.isupper() and i and text[i - 1].islower() else c for i, c in enumerate(text))
    return " ".join(spaced.lower().split())


def batch_jobs_line(jobs: Any, title_of: Any) -> str:
    """Where each model's jobs are, from `batch.BatchProgress.jobs` ((target, status, finished, records) per job):
    "Amazon Bedrock: in progress, 37 of 100 records · Azure OpenAI: completed, 100 of 100 records"; a model
    with several jobs: "Amazon Bedrock: 2 jobs (1 in progress, 1 submitted), 37 of 200 records"."""
    by_target: dict[str, list[tuple[str, int, int]]] = {}
    for target, status, finished, records in jobs:
        by_target.setdefault(str(target), []).append((batch_status(status), int(finished or 0), int(records or 0)))
    parts = []
    for target, found in by_target.items():
        statuses: dict[str, int] = {}
        for status, _, _ in found:
            statuses[status] = statuses.get(status, 0) + 1
        if len(found) == 1:
            state = found[0][0]
        else:
            state = f"{count(len(found), 'job')} ({', '.join(f'{n} {s}' for s, n in statuses.items())})"
        done, total = sum(f for _, f, _ in found), sum(r for _, _, r in found)
        parts.append(f"{title_of(target)}: {state}, {count(done)} of {count(total, 'record')}")
    return " · ".join(parts) if parts else DASH


def batch_limits_text(service_title: str, limits: Any) -> str:
    """What one batch job of a service may hold: "Amazon Bedrock: 100 to 50,000 records and 1 GB per job"."""
    size = limits.max_file_bytes
    shown = f"{number(size / 1e9)} GB" if size >= 1e9 else f"{size / 2**20:,.0f} MB"
    low = f"{count(limits.min_records)} to " if limits.min_records > 1 else "up to "
    return f"{service_title}: {low}{count(limits.max_records, 'record')} and {shown} per job"


def batch_not_offered(titles: Any) -> str:
    """Why some models are not offered for a batch benchmark, naming them by their titles."""
    names = [str(t) for t in titles]
    if not names:
        return ""
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    if len(names) == 1:
        return f"{listed} is not offered: its service has no batch engine here. Run it online."
    return f"{listed} are not offered: their services have no batch engine here. Run them online."


# --- alarms: CloudWatch's words made readable ---------------------------------------------------------------------

ALARM_KIND_TITLES = {  # alarms.KINDS' kinds, as the end of an alarm's title
    "target_error_rate": "error rate",
    "target_latency_p95": "p95 latency",
    "sagemaker_5xx_errors": "5xx errors",
    "sagemaker_model_latency_p95": "p95 model latency",
    "sagemaker_overhead_latency": "overhead latency",
    "lambda_errors": "errors",
    "lambda_throttles": "throttles",
    "bedrock_invocation_throttles": "throttles",
    "bedrock_invocation_latency_p95": "p95 latency",
    "bedrock_invocation_client_errors": "client errors",
}
ALARM_STATES = {"ALARM": "in alarm", "OK": "ok", "INSUFFICIENT_DATA": "no data"}
_COMPARISONS = {
    "GreaterThanThreshold": "above",
    "GreaterThanOrEqualToThreshold": "at or above",
    "LessThanThreshold": "below",
    "LessThanOrEqualToThreshold": "at or below",
}
_MISSING = {
    "missing": "periods without data are not counted",
    "notBreaching": "missing data counts as good",
    "breaching": "missing data counts as bad",
    "ignore": "missing data is ignored",
}


def alarm_title(kind_or_name: str, target_title: str | None = None) -> str:
    """"Amazon Bedrock: error rate" for a per-target alarm's kind and its target's title; another alarm's name
    (without the project prefix) made readable: "sagemaker-5xx-errors" -> "Sagemaker 5xx errors"."""
    if target_title is not None:
        return f"{target_title}: {ALARM_KIND_TITLES.get(kind_or_name, kind_or_name.replace('_', ' '))}"
    text = kind_or_name.replace("-", " ").replace("_", " ")
    return text[:1].upper() + text[1:]


def alarm_state(state: Any) -> str:
    """"in alarm", "ok", "no data"."""
    return ALARM_STATES.get(str(state), str(state).replace("_", " ").lower() or DASH)


def alarm_value(value: Any, unit: str = "") -> str:
    """An alarm's metric value: a share as a percentage, ms or µs as a duration, anything else as a number."""
    if missing(value):
        return DASH
    if unit == "share":
        return percent(value)
    if unit == "ms":
        return duration_ms(value)
    if unit == "µs":
        return duration_ms(float(value) / 1000)
    return number(value, 2)


def period_text(seconds: Any) -> str:
    """A CloudWatch period: "10 s", "1 min", "5 min", "1 h"."""
    s = int(seconds)
    if s % 3600 == 0:
        return f"{s // 3600} h"
    return f"{s // 60} min" if s % 60 == 0 else f"{s} s"


def alarm_condition(comparison: str, threshold: Any, unit: str, datapoints: int, periods: int, period_s: int, treat_missing: str = "") -> str:
    """When an alarm fires, in words: "above 10% in 2 of 3 periods of 1 min (missing data counts as good)"."""
    text = (
        f"{_COMPARISONS.get(comparison, comparison)} {alarm_value(threshold, unit)} in {datapoints} of "
        f"{count(periods, 'period')} of {period_text(period_s)}"
    )
    if datapoints == periods == 1:
        text = f"{_COMPARISONS.get(comparison, comparison)} {alarm_value(threshold, unit)} in a period of {period_text(period_s)}"
    return f"{text} ({_MISSING[treat_missing]})" if treat_missing in _MISSING else text


def ago(moment: Any, now: Any) -> str:
    """How long before `now` (both datetimes): "just now", "45 s ago", "12 min ago", "3.2 h ago", "2.0 days ago"."""
    if missing(moment):
        return DASH
    seconds = (now - moment).total_seconds()
    if seconds < 5:
        return "just now"
    if seconds < 100:
        return f"{seconds:.0f} s ago"
    return f"{duration_long_s(seconds).replace('.0 min', ' min')} ago"
