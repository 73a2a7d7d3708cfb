"""Nothing lost: the local cloud's AWS part (moto) stopped in the middle of a run, against the session's local cloud.

A comparison whose results table goes away keeps its results in the local outbox and says so; once moto is back
(same port, state restored by replay), a flush writes every item exactly once. Each test restarts moto in a
`finally`, so the session's other tests find the local cloud whole.

The moment is made certain, not timed: a comparison's last result waits at a gate (its `on_result` callback,
which runs before the results are saved) until moto has been stopped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterator, Sequence

import pytest

from mcv_core.clients import Clients
from mcv_core.history import SaveOutcome, run_items
from mcv_core.images import SourceImage
from mcv_core.local import control
from mcv_core.outbox import FlushResult, Outbox
from mcv_core.records import ProviderResult
from mcv_core.runner import Run
from mcv_core.workbench import Workbench

pytestmark = pytest.mark.timeout(900)
REPO = Path(__file__).resolve().parents[2]
APP = REPO / "app.py"
ALL = ["sagemaker", "bedrock", "azure_openai"]
WAIT_S = 240  # generous bounds on waits, never asserted as timings: the first calls pay for cold starts


# --- fixtures ----------------------------------------------------------------------------------------------


class Moto:
    """The AWS part of the local cloud, stopped and started through the daemon's admin API."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.stopped = False

    def running(self) -> bool:
        return bool(control.admin(self.conn, "GET", "/status")["components"]["moto"]["running"])

    def stop(self) -> None:
        self.stopped = True  # set first: a stop that fails half-way is still followed by a start
        control.admin(self.conn, "POST", "/components/moto/stop")

    def start(self) -> None:
        control.admin(self.conn, "POST", "/components/moto/start", timeout=600)
        self.stopped = False


@pytest.fixture
def moto(local_settings: Any) -> Iterator[Moto]:
    conn = control.running(local_settings)
    assert conn is not None, "the session's local cloud is not running"
    moto = Moto(conn)
    assert moto.running()
    try:
        yield moto
    finally:
        if moto.stopped or not moto.running():
            moto.start()
        assert moto.running()


@pytest.fixture
def faults(local_settings: Any) -> Iterator[Any]:
    conn = control.running(local_settings)
    control.emulator_admin(conn, "DELETE", "/_mcv/faults")
    try:
        yield conn
    finally:
        control.emulator_admin(conn, "DELETE", "/_mcv/faults")


@pytest.fixture
def isolated(local_settings: Any, tmp_path: Path) -> Workbench:
    """A workbench on the session's local cloud with its own data folder: its outbox is this test's alone."""
    return Workbench(local_settings.with_(data_dir=tmp_path), Clients(local_settings))


class GatedCompare(threading.Thread):
    """`workbench.compare` in a thread; the run's last result waits at `gate` before the run is saved."""

    def __init__(self, workbench: Workbench, image: SourceImage, providers: Sequence[str], gate: threading.Event) -> None:
        super().__init__(daemon=True)
        self.workbench, self.image, self.providers, self.gate = workbench, image, list(providers), gate
        self.arrived = {name: threading.Event() for name in providers}
        self.at_gate = threading.Event()
        self.run_: Run | None = None
        self.error: BaseException | None = None

    def on_result(self, result: ProviderResult) -> None:
        self.arrived[result.provider].set()
        if all(event.is_set() for event in self.arrived.values()):
            self.at_gate.set()
            self.gate.wait(WAIT_S)

    def run(self) -> None:
        try:
            self.run_ = self.workbench.compare(self.image, self.providers, on_result=self.on_result)
        except BaseException as exc:  # handed to the test, which fails with it
            self.error = exc

    def result(self) -> Run:
        self.join(WAIT_S)
        assert not self.is_alive(), "the comparison did not end"
        if self.error is not None:
            raise self.error
        assert self.run_ is not None
        return self.run_


def as_json(items: list[dict[str, Any]]) -> Any:
    return json.loads(json.dumps(items))


def stored_keys(workbench: Workbench, run: Run) -> Counter[str]:
    return Counter(item["sk"] for item in workbench.history.run(run.run_id))


def expected_keys(run: Run) -> Counter[str]:
    return Counter(["RUN", *(f"RESULT#{name}" for name in run.providers)])


