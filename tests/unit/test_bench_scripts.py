"""The bench scripts' own arithmetic and plumbing (no timing is asserted anywhere: a bench reports, it is not a
test). DynamoDB's capacity rules, the arrival check of the responsiveness bench, and `python -m bench`'s
discovery and arguments."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import __main__ as runner
from bench.history_scale import item_size, page_units, read_units
from bench.responsiveness import arrival_observed

BENCH = Path(runner.__file__).resolve().parent


# --- DynamoDB item sizes and read units (CapacityUnitCalculations in the DynamoDB developer guide) -----------


@pytest.mark.parametrize(
    ("item", "size"),
    [
        ({"pk": {"S": "RUN#1"}}, 2 + 5),
        ({"name": {"S": "猫"}}, 4 + 3),  # UTF-8 bytes
        ({"n": {"N": "123.4500"}}, 1 + 1 + 3),  # 12345: 5 significant digits -> 3 bytes, plus 1
        ({"n": {"N": "-0.001"}}, 1 + 1 + 1),
        ({"ok": {"BOOL": True}, "x": {"NULL": True}}, 2 + 1 + 1 + 1),
        ({"l": {"L": [{"S": "ab"}, {"N": "1"}]}}, 1 + 3 + (1 + 2) + (1 + 2)),
        ({"m": {"M": {"k": {"S": "v"}}}}, 1 + 3 + (1 + 1 + 1)),
    ],
)
def test_item_size_follows_dynamodbs_rules(item: dict, size: int) -> None:
    assert item_size(item) == size


def test_item_size_of_some_attributes_only() -> None:
    item = {"pk": {"S": "RUN#1"}, "output": {"S": "x" * 1000}}
    assert item_size(item, ["pk"]) == 7 and item_size(item) == 7 + 6 + 1000


def test_read_units_half_a_unit_per_4_kb_rounded_up_per_page() -> None:
    assert page_units([1]) == 0.5 and page_units([4096]) == 0.5 and page_units([4097]) == 1.0
    assert read_units([100] * 40) == 0.5  # 4,000 bytes in one page
    assert read_units([4096, 1]) == 1.0  # summed before rounding, not per item
    # Two pages of 1 MB (the second item does not fit the first page): each rounded up on its own.
    assert read_units([1 << 20, 1], page_bytes=1 << 20) == 128.0 + 0.5


# --- responsiveness: did the cards arrive one by one? ------------------------------------------------------


def rep(cards: list[float | None], spread: float | None = 1500.0, end: float | None = 3000.0, error: str | None = None) -> dict:
    return {
        "latency_spread_ms": spread,
        "providers": {f"p{i}": {"card_ms": c} for i, c in enumerate(cards)},
        "run_end_ms": end,
        "error": error,
    }


def test_arrival_is_observed_only_when_cards_come_one_by_one() -> None:
    assert arrival_observed(rep([500.0, 1900.0, 2100.0]), 3) is True
    assert arrival_observed(rep([2100.0, 2100.0, 2100.0]), 3) is False  # all at once
    assert arrival_observed(rep([3100.0, 3200.0, 3300.0]), 3) is False  # first card after the run's end
    assert arrival_observed(rep([500.0, None, 2100.0]), 3) is False  # a card never came
    assert arrival_observed(rep([500.0, 2100.0]), 3) is False
    assert arrival_observed(rep([500.0, 1900.0, 2100.0], error="boom"), 3) is False
    assert arrival_observed(rep([500.0, 510.0, 520.0], spread=20.0), 3) is None  # equal latencies: nothing to see


# --- python -m bench ----------------------------------------------------------------------------------------


def test_every_bench_script_is_found_in_order_and_gets_quick() -> None:
    names = runner.discover()
    assert names[: len(runner.ORDER)] == list(runner.ORDER)
    assert set(names) == {p.stem for p in BENCH.glob("*.py")} - runner.NOT_SCRIPTS
    for name in names:
        assert "--quick" in runner.arguments(name, True, Path("/tmp/x")), name
        assert "--quick" not in runner.arguments(name, False, Path("/tmp/x")), name
    assert runner.arguments("load", False, Path("/tmp/x")) == ["--data-dir", "/tmp/x/load"]
    assert runner.arguments("alarm_response", True, Path("/tmp/x")) == ["--data-dir", "/tmp/x/alarm_response", "--quick"]
