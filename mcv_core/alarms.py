"""The stack's alarms (on AWS's service metrics and on the app's own), their topic and dashboard, and every
alarm's state as CloudWatch reports it.

Definitions. Every alarm of terraform/aws/modules/alarms is defined here once, kind by kind (`KINDS`, the module's
`kinds` with its variables' defaults): on the SageMaker endpoint (Invocation5XXErrors, ModelLatency p95,
OverheadLatency), the upload Lambda (Errors, Throttles), each Bedrock model of the catalogue (InvocationThrottles,
InvocationLatency p95, InvocationClientErrors), and per enabled target on the metrics `metrics.py` publishes.
Every alarm notifies the topic `<project>-alarms` on ALARM and on OK; `dashboard_body` is the module's dashboard
(one graph per alarm), built from the same definitions. tests/unit/test_alarms.py compares all of it with what
Terraform computes.

Per target: one error-rate and one p95-latency alarm per enabled target on the metrics `metrics.py` publishes
(namespace `stack.METRICS_NAMESPACE`, dimensions {Target, Service}), exactly as terraform/aws/modules/alarms makes
them (its `target_error_rate` and `target_latency_p95` kinds with the `target_alarms` defaults): the same names
(`<project>-target-error-rate-<target>`, `<project>-target-latency-p95-<target>`), metric, statistic, period,
evaluation periods, datapoints to alarm, threshold, comparison and missing-data treatment. The one difference is
the local cloud's period (`MCV_LOCAL_ALARM_PERIOD_S`, default 60 s instead of 300 s), so that a local run changes
an alarm's state within minutes; everything else stays as in AWS. The alarms on AWS's service metrics keep
Terraform's periods locally: nothing in the local cloud publishes AWS/* metrics, so they only ever see missing
data, which their treatment turns into OK (counts: notBreaching) or INSUFFICIENT_DATA (latencies: missing), as
CloudWatch would; their status says so (`LOCAL_SERVICE_NOTE`).

The local cloud puts the topic (encrypted with a KMS key of its own), these alarms and the dashboard into its
moto at every start (`local/provision.py`) and evaluates the alarms as CloudWatch does
(`local/alarm_evaluator.py`, with `alarm_eval.py`).

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
TOPIC_NAME = f"{PREFIX}-alarms"  # main.tf's aws_sns_topic.alarms
TOPIC_DISPLAY_NAME = "MC Vision alarms"
TOPIC_KEY_DESCRIPTION = f"MC Vision: encrypts the {TOPIC_NAME} notification topic."  # aws_kms_key.alarms
DASHBOARD_NAME = f"{PREFIX}-alarms"  # aws_cloudwatch_dashboard.this
SAGEMAKER_VARIANT = "AllTraffic"  # the module's sagemaker_variant_name default
SERVICE_NAMESPACE_PREFIX = "AWS/"  # AWS's own metrics; ours are in NAMESPACE
LAMBDA_TITLE = "Upload handler (AWS Lambda)"  # what the Lambda alarms watch, in words
LOCAL_SERVICE_NOTE = "the local cloud does not emit AWS service metrics (AWS/*): this alarm only ever sees missing data"


@dataclass(frozen=True)
class AlarmKind:
    """One kind of alarm, as terraform/aws/modules/alarms' `kinds` and its variables' defaults define it."""

    kind: str  # Terraform's key: the name is <prefix>-<kind with dashes>[-<id>]
    metric_name: str
    statistic: str  # "Average", or a percentile "p95" (an extended statistic)
    comparison_operator: str
    treat_missing_data: str
    threshold: float
    period_s: int
    evaluation_periods: int
    datapoints_to_alarm: int
    description: str
    scope: str = "target"  # which resources it is made for: sagemaker, lambda, bedrock (per model), target
    namespace: str = NAMESPACE


TargetAlarmKind = AlarmKind  # the per-target kinds' former name

# terraform/aws/modules/alarms: main.tf's sagemaker_*, lambda_* and bedrock_* kinds, variables.tf's
# sagemaker_alarms, lambda_alarms and bedrock_alarms defaults.
SERVICE_KINDS: tuple[AlarmKind, ...] = (
    AlarmKind(
        kind="sagemaker_5xx_errors",
        scope="sagemaker",
        namespace="AWS/SageMaker",
        metric_name="Invocation5XXErrors",
        statistic="Sum",
        comparison_operator="GreaterThanOrEqualToThreshold",
        treat_missing_data="notBreaching",
        threshold=1,
        period_s=300,
        evaluation_periods=3,
        datapoints_to_alarm=2,
        description="The classifier endpoint answered with 5xx errors (the model container failed).",
    ),
    AlarmKind(
        kind="sagemaker_model_latency_p95",
        scope="sagemaker",
        namespace="AWS/SageMaker",
        metric_name="ModelLatency",
        statistic="p95",
        comparison_operator="GreaterThanThreshold",
        treat_missing_data="missing",
        threshold=2000000,
        period_s=300,
        evaluation_periods=3,
        datapoints_to_alarm=3,
        description="The classifier's own time per request (p95, microseconds) is above the threshold.",
    ),
    AlarmKind(
        kind="sagemaker_overhead_latency",
        scope="sagemaker",
        namespace="AWS/SageMaker",
        metric_name="OverheadLatency",
        statistic="Average",
        comparison_operator="GreaterThanThreshold",
        treat_missing_data="missing",
        threshold=5000000,
        period_s=300,
        evaluation_periods=3,
        datapoints_to_alarm=3,
        description="SageMaker's time around the model (average, microseconds; cold starts of the serverless endpoint included) is above the threshold.",
    ),
    AlarmKind(
        kind="lambda_errors",
        scope="lambda",
        namespace="AWS/Lambda",
        metric_name="Errors",
        statistic="Sum",
        comparison_operator="GreaterThanOrEqualToThreshold",
        treat_missing_data="notBreaching",
        threshold=1,
        period_s=300,
        evaluation_periods=1,
        datapoints_to_alarm=1,
        description="The upload handler failed on invocations (its log group has the error lines).",
    ),
    AlarmKind(
        kind="lambda_throttles",
        scope="lambda",
        namespace="AWS/Lambda",
        metric_name="Throttles",
        statistic="Sum",
        comparison_operator="GreaterThanOrEqualToThreshold",
        treat_missing_data="notBreaching",
        threshold=1,
        period_s=300,
        evaluation_periods=1,
        datapoints_to_alarm=1,
        description="Upload events were throttled (the account's or the function's concurrency is exhausted).",
    ),
    AlarmKind(
        kind="bedrock_invocation_throttles",
        scope="bedrock",
        namespace="AWS/Bedrock",
        metric_name="InvocationThrottles",
        statistic="Sum",
        comparison_operator="GreaterThanOrEqualToThreshold",
        treat_missing_data="notBreaching",
        threshold=1,
        period_s=300,
        evaluation_periods=3,
        datapoints_to_alarm=2,
        description="Bedrock throttled calls to this model (requests or tokens per minute over the account's quota).",
    ),
    AlarmKind(
        kind="bedrock_invocation_latency_p95",
        scope="bedrock",
        namespace="AWS/Bedrock",
        metric_name="InvocationLatency",
        statistic="p95",
        comparison_operator="GreaterThanThreshold",
        treat_missing_data="missing",
        threshold=15000,
        period_s=300,
        evaluation_periods=3,
        datapoints_to_alarm=3,
        description="Bedrock's time per call to this model (p95, milliseconds) is above the threshold.",
    ),
    AlarmKind(
        kind="bedrock_invocation_client_errors",
        scope="bedrock",
        namespace="AWS/Bedrock",
        metric_name="InvocationClientErrors",
        statistic="Sum",
        comparison_operator="GreaterThanOrEqualToThreshold",
        treat_missing_data="notBreaching",
        threshold=1,
        period_s=300,
        evaluation_periods=3,
        datapoints_to_alarm=2,
        description="Calls to this model were refused as client errors (access not granted, bad request, validation).",
    ),
)

# terraform/aws/modules/alarms: main.tf's kinds target_error_rate and target_latency_p95, variables.tf's
# target_alarms default.
TARGET_KINDS: tuple[AlarmKind, ...] = (
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

KINDS: tuple[AlarmKind, ...] = SERVICE_KINDS + TARGET_KINDS  # main.tf's kinds, in its order


def is_percentile(statistic: str) -> bool:
    return statistic.startswith("p") and statistic[1:].replace(".", "", 1).isdigit()


@dataclass(frozen=True)
class AlarmDefinition:
    """One alarm, ready for PutMetricAlarm. Per target: `target` and `service` are its dimensions' values; on an
    AWS service's metrics: `target` is empty, `service` its scope (sagemaker, lambda, bedrock) and
    `dimension_pairs` its dimensions."""

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
    dimension_pairs: tuple[tuple[str, str], ...] = ()  # set for the alarms on AWS's metrics
    key: str = ""  # Terraform's key in local.alarms: <kind> or <kind>:<id>
    actions: tuple[str, ...] = ()  # AlarmActions and OKActions: the topic's ARN

    @property
    def dimensions(self) -> list[dict[str, str]]:
        if self.dimension_pairs:
            return [{"Name": name, "Value": value} for name, value in self.dimension_pairs]
        return [{"Name": "Target", "Value": self.target}, {"Name": "Service", "Value": self.service}]

    def put_kwargs(self, actions: Iterable[str] | None = None) -> dict[str, Any]:
        """boto3 cloudwatch put_metric_alarm's arguments (as main.tf's aws_cloudwatch_metric_alarm sets them);
        `actions` replaces the definition's own."""
        actions = self.actions if actions is None else tuple(actions)
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


