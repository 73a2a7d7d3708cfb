"""The statistics of the quality scorecard, pure: intervals, paired tests, agreement, ratings and the Pareto front.

Every figure comes from a well-kept library; this module only chooses the inputs, the minimum sample and what
to say when a figure cannot be computed:

- Wilson score interval of a proportion: statsmodels `proportion_confint(method="wilson")`.
- Interval of a mean: scipy.stats.bootstrap, BCa, `MEAN_RESAMPLES` resamples from a fixed seed (reproducible).
- McNemar's exact test on paired correct/incorrect: statsmodels `mcnemar(exact=True)` (a two-sided binomial test
  on the discordant pairs). Effect: accuracy of a minus accuracy of b on the paired images.
- Wilcoxon signed-rank test on paired values (latency): scipy.stats.wilcoxon (exact for small samples without
  ties, else the normal approximation; zero differences dropped, "wilcox"). Effect: median of the paired
  differences a - b.
- Paired bootstrap of a mean difference (judge scores): scipy.stats.bootstrap resampling the pairs (as their
  differences a - b: what `paired=True` resamples for this statistic, at half the cost), percentile interval.
  Its p-value is read from the same bootstrap distribution: two-sided, twice the share of resampled mean
  differences at or beyond 0, with the usual +1 in numerator and denominator so that it is never 0:
  p = min(1, 2 * (min(#{d* <= 0}, #{d* >= 0}) + 1) / (R + 1)). It is the smallest alpha at which the percentile
  interval excludes 0, so the p-value and the interval never disagree. (scipy's sign-flip permutation test
  would give the library's own p-value, but it takes seconds per pair at a thousand pairs.)
- Cohen's kappa on paired correct/incorrect: statsmodels `cohens_kappa` over the 2x2 table. Undefined (None, with
  the reason) when both give one and the same verdict on every item: chance agreement is then 1.
- Bradley-Terry ratings: choix `ilsr_pairwise_dense` (the maximum-likelihood fit by iterative Luce spectral
  ranking) over the matrix of wins. A tie and "both bad" count as a tie: half a win each way. The prior is
  `PRIOR_TIES` virtual tie(s) between every two rated items (Coulom's "virtual draws", as in Bayeselo): it keeps
  an undefeated or winless item finite, links items that never met, and, being a tie, favours no one, so that
  writing every vote from the other side gives exactly the opposite ratings (choix's own `alpha`, added to the
  Markov chain's rates, does not have that symmetry). Ratings are on an Elo-like scale,
  1000 + 400 / ln(10) * theta with theta centred on mean 0, so a 400-point gap means 10:1 odds. Intervals:
  percentile bootstrap (scipy.stats.bootstrap) resampling the votes (the prior stays), `RATING_RESAMPLES`
  resamples, fixed seed. Win rates and vote counts are of the real votes only.
- The Pareto front of (quality: higher is better, latency: lower is better, cost: lower is better): a point is on
  it when no other point is at least as good on all three and better on one; a point missing any of the three
  is neither on the front nor dominating (None).

Minimum samples: a paired test needs `MIN_PAIRS` (6) pairs; below that it returns no p-value and a note
"too few pairs (n=3; needs 6)". With 6 pairs the exact two-sided Wilcoxon and sign tests can reach p = 0.03, so
6 is the smallest sample at which a real difference can show at the 5% level. McNemar's test also needs at least
one discordant pair (one right and the other wrong): without one there is nothing to weigh, so it says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import choix
import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.inter_rater import cohens_kappa as _sm_cohens_kappa
from statsmodels.stats.proportion import proportion_confint

CONFIDENCE = 0.95
MIN_PAIRS = 6
SEED = 20240512  # every bootstrap starts from this seed: the same data give the same figures
MEAN_RESAMPLES = 2000
RATING_RESAMPLES = 500
PRIOR_TIES = 1.0
# A bootstrap refit stops when theta moves by less than this (L1, about 0.2 rating points): well inside the
# Monte Carlo error of the bootstrap itself (several points), and it halves the iterations.
REFIT_TOL = 1e-3
ELO_BASE = 1000.0
ELO_SCALE = 400.0 / math.log(10.0)

MCNEMAR = "mcnemar"
WILCOXON = "wilcoxon"
PAIRED_BOOTSTRAP = "paired_bootstrap"


def too_few(n: int, needed: int = MIN_PAIRS) -> str:
    return f"too few pairs (n={n}; needs {needed})"


def _float(value: Any) -> float | None:
    """A finite float, or None (JSON has no NaN)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


# --- proportions and means -----------------------------------------------------------------------------------------


