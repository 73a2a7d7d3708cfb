"""CloudWatch metric alarm evaluation, pure: an alarm's spec, its metric's per-period datapoints, and its next state.

No I/O, no clock and no threads: the caller passes the samples and `now`, and keeps the state between
evaluations. The local cloud evaluates its alarms with this over the metrics the app publishes; the semantics are
AWS's own, from the CloudWatch User Guide:

- "Evaluating an alarm" and "Configuring how CloudWatch alarms treat missing data",
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html (the section
  #alarms-and-missing-data, now also its own page
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarms-and-missing-data.html);
- "CloudWatch statistics definitions",
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Statistics-definitions.html, and "Percentiles" in
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_concepts.html.

Periods. "For any period of one minute or longer, an alarm is evaluated every minute and the evaluation is based
on the window of time defined by the Period and Evaluation Periods. For example, if the Period is 5 minutes and
Evaluation Periods is 1, then at the end of minute 5 the alarm evaluates based on data from minutes 1 to 5. Then
at the end of minute 6, ... from minutes 2 to 6." and "If the alarm period is 10 seconds or 30 seconds, the alarm
is evaluated every 10 seconds." So the window ends at `now` rounded down to the minute (to 10 s for 10 and 30 s
periods), the minute in progress is left out, and each period is [start, start + period); a datapoint is stamped
with its period's start ("stamped with the time corresponding to the beginning of the period").

Statistics. SampleCount, Sum, Average (Sum / SampleCount), Minimum, Maximum over the period's samples, where a
sample is a value (with PutMetricData's optional count) or a statistic set. Percentiles (extended statistics
"p95", "p99.9", ...) use the nearest-rank definition, numpy's `method="inverted_cdf"` (Hyndman and Fan's
definition 1; counts are its weights): the smallest sample with at least p% of the samples at or below it. It is
the only common definition that matches what CloudWatch documents: "p95 ... means that 95 percent of the data
within the period is lower than this value and 5 percent of the data is higher", "p99 is the maximum value of the
remaining 99%": always a value that was observed, never an interpolation between two. (CloudWatch itself keeps
approximate histograms, so a real p95 may differ from the exact one in its last digits.) As documented, a
percentile needs raw values: a statistic set serves only when it is one value repeated (Minimum == Maximum and
Sum == Minimum * SampleCount), and a period holding any other statistic set, or a negative value, has no
percentile (the datapoint is missing).

Evaluation (evaluation periods N, datapoints to alarm M). CloudWatch retrieves more periods than N, the
*evaluation range*; the documentation's examples use N = 3 and a range of 5 and give no general rule, so the
range here is N + `EXTRA_PERIODS` (2). Then, quoting "How alarm state is evaluated when data is missing":

1. no period in the range missing, or at least N real datapoints in it: the most recent N real datapoints are
   evaluated and the missing-data setting "is not needed and is ignored";
2. fewer than N real datapoints: "CloudWatch fills in the missing data points with the result you specified for
   how to treat missing data ... all real data points in the evaluation range are included in the evaluation.
   CloudWatch uses missing data points only as few times as possible": `breaching` and `notBreaching` fill
   N - real slots with breaching or non-breaching datapoints; ALARM when at least M are breaching, else OK;
3. `missing` does not fill: ALARM when at least M real datapoints are breaching; else ALARM as a "premature
   transition" when the oldest breaching datapoint is at least M periods old and every other datapoint is
   breaching or missing ("alarms are designed to always go into ALARM state when the oldest available breaching
   datapoint ... is at least as old as the value of Datapoints to Alarm, and all other more recent data points
   are breaching or missing"); else OK when a real datapoint is not breaching; else (only breaching datapoints,
   too few and too recent) INSUFFICIENT_DATA, as is every range with no real datapoint ("If all data points in
   the alarm evaluation range are missing, the alarm transitions to INSUFFICIENT_DATA");
4. `ignore` ("The current alarm state is maintained") evaluates as `missing` but keeps the current state where
   `missing` would rest on the missing periods: a range with no real datapoint, a premature transition, or
   INSUFFICIENT_DATA.

These rules give every row of both of the page's example tables (3 of 3 and 2 of 3, range 5, with each missing
data setting), in the current version of the page and in its earlier one; tests/unit/test_alarm_eval.py holds
them. The one reading that is ours: the page states the premature rule as "all of the more recent data points are
breaching or missing", yet its own 2-of-3 row `0 - X - -` is OK with `missing`; requiring that *no* real
datapoint in the range is non-breaching is what makes both hold.

Also as documented: alarms on a metric in the AWS/DynamoDB namespace always ignore missing data; with
EvaluateLowSampleCountPercentile "ignore", "the alarm state does not change during periods with too few data
points to be statistically significant": fewer than 10 / (1 - p) samples for p in [0.5, 1), 10 / p for p in
(0, 0.5), p being the percentile as a fraction.

Reasons are worded as CloudWatch words them in the alarm's StateReason, for example
"Threshold Crossed: 2 out of the last 3 datapoints [5.0 (06/12/26 02:55:00), 3.0 (06/12/26 02:53:00)] were greater
than the threshold (1.0) (minimum 2 datapoints for OK -> ALARM transition).",
"Threshold Crossed: 1 datapoint [0.5 (06/12/26 02:55:00)] was not greater than the threshold (1.0).",
"Threshold Crossed: no datapoints were received for 3 periods and 3 missing datapoints were treated as
[Breaching]." and "Insufficient Data: 3 datapoints were unknown.": the newest datapoint first, timestamps as
dd/mm/yy HH:MM:SS UTC, numbers as Java prints a double ("1.0", "1.5E7").
"""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

