"""terraform/aws declares what mcv_core/stack.py says the stack is, and what the local cloud provisions."""

from __future__ import annotations

import re

import pytest

from mcv_core import stack
from mcv_core.local import provision
from mcv_core.stack import StackNames

from .tfconfig import (
    AWS,
    AWS_MODULES,
    REPO,
    Evaluator,
    NotEvaluable,
    block,
    clean,
    dynamic_block,
    literal,
    load,
    module_dirs,
    unquote,
)

ACCOUNT = "210987654321"


@pytest.fixture(scope="module")
def root() -> Evaluator:
    return Evaluator(load(AWS), account_id=ACCOUNT)


def _default(config_path, name):
    return literal(load(config_path).variables[name]["default"])


# --- names -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("project", [stack.PROJECT, "demo-x"])
def test_names_equal_stack_names(project: str) -> None:
    """Each name as Terraform computes it, through the module call to the resource's own argument."""
    root = Evaluator(load(AWS), {"project": project}, account_id=ACCOUNT)
    expected = StackNames.for_account(ACCOUNT, project)

    assert root.module("upload_bucket").value(load(AWS_MODULES / "s3").resource("aws_s3_bucket")["bucket"]) == (
        expected.upload_bucket
    )
    assert root.module("artifacts_bucket").value(load(AWS_MODULES / "s3").resource("aws_s3_bucket")["bucket"]) == (
        expected.artifacts_bucket
    )
    table = root.module("results_table")
    assert table.value(table.config.resource("aws_dynamodb_table")["name"]) == expected.results_table

    handler = root.module("upload_handler")
    function = handler.config.resource("aws_lambda_function")
    assert handler.value(function["function_name"]) == expected.lambda_function
    assert _log_group_names(handler.module("log_group")) == [expected.lambda_log_group]
    # The function logs to the group the module made (not one Lambda would create without retention).
    assert block(function, "logging_config")["log_group"] == '${module.log_group.log_group_names["function"]}'

    classifier = root.module("classifier")
    sm = classifier.config
    assert classifier.value(sm.resource("aws_sagemaker_model")["name"]) == expected.sagemaker_model
    config_name = classifier.value(sm.resource("aws_sagemaker_endpoint_configuration")["name"])
    assert config_name == expected.sagemaker_endpoint_config
    assert classifier.value(sm.resource("aws_sagemaker_endpoint")["name"]) == expected.sagemaker_endpoint
    endpoint_logs = f"/aws/sagemaker/Endpoints/{expected.sagemaker_endpoint}"
    assert _log_group_names(classifier.module("log_group")) == [endpoint_logs]

    # The role names the local cloud gives its roles.
    iam = root.module("iam")
    assert iam.value(iam.config.resource("aws_iam_role", "lambda")["name"]) == f"{project}-lambda"
    assert iam.value(iam.config.resource("aws_iam_role", "sagemaker")["name"]) == f"{project}-sagemaker"
    assert iam.value(iam.config.resource("aws_iam_role", "bedrock_batch")["name"]) == expected.bedrock_batch_role


def _log_group_names(cloudwatch: Evaluator) -> list[str]:
    group = cloudwatch.config.resource("aws_cloudwatch_log_group")
    assert group["for_each"] == "${var.log_group_names}" and group["name"] == "${each.value}"
    return list(cloudwatch.var("log_group_names").values())


def test_the_name_templates_are_what_the_root_passes(root: Evaluator) -> None:
    # Evaluation stops at anything that is not a plain template: no name may hide in a function call.
    for key in root.config.locals["names"]:
        root.value(root.config.locals["names"][key])
    with pytest.raises(NotEvaluable):
        root.local("model_artifact")


def test_account_id_comes_from_the_caller_identity() -> None:
    config = load(AWS)
    assert "aws_caller_identity" in config.data
    assert config.locals["account_id"] == "${data.aws_caller_identity.current.account_id}"


def test_region_and_project_defaults() -> None:
    assert _default(AWS, "project") == stack.PROJECT
    assert _default(AWS, "region") == stack.DEFAULT_REGION
    assert _default(AWS, "bedrock_model_id") == stack.DEFAULT_BEDROCK_MODEL_ID
    provider = load(AWS).providers["aws"]
    assert provider["region"] == "${var.region}"


# --- S3 --------------------------------------------------------------------------------------------------