def alarm_name(kind: str, resource_id: str = "") -> str:
    """`<prefix>-<kind with dashes>[-<id>]`, as main.tf names them."""
    base = f"{PREFIX}-{kind.replace('_', '-')}"
    return f"{base}-{resource_id}" if resource_id else base


def topic_arn(region: str, account_id: str, partition: str = "aws") -> str:
    """The ARN of the topic every alarm notifies."""
    return f"arn:{partition}:sns:{region}:{account_id}:{TOPIC_NAME}"


def kind_of(name: str) -> tuple[AlarmKind, str] | None:
    """The kind of one of the stack's alarms, from its name (`alarm_name` read backwards), and its resource id: the
    target or the Bedrock model, "" for the endpoint's and the function's. None for any other name."""
    for kind in KINDS:
        base = alarm_name(kind.kind)
        if kind.scope in ("sagemaker", "lambda"):
            if name == base:
                return kind, ""
        elif name.startswith(f"{base}-") and len(name) > len(base) + 1:
            return kind, name[len(base) + 1 :]
    return None


def is_managed(name: str) -> bool:
    """True for a name this module's kinds make (`terraform apply` would delete it when no longer wanted)."""
    return kind_of(name) is not None


def _define(kind: AlarmKind, resource_id: str, period_s: int | None, actions: Iterable[str], **fields: Any) -> AlarmDefinition:
    return AlarmDefinition(
        name=alarm_name(kind.kind, resource_id),
        kind=kind.kind,
        metric_name=kind.metric_name,
        statistic=kind.statistic,
        period_s=period_s or kind.period_s,
        evaluation_periods=kind.evaluation_periods,
        datapoints_to_alarm=kind.datapoints_to_alarm,
        threshold=kind.threshold,
        comparison_operator=kind.comparison_operator,
        treat_missing_data=kind.treat_missing_data,
        description=kind.description,
        namespace=kind.namespace,
        key=f"{kind.kind}:{resource_id}" if resource_id else kind.kind,
        actions=tuple(actions),
        **fields,
    )