OK = "OK"
ALARM = "ALARM"
INSUFFICIENT_DATA = "INSUFFICIENT_DATA"
STATES = (OK, ALARM, INSUFFICIENT_DATA)

STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
TREATMENTS = ("missing", "notBreaching", "breaching", "ignore")
# name -> (is the value breaching, the words CloudWatch uses)
OPERATORS: dict[str, tuple[Callable[[float, float], bool], str]] = {
    "GreaterThanThreshold": (operator.gt, "greater than"),
    "GreaterThanOrEqualToThreshold": (operator.ge, "greater than or equal to"),
    "LessThanThreshold": (operator.lt, "less than"),
    "LessThanOrEqualToThreshold": (operator.le, "less than or equal to"),
}
EXTRA_PERIODS = 2  # evaluation range = evaluation periods + this (the documentation's examples: 3 -> 5)
ALWAYS_IGNORE_NAMESPACES = ("AWS/DynamoDB",)
_PERCENTILE = re.compile(r"p(\d{1,3}(?:\.\d{1,10})?)")


def _epoch(moment: datetime | float) -> float:
    """Seconds since the epoch; a naive datetime is UTC."""
    if isinstance(moment, datetime):
        return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()
    return float(moment)


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def percentile_of(extended_statistic: str) -> float:
    """The percentile of "p95" / "p99.9" (95.0, 99.9); ValueError for anything else (tm99, wm90, ... are not
    supported here)."""
    match = _PERCENTILE.fullmatch(extended_statistic)
    if not match or float(match.group(1)) > 100:
        raise ValueError(f"unsupported extended statistic {extended_statistic!r} (only percentiles p0..p100)")
    return float(match.group(1))


