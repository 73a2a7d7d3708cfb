"""Issue 15, item 2: the alarms, their topic and the dashboard (terraform/aws/modules/alarms), and the Azure alerts.

Read from the HCL: which metrics the alarms watch, how they are evaluated, where they notify, that the topic is
encrypted with a key CloudWatch may use, that every setting comes from a typed, described variable with a
default, and that the names stay under the project prefix the CI deployment role is granted.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from mcv_core import metrics, stack

from .tfconfig import AWS, AWS_MODULES, AZURE, Evaluator, block, dynamic_block, literal, load, unquote

ALARMS = AWS_MODULES / "alarms"
ACCOUNT = "210987654321"

# The issue's list: (namespace, metric) -> the statistic each alarm takes.
EXPECTED = {
    ("AWS/SageMaker", "Invocation5XXErrors"): "Sum",
    ("AWS/SageMaker", "ModelLatency"): "p95",
    ("AWS/SageMaker", "OverheadLatency"): "Average",
    ("AWS/Lambda", "Errors"): "Sum",
    ("AWS/Lambda", "Throttles"): "Sum",
    ("AWS/Bedrock", "InvocationThrottles"): "Sum",
    ("AWS/Bedrock", "InvocationLatency"): "p95",
    ("AWS/Bedrock", "InvocationClientErrors"): "Sum",
    (stack.METRICS_NAMESPACE, metrics.ERRORS): "Average",  # the error rate: Errors is 0 or 1 per result
    (stack.METRICS_NAMESPACE, metrics.LATENCY): "p95",
}
SCOPE_DIMENSIONS = {
    "sagemaker": {"EndpointName", "VariantName"},
    "lambda": {"FunctionName"},
    "bedrock": {"ModelId"},
    "target": {metrics.TARGET, metrics.SERVICE},
}
SETTINGS = ("threshold", "period", "evaluation_periods", "datapoints_to_alarm")


@pytest.fixture(scope="module")
def module() -> Evaluator:
    """The alarms module as the root calls it, with the root's defaults."""
    return Evaluator(load(AWS), account_id=ACCOUNT).module("alarms")


def _kinds(module: Evaluator) -> dict[str, dict]:
    return {kind: {key: value for key, value in spec.items()} for kind, spec in module.config.locals["kinds"].items()}


def _value(module: Evaluator, raw) -> object:
    return module.value(raw)


# --- What is watched ---------------------------------------------------------------------------------------


def test_the_alarms_cover_the_issues_list(module: Evaluator) -> None:
    kinds = _kinds(module)
    found = {
        (_value(module, spec["namespace"]), _value(module, spec["metric_name"])): _value(module, spec["statistic"])
        for spec in kinds.values()
    }
    assert found == EXPECTED
    assert module.var("metrics_namespace") == stack.METRICS_NAMESPACE
    assert load(AWS).modules["alarms"]["metrics_namespace"] == f'"{stack.METRICS_NAMESPACE}"'
    # Each kind's dimensions are its scope's: the ones AWS (or mcv_core/metrics.py) publishes the metric with.
    scopes = module.config.locals["scopes"]
    for kind, spec in kinds.items():
        scope = _value(module, spec["scope"])
        assert kind.startswith(f"{scope}_"), kind
        text = str(scopes[scope])
        for dimension in SCOPE_DIMENSIONS[scope]:
            assert f"{dimension} =" in text, (scope, dimension)


def test_one_set_of_bedrock_alarms_per_model_and_of_target_alarms_per_target(module: Evaluator) -> None:
    scopes = module.config.locals["scopes"]
    assert "for id in var.bedrock_model_ids" in str(scopes["bedrock"])
    assert "for target, service in var.alarm_targets" in str(scopes["target"])
    call = load(AWS).modules["alarms"]
    assert call["bedrock_model_ids"] == "${local.bedrock_model_ids}"  # bedrock_model_id and more_bedrock_model_ids
    assert call["alarm_targets"] == "${var.alarm_targets}"
    assert call["sagemaker_endpoint_name"] == "${module.classifier.endpoint_name}"
    assert call["lambda_function_name"] == "${module.upload_handler.function_name}"
    # The default targets are the built-in catalogue's three, each on its own service.
    root = Evaluator(load(AWS), account_id=ACCOUNT)
    assert root.var("alarm_targets") == {"sagemaker": "sagemaker", "bedrock": "bedrock", "azure_openai": "azure_openai"}
    assert load(AWS).variables["alarm_targets"]["type"] == "${map(string)}"


