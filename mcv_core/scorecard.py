"""The quality scorecard: which target is best for the job, on quality, latency and cost, and is the difference real.

`build(results, judgments, votes)` reads history items (result items, judgment items and vote items, as History
returns them: dicts; missing keys are taken as None) and computes every figure once; the page, the report and
`scorecard --json` read them from the `Scorecard`, never recompute them. The statistics come from `quality`.

Per target (one `TargetCard`):
- n: its results; accuracy over its labelled results (`correct` True/False; a failed call on a labelled image is
  not correct), with the Wilson interval, `n_scored` behind it;
- the mean judge score of its judged results (one judge and rubric, below) with a BCa bootstrap interval,
  `n_judged` behind it;
- the Bradley-Terry rating from blind votes with its bootstrap interval, and `votes`: the votes it took part in;
- p50 and p95 latency of its successful calls, as the benchmark summary takes them (`latency_basis`): warm calls
  for a target that reports cold starts, every call for one that does not (Bedrock, Azure OpenAI); `n_latency`
  behind them. Cold starts apart: `cold_n` and `cold_p50_ms`;
- cost per 1,000 images: 1000 x the mean cost_usd of its successful calls with a known cost (`n_priced`); None
  when none is known (never $0);
- `quality`: its figure on the scorecard's quality metric; `pareto`: True on the front of quality (higher is
  better), p95 latency and cost per 1,000 (lower are better), False when another target dominates it, None when
  it lacks one of the three figures.

Quality metric: "accuracy" when any selected result is labelled, else "judge_score". Judge: judgments count only
for a selected result (same run and target); of the (judge, rubric) pairs present, the one named, else the one
with the most judgments (ties: the first by name) is used; `judge` and `rubric_id` say which.

Pairs ("on the same images" = the same run), for every two targets present, a before b in target order, effects
a - b: McNemar's exact test on correct (when any result is labelled), Wilcoxon signed-rank on latency of runs where
both succeeded and neither was a cold start (a cold start would decide the test by itself), and the paired
bootstrap on judge score (when a judge is chosen). Each with its n; below `quality.MIN_PAIRS` pairs it has no
p-value and a note says so.

Agreement, for every two targets: Cohen's kappa on correct/incorrect (labelled runs both were scored on), and how
often their top answers agree. A result with `labels` is a classifier's, whose answer is its top label (highest
score). Both classifiers: the same top label. A classifier and a text answer: the text names the classifier's
top label (`scoring.names_any`). Two text answers, on labelled images only: the first of the image's expected
labels each names (earliest in the text) is the same; runs where either names none of them are not counted (what
it names instead is unknown). Only runs where both succeeded count; `top_n` says how many did.

Votes count when their run is selected and both targets are among the selection's; a voter's vote on a run's pair
is counted once (the latest `voted_at`). A tie and "neither" (both bad) count as half a win each way (the ratings'
prior and intervals: `quality.bradley_terry`).

`Scorecard.to_json()` is the `scorecard --json` document:
    {"quality_metric": "accuracy" | "judge_score",
     "judge", "rubric_id",                                   (extra: the judgments used; None without)
     "targets": [{"target", "n", "accuracy", "accuracy_ci": [lo, hi], "judge_score", "judge_ci", "rating",
                  "rating_ci", "votes", "p50_ms", "p95_ms", "cost_per_1k_usd", "pareto",
                  extra: "title", "n_ok", "n_scored", "n_judged", "n_latency", "latency_basis" ("warm" | "all"),
                  "cold_n", "cold_p50_ms", "n_priced", "quality"}],
     "pairs": [{"a", "b", "test" ("mcnemar" | "wilcoxon" | "paired_bootstrap"), "p_value", "effect", "n",
                extra: "metric" ("correct" | "latency_ms" | "judge_score"), "effect_ci": [lo, hi] (bootstrap
                only), "note" (why there is no p-value), "discordant": [a right and b wrong, the reverse]
                (McNemar only)}],
     "agreement": [{"a", "b", "kappa", "n", extra: "note" (why kappa is None), "observed" (share of the n runs
                    where both are right or both wrong), "top_agreement", "top_n"}],
     "win_rates": {"targets": [...], "share": [[row beats column, ties as half]], "games": [[...]]} (extra;
                  None without votes),
     "modes": {"online": results, "batch": results} (extra: how the results were made, the modes present only;
              an item without a mode is online)}
Intervals are [lo, hi], or None when there is no interval. Missing values are None, never NaN.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from . import analytics, quality, scoring

ACCURACY = "accuracy"
JUDGE_SCORE = "judge_score"
TEST_METRICS = {quality.MCNEMAR: "correct", quality.WILCOXON: "latency_ms", quality.PAIRED_BOOTSTRAP: "judge_score"}
VOTE_SCORES = {"a": 1.0, "b": 0.0, "tie": 0.5, "neither": 0.5}


def _get(record: Any, key: str) -> Any:
    """A field of a stored item (a dict) or of a record object (votes.Vote)."""
    if isinstance(record, dict):  # the usual case first: an ABC check on every field costs more than the rest
        return record.get(key)
    return record.get(key) if isinstance(record, Mapping) else getattr(record, key, None)


def _num(value: Any) -> float | None:
    """A finite float or None: what JSON and the tables show."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _interval(low: Any, high: Any) -> list[float] | None:
    lo, hi = _num(low), _num(high)
    return None if lo is None or hi is None else [lo, hi]


