"""Which recorded moto requests are replayed at start, and how the recording is compacted.

The lines below have the shape moto 5's recorder writes in server mode (moto/moto_api/_internal/recorder):
{"headers": {...}, "method": ..., "url": <raw url>, "body": ..., "body_encoded": ...}. The server reads every
request body from wsgi.input as bytes, so a body is base64 with body_encoded true; a request without a body
(GET, HEAD) has body "" and body_encoded false. Headers are as botocore sent them.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from mcv_core.local import aws_server
from mcv_core.local.aws_server import compact_recording, is_worth_replaying

MOTO = "http://127.0.0.1:34869"


def _authorization(service: str) -> str:
    return (
        f"AWS4-HMAC-SHA256 Credential=AKIAMCVTESTKEY000001/20261125/ap-northeast-1/{service}/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date, Signature=58aea38bb39a02e2dbc00c6d6e2f18f914ab3430e061aef6725a195a4f55cd0e"
    )


def entry(
    service: str,
    method: str = "POST",
    path: str = "/",
    *,
    target: str | None = None,
    body: bytes | None = None,
    encoded: bool = True,
    content_type: str = "application/x-amz-json-1.0",
) -> dict[str, Any]:
    """One recorded request as moto's recorder writes it (encoded=False: a body kept as text)."""
    headers = {
        "Host": "127.0.0.1:34869",
        "Accept-Encoding": "identity",
        "Content-Type": content_type,
        "User-Agent": "Boto3/1.44.8 md/Botocore#1.44.8 ua/2.1 Botocore/1.44.8",
        "X-Amz-Date": "20261125T024445Z",
        "Authorization": _authorization(service),
        "Amz-Sdk-Invocation-Id": "e8077f51-fffa-44f9-a018-14f23461ce76",
        "Amz-Sdk-Request": "attempt=1; max=3",
    }
    if target is not None:
        headers["X-Amz-Target"] = target
    if body is None:
        recorded_body, body_encoded = "", False
    else:
        headers["Content-Length"] = str(len(body))
        recorded_body, body_encoded = (base64.b64encode(body).decode("ascii"), True) if encoded else (body.decode(), False)
    return {"headers": headers, "method": method, "url": f"{MOTO}{path}", "body": recorded_body, "body_encoded": body_encoded}


def dynamodb(action: str) -> dict[str, Any]:
    body = json.dumps({"TableName": "mc-vision-results", "Key": {"pk": {"S": "RUN#1"}, "sk": {"S": "RUN"}}}).encode()
    return entry("dynamodb", target=f"DynamoDB_20120810.{action}", body=body)


def query_protocol(service: str, action: str, params: str, *, encoded: bool = True) -> dict[str, Any]:
    body = f"Action={action}&Version=2010-05-08&{params}".encode()
    return entry(service, body=body, encoded=encoded, content_type="application/x-www-form-urlencoded; charset=utf-8")


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) + b"\xff\xd9"
OBJECT = "/mc-vision-uploads-123456789012/uploads/2026/11/25/9f2c.jpg"


# --- is_worth_replaying --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "action",
    ["PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "CreateTable", "UpdateTable", "UpdateTimeToLive"],
)
def test_dynamodb_writes_are_kept(action: str) -> None:
    assert is_worth_replaying(dynamodb(action)) is True


@pytest.mark.parametrize("action", ["GetItem", "BatchGetItem", "Query", "Scan", "DescribeTable", "DescribeTimeToLive", "ListTables"])
def test_dynamodb_reads_are_dropped(action: str) -> None:
    assert is_worth_replaying(dynamodb(action)) is False


def test_s3_put_object_is_kept() -> None:
    line = entry("s3", "PUT", OBJECT, body=JPEG, content_type="image/jpeg")
    assert line["body_encoded"] is True
    assert is_worth_replaying(line) is True


def test_s3_create_bucket_and_delete_object_are_kept() -> None:
    config = b'<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LocationConstraint>ap-northeast-1</LocationConstraint></CreateBucketConfiguration>'
    assert is_worth_replaying(entry("s3", "PUT", "/mc-vision-uploads-123456789012", body=config, content_type="")) is True
    assert is_worth_replaying(entry("s3", "DELETE", OBJECT)) is True


@pytest.mark.parametrize("method", ["GET", "HEAD", "get", "OPTIONS"])
def test_s3_reads_are_dropped(method: str) -> None:
    assert is_worth_replaying(entry("s3", method, OBJECT)) is False


@pytest.mark.parametrize("action", ["SendMessage", "CreateQueue", "ReceiveMessage", "DeleteMessage", "SetQueueAttributes"])
def test_sqs_json_protocol_is_dropped(action: str) -> None:
    line = entry("sqs", target=f"AmazonSQS.{action}", body=json.dumps({"QueueUrl": f"{MOTO}/123456789012/q"}).encode())
    assert is_worth_replaying(line) is False


