"""Issue 15, item 3, on the session's local cloud: after a start, moto holds what terraform/aws/modules/alarms
makes — the topic `mc-vision-alarms` encrypted with a KMS key of its own, every alarm (on the endpoint, the
function, each Bedrock model and per enabled target) notifying the topic on ALARM and on OK, and the dashboard
with one graph per alarm; the alarms on AWS's metrics, which nothing publishes locally, take the state their
missing-data treatment gives, and say why; a restart after a `local provision` keeps the topic's key."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest

from mcv_core import alarms
from mcv_core.local import control
from mcv_core.local.provision import alarms_key_policy, provision_alarms

pytestmark = pytest.mark.timeout(300)


def client(conn: Any, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=conn.moto_url,
        region_name=conn.region,
        aws_access_key_id=conn.access_key_id,
        aws_secret_access_key=conn.secret_access_key,
    )


def expected(settings: Any, conn: Any) -> list[alarms.AlarmDefinition]:
    return alarms.local_alarms(
        conn.region,
        conn.account_id,
        alarms.enabled_targets(settings),
        alarms.bedrock_model_ids(settings),
        settings.local_alarm_period_s,
    )


def described(conn: Any) -> dict[str, dict[str, Any]]:
    pages = client(conn, "cloudwatch").get_paginator("describe_alarms").paginate(AlarmNamePrefix=f"{alarms.PREFIX}-")
    return {a["AlarmName"]: a for page in pages for a in page["MetricAlarms"]}


def topic_keys(conn: Any) -> list[str]:
    """The keys made for the topic (moto also makes an AWS managed key for the encrypted table)."""
    kms = client(conn, "kms")
    ids = [k["KeyId"] for k in kms.list_keys()["Keys"]]
    return [i for i in ids if kms.describe_key(KeyId=i)["KeyMetadata"].get("Description") == alarms.TOPIC_KEY_DESCRIPTION]


def check_topic(conn: Any) -> str:
    topic = alarms.topic_arn(conn.region, conn.account_id)
    attributes = client(conn, "sns").get_topic_attributes(TopicArn=topic)["Attributes"]
    assert attributes["DisplayName"] == alarms.TOPIC_DISPLAY_NAME
    key = attributes["KmsMasterKeyId"]
    kms = client(conn, "kms")
    meta = kms.describe_key(KeyId=key)["KeyMetadata"]
    assert meta["Arn"] == key and meta["KeyState"] == "Enabled" and meta["KeyManager"] == "CUSTOMER"
    assert meta["Description"] == alarms.TOPIC_KEY_DESCRIPTION
    assert kms.get_key_rotation_status(KeyId=key)["KeyRotationEnabled"] is True
    policy = json.loads(kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"])
    assert policy == alarms_key_policy(conn.account_id, conn.region)
    return topic


def test_the_topic_every_alarm_and_the_dashboard_exist_after_start(local_settings) -> None:  # noqa: ANN001
    conn = control.running(local_settings)
    topic = check_topic(conn)
    wanted = expected(local_settings, conn)
    found = described(conn)
    assert {d.name for d in wanted} <= set(found)
    assert {n for n in found if alarms.is_managed(n)} == {d.name for d in wanted}
    kinds = {d.kind for d in wanted}
    assert kinds == {k.kind for k in alarms.KINDS}  # every family: SageMaker, Lambda, Bedrock, per target
    for d in wanted:
        item = found[d.name]
        assert item["AlarmActions"] == [topic] and item["OKActions"] == [topic], d.name
        assert item["ActionsEnabled"] is True
        assert (item["Namespace"], item["MetricName"], item["Dimensions"]) == (d.namespace, d.metric_name, d.dimensions), d.name
        assert (item.get("ExtendedStatistic") or item.get("Statistic")) == d.statistic, d.name
        assert (item["Threshold"], item["Period"], item["EvaluationPeriods"], item["DatapointsToAlarm"]) == (
            d.threshold,
            d.period_s,
            d.evaluation_periods,
            d.datapoints_to_alarm,
        ), d.name
        assert (item["ComparisonOperator"], item["TreatMissingData"]) == (d.comparison_operator, d.treat_missing_data)
    body = json.loads(client(conn, "cloudwatch").get_dashboard(DashboardName=alarms.DASHBOARD_NAME)["DashboardBody"])
    assert body == alarms.dashboard_body(wanted, conn.region)
    assert [w["properties"]["title"] for w in body["widgets"]] == [d.name for d in sorted(wanted, key=lambda d: d.key)]


def test_service_alarms_take_their_missing_data_state_and_say_why(workbench) -> None:  # noqa: ANN001
    conn = control.running(workbench.settings)
    service = [d for d in expected(workbench.settings, conn) if d.namespace.startswith(alarms.SERVICE_NAMESPACE_PREFIX)]
    assert service
    # The evaluator runs every minute (these alarms' periods are 300 s): by then counts are OK (notBreaching, no
    # data at all), latencies INSUFFICIENT_DATA (missing).
    want = {d.name: ("OK" if d.treat_missing_data == "notBreaching" else "INSUFFICIENT_DATA") for d in service}
    deadline = time.monotonic() + 150
    while True:
        states = {a.name: a for a in alarms.status(workbench)}
        if all(states[name].state == state for name, state in want.items()) or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert {name: states[name].state for name in want} == want
    for name in want:
        assert states[name].reason.endswith(alarms.LOCAL_SERVICE_NOTE), states[name].reason
    assert not any(alarms.LOCAL_SERVICE_NOTE in a.reason for a in states.values() if a.name.startswith(alarms.TARGET_ALARM_PREFIX))


def test_a_restart_after_local_provision_keeps_the_topic_key_and_the_alarms(local_settings) -> None:  # noqa: ANN001
    conn = control.running(local_settings)
    key_before = client(conn, "sns").get_topic_attributes(TopicArn=alarms.topic_arn(conn.region, conn.account_id))["Attributes"]["KmsMasterKeyId"]
    # As `local provision` does on a running cloud (recorded, so replayed at the next start): nothing changes.
    provision_alarms(conn, alarms.enabled_targets(local_settings), local_settings.local_alarm_period_s)
    assert topic_keys(conn) == [key_before.rsplit("/", 1)[1]]  # no new key: the topic's is kept
    control.down(local_settings)
    conn = control.up(local_settings, quiet=True)
    topic = check_topic(conn)  # the topic's key exists after the replay
    assert len(topic_keys(conn)) == 1
    wanted = expected(local_settings, conn)
    found = described(conn)
    assert all(found[d.name]["AlarmActions"] == [topic] for d in wanted)
    body = json.loads(client(conn, "cloudwatch").get_dashboard(DashboardName=alarms.DASHBOARD_NAME)["DashboardBody"])
    assert body == alarms.dashboard_body(wanted, conn.region)