def wilson_interval(successes: Any, n: Any, confidence: float = CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of k successes in n, vectorised (statsmodels' `proportion_confint`). NaN where
    n == 0. Returns numpy arrays (0-d for scalar inputs)."""
    k = np.asarray(successes, dtype=np.float64)
    total = np.asarray(n, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        low, high = proportion_confint(k, total, alpha=1.0 - confidence, method="wilson")
    low = np.clip(np.asarray(low, dtype=np.float64), 0.0, 1.0)
    high = np.clip(np.asarray(high, dtype=np.float64), 0.0, 1.0)
    return np.where(total > 0, low, np.nan), np.where(total > 0, high, np.nan)


@dataclass(frozen=True)
class Estimate:
    """A figure with its interval and the number of values it is made from; None where it cannot be had, with
    the reason in `note`."""

    value: float | None
    low: float | None
    high: float | None
    n: int
    note: str | None = None

    @property
    def interval(self) -> list[float | None] | None:
        return None if self.low is None or self.high is None else [self.low, self.high]


def _finite(values: Any) -> np.ndarray:
    data = np.asarray(values, dtype=np.float64).ravel()
    return data[np.isfinite(data)]


def mean_ci(
    values: Any, confidence: float = CONFIDENCE, *, resamples: int = MEAN_RESAMPLES, seed: int = SEED
) -> Estimate:
    """Mean of the values (NaN left out) with its BCa bootstrap interval (scipy.stats.bootstrap)."""
    data = _finite(values)
    n = int(data.size)
    if n == 0:
        return Estimate(None, None, None, 0, "no values")
    mean = float(np.mean(data))
    if n == 1:
        return Estimate(mean, None, None, 1, "one value: no interval")
    if np.all(data == data[0]):  # every resample has the same mean (BCa is undefined there)
        return Estimate(mean, mean, mean, n)
    result = stats.bootstrap(
        (data,),
        np.mean,
        vectorized=True,
        n_resamples=resamples,
        confidence_level=confidence,
        method="BCa",
        rng=np.random.default_rng(seed),
    )
    ci = result.confidence_interval
    return Estimate(mean, _float(ci.low), _float(ci.high), n)


# --- paired tests ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairedTest:
    """One paired test of a against b. `effect` is a - b (accuracy, median latency or mean score difference);
    `p_value` is None when the test could not be made, and `note` says why. `low`/`high`: the effect's interval
    where the test gives one. `a_only`/`b_only`: McNemar's discordant pairs (a right and b wrong, and the
    reverse)."""

    test: str
    n: int
    effect: float | None
    p_value: float | None
    low: float | None = None
    high: float | None = None
    statistic: float | None = None
    note: str | None = None
    a_only: int | None = None
    b_only: int | None = None


def _pairs(a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    """The pairs where both values are known (None and NaN left out)."""
    x = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(b, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"paired values differ in length: {x.size} and {y.size}")
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep]


def mcnemar_exact(a_correct: Any, b_correct: Any) -> PairedTest:
    """McNemar's exact test on paired verdicts (True/False per item, None where unknown)."""
    x, y = _pairs(a_correct, b_correct)
    n = int(x.size)
    x, y = x.astype(bool), y.astype(bool)
    effect = float(x.mean() - y.mean()) if n else None
    a_only, b_only = int(np.sum(x & ~y)), int(np.sum(~x & y))
    counts = {"a_only": a_only, "b_only": b_only}
    if n < MIN_PAIRS:
        return PairedTest(MCNEMAR, n, effect, None, note=too_few(n), **counts)
    if a_only + b_only == 0:
        note = f"no discordant pairs: both right or both wrong on each of the {n} items"
        return PairedTest(MCNEMAR, n, effect, None, note=note, **counts)
    table = np.array([[np.sum(x & y), a_only], [b_only, np.sum(~x & ~y)]])
    result = mcnemar(table, exact=True)
    return PairedTest(MCNEMAR, n, effect, _float(result.pvalue), statistic=_float(result.statistic), **counts)


def wilcoxon_paired(a: Any, b: Any) -> PairedTest:
    """Wilcoxon signed-rank test on paired values (e.g. latency in ms); effect: median of a - b."""
    x, y = _pairs(a, b)
    n = int(x.size)
    diff = x - y
    effect = float(np.median(diff)) if n else None
    if n < MIN_PAIRS:
        return PairedTest(WILCOXON, n, effect, None, note=too_few(n))
    if not np.any(diff):
        return PairedTest(WILCOXON, n, effect, None, note=f"no difference on any of the {n} pairs")
    result = stats.wilcoxon(x, y)
    return PairedTest(WILCOXON, n, effect, _float(result.pvalue), statistic=_float(result.statistic))


def paired_bootstrap(
    a: Any, b: Any, confidence: float = CONFIDENCE, *, resamples: int = MEAN_RESAMPLES, seed: int = SEED
) -> PairedTest:
    """Paired bootstrap of the mean difference a - b (e.g. judge scores): the difference, its percentile interval
    and the p-value read from the same bootstrap distribution (see the module's docstring)."""
    x, y = _pairs(a, b)
    n = int(x.size)
    effect = float(np.mean(x - y)) if n else None
    if n < MIN_PAIRS:
        return PairedTest(PAIRED_BOOTSTRAP, n, effect, None, note=too_few(n))
    # Resampling pairs is resampling their differences (the statistic is the mean of x - y): one array to
    # resample instead of two, the same resamples as `paired=True` would draw, at half the cost.
    result = stats.bootstrap(
        (x - y,),
        np.mean,
        vectorized=True,
        n_resamples=resamples,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    means = result.bootstrap_distribution
    beyond = min(int(np.sum(means <= 0)), int(np.sum(means >= 0)))
    p_value = min(1.0, 2.0 * (beyond + 1) / (means.size + 1))
    ci = result.confidence_interval
    return PairedTest(PAIRED_BOOTSTRAP, n, effect, p_value, low=_float(ci.low), high=_float(ci.high))


# --- agreement ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kappa:
    """Cohen's kappa of two paired verdicts over `n` items (None with the reason when undefined); `observed`:
    the share of items where they agree."""

    kappa: float | None
    n: int
    observed: float | None
    note: str | None = None


def cohens_kappa(a: Any, b: Any) -> Kappa:
    """Cohen's kappa on paired True/False verdicts (None where unknown), from statsmodels over the 2x2 table."""
    x, y = _pairs(a, b)
    n = int(x.size)
    if n == 0:
        return Kappa(None, 0, None, "no item with both verdicts")
    x, y = x.astype(bool), y.astype(bool)
    observed = float(np.mean(x == y))
    if np.all(x == x[0]) and np.all(y == x[0]):
        verdict = "right" if x[0] else "wrong"
        return Kappa(None, n, observed, f"both {verdict} on all {n} items: chance agreement is 1, kappa is undefined")
    table = np.array([[np.sum(x & y), np.sum(x & ~y)], [np.sum(~x & y), np.sum(~x & ~y)]])
    with np.errstate(divide="ignore", invalid="ignore"):  # its z statistic divides by 0 when one side is constant
        result = _sm_cohens_kappa(table)
    return Kappa(_float(result.kappa), n, observed)


# --- Bradley-Terry ratings -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ratings:
    """Bradley-Terry ratings of the items that took part in at least one comparison, in `items` order.

    rating, low, high: Elo-like scale (see the module docstring); votes: comparisons each item took part in;
    wins[i, j]: share of the games between i and j that i won, ties as half (NaN where they never met);
    games[i, j]: how many comparisons i and j had."""

    items: tuple[str, ...]
    rating: np.ndarray
    low: np.ndarray
    high: np.ndarray
    votes: np.ndarray
    wins: np.ndarray
    games: np.ndarray
    comparisons: int
    resamples: int

    def index(self, item: str) -> int | None:
        try:
            return self.items.index(item)
        except ValueError:
            return None

    def table(self) -> pd.DataFrame:
        """One row per item, best first. Columns: target, rating, rating_low, rating_high, votes."""
        frame = pd.DataFrame(
            {
                "target": list(self.items),
                "rating": self.rating,
                "rating_low": self.low,
                "rating_high": self.high,
                "votes": self.votes.astype(np.int64),
            }
        )
        return frame.sort_values("rating", ascending=False, kind="stable").reset_index(drop=True)

    def win_rates(self) -> pd.DataFrame:
        """Share of games the row item won against the column item (ties as half), NaN where they never met."""
        return pd.DataFrame(self.wins, index=list(self.items), columns=list(self.items))

    def game_counts(self) -> pd.DataFrame:
        return pd.DataFrame(self.games.astype(np.int64), index=list(self.items), columns=list(self.items))


def _elo(theta: np.ndarray) -> np.ndarray:
    return ELO_BASE + ELO_SCALE * (theta - np.mean(theta, axis=-1, keepdims=True))


def bradley_terry(
    comparisons: Iterable[tuple[str, str, float]],
    *,
    items: Sequence[str] | None = None,
    prior_ties: float = PRIOR_TIES,
    resamples: int = RATING_RESAMPLES,
    seed: int = SEED,
    confidence: float = CONFIDENCE,
) -> Ratings | None:
    """Ratings from comparisons (a, b, score of a: 1 a won, 0 b won, 0.5 a tie). `items` orders the result
    (items without a comparison are left out; items not listed follow in name order). None without comparisons.
    `prior_ties` 0 is the plain maximum-likelihood fit (which does not exist when an item never lost or never
    won); `resamples` 0 leaves the intervals out."""
    rows = [(str(a), str(b), float(s)) for a, b, s in comparisons]
    for a, b, s in rows:
        if a == b:
            raise ValueError(f"a comparison needs two different items, not {a!r} twice")
        if s not in (0.0, 0.5, 1.0):
            raise ValueError(f"the score of a comparison is 1, 0.5 or 0, not {s}")
    if not rows:
        return None
    seen = {a for a, _, _ in rows} | {b for _, b, _ in rows}
    listed = [item for item in dict.fromkeys(items or ()) if item in seen]
    order = tuple(listed + sorted(seen - set(listed)))
    k = len(order)
    position = {item: i for i, item in enumerate(order)}
    first = np.array([position[a] for a, _, _ in rows], dtype=np.int64)
    second = np.array([position[b] for _, b, _ in rows], dtype=np.int64)
    score = np.array([s for _, _, s in rows], dtype=np.float64)
    prior = np.full((k, k), prior_ties / 2.0)  # half a win each way per virtual tie
    np.fill_diagonal(prior, 0.0)

    def wins_matrix(idx: np.ndarray) -> np.ndarray:
        i, j, s = first[idx], second[idx], score[idx]
        won = np.bincount(i * k + j, weights=s, minlength=k * k)  # [i, j]: wins of i over j
        lost = np.bincount(j * k + i, weights=1.0 - s, minlength=k * k)  # ... and of j over i
        return (won + lost).reshape(k, k)

    every = np.arange(len(rows))
    wins = wins_matrix(every)
    theta = choix.ilsr_pairwise_dense(wins + prior)
    rating = _elo(theta)

    def refit(idx: np.ndarray) -> np.ndarray:
        # Warm-started from the full fit: the same fixed point, reached in a few iterations.
        resampled = wins_matrix(idx.astype(np.int64)) + prior
        return _elo(choix.ilsr_pairwise_dense(resampled, initial_params=theta, tol=REFIT_TOL))

    bootstrapped = resamples > 0 and len(rows) >= 2  # one vote resamples into nothing but itself
    if bootstrapped:
        result = stats.bootstrap(
            (every,),
            refit,
            vectorized=False,
            n_resamples=resamples,
            confidence_level=confidence,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
        low = np.asarray(result.confidence_interval.low, dtype=np.float64)
        high = np.asarray(result.confidence_interval.high, dtype=np.float64)
    else:
        low = np.full(k, np.nan)
        high = np.full(k, np.nan)
    games = np.bincount(first * k + second, minlength=k * k).reshape(k, k)
    games = games + games.T
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(games > 0, wins / games, np.nan)
    return Ratings(
        items=order,
        rating=rating,
        low=low,
        high=high,
        votes=games.sum(axis=1),
        wins=share,
        games=games,
        comparisons=len(rows),
        resamples=resamples if bootstrapped else 0,
    )


# --- the Pareto front ----------------------------------------------------------------------------------------------


def pareto_front(points: Sequence[tuple[float | None, float | None, float | None]]) -> list[bool | None]:
    """For each (quality, latency, cost) point: True on the front, False dominated, None when a figure is
    missing (such a point neither is on the front nor dominates another). Quality: higher is better; latency and
    cost: lower is better. Two identical points do not dominate each other: both can be on the front."""
    if not points:
        return []
    # Turn every figure into "higher is better" so that one comparison serves all three.
    values = np.array(
        [[np.nan if v is None else float(v) for v in point] for point in points], dtype=np.float64
    ).reshape(len(points), 3) * np.array([1.0, -1.0, -1.0])
    complete = np.isfinite(values).all(axis=1)
    good = values[complete]
    at_least = (good[:, None, :] >= good[None, :, :]).all(axis=2)  # [j, i]: j at least as good as i on all three
    better = (good[:, None, :] > good[None, :, :]).any(axis=2)  # [j, i]: j better than i on one
    dominated = (at_least & better).any(axis=0)
    flags: list[bool | None] = [None] * len(points)
    for slot, index in enumerate(np.flatnonzero(complete)):
        flags[int(index)] = not bool(dominated[slot])
    return flags
