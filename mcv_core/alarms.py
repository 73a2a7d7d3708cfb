"""The alarms on the app's own metrics, and every alarm's state as CloudWatch reports it.

Definitions. One error-rate and one p95-latency alarm per enabled target on the metrics `metrics.py` publishes
(namespace `stack.METRICS_NAMESPACE`, dimensions {Target, Service}), exactly as terraform/aws/modules/alarms makes
them (its `target_error_rate` and `target_latency_p95` kinds with the `target_alarms` defaults): the same names
(`<project>-target-error-rate-<target>`, `<project>-target-latency-p95-<target>`), metric, statistic, period,
evaluation periods, datapoints to alarm, threshold, comparison and missing-data treatment. The one difference is
the local cloud's period (`MCV_LOCAL_ALARM_PERIOD_S`, default 60 s instead of 300 s), so that a local run changes
an alarm's state within minutes; everything else stays as in AWS. tests/unit/test_alarms.py reads the Terraform
module and compares.

The local cloud puts these alarms into its CloudWatch (moto) at every start (`local/provision.py`) and evaluates
them as CloudWatch does (`local/alarm_evaluator.py`, with `alarm_eval.py`).

Status. `status(workbench)` reads `describe_alarms` (every alarm of the stack, names starting `<project>-`) and
each alarm's recent state changes (`describe_alarm_history`) from whichever CloudWatch the clients reach: AWS in
cloud mode, the local cloud's in local mode. moto does not implement DescribeAlarmHistory, so in local mode the
changes come from the evaluator's own history file when CloudWatch has none to give.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

import botocore.exceptions as bce

from . import formatting as fmt
from . import stack

if TYPE_CHECKING:
    from .config import Settings
    from .targets import Target
    from .workbench import Workbench

log = logging.getLogger(__name__)

PREFIX = stack.PROJECT  # Terraform's name_prefix (var.project)
NAMESPACE = stack.METRICS_NAMESPACE
TARGET_ALARM_PREFIX = f"{PREFIX}-target-"  # every per-target alarm's name starts so
CALL_TIMEOUT_S = 10.0
HISTORY_RECORDS = 5  # recent state changes kept per alarm in a status
INITIAL_REASON = "Unchecked: Initial alarm creation"  # CloudWatch's reason of a new alarm (INSUFFICIENT_DATA)


@dataclass(frozen=True)
class TargetAlarmKind:
    """One kind of per-target alarm, as terraform/aws/modules/alarms' `kinds` and `target_alarms` define it."""

    kind: str  # Terraform's key: the name is <prefix>-<kind with dashes>-<target>
    metric_name: str
    statistic: str  # "Average", or a percentile "p95" (an extended statistic)
    comparison_operator: str
    treat_missing_data: str
    threshold: float
    period_s: int
    evaluation_periods: int
    datapoints_to_alarm: int
    description: str


# terraform/aws/modules/alarms: main.tf's kinds target_error_rate and target_latency_p95, variables.tf's
# target_alarms default.
TARGET_KINDS: tuple[TargetAlarmKind, ...] = (
    TargetAlarmKind(
        kind="target_error_rate",
        metric_name="Errors",
        statistic="Average",
        comparison_operator="GreaterThanThreshold",
        treat_missing_data="notBreaching",
        threshold=0.1,
        period_s=300,
        evaluation_periods=3,
        datapoints_to_alarm=2,
        description="The share of this target's results that failed (Errors is 0 or 1 per result, so its average is the error rate) is above the threshold.",
    ),
    TargetAlarmKind(
        kind="target_latency_p95",
        metric_name="Latency",
        statistic="p95",
        comparison_operator="GreaterThanThreshold",
        treat_missing_data="missing",
        threshold=20000,
        period_s=300,
        evaluation_periods=3,
        datapoints_to_alarm=3,
        description="This target's answer time as the app measured it (p95 of ok results, milliseconds) is above the threshold.",
    ),
)


def is_percentile(statistic: str) -> bool:
    return statistic.startswith("p") and statistic[1:].replace(".", "", 1).isdigit()


