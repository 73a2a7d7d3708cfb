"""The event path on a real local cloud: upload -> S3 notification -> events queue -> runner -> the Lambda handler
in its own execution environment -> an image item in DynamoDB and Lambda-shaped logs in CloudWatch Logs."""

from __future__ import annotations

import dataclasses
import io
import json
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
from PIL import Image

from mcv_core.local import control
from mcv_core.local.lambda_runner import LambdaRunner
from mcv_core.local.provision import LocalStack
from mcv_core.local.state import recording_path
from mcv_core.stack import StackNames

pytestmark = pytest.mark.timeout(600)
WAIT_S = 90.0  # bound on every wait below; nothing is asserted about how long it took


def wait_for(probe: Callable[[], Any], what: str, timeout: float = WAIT_S, step: float = 0.2) -> Any:
    """The first truthy value of probe(); fails naming `what` when there is none within the bound."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {timeout:g} s")
        time.sleep(step)


def unique_jpeg(width: int = 83, height: int = 59) -> bytes:
    # Uploads are content addressed: fresh pixels make a key no other test (or earlier run) has touched.
    pixels = np.random.default_rng(uuid.uuid4().int).integers(0, 256, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


@pytest.fixture
def cloud(workbench, local_settings):  # noqa: ANN001, ANN201
    """Clients and names of the running local cloud (read again for each test: a test may restart it)."""
    conn = control.running(local_settings)
    assert conn is not None
    names = StackNames.for_account(conn.account_id)
    clients = workbench.clients
    return {
        "conn": conn,
        "names": names,
        "s3": clients.aws("s3"),
        "ddb": clients.aws("dynamodb"),
        "logs": clients.aws("logs"),
        "sqs": clients.aws("sqs"),
    }


def image_item(cloud: dict[str, Any], key: str) -> dict[str, Any] | None:
    return cloud["ddb"].get_item(
        TableName=cloud["names"].results_table, Key={"pk": {"S": f"IMAGE#{key}"}, "sk": {"S": "META"}}
    ).get("Item")


def handler_lines(cloud: dict[str, Any], key: str, log_group: str | None = None) -> list[dict[str, Any]]:
    """The handler's JSON lines about `key` in the function's log group, each with the stream it is in."""
    group = log_group or cloud["names"].lambda_log_group
    found, token = [], None
    while True:
        kwargs = {"logGroupName": group, **({"nextToken": token} if token else {})}
        page = cloud["logs"].filter_log_events(**kwargs)
        for event in page["events"]:
            if event["message"].startswith("{"):
                line = json.loads(event["message"])
                if line.get("key") == key:
                    found.append({**line, "_stream": event["logStreamName"]})
        token = page.get("nextToken")
        if not token:
            return found


def stream_messages(cloud: dict[str, Any], stream: str, log_group: str | None = None) -> list[str]:
    group = log_group or cloud["names"].lambda_log_group
    messages, token = [], None
    while True:
        kwargs = {"logGroupName": group, "logStreamName": stream, "startFromHead": True, **({"nextToken": token} if token else {})}
        page = cloud["logs"].get_log_events(**kwargs)
        messages.extend(event["message"] for event in page["events"])
        if not page["events"] or page.get("nextForwardToken") == token:
            return messages
        token = page.get("nextForwardToken")


def lambda_status(cloud: dict[str, Any]) -> dict[str, Any]:
    return control.admin(cloud["conn"], "GET", "/status")["components"]["lambda"]


def test_app_upload_is_recorded_and_logged_as_lambda_logs(workbench, cloud):
    data = unique_jpeg(83, 59)
    image = workbench.load_image(data, "noise.jpg")
    key = workbench.store.upload(image)

    item = wait_for(lambda: image_item(cloud, key), f"image item for {key}")
    assert item["type"] == {"S": "image"} and item["bucket"] == {"S": cloud["names"].upload_bucket}
    assert (item["image_format"]["S"], item["image_width"]["N"], item["image_height"]["N"]) == ("JPEG", "83", "59")
    assert item["image_bytes"] == {"N": str(len(data))} and item["image_sha256"] == {"S": image.sha256}
    assert int(item["expires_at"]["N"]) > time.time() + 89 * 86400  # TTL_DAYS=90 from the function's configuration

    [line] = wait_for(lambda: handler_lines(cloud, key), f"handler log line for {key}")
    assert line["outcome"] == "stored" and line["bucket"] == cloud["names"].upload_bucket and line["size"] == len(data)
    assert (line["format"], line["width"], line["height"]) == ("JPEG", 83, 59)
    assert {"request_id", "duration_ms", "level"} <= line.keys()

    # START ... the handler's line ... END, REPORT: all of the same request, in one execution environment's stream.
    stream = line["_stream"]
    assert stream.split("/")[3].startswith("[$LATEST]") and len(stream.rsplit("]", 1)[1]) == 32
    messages = stream_messages(cloud, stream)
    rid = line["request_id"]
    at = next(i for i, m in enumerate(messages) if m.startswith("{") and json.loads(m).get("key") == key)
    start = max(i for i, m in enumerate(messages[:at]) if m.startswith("START RequestId: "))
    assert messages[start] == f"START RequestId: {rid} Version: $LATEST\n"
    end = next(i for i in range(at, len(messages)) if messages[i].startswith("END RequestId: "))
    assert messages[end] == f"END RequestId: {rid}\n"
    report = messages[end + 1]
    assert report.startswith(f"REPORT RequestId: {rid}\tDuration: ") and "\tMemory Size: 512 MB\t" in report
    assert "\tBilled Duration: " in report and "\tMax Memory Used: " in report
    cold = not any(m.startswith("REPORT ") for m in messages[:start])  # the environment's first invocation
    assert ("\tInit Duration: " in report) == cold


def test_non_image_in_uploads_is_logged_as_skipped_and_not_stored(cloud):
    key = f"uploads/tests/{uuid.uuid4().hex} notes.txt"
    cloud["s3"].put_object(Bucket=cloud["names"].upload_bucket, Key=key, Body=b"just some text\n" * 20)
    [line] = wait_for(lambda: handler_lines(cloud, key), f"handler log line for {key}")
    assert line["outcome"] == "skipped:not_an_image" and line["key"] == key and line["size"] == 300
    assert image_item(cloud, key) is None


def test_events_queued_while_the_runner_is_stopped_are_processed_when_it_starts(workbench, cloud):
    names = cloud["names"]
    queue_url = cloud["sqs"].get_queue_url(QueueName=names.events_queue)["QueueUrl"]
    status = control.admin(cloud["conn"], "POST", "/components/lambda/stop")
    try:
        assert status["components"]["lambda"]["running"] is False
        keys = [workbench.store.upload(workbench.load_image(unique_jpeg(), "queued.jpg")) for _ in range(2)]
        # S3 notified the queue and nobody consumes it: the events wait there, nothing is stored.
        attributes = cloud["sqs"].get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
        assert int(attributes["Attributes"]["ApproximateNumberOfMessages"]) >= 2
        assert all(image_item(cloud, key) is None for key in keys)
    finally:
        status = control.admin(cloud["conn"], "POST", "/components/lambda/start")
    assert status["components"]["lambda"]["running"] is True
    for key in keys:
        wait_for(lambda: image_item(cloud, key), f"image item for {key} queued while the runner was stopped")
        # The handler's log line is shipped to CloudWatch Logs after its item is written: wait for it too.
        lines = wait_for(lambda: handler_lines(cloud, key), f"handler log line for {key}")
        assert [line["outcome"] for line in lines] == ["stored"]


def test_a_restart_does_not_process_old_uploads_again(workbench, local_settings, cloud):
    names = cloud["names"]
    old_key = workbench.store.upload(workbench.load_image(unique_jpeg(), "old.jpg"))
    old_item = wait_for(lambda: image_item(cloud, old_key), f"image item for {old_key}")
    wait_for(lambda: handler_lines(cloud, old_key), f"handler log line for {old_key}")

    control.down(local_settings)
    cloud = {**cloud, "conn": control.up(local_settings, quiet=True)}

    # The notification is set after the replay and is not itself recorded: the replayed PutObject of old_key
    # announced nothing, and the next start will set it again the same way.
    notification = cloud["s3"].get_bucket_notification_configuration(Bucket=names.upload_bucket)
    assert [q["QueueArn"].rsplit(":", 1)[1] for q in notification["QueueConfigurations"]] == [names.events_queue]
    recorded = [json.loads(line) for line in recording_path(local_settings.data_dir).read_text().splitlines()]
    writes = [entry["url"] for entry in recorded if entry["method"] == "PUT"]
    assert any(old_key.rsplit("/", 1)[1] in url for url in writes)
    assert not any("?notification" in url for url in writes)

    # A new upload is processed; by then a re-announced old upload would have been too (one runner, in order).
    new_key = workbench.store.upload(workbench.load_image(unique_jpeg(), "new.jpg"))
    wait_for(lambda: image_item(cloud, new_key), f"image item for {new_key} after the restart")
    wait_for(lambda: handler_lines(cloud, new_key), f"handler log line for {new_key}")
    counts = lambda_status(cloud)["counts"]
    assert counts.get("invocations") == 1 and counts.get("test_events") == 1
    assert len(handler_lines(cloud, old_key)) == 1  # the replayed logs hold the one line of before
    assert image_item(cloud, old_key) == old_item  # restored by the replay, not written again


# --- failures, with a function of the test's own and a runner in this process -----------------------------

FAULTY_FUNCTION = '''
import json, os, sys, time

print("loading the faulty function")


def handler(event, context):
    mode = event["mode"]
    print(json.dumps({
        "mode": mode, "request_id": context.aws_request_id, "pid": os.getpid(),
        "remaining_ms": context.get_remaining_time_in_millis(), "memory": context.memory_limit_in_mb,
        "function": context.function_name, "setting": os.environ.get("SETTING"),
        "s3_endpoint": os.environ.get("AWS_ENDPOINT_URL_S3"), "region": os.environ.get("AWS_REGION"),
        "leaked": sorted(k for k in os.environ if k.startswith(("MCV_", "PYTEST"))),
    }))
    if mode == "raise":
        raise ValueError("boom")
    if mode == "exit":
        sys.exit(3)
    if mode == "sleep":
        time.sleep(30)
    return {"mode": mode}
'''


@pytest.fixture
def make_function(cloud, tmp_path: Path):  # noqa: ANN001, ANN201
    """Makes a function of the test's own (code, handler, 2 s timeout) with its own queue and a runner for it in
    this process (two attempts per event, no delay between them); removes them all at the end."""
    conn, names = cloud["conn"], cloud["names"]
    from mcv_core.local.lambda_runner import _client

    lam, sqs = _client(conn, "lambda"), cloud["sqs"]
    made: list[dict[str, Any]] = []

    def make(code: str, handler: str) -> dict[str, Any]:
        suffix = uuid.uuid4().hex[:8]
        task_root = tmp_path / suffix
        task_root.mkdir()
        module_file = handler.rsplit(".", 1)[0] + ".py"
        (task_root / module_file).write_text(code)
        package = io.BytesIO()
        with zipfile.ZipFile(package, "w") as archive:
            archive.writestr(module_file, code)
        function = f"mcv-test-{suffix}"
        lam.create_function(
            FunctionName=function,
            Runtime="python3.12",
            Role=f"arn:aws:iam::{conn.account_id}:role/mc-vision-lambda",
            Handler=handler,
            Code={"ZipFile": package.getvalue()},
            MemorySize=256,
            Timeout=2,
            Environment={"Variables": {"SETTING": "from-the-configuration"}},
        )
        queue_url = sqs.create_queue(QueueName=function)["QueueUrl"]
        group = f"/aws/lambda/{function}"
        local = LocalStack(
            names=dataclasses.replace(names, lambda_function=function, lambda_log_group=group, events_queue=function),
            region=conn.region,
            account_id=conn.account_id,
            queue_url=queue_url,
        )
        runner = LambdaRunner(conn, local, task_root=task_root, max_attempts=2, retry_delay_s=0.0, poll_wait_s=1)
        runner.start()
        made.append({"runner": runner, "sqs": sqs, "queue_url": queue_url, "log_group": group, "function": function})
        return made[-1]

    yield make
    for item in made:
        item["runner"].stop()
        sqs.delete_queue(QueueUrl=item["queue_url"])
        lam.delete_function(FunctionName=item["function"])


@pytest.fixture
def faulty(make_function):  # noqa: ANN001, ANN201
    return make_function(FAULTY_FUNCTION, "faulty.handler")


def _send(faulty: dict[str, Any], mode: str) -> None:
    faulty["sqs"].send_message(QueueUrl=faulty["queue_url"], MessageBody=json.dumps({"Records": [], "mode": mode}))


def _settled(faulty: dict[str, Any], invocations: int) -> bool:
    runner = faulty["runner"]
    if runner.counts["invocations"] < invocations:
        return False
    attrs = faulty["sqs"].get_queue_attributes(
        QueueUrl=faulty["queue_url"], AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return attrs["ApproximateNumberOfMessages"] == "0" and attrs["ApproximateNumberOfMessagesNotVisible"] == "0"


def _all_messages(cloud: dict[str, Any], log_group: str) -> list[str]:
    streams = sorted(cloud["logs"].describe_log_streams(logGroupName=log_group)["logStreams"], key=lambda s: s["creationTime"])
    return [m for s in streams for m in stream_messages(cloud, s["logStreamName"], log_group)]


def test_runner_gives_the_handler_a_lambda_environment_warm_after_cold(cloud, faulty):
    conn = cloud["conn"]
    for n in (1, 2):
        _send(faulty, "ok")
        wait_for(lambda: _settled(faulty, n), f"invocation {n}")
    runner = faulty["runner"]
    assert runner.counts["cold_starts"] == 1 and runner.counts["warm_starts"] == 1 and runner.counts["failed"] == 0
    messages = _all_messages(cloud, faulty["log_group"])
    lines = [json.loads(m) for m in messages if m.startswith("{")]
    assert [line["mode"] for line in lines] == ["ok", "ok"]
    assert lines[0]["pid"] == lines[1]["pid"]  # the same execution environment, warm
    first = lines[0]
    assert first["setting"] == "from-the-configuration" and first["memory"] == "256" and first["region"] == conn.region
    assert first["function"] == faulty["function"] and first["s3_endpoint"] == conn.moto_url
    assert 0 < first["remaining_ms"] <= 2000 and first["leaked"] == []
    assert messages[0].startswith("INIT_START ") and messages[1] == "loading the faulty function\n"
    reports = [m for m in messages if m.startswith("REPORT ")]
    assert "\tInit Duration: " in reports[0] and "Init Duration" not in reports[1]
    assert all("\tMemory Size: 256 MB\t" in r for r in reports)


def test_a_failing_event_is_retried_then_dropped_like_a_dead_letter(cloud, faulty):
    _send(faulty, "raise")
    wait_for(lambda: _settled(faulty, 2), "two attempts at the failing event")
    runner = faulty["runner"]
    assert runner.counts["failed"] == 2 and runner.counts["retried"] == 1 and runner.counts["dropped"] == 1
    messages = _all_messages(cloud, faulty["log_group"])
    errors = [m for m in messages if m.startswith("[ERROR] ValueError: boom")]
    assert len(errors) == 2 and "Traceback" in errors[0] and "faulty.py" in errors[0]
    assert runner.counts["cold_starts"] == 1  # an error the function raises does not end its environment


def test_a_crash_or_a_timeout_ends_the_environment(cloud, faulty):
    _send(faulty, "exit")
    wait_for(lambda: _settled(faulty, 2), "two attempts at the crashing event")
    _send(faulty, "sleep")
    wait_for(lambda: _settled(faulty, 4), "two attempts at the event that times out")
    _send(faulty, "ok")
    wait_for(lambda: _settled(faulty, 5), "an invocation after the failures")
    runner = faulty["runner"]
    assert runner.counts["dropped"] == 2 and runner.counts["cold_starts"] == 5  # every failure cost an environment
    assert runner.last["status"] == "success"
    messages = _all_messages(cloud, faulty["log_group"])
    assert sum("Error: Runtime exited with error: exit status 3\nRuntime.ExitError" in m for m in messages) == 2
    assert sum(" Task timed out after 2.00 seconds" in m for m in messages) == 2
    assert sum(m.startswith("REPORT ") and "\tStatus: timeout\t" in m for m in messages) == 2
    assert len({s["logStreamName"] for s in cloud["logs"].describe_log_streams(logGroupName=faulty["log_group"])["logStreams"]}) == 5


def test_a_function_that_cannot_be_imported_fails_each_attempt_in_a_new_environment(cloud, make_function):
    broken = make_function("import json\nraise RuntimeError('no configuration found')\n", "broken.handler")
    _send(broken, "ok")
    wait_for(lambda: _settled(broken, 2), "two attempts at an event for a function that cannot load")
    runner = broken["runner"]
    assert runner.counts["failed"] == 2 and runner.counts["cold_starts"] == 2 and runner.counts["dropped"] == 1
    messages = _all_messages(cloud, broken["log_group"])
    errors = [m for m in messages if m.startswith("[ERROR] Runtime.ImportModuleError: ")]
    assert len(errors) == 2 and "Unable to import module 'broken': no configuration found" in errors[0]
    reports = [m for m in messages if m.startswith("REPORT ")]
    assert len(reports) == 2 and all("\tStatus: error\tError Type: Runtime.ImportModuleError\t" in r for r in reports)


def test_a_new_environment_reads_the_function_configuration_again(cloud, faulty):
    from mcv_core.local.lambda_runner import _client

    _send(faulty, "ok")
    wait_for(lambda: _settled(faulty, 1), "the first invocation")
    _client(cloud["conn"], "lambda").update_function_configuration(
        FunctionName=faulty["function"], Environment={"Variables": {"SETTING": "updated"}}
    )
    for n, mode in ((2, "ok"), (4, "exit"), (5, "ok")):  # warm, then a crash (two attempts), then a new environment
        _send(faulty, mode)
        wait_for(lambda: _settled(faulty, n), f"invocation {n}")
    lines = [json.loads(m) for m in _all_messages(cloud, faulty["log_group"]) if m.startswith("{")]
    by_pid: dict[int, set[str]] = {}
    for line in lines:
        by_pid.setdefault(line["pid"], set()).add(line["setting"])
    first_pid = lines[0]["pid"]
    assert by_pid[first_pid] == {"from-the-configuration"}  # a warm environment keeps what it started with
    assert [line["setting"] for line in lines if line["mode"] == "ok"][-1] == "updated"