def test_missing_data_is_deliberate(module: Evaluator) -> None:
    for kind, spec in _kinds(module).items():
        metric = _value(module, spec["metric_name"])
        treatment = _value(module, spec["treat_missing_data"])
        comparison = _value(module, spec["comparison_operator"])
        if "Latency" in metric:
            assert treatment == "missing", kind
            assert comparison == "GreaterThanThreshold", kind
        else:
            assert treatment == "notBreaching", kind
            assert comparison in {"GreaterThanThreshold", "GreaterThanOrEqualToThreshold"}, kind
    # The reason is written beside them.
    text = (ALARMS / "main.tf").read_text(encoding="utf-8")
    assert "notBreaching: AWS publishes these only when there are requests" in text
    assert "missing: no request means no measurement" in text


def test_the_alarm_resource_takes_everything_from_its_kind() -> None:
    alarm = load(ALARMS).resource("aws_cloudwatch_metric_alarm")
    assert alarm["for_each"] == "${local.alarms}"
    for argument in ("namespace", "metric_name", "dimensions", "comparison_operator", "treat_missing_data"):
        assert alarm[argument] == f"${{each.value.{argument}}}", argument
    for argument in SETTINGS:
        assert alarm[argument] == f"${{each.value.settings.{argument}}}", argument
    assert alarm["alarm_name"] == "${each.value.name}"
    # Percentiles go to extended_statistic, the others to statistic; never both.
    assert "local.percentile" in alarm["statistic"] and "null" in alarm["statistic"]
    assert "local.percentile" in alarm["extended_statistic"] and "null" in alarm["extended_statistic"]
    assert re.fullmatch(unquote(load(ALARMS).locals["percentile"]).replace("\\\\", "\\"), "p95")


# --- Settings come from typed, described variables with defaults -------------------------------------------

FAMILIES = {
    "sagemaker_alarms": {"invocation_5xx_errors", "model_latency_p95", "overhead_latency"},
    "lambda_alarms": {"errors", "throttles"},
    "bedrock_alarms": {"invocation_throttles", "invocation_latency_p95", "invocation_client_errors"},
    "target_alarms": {"error_rate", "latency_p95"},
}


def test_thresholds_come_from_typed_described_variables_with_defaults(module: Evaluator) -> None:
    variables = load(ALARMS).variables
    used = set()
    for family, members in FAMILIES.items():
        variable = variables[family]
        assert len(unquote(variable["description"])) > 60, family
        kind = variable["type"]
        for member in members:
            assert re.search(rf"\b{member}\s*=\s*object\(\{{\s*threshold\s*=\s*number", kind), (family, member)
        default = literal(variable["default"])
        assert set(default) == members, family
        for member, settings in default.items():
            assert set(settings) == set(SETTINGS), (family, member)
            assert all(isinstance(v, (int, float)) for v in settings.values()), (family, member)
            assert settings["period"] % 60 == 0
            assert 1 <= settings["datapoints_to_alarm"] <= settings["evaluation_periods"]
        assert variable["nullable"] is False, family  # the root's null takes these defaults
        assert block(variable, "validation")
        used |= {f"var.{family}.{member}" for member in members}
    settings = {spec["settings"].strip("${}") for spec in _kinds(module).values()}
    assert settings == used  # every kind has its own settings, and every setting is used by a kind
    # The root exposes each family with the same type, null by default.
    root = load(AWS).variables
    for family in FAMILIES:
        assert root[family]["type"] == variables[family]["type"], family
        assert root[family]["default"] is None, family
        assert load(AWS).modules["alarms"][family] == f"${{var.{family}}}"


def _defaults(family: str) -> dict:
    # The root passes null, which takes the module's defaults (nullable = false).
    return literal(load(ALARMS).variables[family]["default"])