def test_buckets_are_encrypted_versioned_private() -> None:
    s3 = load(AWS_MODULES / "s3")
    sse = block(block(s3.resource("aws_s3_bucket_server_side_encryption_configuration"), "rule"),
                "apply_server_side_encryption_by_default")
    assert literal(sse["sse_algorithm"]) == "AES256"
    assert literal(block(s3.resource("aws_s3_bucket_versioning"), "versioning_configuration")["status"]) == "Enabled"
    pab = clean(s3.resource("aws_s3_bucket_public_access_block"))
    for flag in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"):
        assert pab[flag] is True, flag
    assert literal(block(s3.resource("aws_s3_bucket_ownership_controls"), "rule")["object_ownership"]) == (
        "BucketOwnerEnforced"
    )
    # Both buckets are this module, so both get all of the above.
    root = load(AWS)
    assert unquote(root.modules["upload_bucket"]["source"]) == unquote(root.modules["artifacts_bucket"]["source"])


def test_upload_lifecycle_expires_current_and_noncurrent_versions(root: Evaluator) -> None:
    s3 = load(AWS_MODULES / "s3")
    rule = block(s3.resource("aws_s3_bucket_lifecycle_configuration"), "rule")
    assert literal(rule["status"]) == "Enabled"
    assert block(rule, "filter") is not None  # the whole bucket
    expiration = dynamic_block(rule, "expiration")
    assert block(expiration, "content")["days"] == "${expiration.value}"
    assert "var.expiration_days" in expiration["for_each"]
    noncurrent = block(rule, "noncurrent_version_expiration")
    assert noncurrent["noncurrent_days"] == "${var.noncurrent_version_expiration_days}"
    assert block(rule, "abort_incomplete_multipart_upload")["days_after_initiation"] == (
        "${var.abort_incomplete_multipart_upload_days}"
    )

    uploads = root.module("upload_bucket")
    assert uploads.var("expiration_days") == stack.LIFECYCLE_DAYS
    assert uploads.var("noncurrent_version_expiration_days") == stack.LIFECYCLE_DAYS
    assert uploads.var("abort_incomplete_multipart_upload_days") == 1
    artifacts = root.module("artifacts_bucket")
    assert artifacts.var("expiration_days") is None  # the current model.tar.gz stays
    assert artifacts.var("noncurrent_version_expiration_days") == stack.LIFECYCLE_DAYS


def test_batch_files_expire_under_their_own_rule(root: Evaluator) -> None:
    """A batch benchmark's job files (batch/input/, batch/output/) expire after stack.BATCH_LIFECYCLE_DAYS."""
    s3 = load(AWS_MODULES / "s3")
    lifecycle = s3.resource("aws_s3_bucket_lifecycle_configuration")
    rule = dynamic_block(lifecycle, "rule")
    assert rule["for_each"] == "${var.prefix_expiration_days}"
    content = block(rule, "content")
    assert literal(content["status"]) == "Enabled"
    assert block(content, "filter")["prefix"] == "${rule.key}"  # only the objects under that prefix
    assert block(content, "expiration")["days"] == "${rule.value}"
    assert "rule.key" in content["id"]  # one rule id per prefix
    assert _default(AWS_MODULES / "s3", "prefix_expiration_days") == {}

    # The upload bucket gives batch/ (the common prefix of the input and output prefixes) its own days.
    call = root.config.modules["upload_bucket"]["prefix_expiration_days"]
    assert call == {"${(local.batch_prefix)}": "${var.batch_lifecycle_days}"}
    batch_prefix = root.local("batch_prefix")
    assert batch_prefix == "batch/"
    assert stack.BATCH_INPUT_PREFIX.startswith(batch_prefix) and stack.BATCH_OUTPUT_PREFIX.startswith(batch_prefix)
    assert root.local("batch_input_prefix") == stack.BATCH_INPUT_PREFIX
    assert root.local("batch_output_prefix") == stack.BATCH_OUTPUT_PREFIX
    assert not stack.UPLOAD_PREFIX.startswith(batch_prefix)  # batch files never invoke the upload Lambda
    assert root.var("batch_lifecycle_days") == stack.BATCH_LIFECYCLE_DAYS
    days_rule = block(root.config.variables["batch_lifecycle_days"], "validation")["condition"]
    assert days_rule == "${var.batch_lifecycle_days >= 1}"
    # The model artifacts bucket has no batch files.
    assert root.module("artifacts_bucket").var("prefix_expiration_days") == {}