# --- the records ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TargetCard:
    """One target's figures (see the module docstring)."""

    target: str
    title: str | None
    n: int
    n_ok: int
    n_scored: int
    correct: int
    accuracy: float | None
    accuracy_ci: list[float] | None
    n_judged: int
    judge_score: float | None
    judge_ci: list[float] | None
    rating: float | None
    rating_ci: list[float] | None
    votes: int
    latency_basis: str
    n_latency: int
    p50_ms: float | None
    p95_ms: float | None
    cold_n: int
    cold_p50_ms: float | None
    n_priced: int
    cost_per_1k_usd: float | None
    quality: float | None
    pareto: bool | None

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "n": self.n,
            "accuracy": self.accuracy,
            "accuracy_ci": self.accuracy_ci,
            "judge_score": self.judge_score,
            "judge_ci": self.judge_ci,
            "rating": self.rating,
            "rating_ci": self.rating_ci,
            "votes": self.votes,
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
            "cost_per_1k_usd": self.cost_per_1k_usd,
            "pareto": self.pareto,
            "title": self.title,
            "n_ok": self.n_ok,
            "n_scored": self.n_scored,
            "n_judged": self.n_judged,
            "n_latency": self.n_latency,
            "latency_basis": self.latency_basis,
            "cold_n": self.cold_n,
            "cold_p50_ms": self.cold_p50_ms,
            "n_priced": self.n_priced,
            "quality": self.quality,
        }


@dataclass(frozen=True)
class PairCard:
    """One paired test of target a against target b on the runs they share; effect is a - b."""

    a: str
    b: str
    test: str
    metric: str
    n: int
    effect: float | None
    effect_ci: list[float] | None
    p_value: float | None
    note: str | None = None
    discordant: list[int] | None = None  # McNemar: [a right and b wrong, a wrong and b right]

    def to_json(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "test": self.test,
            "p_value": self.p_value,
            "effect": self.effect,
            "n": self.n,
            "metric": self.metric,
            "effect_ci": self.effect_ci,
            "note": self.note,
            "discordant": self.discordant,
        }


@dataclass(frozen=True)
class AgreementCard:
    """How two targets agree: Cohen's kappa on correct/incorrect over `n` runs (None with `note` when undefined),
    and the share of `top_n` runs where their top answers agree."""

    a: str
    b: str
    kappa: float | None
    n: int
    observed: float | None
    top_agreement: float | None
    top_n: int
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "kappa": self.kappa,
            "n": self.n,
            "note": self.note,
            "observed": self.observed,
            "top_agreement": self.top_agreement,
            "top_n": self.top_n,
        }