def target_alarms(targets: Mapping[str, str], period_s: int | None = None, actions: Iterable[str] = ()) -> list[AlarmDefinition]:
    """The alarms of `targets` (target id -> its service, as Terraform's `alarm_targets`), in Terraform's order
    (by kind, then target); `period_s` replaces every kind's period (the local cloud's shorter one); `actions`
    (the topic's ARN) are notified on ALARM and on OK."""
    actions = tuple(actions)
    return [
        _define(kind, target, period_s, actions, target=target, service=service)
        for kind in TARGET_KINDS
        for target, service in targets.items()
    ]


def service_alarms(
    *,
    endpoint_name: str,
    function_name: str,
    bedrock_model_ids: Iterable[str],
    variant_name: str = SAGEMAKER_VARIANT,
    actions: Iterable[str] = (),
) -> list[AlarmDefinition]:
    """The alarms on AWS's metrics of the endpoint, the function and each Bedrock model, in Terraform's order (by
    kind, then model), with the module's default settings."""
    actions = tuple(actions)
    scopes: dict[str, dict[str, tuple[tuple[str, str], ...]]] = {
        "sagemaker": {"": (("EndpointName", endpoint_name), ("VariantName", variant_name))},
        "lambda": {"": (("FunctionName", function_name),)},
        "bedrock": {model: (("ModelId", model),) for model in dict.fromkeys(bedrock_model_ids)},
    }
    return [
        _define(kind, resource_id, None, actions, target="", service=kind.scope, dimension_pairs=pairs)
        for kind in SERVICE_KINDS
        for resource_id, pairs in scopes[kind.scope].items()
    ]


