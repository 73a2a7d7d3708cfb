"""mcv_core.quality: every statistic checked on synthetic data against a figure found independently (a hand
count, a published example, or the definition worked out in the test)."""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pytest

from mcv_core import analytics, quality

Z95 = 1.959963984540054  # the 97.5% point of the standard normal


def wilson_by_hand(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson (1927): the p for which |k/n - p| = z * sqrt(p(1-p)/n), solved as a quadratic in p."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


# --- Wilson ---------------------------------------------------------------------------------------------------------


def test_wilson_8_of_10_is_the_published_interval() -> None:
    low, high = quality.wilson_interval(8, 10)
    assert float(low) == pytest.approx(0.4902, abs=5e-5) and float(high) == pytest.approx(0.9433, abs=5e-5)
    assert (float(low), float(high)) == pytest.approx(wilson_by_hand(8, 10), abs=1e-12)


def test_wilson_is_vectorised_with_nan_where_n_is_0() -> None:
    low, high = quality.wilson_interval([8, 0, 5, 3], [10, 4, 0, 3])
    assert low.shape == (4,) and high.shape == (4,)
    assert (low[0], high[0]) == pytest.approx(wilson_by_hand(8, 10))
    assert low[1] == 0 and high[1] == pytest.approx(wilson_by_hand(0, 4)[1])
    assert math.isnan(low[2]) and math.isnan(high[2])
    assert high[3] == 1 and low[3] == pytest.approx(wilson_by_hand(3, 3)[0])


def test_wilson_confidence_changes_the_width() -> None:
    z90 = 1.6448536269514722
    low, high = quality.wilson_interval(8, 10, confidence=0.90)
    assert (float(low), float(high)) == pytest.approx(wilson_by_hand(8, 10, z90), abs=1e-12)


def test_analytics_delegates_to_the_one_wilson() -> None:
    k, n = np.array([0, 1, 7, 9, 0]), np.array([5, 9, 20, 9, 0])
    ours, theirs = quality.wilson_interval(k, n), analytics.wilson_interval(k, n)
    np.testing.assert_array_equal(ours[0], theirs[0])
    np.testing.assert_array_equal(ours[1], theirs[1])


# --- the mean's interval ------------------------------------------------------------------------------------------


def test_mean_ci_is_close_to_the_normal_interval_on_a_large_even_sample() -> None:
    values = np.arange(100.0)  # mean 49.5, population sd sqrt((100^2 - 1) / 12)
    est = quality.mean_ci(values)
    se = math.sqrt((100**2 - 1) / 12) / math.sqrt(100)
    assert est.value == 49.5 and est.n == 100 and est.note is None
    assert est.low == pytest.approx(49.5 - Z95 * se, abs=0.6)
    assert est.high == pytest.approx(49.5 + Z95 * se, abs=0.6)


def test_mean_ci_is_reproducible_and_leaves_nan_out() -> None:
    values = [3, 4, 5, 2, float("nan"), 5, 4, 1, 5]
    first, second = quality.mean_ci(values), quality.mean_ci(values)
    assert first == second
    assert first.n == 8 and first.value == pytest.approx(29 / 8)
    assert first.low < first.value < first.high


def test_mean_ci_of_constant_one_and_no_values() -> None:
    assert quality.mean_ci([4, 4, 4]) == quality.Estimate(4.0, 4.0, 4.0, 3)
    one = quality.mean_ci([3])
    assert (one.value, one.low, one.high, one.n) == (3.0, None, None, 1) and one.note
    none = quality.mean_ci([])
    assert (none.value, none.n, none.interval) == (None, 0, None) and none.note == "no values"


# --- McNemar ------------------------------------------------------------------------------------------------------


def verdicts(both: int, a_only: int, b_only: int, neither: int) -> tuple[list[bool], list[bool]]:
    a = [True] * both + [True] * a_only + [False] * b_only + [False] * neither
    b = [True] * both + [False] * a_only + [True] * b_only + [False] * neither
    return a, b


def binomial_two_sided_by_hand(low: int, n: int) -> float:
    """2 * P(X <= low) for X ~ Bin(n, 1/2), by counting subsets."""
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(low + 1)) / 2**n)


