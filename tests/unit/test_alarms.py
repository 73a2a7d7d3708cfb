"""The alarms on our own metrics (mcv_core/alarms.py) mirror terraform/aws/modules/alarms exactly; the local
evaluator's pieces (samples from moto's statistics, its schedule, an evaluation against a fake CloudWatch); the
status and the `alarms` command's JSON."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mcv_core import alarm_eval, alarms, metrics, stack
from mcv_core.alarm_eval import AlarmSpec
from mcv_core.config import Settings
from mcv_core.errors import ConfigError
from mcv_core.local import alarm_evaluator
from mcv_core.local.alarm_evaluator import AlarmEvaluator, next_tick, samples_from_sets
from tests.terraform.tfconfig import AWS, AWS_MODULES, Evaluator, literal, load

ACCOUNT = "210987654321"
TF_KIND_FIELDS = {
    "metric_name": "metric_name",
    "statistic": "statistic",
    "comparison_operator": "comparison_operator",
    "treat_missing_data": "treat_missing_data",
    "description": "description",
}


@pytest.fixture(scope="module")
def module() -> Evaluator:
    return Evaluator(load(AWS), account_id=ACCOUNT).module("alarms")


def test_every_target_alarm_kind_of_the_terraform_module_is_defined_here_with_the_same_settings(module: Evaluator) -> None:
    kinds = {k: v for k, v in module.config.locals["kinds"].items() if module.value(v["scope"]) == "target"}
    assert set(kinds) == {k.kind for k in alarms.TARGET_KINDS}
    # The root passes null, which takes the module's defaults (nullable = false).
    assert module.var("target_alarms") is None
    defaults = literal(load(AWS_MODULES / "alarms").variables["target_alarms"]["default"])
    for ours in alarms.TARGET_KINDS:
        theirs = kinds[ours.kind]
        for field, attribute in TF_KIND_FIELDS.items():
            assert module.value(theirs[field]) == getattr(ours, attribute), (ours.kind, field)
        assert module.value(theirs["namespace"]) == alarms.NAMESPACE == stack.METRICS_NAMESPACE
        settings = defaults[ours.kind.removeprefix("target_")]
        assert theirs["settings"] == f"${{var.target_alarms.{ours.kind.removeprefix('target_')}}}"
        assert (ours.threshold, ours.period_s, ours.evaluation_periods, ours.datapoints_to_alarm) == (
            settings["threshold"],
            settings["period"],
            settings["evaluation_periods"],
            settings["datapoints_to_alarm"],
        ), ours.kind
    # The documented values too (issue 15 and the module's variables.tf).
    error_rate, latency = alarms.TARGET_KINDS
    assert (error_rate.metric_name, error_rate.statistic, error_rate.threshold, error_rate.period_s) == ("Errors", "Average", 0.1, 300)
    assert (error_rate.evaluation_periods, error_rate.datapoints_to_alarm, error_rate.treat_missing_data) == (3, 2, "notBreaching")
    assert (latency.metric_name, latency.statistic, latency.threshold, latency.period_s) == ("Latency", "p95", 20000, 300)
    assert (latency.evaluation_periods, latency.datapoints_to_alarm, latency.treat_missing_data) == (3, 3, "missing")
    assert error_rate.metric_name == metrics.ERRORS and latency.metric_name == metrics.LATENCY


def test_names_and_dimensions_are_terraforms() -> None:
    root = Evaluator(load(AWS), account_id=ACCOUNT)
    assert root.module("alarms").var("name_prefix") == alarms.PREFIX == stack.PROJECT
    defs = {d.name: d for d in alarms.target_alarms(root.var("alarm_targets"))}
    assert set(defs) == {
        f"mc-vision-target-{kind}-{target}"
        for kind in ("error-rate", "latency-p95")
        for target in ("sagemaker", "bedrock", "azure_openai")
    }
    bedrock = defs["mc-vision-target-error-rate-bedrock"]
    assert bedrock.dimensions == [{"Name": metrics.TARGET, "Value": "bedrock"}, {"Name": metrics.SERVICE, "Value": "bedrock"}]
    assert all(name.startswith(alarms.TARGET_ALARM_PREFIX) for name in defs)


def test_put_metric_alarm_arguments_as_the_terraform_resource_sets_them() -> None:
    error_rate, latency = alarms.target_alarms({"claude": "bedrock"})
    args = error_rate.put_kwargs()
    assert args["Statistic"] == "Average" and "ExtendedStatistic" not in args
    assert (args["Period"], args["EvaluationPeriods"], args["DatapointsToAlarm"], args["Threshold"]) == (300, 3, 2, 0.1)
    assert (args["ComparisonOperator"], args["TreatMissingData"]) == ("GreaterThanThreshold", "notBreaching")
    args = latency.put_kwargs()
    assert args["ExtendedStatistic"] == "p95" and "Statistic" not in args
    assert args["EvaluateLowSampleCountPercentile"] == "evaluate"  # as main.tf sets it for percentiles
    # Round trip through what describe_alarms gives back: the evaluator reads exactly these.
    spec = AlarmSpec.from_describe({**args, "Dimensions": args["Dimensions"]})
    assert spec.stat == "p95" and spec.dimensions == {"Target": "claude", "Service": "bedrock"}
    assert spec.datapoints_to_alarm == 3 and spec.missing_data == "missing"


def test_the_local_period_replaces_only_the_period() -> None:
    local = alarms.local_definitions(Settings.from_mapping({"MCV_LOCAL_ALARM_PERIOD_S": "10"}), {"bedrock": "bedrock"})
    cloud = alarms.target_alarms({"bedrock": "bedrock"})
    assert [d.period_s for d in local] == [10, 10]
    for a, b in zip(local, cloud):
        assert {**a.__dict__, "period_s": 0} == {**b.__dict__, "period_s": 0}
    assert Settings.from_mapping({}).local_alarm_period_s == 60
    assert Settings.from_mapping({"MCV_LOCAL_ALARM_PERIOD_S": "120"}).local_alarm_period_s == 120
    for bad in ("20", "90", "0", "-60"):
        with pytest.raises(ConfigError):
            Settings.from_mapping({"MCV_LOCAL_ALARM_PERIOD_S": bad})


def test_texts_for_people() -> None:
    item = alarms.target_alarms({"bedrock": "bedrock"}, 60)[0].put_kwargs()
    assert alarms.metric_text(item) == "MCVision Errors (Average) Target=bedrock Service=bedrock"
    assert alarms.threshold_text(item) == "> 0.1 for 2 of 3 periods of 60.0 s"


# --- the evaluator's pieces ---------------------------------------------------------------------------------------


def test_samples_from_moto_statistics_are_exact_up_to_three_a_second() -> None:
    at = datetime(2026, 12, 6, 3, 0, 0, tzinfo=timezone.utc)
    sets = {
        at: {"SampleCount": 1, "Sum": 5.0, "Minimum": 5.0, "Maximum": 5.0},
        at + timedelta(seconds=1): {"SampleCount": 3, "Sum": 9.0, "Minimum": 1.0, "Maximum": 6.0},
        at + timedelta(seconds=2): {"SampleCount": 5, "Sum": 20.0, "Minimum": 1.0, "Maximum": 10.0},
    }
    values = sorted((s.value, s.count) for s in samples_from_sets(sets, raw_values=True))
    assert values == [(1.0, 1.0), (1.0, 1.0), (2.0, 1.0), (3.0, 3.0), (5.0, 1.0), (6.0, 1.0), (10.0, 1.0)]
    as_sets = samples_from_sets(sets, raw_values=False)
    assert [s.statistic_set.sample_count for s in as_sets] == [1, 3, 5]


def test_the_schedule_follows_cloudwatchs_steps() -> None:
    assert next_tick(1000.0, 10) == 1002.0  # 1000 is a boundary: two seconds after it
    assert next_tick(1002.5, 10) == 1012.0
    assert next_tick(1019.0, 60) == 1022.0
    assert next_tick(3601.0, 60) == 3602.0


class FakeCloudWatch:
    """describe_alarms, get_metric_data (exact dimension set, per-period statistics) and set_alarm_state."""

    def __init__(self, items: list[dict[str, Any]], datums: list[tuple[datetime, dict[str, str], float]], metric: str = "Errors") -> None:
        self.items = {i["AlarmName"]: i for i in items}
        self.datums = datums  # (time, dimensions, value) of `metric`
        self.metric = metric
        self.failing = ""
        self.calls: list[tuple[str, str]] = []

    def describe_alarm_history(self, **kwargs: Any) -> dict[str, Any]:
        raise ClientError({"Error": {"Code": "InvalidAction", "Message": "not implemented"}}, "DescribeAlarmHistory")  # as moto

    def describe_alarms(self, **kwargs: Any) -> dict[str, Any]:
        return {"MetricAlarms": [dict(i) for i in self.items.values()]}

    def set_alarm_state(self, AlarmName: str, StateValue: str, StateReason: str, **kwargs: Any) -> None:  # noqa: N803
        json.loads(kwargs.get("StateReasonData", "{}"))
        self.items[AlarmName].update(StateValue=StateValue, StateReason=StateReason)
        self.calls.append((AlarmName, StateValue))

    def get_metric_data(self, MetricDataQueries: list[dict[str, Any]], StartTime: datetime, EndTime: datetime, **kwargs: Any) -> dict[str, Any]:  # noqa: N803
        out = []
        for query in MetricDataQueries:
            stat = query["MetricStat"]
            dims = {d["Name"]: d["Value"] for d in stat["Metric"]["Dimensions"]}
            if dims.get("Target") == self.failing:
                raise ClientError({"Error": {"Code": "InternalFailure", "Message": "boom"}}, "GetMetricData")
            period = timedelta(seconds=stat["Period"])
            buckets: dict[datetime, list[float]] = {}
            for at, d, value in self.datums:
                if stat["Metric"]["MetricName"] == self.metric and d == dims and StartTime <= at < EndTime:
                    start = StartTime + ((at - StartTime) // period) * period
                    buckets.setdefault(start, []).append(value)
            calc = {"SampleCount": len, "Sum": sum, "Minimum": min, "Maximum": max}[stat["Stat"]]
            times = sorted(buckets)
            out.append({"Id": query["Id"], "Timestamps": times, "Values": [float(calc(buckets[t])) for t in times]})
        return {"MetricDataResults": out}


def _alarm_items(period: int) -> list[dict[str, Any]]:
    items = []
    for d in alarms.target_alarms({"bedrock": "bedrock", "sagemaker": "sagemaker"}, period):
        args = d.put_kwargs()
        items.append({**args, "StateValue": "OK", "StateReason": alarm_evaluator.MOTO_INITIAL_REASON})
    return items


def test_only_the_failing_targets_error_rate_alarm_goes_to_alarm_and_back(tmp_path) -> None:  # noqa: ANN001
    t0 = datetime(2026, 12, 6, 3, 0, 0, tzinfo=timezone.utc).timestamp()
    bedrock = {"Target": "bedrock", "Service": "bedrock"}
    sagemaker = {"Target": "sagemaker", "Service": "sagemaker"}
    datums = []
    for second in range(0, 30):  # 30 s of failures on bedrock, successes on sagemaker
        at = datetime.fromtimestamp(t0 + second, tz=timezone.utc)
        datums += [(at, bedrock, 1.0), (at, sagemaker, 0.0)]
    fake = FakeCloudWatch(_alarm_items(10), datums)
    evaluator = AlarmEvaluator.__new__(AlarmEvaluator)
    AlarmEvaluator.__init__(evaluator, conn=None, data_dir=tmp_path)  # type: ignore[arg-type]
    evaluator._client = fake
    evaluator.evaluate_all(t0 + 22)  # two full periods of failures
    states = {name: item["StateValue"] for name, item in fake.items.items()}
    assert states["mc-vision-target-error-rate-bedrock"] == "ALARM"
    assert states["mc-vision-target-error-rate-sagemaker"] == "OK"
    assert states["mc-vision-target-latency-p95-bedrock"] == "INSUFFICIENT_DATA"  # no latency published
    reason = fake.items["mc-vision-target-error-rate-bedrock"]["StateReason"]
    assert reason.startswith("Threshold Crossed: 2 out of the last") and "greater than the threshold (0.1)" in reason
    # The fault stops: successes from 30 s on.
    for second in range(30, 60):
        at = datetime.fromtimestamp(t0 + second, tz=timezone.utc)
        datums += [(at, bedrock, 0.0), (at, sagemaker, 0.0)]
    evaluator.evaluate_all(t0 + 52)
    assert fake.items["mc-vision-target-error-rate-bedrock"]["StateValue"] == "OK"
    history = alarm_evaluator.read_history(tmp_path)["mc-vision-target-error-rate-bedrock"]
    assert [(c["from"], c["to"]) for c in history] == [("INSUFFICIENT_DATA", "ALARM"), ("ALARM", "OK")]
    # status() reads the states and, since this CloudWatch has no history call, the evaluator's history.
    found = {a.name: a for a in alarms.status_from(fake, local_history=alarm_evaluator.read_history(tmp_path))}
    entry = found["mc-vision-target-error-rate-bedrock"]
    assert set(entry.to_json()) == {"name", "state", "metric", "threshold", "updated"}
    assert entry.state == "OK" and [c.new_state for c in entry.changes] == ["OK", "ALARM"]


def test_an_alarm_that_cannot_be_read_is_logged_and_the_others_evaluated(tmp_path) -> None:  # noqa: ANN001
    fake = FakeCloudWatch(_alarm_items(10), [])
    fake.failing = "bedrock"  # its metric cannot be read
    metric_math = {"AlarmName": "mc-vision-composite", "Metrics": [], "StateValue": "OK", "StateReason": "", "Period": 60}
    fake.items["mc-vision-composite"] = metric_math  # not evaluated here: skipped, not an error
    evaluator = AlarmEvaluator.__new__(AlarmEvaluator)
    AlarmEvaluator.__init__(evaluator, conn=None, data_dir=tmp_path)  # type: ignore[arg-type]
    evaluator._client = fake
    evaluator.evaluate_all(datetime(2026, 12, 6, 3, 0, 0, tzinfo=timezone.utc).timestamp())
    assert evaluator.errors == 2 and "mc-vision-target-latency-p95-bedrock" in evaluator.last_error
    assert fake.items["mc-vision-target-error-rate-sagemaker"]["StateValue"] == alarm_eval.OK  # notBreaching
