"""Create the stack in the local cloud: the same resources, names and settings as terraform/aws.

Runs against a fresh moto server at every start (before the recorded state is replayed), then writes the
outputs in the shape of `terraform output -json`, so the Infrastructure page reads local and cloud alike.
"""

from __future__ import annotations

import io
import json
import logging
import os
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from .. import alarms, stack
from ..errors import MCVError
from ..stack import StackNames
from .state import Connection, outputs_dir, write_json_atomic

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
LAMBDA_SOURCE = REPO / "lambda" / "lambda_function.py"
# The AWS Deep Learning Container for PyTorch inference that terraform/aws uses by default (CPU, serverless).
PYTORCH_INFERENCE_IMAGE = "763104351884.dkr.ecr.{region}.amazonaws.com/pytorch-inference:2.6.0-cpu-py312"
CORS_ORIGINS = ["http://127.0.0.1:8501", "http://localhost:8501"]


@dataclass(frozen=True)
class LocalStack:
    names: StackNames
    region: str
    account_id: str
    lambda_role_arn: str = ""
    sagemaker_role_arn: str = ""
    bedrock_batch_role_arn: str = ""
    queue_url: str = ""
    queue_arn: str = ""


def _client(conn: Connection, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=conn.moto_url,
        region_name=conn.region,
        aws_access_key_id=conn.access_key_id,
        aws_secret_access_key=conn.secret_access_key,
        config=Config(s3={"addressing_style": "path"}, retries={"mode": "standard", "total_max_attempts": 3}),
    )


def _assume_role_policy(service: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
        }
    )


# What each service answers when the resource is already there: provisioning again repairs drift in place.
_ALREADY = {
    "BucketAlreadyOwnedByYou",
    "EntityAlreadyExists",
    "ResourceInUseException",
    "ResourceAlreadyExistsException",
    "ResourceConflictException",
}


def _ensure(create: Any, **kwargs: Any) -> Any:
    """Create a resource unless it exists; the settings applied after it are (re)applied either way."""
    try:
        return create(**kwargs)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") in _ALREADY or "already exist" in str(error.get("Message", "")).lower():
            return None
        raise


