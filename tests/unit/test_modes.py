"""Online against batch (mcv_core/modes.py) on hand-made history items whose figures are known in advance."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from mcv_core import formatting as fmt
from mcv_core import modes, scoring

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)
ONLINE_BENCH = "bench-20260302T100000-aaaaaa"
BATCH_BENCH = "bench-20260302T110000-bbbbbb"
PROMPT = "What is in this image?"
EXPECTED = {"sha-a": ["cat"], "sha-b": ["espresso", "coffee"]}


def iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def result(
    run: str, seconds: float, image: str, output: str, *, mode: str | None = None, **extra: Any
) -> dict[str, Any]:
    """A result item as History.select returns it (RESULT_FIELDS); `mode` None: an item stored without one."""
    item: dict[str, Any] = {
        "run_id": run,
        "created_at": iso(T0 + timedelta(seconds=seconds)),
        "provider": "bedrock",
        "title": "Amazon Bedrock",
        "model": "anthropic.claude-3-haiku",
        "status": "ok",
        "output": output,
        "image_key": f"uploads/2026/03/02/{image}.jpg",
        "image_sha256": image,
        "prompt": PROMPT,
        "source": "bench",
        "expected": EXPECTED[image],
        "correct": scoring.score(output, EXPECTED[image]),
    }
    if mode is not None:
        item["mode"] = mode
    item.update(extra)
    return item


def online_items() -> list[dict[str, Any]]:
    """An online benchmark: two images twice, $0.002 a call, 1 s per call; the last waited 500 ms for a slot and took
    100 ms to prepare its image, so it ends at 3 + 0.5 + 0.1 + 1 = 4.6 s after the first began. No `mode`."""
    common = {"bench_id": ONLINE_BENCH, "cost_usd": 0.002, "latency_ms": 1000.0}
    return [
        result("on-1", 0, "sha-a", "A cat on a rug.", **common),
        result("on-2", 1, "sha-b", "An espresso cup.", **common),
        result("on-3", 2, "sha-a", "A cat on a rug.", **common),
        result("on-4", 3, "sha-b", "A coffee cup.", **common, timings={"queue_ms": 500.0, "prepare_ms": 100.0}),
    ]


def batch_items() -> list[dict[str, Any]]:
    """A batch benchmark: the same two images three times at $0.001 (half price), no latency; the third answer on
    sha-b has no online partner (online ran it twice)."""
    common = {"mode": "batch", "bench_id": BATCH_BENCH, "cost_usd": 0.001, "job_id": "job-1"}
    return [
        result("b-1", 3600, "sha-a", "A  cat on a RUG.", **common),  # the same text as online's, case and spacing aside
        result("b-2", 3600, "sha-b", "Espresso in a cup.", **common),
        result("b-3", 3601, "sha-a", "A cat asleep.", **common),
        result("b-4", 3601, "sha-b", "A cup of espresso.", **common),  # online's second on sha-b names coffee first
        result("b-5", 3602, "sha-a", "A cat.", **common),
        result("b-6", 3602, "sha-b", "A dog.", **common),
    ]


def batch_state() -> dict[str, Any]:
    """The batch benchmark's recorded state: Bedrock's job took an hour; Azure's, in the same benchmark, two."""
    start = T0 + timedelta(minutes=59)
    return {
        "bench_id": BATCH_BENCH,
        "created_at": start.isoformat(),
        "targets": ["bedrock", "azure_openai"],
        "records": 6,
        "over": True,
        "jobs": [
            {"target": "bedrock", "part": 0, "job_id": "job-1", "first": 0, "count": 6, "status": "Completed",
             "phase": "done", "collected": True, "submitted_at": start.isoformat(),
             "ended_at": (start + timedelta(hours=1)).isoformat()},
            {"target": "azure_openai", "part": 0, "job_id": "job-2", "first": 0, "count": 6, "status": "completed",
             "phase": "done", "collected": True, "submitted_at": (start + timedelta(seconds=30)).isoformat(),
             "ended_at": (start + timedelta(hours=2)).isoformat()},
        ],
    }  # fmt: skip