@dataclass(frozen=True)
class Scorecard:
    """Every figure of the scorecard, computed once by `build`."""

    quality_metric: str
    targets: tuple[TargetCard, ...]
    pairs: tuple[PairCard, ...]
    agreement: tuple[AgreementCard, ...]
    ratings: quality.Ratings | None
    judge: str | None = None
    rubric_id: str | None = None
    runs: int = 0  # distinct runs (images x prompts) selected
    judgments: int = 0  # judgments used (of the chosen judge and rubric, on selected results)
    votes: int = 0  # votes used
    titles: dict[str, str] = field(default_factory=dict)
    modes: dict[str, int] = field(default_factory=dict)  # results per mode ("online", "batch"), the modes present

    # --- lookups -------------------------------------------------------------------------------------------------
    def card(self, target: str) -> TargetCard | None:
        return next((card for card in self.targets if card.target == target), None)

    def front(self) -> list[str]:
        """The targets on the Pareto front, in target order."""
        return [card.target for card in self.targets if card.pareto]

    def title(self, target: str) -> str:
        return self.titles.get(target) or target

    # --- tables for the pages ------------------------------------------------------------------------------------
    def targets_frame(self) -> pd.DataFrame:
        """One row per target: every TargetCard field, intervals split into *_low and *_high columns (NaN where
        missing; `pareto` stays True/False/None)."""
        rows = []
        for card in self.targets:
            row = card.to_json()
            for name in ("accuracy_ci", "judge_ci", "rating_ci"):
                low, high = row.pop(name) or (None, None)
                row[f"{name[:-3]}_low"], row[f"{name[:-3]}_high"] = low, high
            row["correct"] = card.correct
            rows.append(row)
        columns = [
            "target", "title", "n", "n_ok", "quality", "pareto",
            "n_scored", "correct", "accuracy", "accuracy_low", "accuracy_high",
            "n_judged", "judge_score", "judge_low", "judge_high",
            "votes", "rating", "rating_low", "rating_high",
            "latency_basis", "n_latency", "p50_ms", "p95_ms", "cold_n", "cold_p50_ms",
            "n_priced", "cost_per_1k_usd",
        ]  # fmt: skip
        frame = pd.DataFrame(rows, columns=columns)
        numeric = [c for c in columns if c not in ("target", "title", "pareto", "latency_basis")]
        frame[numeric] = frame[numeric].astype(np.float64)
        for name in ("n", "n_ok", "n_scored", "correct", "n_judged", "votes", "n_latency", "cold_n", "n_priced"):
            frame[name] = frame[name].astype(np.int64)
        frame["pareto"] = frame["pareto"].astype(object)
        return frame

    def pairs_frame(self) -> pd.DataFrame:
        """One row per pair and test. Columns: a, b, test, metric, n, effect, effect_low, effect_high, p_value,
        note, a_only, b_only (McNemar's discordant pairs)."""
        rows = []
        for pair in self.pairs:
            low, high = pair.effect_ci or (None, None)
            a_only, b_only = pair.discordant or (None, None)
            rows.append(
                {
                    "a": pair.a, "b": pair.b, "test": pair.test, "metric": pair.metric, "n": pair.n,
                    "effect": pair.effect, "effect_low": low, "effect_high": high, "p_value": pair.p_value,
                    "note": pair.note, "a_only": a_only, "b_only": b_only,
                }
            )  # fmt: skip
        columns = [
            "a", "b", "test", "metric", "n", "effect", "effect_low", "effect_high", "p_value", "note",
            "a_only", "b_only",
        ]  # fmt: skip
        frame = pd.DataFrame(rows, columns=columns)
        frame["n"] = frame["n"].astype(np.int64)
        for name in ("effect", "effect_low", "effect_high", "p_value", "a_only", "b_only"):
            frame[name] = frame[name].astype(np.float64)
        return frame

    def agreement_frame(self) -> pd.DataFrame:
        """One row per pair of targets. Columns: a, b, n, kappa, observed, note, top_n, top_agreement."""
        rows = [
            {"a": c.a, "b": c.b, "n": c.n, "kappa": c.kappa, "observed": c.observed, "note": c.note,
             "top_n": c.top_n, "top_agreement": c.top_agreement}
            for c in self.agreement
        ]  # fmt: skip
        frame = pd.DataFrame(rows, columns=["a", "b", "n", "kappa", "observed", "note", "top_n", "top_agreement"])
        for name in ("n", "top_n"):
            frame[name] = frame[name].astype(np.int64)
        for name in ("kappa", "observed", "top_agreement"):
            frame[name] = frame[name].astype(np.float64)
        return frame

    def ratings_frame(self) -> pd.DataFrame:
        """Targets with votes, best rating first. Columns: target, rating, rating_low, rating_high, votes."""
        if self.ratings is None:
            return pd.DataFrame(
                {"target": pd.Series([], dtype=object), "rating": pd.Series([], dtype=np.float64),
                 "rating_low": pd.Series([], dtype=np.float64), "rating_high": pd.Series([], dtype=np.float64),
                 "votes": pd.Series([], dtype=np.int64)}
            )  # fmt: skip
        return self.ratings.table()

    def win_rate_frame(self) -> pd.DataFrame:
        """Share of games the row target won against the column target (ties as half); NaN where they never met."""
        return self.ratings.win_rates() if self.ratings is not None else pd.DataFrame()

    def games_frame(self) -> pd.DataFrame:
        """Votes between the row and the column target."""
        return self.ratings.game_counts() if self.ratings is not None else pd.DataFrame()

    # --- the document --------------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        win_rates = None
        if self.ratings is not None:
            win_rates = {
                "targets": list(self.ratings.items),
                "share": [[_num(v) for v in row] for row in self.ratings.wins],
                "games": [[int(v) for v in row] for row in self.ratings.games],
            }
        return {
            "quality_metric": self.quality_metric,
            "judge": self.judge,
            "rubric_id": self.rubric_id,
            "targets": [card.to_json() for card in self.targets],
            "pairs": [pair.to_json() for pair in self.pairs],
            "agreement": [card.to_json() for card in self.agreement],
            "win_rates": win_rates,
            "modes": dict(self.modes),
        }