@dataclass(frozen=True)
class AlarmDefinition:
    """One alarm on our metrics, ready for PutMetricAlarm."""

    name: str
    kind: str
    target: str
    service: str
    metric_name: str
    statistic: str
    period_s: int
    evaluation_periods: int
    datapoints_to_alarm: int
    threshold: float
    comparison_operator: str
    treat_missing_data: str
    description: str
    namespace: str = NAMESPACE

    @property
    def dimensions(self) -> list[dict[str, str]]:
        return [{"Name": "Target", "Value": self.target}, {"Name": "Service", "Value": self.service}]

    def put_kwargs(self, actions: Iterable[str] = ()) -> dict[str, Any]:
        """boto3 cloudwatch put_metric_alarm's arguments (as main.tf's aws_cloudwatch_metric_alarm sets them)."""
        args: dict[str, Any] = {
            "AlarmName": self.name,
            "AlarmDescription": self.description,
            "Namespace": self.namespace,
            "MetricName": self.metric_name,
            "Dimensions": self.dimensions,
            "ComparisonOperator": self.comparison_operator,
            "Threshold": float(self.threshold),
            "Period": self.period_s,
            "EvaluationPeriods": self.evaluation_periods,
            "DatapointsToAlarm": self.datapoints_to_alarm,
            "TreatMissingData": self.treat_missing_data,
            "ActionsEnabled": True,
            "AlarmActions": list(actions),
            "OKActions": list(actions),
        }
        if is_percentile(self.statistic):
            args["ExtendedStatistic"] = self.statistic
            args["EvaluateLowSampleCountPercentile"] = "evaluate"
        else:
            args["Statistic"] = self.statistic
        return args


def target_alarms(targets: Mapping[str, str], period_s: int | None = None) -> list[AlarmDefinition]:
    """The alarms of `targets` (target id -> its service, as Terraform's `alarm_targets`), in Terraform's order
    (by kind, then target); `period_s` replaces every kind's period (the local cloud's shorter one)."""
    out = []
    for kind in TARGET_KINDS:
        for target, service in targets.items():
            out.append(
                AlarmDefinition(
                    name=f"{PREFIX}-{kind.kind.replace('_', '-')}-{target}",
                    kind=kind.kind,
                    target=target,
                    service=service,
                    metric_name=kind.metric_name,
                    statistic=kind.statistic,
                    period_s=period_s or kind.period_s,
                    evaluation_periods=kind.evaluation_periods,
                    datapoints_to_alarm=kind.datapoints_to_alarm,
                    threshold=kind.threshold,
                    comparison_operator=kind.comparison_operator,
                    treat_missing_data=kind.treat_missing_data,
                    description=kind.description,
                )
            )
    return out


def alarm_targets(targets: Iterable["Target"]) -> dict[str, str]:
    """Target id -> service, for `target_alarms`."""
    return {t.id: t.service for t in targets}


def enabled_targets(settings: "Settings", cwd: Path | None = None) -> dict[str, str]:
    """The enabled targets of the catalogue the settings name (target id -> service)."""
    from . import targets as catalogue_module

    catalogue = catalogue_module.load(settings, cwd)
    return {tid: catalogue.get(tid).service for tid in catalogue.enabled(settings)}


def local_definitions(settings: "Settings", targets: Mapping[str, str]) -> list[AlarmDefinition]:
    """The local cloud's alarms: Terraform's, with the local period."""
    return target_alarms(targets, settings.local_alarm_period_s)


# --- status ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StateChange:
    timestamp: str  # ISO 8601, UTC
    old_state: str
    new_state: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"timestamp": self.timestamp, "from": self.old_state, "to": self.new_state, "reason": self.reason}


@dataclass(frozen=True)
class AlarmStatus:
    name: str
    state: str
    metric: str  # "MCVision Errors (Average) Target=bedrock Service=bedrock"
    threshold: str  # "> 0.1 for 2 of 3 periods of 1 min"
    updated: str  # when the state last changed, ISO 8601 UTC
    reason: str = ""
    changes: tuple[StateChange, ...] = field(default_factory=tuple)  # newest first

    def to_json(self) -> dict[str, Any]:
        """The `alarms --json` entry: exactly name, state, metric, threshold, updated."""
        return {"name": self.name, "state": self.state, "metric": self.metric, "threshold": self.threshold, "updated": self.updated}

    def detail_json(self) -> dict[str, Any]:
        return {**self.to_json(), "reason": self.reason, "changes": [c.to_json() for c in self.changes]}


def _iso(moment: Any) -> str:
    if isinstance(moment, datetime):
        moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
        return moment.astimezone(timezone.utc).isoformat(timespec="seconds")
    return str(moment or "")


