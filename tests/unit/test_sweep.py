"""Concurrency sweeps: levels, the plan's rules, the figures of a level, the runner against a scripted workbench,
levels rebuilt from stored items, the estimate, the chart and the command line's text.

The runner is driven by a stand-in workbench (duck-typed `load_image`, `target` and `compare`) whose answers are
scripted per target, level and request; it builds real `Run`s and `ProviderResult`s and counts the requests in
flight at once, so the figures can be checked against numbers worked out by hand.
"""

from __future__ import annotations

import io
import json
import threading
import time
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any, Callable, Sequence

import numpy as np
import pytest
from PIL import Image

from mcv_core import bench, charts, cli, sweep, targets
from mcv_core.bench import BenchImage
from mcv_core.config import Settings
from mcv_core.errors import StorageError, UsageError
from mcv_core.images import SourceImage, load_image
from mcv_core.records import ProviderResult, Run

SETTINGS = Settings.from_mapping({})
CATALOGUE = targets.defaults(SETTINGS)


def picture(width: int = 64, height: int = 48) -> bytes:
    y, x = np.mgrid[0:height, 0:width]
    array = np.stack([(x * 7) % 256, (y * 3) % 256, ((x + y) * 5) % 256], axis=-1).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "JPEG")
    return buffer.getvalue()


IMAGES = (BenchImage("a.jpg", picture(64, 48), width=64, height=48), BenchImage("b.jpg", picture(32, 32), width=32, height=32))


# --- levels and the plan -----------------------------------------------------------------------------------------


def test_levels_parse_from_text_and_numbers():
    assert sweep.parse_levels("1,2,4,8") == (1, 2, 4, 8)
    assert sweep.parse_levels(" 1, 3 ,5 ") == (1, 3, 5)
    assert sweep.parse_levels("2 4 6") == (2, 4, 6)
    assert sweep.parse_levels([1, 16]) == (1, 16)


@pytest.mark.parametrize(
    "given, message",
    [
        ("", "no concurrency levels given"),
        ("1,2,2", "must increase: 2 comes after 2"),
        ("4,2", "must increase: 2 comes after 4"),
        ("0,1", "concurrency level 0 is out of range"),
        ("1,-2", "'-2' is not a positive whole number"),
        ("1,2.5", "'2.5' is not a positive whole number"),
        ("1,x", "'x' is not a positive whole number"),
        ("1,٣", "is not a positive whole number"),  # a digit, but not an ASCII one
        ("1,1000", f"out of range: 1 to {sweep.MAX_LEVEL}"),
        ([1, True], "True is not a positive whole number"),
    ],
)
def test_bad_levels_are_refused_with_what_is_wrong(given, message):
    with pytest.raises(UsageError) as raised:
        sweep.parse_levels(given)
    assert message in raised.value.message, raised.value.message


def plan(**changes: Any) -> sweep.SweepPlan:
    fields = {"images": IMAGES, "targets": ("bedrock",), "levels": (1, 2, 4), "requests": 8}
    fields.update(changes)
    return sweep.SweepPlan(**fields)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"requests": None}, "a number of requests or for a time, one of them"),
        ({"duration_s": 5.0}, "a number of requests or for a time, one of them"),
        ({"requests": 0}, "requests per level must be 1 to 10,000"),
        ({"requests": 3}, "3 requests per level cannot keep 4 in flight at once"),
        ({"requests": None, "duration_s": 0.0}, "the duration of a level must be more than 0"),
        ({"max_error_share": 1.5}, "the error share must be 0 to 1"),
        ({"max_error_share": float("nan")}, "the error share must be 0 to 1"),
        ({"images": ()}, "at least one image"),
        ({"targets": ()}, "at least one target"),
        ({"prompt": "  "}, "the prompt is empty"),
    ],
)
def test_a_bad_plan_is_a_usage_error(changes, message):
    with pytest.raises(UsageError) as raised:
        plan(**changes)
    assert message in raised.value.message