def test_cost_time_and_agreement_of_one_target_online_and_in_batch() -> None:
    [row] = modes.compare(online_items() + batch_items(), [batch_state()])
    assert row.target == "bedrock" and row.both
    assert (row.online.results, row.batch.results, row.online.ok, row.batch.ok) == (4, 6, 4, 6)
    assert row.online.cost_per_1k_usd == pytest.approx(2.0) and row.online.n_priced == 4
    assert row.batch.cost_per_1k_usd == pytest.approx(1.0) and row.batch.n_priced == 6
    assert row.online.time_to_all_s == pytest.approx(4.6) and row.online.benchmarks == 1
    assert row.batch.time_to_all_s == pytest.approx(3600.0) and row.batch.benchmarks == 1, "Bedrock's job, not Azure's"
    # Pairs: sha-a online x2 with its first two batch answers, sha-b x2 likewise; b-5 and b-6 stay unpaired.
    assert (row.images, row.pairs) == (2, 4)
    # First expected label named: cat=cat, cat=cat, espresso=espresso, coffee≠espresso.
    assert (row.top_agreement, row.top_n) == (pytest.approx(0.75), 4)
    assert (row.same_text, row.text_n) == (pytest.approx(0.25), 4)
    # Accuracy: every online answer right; in batch "A dog." is wrong: 5 of 6.
    assert (row.online.accuracy, row.online.n_scored) == (1.0, 4)
    assert (row.batch.accuracy, row.batch.n_scored) == (pytest.approx(5 / 6), 6)
    assert row.mcnemar_p is None and row.mcnemar_n == 4 and row.note == "too few pairs (n=4; needs 6)"

    shown = modes.table([row]).iloc[0]
    assert shown["online_cost_per_1k_usd"] == pytest.approx(2.0)
    assert shown["batch_cost_per_1k_usd"] == pytest.approx(1.0)
    assert (shown["online_time"], shown["batch_time"]) == ("4,600 ms", "60.0 min")
    assert (shown["agreement"], shown["same_text"]) == ("75% n=4", "25% n=4")
    assert shown["mcnemar"] == f"{fmt.DASH} too few pairs (n=4; needs 6)"
    assert shown["online_accuracy"].endswith("n=4") and shown["online_accuracy"].startswith("100% (")
    assert modes.one_mode_note([row]) is None


def test_items_without_a_mode_are_online() -> None:
    assert modes.modes_present(online_items()) == {"online": 4}
    assert modes.modes_present(online_items() + batch_items()) == {"online": 4, "batch": 6}
    [row] = modes.compare(online_items())
    assert row.online.results == 4 and row.batch.results == 0


@pytest.mark.parametrize(
    ("items", "lacking", "command"),
    [
        (online_items, "batch", "--mode batch"),
        (batch_items, "online", "an online benchmark"),
    ],
)
def test_one_mode_only_says_what_to_run_for_the_other(items: Any, lacking: str, command: str) -> None:
    [row] = modes.compare(items(), [batch_state()])
    assert not row.both and (row.images, row.pairs, row.top_n) == (0, 0, 0)
    assert modes.missing_mode([row]) == lacking
    note = modes.one_mode_note([row])
    assert note is not None and command in note
    shown = modes.table([row]).iloc[0]
    assert shown[f"{lacking}_time"] == f"{fmt.DASH} no {lacking} results"
    assert shown["agreement"] == f"{fmt.DASH} no pairs"
    assert fmt.missing(shown[f"{lacking}_cost_per_1k_usd"]), "no results: no cost, never $0"


def test_a_batch_benchmark_whose_jobs_run_has_no_time_yet_and_results_outside_a_benchmark_none() -> None:
    state = batch_state()
    state["jobs"][0]["ended_at"] = None
    loose = [dict(i, bench_id=None, source="ui") for i in online_items()]
    [row] = modes.compare(loose + batch_items(), [state])
    assert row.batch.time_to_all_s is None and row.batch.benchmarks == 0
    assert row.online.time_to_all_s is None and row.online.benchmarks == 0
    shown = modes.table([row]).iloc[0]
    assert shown["batch_time"] == f"{fmt.DASH} jobs not all ended"
    assert shown["online_time"] == f"{fmt.DASH} no benchmark"
    # Without the benchmark's state (older than the states read), no time either, and the rest is unchanged.
    [bare] = modes.compare(online_items() + batch_items())
    assert bare.batch.time_to_all_s is None and bare.batch.cost_per_1k_usd == pytest.approx(1.0)