@pytest.mark.parametrize("encoded", [True, False], ids=["base64-body", "text-body"])
@pytest.mark.parametrize("action", ["SendMessage", "CreateQueue", "DeleteMessage"])
def test_sqs_query_protocol_is_dropped_by_its_credential_scope(action: str, encoded: bool) -> None:
    line = query_protocol("sqs", action, "QueueUrl=http%3A%2F%2F127.0.0.1%3A34869%2F123456789012%2Fq&MessageBody=hi", encoded=encoded)
    assert "X-Amz-Target" not in line["headers"]
    assert is_worth_replaying(line) is False


@pytest.mark.parametrize("action", ["CreateRole", "PutRolePolicy", "AttachRolePolicy"])
@pytest.mark.parametrize("encoded", [True, False], ids=["base64-body", "text-body"])
def test_iam_query_protocol_writes_are_kept(action: str, encoded: bool) -> None:
    line = query_protocol("iam", action, "RoleName=mc-vision-lambda&AssumeRolePolicyDocument=%7B%7D", encoded=encoded)
    assert is_worth_replaying(line) is True


@pytest.mark.parametrize("action", ["GetRole", "ListRoles", "GetRolePolicy"])
def test_iam_query_protocol_reads_with_a_text_body_are_dropped(action: str) -> None:
    assert is_worth_replaying(query_protocol("iam", action, "RoleName=mc-vision-lambda", encoded=False)) is False


@pytest.mark.parametrize("action", ["GetRole", "ListRoles", "GetRolePolicy"])
def test_iam_query_protocol_reads_as_moto_records_them_are_dropped(action: str) -> None:
    line = query_protocol("iam", action, "RoleName=mc-vision-lambda")
    assert line["body_encoded"] is True
    assert is_worth_replaying(line) is False


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        (entry("logs", target="Logs_20140328.CreateLogGroup", body=b'{"logGroupName": "/aws/lambda/x"}', content_type="application/x-amz-json-1.1"), True),
        (entry("logs", target="Logs_20140328.PutLogEvents", body=b'{"logGroupName": "/aws/lambda/x"}', content_type="application/x-amz-json-1.1"), True),
        (entry("logs", target="Logs_20140328.FilterLogEvents", body=b'{"logGroupName": "/aws/lambda/x"}', content_type="application/x-amz-json-1.1"), False),
        (entry("sagemaker", target="SageMaker.CreateEndpoint", body=b'{"EndpointName": "e"}', content_type="application/x-amz-json-1.1"), True),
        (entry("sagemaker", target="SageMaker.DescribeEndpoint", body=b'{"EndpointName": "e"}', content_type="application/x-amz-json-1.1"), False),
        (entry("lambda", "GET", "/2015-03-31/functions/"), False),
        (entry("lambda", "POST", "/2015-03-31/functions", body=b'{"FunctionName": "f"}', content_type="application/json"), True),
    ],
    ids=["logs-create-group", "logs-put-events", "logs-filter", "sagemaker-create", "sagemaker-describe", "lambda-list", "lambda-create"],
)
def test_other_services(line: dict[str, Any], kept: bool) -> None:
    assert is_worth_replaying(line) is kept


def test_header_names_are_matched_case_insensitively() -> None:
    line = dynamodb("GetItem")
    line["headers"] = {name.lower(): value for name, value in line["headers"].items()}
    assert is_worth_replaying(line) is False


# --- compact_recording ---------------------------------------------------------------------------------


def _write(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines))


KEEP = [
    json.dumps(query_protocol("iam", "CreateRole", "RoleName=mc-vision-lambda&AssumeRolePolicyDocument=%7B%7D")),
    json.dumps(dynamodb("CreateTable")),
    json.dumps(entry("s3", "PUT", OBJECT, body=JPEG, content_type="image/jpeg")),
    json.dumps(dynamodb("PutItem")),
    json.dumps(dynamodb("UpdateTable")),
    json.dumps(dynamodb("DeleteItem")),
]
DROP = [
    json.dumps(dynamodb("GetItem")),
    json.dumps(dynamodb("Query")),
    json.dumps(dynamodb("Scan")),
    json.dumps(dynamodb("DescribeTable")),
    json.dumps(entry("s3", "GET", OBJECT)),
    json.dumps(entry("s3", "HEAD", OBJECT)),
    json.dumps(entry("sqs", target="AmazonSQS.SendMessage", body=b'{"MessageBody": "{}"}')),
    json.dumps(query_protocol("sqs", "SendMessage", "MessageBody=hi")),
]


def _mixed() -> list[str]:
    """Keeps and drops interleaved, in a fixed order, as a session would record them."""
    lines: list[str] = []
    for i in range(max(len(KEEP), len(DROP))):
        lines += KEEP[i : i + 1] + DROP[i : i + 1]
    return lines