def test_default_thresholds_are_in_each_metrics_unit() -> None:
    sagemaker = _defaults("sagemaker_alarms")
    # SageMaker reports its latencies in microseconds; Bedrock and the app in milliseconds.
    assert sagemaker["model_latency_p95"]["threshold"] >= 100_000
    assert sagemaker["overhead_latency"]["threshold"] >= 100_000
    assert 1_000 <= _defaults("bedrock_alarms")["invocation_latency_p95"]["threshold"] <= 120_000
    target = _defaults("target_alarms")
    assert 0 < target["error_rate"]["threshold"] < 1  # a share of results
    assert 1_000 <= target["latency_p95"]["threshold"] <= 120_000


# --- Notifications -----------------------------------------------------------------------------------------


def test_every_alarm_notifies_the_topic_on_alarm_and_on_ok() -> None:
    config = load(ALARMS)
    alarms = config.resources["aws_cloudwatch_metric_alarm"]
    assert set(alarms) == {"this"}  # the one for_each resource holds every alarm
    assert config.resources.keys() >= {"aws_sns_topic", "aws_sns_topic_subscription", "aws_kms_key"}
    for body in alarms.values():
        assert body["alarm_actions"] == ["${aws_sns_topic.alarms.arn}"]
        assert body["ok_actions"] == ["${aws_sns_topic.alarms.arn}"]
    assert config.outputs["topic_arn"]["value"] == "${aws_sns_topic.alarms.arn}"
    assert load(AWS).outputs["alarm_topic_arn"]["value"] == "${module.alarms.topic_arn}"