def stack_alarms(
    *,
    endpoint_name: str,
    function_name: str,
    bedrock_model_ids: Iterable[str],
    targets: Mapping[str, str],
    variant_name: str = SAGEMAKER_VARIANT,
    target_period_s: int | None = None,
    actions: Iterable[str] = (),
) -> list[AlarmDefinition]:
    """Every alarm of terraform/aws/modules/alarms for these resources: on AWS's metrics, then per target."""
    return service_alarms(
        endpoint_name=endpoint_name,
        function_name=function_name,
        bedrock_model_ids=bedrock_model_ids,
        variant_name=variant_name,
        actions=actions,
    ) + target_alarms(targets, target_period_s, actions)


def local_alarms(
    region: str, account_id: str, targets: Mapping[str, str], bedrock_model_ids: Iterable[str], target_period_s: int | None
) -> list[AlarmDefinition]:
    """The local cloud's alarms: every one of Terraform's on the local stack's resources (stack.StackNames), each
    notifying the local topic; the per-target ones with the local period."""
    names = stack.StackNames.for_account(account_id)
    return stack_alarms(
        endpoint_name=names.sagemaker_endpoint,
        function_name=names.lambda_function,
        bedrock_model_ids=bedrock_model_ids,
        targets=targets,
        target_period_s=target_period_s,
        actions=[topic_arn(region, account_id)],
    )