@dataclass(frozen=True)
class AlarmSpec:
    """A metric alarm as PutMetricAlarm defines it (one metric; no metric math, no anomaly detection)."""

    name: str
    namespace: str
    metric_name: str
    period_s: int
    evaluation_periods: int
    threshold: float
    comparison_operator: str
    statistic: str | None = None
    extended_statistic: str | None = None
    dimensions: Mapping[str, str] = field(default_factory=dict)
    datapoints_to_alarm: int | None = None  # None: evaluation_periods
    treat_missing_data: str = "missing"
    evaluate_low_sample_count_percentile: str = ""  # "", "evaluate" or "ignore"

    def __post_init__(self) -> None:
        if (self.statistic is None) == (self.extended_statistic is None):
            raise ValueError(f"alarm {self.name!r}: give exactly one of statistic and extended_statistic")
        if self.statistic is not None and self.statistic not in STATISTICS:
            raise ValueError(f"alarm {self.name!r}: unknown statistic {self.statistic!r}")
        if self.extended_statistic is not None:
            percentile_of(self.extended_statistic)
        if not (self.period_s in (10, 30) or (self.period_s >= 60 and self.period_s % 60 == 0)):
            raise ValueError(f"alarm {self.name!r}: period must be 10, 30 or a multiple of 60 s, not {self.period_s}")
        if self.evaluation_periods < 1 or self.evaluation_periods * self.period_s > 86400:
            raise ValueError(f"alarm {self.name!r}: evaluation periods x period must be within one day")
        if self.datapoints_to_alarm is None:
            object.__setattr__(self, "datapoints_to_alarm", self.evaluation_periods)
        if not 1 <= self.datapoints_to_alarm <= self.evaluation_periods:
            raise ValueError(f"alarm {self.name!r}: datapoints to alarm must be 1..{self.evaluation_periods}")
        if self.comparison_operator not in OPERATORS:
            raise ValueError(f"alarm {self.name!r}: unsupported comparison operator {self.comparison_operator!r}")
        if self.treat_missing_data not in TREATMENTS:
            raise ValueError(f"alarm {self.name!r}: unknown treat_missing_data {self.treat_missing_data!r}")
        if self.evaluate_low_sample_count_percentile not in ("", "evaluate", "ignore"):
            raise ValueError(f"alarm {self.name!r}: EvaluateLowSampleCountPercentile must be evaluate or ignore")
        object.__setattr__(self, "threshold", float(self.threshold))
        object.__setattr__(self, "dimensions", dict(self.dimensions))

    @classmethod
    def from_describe(cls, item: Mapping[str, Any]) -> AlarmSpec:
        """From one `MetricAlarms` item of boto3's cloudwatch `describe_alarms` (moto's or AWS's)."""
        if not item.get("MetricName"):
            name = item.get("AlarmName")
            raise ValueError(f"alarm {name!r} is not on a single metric (metric math is not supported)")
        return cls(
            name=item["AlarmName"],
            namespace=item.get("Namespace", ""),
            metric_name=item["MetricName"],
            dimensions={d["Name"]: d["Value"] for d in item.get("Dimensions") or ()},
            statistic=item.get("Statistic") or None,
            extended_statistic=item.get("ExtendedStatistic") or None,
            period_s=int(item["Period"]),
            evaluation_periods=int(item["EvaluationPeriods"]),
            datapoints_to_alarm=int(item["DatapointsToAlarm"]) if item.get("DatapointsToAlarm") else None,
            threshold=float(item["Threshold"]),
            comparison_operator=item["ComparisonOperator"],
            treat_missing_data=item.get("TreatMissingData") or "missing",
            evaluate_low_sample_count_percentile=item.get("EvaluateLowSampleCountPercentile") or "",
        )

    @property
    def stat(self) -> str:
        """The statistic's name as CloudWatch shows it: "Average", "p95"."""
        return self.statistic or self.extended_statistic  # type: ignore[return-value]

    @property
    def missing_data(self) -> str:
        """The treatment in force: AWS/DynamoDB metrics always ignore missing data."""
        return "ignore" if self.namespace in ALWAYS_IGNORE_NAMESPACES else self.treat_missing_data

    @property
    def evaluation_range(self) -> int:
        return self.evaluation_periods + EXTRA_PERIODS

    def breaches(self, value: float) -> bool:
        return OPERATORS[self.comparison_operator][0](value, self.threshold)

    def min_samples(self) -> float:
        """Samples a percentile needs to be statistically significant (0: no minimum)."""
        if self.extended_statistic is None:
            return 0.0
        p = percentile_of(self.extended_statistic) / 100.0
        if 0.5 <= p < 1.0:
            return 10.0 / (1.0 - p)
        return 10.0 / p if 0.0 < p < 0.5 else 0.0


# --- datapoints ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatisticSet:
    """PutMetricData's StatisticValues."""

    sample_count: float
    sum: float
    minimum: float
    maximum: float

    @property
    def one_value(self) -> bool:
        """The set is one value repeated, so percentiles can use it (the documented condition)."""
        return self.minimum == self.maximum and math.isclose(self.sum, self.minimum * self.sample_count)