def test_upload_bucket_cors_allows_presigned_browser_uploads(root: Evaluator) -> None:
    s3 = load(AWS_MODULES / "s3")
    cors = s3.resource("aws_s3_bucket_cors_configuration")
    assert cors["count"] == "${length(var.cors_allowed_origins) > 0 ? 1 : 0}"
    rule = block(cors, "cors_rule")
    assert literal(rule["allowed_headers"]) == ["*"]
    assert literal(rule["expose_headers"]) == ["ETag"]
    uploads = root.module("upload_bucket")
    assert uploads.value(rule["allowed_origins"]) == provision.CORS_ORIGINS
    assert set(uploads.value(rule["allowed_methods"])) >= {"PUT", "POST", "GET"}
    assert uploads.value(rule["max_age_seconds"]) == 3000
    assert root.module("artifacts_bucket").var("cors_allowed_origins") == []  # no CORS there


def test_force_destroy_is_a_variable_for_both_buckets(root: Evaluator) -> None:
    s3 = load(AWS_MODULES / "s3")
    assert s3.resource("aws_s3_bucket")["force_destroy"] == "${var.force_destroy}"
    assert _default(AWS, "force_destroy") is False
    for call in ("upload_bucket", "artifacts_bucket"):
        assert root.config.modules[call]["force_destroy"] == "${var.force_destroy}"


def test_model_artifact_is_uploaded_in_the_same_apply() -> None:
    root = load(AWS)
    obj = root.resource("aws_s3_object", "model")
    assert obj["bucket"] == "${module.artifacts_bucket.bucket_id}"
    assert Evaluator(root).value(obj["key"]) == stack.MODEL_ARTIFACT_KEY
    assert obj["etag"] == "${filemd5(local.model_artifact)}"
    # The default artifact is the one `make model` builds.
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    model_path = re.search(r"^MODEL := (.+)$", makefile, re.M).group(1).strip()
    assert f'"${{path.module}}/../../{model_path}"' in root.locals["model_artifact"]
    # The SageMaker model reads that object, so Terraform uploads it first.
    call = root.modules["classifier"]
    assert call["model_data_url"] == '"s3://${aws_s3_object.model.bucket}/${aws_s3_object.model.key}"'
    assert call["model_data_version"] == "${aws_s3_object.model.etag}"


# --- DynamoDB --------------------------------------------------------------------------------------------


def test_results_table(root: Evaluator) -> None:
    table = root.module("results_table")
    resource = table.config.resource("aws_dynamodb_table")
    assert literal(resource["billing_mode"]) == "PAY_PER_REQUEST"
    assert table.value(resource["hash_key"]) == stack.TABLE_HASH_KEY
    assert table.value(resource["range_key"]) == stack.TABLE_RANGE_KEY

    indexes = table.var("global_secondary_indexes")
    assert {name: (i["hash_key"], i["range_key"]) for name, i in indexes.items()} == stack.INDEXES
    assert {i["projection_type"] for i in indexes.values()} == {"ALL"}  # history reads whole result items
    gsi = dynamic_block(resource, "global_secondary_index")
    assert gsi["for_each"] == "${var.global_secondary_indexes}"
    content = block(gsi, "content")
    assert content["name"] == "${global_secondary_index.key}"
    assert "hash_key" not in content and "range_key" not in content  # deprecated: key_schema names the keys
    keys = dynamic_block(content, "key_schema")
    assert "global_secondary_index.value.hash_key" in keys["for_each"] and '"HASH"' in keys["for_each"]
    assert "global_secondary_index.value.range_key" in keys["for_each"] and '"RANGE"' in keys["for_each"]
    assert keys["for_each"].index("HASH") < keys["for_each"].index("RANGE")  # the partition key first
    body = block(keys, "content")
    assert (body["attribute_name"], body["key_type"]) == ("${key_schema.value.name}", "${key_schema.value.type}")

    attributes = dynamic_block(resource, "attribute")
    assert attributes["for_each"] == "${local.key_attributes}"
    assert literal(block(attributes, "content")["type"]) == "S"
    # key_attributes collects the table keys and every index key.
    for key in ("var.hash_key", "var.range_key", "index.hash_key", "index.range_key"):
        assert key in table.config.locals["key_attributes"]

    ttl = dynamic_block(resource, "ttl")
    assert block(ttl, "content")["enabled"] is True
    assert table.var("ttl_attribute") == stack.TTL_ATTRIBUTE
    assert block(resource, "point_in_time_recovery")["enabled"] == "${var.point_in_time_recovery}"
    assert table.var("point_in_time_recovery") is True
    assert block(resource, "server_side_encryption")["enabled"] is True


# --- Lambda ----------------------------------------------------------------------------------------------