# --- building it ---------------------------------------------------------------------------------------------------


def build(
    results: Iterable[Mapping[str, Any]],
    judgments: Iterable[Any] = (),
    votes: Iterable[Any] = (),
    *,
    judge: str | None = None,
    rubric_id: str | None = None,
    order: Sequence[str] = (),
) -> Scorecard:
    """The scorecard of the result items (see the module docstring). `judge` and `rubric_id` choose the judgments
    (default: the pair with the most judgments on these results); `order` lists target ids to put first (the
    catalogue's order), the others follow by name."""
    items = _unique_results(results)
    frame = analytics.to_frame(items, order)
    targets = [str(p) for p in frame["provider"].cat.categories if (frame["provider"] == p).any()]
    by_target: dict[str, dict[str, Mapping[str, Any]]] = {t: {} for t in targets}
    for item in items:
        run_id, target = item.get("run_id"), item.get("provider")
        if run_id is not None and target is not None:
            by_target[str(target)][str(run_id)] = item
    runs = {run for runs in by_target.values() for run in runs}
    labelled = bool(frame["correct"].notna().any())
    metric = ACCURACY if labelled else JUDGE_SCORE

    chosen_judge, chosen_rubric, scores = _judge_scores(judgments, by_target, judge, rubric_id)
    comparisons = _comparisons(votes, runs, set(targets))
    ratings = quality.bradley_terry(comparisons, items=targets) if comparisons else None

    cards = _target_cards(frame, targets, scores, ratings, metric)
    run_ids = sorted(runs)  # one order for every pair: the bootstraps see the same pairs in the same order
    columns = {target: _Column.of(by_target[target], scores[target], run_ids) for target in targets}
    pairs: list[PairCard] = []
    agreement: list[AgreementCard] = []
    for a, b in combinations(targets, 2):
        left, right = columns[a], columns[b]
        if labelled:
            pairs.append(_pair(a, b, quality.mcnemar_exact(left.correct, right.correct)))
        pairs.append(_pair(a, b, quality.wilcoxon_paired(left.warm_latency, right.warm_latency)))
        if chosen_judge is not None:
            pairs.append(_pair(a, b, quality.paired_bootstrap(left.score, right.score)))
        agreement.append(_agreement(a, b, left, right))
    return Scorecard(
        quality_metric=metric,
        targets=tuple(cards),
        pairs=tuple(pairs),
        agreement=tuple(agreement),
        ratings=ratings,
        judge=chosen_judge,
        rubric_id=chosen_rubric,
        runs=len(runs),
        judgments=sum(len(s) for s in scores.values()),
        votes=len(comparisons),
        titles=analytics.stored_titles(frame),
        modes={str(mode): int(n) for mode, n in frame["mode"].value_counts(sort=False).items() if n},
    )


