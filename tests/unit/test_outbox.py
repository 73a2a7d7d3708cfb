"""The local outbox: durable files, flushing oldest first and exactly once, one flusher at a time, damaged files
moved aside; History.save keeping a run there when DynamoDB refuses (botocore's Stubber on a real client)."""

from __future__ import annotations

import io
import json
import os
import socket
import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from botocore.stub import Stubber
from PIL import Image

from mcv_core.cli import outbox_note
from mcv_core.clients import Clients, Endpoints
from mcv_core.config import Settings
from mcv_core.errors import StorageError
from mcv_core.history import ANALYTIC_FIELDS, History, SaveOutcome, _marshal, run_items
from mcv_core.images import SourceImage, load_image
from mcv_core.outbox import ABANDONED_AFTER_S, FlushResult, Flusher, Outbox
from mcv_core.records import Label, ProviderResult
from mcv_core.runner import Run

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 20, 8, 30, 0, 250000, tzinfo=timezone.utc)
TABLE = "mcv-results-test"


# --- runs ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def image() -> SourceImage:
    y, x = np.mgrid[0:32, 0:40]
    buffer = io.BytesIO()
    Image.fromarray(np.stack([x * 6, y * 7, (x + y) * 3], axis=-1).astype(np.uint8)).save(buffer, "JPEG")
    return load_image(buffer.getvalue(), "gradient.jpg", max_bytes=1 << 20, max_pixels=1 << 20)


def make_run(image: SourceImage, n: int = 0, created: datetime = T0) -> Run:
    results = [
        ProviderResult(
            provider="sagemaker",
            model="mc-vision-endpoint (efficientnet-lite0)",
            status="ok",
            output="tabby (61%), Egyptian cat (20%)",
            labels=[Label("tabby", 0.61), Label("Egyptian cat", 0.2)],
            latency_ms=88.5,
            cold_start=False,
            cost_usd=1.7e-06,
            timings={"prepare_ms": 1.5},
            image_width=224,
            image_height=224,
        ),
        ProviderResult(
            provider="bedrock",
            model="anthropic.claude-3-haiku-20240307-v1:0",
            status="error",
            latency_ms=15.0,
            attempts=3,
            error_type="throttled",
            error="Too many requests (the service is rate limiting)",
        ),
    ]
    return Run(
        run_id=f"{created:%Y%m%dT%H%M%S}-{n:010x}",
        created_at=created,
        image=image,
        prompt="What is in the picture?",
        providers=["sagemaker", "bedrock"],
        source="cli",
        image_key=f"uploads/{created:%Y/%m/%d}/{image.sha256}.jpg",
        results=results,
        wall_ms=90.0,
    )


def as_json(items: list[dict[str, Any]]) -> Any:
    return json.loads(json.dumps(items))


def key(item: dict[str, Any]) -> tuple[str, str]:
    return item["pk"], item["sk"]