def test_lambda_function_settings(root: Evaluator) -> None:
    handler = root.module("upload_handler")
    function = handler.config.resource("aws_lambda_function")
    assert handler.value(function["runtime"]) == stack.LAMBDA_RUNTIME
    assert handler.value(function["memory_size"]) == stack.LAMBDA_MEMORY_MB
    assert handler.value(function["timeout"]) == stack.LAMBDA_TIMEOUT_S
    assert handler.value(function["handler"]) == "lambda_function.lambda_handler"
    assert function["source_code_hash"] == "${data.archive_file.code.output_base64sha256}"
    assert handler.var("reserved_concurrent_executions") is None

    env = root.config.modules["upload_handler"]["environment_variables"]
    assert set(env) - {"__is_block__"} == {"TABLE_NAME", "UPLOAD_PREFIX", "TTL_DAYS"}
    assert env["TABLE_NAME"] == "${module.results_table.table_name}"
    assert root.value(env["UPLOAD_PREFIX"]) == stack.UPLOAD_PREFIX
    assert block(function, "environment")["variables"] == "${var.environment_variables}"


def test_lambda_code_is_zipped_from_the_repository(root: Evaluator) -> None:
    handler = root.module("upload_handler")
    archive = handler.config.data["archive_file"]["code"]
    assert literal(archive["type"]) == "zip" and archive["source_dir"] == "${var.source_dir}"
    source_dir = root.config.modules["upload_handler"]["source_dir"]
    assert source_dir == '"${path.module}/../../lambda"'
    lambda_dir = (AWS / "../../lambda").resolve()
    module_name, function_name = handler.value(handler.config.resource("aws_lambda_function")["handler"]).split(".")
    source = (lambda_dir / f"{module_name}.py").read_text(encoding="utf-8")
    assert f"def {function_name}(" in source


def test_s3_invokes_lambda_for_uploads_only(root: Evaluator) -> None:
    handler = root.module("upload_handler")
    notification = handler.config.resource("aws_s3_bucket_notification")
    target = block(notification, "lambda_function")
    assert literal(target["events"]) == ["s3:ObjectCreated:*"]
    assert handler.value(target["filter_prefix"]) == stack.UPLOAD_PREFIX
    assert notification["depends_on"] == ["${aws_lambda_permission.s3}"]
    permission = handler.config.resource("aws_lambda_permission", "s3")
    assert literal(permission["principal"]) == "s3.amazonaws.com"
    assert literal(permission["action"]) == "lambda:InvokeFunction"
    assert permission["source_arn"] == "${var.bucket_arn}"
    assert permission["source_account"] == "${var.bucket_owner_account_id}"
    assert root.config.modules["upload_handler"]["bucket_arn"] == "${module.upload_bucket.bucket_arn}"


def test_log_retention(root: Evaluator) -> None:
    assert _default(AWS, "log_retention_days") == stack.LOG_RETENTION_DAYS
    for module in ("lambda", "sagemaker"):
        assert _default(AWS_MODULES / module, "log_retention_days") == stack.LOG_RETENTION_DAYS
    assert root.module("upload_handler").var("log_retention_days") == stack.LOG_RETENTION_DAYS
    assert root.module("classifier").var("log_retention_days") == stack.LOG_RETENTION_DAYS
    group = load(AWS_MODULES / "cloudwatch").resource("aws_cloudwatch_log_group")
    assert group["retention_in_days"] == "${var.retention_in_days}"
    assert group["kms_key_id"] == "${var.kms_key_arn}"
    for call in ("upload_handler", "classifier"):
        module = root.module(call)
        assert module.config.modules["log_group"]["retention_in_days"] == "${var.log_retention_days}"


# --- SageMaker -------------------------------------------------------------------------------------------


def test_sagemaker_serverless_endpoint(root: Evaluator) -> None:
    classifier = root.module("classifier")
    sm = classifier.config
    variant = block(sm.resource("aws_sagemaker_endpoint_configuration"), "production_variants")
    serverless = block(variant, "serverless_config")
    assert classifier.value(serverless["memory_size_in_mb"]) == stack.SAGEMAKER_MEMORY_MB
    assert classifier.value(serverless["max_concurrency"]) == stack.SAGEMAKER_MAX_CONCURRENCY
    assert _default(AWS_MODULES / "sagemaker", "memory_size_in_mb") == stack.SAGEMAKER_MEMORY_MB
    assert _default(AWS_MODULES / "sagemaker", "max_concurrency") == stack.SAGEMAKER_MAX_CONCURRENCY
    assert "initial_instance_count" not in variant and "instance_type" not in variant
    assert variant["model_name"] == "${aws_sagemaker_model.this.name}"

    container = block(sm.resource("aws_sagemaker_model"), "primary_container")
    env = classifier.var("environment")
    assert env == {
        "SAGEMAKER_PROGRAM": "inference.py",
        "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
        "SAGEMAKER_REGION": stack.DEFAULT_REGION,
    }
    assert container["environment"] == "${var.environment}"
    assert container["model_data_url"] == "${var.model_data_url}"
    assert (REPO / "sagemaker_model" / "code" / env["SAGEMAKER_PROGRAM"]).is_file()