@dataclass(frozen=True)
class Sample:
    """One published metric value: `value` (PutMetricData's Value, or one of Values with its Counts entry as
    `count`) or a statistic set."""

    timestamp: datetime | float
    value: float | None = None
    count: float = 1.0
    statistic_set: StatisticSet | None = None


@dataclass(frozen=True)
class Datapoint:
    """One period's statistic, stamped with the period's start; `value` None is a missing datapoint."""

    timestamp: datetime
    value: float | None
    sample_count: float | None = None  # None: not known (datapoints given as bare values)


def _as_sample(raw: Any) -> Sample:
    """A Sample from a Sample, (timestamp, value), (timestamp, value, count) or (timestamp, statistic set), the
    set as a StatisticSet or PutMetricData's {"SampleCount", "Sum", "Minimum", "Maximum"}."""
    if isinstance(raw, Sample):
        return raw
    timestamp, payload, *rest = raw
    if isinstance(payload, StatisticSet):
        return Sample(timestamp, statistic_set=payload)
    if isinstance(payload, Mapping):
        stats = StatisticSet(payload["SampleCount"], payload["Sum"], payload["Minimum"], payload["Maximum"])
        return Sample(timestamp, statistic_set=stats)
    return Sample(timestamp, float(payload), float(rest[0]) if rest else 1.0)


def window_end(period_s: int, now: datetime | float) -> float:
    """Where the evaluated periods end: `now` rounded down to the minute, or to 10 s for 10 and 30 s periods."""
    step = 60 if period_s >= 60 else 10
    return math.floor(_epoch(now) / step) * step


def period_starts(spec: AlarmSpec, now: datetime | float, periods: int | None = None) -> list[float]:
    """The starts (epoch seconds) of the `periods` (default: the evaluation range) periods before `now`, oldest
    first."""
    count = spec.evaluation_range if periods is None else periods
    end = window_end(spec.period_s, now)
    return [end - (count - i) * spec.period_s for i in range(count)]


def statistic_value(spec: AlarmSpec, samples: Sequence[Sample]) -> tuple[float | None, float]:
    """The alarm's statistic over one period's samples, and the sample count; (None, 0) without samples."""
    plain = [s for s in samples if s.statistic_set is None and s.count > 0]
    sets = [s.statistic_set for s in samples if s.statistic_set is not None and s.statistic_set.sample_count > 0]
    count = sum(s.count for s in plain) + sum(st.sample_count for st in sets)
    if count <= 0:
        return None, 0.0
    if spec.extended_statistic is not None:
        if not all(st.one_value for st in sets):
            return None, count  # a percentile needs raw values
        values = np.array([s.value for s in plain] + [st.minimum for st in sets], dtype=np.float64)
        weights = np.array([s.count for s in plain] + [st.sample_count for st in sets], dtype=np.float64)
        if (values < 0).any():
            return None, count  # "not available for metrics when any of the metric values are negative"
        q = percentile_of(spec.extended_statistic)
        return float(np.percentile(values, q, weights=weights, method="inverted_cdf")), count
    total = sum(s.value * s.count for s in plain) + sum(st.sum for st in sets)  # type: ignore[operator]
    lows = [s.value for s in plain] + [st.minimum for st in sets]
    highs = [s.value for s in plain] + [st.maximum for st in sets]
    value = {
        "SampleCount": count,
        "Sum": total,
        "Average": total / count,
        "Minimum": min(lows),  # type: ignore[type-var]
        "Maximum": max(highs),  # type: ignore[type-var]
    }[spec.statistic]  # type: ignore[index]
    return float(value), count