def assert_deferred_whole(workbench: Workbench, run: Run, conn: Any) -> list[dict[str, Any]]:
    """The run says it was deferred, has a result for every provider, and its file holds exactly its items."""
    assert run.deferred and isinstance(run.saved, SaveOutcome) and not run.saved.stored, run.saved
    assert [r.provider for r in run.results] == run.providers  # no provider result missing
    assert all(r.ok for r in run.results), [(r.provider, r.error) for r in run.results]
    assert run.saved.outbox_path is not None and run.saved.outbox_path.is_file()
    assert run.saved.outbox_path.parent == workbench.history.outbox.root
    items = run_items(run, workbench.settings.result_ttl_days)
    text = run.saved.outbox_path.read_text()
    assert json.loads(text) == as_json(items)
    for secret in (conn.access_key_id, conn.secret_access_key, conn.azure_api_key):  # history's data, no keys
        assert secret not in text
    return items


# --- tests -------------------------------------------------------------------------------------------------


def test_results_of_a_run_cut_off_by_moto_stopping_arrive_once_it_is_back(
    isolated: Workbench, moto: Moto, faults: Any, cat_jpeg: bytes
) -> None:
    workbench = isolated
    control.emulator_admin(faults, "POST", "/_mcv/faults", json={"bedrock": [{"kind": "slow", "delay_s": 4, "count": 1}]})
    image = workbench.load_image(cat_jpeg, "cat.jpg")
    gate = threading.Event()
    compare = GatedCompare(workbench, image, ALL, gate)
    compare.start()
    try:
        # The image is in S3 and SageMaker (whose endpoint lives in moto) has answered; Bedrock is slowed.
        assert compare.arrived["sagemaker"].wait(WAIT_S), "no SageMaker result"
        assert compare.error is None, compare.error
        moto.stop()
    finally:
        gate.set()
    run = compare.result()
    items = assert_deferred_whole(workbench, run, faults)
    assert "write to table" in (run.saved.error or "")  # type: ignore[union-attr]
    assert workbench.history.outbox.pending() == [run.saved.outbox_path]  # type: ignore[union-attr]

    moto.start()
    flushed = workbench.flush_outbox()
    assert (flushed.written, flushed.already, flushed.runs, flushed.remaining, flushed.failed) == (len(items), 0, 1, 0, False)
    assert stored_keys(workbench, run) == expected_keys(run)  # each item once
    stored = {item["sk"]: item for item in workbench.history.run(run.run_id)}
    assert stored == {item["sk"]: item for item in as_json(items)}  # as the run made them, nothing lost
    listed = workbench.history.results(run.created_at - timedelta(seconds=1))
    assert {item["provider"] for item in listed if item["run_id"] == run.run_id} == set(ALL)

    # A second flush finds nothing; the same items queued again are all found in the table, none written twice.
    assert workbench.flush_outbox() == FlushResult()
    workbench.history.outbox.add(items)
    again = workbench.flush_outbox()
    assert (again.written, again.already, again.remaining) == (0, len(items), 0)
    assert stored_keys(workbench, run) == expected_keys(run)


def test_runs_queued_while_moto_is_down_all_arrive_and_history_writes_them_first(
    local_settings: Any, moto: Moto, faults: Any, cat_jpeg: bytes, coffee_jpeg: bytes
) -> None:
    """Three comparisons cut off at once, in the session's data folder; `python -m mcv_core history` flushes
    them before it reads, and shows them."""
    workbench = Workbench(local_settings)
    assert workbench.history.outbox.pending() == [], "the session's outbox should be empty before this test"
    images = [workbench.load_image(data, name) for data, name in ((cat_jpeg, "cat.jpg"), (coffee_jpeg, "coffee.jpg"), (cat_jpeg, "cat-2.jpg"))]
    gate = threading.Event()
    compares = [GatedCompare(workbench, image, ["sagemaker", "azure_openai"], gate) for image in images]
    for compare in compares:
        compare.start()
    try:
        for compare in compares:
            assert compare.at_gate.wait(WAIT_S), "a comparison did not reach its last result"
        moto.stop()
    finally:
        gate.set()
    runs = [compare.result() for compare in compares]
    queued = [item for run in runs for item in assert_deferred_whole(workbench, run, faults)]
    assert sorted(workbench.history.outbox.pending()) == sorted(run.saved.outbox_path for run in runs)  # type: ignore[union-attr]

    moto.start()
    since = min(run.created_at for run in runs) - timedelta(minutes=1)
    done = subprocess.run(
        [sys.executable, "-m", "mcv_core", "history", "--since", since.isoformat(), "--json"],
        cwd=REPO,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=WAIT_S,
    )
    assert done.returncode == 0, done.stderr
    assert "outbox: 3 earlier runs written to the results table" in done.stderr, done.stderr
    shown = Counter((item["run_id"], item["provider"]) for item in json.loads(done.stdout)["results"])
    for run in runs:
        assert all(shown[(run.run_id, name)] == 1 for name in run.providers), shown
        assert stored_keys(workbench, run) == expected_keys(run)
    assert workbench.history.outbox.pending() == []
    requeued = Outbox(workbench.history.outbox.root)
    for run in runs:
        requeued.add(run_items(run, workbench.settings.result_ttl_days))
    again = workbench.flush_outbox()
    assert (again.written, again.already, again.runs) == (0, len(queued), 3)