def test_levels_above_the_slots_run_at_the_slots_once():
    p = plan(levels=(1, 2, 4, 8, 16), requests=16)
    assert p.schedule(8) == [(1, 1), (2, 2), (4, 4), (8, 8)]  # 16 would run at 8 again: not run
    assert p.schedule(5) == [(1, 1), (2, 2), (4, 4), (8, 5)]
    assert p.schedule(4) == [(1, 1), (2, 2), (4, 4)]
    assert p.schedule(1) == [(1, 1)]
    assert sweep.cap_of(p, "sagemaker", "SageMaker Serverless", 16) is None
    cap = sweep.cap_of(p, "sagemaker", "SageMaker Serverless", 5)
    assert (cap.slots, cap.asked, cap.ran) == (5, (8, 16), 8)
    assert cap.text == "SageMaker Serverless takes 5 calls at once (its slots: MCV_CONCURRENCY_SAGEMAKER); 8 runs at 5; 16 not run"
    exact = sweep.cap_of(p, "bedrock", "Amazon Bedrock", 4)
    assert exact.ran is None and exact.text.endswith("; 8, 16 not run")


def test_sweep_ids_carry_their_start():
    now = datetime(2026, 12, 4, 10, 15, 0, tzinfo=timezone.utc)
    sweep_id = sweep.new_sweep_id(now)
    assert sweep_id.startswith("sweep-20261204T101500-") and len(sweep_id) == len("sweep-20261204T101500-a1b2c3")
    assert sweep.sweep_started(sweep_id) == now
    with pytest.raises(UsageError, match="is not a sweep id"):
        sweep.sweep_started("bench-20261204T101500-a1b2c3")


# --- a level's figures -------------------------------------------------------------------------------------------


def row(status: str = "ok", latency: float | None = 100.0, ttft: float | None = None, tokens: int | None = None, kind: str | None = None) -> dict:
    return {"status": status, "latency_ms": latency, "ttft_ms": ttft, "output_tokens": tokens, "error_type": kind}


def test_level_figures_worked_by_hand():
    rows = [
        row(latency=100, ttft=40, tokens=50),
        row(latency=200, ttft=60, tokens=70),
        row(latency=300, ttft=80, tokens=30),
        row(latency=400, ttft=100, tokens=50),
        row("error", latency=900, kind="throttled"),
        row("error", latency=5, kind="throttled"),
        row("error", latency=30_000, kind="timeout"),
    ]
    level = sweep.level_figures("bedrock", 4, rows, wall_s=2.0)
    assert (level.requests, level.ok, level.errors, level.throttled) == (7, 4, 3, 2)
    assert level.errors_by_kind == {"throttled": 2, "timeout": 1}  # most first
    # Linear interpolation between order statistics of the ok latencies only: 100 200 300 400.
    assert level.p50_ms == 250.0
    assert level.p95_ms == pytest.approx(100 + 0.95 * 3 * 100)  # position 2.85 -> 385
    assert level.p99_ms == pytest.approx(397.0)
    assert level.p50_ttft_ms == 70.0 and level.p95_ttft_ms == pytest.approx(97.0)
    assert level.images_per_s == 2.0  # 4 answers in 2 s; failed requests are not throughput
    assert level.output_tokens_per_s == 100.0  # 200 tokens in 2 s, every request together
    assert level.error_share == pytest.approx(3 / 7)


def test_level_without_streams_or_tokens_says_none_never_zero():
    level = sweep.level_figures("sagemaker", 1, [row(latency=20), row(latency=30)], wall_s=0.1)
    assert level.p50_ttft_ms is None and level.p95_ttft_ms is None
    assert level.output_tokens_per_s is None  # the classifier writes no tokens: not "0 tokens/s"
    assert level.images_per_s == 20.0
    failed = sweep.level_figures("bedrock", 2, [row("error", kind=None)], wall_s=1.0)
    assert failed.p50_ms is None and failed.images_per_s == 0.0 and failed.errors_by_kind == {"unknown": 1}
    empty = sweep.level_figures("bedrock", 2, [], wall_s=0.0)
    assert empty.requests == 0 and empty.images_per_s is None and empty.error_share == 0.0


def test_level_json_has_the_contract_keys_in_order_then_the_extras():
    level = sweep.level_figures("bedrock", 8, [row(tokens=10)], wall_s=1.23456, asked=16)
    doc = level.to_json()
    assert list(doc)[: len(sweep.LEVEL_KEYS)] == list(sweep.LEVEL_KEYS)
    assert sweep.LEVEL_KEYS == (
        "target", "concurrency", "requests", "ok", "errors", "throttled", "p50_ms", "p95_ms", "p99_ms",
        "p50_ttft_ms", "p95_ttft_ms", "images_per_s", "output_tokens_per_s",
    )  # fmt: skip
    assert list(doc)[len(sweep.LEVEL_KEYS) :] == ["errors_by_kind", "error_share", "wall_s", "asked_concurrency"]
    assert doc["wall_s"] == 1.235 and doc["asked_concurrency"] == 16
    assert "asked_concurrency" not in sweep.level_figures("bedrock", 8, [row()], 1.0, asked=8).to_json()
    json.dumps(doc)