def test_several_benchmarks_of_a_mode_give_the_median_of_their_times() -> None:
    other = "bench-20260302T120000-cccccc"
    second = [
        result("on2-1", 7200, "sha-a", "A cat.", bench_id=other, cost_usd=0.004, latency_ms=2000.0),
        result("on2-2", 7208, "sha-a", "A cat.", bench_id=other, cost_usd=0.004, latency_ms=2000.0),
    ]  # 0 to 10 s
    [row] = modes.compare(online_items() + second + batch_items(), [batch_state()])
    assert row.online.benchmarks == 2 and row.online.time_to_all_s == pytest.approx((4.6 + 10.0) / 2)
    assert row.online.cost_per_1k_usd == pytest.approx(1000 * (4 * 0.002 + 2 * 0.004) / 6)
    assert modes.table([row]).iloc[0]["online_time"] == "7,300 ms"
    assert modes.table([row]).iloc[0]["online_benchmarks"] == 2


def test_mcnemar_online_against_batch_on_enough_pairs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Eight images once each way: online right on all, batch wrong on six. McNemar's exact p is 2 x 0.5^6."""
    for i in range(8):
        monkeypatch.setitem(EXPECTED, f"sha-{i}", ["cat"])
    online = [result(f"o{i}", i, f"sha-{i}", "A cat.", bench_id=ONLINE_BENCH, latency_ms=10.0) for i in range(8)]
    batched = [
        result(f"b{i}", 100 + i, f"sha-{i}", "A dog." if i < 6 else "A cat.", mode="batch", bench_id=BATCH_BENCH)
        for i in range(8)
    ]
    [row] = modes.compare(online + batched, [batch_state()])
    assert row.mcnemar_n == 8 and row.mcnemar_p == pytest.approx(2 * 0.5**6)
    assert row.mcnemar_effect == pytest.approx(6 / 8)
    assert modes.table([row]).iloc[0]["mcnemar"] == "+75 points, p 0.031"
    # The text answers name no expected label where the batch answer is "A dog.": those pairs are not compared.
    assert (row.top_agreement, row.top_n) == (1.0, 2)


def test_targets_keep_the_catalogue_order_and_each_its_own_figures() -> None:
    azure = [dict(i, provider="azure_openai", title="Azure OpenAI", run_id=i["run_id"] + "-az") for i in batch_items()]
    rows = modes.compare(online_items() + batch_items() + azure, [batch_state()], order=["azure_openai", "bedrock"])
    assert [r.target for r in rows] == ["azure_openai", "bedrock"]
    assert rows[0].batch.time_to_all_s == pytest.approx(2 * 3600 - 30) and not rows[0].both
    assert rows[1].both


def test_long_durations_read_in_minutes_hours_and_days() -> None:
    assert fmt.duration_long_s(4.6) == "4,600 ms"
    assert fmt.duration_long_s(99.9) == "99.9 s"
    assert fmt.duration_long_s(3600) == "60.0 min"
    assert fmt.duration_long_s(3 * 3600) == "3.0 h"
    assert fmt.duration_long_s(3 * 86400) == "3.0 days"
    assert fmt.duration_long_s(None) == fmt.DASH


def test_the_sentence_says_which_mode_a_selection_ran_in() -> None:
    assert modes.mode_sentence(modes.modes_present(online_items())) == "Ran online: 4 calls, each timed on its own."
    assert modes.mode_sentence({"batch": 1}).startswith("Ran as batch jobs: 1 record at the batch price")
    both = modes.mode_sentence(modes.modes_present(online_items() + batch_items()))
    assert both.startswith("Ran in both modes: 4 calls online and 6 batch records.")
    only = modes.lacking_note("online")
    assert only.startswith("Only online results here") and "--mode batch" in only
    assert "different models" in modes.lacking_note(None)


def test_history_modes_as_text() -> None:
    from mcv_core.cli import format_modes

    text = format_modes(modes.compare(online_items() + batch_items(), [batch_state()]), T0)
    head, columns, line = text.splitlines()
    assert head == "online against batch since 2026-03-02 10:00 UTC, on the same images"
    assert columns.split("  ")[0] == "target" and "same top answer" in columns
    assert line.split() == ["bedrock", "2", "$2.00", "$1.00", "4,600", "ms", "60.0", "min", "75%", "n=4"]
    alone = format_modes(modes.compare(online_items()), T0)
    assert alone.startswith("online against batch since 2026-03-02 10:00 UTC, on the same images: Only online results")
    assert format_modes([], T0).endswith(": no results")
    [row] = modes.compare(online_items() + batch_items(), [batch_state()])
    assert row.to_json()["batch"]["time_to_all_s"] == 3600.0 and row.to_json()["top_n"] == 4