def test_compaction_keeps_the_writes_in_order_and_drops_a_truncated_last_line(tmp_path: Path) -> None:
    path = tmp_path / "moto" / "recording.jsonl"
    truncated = json.dumps(dynamodb("PutItem"))[:57]  # moto died while appending
    _write(path, _mixed() + [truncated])
    assert compact_recording(path) == (len(KEEP), len(DROP) + 1)
    assert path.read_text() == "".join(f"{line}\n" for line in KEEP)


def test_blank_lines_are_neither_kept_nor_counted(tmp_path: Path) -> None:
    path = tmp_path / "recording.jsonl"
    path.write_text(f"\n{KEEP[0]}\n\n   \n{DROP[0]}\n")
    assert compact_recording(path) == (1, 1)
    assert path.read_text() == f"{KEEP[0]}\n"


def test_compaction_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "recording.jsonl"
    _write(path, _mixed() + ['{"headers": {"X-Amz-Target": "DynamoDB_2012'])
    first = compact_recording(path)
    after_first = path.read_bytes()
    assert compact_recording(path) == (first[0], 0)
    assert path.read_bytes() == after_first
    assert [json.loads(line) for line in after_first.decode().splitlines()] == [json.loads(line) for line in KEEP]


def test_a_missing_recording_is_nothing_to_do(tmp_path: Path) -> None:
    path = tmp_path / "recording.jsonl"
    assert compact_recording(path) == (0, 0)
    assert not path.exists()


def test_a_recording_of_reads_only_becomes_empty(tmp_path: Path) -> None:
    path = tmp_path / "recording.jsonl"
    _write(path, DROP)
    assert compact_recording(path) == (0, len(DROP))
    assert path.read_text() == ""


def test_a_crash_before_the_rename_leaves_the_old_recording(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "recording.jsonl"
    _write(path, _mixed())
    before = path.read_bytes()

    def crash(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(aws_server.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        compact_recording(path)
    assert path.read_bytes() == before


def test_a_crash_while_writing_leaves_the_old_recording(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "recording.jsonl"
    _write(path, _mixed())
    before = path.read_bytes()
    real_write_text = Path.write_text

    def half_then_crash(self: Path, data: str, *args: object, **kwargs: object) -> int:
        real_write_text(self, data[: len(data) // 2])
        raise OSError("killed mid-write")

    monkeypatch.setattr(Path, "write_text", half_then_crash)
    with pytest.raises(OSError, match="killed mid-write"):
        compact_recording(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    # The next start compacts from the intact recording as if nothing had happened.
    assert compact_recording(path) == (len(KEEP), len(DROP))
    assert path.read_text() == "".join(f"{line}\n" for line in KEEP)


def test_bucket_notification_is_not_replayed() -> None:
    """Connected after every replay: replaying it would announce later replayed uploads again."""
    entry = {
        "method": "PUT",
        "url": "http://127.0.0.1:5000/mc-vision-uploads-123456789012?notification",
        "headers": {"Authorization": "AWS4-HMAC-SHA256 Credential=AKIA/20261125/ap-northeast-1/s3/aws4_request"},
        "body": "",
        "body_encoded": False,
    }
    assert is_worth_replaying(entry) is False
    assert is_worth_replaying({**entry, "url": "http://127.0.0.1:5000/mc-vision-uploads-123456789012/uploads/a.jpg"}) is True


def test_two_requests_on_one_line_are_both_kept(tmp_path: Path) -> None:
    """moto writes an entry and its newline apart: a small entry from another thread can land between a large
    entry (an upload of megabytes goes to the file at once) and its newline. Both requests happened."""
    path = tmp_path / "recording.jsonl"
    upload = json.dumps(entry("s3", "PUT", OBJECT, body=b"x" * 3_000_000, content_type="application/jsonl"))
    path.write_text(f"{KEEP[0]}\n{upload}{DROP[0]}\n\n{KEEP[1]}{KEEP[3]}\n{KEEP[2]} {DROP[1][:40]}\n")
    assert compact_recording(path) == (5, 2)  # a read, and the tail a crash cut short
    assert path.read_text().splitlines() == [KEEP[0], upload, KEEP[1], KEEP[3], KEEP[2]]


@pytest.mark.parametrize(
    "recorded, replayed",
    [
        (entry("monitoring", path="/service/GraniteServiceVersion20100801/operation/PutMetricData", body=b"\xbf\xff",
               content_type="application/cbor"), False),  # botocore's CBOR protocol names the operation in the path
        (query_protocol("monitoring", "PutMetricData", "Namespace=MCVision"), False),
        (query_protocol("monitoring", "PutMetricAlarm", "AlarmName=mc-vision-errors"), True),
    ],
    ids=["metrics-cbor", "metrics-query", "alarm"],
)  # fmt: skip
def test_metrics_are_transient_alarms_are_not(recorded: dict[str, Any], replayed: bool) -> None:
    assert is_worth_replaying(recorded) is replayed