class FakeTable:
    """A table keyed by (pk, sk) with DynamoDB's conditional put; `fail_at` makes that call raise StorageError."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self.wrote: list[tuple[str, str]] = []  # calls that actually wrote
        self.fail_at: int | None = None
        self.on_call: Any = None

    def put_once(self, item: dict[str, Any]) -> bool:
        if self.on_call is not None:
            self.on_call(len(self.calls))
        if self.fail_at is not None and len(self.calls) == self.fail_at:
            self.fail_at = None
            raise StorageError("write to table t failed: ProvisionedThroughputExceededException", hint="try later")
        self.calls.append(key(item))
        if key(item) in self.items:
            return False
        self.items[key(item)] = item
        self.wrote.append(key(item))
        return True


# --- writing the files --------------------------------------------------------------------------------------


def test_a_run_is_one_private_file_holding_exactly_its_items(tmp_path: Path, image: SourceImage) -> None:
    outbox = Outbox(tmp_path / "outbox" / TABLE)
    run = make_run(image)
    items = run_items(run, ttl_days=90)
    path = outbox.add(items)
    assert path.parent == outbox.root and path.name.endswith(f"-{run.run_id}.json")
    # What history would hold, nothing else: no settings, no credentials.
    assert json.loads(path.read_bytes()) == as_json(items)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert outbox.pending() == [path] and outbox.has_pending()
    assert sorted(p.name for p in outbox.root.iterdir()) == [path.name]  # no temp file left
    # Adding the same run again keeps one file with the same items.
    assert outbox.add(items) == path and outbox.pending() == [path]


def test_a_crash_between_the_temp_write_and_the_rename_leaves_no_file(
    tmp_path: Path, image: SourceImage, monkeypatch: pytest.MonkeyPatch
) -> None:
    outbox = Outbox(tmp_path / "outbox")
    import mcv_core.outbox as module

    def crash(src: Any, dst: Any) -> None:
        raise OSError("no space left on device")

    monkeypatch.setattr(module.os, "replace", crash)
    with pytest.raises(OSError):
        outbox.add(run_items(make_run(image), 90))
    monkeypatch.undo()
    assert outbox.pending() == [] and not outbox.has_pending()
    assert list(outbox.root.iterdir()) == []


def test_a_writer_killed_before_the_rename_shows_nothing_and_its_fsynced_file_is_recovered(tmp_path: Path, image: SourceImage) -> None:
    """A real crash (os._exit in place of the rename): the file never appears half-written; the flush that
    follows finds the temp file of a dead writer, whole (it was fsynced), and writes it."""
    root = tmp_path / "outbox"
    items = run_items(make_run(image), 90)
    source = tmp_path / "items.json"
    source.write_text(json.dumps(items))
    script = textwrap.dedent(
        """
        import json, os, sys
        import mcv_core.outbox as module
        module.os.replace = lambda src, dst: os._exit(9)
        module.Outbox(sys.argv[1]).add(json.load(open(sys.argv[2])))
        """
    )
    done = subprocess.run([sys.executable, "-c", script, str(root), str(source)], cwd=REPO, timeout=60)
    assert done.returncode == 9
    outbox = Outbox(root)
    leftovers = [p.name for p in root.iterdir()]
    assert len(leftovers) == 1 and leftovers[0].startswith(".") and leftovers[0].endswith(".tmp")
    assert outbox.pending() == []  # nothing visible
    table = FakeTable()
    assert outbox.flush(table.put_once).written == 0  # a writer might still be at work on so fresh a file
    _age(root / leftovers[0])
    result = outbox.flush(table.put_once)
    assert (result.written, result.runs, result.remaining, result.damaged) == (len(items), 1, 0, ())
    assert table.items == {key(i): i for i in as_json(items)}
    assert [p.name for p in root.iterdir()] == [".lock"]


def test_damaged_files_are_moved_aside_and_reported_never_dropped(tmp_path: Path, image: SourceImage) -> None:
    outbox = Outbox(tmp_path / "outbox")
    good = outbox.add(run_items(make_run(image), 90))
    garbage = outbox.root / "20261120083000000000-garbage.json"
    garbage.write_bytes(b"\x00\x01 not json")
    wrong = outbox.root / "20261120083000000001-wrong.json"
    wrong.write_text("[1, 2, 3]")
    # The temp file of a writer that died mid-write, cut short.
    dead = _dead_pid()
    cut = outbox.root / f".20261120083000000002-cut.json.{dead}.abcd1234.tmp"
    cut.write_text('[{"pk": "RUN#cut", "sk": "RU')
    _age(cut)
    table = FakeTable()
    result = outbox.flush(table.put_once)
    assert result.runs == 1 and result.remaining == 0 and not result.failed
    assert len(table.wrote) == 3 and not good.exists()
    moved = {d.path.name: d for d in result.damaged}
    assert set(moved) == {garbage.name, wrong.name, cut.name.lstrip(".")}
    assert (outbox.damaged_dir / garbage.name).read_bytes() == b"\x00\x01 not json"
    assert (outbox.damaged_dir / wrong.name).read_text() == "[1, 2, 3]"
    assert "interrupted" in moved[cut.name.lstrip(".")].reason and "JSON" in moved[garbage.name].reason
    # Moved aside: not pending, not flushed again.
    assert outbox.pending() == [] and outbox.flush(table.put_once) == FlushResult()


def _age(path: Path) -> None:
    """Make a file look as old as an abandoned write."""
    old = time.time() - ABANDONED_AFTER_S - 1
    os.utime(path, (old, old))


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# --- flushing ----------------------------------------------------------------------------------------------


def test_flush_writes_the_oldest_run_first_each_run_item_before_its_results(tmp_path: Path, image: SourceImage) -> None:
    outbox = Outbox(tmp_path / "outbox")
    runs = [make_run(image, n, T0 + timedelta(minutes=m)) for n, m in ((1, 30), (2, 0), (3, 12))]
    for run in runs:  # added newest, oldest, middle
        outbox.add(run_items(run, 90))
    assert [p.name.split("-", 1)[1] for p in outbox.pending()] == [f"{runs[i].run_id}.json" for i in (1, 2, 0)]
    table = FakeTable()
    result = outbox.flush(table.put_once)
    assert (result.written, result.already, result.runs, result.remaining) == (9, 0, 3, 0)
    expected = [key(item) for i in (1, 2, 0) for item in run_items(runs[i], 90)]
    assert table.calls == expected and [sk for _, sk in table.calls[::3]] == ["RUN"] * 3


@pytest.mark.parametrize("k", range(9))
def test_a_flush_interrupted_after_k_writes_then_flushed_again_writes_every_item_once(
    tmp_path: Path, image: SourceImage, k: int
) -> None:
    outbox = Outbox(tmp_path / "outbox")
    runs = [make_run(image, n, T0 + timedelta(seconds=n)) for n in range(3)]
    for run in runs:
        outbox.add(run_items(run, 90))
    table = FakeTable()
    table.fail_at = k  # the (k+1)th write fails: the table went away after k items
    first = outbox.flush(table.put_once)
    assert first.failed and "ProvisionedThroughputExceeded" in (first.error or "")
    assert (first.written, first.runs, first.remaining) == (k, k // 3, 3 - k // 3)
    second = outbox.flush(table.put_once)
    assert not second.failed and second.remaining == 0 and first.runs + second.runs == 3
    assert second.written == 9 - k and second.already == k % 3  # the stopped run's items already in
    every = [key(item) for run in runs for item in run_items(run, 90)]
    assert Counter(table.wrote) == Counter(every)  # each item written exactly once
    assert outbox.flush(table.put_once) == FlushResult() and outbox.pending() == []


def test_a_flush_killed_mid_run_leaves_the_file_and_the_lock_free(tmp_path: Path, image: SourceImage) -> None:
    outbox = Outbox(tmp_path / "outbox")
    items = run_items(make_run(image), 90)
    outbox.add(items)
    table = FakeTable()

    def interrupt(calls: int) -> None:
        if calls == 2:
            raise KeyboardInterrupt

    table.on_call = interrupt
    with pytest.raises(KeyboardInterrupt):
        outbox.flush(table.put_once)
    assert len(table.wrote) == 2 and len(outbox.pending()) == 1
    table.on_call = None
    result = outbox.flush(table.put_once)  # not skipped: the lock went with the interrupted flush
    assert (result.written, result.already, result.runs, result.skipped) == (1, 2, 1, False)
    assert Counter(table.wrote) == Counter(key(i) for i in items)


def test_a_second_flusher_in_another_thread_skips(tmp_path: Path, image: SourceImage) -> None:
    root = tmp_path / "outbox"
    Outbox(root).add(run_items(make_run(image), 90))
    table = FakeTable()
    inside, release = threading.Event(), threading.Event()

    def hold(calls: int) -> None:
        if calls == 0:
            inside.set()
            assert release.wait(30)

    table.on_call = hold
    results: list[FlushResult] = []
    first = threading.Thread(target=lambda: results.append(Outbox(root).flush(table.put_once)))
    first.start()
    try:
        assert inside.wait(30)
        other = FakeTable()
        skipped = Outbox(root).flush(other.put_once)
        assert skipped.skipped and skipped.remaining == 1 and other.calls == []
    finally:
        release.set()
        first.join(30)
    assert results[0].runs == 1 and not results[0].skipped and len(table.wrote) == 3


def test_a_flusher_in_another_process_makes_this_one_skip(tmp_path: Path, image: SourceImage) -> None:
    outbox = Outbox(tmp_path / "outbox")
    outbox.add(run_items(make_run(image), 90))
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
            "fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); sys.stdin.read()",
            str(outbox.root / ".lock"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    table = FakeTable()
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        result = outbox.flush(table.put_once)
        assert result.skipped and result.remaining == 1 and table.calls == []
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(30)
    assert outbox.flush(table.put_once).runs == 1 and len(table.wrote) == 3


def test_an_empty_or_absent_outbox_is_a_directory_listing(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox" / TABLE)

    def never(item: dict[str, Any]) -> bool:
        raise AssertionError("nothing to write")

    assert outbox.flush(never) == FlushResult() and not outbox.root.exists()
    outbox.root.mkdir(parents=True)
    assert outbox.flush(never) == FlushResult() and list(outbox.root.iterdir()) == []


# --- History.save and flush_outbox on a real DynamoDB client (botocore's Stubber) ---------------------------


def _history(tmp_path: Path, endpoint: str = "http://127.0.0.1:9", max_attempts: int = 3) -> History:
    settings = Settings(mode="cloud", data_dir=tmp_path, region="eu-west-1", results_table=TABLE, max_attempts=max_attempts)
    endpoints = Endpoints(aws={"dynamodb": endpoint}, aws_access_key_id="testing", aws_secret_access_key="testing")
    return History(settings, Clients(settings, endpoints))


def _put(item: dict[str, Any]) -> dict[str, Any]:
    return {"TableName": TABLE, "Item": _marshal(item), "ConditionExpression": "attribute_not_exists(pk)"}


@pytest.mark.parametrize(
    "code, status",
    [("ProvisionedThroughputExceededException", 400), ("ThrottlingException", 400), ("InternalServerError", 500)],
)
def test_a_refused_write_keeps_the_whole_run_in_the_outbox_and_a_flush_writes_it_once(
    tmp_path: Path, image: SourceImage, code: str, status: int
) -> None:
    history = _history(tmp_path)
    run = make_run(image, created=datetime.now(timezone.utc) - timedelta(days=3))
    items = run_items(run, history.settings.result_ttl_days)
    with Stubber(history._ddb) as stub:
        stub.add_response("put_item", {}, _put(items[0]))
        stub.add_client_error("put_item", service_error_code=code, http_status_code=status, expected_params=_put(items[1]))
        outcome = history.save(run)
        stub.assert_no_pending_responses()
    assert outcome.deferred and not outcome.stored and code in (outcome.error or "")
    assert outcome.outbox_path is not None and outcome.outbox_path.parent == tmp_path / "outbox" / TABLE
    # All of the run, the item already written included (idempotent), exactly as history would hold it.
    assert json.loads(outcome.outbox_path.read_bytes()) == as_json(items)
    assert history.outbox_waiting()

    with Stubber(history._ddb) as stub:
        stub.add_client_error("put_item", service_error_code="ConditionalCheckFailedException", http_status_code=400, expected_params=_put(items[0]))
        for item in items[1:]:
            stub.add_response("put_item", {}, _put(item))
        result = history.flush_outbox()
        stub.assert_no_pending_responses()
    assert (result.written, result.already, result.runs, result.remaining) == (2, 1, 1, 0)
    assert not history.outbox_waiting() and not outcome.outbox_path.exists()


@pytest.mark.parametrize("found", [False, True], ids=["written", "already-there"])
def test_a_flush_into_a_day_cached_as_complete_drops_that_day(tmp_path: Path, image: SourceImage, found: bool) -> None:
    """Past days are cached once read; a late write from the outbox must not leave the cached day stale, also
    when an interrupted flush had written the item and stopped before dropping the day."""
    history = _history(tmp_path)
    run = make_run(image, created=datetime.now(timezone.utc) - timedelta(days=3))
    items = run_items(run, history.settings.result_ttl_days)[:1]
    history.outbox.add(items)
    day, other = items[0]["created_at"][:10], "2020-01-01"
    for cached in (day, other):
        history.cache.put(cached, ANALYTIC_FIELDS, [])
    with Stubber(history._ddb) as stub:
        if found:
            stub.add_client_error("put_item", service_error_code="ConditionalCheckFailedException", http_status_code=400)
        else:
            stub.add_response("put_item", {}, _put(items[0]))
        result = history.flush_outbox()
    assert (result.written, result.already) == ((0, 1) if found else (1, 0))
    assert history.cache.get(day, ANALYTIC_FIELDS) is None and history.cache.get(other, ANALYTIC_FIELDS) == []


def test_a_throttled_flush_stops_and_keeps_the_run(tmp_path: Path, image: SourceImage) -> None:
    history = _history(tmp_path)
    run = make_run(image)
    items = run_items(run, history.settings.result_ttl_days)
    history.outbox.add(items)
    with Stubber(history._ddb) as stub:
        stub.add_client_error("put_item", service_error_code="ProvisionedThroughputExceededException", http_status_code=400)
        result = history.flush_outbox()
    assert result.failed and result.remaining == 1 and result.written == 0
    assert json.loads(history.outbox.pending()[0].read_bytes()) == as_json(items)


def test_a_save_that_succeeds_leaves_the_outbox_alone(tmp_path: Path, image: SourceImage) -> None:
    history = _history(tmp_path)
    run = make_run(image)
    with Stubber(history._ddb) as stub:
        for item in run_items(run, history.settings.result_ttl_days):
            stub.add_response("put_item", {}, _put(item))
        assert history.save(run) == SaveOutcome(stored=True, deferred=False)
    assert not history.outbox_waiting() and not (tmp_path / "outbox").exists()


def test_an_unreachable_table_after_the_sdk_retries_defers_the_run(tmp_path: Path, image: SourceImage) -> None:
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    history = _history(tmp_path, f"http://127.0.0.1:{port}", max_attempts=2)
    attempts = []
    history._ddb.meta.events.register("before-send", lambda **kwargs: attempts.append(1))
    outcome = history.save(make_run(image))
    assert outcome.deferred and "connect" in (outcome.error or "").lower()
    assert len(attempts) == 2  # botocore retried before giving up
    assert len(history.outbox.pending()) == 1


# --- when flushes happen --------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_flusher_skips_an_empty_outbox_and_waits_after_a_failure() -> None:
    clock, calls, waiting = Clock(), [], [False]
    outcomes = [FlushResult(remaining=1, error="table unreachable"), FlushResult(written=3, runs=1)]

    def flush() -> FlushResult:
        calls.append(clock.now)
        return outcomes.pop(0)

    flusher = Flusher(flush, lambda: waiting[0], retry_after_s=15.0, clock=clock)
    assert flusher.maybe_flush() is None and calls == []  # empty: a listing, no flush
    waiting[0] = True
    assert flusher.maybe_flush().failed  # type: ignore[union-attr]
    clock.now += 5
    assert flusher.maybe_flush() is None  # failed moments ago: the comparison is not held up again
    clock.now += 11
    assert flusher.maybe_flush().runs == 1  # type: ignore[union-attr]
    assert calls == [100.0, 116.0]


def test_a_damaged_file_found_by_any_flush_is_logged_as_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    outbox = Outbox(tmp_path / "outbox")
    outbox.root.mkdir(parents=True)
    (outbox.root / "x.json").write_text("{")
    flusher = Flusher(lambda: outbox.flush(FakeTable().put_once), outbox.has_pending)
    with caplog.at_level("WARNING", logger="mcv_core.outbox"):
        result = flusher.flush()
    assert [d.path for d in result.damaged] == [outbox.damaged_dir / "x.json"]
    assert any(str(outbox.damaged_dir / "x.json") in r.getMessage() for r in caplog.records if r.levelname == "WARNING")


def test_the_background_flusher_flushes_while_runs_wait_and_stops() -> None:
    waiting = threading.Event()
    waiting.set()
    flushed = threading.Event()

    def flush() -> FlushResult:
        waiting.clear()
        flushed.set()
        return FlushResult(written=2, runs=1)

    flusher = Flusher(flush, waiting.is_set, interval_s=0.05)
    flusher.start()
    flusher.start()  # once
    try:
        assert flushed.wait(10) and flusher.running
    finally:
        flusher.stop()
    assert not flusher.running


def test_the_command_line_says_where_the_results_are(tmp_path: Path, image: SourceImage) -> None:
    run = make_run(image)
    path = tmp_path / "outbox" / TABLE / f"x-{run.run_id}.json"
    run.saved = SaveOutcome(stored=False, deferred=True, outbox_path=path, error="write to table t failed: ThrottlingException")
    assert run.deferred
    line = outbox_note([run])
    assert line == (
        f"results of run {run.run_id} kept in the outbox ({path}: write to table t failed: ThrottlingException); "
        "they are written when the table is reachable"
    )
    assert outbox_note([run, run]).startswith(f"results of 2 runs kept in the outbox ({path.parent}: ")