def test_sagemaker_image_defaults_to_the_local_clouds(root: Evaluator) -> None:
    expected = provision.PYTORCH_INFERENCE_IMAGE.replace("{region}", "${var.region}")
    assert f'"{expected}"' in root.config.locals["sagemaker_image_uri"]
    assert root.config.modules["classifier"]["image_uri"] == "${local.sagemaker_image_uri}"
    assert root.config.modules["iam"]["inference_image_uri"] == "${local.sagemaker_image_uri}"


def test_a_new_model_artifact_reaches_the_endpoint() -> None:
    # Names are fixed, so a rebuilt model.tar.gz must replace model, config and endpoint explicitly.
    sm = load(AWS_MODULES / "sagemaker")
    assert sm.resource("terraform_data", "model_data_version")["triggers_replace"] == "${var.model_data_version}"
    chain = [
        ("aws_sagemaker_model", "${terraform_data.model_data_version}"),
        ("aws_sagemaker_endpoint_configuration", "${aws_sagemaker_model.this}"),
        ("aws_sagemaker_endpoint", "${aws_sagemaker_endpoint_configuration.this}"),
    ]
    for kind, trigger in chain:
        lifecycle = block(sm.resource(kind), "lifecycle")
        assert lifecycle["replace_triggered_by"] == [trigger], kind


# --- IAM -------------------------------------------------------------------------------------------------


def _policy_statements() -> list[tuple[str, str, dict]]:
    found = []
    for path in module_dirs():
        config = load(path)
        for name, document in config.data.get("aws_iam_policy_document", {}).items():
            for statement in document.get("statement", []):
                found.append((path.name, name, statement))
    return found


def test_no_allow_statement_has_a_wildcard_action() -> None:
    statements = _policy_statements()
    assert len(statements) >= 15, "policy documents not found"
    for module, document, statement in statements:
        effect = literal(statement.get("effect", '"Allow"'))
        assert "not_actions" not in statement and "not_resources" not in statement, (module, document)
        actions = literal(statement["actions"])
        wildcard = [a for a in actions if "*" in a]
        if effect == "Allow":
            assert not wildcard, f"{module}/{document}: Allow with wildcard actions {wildcard}"
        else:
            # The only Deny: refuse plain-HTTP requests to a bucket, whatever the action.
            assert module == "s3" and document == "tls_only"
            condition = block(statement, "condition")
            assert literal(condition["variable"]) == "aws:SecureTransport" and literal(condition["values"]) == ["false"]


def test_every_policy_is_a_checked_policy_document() -> None:
    # Policies written as inline JSON (jsonencode, heredocs) would escape the wildcard checks above.
    for path in AWS.rglob("*.tf"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"\bAction\b|\bStatement\b", text), f"{path.relative_to(REPO)} has an inline policy"
        for attribute in re.findall(r"^\s*(policy|assume_role_policy)\s*=\s*(.+)$", text, re.M):
            assert re.fullmatch(r"data\.aws_iam_policy_document\.\w+(\[0\])?\.json", attribute[1].strip()), attribute


def test_wildcard_resources_only_where_aws_allows_nothing_else() -> None:
    for module, document, statement in _policy_statements():
        resources = literal(statement.get("resources", []))
        if "*" in resources:  # actions with no resource type (the service authorization reference)
            assert literal(statement["actions"]) in (["ecr:GetAuthorizationToken"], ["bedrock:ListModelInvocationJobs"]), (module, document)


def _statements(document: str) -> dict[str, dict]:
    body = load(AWS_MODULES / "iam").data["aws_iam_policy_document"][document]
    return {literal(s["sid"]): s for s in body["statement"]}


def _statement_actions(document: str) -> dict[str, set[str]]:
    return {sid: set(literal(s["actions"])) for sid, s in _statements(document).items()}