def batch_data_policy(upload_arn: str) -> dict[str, Any]:
    """What a batch job may do with the upload bucket as its role (Bedrock's batch role; the SageMaker role for
    transform jobs): read the batch inputs, write the batch outputs, as terraform/aws grants them."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": f"{upload_arn}/{stack.BATCH_INPUT_PREFIX}*"},
            {
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": upload_arn,
                "Condition": {"StringLike": {"s3:prefix": [f"{stack.BATCH_INPUT_PREFIX}*"]}},
            },
            {"Effect": "Allow", "Action": ["s3:PutObject"], "Resource": f"{upload_arn}/{stack.BATCH_OUTPUT_PREFIX}*"},
        ],
    }


def _role(iam: Any, name: str, service: str) -> str:
    created = _ensure(iam.create_role, RoleName=name, AssumeRolePolicyDocument=_assume_role_policy(service))
    return created["Role"]["Arn"] if created else iam.get_role(RoleName=name)["Role"]["Arn"]


def provision(
    conn: Connection,
    model_tar: Path,
    ttl_days: int = 90,
    alarm_targets: Mapping[str, str] | None = None,
    alarm_period_s: int | None = None,
) -> LocalStack:
    """Create every resource, or restore its settings when it exists (`local provision` repairs drift).
    The notification that feeds the local Lambda runner comes later (see connect_events).

    `alarm_targets` (target id -> service) get the alarms on the app's own metrics (alarms.py) with the local
    period `alarm_period_s`; None reads both from this process's settings and catalogue (`local provision`)."""
    names = StackNames.for_account(conn.account_id)
    region = conn.region
    account = conn.account_id
    iam, s3, ddb, logs, lam, sm, sqs = (
        _client(conn, s) for s in ("iam", "s3", "dynamodb", "logs", "lambda", "sagemaker", "sqs")
    )
    table_arn = f"arn:aws:dynamodb:{region}:{account}:table/{names.results_table}"
    upload_arn = f"arn:aws:s3:::{names.upload_bucket}"
    artifacts_arn = f"arn:aws:s3:::{names.artifacts_bucket}"

    # IAM: each role only the actions and resources it uses (as terraform/aws/modules/iam).
    lambda_role = _role(iam, f"{stack.PROJECT}-lambda", "lambda.amazonaws.com")
    iam.put_role_policy(
        RoleName=f"{stack.PROJECT}-lambda",
        PolicyName="upload-handler",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": f"{upload_arn}/{stack.UPLOAD_PREFIX}*"},
                    {"Effect": "Allow", "Action": ["dynamodb:PutItem"], "Resource": table_arn},
                    {
                        "Effect": "Allow",
                        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                        "Resource": f"arn:aws:logs:{region}:{account}:log-group:{names.lambda_log_group}:*",
                    },
                ],
            }
        ),
    )
    batch_role = _role(iam, names.bedrock_batch_role, "bedrock.amazonaws.com")
    iam.put_role_policy(RoleName=names.bedrock_batch_role, PolicyName="batch-inference", PolicyDocument=json.dumps(batch_data_policy(upload_arn)))
    sagemaker_role = _role(iam, f"{stack.PROJECT}-sagemaker", "sagemaker.amazonaws.com")
    iam.put_role_policy(
        RoleName=f"{stack.PROJECT}-sagemaker",
        PolicyName="model-artifacts",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": f"{artifacts_arn}/{stack.MODEL_ARTIFACT_KEY}"},
                    # GetAuthorizationToken takes no resource: AWS accepts only "*" for it.
                    {"Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": "*"},
                    {
                        "Effect": "Allow",
                        "Action": ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                        "Resource": f"arn:aws:ecr:{region}:763104351884:repository/pytorch-inference",
                    },
                    {
                        "Effect": "Allow",
                        "Action": ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
                        "Resource": f"arn:aws:logs:{region}:{account}:log-group:/aws/sagemaker/Endpoints/{names.sagemaker_endpoint}:*",
                    },
                ],
            }
        ),
    )
    iam.put_role_policy(RoleName=f"{stack.PROJECT}-sagemaker", PolicyName="batch-transform", PolicyDocument=json.dumps(batch_data_policy(upload_arn)))

    # S3: the upload bucket and the model artifacts bucket. terraform/aws also puts a TLS-only bucket policy;
    # here every endpoint is plain HTTP on loopback, so that policy has no place.
    for bucket in (names.upload_bucket, names.artifacts_bucket):
        _ensure(s3.create_bucket, Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
        s3.put_bucket_ownership_controls(
            Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
        )
        s3.put_bucket_encryption(
            Bucket=bucket,
            ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
        )
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        s3.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
    s3.put_bucket_lifecycle_configuration(
        Bucket=names.upload_bucket,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "expire-uploads",
                    "Status": "Enabled",
                    "Filter": {"Prefix": ""},
                    "Expiration": {"Days": stack.LIFECYCLE_DAYS},
                    "NoncurrentVersionExpiration": {"NoncurrentDays": stack.LIFECYCLE_DAYS},
                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                }
            ]
        },
    )
    s3.put_bucket_lifecycle_configuration(
        Bucket=names.artifacts_bucket,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "expire-noncurrent",
                    "Status": "Enabled",
                    "Filter": {"Prefix": ""},
                    "NoncurrentVersionExpiration": {"NoncurrentDays": stack.LIFECYCLE_DAYS},
                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                }
            ]
        },
    )
    s3.put_bucket_cors(
        Bucket=names.upload_bucket,
        CORSConfiguration={
            "CORSRules": [
                {
                    "AllowedMethods": ["GET", "PUT", "POST", "HEAD"],
                    "AllowedOrigins": CORS_ORIGINS,
                    "AllowedHeaders": ["*"],
                    "ExposeHeaders": ["ETag"],
                    "MaxAgeSeconds": 3000,
                }
            ]
        },
    )
    s3.upload_file(str(model_tar), names.artifacts_bucket, stack.MODEL_ARTIFACT_KEY)

    # DynamoDB: on demand, TTL, point-in-time recovery, the two indexes history queries.
    attributes = {stack.TABLE_HASH_KEY, stack.TABLE_RANGE_KEY, *(k for pair in stack.INDEXES.values() for k in pair)}
    _ensure(
        ddb.create_table,
        TableName=names.results_table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in sorted(attributes)],
        KeySchema=[
            {"AttributeName": stack.TABLE_HASH_KEY, "KeyType": "HASH"},
            {"AttributeName": stack.TABLE_RANGE_KEY, "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": index,
                "KeySchema": [{"AttributeName": h, "KeyType": "HASH"}, {"AttributeName": r, "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "ALL"},
            }
            for index, (h, r) in stack.INDEXES.items()
        ],
        SSESpecification={"Enabled": True},
    )
    ddb.update_time_to_live(
        TableName=names.results_table,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": stack.TTL_ATTRIBUTE},
    )
    ddb.update_continuous_backups(
        TableName=names.results_table,
        PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
    )

    # CloudWatch Logs and the Lambda function.
    _ensure(logs.create_log_group, logGroupName=names.lambda_log_group)
    logs.put_retention_policy(logGroupName=names.lambda_log_group, retentionInDays=stack.LOG_RETENTION_DAYS)
    endpoint_log_group = f"/aws/sagemaker/Endpoints/{names.sagemaker_endpoint}"
    _ensure(logs.create_log_group, logGroupName=endpoint_log_group)
    logs.put_retention_policy(logGroupName=endpoint_log_group, retentionInDays=stack.LOG_RETENTION_DAYS)
    _ensure(
        lam.create_function,
        FunctionName=names.lambda_function,
        Runtime=stack.LAMBDA_RUNTIME,
        Role=lambda_role,
        Handler="lambda_function.lambda_handler",
        Code={"ZipFile": lambda_zip()},
        MemorySize=stack.LAMBDA_MEMORY_MB,
        Timeout=stack.LAMBDA_TIMEOUT_S,
        Environment={
            "Variables": {
                "TABLE_NAME": names.results_table,
                "UPLOAD_PREFIX": stack.UPLOAD_PREFIX,
                "TTL_DAYS": str(ttl_days),
            }
        },
    )

    # SageMaker: model from the artifact in S3, serverless endpoint config, endpoint.
    _ensure(
        sm.create_model,
        ModelName=names.sagemaker_model,
        ExecutionRoleArn=sagemaker_role,
        PrimaryContainer={
            "Image": PYTORCH_INFERENCE_IMAGE.format(region=region),
            "ModelDataUrl": f"s3://{names.artifacts_bucket}/{stack.MODEL_ARTIFACT_KEY}",
            "Environment": {
                "SAGEMAKER_PROGRAM": "inference.py",
                "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
                "SAGEMAKER_REGION": region,
            },
        },
    )
    _ensure(
        sm.create_endpoint_config,
        EndpointConfigName=names.sagemaker_endpoint_config,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": names.sagemaker_model,
                "ServerlessConfig": {
                    "MemorySizeInMB": stack.SAGEMAKER_MEMORY_MB,
                    "MaxConcurrency": stack.SAGEMAKER_MAX_CONCURRENCY,
                },
            }
        ],
    )
    _ensure(sm.create_endpoint, EndpointName=names.sagemaker_endpoint, EndpointConfigName=names.sagemaker_endpoint_config)

    # SNS, KMS and CloudWatch: the alarm topic with its key, every alarm of terraform/aws/modules/alarms (on the
    # endpoint, the function, each Bedrock model, and per enabled target) and the dashboard.
    if alarm_targets is None:
        alarm_targets, alarm_period_s = settings_alarm_targets()
    provision_alarms(conn, alarm_targets, alarm_period_s)

    # Local only: S3 cannot invoke Lambda code here (no Docker), so uploads notify a queue the runner polls.
    queue_url = sqs.create_queue(QueueName=names.events_queue)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return LocalStack(
        names=names,
        region=region,
        account_id=account,
        lambda_role_arn=lambda_role,
        sagemaker_role_arn=sagemaker_role,
        bedrock_batch_role_arn=batch_role,
        queue_url=queue_url,
        queue_arn=queue_arn,
    )