def _number(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e6 else f"{value:,.0f}"


def metric_text(item: Mapping[str, Any]) -> str:
    """An alarm's metric as people read it: namespace, name, statistic and dimensions."""
    stat = item.get("ExtendedStatistic") or item.get("Statistic") or "?"
    dims = " ".join(f"{d['Name']}={d['Value']}" for d in item.get("Dimensions") or ())
    text = f"{item.get('Namespace', '')} {item.get('MetricName', '(metric math)')} ({stat})"
    return f"{text} {dims}".strip()


def threshold_text(item: Mapping[str, Any]) -> str:
    """`> 0.1 for 2 of 3 periods of 1 min`."""
    symbol = {
        "GreaterThanThreshold": ">",
        "GreaterThanOrEqualToThreshold": ">=",
        "LessThanThreshold": "<",
        "LessThanOrEqualToThreshold": "<=",
    }.get(item.get("ComparisonOperator", ""), item.get("ComparisonOperator", "?"))
    n = int(item.get("EvaluationPeriods") or 1)
    m = int(item.get("DatapointsToAlarm") or n)
    period = fmt.duration_long_s(item.get("Period")) if item.get("Period") else "?"
    return f"{symbol} {_number(float(item.get('Threshold', 0.0)))} for {m} of {n} periods of {period}"


def _describe(cloudwatch: Any, prefix: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    token = None
    while True:
        kwargs: dict[str, Any] = {"AlarmNamePrefix": prefix, "AlarmTypes": ["MetricAlarm"]}
        if token:
            kwargs["NextToken"] = token
        page = cloudwatch.describe_alarms(**kwargs)
        items.extend(page.get("MetricAlarms") or ())
        token = page.get("NextToken")
        if not token:
            return sorted(items, key=lambda a: a["AlarmName"])


def _history(cloudwatch: Any, name: str) -> list[StateChange] | None:
    """The alarm's recent state changes from CloudWatch, newest first; None when CloudWatch cannot tell (moto)."""
    try:
        page = cloudwatch.describe_alarm_history(AlarmName=name, HistoryItemType="StateUpdate", MaxRecords=HISTORY_RECORDS, ScanBy="TimestampDescending")
    except (bce.ClientError, bce.BotoCoreError) as exc:
        log.debug("no alarm history for %s: %s", name, exc)
        return None
    out = []
    for item in page.get("AlarmHistoryItems") or ():
        try:
            data = json.loads(item.get("HistoryData") or "{}")
        except ValueError:
            data = {}
        out.append(
            StateChange(
                timestamp=_iso(item.get("Timestamp")),
                old_state=(data.get("oldState") or {}).get("stateValue", ""),
                new_state=(data.get("newState") or {}).get("stateValue", ""),
                reason=(data.get("newState") or {}).get("stateReason", item.get("HistorySummary", "")),
            )
        )
    return out


def status_from(cloudwatch: Any, *, prefix: str = f"{PREFIX}-", local_history: Mapping[str, list[dict[str, Any]]] | None = None) -> list[AlarmStatus]:
    """Every alarm whose name starts with `prefix`, with its recent state changes."""
    out = []
    history_supported = True
    for item in _describe(cloudwatch, prefix):
        name = item["AlarmName"]
        changes = _history(cloudwatch, name) if history_supported else None
        if changes is None:
            history_supported = False  # one refusal is enough: the others would be refused too
            changes = [
                StateChange(c.get("timestamp", ""), c.get("from", ""), c.get("to", ""), c.get("reason", ""))
                for c in list((local_history or {}).get(name, ()))[::-1][:HISTORY_RECORDS]
            ]
        out.append(
            AlarmStatus(
                name=name,
                state=item.get("StateValue", ""),
                metric=metric_text(item),
                threshold=threshold_text(item),
                updated=_iso(item.get("StateUpdatedTimestamp")),
                reason=item.get("StateReason", ""),
                changes=tuple(changes),
            )
        )
    return out


def status(workbench: "Workbench") -> list[AlarmStatus]:
    """Every alarm of the stack as the CloudWatch the workbench's clients reach reports it (moto locally, AWS
    in cloud mode)."""
    cloudwatch = workbench.clients.aws("cloudwatch", timeout=CALL_TIMEOUT_S)
    local_history = None
    if workbench.settings.is_local:
        from .local.alarm_evaluator import read_history

        local_history = read_history(workbench.settings.data_dir)
    return status_from(cloudwatch, local_history=local_history)

# --- current states alone (the health check), titles, and each alarm's metric for a chart ---------------------------

CHART_MINUTES = 60  # the window of an alarm's metric chart
STATE_ORDER = {"ALARM": 0, "INSUFFICIENT_DATA": 1, "OK": 2}  # alarms in ALARM first


def current(workbench: "Workbench") -> list[AlarmStatus]:
    """Every alarm of the stack with its state and reason, without the state changes (one describe_alarms)."""
    cloudwatch = workbench.clients.aws("cloudwatch", timeout=CALL_TIMEOUT_S)
    return [
        AlarmStatus(
            name=item["AlarmName"],
            state=item.get("StateValue", ""),
            metric=metric_text(item),
            threshold=threshold_text(item),
            updated=_iso(item.get("StateUpdatedTimestamp")),
            reason=item.get("StateReason", ""),
        )
        for item in _describe(cloudwatch, f"{PREFIX}-")
    ]


def target_of(name: str) -> tuple[str, str] | None:
    """(kind, target id) of a per-target alarm's name (`mc-vision-target-error-rate-bedrock`), else None."""
    for kind in TARGET_KINDS:
        head = f"{PREFIX}-{kind.kind.replace('_', '-')}-"
        if name.startswith(head) and len(name) > len(head):
            return kind.kind, name[len(head) :]
    return None


def title(name: str, title_of: Any) -> str:
    """How people read an alarm's name: "Amazon Bedrock: error rate" (`title_of`: target id -> its title)."""
    found = target_of(name)
    if found is None:
        return fmt.alarm_title(name.removeprefix(f"{PREFIX}-"))
    kind, target = found
    return fmt.alarm_title(kind, title_of(target))


def ordered(statuses: Iterable[AlarmStatus], title_of: Any) -> list[AlarmStatus]:
    """Alarms in ALARM first, then those without data, then OK; by title within each."""
    return sorted(statuses, key=lambda a: (STATE_ORDER.get(a.state, 1), title(a.name, title_of)))


def metric_unit(namespace: str, metric_name: str) -> str:
    """What an alarm's values are: "share" (0..1, our error rate), "ms" (our latency), else "" (as CloudWatch
    gives them)."""
    if namespace != NAMESPACE:
        return ""
    return {"Errors": "share", "Latency": "ms"}.get(metric_name, "")


@dataclass(frozen=True)
class MetricSeries:
    """An alarm's metric over the last minutes, at the alarm's own statistic, period and dimensions, with what
    the alarm compares it to. Timestamps (UTC) and values oldest first; periods without data are left out."""

    name: str
    namespace: str
    metric_name: str
    statistic: str
    period_s: int
    threshold: float
    comparison_operator: str
    evaluation_periods: int
    datapoints_to_alarm: int
    treat_missing_data: str
    description: str
    unit: str
    start: datetime
    end: datetime
    timestamps: tuple[datetime, ...] = ()
    values: tuple[float, ...] = ()


def _series_of(item: Mapping[str, Any], start: datetime, end: datetime, points: Iterable[tuple[datetime, float]]) -> MetricSeries:
    utc = ((at if at.tzinfo else at.replace(tzinfo=timezone.utc), float(v)) for at, v in points)
    pairs = sorted((at, v) for at, v in utc if start <= at < end)  # moto also answers for a period starting at the end
    n = int(item.get("EvaluationPeriods") or 1)
    return MetricSeries(
        name=item["AlarmName"],
        namespace=item.get("Namespace", ""),
        metric_name=item.get("MetricName", ""),
        statistic=item.get("ExtendedStatistic") or item.get("Statistic") or "",
        period_s=int(item.get("Period") or 60),
        threshold=float(item.get("Threshold", 0.0)),
        comparison_operator=item.get("ComparisonOperator", ""),
        evaluation_periods=n,
        datapoints_to_alarm=int(item.get("DatapointsToAlarm") or n),
        treat_missing_data=item.get("TreatMissingData") or "missing",
        description=item.get("AlarmDescription", ""),
        unit=metric_unit(item.get("Namespace", ""), item.get("MetricName", "")),
        start=start,
        end=end,
        timestamps=tuple(at for at, _ in pairs),
        values=tuple(v for _, v in pairs),
    )


def _metric(item: Mapping[str, Any]) -> dict[str, Any]:
    return {"Namespace": item.get("Namespace", ""), "MetricName": item["MetricName"], "Dimensions": list(item.get("Dimensions") or ())}


def _window(now: datetime, minutes: int, period_s: int) -> tuple[datetime, datetime]:
    """[start, end) of whole periods ending at the last boundary before `now`, covering `minutes`."""
    epoch = now.timestamp()
    end = epoch - epoch % period_s
    return datetime.fromtimestamp(end - minutes * 60, timezone.utc), datetime.fromtimestamp(end, timezone.utc)


def _raw_percentile_points(cloudwatch: Any, item: Mapping[str, Any], start: datetime, end: datetime) -> list[tuple[datetime, float]]:
    """A percentile per period from per-second statistic sets, as the local cloud's evaluator computes it: moto's
    GetMetricData fails on percentiles."""
    from . import alarm_eval
    from .local.alarm_evaluator import samples_from_sets

    stats = ("SampleCount", "Sum", "Minimum", "Maximum")
    answer = cloudwatch.get_metric_data(
        MetricDataQueries=[{"Id": f"s{i}", "MetricStat": {"Metric": _metric(item), "Period": 1, "Stat": s}, "ReturnData": True} for i, s in enumerate(stats)],
        StartTime=start,
        EndTime=end,
        ScanBy="TimestampAscending",
    )
    sets: dict[datetime, dict[str, float]] = {}
    for result in answer.get("MetricDataResults") or ():
        stat = stats[int(result["Id"][1:])]
        for at, value in zip(result.get("Timestamps") or (), result.get("Values") or ()):
            sets.setdefault(at if at.tzinfo else at.replace(tzinfo=timezone.utc), {})[stat] = value
    spec = alarm_eval.AlarmSpec.from_describe(item)
    periods = int((end - start).total_seconds()) // spec.period_s
    points = alarm_eval.datapoints(spec, samples_from_sets(sets, True), end, periods)
    return [(p.timestamp, p.value) for p in points if p.value is not None]


def metric_series_from(
    cloudwatch: Any, items: Iterable[Mapping[str, Any]], now: datetime, minutes: int = CHART_MINUTES, *, raw_percentiles: bool = False
) -> dict[str, MetricSeries]:
    """Alarm name -> its metric over the last `minutes` (GetMetricData with the alarm's statistic, period and
    dimensions; one request for all of them). `raw_percentiles`: compute percentiles from per-second sets (moto)."""
    out: dict[str, MetricSeries] = {}
    queries: list[dict[str, Any]] = []
    asked: dict[str, tuple[Mapping[str, Any], datetime, datetime]] = {}
    for item in items:
        if not item.get("MetricName"):
            continue  # metric math: not charted
        stat = item.get("ExtendedStatistic") or item.get("Statistic") or "Average"
        start, end = _window(now, minutes, int(item.get("Period") or 60))
        if raw_percentiles and is_percentile(stat):
            out[item["AlarmName"]] = _series_of(item, start, end, _raw_percentile_points(cloudwatch, item, start, end))
            continue
        query_id = f"m{len(asked)}"
        asked[query_id] = (item, start, end)
        queries.append({"Id": query_id, "MetricStat": {"Metric": _metric(item), "Period": int(item.get("Period") or 60), "Stat": stat}, "ReturnData": True})
    for first in range(0, len(queries), 500):  # GetMetricData's limit per request
        chunk = queries[first : first + 500]
        starts = [asked[q["Id"]][1] for q in chunk]
        ends = [asked[q["Id"]][2] for q in chunk]
        found: dict[str, list[tuple[datetime, float]]] = {}
        token = None
        while True:
            kwargs: dict[str, Any] = {"MetricDataQueries": chunk, "StartTime": min(starts), "EndTime": max(ends), "ScanBy": "TimestampAscending"}
            if token:
                kwargs["NextToken"] = token
            answer = cloudwatch.get_metric_data(**kwargs)
            for result in answer.get("MetricDataResults") or ():
                found.setdefault(result["Id"], []).extend(zip(result.get("Timestamps") or (), result.get("Values") or ()))
            token = answer.get("NextToken")
            if not token:
                break
        for q in chunk:
            item, start, end = asked[q["Id"]]
            out[item["AlarmName"]] = _series_of(item, start, end, found.get(q["Id"], ()))
    return out


def metric_series(workbench: "Workbench", minutes: int = CHART_MINUTES, now: datetime | None = None) -> dict[str, MetricSeries]:
    """Every alarm's metric over the last `minutes`, from the CloudWatch the workbench's clients reach."""
    cloudwatch = workbench.clients.aws("cloudwatch", timeout=CALL_TIMEOUT_S)
    items = _describe(cloudwatch, f"{PREFIX}-")
    return metric_series_from(cloudwatch, items, now or datetime.now(timezone.utc), minutes, raw_percentiles=workbench.settings.is_local)