def test_lambda_role_is_what_the_local_cloud_grants() -> None:
    assert _statement_actions("lambda") == {
        "ReadUploads": {"s3:GetObject"},
        "WriteImageMetadata": {"dynamodb:PutItem"},
        "WriteOwnLogs": {"logs:CreateLogStream", "logs:PutLogEvents"},
    }
    statements = _statements("lambda")
    assert literal(statements["ReadUploads"]["resources"]) == ["${var.upload_bucket_arn}/${var.upload_prefix}*"]
    assert literal(statements["WriteImageMetadata"]["resources"]) == ["${var.results_table_arn}"]
    assert literal(statements["WriteOwnLogs"]["resources"]) == ["${var.lambda_log_group_arn}:*"]


def test_sagemaker_role_reads_the_artifact_pulls_the_image_writes_logs() -> None:
    actions = _statement_actions("sagemaker")
    assert actions["ReadModelArtifact"] == {"s3:GetObject"}
    assert actions["PullInferenceImage"] == {
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
    }
    assert actions["EcrLogin"] == {"ecr:GetAuthorizationToken"}
    assert {"logs:CreateLogStream", "logs:PutLogEvents"} <= actions["WriteEndpointLogs"]
    statements = _statements("sagemaker")
    artifact = ["${var.artifacts_bucket_arn}/${var.model_artifact_key}"]
    assert literal(statements["ReadModelArtifact"]["resources"]) == artifact
    assert literal(statements["PullInferenceImage"]["resources"]) == ["${local.inference_repository_arn}"]


def test_app_policy_covers_what_mc_vision_calls() -> None:
    actions = set().union(*_statement_actions("app").values())
    assert actions == {
        "s3:PutObject", "s3:GetObject",
        "dynamodb:PutItem", "dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:GetItem",
        "dynamodb:DescribeTable", "dynamodb:DescribeTimeToLive", "dynamodb:DescribeContinuousBackups",
        "sagemaker:InvokeEndpoint", "sagemaker:DescribeEndpoint", "sagemaker:DescribeEndpointConfig",
        "bedrock:InvokeModel",
        "lambda:GetFunction",
        "logs:DescribeLogStreams", "logs:FilterLogEvents", "logs:GetLogEvents",
        # the Infrastructure page's health checks (mcv_core/infra.py)
        "s3:ListBucket", "s3:GetEncryptionConfiguration", "s3:GetBucketVersioning",
        "s3:GetLifecycleConfiguration", "s3:GetBucketCORS", "logs:DescribeLogGroups",
        # batch benchmarks (mcv_core/batch.py) and their health checks
        "bedrock:CreateModelInvocationJob", "bedrock:GetModelInvocationJob", "bedrock:StopModelInvocationJob",
        "bedrock:ListModelInvocationJobs", "iam:PassRole", "iam:GetRole", "iam:GetRolePolicy", "iam:ListRolePolicies",
        "sagemaker:CreateTransformJob", "sagemaker:DescribeTransformJob", "sagemaker:StopTransformJob",
    }  # fmt: skip
    root = load(AWS)
    assert root.modules["iam"]["results_index_arns"] == "${values(module.results_table.index_arns)}"
    assert literal(root.variables["create_app_policy"]["default"]) is True


def test_app_policy_reaches_batch_files_jobs_and_role_only() -> None:
    statements = _statements("app")
    resources = {sid: literal(statement["resources"]) for sid, statement in statements.items()}
    assert resources["WriteBatchInputs"] == [BATCH_INPUTS] and resources["ReadBatchOutputs"] == [BATCH_OUTPUTS]
    assert _statement_actions("app")["ReadBatchOutputs"] == {"s3:GetObject"}  # outputs are Bedrock's to write
    assert resources["FollowBedrockBatchJobs"] == ["${local.model_invocation_jobs}"]
    assert "concat(var.bedrock_model_arns, [local.model_invocation_jobs])" in str(statements["CreateBedrockBatchJobs"]["resources"])
    # The batch role is passed to Bedrock only, and it is the only role the app may pass or read.
    assert resources["PassBatchRoleToBedrock"] == resources["CheckBatchRole"] == ["${aws_iam_role.bedrock_batch.arn}"]
    condition = statements["PassBatchRoleToBedrock"]["condition"]
    condition = condition[0] if isinstance(condition, list) else condition
    assert (literal(condition["variable"]), literal(condition["values"])) == ("iam:PassedToService", ["bedrock.amazonaws.com"])
    assert resources["ListBedrockBatchJobs"] == ["*"]  # no resource type exists for it
    assert [sid for sid, found in resources.items() if "*" in found] == ["ListBedrockBatchJobs"]