def test_mcnemar_exact_is_the_binomial_hand_count() -> None:
    a, b = verdicts(both=5, a_only=1, b_only=7, neither=3)
    test = quality.mcnemar_exact(a, b)
    assert binomial_two_sided_by_hand(1, 8) == 0.0703125
    assert test.p_value == pytest.approx(0.0703125, abs=1e-15)
    assert test.n == 16 and (test.a_only, test.b_only) == (1, 7)
    assert test.effect == pytest.approx(6 / 16 - 12 / 16)  # accuracy of a minus accuracy of b
    assert test.note is None


def test_mcnemar_is_symmetric_and_reaches_significance() -> None:
    a, b = verdicts(both=2, a_only=0, b_only=6, neither=2)
    forward, backward = quality.mcnemar_exact(a, b), quality.mcnemar_exact(b, a)
    assert forward.p_value == backward.p_value == pytest.approx(2 / 64)
    assert forward.effect == pytest.approx(-backward.effect) == pytest.approx(-0.6)


def test_mcnemar_leaves_unknown_verdicts_out() -> None:
    a, b = verdicts(both=5, a_only=1, b_only=7, neither=3)
    test = quality.mcnemar_exact(a + [None, True], b + [True, None])
    assert test.n == 16 and test.p_value == pytest.approx(0.0703125)


def test_mcnemar_with_too_few_pairs_or_no_discordant_pair_gives_a_note() -> None:
    few = quality.mcnemar_exact([True, False, True], [False, False, True])
    assert few.p_value is None and few.note == "too few pairs (n=3; needs 6)" and few.n == 3
    assert few.effect == pytest.approx(1 / 3)
    same = quality.mcnemar_exact(*verdicts(both=4, a_only=0, b_only=0, neither=4))
    assert same.p_value is None and "no discordant pairs" in same.note and same.effect == 0


# --- Wilcoxon ------------------------------------------------------------------------------------------------------


def wilcoxon_exact_by_hand(differences: list[float]) -> tuple[float, float]:
    """(min(W+, W-), two-sided exact p) by enumerating every sign assignment of the ranks (no ties, no zeros)."""
    ranks = {d: r for r, d in enumerate(sorted(differences, key=abs), start=1)}
    w_plus = sum(ranks[d] for d in differences if d > 0)
    w_minus = sum(ranks[d] for d in differences if d < 0)
    stat = min(w_plus, w_minus)
    n = len(differences)
    sums = [sum(subset) for k in range(n + 1) for subset in combinations(range(1, n + 1), k)]
    return stat, min(1.0, 2 * sum(s <= stat for s in sums) / 2**n)


def test_wilcoxon_small_exact_example() -> None:
    d = [1, 2, 3, 4, 5, 6, -7]
    stat, p = wilcoxon_exact_by_hand(d)
    assert (stat, p) == (7, 38 / 128)
    b = [500.0 + 10 * i for i in range(7)]
    a = [x + y for x, y in zip(b, d)]
    test = quality.wilcoxon_paired(a, b)
    assert test.statistic == 7 and test.p_value == pytest.approx(0.296875, abs=1e-12)
    assert test.effect == 3.0 and test.n == 7  # median of a - b


def test_wilcoxon_ten_pairs_against_enumeration() -> None:
    d = [12.0, -3.0, 7.0, 25.0, 1.0, -9.0, 16.0, 30.0, 4.0, 19.0]
    stat, p = wilcoxon_exact_by_hand(d)
    test = quality.wilcoxon_paired(np.array(d) + 100, np.full(10, 100.0))
    assert test.statistic == stat and test.p_value == pytest.approx(p, abs=1e-12)
    assert test.effect == pytest.approx(float(np.median(d)))


def test_wilcoxon_too_few_pairs_and_no_difference() -> None:
    few = quality.wilcoxon_paired([1.0, 2.0, float("nan"), 4.0], [2.0, 3.0, 1.0, None])
    assert few.n == 2 and few.p_value is None and few.note == "too few pairs (n=2; needs 6)"
    assert few.effect == -1.0
    same = quality.wilcoxon_paired([5.0] * 8, [5.0] * 8)
    assert same.p_value is None and same.note == "no difference on any of the 8 pairs"


def test_paired_values_must_have_the_same_length() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        quality.wilcoxon_paired([1, 2, 3], [1, 2])


# --- paired bootstrap ---------------------------------------------------------------------------------------------


