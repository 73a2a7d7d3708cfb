"""The formatting layer: tiny, zero, unknown and huge values, as every page, the report and the CLI show them."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from mcv_core import formatting as fmt


@pytest.mark.parametrize(
    "usd, shown",
    [
        (0.0000012, "$0.0000012"),  # a classifier call: never "$0.000000"
        (0.00000125, "$0.0000013"),  # two significant digits, half up
        (0.000009996, "$0.000010"),  # rounding up into the next decade keeps two digits
        (0.0034, "$0.0034"),
        (0.00999, "$0.010"),
        (0.42, "$0.42"),
        (12.5, "$12.50"),
        (1234.5, "$1,234"),
        (123456789.0, "$123,456,789"),
        (0, "$0"),
        (0.0, "$0"),
        (None, "– price unknown"),
        (math.nan, "– price unknown"),
        (pd.NA, "– price unknown"),
    ],
)
def test_money_is_never_rounded_to_zero(usd, shown) -> None:  # noqa: ANN001
    assert fmt.money(usd) == shown


def test_money_per_1000_images() -> None:
    assert fmt.money_per_1000(0.0000012) == "$0.0012 per 1,000 images"
    assert fmt.money_per_1000(0.00042) == "$0.42 per 1,000 images"
    assert fmt.money_per_1000(None) == "– price unknown"


@pytest.mark.parametrize(
    "ms, shown",
    [(0.5, "0.5 ms"), (5, "5 ms"), (850, "850 ms"), (1234.4, "1,234 ms"), (9999, "9,999 ms"), (12345, "12.3 s"),
     (123456, "123 s"), (5_000_000, "5,000 s"), (None, "–"), (math.nan, "–"),
     (9.96, "10 ms"), (9999.6, "10.0 s"), (99_960, "100 s")],  # a bound checked on the value as shown
)  # fmt: skip
def test_durations(ms, shown) -> None:  # noqa: ANN001
    assert fmt.duration_ms(ms) == shown


@pytest.mark.parametrize(
    "fraction, shown",
    [(0.125, "12.5%"), (1, "100%"), (0.0004, "<0.1%"), (0, "0%"), (0.99999, "100%"), (0.5, "50%"), (None, "–")],
)
def test_percentages_run_0_to_100(fraction, shown) -> None:  # noqa: ANN001
    assert fmt.percent(fraction) == shown


@pytest.mark.parametrize("fraction, shown", [(0.5, "50%"), (0.7, "70%"), (1, "100%"), (0.104, "10%"), (0.004, "<1%")])
def test_whole_percentages_keep_their_zeros(fraction, shown) -> None:  # noqa: ANN001
    assert fmt.percent(fraction, digits=0) == shown


def test_counts_numbers_ratios_and_prices() -> None:
    assert fmt.count(306543) == "306,543"
    assert fmt.count(1, "call") == "1 call" and fmt.count(2, "repeat") == "2 repeats"
    assert fmt.count(1, "token") == "1 token" and fmt.tokens(1) == "1 token" and fmt.tokens(None) == "– not reported"
    assert fmt.number(1921.8283) == "1,921.8" and fmt.number(213.282, 0) == "213" and fmt.number(None) == "–"
    assert fmt.ratio(41.1556) == "41×" and fmt.ratio(1.5) == "1.5×" and fmt.ratio(2.0) == "2×"
    assert fmt.usd_per_unit(2e-5, "GB-second") == "$0.00002 per GB-second"
    assert fmt.usd_per_unit(0.25, "million tokens") == "$0.25 per million tokens"


def test_list_prices_keep_their_published_digits() -> None:
    assert [fmt.price(v) for v in (15, 0.25, 0.035, 1.25, 2e-5, 0)] == ["$15.00", "$0.25", "$0.035", "$1.25", "$0.00002", "$0.00"]
    tokens = {"billing": "tokens", "input_usd_per_mtok": 0.035, "output_usd_per_mtok": 0.14}
    assert fmt.target_price(tokens) == "$0.035 in / $0.14 out per million tokens"
    assert fmt.target_price({**tokens, "input_usd_per_mtok": None}) == "– price unknown"
    assert fmt.target_price({"billing": "compute"}, 2e-5) == "$0.00002 per GB-second of compute"
    assert fmt.target_price({"billing": "compute"}) == "– price unknown"


def test_nothing_shows_none_or_nan() -> None:
    for show in (fmt.money, fmt.duration_ms, fmt.percent, fmt.count, fmt.number, fmt.ratio, fmt.tokens):
        for value in (None, math.nan, pd.NA, pd.NaT, float("inf") * 0):
            text = show(value)
            assert text.startswith("–") and "None" not in text and "nan" not in text.lower(), (show, value, text)


def test_shorten_cuts_at_a_word_with_an_ellipsis() -> None:
    text = "The image most likely shows an Egyptian cat (78%). No legible text."
    assert fmt.shorten(text, 40) == "The image most likely shows an Egyptian…"
    assert len(fmt.shorten(text, 40)) <= 40
    assert fmt.shorten(text, 200) == text
    assert fmt.shorten("a\nb\tc", 10) == "a b c"
    assert fmt.shorten("x" * 50, 10) == "x" * 9 + "…"  # one long word: cut inside it
    assert fmt.shorten(None, 10) == ""


def test_column_titles_have_units_and_no_internal_names() -> None:
    assert fmt.column_title("median_ci_low") == "Median, 95% CI low (ms)"
    assert fmt.column_title("penalty_ratio") == "Cold ÷ warm"
    assert fmt.column_title("provider") == "Model"
    assert fmt.column_title("some_new_column") == "Some new column"
    assert all("_" not in title for title in fmt.COLUMN_TITLES.values())


@pytest.mark.parametrize(
    ("rate", "shown"),
    [(85.04, "85 tokens/s"), (1234.5, "1,234 tokens/s"), (8.46, "8.5 tokens/s"), (1, "1 token/s"), (0.0, "0 tokens/s"), (None, "–"), (math.nan, "–")],
)
def test_output_rates(rate, shown) -> None:  # noqa: ANN001
    assert fmt.tokens_per_s(rate) == shown


def test_the_streaming_and_anatomy_columns_have_titles() -> None:
    from mcv_core.records import ANATOMY

    for name in ("ttft_ms", "output_tokens_per_s", "streamed", *ANATOMY, "p50_ttft_ms", "images_per_s", "concurrency"):
        assert name in fmt.COLUMN_TITLES, name
    assert fmt.column_title("ttft_ms") == "Time to first token (ms)"