# --- the runner, with a scripted workbench -----------------------------------------------------------------------


class ScriptedBench:
    """A workbench whose answers come from `script(target, level, n)` (n: the target's nth request, from 0):
    a dict of ProviderResult fields, with `sleep_s` for how long the call takes. Counts requests in flight."""

    def __init__(self, script: Callable[[str, int, int], dict], slots: dict[str, int] | None = None, raise_on: Callable | None = None):
        self.script = script
        self.slots = slots or {}
        self.raise_on = raise_on
        self.lock = threading.Lock()
        self.in_flight: dict[tuple[str, int], int] = {}
        self.most: dict[tuple[str, int], int] = {}
        self.calls: list[dict] = []
        self.count: dict[str, int] = {}

    def load_image(self, data: bytes, name: str = "") -> SourceImage:
        return load_image(data, name, max_bytes=SETTINGS.max_image_bytes, max_pixels=SETTINGS.max_pixels)

    def target(self, target_id: str) -> Any:
        return SimpleNamespace(concurrency=self.slots.get(target_id, 8), title=CATALOGUE.title(target_id))

    def compare(self, image: SourceImage, target_ids: Sequence[str], prompt: str | None = None, **kwargs: Any) -> Run:
        (target,) = target_ids
        level = kwargs["concurrency"]
        key = (target, level)
        with self.lock:
            n = self.count.get(target, 0)
            self.count[target] = n + 1
            self.in_flight[key] = self.in_flight.get(key, 0) + 1
            self.most[key] = max(self.most.get(key, 0), self.in_flight[key])
            self.calls.append({"target": target, "image": image.name, "prompt": prompt, **kwargs})
        try:
            fields = dict(self.script(target, level, n))
            time.sleep(fields.pop("sleep_s", 0.002))
            if self.raise_on is not None and self.raise_on(target, level, n):
                raise StorageError("the table is down", hint="check DynamoDB")
            run = Run.new(image, prompt or "p", [target], **kwargs)
            run.results = [ProviderResult(provider=target, model="m", **fields)]
            return run
        finally:
            with self.lock:
                self.in_flight[key] -= 1


def ok(latency: float = 100.0, **extra: Any) -> dict:
    return {"status": "ok", "latency_ms": latency, **extra}


def test_each_level_keeps_its_concurrency_in_flight_and_figures_its_results():
    bench_ = ScriptedBench(lambda t, c, n: ok(10.0 * c + n % 3, ttft_ms=5.0 * c, output_tokens=20, sleep_s=0.01))
    progress: list[sweep.SweepProgress] = []
    outcome = sweep.run(bench_, IMAGES, ["bedrock", "azure_openai"], "1,2,4", requests=8, on_progress=progress.append)
    assert [(lv.target, lv.concurrency) for lv in outcome.levels] == [
        ("bedrock", 1), ("bedrock", 2), ("bedrock", 4), ("azure_openai", 1), ("azure_openai", 2), ("azure_openai", 4)
    ]  # fmt: skip
    for level in outcome.levels:
        assert bench_.most[(level.target, level.concurrency)] == level.concurrency, "not exactly c in flight at once"
        assert (level.requests, level.ok, level.errors) == (8, 8, 0)
        assert level.p50_ttft_ms == 5.0 * level.concurrency
        assert level.images_per_s == pytest.approx(8 / level.wall_s, rel=1e-3)
        assert level.output_tokens_per_s == pytest.approx(160 / level.wall_s, rel=1e-3)
    # Every request is a single-target run of the sweep, tagged with its level; images round-robin from the first.
    assert len(bench_.calls) == 48 and len(outcome.runs) == 48
    assert {(c["source"], c["sweep_id"]) for c in bench_.calls} == {("sweep", outcome.sweep_id)}
    assert [c["image"] for c in bench_.calls[:4]] == ["a.jpg", "b.jpg", "a.jpg", "b.jpg"]
    assert all(r.concurrency in (1, 2, 4) and r.sweep_id == outcome.sweep_id for r in outcome.runs)
    # Progress: after every request, in this thread, level by level.
    assert len(progress) == 48 and progress[-1].step == 5 and progress[-1].steps == 6
    assert [p.done for p in progress[:8]] == list(range(1, 9)) and progress[7].fraction == pytest.approx(1 / 6)
    assert outcome.stopped == {"bedrock": None, "azure_openai": None} and outcome.capped == {}
    assert outcome.all_ran and not outcome.cancelled