def test_paired_bootstrap_effect_interval_and_smallest_p() -> None:
    a = [5, 4, 5, 4, 5, 5, 3, 4]
    b = [3, 3, 4, 3, 4, 3, 2, 3]  # every difference is 1 or 2: no resampled mean is 0 or below
    test = quality.paired_bootstrap(a, b)
    assert test.effect == pytest.approx(10 / 8) and test.n == 8
    assert test.p_value == pytest.approx(2 / (quality.MEAN_RESAMPLES + 1))
    assert 1.0 <= test.low <= test.effect <= test.high <= 2.0
    assert quality.paired_bootstrap(a, b) == test  # a fixed seed: the same figures every time


def test_paired_bootstrap_of_no_difference_is_not_significant() -> None:
    a = [4, 3, 5, 2, 4, 3, 5, 2, 4, 3]
    b = [3, 4, 4, 3, 3, 4, 4, 3, 5, 2]  # differences +1 and -1, five each
    test = quality.paired_bootstrap(a, b)
    assert test.effect == 0 and test.p_value > 0.5
    assert test.low < 0 < test.high


def test_paired_bootstrap_too_few_pairs() -> None:
    test = quality.paired_bootstrap([5, 4, 3], [1, 2, 1])
    assert test.p_value is None and test.low is None and test.note == "too few pairs (n=3; needs 6)"
    assert test.effect == pytest.approx(8 / 3)


# --- Cohen's kappa ------------------------------------------------------------------------------------------------


def test_kappa_of_the_published_2x2_example() -> None:
    # Wikipedia's "Cohen's kappa" example: 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no; po = 0.7, pe = 0.5.
    a, b = verdicts(both=20, a_only=5, b_only=10, neither=15)
    result = quality.cohens_kappa(a, b)
    assert result.kappa == pytest.approx(0.4, abs=1e-12) and result.n == 50 and result.observed == pytest.approx(0.7)


def test_kappa_by_hand_on_another_table() -> None:
    a, b = verdicts(both=1, a_only=1, b_only=7, neither=1)
    po = 2 / 10
    pe = (2 / 10) * (8 / 10) + (8 / 10) * (2 / 10)
    assert quality.cohens_kappa(a, b).kappa == pytest.approx((po - pe) / (1 - pe), abs=1e-12)
    assert quality.cohens_kappa(*verdicts(both=6, a_only=0, b_only=0, neither=4)).kappa == pytest.approx(1.0)


def test_kappa_undefined_when_both_give_one_verdict() -> None:
    result = quality.cohens_kappa([True] * 5, [True] * 5)
    assert result.kappa is None and result.n == 5 and "undefined" in result.note
    assert quality.cohens_kappa([False] * 4, [False] * 4).kappa is None
    # One always right, the other always wrong: chance agreement is 0, kappa 0 (defined).
    assert quality.cohens_kappa([True] * 4, [False] * 4).kappa == 0
    empty = quality.cohens_kappa([None, True], [False, None])
    assert empty.kappa is None and empty.n == 0 and empty.note


# --- Bradley-Terry ------------------------------------------------------------------------------------------------


def test_equal_records_give_equal_ratings() -> None:
    ratings = quality.bradley_terry([("A", "B", 1.0), ("B", "A", 1.0), ("A", "B", 0.5)])
    assert ratings.items == ("A", "B")
    np.testing.assert_allclose(ratings.rating, [1000.0, 1000.0], atol=1e-6)
    cycle = quality.bradley_terry([("A", "B", 1.0), ("B", "C", 1.0), ("C", "A", 1.0)])
    np.testing.assert_allclose(cycle.rating, [1000.0, 1000.0, 1000.0], atol=1e-6)


def test_plain_fit_is_the_maximum_likelihood_on_the_elo_scale() -> None:
    # Two items, A wins 3 of 4: the MLE has P(A beats B) = 3/4, so theta_A - theta_B = ln 3 and the gap on the
    # Elo-like scale is 400 * log10(3), centred on 1000.
    ratings = quality.bradley_terry([("A", "B", 1.0)] * 3 + [("A", "B", 0.0)], prior_ties=0.0, resamples=0)
    gap = 400 * math.log10(3)
    np.testing.assert_allclose(ratings.rating, [1000 + gap / 2, 1000 - gap / 2], atol=1e-5)
    assert np.isnan(ratings.low).all() and ratings.resamples == 0