def dashboard_body(definitions: Iterable[AlarmDefinition], region: str) -> dict[str, Any]:
    """main.tf's dashboard: one metric graph per alarm, three to a row, in the order of Terraform's alarm keys;
    each its alarm's namespace, metric and dimensions (by name, as Terraform iterates a map), statistic and
    period, and the threshold as a horizontal line. json.dumps it for PutDashboard."""
    widgets = []
    for index, d in enumerate(sorted(definitions, key=lambda d: d.key)):
        dimensions = sorted((x["Name"], x["Value"]) for x in d.dimensions)
        widgets.append(
            {
                "type": "metric",
                "x": (index % 3) * 8,
                "y": (index // 3) * 6,
                "width": 8,
                "height": 6,
                "properties": {
                    "title": d.name,
                    "region": region,
                    "view": "timeSeries",
                    "stat": d.statistic,
                    "period": d.period_s,
                    "metrics": [[d.namespace, d.metric_name, *(part for pair in dimensions for part in pair)]],
                    "annotations": {"horizontal": [{"label": "alarm threshold", "value": d.threshold}]},
                },
            }
        )
    return {"widgets": widgets}


def alarm_targets(targets: Iterable["Target"]) -> dict[str, str]:
    """Target id -> service, for `target_alarms`."""
    return {t.id: t.service for t in targets}


def enabled_targets(settings: "Settings", cwd: Path | None = None) -> dict[str, str]:
    """The enabled targets of the catalogue the settings name (target id -> service)."""
    from . import targets as catalogue_module

    catalogue = catalogue_module.load(settings, cwd)
    return {tid: catalogue.get(tid).service for tid in catalogue.enabled(settings)}


def bedrock_model_ids(settings: "Settings", cwd: Path | None = None) -> list[str]:
    """Terraform's bedrock_model_ids for this catalogue: the settings' model (the root's bedrock_model_id) and
    the model of every enabled Bedrock target (more_bedrock_model_ids), each once."""
    from . import targets as catalogue_module

    return catalogue_module.load(settings, cwd).bedrock_model_ids(settings)


def local_definitions(settings: "Settings", targets: Mapping[str, str]) -> list[AlarmDefinition]:
    """The local cloud's per-target alarms: Terraform's, with the local period."""
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


def service_metrics_note(item: Mapping[str, Any], local: bool) -> str:
    """LOCAL_SERVICE_NOTE for an alarm on AWS's metrics in the local cloud, else ""."""
    return LOCAL_SERVICE_NOTE if local and str(item.get("Namespace", "")).startswith(SERVICE_NAMESPACE_PREFIX) else ""


def status_from(
    cloudwatch: Any,
    *,
    prefix: str = f"{PREFIX}-",
    local_history: Mapping[str, list[dict[str, Any]]] | None = None,
    local: bool | None = None,
) -> list[AlarmStatus]:
    """Every alarm whose name starts with `prefix`, with its recent state changes. In the local cloud (`local`;
    by default when `local_history` is given, as `status` gives it only there) the reason of an alarm on AWS's
    metrics ends with LOCAL_SERVICE_NOTE."""
    local = local_history is not None if local is None else local
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
                reason="; ".join(t for t in (item.get("StateReason", ""), service_metrics_note(item, local)) if t),
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
    found = kind_of(name)
    if found is None or found[0].scope != "target":
        return None
    return found[0].kind, found[1]


def subject_title(kind: AlarmKind, resource_id: str, title_of: Any) -> str:
    """What an alarm watches, in words: a target's title (`title_of`: target id -> its title), a Bedrock model's
    ("Claude 3 Haiku (Amazon Bedrock)", from the model table), the endpoint's, or the upload handler's."""
    from . import models
    from .services import registry

    if kind.scope == "target":
        return title_of(resource_id)
    if kind.scope == "lambda":
        return LAMBDA_TITLE
    service_title = registry.get(kind.scope).service_title  # the other scopes are services
    if resource_id:  # one of the service's models (Bedrock's alarms are per model)
        known = models.resolve(kind.scope, resource_id)
        return f"{known.title if known else resource_id} ({service_title})"
    return f"{service_title} endpoint"


def title(name: str, title_of: Any) -> str:
    """How people read an alarm's name: "Amazon Bedrock: error rate", "Claude 3 Haiku (Amazon Bedrock): p95
    latency", "SageMaker Serverless endpoint: 5xx errors" (`title_of`: target id -> its title)."""
    found = kind_of(name)
    if found is None:
        return fmt.alarm_title(name.removeprefix(f"{PREFIX}-"))
    kind, resource_id = found
    return fmt.alarm_title(kind.kind, subject_title(kind, resource_id, title_of))


def ordered(statuses: Iterable[AlarmStatus], title_of: Any) -> list[AlarmStatus]:
    """Alarms in ALARM first, then those without data, then OK; by title within each."""
    return sorted(statuses, key=lambda a: (STATE_ORDER.get(a.state, 1), title(a.name, title_of)))


# What AWS's own latency metrics are in (the SageMaker and Bedrock metric references).
SERVICE_METRIC_UNITS = {
    ("AWS/SageMaker", "ModelLatency"): "µs",
    ("AWS/SageMaker", "OverheadLatency"): "µs",
    ("AWS/Bedrock", "InvocationLatency"): "ms",
}


def metric_unit(namespace: str, metric_name: str) -> str:
    """What an alarm's values are: "share" (0..1, our error rate), "ms" (our latency, Bedrock's), "µs" (SageMaker's
    latencies), else "" (a count, as CloudWatch gives it)."""
    if namespace != NAMESPACE:
        return SERVICE_METRIC_UNITS.get((namespace, metric_name), "")
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