def test_latencies_of_a_level_are_exactly_the_percentiles_of_its_results():
    latencies = [120.0, 80.0, 100.0, 300.0, 90.0, 110.0]
    bench_ = ScriptedBench(lambda t, c, n: ok(latencies[n % 6]))
    outcome = sweep.run(bench_, IMAGES, ["bedrock"], [2], requests=6)
    (level,) = outcome.levels
    assert level.p50_ms == float(np.percentile(latencies, 50))
    assert level.p95_ms == pytest.approx(float(np.percentile(latencies, 95)))
    assert level.p99_ms == pytest.approx(float(np.percentile(latencies, 99)))


def test_a_target_stops_rising_once_errors_pass_the_share_and_throttles_are_counted_apart():
    def script(target: str, level: int, n: int) -> dict:
        if target == "bedrock" and level >= 4 and n % 2:
            return {"status": "error", "latency_ms": 3.0, "error_type": "throttled", "error": "slow down"}
        if target == "bedrock" and level >= 4 and n % 4 == 0:
            return {"status": "error", "latency_ms": 30.0, "error_type": "timeout", "error": "late"}
        return ok(50.0)

    bench_ = ScriptedBench(script, slots={"sagemaker": 5})
    outcome = sweep.run(bench_, IMAGES, ["bedrock", "sagemaker"], (1, 2, 4, 8), requests=8, max_error_share=0.2)
    bedrock = [lv for lv in outcome.levels if lv.target == "bedrock"]
    assert [lv.concurrency for lv in bedrock] == [1, 2, 4], "8 must not run once 4 failed too often"
    at4 = bedrock[-1]
    assert (at4.requests, at4.ok, at4.errors, at4.throttled) == (8, 2, 6, 4)
    assert at4.errors_by_kind == {"throttled": 4, "timeout": 2}
    stop = outcome.stopped["bedrock"]
    assert (stop.reason, stop.at) == ("error_share", 4)
    assert stop.text == "stopped at 4 at once: 6 of 8 requests failed (75%), above the 20% limit; 8 not run"
    assert outcome.stopped["sagemaker"] is None, "a target is stopped on its own errors only"
    assert [lv.concurrency for lv in outcome.levels if lv.target == "sagemaker"] == [1, 2, 4, 5]  # its 5 slots cap 8
    doc = outcome.to_json()
    assert doc["stopped"]["bedrock"] == {"reason": "error_share", "at": 4, "text": stop.text}
    assert outcome.all_ran  # the stop rule at work is not a failure


def test_an_error_share_equal_to_the_limit_does_not_stop():
    bench_ = ScriptedBench(lambda t, c, n: ok() if n % 5 else {"status": "error", "error_type": "service_error"})
    outcome = sweep.run(bench_, IMAGES, ["bedrock"], (1, 2), requests=5, max_error_share=0.2)  # 1 of 5 = 20%
    assert [lv.concurrency for lv in outcome.levels] == [1, 2] and outcome.stopped["bedrock"] is None


def test_the_slots_cap_the_levels_and_the_outcome_says_so():
    bench_ = ScriptedBench(lambda t, c, n: ok(), slots={"bedrock": 3})
    outcome = sweep.run(bench_, IMAGES, ["bedrock"], (1, 2, 4, 8), requests=8)
    assert [(lv.concurrency, lv.asked) for lv in outcome.levels] == [(1, 1), (2, 2), (3, 4)]
    assert bench_.most[("bedrock", 3)] == 3
    assert outcome.slots == {"bedrock": 3}
    cap = outcome.capped["bedrock"]
    assert cap.text == "Amazon Bedrock takes 3 calls at once (its slots: MCV_CONCURRENCY_BEDROCK); 4 runs at 3; 8 not run"
    doc = outcome.to_json()
    assert doc["levels"][2]["concurrency"] == 3 and doc["levels"][2]["asked_concurrency"] == 4
    assert doc["capped"] == {"bedrock": {"slots": 3, "asked": [4, 8], "ran_at_slots": 4, "text": cap.text}}