def test_bedrock_arns_for_every_model_of_the_catalogue() -> None:
    root = load(AWS)
    assert "concat([var.bedrock_model_id], var.more_bedrock_model_ids)" in str(root.locals["bedrock_model_ids"])
    arns = str(root.locals["bedrock_model_arns"])
    assert "for id in local.bedrock_model_ids" in arns
    assert "arn:${local.partition}:bedrock:${var.region}::foundation-model/${id}" in arns
    assert "inference-profile/${id}" in arns and "foundation-model/${replace(id," in arns
    assert literal(root.variables["more_bedrock_model_ids"]["default"]) == []


# --- Batch benchmarks ------------------------------------------------------------------------------------

BATCH_INPUTS = "${var.upload_bucket_arn}/${var.batch_input_prefix}*"
BATCH_OUTPUTS = "${var.upload_bucket_arn}/${var.batch_output_prefix}*"


def test_batch_prefixes_reach_the_roles(root: Evaluator) -> None:
    call = root.config.modules["iam"]
    assert call["batch_input_prefix"] == "${local.batch_input_prefix}"
    assert call["batch_output_prefix"] == "${local.batch_output_prefix}"
    assert call["upload_bucket_arn"] == "${module.upload_bucket.bucket_arn}"
    iam = root.module("iam")
    assert iam.var("batch_input_prefix") == stack.BATCH_INPUT_PREFIX
    assert iam.var("batch_output_prefix") == stack.BATCH_OUTPUT_PREFIX
    # The module's own defaults are the stack's too.
    assert _default(AWS_MODULES / "iam", "batch_input_prefix") == stack.BATCH_INPUT_PREFIX
    assert _default(AWS_MODULES / "iam", "batch_output_prefix") == stack.BATCH_OUTPUT_PREFIX


def test_bedrock_batch_role_trusts_only_batch_jobs_of_this_account_and_region(root: Evaluator) -> None:
    iam = root.module("iam")
    role = iam.config.resource("aws_iam_role", "bedrock_batch")
    assert role["assume_role_policy"] == "${data.aws_iam_policy_document.bedrock_batch_assume.json}"
    assert role["permissions_boundary"] == "${var.permissions_boundary_arn}"

    (statement,) = iam.config.data["aws_iam_policy_document"]["bedrock_batch_assume"]["statement"]
    assert literal(statement.get("effect", '"Allow"')) == "Allow"
    assert literal(statement["actions"]) == ["sts:AssumeRole"]
    (principal,) = statement["principals"]
    assert literal(principal["type"]) == "Service"
    assert literal(principal["identifiers"]) == ["bedrock.amazonaws.com"]

    conditions = {literal(c["variable"]): (literal(c["test"]), c["values"]) for c in statement["condition"]}
    assert set(conditions) == {"aws:SourceAccount", "aws:SourceArn"}
    test, values = conditions["aws:SourceAccount"]
    assert test == "StringEquals" and [iam.value(v) for v in values] == [ACCOUNT]
    test, values = conditions["aws:SourceArn"]
    assert test == "ArnLike"  # the job id is a wildcard (AWS's example uses ArnEquals, which matches it the same)
    (arn,) = values
    assert arn == "${local.model_invocation_jobs}"  # the same jobs the app policy lets the app create
    arn = iam.config.locals["model_invocation_jobs"]
    assert "${local.partition}" in arn and iam.config.locals["partition"] == "${data.aws_partition.current.partition}"
    in_aws = iam.value(arn.replace("${local.partition}", "aws"))
    assert in_aws == f"arn:aws:bedrock:{stack.DEFAULT_REGION}:{ACCOUNT}:model-invocation-job/*"
    # The account and region are the stack's own.
    assert root.config.modules["iam"]["account_id"] == "${local.account_id}"
    assert root.config.modules["iam"]["region"] == "${var.region}"