def datapoints(
    spec: AlarmSpec, samples: Iterable[Any], now: datetime | float, periods: int | None = None
) -> list[Datapoint]:
    """The alarm's datapoints over the `periods` (default: the evaluation range) periods before `now`, oldest
    first, from raw samples (see `_as_sample`); samples outside the window are left out."""
    starts = period_starts(spec, now, periods)
    buckets: list[list[Sample]] = [[] for _ in starts]
    first, end = starts[0], starts[-1] + spec.period_s
    for sample in map(_as_sample, samples):
        at = _epoch(sample.timestamp)
        if first <= at < end:
            buckets[int((at - first) // spec.period_s)].append(sample)
    out = []
    for start, bucket in zip(starts, buckets):
        value, count = statistic_value(spec, bucket)
        out.append(Datapoint(_utc(start), value, count))
    return out


def _range(spec: AlarmSpec, series: Iterable[Any], now: datetime | float) -> list[Datapoint]:
    """The evaluation range from Datapoints, from bare per-period values (oldest first, the last being the period
    just before `now`; None is missing), or from raw samples."""
    starts = period_starts(spec, now)
    series = list(series)
    if series and all(isinstance(x, Datapoint) for x in series):
        by_start = {int(_epoch(d.timestamp) - starts[0]) // spec.period_s: d for d in series}
        return [by_start.get(i, Datapoint(_utc(s), None, 0.0)) for i, s in enumerate(starts)]
    if all(x is None or (isinstance(x, (int, float)) and not isinstance(x, bool)) for x in series):
        values = ([None] * len(starts) + list(series))[-len(starts) :]
        return [Datapoint(_utc(s), None if v is None else float(v)) for s, v in zip(starts, values)]
    return datapoints(spec, series, now)


# --- evaluation ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evaluation:
    """An alarm's state after one evaluation.

    `evaluated`: the datapoints the state was decided on, oldest first (real ones and, where the missing-data
    setting filled or considered them, missing ones); `breaching`: how many of them breach, filled ones included;
    `filled`: how many missing datapoints the missing-data setting stood in for."""

    state: str
    reason: str
    breaching: int
    evaluated: tuple[Datapoint, ...]
    filled: int = 0


def _number(value: float) -> str:
    """A double as Java's Double.toString prints it, as CloudWatch's reasons do: 1.0, 0.25, 1.5E7, 1.0E-4."""
    value = float(value)
    if math.isnan(value) or math.isinf(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if value == 0 or 1e-3 <= abs(value) < 1e7:
        return repr(value)  # Python's shortest repr is fixed-point with ".0" in this range, like Java's
    sign, digits, exponent = Decimal(repr(value)).as_tuple()
    power = exponent + len(digits) - 1  # type: ignore[operator]
    text = "".join(map(str, digits)).rstrip("0") or "0"
    return f"{'-' if sign else ''}{text[0]}.{text[1:] or '0'}E{power}"


def _plural(n: int, word: str = "datapoint") -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _listed(points: Sequence[Datapoint]) -> str:
    """[newest value (dd/mm/yy HH:MM:SS), ...]"""
    return "[" + ", ".join(f"{_number(d.value)} ({d.timestamp:%d/%m/%y %H:%M:%S})" for d in reversed(points)) + "]"


def _crossed(spec: AlarmSpec, state: str, real: Sequence[Datapoint], out_of: int, filled: int = 0) -> str:
    """CloudWatch's "Threshold Crossed: ..." reason. It lists the real datapoints that agree with the new state
    (breaching ones for ALARM, the others for OK), or the real ones that do not when none does."""
    words = OPERATORS[spec.comparison_operator][1]
    breaching = [d for d in real if spec.breaches(d.value)]  # type: ignore[arg-type]
    others = [d for d in real if not spec.breaches(d.value)]  # type: ignore[arg-type]
    listed, negate = (breaching, False) if state == ALARM else (others, True)
    if not listed:
        listed, negate = (others, True) if state == ALARM else (breaching, False)
    verb = ("was" if len(listed) == 1 else "were") + (" not" if negate else "")
    count = "1 datapoint" if out_of == 1 else f"{len(listed)} out of the last {out_of} datapoints"
    text = f"Threshold Crossed: {count} {_listed(listed)} {verb} {words} the threshold ({_number(spec.threshold)})"
    if filled:
        treated = "Breaching" if spec.missing_data == "breaching" else "NonBreaching"
        text += f" and {_plural(filled, 'missing datapoint')} {'was' if filled == 1 else 'were'} treated as [{treated}]"
    elif spec.evaluation_periods > 1:
        m, n = spec.datapoints_to_alarm or 1, spec.evaluation_periods
        needed, transition = (m, "OK -> ALARM") if state == ALARM else (n - m + 1, "ALARM -> OK")
        text += f" (minimum {_plural(needed)} for {transition} transition)"
    return text + "."


def _unknown(n: int) -> str:
    return f"Insufficient Data: {_plural(n)} {'was' if n == 1 else 'were'} unknown."


def evaluate(
    spec: AlarmSpec,
    series: Iterable[Any],
    now: datetime | float,
    previous_state: str = INSUFFICIENT_DATA,
    previous_reason: str = "",
) -> Evaluation:
    """The alarm's state at `now` (see the module's docstring for the rules).

    `series`: Datapoints (e.g. from `datapoints`), bare per-period statistic values oldest first (the last for the
    period just before `now`, None where missing; shorter than the evaluation range means missing before it), or
    raw samples (Sample, (timestamp, value[, count]) or (timestamp, statistic set)). `previous_state` and
    `previous_reason` are what a retained state keeps (treat missing data `ignore`, few percentile samples)."""
    if previous_state not in STATES:
        raise ValueError(f"unknown alarm state {previous_state!r}")
    n, m, treatment = spec.evaluation_periods, spec.datapoints_to_alarm, spec.missing_data
    assert m is not None
    window = _range(spec, series, now)
    real = [d for d in window if d.value is not None]
    keep = Evaluation(previous_state, previous_reason, 0, ())

    considered = real[-n:]
    if spec.evaluate_low_sample_count_percentile == "ignore" and any(
        d.sample_count is not None and d.sample_count < spec.min_samples() for d in considered
    ):
        return keep
    if len(real) >= n:  # enough real datapoints: the missing-data setting is not consulted
        hits = sum(spec.breaches(d.value) for d in considered)  # type: ignore[arg-type]
        state = ALARM if hits >= m else OK
        return Evaluation(state, _crossed(spec, state, considered, n), hits, tuple(considered))

    gaps = [d for d in window if d.value is None]
    if not real:
        last = tuple(window[-n:])
        if treatment == "ignore":
            return keep
        if treatment == "missing":
            return Evaluation(INSUFFICIENT_DATA, _unknown(n), 0, last)
        state = ALARM if treatment == "breaching" else OK
        hits = n if treatment == "breaching" else 0
        treated = "Breaching" if treatment == "breaching" else "NonBreaching"
        reason = (
            f"Threshold Crossed: no datapoints were received for {_plural(n, 'period')} and "
            f"{_plural(n, 'missing datapoint')} {'was' if n == 1 else 'were'} treated as [{treated}]."
        )
        return Evaluation(state, reason, hits, last, filled=n)

    # Fewer real datapoints than evaluation periods: all of them, plus the most recent missing ones to make n.
    fill = n - len(real)
    evaluated = tuple(sorted(real + gaps[-fill:], key=lambda d: d.timestamp))
    hits = sum(spec.breaches(d.value) for d in real)  # type: ignore[arg-type]
    if treatment in ("breaching", "notBreaching"):
        hits += fill if treatment == "breaching" else 0
        state = ALARM if hits >= m else OK
        return Evaluation(state, _crossed(spec, state, real, len(real), fill), hits, evaluated, filled=fill)

    # missing / ignore: the missing datapoints are not counted either way.
    if hits >= m:
        return Evaluation(ALARM, _crossed(spec, ALARM, real, n), hits, evaluated)
    ages = [len(window) - i for i, d in enumerate(window) if d.value is not None and spec.breaches(d.value)]
    if hits == len(real) and ages and ages[0] >= m:  # premature transition: only breaching and missing datapoints
        if treatment == "ignore":
            return keep
        return Evaluation(ALARM, _crossed(spec, ALARM, real, n), hits, evaluated)
    if hits < len(real):
        return Evaluation(OK, _crossed(spec, OK, real, n), hits, evaluated)
    if treatment == "ignore":
        return keep
    return Evaluation(INSUFFICIENT_DATA, _unknown(fill), hits, evaluated)