def test_sweep_json_levels_in_order_of_target_then_concurrency():
    bench_ = ScriptedBench(lambda t, c, n: ok(output_tokens=5))
    outcome = sweep.run(bench_, IMAGES[:1], ["azure_openai", "bedrock"], (1, 2), requests=2)
    doc = json.loads(json.dumps(outcome.to_json()))
    assert list(doc)[0] == "levels"
    assert [(lv["target"], lv["concurrency"]) for lv in doc["levels"]] == [
        ("azure_openai", 1), ("azure_openai", 2), ("bedrock", 1), ("bedrock", 2)
    ]  # fmt: skip
    for level in doc["levels"]:
        assert list(level)[: len(sweep.LEVEL_KEYS)] == list(sweep.LEVEL_KEYS)
    assert doc["sweep_id"] == outcome.sweep_id and doc["requests_per_level"] == 2 and doc["duration_s"] is None


def test_levels_that_run_for_a_time_count_what_fits():
    bench_ = ScriptedBench(lambda t, c, n: ok(sleep_s=0.02))
    outcome = sweep.run(bench_, IMAGES, ["bedrock"], (1, 4), duration_s=0.3)
    one, four = outcome.levels
    assert 5 <= one.requests <= 16, one  # about 0.3 s / 0.02 s, on a busy machine fewer
    assert four.requests > one.requests * 2, (one.requests, four.requests)
    assert one.wall_s >= 0.3 and four.wall_s >= 0.3
    assert bench_.most[("bedrock", 4)] == 4


def test_a_request_that_raises_counts_as_a_failure_of_its_kind_and_the_rest_goes_on():
    bench_ = ScriptedBench(lambda t, c, n: ok(), raise_on=lambda t, c, n: n == 1)
    outcome = sweep.run(bench_, IMAGES, ["bedrock"], (1, 2), requests=4, max_error_share=0.5)
    first = outcome.levels[0]
    assert (first.requests, first.ok, first.errors, first.errors_by_kind) == (4, 3, 1, {"storage": 1})
    assert len(outcome.failures) == 1 and "Amazon Bedrock at 1 at once, b.jpg: the table is down (check DynamoDB)" in outcome.failures[0]
    assert len(outcome.runs) == 7 and not outcome.all_ran


def test_cancel_stops_new_requests_and_keeps_what_ran():
    cancel = threading.Event()

    def on_progress(p: sweep.SweepProgress) -> None:
        if p.done == 3:
            cancel.set()

    bench_ = ScriptedBench(lambda t, c, n: ok(sleep_s=0.01))
    outcome = sweep.run(bench_, IMAGES, ["bedrock", "azure_openai"], (1, 2), requests=10, on_progress=on_progress, cancel=cancel)
    assert outcome.cancelled and not outcome.all_ran
    (level,) = outcome.levels
    assert level.requests == 3 and len(outcome.runs) == 3
    assert outcome.stopped["bedrock"].reason == "cancelled" and outcome.stopped["azure_openai"].reason == "cancelled"
    assert "azure_openai" not in bench_.count


def test_a_bad_image_stops_the_sweep_before_any_request():
    bench_ = ScriptedBench(lambda t, c, n: ok())
    broken = BenchImage("broken.jpg", b"not an image at all")
    with pytest.raises(UsageError):
        sweep.run(bench_, [*IMAGES, broken], ["bedrock"], (1,), requests=2)
    assert bench_.calls == []


def test_the_job_runs_in_the_background_and_reports_progress():
    bench_ = ScriptedBench(lambda t, c, n: ok(sleep_s=0.005))
    job = sweep.SweepJob(bench_, plan(levels=(1, 2), requests=4)).start()
    assert job.wait(30) and job.done and job.error is None
    assert job.outcome.sweep_id == job.sweep_id and len(job.outcome.levels) == 2
    assert job.progress is not None and job.progress.fraction == 1.0


# --- rebuilt from history ----------------------------------------------------------------------------------------


def stored(outcome: sweep.SweepOutcome) -> list[dict]:
    """The items history keeps of a sweep's results (history.run_items' fields that SWEEP_FIELDS names)."""
    from mcv_core.history import run_items

    items = [item for run in outcome.runs for item in run_items(run, 0) if item["type"] == "result"]
    return [{name: item.get(name) for name in sweep.SWEEP_FIELDS} for item in items]