def settings_alarm_targets(cwd: Path | None = None) -> tuple[dict[str, str], int]:
    """The enabled targets (id -> service) and the local alarm period, from this process's settings and
    catalogue; no targets (logged) when the catalogue cannot be read."""
    from ..config import Settings

    settings = Settings.load()
    try:
        return alarms.enabled_targets(settings, cwd), settings.local_alarm_period_s
    except MCVError as exc:
        log.warning("no target alarms provisioned: the catalogue cannot be read (%s)", exc.user_text())
        return {}, settings.local_alarm_period_s


def _shell_cwd() -> Path | None:
    """The folder `local up` ran in (the daemon's PWD), whose catalogue the alarms follow (as daemon.py reads it)."""
    pwd = os.environ.get("PWD")
    return Path(pwd) if pwd and Path(pwd).is_dir() else None


def settings_bedrock_model_ids(cwd: Path | None = None) -> list[str]:
    """Terraform's bedrock_model_ids for this process's settings and catalogue (alarms.bedrock_model_ids); the
    settings' model alone (logged) when the catalogue cannot be read."""
    from ..config import Settings

    settings = Settings.load()
    try:
        return alarms.bedrock_model_ids(settings, cwd)
    except MCVError as exc:
        log.warning("Bedrock alarms for %s only: the catalogue cannot be read (%s)", settings.bedrock_model_id, exc.user_text())
        return [settings.bedrock_model_id]