def _agreement(a: str, b: str, left: "_Column", right: "_Column") -> AgreementCard:
    kappa = quality.cohens_kappa(left.correct, right.correct)
    agreed, counted = _top_agreement(left, right)
    return AgreementCard(
        a=a,
        b=b,
        kappa=_num(kappa.kappa),
        n=kappa.n,
        observed=_num(kappa.observed),
        top_agreement=agreed / counted if counted else None,
        top_n=counted,
        note=kappa.note,
    )


def paired_answers(
    a: str, b: str, left: Mapping[str, Mapping[str, Any]], right: Mapping[str, Mapping[str, Any]]
) -> tuple[AgreementCard, PairCard]:
    """Two sets of result items keyed alike, a key being one image and prompt (e.g. one target's answers online
    and in a batch job, modes.py): how they agree (as two targets' answers agree, above) and McNemar's exact test
    on correct, a - b, over the keys both have."""
    keys = sorted(left.keys() & right.keys())
    x, y = _Column.of(left, {}, keys), _Column.of(right, {}, keys)
    return _agreement(a, b, x, y), _pair(a, b, quality.mcnemar_exact(x.correct, y.correct))


def _unique_results(results: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """One result per (run, target), the last seen (a run holds one result per target)."""
    keyed: dict[Any, Mapping[str, Any]] = {}
    for index, item in enumerate(results):
        run_id, target = item.get("run_id"), item.get("provider")
        keyed[(run_id, target) if run_id is not None and target is not None else index] = item
    return list(keyed.values())


def _pair(a: str, b: str, test: quality.PairedTest) -> PairCard:
    discordant = [test.a_only, test.b_only] if test.a_only is not None and test.b_only is not None else None
    return PairCard(
        a=a,
        b=b,
        test=test.test,
        metric=TEST_METRICS[test.test],
        n=test.n,
        effect=_num(test.effect),
        effect_ci=_interval(test.low, test.high),
        p_value=_num(test.p_value),
        note=test.note,
        discordant=discordant,
    )


def _judge_scores(
    judgments: Iterable[Any],
    by_target: dict[str, dict[str, Mapping[str, Any]]],
    judge: str | None,
    rubric_id: str | None,
) -> tuple[str | None, str | None, dict[str, dict[str, float]]]:
    """The (judge, rubric) used and its scores: target -> run -> score, for selected results only."""
    relevant = []
    for record in judgments:
        target, run_id, score = _get(record, "target"), _get(record, "run_id"), _num(_get(record, "score"))
        if score is None or target not in by_target or run_id not in by_target[target]:
            continue
        key = (_get(record, "judge"), _get(record, "rubric_id"))
        if (judge is None or key[0] == judge) and (rubric_id is None or key[1] == rubric_id):
            relevant.append((key, target, run_id, score))
    counts = Counter(key for key, _, _, _ in relevant)
    if counts:
        chosen = min(counts, key=lambda key: (-counts[key], str(key[0]), str(key[1])))
    else:
        chosen = (judge, rubric_id)
    scores: dict[str, dict[str, float]] = {target: {} for target in by_target}
    for key, target, run_id, score in relevant:
        if key == chosen:
            scores[target][run_id] = score
    return chosen[0], chosen[1], scores


def _comparisons(votes: Iterable[Any], runs: set[str], targets: set[str]) -> list[tuple[str, str, float]]:
    """Votes on selected runs between selected targets, one per (run, pair, voter): the latest."""
    latest: dict[tuple[Any, ...], tuple[str, Any]] = {}
    for record in votes:
        a, b, winner, run_id = _get(record, "a"), _get(record, "b"), _get(record, "winner"), _get(record, "run_id")
        if run_id not in runs or a not in targets or b not in targets or a == b or winner not in VOTE_SCORES:
            continue
        key = (run_id, *sorted((a, b)), _get(record, "voter"))
        when = _get(record, "voted_at") or ""
        if key not in latest or str(when) >= str(latest[key][1]):
            latest[key] = ((a, b, winner), when)
    # In a fixed order, so that the ratings' bootstrap does not depend on the order the votes were read in.
    return [(a, b, VOTE_SCORES[winner]) for _, ((a, b, winner), _) in sorted(latest.items(), key=lambda kv: str(kv[0]))]


def _target_cards(
    frame: pd.DataFrame,
    targets: list[str],
    scores: dict[str, dict[str, float]],
    ratings: quality.Ratings | None,
    metric: str,
) -> list[TargetCard]:
    def by_provider(table: pd.DataFrame) -> dict[str, dict[str, Any]]:
        return {str(row["provider"]): row for row in table.to_dict("records")}

    provider = frame["provider"].astype(str)
    counts = provider.value_counts()
    ok_counts = provider[(frame["status"] == "ok").to_numpy(dtype=bool, na_value=False)].value_counts()
    accuracy = by_provider(analytics.accuracy(frame))
    cost = by_provider(analytics.cost_per_image(frame))
    latency = analytics.latency_percentiles(frame)
    titles = analytics.stored_titles(frame)
    cards = []
    for target in targets:
        rows = latency.loc[(latency["provider"].astype(str) == target).to_numpy()]
        temperatures = {str(row["temperature"]): row for row in rows.to_dict("records")}
        # As the benchmark summary: warm calls where the target reports cold starts, else every call.
        reports = "warm" in temperatures or "cold" in temperatures
        basis = temperatures.get("warm" if reports else "not reported", {})
        cold = temperatures.get("cold", {})
        scored = accuracy.get(target, {})
        priced = cost.get(target, {})
        judged = quality.mean_ci([score for _, score in sorted(scores[target].items())])  # in run order: reproducible
        slot = ratings.index(target) if ratings is not None else None
        cards.append(
            {
                "target": target,
                "title": titles.get(target),
                "n": int(counts.get(target, 0)),
                "n_ok": int(ok_counts.get(target, 0)),
                "n_scored": int(scored.get("n_scored", 0)),
                "correct": int(scored.get("correct", 0)),
                "accuracy": _num(scored.get("accuracy")),
                "accuracy_ci": _interval(scored.get("wilson_low"), scored.get("wilson_high")),
                "n_judged": judged.n,
                "judge_score": _num(judged.value),
                "judge_ci": judged.interval,
                "rating": _num(ratings.rating[slot]) if slot is not None else None,
                "rating_ci": _interval(ratings.low[slot], ratings.high[slot]) if slot is not None else None,
                "votes": int(ratings.votes[slot]) if slot is not None else 0,
                "latency_basis": "warm" if reports else "all",
                "n_latency": int(basis.get("n", 0)),
                "p50_ms": _num(basis.get("p50")),
                "p95_ms": _num(basis.get("p95")),
                "cold_n": int(cold.get("n", 0)),
                "cold_p50_ms": _num(cold.get("p50")),
                "n_priced": int(priced.get("n", 0)),
                "cost_per_1k_usd": _num(priced.get("per_1000_images_usd")),
            }
        )
    for card in cards:
        card["quality"] = card["accuracy"] if metric == ACCURACY else card["judge_score"]
    front = quality.pareto_front([(c["quality"], c["p95_ms"], c["cost_per_1k_usd"]) for c in cards])
    return [TargetCard(**card, pareto=flag) for card, flag in zip(cards, front)]


@dataclass
class _Column:
    """One target's results aligned on the selection's runs (NaN or None where it has none), each figure worked
    out once for all the pairs it takes part in."""

    ok: np.ndarray  # a successful result on that run
    correct: np.ndarray  # 1.0 / 0.0 / NaN (not scored, or no result)
    warm_latency: np.ndarray  # ms of a successful call that was not a cold start, else NaN
    score: np.ndarray  # the chosen judge's score, else NaN
    top: list[str | None]  # a classifier's answer: its top label; None for a text answer
    text: list[str]
    first: list[str | None]  # a text answer on a labelled image: the expected label it names first

    @classmethod
    def of(
        cls, results: Mapping[str, Mapping[str, Any]], scores: Mapping[str, float], run_ids: Sequence[str]
    ) -> "_Column":
        size = len(run_ids)
        ok = np.zeros(size, dtype=bool)
        correct = np.full(size, np.nan)
        latency = np.full(size, np.nan)
        score = np.full(size, np.nan)
        top: list[str | None] = [None] * size
        text = [""] * size
        first: list[str | None] = [None] * size
        for i, run in enumerate(run_ids):
            item = results.get(run)
            if item is None:
                continue
            verdict = item.get("correct")
            if isinstance(verdict, (bool, np.bool_)):
                correct[i] = float(verdict)
            score[i] = scores.get(run, np.nan)
            if item.get("status") != "ok":
                continue
            ok[i] = True
            value = _num(item.get("latency_ms"))
            if value is not None and item.get("cold_start") is not True:
                latency[i] = value
            top[i] = _top_label(item)
            if top[i] is None:
                text[i] = str(item.get("output") or "")
                first[i] = scoring.first_named(text[i], item.get("expected") or ())
        return cls(ok, correct, latency, score, top, text, first)


def _top_label(item: Mapping[str, Any]) -> str | None:
    """A classifier's answer: its label with the highest score (the first of equals); None for a text answer."""
    labels = [label for label in item.get("labels") or () if _get(label, "label")]
    if not labels:
        return None
    best = max(labels, key=lambda label: _num(_get(label, "score")) or 0.0)
    return str(_get(best, "label")).strip()


def _top_agreement(left: _Column, right: _Column) -> tuple[int, int]:
    """(runs where the two top answers agree, runs counted): both succeeded, and for two text answers both name
    one of the image's expected labels."""
    agreed = counted = 0
    for i in np.flatnonzero(left.ok & right.ok):
        top_x, top_y = left.top[i], right.top[i]
        if top_x is not None and top_y is not None:
            same = top_x.lower() == top_y.lower()
        elif top_x is not None:
            same = scoring.names_any(right.text[i], [top_x])
        elif top_y is not None:
            same = scoring.names_any(left.text[i], [top_y])
        else:
            if left.first[i] is None or right.first[i] is None:
                continue
            same = left.first[i] == right.first[i]
        counted += 1
        agreed += bool(same)
    return agreed, counted