def test_bedrock_batch_role_reads_batch_inputs_writes_batch_outputs_and_nothing_else() -> None:
    statements = _statements("bedrock_batch")
    assert _statement_actions("bedrock_batch") == {
        "ReadBatchInputs": {"s3:GetObject"},
        "ListBatchInputs": {"s3:ListBucket"},
        "WriteBatchOutputs": {"s3:PutObject"},
    }
    assert literal(statements["ReadBatchInputs"]["resources"]) == [BATCH_INPUTS]
    assert literal(statements["WriteBatchOutputs"]["resources"]) == [BATCH_OUTPUTS]
    listing = statements["ListBatchInputs"]
    assert literal(listing["resources"]) == ["${var.upload_bucket_arn}"]
    (condition,) = listing["condition"]
    assert literal(condition["test"]) == "StringLike"
    assert literal(condition["variable"]) == "s3:prefix"
    assert literal(condition["values"]) == ["${var.batch_input_prefix}*"]
    for sid, statement in statements.items():
        assert literal(statement.get("effect", '"Allow"')) == "Allow", sid
        if sid != "ListBatchInputs":
            assert "condition" not in statement, sid

    # That document is the role's only policy: inline, on this role, and nothing attached to it.
    iam = load(AWS_MODULES / "iam")
    policy = iam.resource("aws_iam_role_policy", "bedrock_batch")
    assert policy["role"] == "${aws_iam_role.bedrock_batch.id}"
    assert policy["policy"] == "${data.aws_iam_policy_document.bedrock_batch.json}"
    for kind, name, body in iam.all_resources():
        if (kind, name) not in {("aws_iam_role", "bedrock_batch"), ("aws_iam_role_policy", "bedrock_batch")}:
            assert "aws_iam_role.bedrock_batch" not in str(clean(body)), f"{kind}.{name} touches the batch role"


def test_bedrock_batch_role_arn_is_an_output() -> None:
    root = load(AWS)
    assert root.outputs["bedrock_batch_role_arn"]["value"] == "${module.iam.bedrock_batch_role_arn}"
    output = load(AWS_MODULES / "iam").outputs["bedrock_batch_role_arn"]
    assert output["value"] == "${aws_iam_role.bedrock_batch.arn}"
    # A job started with the role before its policy is in place could not read its input.
    assert output["depends_on"] == ["${aws_iam_role_policy.bedrock_batch}"]


def test_sagemaker_role_runs_batch_transform_over_the_batch_prefixes() -> None:
    """A Batch Transform job runs the same model (model.tar.gz and handler) as the model's role, over an S3 prefix."""
    statements = _statements("sagemaker")
    actions = _statement_actions("sagemaker")
    assert actions["ReadBatchInputs"] == {"s3:GetObject"}
    assert actions["ListBatchInputs"] == {"s3:ListBucket"}
    assert actions["WriteBatchOutputs"] == {"s3:PutObject"}
    assert literal(statements["ReadBatchInputs"]["resources"]) == [BATCH_INPUTS]
    assert literal(statements["WriteBatchOutputs"]["resources"]) == [BATCH_OUTPUTS]
    listing = statements["ListBatchInputs"]
    assert literal(listing["resources"]) == ["${var.upload_bucket_arn}"]
    (condition,) = listing["condition"]
    assert (literal(condition["test"]), literal(condition["variable"])) == ("StringLike", "s3:prefix")
    assert literal(condition["values"]) == ["${var.batch_input_prefix}*"]
    # Nothing else of the upload bucket: not the uploads, and no writes outside batch/output/.
    for sid, statement in statements.items():
        if "var.upload_bucket_arn" in str(statement.get("resources")):
            assert sid in {"ReadBatchInputs", "ListBatchInputs", "WriteBatchOutputs"}, sid


def test_transform_instance_type_variable_and_output(root: Evaluator) -> None:
    variable = root.config.variables["transform_instance_type"]
    assert variable["type"] == "string"
    assert len(unquote(variable["description"])) > 40
    assert root.var("transform_instance_type") == stack.TRANSFORM_INSTANCE_TYPE
    assert block(variable, "validation")["condition"] == '${startswith(var.transform_instance_type, "ml.")}'
    output = root.config.outputs["sagemaker_transform_instance_type"]
    assert output["value"] == "${var.transform_instance_type}"
    assert root.value(output["value"]) == stack.TRANSFORM_INSTANCE_TYPE


def test_batch_variables_are_typed_and_described() -> None:
    expected = {
        AWS: {"transform_instance_type": "string", "batch_lifecycle_days": "number"},
        AWS_MODULES / "iam": {
            "account_id": "string",
            "region": "string",
            "batch_input_prefix": "string",
            "batch_output_prefix": "string",
        },
        AWS_MODULES / "s3": {"prefix_expiration_days": "${map(number)}"},
    }
    for path, variables in expected.items():
        config = load(path)
        for name, kind in variables.items():
            variable = config.variables[name]
            assert variable["type"] == kind, (path.name, name, variable["type"])
            assert len(unquote(variable["description"])) > 30, (path.name, name)