def alarms_key_policy(account_id: str, region: str, partition: str = "aws") -> dict[str, Any]:
    """The topic key's policy, as main.tf's data.aws_iam_policy_document.alarms_key makes it: the account
    administers the key (named operations, no use of it), CloudWatch may use it for this account's
    <prefix>-* alarms."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountAdministersTheKey",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
                "Action": [
                    "kms:CancelKeyDeletion",
                    "kms:DescribeKey",
                    "kms:DisableKey",
                    "kms:DisableKeyRotation",
                    "kms:EnableKey",
                    "kms:EnableKeyRotation",
                    "kms:GetKeyPolicy",
                    "kms:GetKeyRotationStatus",
                    "kms:ListResourceTags",
                    "kms:PutKeyPolicy",
                    "kms:ScheduleKeyDeletion",
                    "kms:TagResource",
                    "kms:UntagResource",
                    "kms:UpdateKeyDescription",
                ],
                "Resource": "*",
                "Condition": {"StringEquals": {"kms:CallerAccount": account_id}},
            },
            {
                "Sid": "CloudWatchAlarmsPublish",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account_id},
                    "ArnLike": {"aws:SourceArn": f"arn:{partition}:cloudwatch:{region}:{account_id}:alarm:{alarms.PREFIX}-*"},
                },
            },
        ],
    }


def provision_topic(conn: Connection) -> str:
    """The alarm topic, encrypted with a KMS key of its own (main.tf's aws_kms_key.alarms and
    aws_sns_topic.alarms); returns its ARN. A topic whose key exists keeps it; only what differs is written, so
    that a `local provision` on a running cloud records (and a later start replays) no new key."""
    sns, kms = _client(conn, "sns"), _client(conn, "kms")
    arn = alarms.topic_arn(conn.region, conn.account_id)
    policy = alarms_key_policy(conn.account_id, conn.region)
    try:
        attributes: dict[str, str] | None = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("NotFound", "NotFoundException"):
            raise
        attributes = None
    key = (attributes or {}).get("KmsMasterKeyId", "")
    usable = False
    if key:
        try:
            usable = kms.describe_key(KeyId=key)["KeyMetadata"].get("KeyState") == "Enabled"
        except ClientError:
            usable = False
    if usable:
        if json.loads(kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"]) != policy:
            kms.put_key_policy(KeyId=key, PolicyName="default", Policy=json.dumps(policy))
    else:
        key = kms.create_key(Description=alarms.TOPIC_KEY_DESCRIPTION, Policy=json.dumps(policy))["KeyMetadata"]["Arn"]
    if not kms.get_key_rotation_status(KeyId=key).get("KeyRotationEnabled"):
        kms.enable_key_rotation(KeyId=key)
    wanted = {"DisplayName": alarms.TOPIC_DISPLAY_NAME, "KmsMasterKeyId": key}
    if attributes is None:
        return sns.create_topic(Name=alarms.TOPIC_NAME, Attributes=wanted)["TopicArn"]
    for name, value in wanted.items():
        if attributes.get(name) != value:
            sns.set_topic_attributes(TopicArn=arn, AttributeName=name, AttributeValue=value)
    return arn


def _alarms_now(cloudwatch: Any, prefix: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for page in cloudwatch.get_paginator("describe_alarms").paginate(AlarmNamePrefix=prefix, AlarmTypes=["MetricAlarm"]):
        found.update({a["AlarmName"]: a for a in page.get("MetricAlarms") or ()})
    return found


def provision_alarms(
    conn: Connection,
    targets: Mapping[str, str],
    period_s: int | None = None,
    *,
    bedrock_model_ids: list[str] | None = None,
) -> list[str]:
    """Put terraform/aws/modules/alarms into the local cloud: the topic with its key, every alarm (on the
    endpoint, the function, each of `bedrock_model_ids`, and per target of `targets` with period `period_s`), each
    notifying the topic on ALARM and on OK, and the dashboard; delete the alarms of models and targets no longer
    wanted, as `terraform apply` would. Returns the alarms' names. `bedrock_model_ids` None reads them from this
    process's settings and catalogue.

    An alarm that existed keeps its state, as PutMetricAlarm keeps it in AWS; a new one starts in
    INSUFFICIENT_DATA, as in AWS (moto would start it in OK). The evaluator (alarm_evaluator.py) does the rest."""
    if bedrock_model_ids is None:
        bedrock_model_ids = settings_bedrock_model_ids(_shell_cwd())
    topic = provision_topic(conn)
    cloudwatch = _client(conn, "cloudwatch")
    wanted = alarms.local_alarms(conn.region, conn.account_id, targets, bedrock_model_ids, period_s)
    if any(d.actions != (topic,) for d in wanted):  # the topic's ARN as moto made it
        wanted = [replace(d, actions=(topic,)) for d in wanted]
    before = {name: a for name, a in _alarms_now(cloudwatch, f"{alarms.PREFIX}-").items() if alarms.is_managed(name)}
    for definition in wanted:
        cloudwatch.put_metric_alarm(**definition.put_kwargs())
        old = before.get(definition.name)
        fresh = old is None or (old.get("StateValue") == "OK" and old.get("StateReason") == alarms.INITIAL_REASON)
        if fresh:
            cloudwatch.set_alarm_state(AlarmName=definition.name, StateValue="INSUFFICIENT_DATA", StateReason=alarms.INITIAL_REASON)
        else:
            cloudwatch.set_alarm_state(
                AlarmName=definition.name,
                StateValue=old["StateValue"],
                StateReason=old.get("StateReason") or "kept at provisioning",
                **({"StateReasonData": old["StateReasonData"]} if old.get("StateReasonData") else {}),
            )
    stale = sorted(set(before) - {d.name for d in wanted})
    if stale:
        cloudwatch.delete_alarms(AlarmNames=stale)
    body = json.dumps(alarms.dashboard_body(wanted, conn.region))
    try:
        current = cloudwatch.get_dashboard(DashboardName=alarms.DASHBOARD_NAME)["DashboardBody"]
    except ClientError:
        current = None
    if current is None or json.loads(current) != json.loads(body):
        cloudwatch.put_dashboard(DashboardName=alarms.DASHBOARD_NAME, DashboardBody=body)
    return [d.name for d in wanted]


def connect_events(conn: Connection, local: LocalStack) -> None:
    """Upload bucket -> events queue. Done after the replay so that replayed uploads are not re-announced."""
    _client(conn, "s3").put_bucket_notification_configuration(
        Bucket=local.names.upload_bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "Id": "uploads-to-local-lambda-runner",
                    "QueueArn": local.queue_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": stack.UPLOAD_PREFIX}]}},
                }
            ]
        },
    )


def lambda_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo("lambda_function.py", date_time=(2024, 1, 1, 0, 0, 0))
        info.external_attr = 0o644 << 16
        archive.writestr(info, LAMBDA_SOURCE.read_bytes())
    return buffer.getvalue()


def _output(value: Any, sensitive: bool = False) -> dict[str, Any]:
    kind: Any = "string" if isinstance(value, str) else "number"
    return {"sensitive": sensitive, "type": kind, "value": value}


def write_outputs(data_dir: Path, conn: Connection, local: LocalStack, azure_deployment: str, azure_batch_deployment: str = "") -> None:
    """outputs/aws.json and outputs/azure.json, as `terraform output -json` prints them (no secret values)."""
    names = local.names
    region, account = local.region, local.account_id
    aws = {
        "region": _output(region),
        "upload_bucket_name": _output(names.upload_bucket),
        "upload_bucket_arn": _output(f"arn:aws:s3:::{names.upload_bucket}"),
        "artifacts_bucket_name": _output(names.artifacts_bucket),
        "results_table_name": _output(names.results_table),
        "results_table_arn": _output(f"arn:aws:dynamodb:{region}:{account}:table/{names.results_table}"),
        "lambda_function_name": _output(names.lambda_function),
        "lambda_log_group_name": _output(names.lambda_log_group),
        "sagemaker_endpoint_name": _output(names.sagemaker_endpoint),
        "sagemaker_model_name": _output(names.sagemaker_model),
        "bedrock_model_id": _output(stack.DEFAULT_BEDROCK_MODEL_ID),
        "bedrock_batch_role_arn": _output(f"arn:aws:iam::{account}:role/{names.bedrock_batch_role}"),
        "sagemaker_transform_instance_type": _output(stack.TRANSFORM_INSTANCE_TYPE),
    }
    azure = {
        "azure_openai_endpoint": _output(conn.azure_endpoint),
        "azure_openai_deployment": _output(azure_deployment),
        "azure_openai_batch_deployment": _output(azure_batch_deployment),
        # Named as terraform names it, but not copied here: the key stays in the local cloud's credentials file
        # (local/credentials.json), the one file that holds it.
        "azure_openai_api_key": _output("", sensitive=True),
    }
    out = outputs_dir(data_dir)
    write_json_atomic(out / "aws.json", aws)
    write_json_atomic(out / "azure.json", azure, mode=0o600)