def test_levels_rebuilt_from_stored_items_match_the_live_ones():
    bench_ = ScriptedBench(lambda t, c, n: ok(20.0 + n, ttft_ms=3.0, output_tokens=7, sleep_s=0.02))
    outcome = sweep.run(bench_, IMAGES, ["bedrock", "azure_openai"], (1, 2), requests=4)
    items = stored(outcome)
    items.reverse()  # history gives newest first: the order must not matter
    rebuilt = sweep.levels_from_results(items)
    live = outcome.to_json()["levels"]
    assert [(r["target"], r["concurrency"]) for r in rebuilt] == [(r["target"], r["concurrency"]) for r in live]
    for got, want in zip(rebuilt, live):
        for key in ("requests", "ok", "errors", "throttled", "p50_ms", "p95_ms", "p99_ms", "p50_ttft_ms", "p95_ttft_ms"):
            assert got[key] == want[key], key
        assert list(got)[: len(sweep.LEVEL_KEYS)] == list(sweep.LEVEL_KEYS)


def test_a_rebuilt_level_runs_from_the_first_start_to_the_last_calls_end():
    start = datetime(2026, 12, 4, 10, 0, 0, tzinfo=timezone.utc)

    def item(offset_s: float, latency: float, tokens: int, **extra: Any) -> dict:
        created = (start + timedelta(seconds=offset_s)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return {
            "run_id": f"r{offset_s}", "created_at": created, "provider": "bedrock", "status": "ok", "latency_ms": latency,
            "output_tokens": tokens, "timings": {"prepare_ms": 5.0, "queue_ms": 15.0}, "sweep_id": "sweep-x", "concurrency": 2, **extra,
        }  # fmt: skip

    items = [item(0.0, 480.0, 40), item(0.1, 1880.0, 60), item(0.5, 980.0, 100)]  # ends at 0.5, 2.0, 1.5 s
    items.append({**item(0.2, 100.0, 0), "status": "error", "error_type": "throttled"})
    items.append({"provider": "bedrock", "status": "ok", "latency_ms": 1.0})  # not from a sweep: left out
    (level,) = sweep.levels_from_results(items)
    assert level["wall_s"] == 2.0
    assert (level["requests"], level["ok"], level["errors"], level["throttled"]) == (4, 3, 1, 1)
    assert level["images_per_s"] == 1.5 and level["output_tokens_per_s"] == 100.0
    with pytest.raises(ValueError, match="2 sweeps"):
        sweep.levels_from_results([items[0], {**items[1], "sweep_id": "sweep-y"}])


def test_past_sweeps_are_listed_newest_first_with_their_targets_in_the_order_they_ran():
    bench_ = ScriptedBench(lambda t, c, n: ok())
    first = sweep.run(bench_, IMAGES, ["azure_openai", "bedrock"], (1, 2), requests=2, sweep_id="sweep-20261204T100000-aaaaaa")
    second = sweep.run(bench_, IMAGES, ["bedrock"], (1,), requests=3, sweep_id="sweep-20261204T110000-bbbbbb")
    found = sweep.sweeps_in(stored(first) + stored(second) + [{"provider": "bedrock", "status": "ok"}])
    assert [s["sweep_id"] for s in found] == [second.sweep_id, first.sweep_id]
    assert found[1]["targets"] == ["azure_openai", "bedrock"] and found[1]["levels"] == [1, 2] and found[1]["requests"] == 8
    assert found[0]["requests"] == 3 and isinstance(found[0]["started_at"], datetime)


def test_history_rebuilds_a_sweep_from_its_frame_as_from_the_stored_items():
    """History holds a frame (analytics.to_frame), not items: the levels and the list of sweeps read from it are
    those read from the items, and the frame's other rows are left out."""
    from mcv_core import analytics
    from mcv_core.history import run_items

    bench_ = ScriptedBench(lambda t, c, n: ok(20.0 + 3 * n, ttft_ms=3.0 + n, output_tokens=7 + n, sleep_s=0.01))
    first = sweep.run(bench_, IMAGES, ["bedrock", "azure_openai"], (1, 2), requests=3, sweep_id="sweep-20261204T100000-aaaaaa")
    second = sweep.run(bench_, IMAGES, ["bedrock"], (1,), requests=2, sweep_id="sweep-20261204T110000-bbbbbb")
    items = [i for o in (first, second) for run in o.runs for i in run_items(run, 0) if i["type"] == "result"]
    frame = analytics.to_frame(items)
    assert len(sweep.frame_items(frame)) == len(items) == 14
    assert sweep.frame_items(frame.iloc[0:0]) == [] and sweep.frame_items(frame.drop(columns="sweep_id")) == []
    from_frame = sweep.sweeps_in(sweep.frame_items(frame))
    assert [(s["sweep_id"], s["targets"], s["levels"], s["requests"]) for s in from_frame] == [
        (s["sweep_id"], s["targets"], s["levels"], s["requests"]) for s in sweep.sweeps_in(stored(first) + stored(second))
    ]
    assert from_frame[1]["started_at"] == sweep.sweeps_in(stored(first))[0]["started_at"]
    rebuilt = sweep.levels_from_results(sweep.frame_items(frame, first.sweep_id))
    assert rebuilt == sweep.levels_from_results(stored(first))
    assert [(r["target"], r["concurrency"], r["requests"]) for r in rebuilt] == [
        ("bedrock", 1, 3), ("bedrock", 2, 3), ("azure_openai", 1, 3), ("azure_openai", 2, 3)
    ]


# --- the estimate ------------------------------------------------------------------------------------------------


def test_the_estimate_prices_exactly_the_requests_sent():
    p = plan(targets=("bedrock", "sagemaker"), levels=(1, 2, 4, 8), requests=8)
    estimates = sweep.estimate(p, SETTINGS, {"bedrock": 8, "sagemaker": 5}, catalogue=CATALOGUE)
    bedrock, sagemaker = estimates
    assert (bedrock.levels, bedrock.requests) == ((1, 2, 4, 8), 32)
    assert (sagemaker.levels, sagemaker.requests) == ((1, 2, 4, 5), 32)
    same = bench.BenchPlan(IMAGES * 16, ("bedrock",), 1, 1, None)  # 32 requests, round-robin over both images
    (want,) = bench.estimate(same, SETTINGS, catalogue=CATALOGUE)
    assert bedrock.cost_usd_max == pytest.approx(want.cost_usd_max) and bedrock.cost_usd_typical == pytest.approx(want.cost_usd_typical)
    assert bedrock.per_request_usd_max == pytest.approx(want.cost_usd_max / 32)
    assert 0 < bedrock.cost_usd_typical < bedrock.cost_usd_max


def test_a_sweep_that_runs_for_a_time_is_priced_per_request():
    (e,) = sweep.estimate(plan(requests=None, duration_s=10.0), SETTINGS, {"bedrock": 8}, catalogue=CATALOGUE)
    assert e.requests is None and e.cost_usd_max is None and e.cost_usd_typical is None
    assert e.per_request_usd_max > e.per_request_usd_typical > 0


# --- the chart ---------------------------------------------------------------------------------------------------


LEVELS = [
    {"target": "sagemaker", "concurrency": c, "requests": 8, "ok": 8, "errors": 0, "throttled": 0, "p50_ms": 40.0 * c,
     "p95_ms": 60.0 * c, "p99_ms": 70.0 * c, "p50_ttft_ms": None, "p95_ttft_ms": None, "images_per_s": 25.0 * c,
     "output_tokens_per_s": None}
    for c in (1, 2, 4)
] + [
    {"target": "bedrock", "concurrency": c, "requests": 8, "ok": 8 - (c == 4) * 2, "errors": (c == 4) * 2, "throttled": (c == 4) * 2,
     "p50_ms": 900.0 + c, "p95_ms": 1500.0 + c, "p99_ms": 1600.0, "p50_ttft_ms": 300.0, "p95_ttft_ms": 400.0,
     "images_per_s": 1.1 * c, "output_tokens_per_s": 70.0 * c}
    for c in (1, 2, 4)
]  # fmt: skip


def test_the_sweep_chart_draws_latency_and_throughput_against_concurrency_in_the_targets_colours():
    legend = charts.legend(CATALOGUE.ids, CATALOGUE)
    fig = charts.sweep_chart(LEVELS, legend)
    assert fig.layout.title.text == charts.SWEEP_TITLE
    names = {(t.name, t.xaxis, t.line.dash) for t in fig.data}
    assert ("SageMaker Serverless (n=24)", "x", "solid") in names and ("SageMaker Serverless (n=24)", "x", "dash") in names
    assert ("Amazon Bedrock (n=24)", "x3", "solid") in names  # output tokens per second
    assert not any(t.name.startswith("SageMaker") and t.xaxis == "x3" for t in fig.data), "a classifier has no tokens"
    for trace in fig.data:
        target = "sagemaker" if trace.name.startswith("SageMaker") else "bedrock"
        assert trace.line.color == CATALOGUE.by_id[target].color
        assert list(trace.x) == [1, 2, 4]
    p50 = next(t for t in fig.data if t.name.startswith("Amazon") and t.xaxis == "x" and t.line.dash == "solid")
    assert list(p50.y) == [901.0, 902.0, 904.0]
    assert list(p50.marker.symbol) == ["circle", "circle", "circle-open"], "a level with failures is open"
    assert "2 failed (2 throttled)" in p50.hovertext[2] and "TTFT p50 300 ms" in p50.hovertext[0]
    assert sum(bool(t.showlegend) for t in fig.data) == 2, "one legend entry per target"
    assert fig.layout.xaxis.type == "log" and list(fig.layout.xaxis.tickvals) == [1, 2, 4]
    assert fig.layout.xaxis.title.text == "Requests in flight at once"
    assert fig.layout.yaxis.type == "log" and "ms or s, log scale" in fig.layout.yaxis.title.text  # 40 ms .. 1.5 s
    assert fig.layout.yaxis2.title.text == "Images per second (ok answers)"
    assert fig.layout.yaxis3.title.text == "Output tokens per second (ok answers)"


def test_the_sweep_chart_of_nothing_says_so_and_a_classifier_alone_says_why_no_tokens():
    empty = charts.sweep_chart([])
    assert empty.layout.annotations[0].text == charts.EMPTY_TEXT
    alone = charts.sweep_chart(LEVELS[:3])
    assert alone.layout.yaxis.type != "log"  # 40 to 240 ms: linear
    assert any("No output tokens reported" in (a.text or "") for a in alone.layout.annotations)


# --- the command line's text -------------------------------------------------------------------------------------


def test_the_human_output_is_a_table_per_target_by_title_with_units():
    def script(target: str, level: int, n: int) -> dict:
        if level == 2 and n % 2:
            return {"status": "error", "error_type": "throttled", "latency_ms": 2.0}
        return ok(1234.5, ttft_ms=456.0, output_tokens=100)

    bench_ = ScriptedBench(script, slots={"bedrock": 2})
    outcome = sweep.run(bench_, IMAGES, ["bedrock"], (1, 2, 4), requests=4, max_error_share=0.2)
    text = cli.format_sweep(outcome)
    lines = text.splitlines()
    assert lines[0].startswith(f"sweep {outcome.sweep_id}: 4 requests per level over 2 images, 8 requests stored, in ")
    assert lines[1] == "Amazon Bedrock (2 slots)"
    assert lines[2].split() == "at once requests ok failed throttled p50 p95 p99 TTFT p50 TTFT p95 images/s output tokens/s".split()
    assert "1,234 ms" in lines[3] and "456 ms" in lines[3]
    assert "failed at 2 at once: 2 throttled" in text
    assert "stopped at 2 at once: 2 of 4 requests failed (50%), above the 20% limit" in text
    assert "capped: Amazon Bedrock takes 2 calls at once" in text
    assert "bedrock" not in text.replace(outcome.sweep_id, ""), "targets by title, not by id"
    assert "None" not in text and "nan" not in text


def test_the_estimate_text_names_each_target_and_the_total():
    p = plan(targets=("bedrock", "sagemaker"), levels=(1, 2, 4, 8), requests=8)
    estimates = sweep.estimate(p, SETTINGS, {"bedrock": 8, "sagemaker": 5}, catalogue=CATALOGUE)
    text = cli.format_sweep_estimate("sweep-x", p, estimates, CATALOGUE, SETTINGS)
    assert text.startswith("sweep sweep-x: each target alone at 1, 2, 4, 8 at once, 8 requests per level, 2 images round-robin")
    assert "Amazon Bedrock" in text and "1, 2, 4, 5" in text and "64" in text  # 32 + 32 requests at most
    assert "(local cloud: nothing is billed" in text
