"""The alarms on our own metrics (mcv_core/alarms.py) mirror terraform/aws/modules/alarms exactly; the local
evaluator's pieces (samples from moto's statistics, its schedule, an evaluation against a fake CloudWatch); the
status and the `alarms` command's JSON."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mcv_core import alarm_eval, alarms, metrics, stack
from mcv_core import formatting as fmt
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


# --- every family of the module: alarms, topic, key policy and dashboard --------------------------------------------

BEDROCK_IDS = [stack.DEFAULT_BEDROCK_MODEL_ID, "apac.amazon.nova-lite-v1:0"]
ENDPOINT, FUNCTION = f"{stack.PROJECT}-classifier", f"{stack.PROJECT}-upload-handler"


def test_every_alarm_kind_of_the_terraform_module_is_defined_here_with_the_same_settings(module: Evaluator) -> None:
    kinds = module.config.locals["kinds"]
    assert list(kinds) == [k.kind for k in alarms.KINDS]  # every family, in main.tf's order
    variables = load(AWS_MODULES / "alarms").variables
    for ours in alarms.KINDS:
        theirs = kinds[ours.kind]
        for field in (*TF_KIND_FIELDS, "namespace", "scope"):
            assert module.value(theirs[field]) == getattr(ours, field), (ours.kind, field)
        family, name = theirs["settings"].removeprefix("${var.").removesuffix("}").split(".")
        assert family == f"{ours.scope}_alarms", ours.kind
        assert module.var(family) is None  # the root passes null: the module's defaults (nullable = false)
        settings = literal(variables[family]["default"])[name]
        assert (ours.threshold, ours.period_s, ours.evaluation_periods, ours.datapoints_to_alarm) == (
            settings["threshold"],
            settings["period"],
            settings["evaluation_periods"],
            settings["datapoints_to_alarm"],
        ), ours.kind
    assert {k.namespace for k in alarms.SERVICE_KINDS} == {"AWS/SageMaker", "AWS/Lambda", "AWS/Bedrock"}
    assert alarms.TARGET_KINDS == tuple(k for k in alarms.KINDS if k.scope == "target")


def test_the_topic_and_its_key_are_terraforms(module: Evaluator) -> None:
    from mcv_core.local.provision import alarms_key_policy

    config = load(AWS_MODULES / "alarms")
    topic = config.resource("aws_sns_topic", "alarms")
    assert module.value(topic["name"]) == alarms.TOPIC_NAME == f"{stack.PROJECT}-alarms"
    assert module.value(topic["display_name"]) == alarms.TOPIC_DISPLAY_NAME
    assert topic["kms_master_key_id"] == "${aws_kms_key.alarms.arn}"
    assert module.value(config.resource("aws_kms_key", "alarms")["description"]) == alarms.TOPIC_KEY_DESCRIPTION
    assert module.value(config.resource("aws_cloudwatch_dashboard")["dashboard_name"]) == alarms.DASHBOARD_NAME
    assert alarms.topic_arn("ap-northeast-1", ACCOUNT) == f"arn:aws:sns:ap-northeast-1:{ACCOUNT}:mc-vision-alarms"
    # The key policy: main.tf's statements, with its principals, actions, resource and conditions.
    region = module.var("region")
    ours = {s["Sid"]: s for s in alarms_key_policy(ACCOUNT, region)["Statement"]}
    for statement in config.data["aws_iam_policy_document"]["alarms_key"]["statement"]:
        mine = ours.pop(module.value(statement["sid"]))
        assert mine["Effect"] == "Allow" and mine["Resource"] == "*" and module.value(config.locals["this_key"]) == "*"
        assert mine["Action"] == literal(statement["actions"])
        (principal,) = statement["principals"]
        identifiers = [module.template(unquote_all(i)) for i in literal(principal["identifiers"])]
        assert mine["Principal"] == {literal(principal["type"]): identifiers[0]}
        conditions = {
            (literal(c["test"]), literal(c["variable"])): module.template(unquote_all(literal(c["values"])[0]))
            for c in statement["condition"]
        }
        assert {(test, var): value for test, by in mine["Condition"].items() for var, value in by.items()} == conditions
    assert not ours


def unquote_all(text: str) -> str:
    return text.replace("${local.partition}", "aws")


def test_every_alarm_notifies_the_topic_on_alarm_and_on_ok() -> None:
    topic = alarms.topic_arn("ap-northeast-1", ACCOUNT)
    defs = alarms.local_alarms("ap-northeast-1", ACCOUNT, {"bedrock": "bedrock"}, BEDROCK_IDS, 60)
    assert len(defs) == 3 + 2 + 3 * len(BEDROCK_IDS) + 2
    for d in defs:
        args = d.put_kwargs()
        assert args["AlarmActions"] == args["OKActions"] == [topic] and args["ActionsEnabled"] is True, d.name
    # The local period is the per-target alarms' only; the service alarms keep Terraform's.
    assert {d.period_s for d in defs if d.namespace == alarms.NAMESPACE} == {60}
    assert {d.period_s for d in defs if d.namespace != alarms.NAMESPACE} == {300}
    names = stack.StackNames.for_account(ACCOUNT)
    five_xx = next(d for d in defs if d.kind == "sagemaker_5xx_errors")
    assert five_xx.dimensions == [{"Name": "EndpointName", "Value": names.sagemaker_endpoint}, {"Name": "VariantName", "Value": "AllTraffic"}]
    assert all(alarms.is_managed(d.name) for d in defs)
    assert not alarms.is_managed("mc-vision-something-else") and not alarms.is_managed("mc-vision-target-error-rate-")


def test_every_alarm_of_the_stack_is_titled_in_words_and_read_back_to_its_kind() -> None:
    """The Infrastructure page's and health's titles: what is watched (a target's title from the catalogue, a
    Bedrock model's from the model table, the endpoint, the upload handler) and the kind in words; never a raw
    model id or a kind's internal name."""
    defs = alarms.local_alarms("ap-northeast-1", ACCOUNT, {"bedrock": "bedrock"}, ["anthropic.claude-3-haiku-20240307-v1:0"], 60)
    titles = {d.name: alarms.title(d.name, {"bedrock": "Claude 3 Haiku (Amazon Bedrock)"}.__getitem__) for d in defs}
    for d in defs:
        kind, resource = alarms.kind_of(d.name)
        assert (kind.kind, resource) == (d.kind, d.target or dict(d.dimension_pairs).get("ModelId", "")), d.name
    assert sorted(titles.values()) == [
        "Claude 3 Haiku (Amazon Bedrock): client errors",
        "Claude 3 Haiku (Amazon Bedrock): error rate",
        "Claude 3 Haiku (Amazon Bedrock): p95 latency",
        "Claude 3 Haiku (Amazon Bedrock): p95 latency",
        "Claude 3 Haiku (Amazon Bedrock): throttles",
        "SageMaker Serverless endpoint: 5xx errors",
        "SageMaker Serverless endpoint: overhead latency",
        "SageMaker Serverless endpoint: p95 model latency",
        "Upload handler (AWS Lambda): errors",
        "Upload handler (AWS Lambda): throttles",
    ]
    # A model the table does not know keeps its id; a name of no kind is made readable.
    assert alarms.title("mc-vision-bedrock-invocation-throttles-acme.vision-v9", str) == "acme.vision-v9 (Amazon Bedrock): throttles"
    assert alarms.title("mc-vision-something-else", str) == "Something else"
    assert alarms.kind_of("mc-vision-sagemaker-5xx-errors-x") is None and alarms.target_of("mc-vision-lambda-errors") is None


def test_each_alarm_s_values_are_read_in_their_metric_s_unit() -> None:
    """SageMaker's latencies are in microseconds, Bedrock's and ours in milliseconds, our errors a share."""
    defs = alarms.local_alarms("us-east-1", ACCOUNT, {"bedrock": "bedrock"}, BEDROCK_IDS, 60)
    units = {(d.namespace, d.metric_name): alarms.metric_unit(d.namespace, d.metric_name) for d in defs}
    assert units == {
        ("AWS/SageMaker", "Invocation5XXErrors"): "",
        ("AWS/SageMaker", "ModelLatency"): "µs",
        ("AWS/SageMaker", "OverheadLatency"): "µs",
        ("AWS/Lambda", "Errors"): "",
        ("AWS/Lambda", "Throttles"): "",
        ("AWS/Bedrock", "InvocationThrottles"): "",
        ("AWS/Bedrock", "InvocationLatency"): "ms",
        ("AWS/Bedrock", "InvocationClientErrors"): "",
        (alarms.NAMESPACE, "Errors"): "share",
        (alarms.NAMESPACE, "Latency"): "ms",
    }
    model_latency = next(k for k in alarms.SERVICE_KINDS if k.kind == "sagemaker_model_latency_p95")
    assert fmt.alarm_value(model_latency.threshold, "µs") == "2,000 ms"
    assert fmt.alarm_condition("GreaterThanThreshold", 5_000_000, "µs", 3, 3, 300) == "above 5,000 ms in 3 of 3 periods of 5 min"


def test_bedrock_models_are_the_settings_model_and_every_enabled_bedrock_targets(tmp_path) -> None:  # noqa: ANN001
    (tmp_path / "targets.toml").write_text(
        '[targets.nova]\nservice = "bedrock"\nmodel = "apac.amazon.nova-lite-v1:0"\n\n'
        '[targets.haiku]\nservice = "bedrock"\nmodel = "anthropic.claude-3-haiku-20240307-v1:0"\n',
        encoding="utf-8",
    )
    settings = Settings.from_mapping({"MCV_TARGETS_FILE": str(tmp_path / "targets.toml")})
    # Terraform's distinct(concat([bedrock_model_id], more_bedrock_model_ids)): the settings' model first, once.
    assert alarms.bedrock_model_ids(settings, tmp_path) == [stack.DEFAULT_BEDROCK_MODEL_ID, "apac.amazon.nova-lite-v1:0"]
    only_nova = settings.with_(targets=("nova",)) if hasattr(settings, "with_") else settings
    assert alarms.bedrock_model_ids(only_nova, tmp_path) == [stack.DEFAULT_BEDROCK_MODEL_ID, "apac.amazon.nova-lite-v1:0"]
    assert alarms.bedrock_model_ids(Settings.from_mapping({}), tmp_path / "none")[0] == stack.DEFAULT_BEDROCK_MODEL_ID


@pytest.fixture(scope="module")
def terraform_alarms(tmp_path_factory) -> dict:  # noqa: ANN001
    """local.alarms and local.widgets as `terraform console` computes them from the module's own locals and
    variables (no provider needed), for two Bedrock models and the root's default targets."""
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform is not on PATH (terraform console evaluates the module's locals)")
    folder = tmp_path_factory.mktemp("alarms-module")
    source_dir = AWS_MODULES / "alarms"
    (folder / "variables.tf").write_text((source_dir / "variables.tf").read_text(encoding="utf-8"), encoding="utf-8")
    source = (source_dir / "main.tf").read_text(encoding="utf-8")
    blocks = []
    for match in re.finditer(r"^locals \{$", source, re.M):
        end = source.index("\n}\n", match.start())
        blocks.append(source[match.start() : end + 3])
    (folder / "locals.tf").write_text("\n".join(blocks).replace("data.aws_partition.current.partition", '"aws"'), encoding="utf-8")
    targets = Evaluator(load(AWS), account_id=ACCOUNT).var("alarm_targets")
    inputs = {
        "name_prefix": stack.PROJECT,
        "account_id": ACCOUNT,
        "region": stack.DEFAULT_REGION,
        "sagemaker_endpoint_name": ENDPOINT,
        "lambda_function_name": FUNCTION,
        "bedrock_model_ids": BEDROCK_IDS,
        "alarm_targets": targets,
    }
    (folder / "terraform.tfvars.json").write_text(json.dumps(inputs), encoding="utf-8")
    done = subprocess.run(
        [terraform, "console"],
        input="jsonencode({ alarms = local.alarms, widgets = local.widgets })\n",
        capture_output=True,
        text=True,
        timeout=120,
        cwd=folder,
    )
    assert done.returncode == 0, done.stderr
    printed = done.stdout.strip().splitlines()[-1]
    return {**json.loads(json.loads(printed)), "targets": targets}


def _ours(targets: dict[str, str]) -> list[alarms.AlarmDefinition]:
    return alarms.stack_alarms(endpoint_name=ENDPOINT, function_name=FUNCTION, bedrock_model_ids=BEDROCK_IDS, targets=targets)


def test_every_alarm_terraform_makes_is_defined_here_alike(terraform_alarms: dict) -> None:
    theirs = terraform_alarms["alarms"]
    ours = {d.key: d for d in _ours(terraform_alarms["targets"])}
    assert set(ours) == set(theirs)
    for key, alarm in theirs.items():
        d = ours[key]
        assert (d.name, d.namespace, d.metric_name, d.statistic) == (alarm["name"], alarm["namespace"], alarm["metric_name"], alarm["statistic"]), key
        assert {x["Name"]: x["Value"] for x in d.dimensions} == alarm["dimensions"], key
        assert (d.comparison_operator, d.treat_missing_data, d.description) == (
            alarm["comparison_operator"],
            alarm["treat_missing_data"],
            alarm["description"],
        ), key
        settings = alarm["settings"]
        assert (d.threshold, d.period_s, d.evaluation_periods, d.datapoints_to_alarm) == (
            settings["threshold"],
            settings["period"],
            settings["evaluation_periods"],
            settings["datapoints_to_alarm"],
        ), key


def test_the_dashboard_body_is_terraforms(terraform_alarms: dict) -> None:
    ours = alarms.dashboard_body(_ours(terraform_alarms["targets"]), stack.DEFAULT_REGION)
    theirs = terraform_alarms["widgets"]
    assert len(ours["widgets"]) == len(theirs) == len(terraform_alarms["alarms"])
    assert ours["widgets"] == theirs  # same widgets, same order, positions, metrics, statistics, thresholds
    # And as JSON, as PutDashboard takes it: numbers stay numbers.
    assert json.loads(json.dumps(ours)) == {"widgets": theirs}


# --- the service alarms in the local cloud: evaluated like the others, over no data ------------------------------


def test_service_alarms_without_data_follow_their_missing_data_treatment_and_say_why(tmp_path) -> None:  # noqa: ANN001
    defs = alarms.local_alarms("ap-northeast-1", ACCOUNT, {"bedrock": "bedrock"}, [stack.DEFAULT_BEDROCK_MODEL_ID], 10)
    items = [{**d.put_kwargs(), "StateValue": "OK", "StateReason": alarm_evaluator.MOTO_INITIAL_REASON} for d in defs]
    fake = FakeCloudWatch(items, [])
    evaluator = AlarmEvaluator.__new__(AlarmEvaluator)
    AlarmEvaluator.__init__(evaluator, conn=None, data_dir=tmp_path)  # type: ignore[arg-type]
    evaluator._client = fake
    evaluator.evaluate_all(datetime(2026, 12, 6, 3, 0, 0, tzinfo=timezone.utc).timestamp())
    assert evaluator.errors == 0
    for d in defs:
        expected = "OK" if d.treat_missing_data == "notBreaching" else "INSUFFICIENT_DATA"  # as CloudWatch, no data at all
        assert fake.items[d.name]["StateValue"] == expected, d.name
    local = {a.name: a for a in alarms.status_from(fake, local_history={})}
    cloud = {a.name: a for a in alarms.status_from(fake)}
    for d in defs:
        service = d.namespace.startswith("AWS/")
        assert (alarms.LOCAL_SERVICE_NOTE in local[d.name].reason) is service, d.name
        assert alarms.LOCAL_SERVICE_NOTE not in cloud[d.name].reason