def test_the_topic_is_encrypted_with_a_key_cloudwatch_may_use(module: Evaluator) -> None:
    config = load(ALARMS)
    topic = config.resource("aws_sns_topic", "alarms")
    assert topic["kms_master_key_id"] == "${aws_kms_key.alarms.arn}"  # not alias/aws/sns: CloudWatch cannot use it
    key = config.resource("aws_kms_key", "alarms")
    assert key["enable_key_rotation"] is True
    assert key["policy"] == "${data.aws_iam_policy_document.alarms_key.json}"
    statements = {literal(s["sid"]): s for s in config.data["aws_iam_policy_document"]["alarms_key"]["statement"]}
    publish = statements["CloudWatchAlarmsPublish"]
    assert set(literal(publish["actions"])) == {"kms:Decrypt", "kms:GenerateDataKey"}
    (principal,) = publish["principals"]
    assert literal(principal["identifiers"]) == ["cloudwatch.amazonaws.com"]
    conditions = {literal(c["variable"]): (literal(c["test"]), c["values"]) for c in publish["condition"]}
    test, (account,) = conditions["aws:SourceAccount"]
    assert test == "StringEquals" and module.value(account) == ACCOUNT
    test, (arn,) = conditions["aws:SourceArn"]
    in_aws = module.value(arn.replace("${local.partition}", "aws"))
    assert test == "ArnLike"
    assert in_aws == f"arn:aws:cloudwatch:{stack.DEFAULT_REGION}:{ACCOUNT}:alarm:{stack.PROJECT}-*"
    # "*" in a key policy is the key itself (KMS refuses the key's own ARN there), and only there.
    assert config.locals["this_key"] == '"*"'
    for statement in statements.values():
        assert statement["resources"] == ["${local.this_key}"]
        assert all("*" not in action for action in literal(statement["actions"]))
    admin = statements["AccountAdministersTheKey"]
    assert not {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"} & set(literal(admin["actions"]))


def test_email_subscription_is_optional_and_validated(module: Evaluator) -> None:
    config = load(ALARMS)
    subscription = config.resource("aws_sns_topic_subscription", "email")
    assert subscription["count"] == '${var.alarm_email == "" ? 0 : 1}'
    assert literal(subscription["protocol"]) == "email"
    assert subscription["endpoint"] == "${var.alarm_email}"
    for path in (AWS, ALARMS):
        variable = load(path).variables["alarm_email"]
        assert variable["type"] == "string" and literal(variable["default"]) == ""
        condition = block(variable, "validation")["condition"]
        assert 'var.alarm_email == ""' in condition and "regex(" in condition
    assert load(AWS).modules["alarms"]["alarm_email"] == "${var.alarm_email}"


# --- Names -------------------------------------------------------------------------------------------------


def test_names_start_with_the_project_prefix(module: Evaluator) -> None:
    config = load(ALARMS)
    assert load(AWS).modules["alarms"]["name_prefix"] == "${var.project}"
    assert module.var("name_prefix") == stack.PROJECT
    alarms = str(config.locals["alarms"])
    assert alarms.count('"${var.name_prefix}-${replace(kind, "_", "-")}') == 2  # both name forms
    assert module.value(config.resource("aws_sns_topic", "alarms")["name"]) == f"{stack.PROJECT}-alarms"
    assert module.value(config.resource("aws_cloudwatch_dashboard")["dashboard_name"]) == f"{stack.PROJECT}-alarms"


def test_the_deployment_role_covers_the_alarms_topic_and_dashboard() -> None:
    cicd = load(AWS_MODULES / "cicd")
    assert cicd.locals["alarms"].endswith(':alarm:${var.name_prefix}-*"')
    assert cicd.locals["dashboard"].endswith(':dashboard/${var.name_prefix}-*"')
    assert cicd.locals["topics"].endswith(':${var.name_prefix}-*"')
    deploy = {literal(s["sid"]): s for s in cicd.data["aws_iam_policy_document"]["deploy"]["statement"]}
    alarm_actions = set(literal(deploy["ManageAlarmsAndDashboards"]["actions"]))
    assert {"cloudwatch:PutMetricAlarm", "cloudwatch:PutDashboard"} <= alarm_actions
    assert {"sns:CreateTopic", "sns:Subscribe"} <= set(literal(deploy["ManageTopics"]["actions"]))
    assert literal(deploy["ManageAlarmsAndDashboards"]["resources"]) == ["${local.alarms}", "${local.dashboard}"]
    assert literal(deploy["ManageTopics"]["resources"]) == ["${local.topics}"]
    # The topic's key: both roles may read it (a refresh reads its policy, rotation and tags); creating it needs
    # kms:CreateKey, which has no resource but "*", so neither role has it.
    assert "module.alarms.topic_kms_key_arn" in load(AWS).modules["cicd"]["kms_key_arns"]
    texts = [str(entry) for entry in cicd.data["aws_iam_policy_document"]["read"]["dynamic"]]
    assert any("DescribeKeys" in text and "kms:GetKeyPolicy" in text for text in texts)
    assert "kms:CreateKey" not in (AWS_MODULES / "cicd" / "main.tf").read_text(encoding="utf-8")


def test_alarm_names_are_an_output() -> None:
    assert load(ALARMS).outputs["alarm_names"]["value"] == (
        "${{for key, alarm in aws_cloudwatch_metric_alarm.this : key => alarm.alarm_name}}"
    )
    outputs = load(AWS).outputs
    assert outputs["alarm_names"]["value"] == "${module.alarms.alarm_names}"
    assert outputs["alarm_dashboard_name"]["value"] == "${module.alarms.dashboard_name}"


# --- Dashboard ---------------------------------------------------------------------------------------------


def test_the_dashboard_graphs_every_alarms_metric() -> None:
    config = load(ALARMS)
    dashboard = config.resource("aws_cloudwatch_dashboard")
    assert dashboard["dashboard_body"] == "${jsonencode({widgets = local.widgets})}"
    widgets = str(config.locals["widgets"])
    # One metric graph per alarm, over every alarm key, with the alarm's namespace, metric, dimensions,
    # statistic, period and threshold.
    assert "for index, key in local.dashboard_keys" in widgets
    assert config.locals["dashboard_keys"] == "${sort(keys(local.alarms))}"
    for part in ("namespace", "metric_name", "dimensions", "statistic", "settings.period", "settings.threshold"):
        assert f"local.alarms[key].{part}" in widgets, part
    assert '"metric"' in widgets


# --- Evaluated by Terraform itself ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory) -> dict:
    """local.alarms and the dashboard body as `terraform console` computes them from the module's own locals and
    variables (no provider needed), for two Bedrock models and the default targets."""
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform is not on PATH (terraform console evaluates the module's locals)")
    folder = tmp_path_factory.mktemp("alarms")
    (folder / "variables.tf").write_text((ALARMS / "variables.tf").read_text(encoding="utf-8"), encoding="utf-8")
    source = (ALARMS / "main.tf").read_text(encoding="utf-8")
    blocks = []
    for match in re.finditer(r"^locals \{$", source, re.M):
        end = source.index("\n}\n", match.start())
        blocks.append(source[match.start() : end + 3])
    locals_only = "\n".join(blocks).replace("data.aws_partition.current.partition", '"aws"')
    (folder / "locals.tf").write_text(locals_only, encoding="utf-8")
    root = Evaluator(load(AWS), account_id=ACCOUNT)
    (folder / "terraform.tfvars.json").write_text(json.dumps({
        "name_prefix": stack.PROJECT,
        "account_id": ACCOUNT,
        "region": stack.DEFAULT_REGION,
        "sagemaker_endpoint_name": f"{stack.PROJECT}-classifier",
        "lambda_function_name": f"{stack.PROJECT}-upload-handler",
        "bedrock_model_ids": BEDROCK_IDS,
        "alarm_targets": root.var("alarm_targets"),
    }), encoding="utf-8")
    done = subprocess.run(
        [terraform, "console"],
        input="jsonencode({ alarms = local.alarms, body = jsonencode({ widgets = local.widgets }) })\n",
        capture_output=True, text=True, timeout=120, cwd=folder,
    )
    assert done.returncode == 0, done.stderr
    printed = done.stdout.strip().splitlines()[-1]
    return json.loads(json.loads(printed.replace("$${", "${").replace("%%{", "%{")))


BEDROCK_IDS = [stack.DEFAULT_BEDROCK_MODEL_ID, "apac.amazon.nova-lite-v1:0"]


def test_terraform_makes_each_alarm_once_per_resource(evaluated: dict) -> None:
    alarms = evaluated["alarms"]
    per_kind = {"sagemaker": 1, "lambda": 1, "bedrock": len(BEDROCK_IDS), "target": 3}
    counts: dict[str, int] = {}
    for key, alarm in alarms.items():
        counts[alarm["scope"]] = counts.get(alarm["scope"], 0) + 1
        assert alarm["name"].startswith(f"{stack.PROJECT}-"), alarm["name"]
        assert set(alarm["dimensions"]) == SCOPE_DIMENSIONS[alarm["scope"]], key
    kinds_per_scope = {"sagemaker": 3, "lambda": 2, "bedrock": 3, "target": 2}
    assert counts == {scope: per_kind[scope] * kinds_per_scope[scope] for scope in per_kind}
    assert len({a["name"] for a in alarms.values()}) == len(alarms)
    azure = {"Target": "azure_openai", "Service": "azure_openai"}
    assert alarms["target_error_rate:azure_openai"]["dimensions"] == azure
    assert alarms[f"bedrock_invocation_throttles:{BEDROCK_IDS[1]}"]["dimensions"] == {"ModelId": BEDROCK_IDS[1]}
    assert alarms["sagemaker_5xx_errors"]["dimensions"] == {
        "EndpointName": f"{stack.PROJECT}-classifier", "VariantName": "AllTraffic",
    }
    assert alarms["sagemaker_5xx_errors"]["name"] == f"{stack.PROJECT}-sagemaker-5xx-errors"
    assert alarms["target_latency_p95:bedrock"]["name"] == f"{stack.PROJECT}-target-latency-p95-bedrock"


def test_the_dashboard_json_names_every_alarms_metric(evaluated: dict) -> None:
    widgets = json.loads(evaluated["body"])["widgets"]
    alarms = evaluated["alarms"]
    assert len(widgets) == len(alarms)
    graphed = {}
    for widget in widgets:
        props = widget["properties"]
        assert widget["type"] == "metric" and props["region"] == stack.DEFAULT_REGION
        (metric,) = props["metrics"]
        (line,) = props["annotations"]["horizontal"]
        graphed[props["title"]] = (metric, props["stat"], props["period"], line["value"])
    for alarm in alarms.values():
        dimensions = [part for pair in sorted(alarm["dimensions"].items()) for part in pair]
        metric, stat, period, threshold = graphed[alarm["name"]]
        assert metric[:2] == [alarm["namespace"], alarm["metric_name"]], alarm["name"]
        assert sorted(zip(metric[2::2], metric[3::2])) == sorted(zip(dimensions[::2], dimensions[1::2]))
        settings = alarm["settings"]
        assert (stat, period, threshold) == (alarm["statistic"], settings["period"], settings["threshold"])
    # No two widgets overlap.
    cells = [(w["x"], w["y"]) for w in widgets]
    assert len(set(cells)) == len(cells)


# --- Azure -------------------------------------------------------------------------------------------------


def test_azure_alerts_cover_server_errors_latency_and_throttling() -> None:
    azure = load(AZURE)
    alerts = azure.locals["alerts"]
    assert set(alerts) == {"server_errors", "throttled_requests", "latency"}
    assert literal(alerts["server_errors"]["metric_name"]) == "AzureOpenAIRequests"
    five_xx = {"name": "StatusCode", "operator": "StartsWith", "values": ["5"]}
    assert literal(alerts["server_errors"]["dimension"]) == five_xx
    assert literal(alerts["throttled_requests"]["metric_name"]) == "AzureOpenAIRequests"
    throttled = {"name": "StatusCode", "operator": "Include", "values": ["429"]}
    assert literal(alerts["throttled_requests"]["dimension"]) == throttled
    assert literal(alerts["latency"]["metric_name"]) == "AzureOpenAITimeToResponse"
    assert literal(alerts["latency"]["aggregation"]) == "Average"
    for key, alert in alerts.items():
        assert alert["settings"] == f"${{var.openai_alerts.{key}}}"

    resource = azure.resource("azurerm_monitor_metric_alert", "openai")
    assert resource["for_each"] == "${local.alerts}"
    assert resource["scopes"] == ["${azurerm_cognitive_account.this.id}"]
    assert resource["name"] == '${var.project}-openai-${replace(each.key, "_", "-")}'.join('""')
    criteria = block(resource, "criteria")
    assert literal(criteria["metric_namespace"]) == "Microsoft.CognitiveServices/accounts"
    assert criteria["threshold"] == "${each.value.settings.threshold}"
    dimension = dynamic_block(criteria, "dimension")
    assert dimension["for_each"] == "${each.value.dimension == null ? [] : [each.value.dimension]}"
    for argument in ("frequency", "window_size", "severity"):
        assert resource[argument] == f"${{each.value.settings.{argument}}}"
    # Every alert acts through the action group.
    assert block(resource, "action")["action_group_id"] == "${azurerm_monitor_action_group.alerts.id}"


def test_azure_action_group_mails_the_optional_address() -> None:
    azure = load(AZURE)
    group = azure.resource("azurerm_monitor_action_group", "alerts")
    assert len(unquote(group["short_name"])) <= 12  # Azure's limit
    receiver = dynamic_block(group, "email_receiver")
    assert receiver["for_each"] == '${var.alert_email == "" ? [] : [var.alert_email]}'
    variable = azure.variables["alert_email"]
    assert variable["type"] == "string" and literal(variable["default"]) == ""
    assert "regex(" in block(variable, "validation")["condition"]


def test_azure_thresholds_are_typed_described_variables_with_defaults() -> None:
    variable = load(AZURE).variables["openai_alerts"]
    assert len(unquote(variable["description"])) > 60
    for key in ("server_errors", "throttled_requests", "latency"):
        assert re.search(rf"\b{key}\s*=\s*object\(\{{\s*threshold\s*=\s*number", variable["type"]), key
    default = literal(variable["default"])
    assert set(default) == {"server_errors", "throttled_requests", "latency"}
    for key, settings in default.items():
        assert set(settings) == {"threshold", "window_size", "frequency", "severity"}, key
        assert re.fullmatch(r"P(T\d+[MH]|\d+D)", settings["window_size"]), key
        assert re.fullmatch(r"PT\d+[MH]", settings["frequency"]), key
    assert default["latency"]["threshold"] >= 1000  # milliseconds
    assert block(variable, "validation")