def test_an_undefeated_item_gets_a_finite_higher_rating() -> None:
    ratings = quality.bradley_terry([("A", "B", 1.0)] * 5)
    a, b = ratings.rating
    assert math.isfinite(a) and math.isfinite(b) and a > b
    # With one virtual tie A has 5.5 wins to B's 0.5: the MLE's odds are 11:1, a gap of 400 * log10(11).
    assert quality.PRIOR_TIES == 1.0
    assert a - b == pytest.approx(400 * math.log10(11), abs=1e-5)
    assert (a + b) / 2 == pytest.approx(1000.0)
    assert np.all(np.isfinite(ratings.low)) and np.all(np.isfinite(ratings.high))


def test_ordering_symmetry_and_vote_counts() -> None:
    votes = [("A", "B", 1.0)] * 3 + [("B", "A", 1.0)] + [("B", "C", 1.0)] * 3 + [("C", "B", 1.0)]
    ratings = quality.bradley_terry(votes, items=["C", "B", "A"])
    assert ratings.items == ("C", "B", "A")
    c, b, a = ratings.rating
    assert a > b > c and a - b == pytest.approx(b - c, abs=1e-6)
    assert list(ratings.votes) == [4, 8, 4]
    renamed = quality.bradley_terry([(y, x, 1.0 - s) for x, y, s in votes])  # every vote written from the other side
    np.testing.assert_allclose(renamed.rating, quality.bradley_terry(votes).rating, atol=1e-9)


def test_win_rates_count_ties_as_half() -> None:
    ratings = quality.bradley_terry([("A", "B", 1.0), ("A", "B", 0.5), ("B", "C", 0.0), ("A", "C", 0.5)])
    wins, games = ratings.win_rates(), ratings.game_counts()
    assert wins.loc["A", "B"] == 0.75 and wins.loc["B", "A"] == 0.25
    assert wins.loc["C", "B"] == 1.0 and wins.loc["A", "C"] == 0.5
    assert math.isnan(wins.loc["A", "A"])
    assert games.loc["A", "B"] == games.loc["B", "A"] == 2 and games.loc["B", "C"] == 1
    assert ratings.comparisons == 4


def test_rating_intervals_are_reproducible_and_contain_the_rating() -> None:
    rng = np.random.default_rng(7)
    strength = {"A": 1.0, "B": 0.0, "C": -1.0}
    votes = []
    for _ in range(120):
        x, y = rng.choice(list(strength), 2, replace=False)
        p = 1 / (1 + math.exp(strength[y] - strength[x]))
        votes.append((str(x), str(y), 1.0 if rng.random() < p else 0.0))
    first, second = quality.bradley_terry(votes), quality.bradley_terry(votes)
    np.testing.assert_array_equal(first.low, second.low)
    np.testing.assert_array_equal(first.high, second.high)
    assert np.all(first.low <= first.rating) and np.all(first.rating <= first.high)
    assert first.resamples == quality.RATING_RESAMPLES
    table = first.table()
    assert list(table["target"]) == ["A", "B", "C"]  # best first
    assert list(table.columns) == ["target", "rating", "rating_low", "rating_high", "votes"]


def test_bradley_terry_edge_cases() -> None:
    assert quality.bradley_terry([]) is None
    one = quality.bradley_terry([("A", "B", 1.0)])
    assert one.resamples == 0 and np.isnan(one.low).all()
    with pytest.raises(ValueError, match="two different items"):
        quality.bradley_terry([("A", "A", 1.0)])
    with pytest.raises(ValueError, match="1, 0.5 or 0"):
        quality.bradley_terry([("A", "B", 0.7)])


# --- Pareto front -------------------------------------------------------------------------------------------------


def test_two_identical_points_are_both_on_the_front() -> None:
    assert quality.pareto_front([(0.9, 300.0, 1.0), (0.9, 300.0, 1.0)]) == [True, True]


def test_a_dominated_point_is_off_the_front() -> None:
    points = [
        (0.9, 300.0, 1.0),  # front
        (0.8, 400.0, 2.0),  # dominated by the first on all three
        (0.9, 300.0, 1.5),  # as good on two, worse on cost: dominated
        (0.5, 100.0, 0.1),  # worse quality but faster and cheaper: front
        (0.95, 900.0, 5.0),  # best quality: front
    ]
    assert quality.pareto_front(points) == [True, False, False, True, True]


def test_a_point_missing_a_figure_is_neither_on_the_front_nor_dominating() -> None:
    points = [(None, 10.0, 0.01), (0.7, 500.0, 3.0), (0.99, float("nan"), 0.0)]
    assert quality.pareto_front(points) == [None, True, None]
    assert quality.pareto_front([]) == []