# --- the command line --------------------------------------------------------------------------------------


def test_compare_and_bench_say_the_results_went_to_the_outbox_and_exit_as_usual(
    local_settings: Any, moto: Moto, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, cat_jpeg: bytes
) -> None:
    """In process, so that the table can go away at the exact moment: between the last answer and the write."""
    from mcv_core import cli
    from mcv_core.history import History

    original_save = History.save

    def save_with_moto_gone(self: History, run: Run) -> SaveOutcome:
        if not moto.stopped:
            moto.stop()
        return original_save(self, run)

    monkeypatch.setattr(History, "save", save_with_moto_gone)
    image = tmp_path / "cat.jpg"
    image.write_bytes(cat_jpeg)

    assert cli.main(["compare", str(image), "--providers", "sagemaker,azure_openai", "--json"]) == cli.EXIT_OK
    out, err = capsys.readouterr()
    compared = json.loads(out)
    notes = [line for line in err.splitlines() if "kept in the outbox" in line]
    assert notes == [notes[0]] and notes[0].startswith(f"results of run {compared['run_id']} kept in the outbox (")
    assert notes[0].endswith("they are written when the table is reachable")
    assert [r["status"] for r in compared["results"]] == ["ok", "ok"]

    moto.start()  # bench writes the waiting run first; its own run then finds the table gone again
    assert cli.main(["bench", str(image), "--providers", "sagemaker", "--json"]) == cli.EXIT_OK
    out, err = capsys.readouterr()
    benched = json.loads(out)
    assert "outbox: 1 earlier run written to the results table" in err, err
    (run_id,) = {r["run_id"] for r in benched["results"]}
    assert f"results of run {run_id} kept in the outbox (" in err, err

    moto.start()
    monkeypatch.setattr(History, "save", original_save)
    workbench = Workbench(local_settings)
    flushed = workbench.flush_outbox()
    assert (flushed.runs, flushed.written, flushed.remaining) == (1, 2, 0)
    assert Counter(i["sk"] for i in workbench.history.run(compared["run_id"])) == Counter(["RUN", "RESULT#sagemaker", "RESULT#azure_openai"])
    assert Counter(i["sk"] for i in workbench.history.run(run_id)) == Counter(["RUN", "RESULT#sagemaker"])


# --- the Compare page --------------------------------------------------------------------------------------


def test_the_compare_page_keeps_the_results_on_screen_and_says_they_wait_in_the_outbox(
    local_env: dict[str, str], local_settings: Any, moto: Moto, routed: None, monkeypatch: pytest.MonkeyPatch, cat_jpeg: bytes
) -> None:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from mcv_core.history import History

    original_save = History.save

    def save_with_moto_gone(self: History, run: Run) -> SaveOutcome:
        moto.stop()  # the table goes away between the last answer and the write
        return original_save(self, run)

    monkeypatch.setattr(History, "save", save_with_moto_gone)
    st.cache_resource.clear()
    try:
        at = AppTest.from_file(str(APP), default_timeout=WAIT_S)
        at.run()
        at.file_uploader(key="compare.files").set_value([("cat.jpg", cat_jpeg, "image/jpeg")])
        at.run()
        at.pills(key="compare.targets").set_value(["sagemaker", "azure_openai"]).run()
        at.button(key="compare.go").click()
        at.run(timeout=WAIT_S)
        assert not at.exception, [e.message for e in at.exception]
        monkeypatch.setattr(History, "save", original_save)
        run = at.session_state["compare.outcomes"][0][1]
        assert isinstance(run, Run) and run.deferred
        for _ in range(2):  # as drawn live, then on the next rerun (kept in session state)
            notices = [w.value for w in at.warning if "not in History yet" in w.value]
            assert len(notices) == 1 and "outbox" in notices[0] and "write to table" in notices[0], notices
            titles = [m.value for m in at.markdown]
            assert "**SageMaker Serverless**" in titles and "**Azure OpenAI**" in titles  # the results stay
            assert not at.error, [e.value for e in at.error]
            at.run()
            assert not at.exception, [e.message for e in at.exception]
    finally:
        st.cache_resource.clear()  # stops the page workbench's background flusher (on_release)
    moto.start()
    workbench = Workbench(local_settings)
    flushed = workbench.flush_outbox()
    assert flushed.runs == 1 and flushed.written == 3 and flushed.remaining == 0
    assert stored_keys(workbench, run) == expected_keys(run)
