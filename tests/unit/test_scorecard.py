"""mcv_core.scorecard: every figure checked against the items it is made from, on a hand-made benchmark whose
figures are counted by hand in this file (accuracy, Wilson bounds, McNemar, kappa, Wilcoxon, percentiles, cost,
ratings, agreement, the front)."""

from __future__ import annotations

import json
import math
from itertools import combinations
from typing import Any

import numpy as np
import pytest

from mcv_core import quality, scorecard

CLASSES = ["cat", "dog", "coin", "rocket", "astronaut", "camera", "horse", "coffee", "clock", "chair"]
RUNS = [f"r{i:02d}" for i in range(10)]
ORDER = ["clf", "haiku", "gpt"]

# Which runs each target gets right (hand-chosen so that the counts below are known).
CLF_RIGHT = {0, 1, 2, 3, 4}  # 5/10
HAIKU_RIGHT = {0, 8}  # 2/10; run 9 is an error (not correct), run 5 names "bucket" like the classifier
GPT_RIGHT = {0, 1, 2, 3, 4, 5, 6, 7}  # 8/10
CLF_WARM = [100, 120, 140, 160, 180, 200, 220, 240, 260]  # runs 1..9; run 0 is a cold start of 2500 ms
GPT_LATENCY = [400 + 10 * i for i in range(10)]
HAIKU_MINUS_GPT = [12, -3, 7, 25, 1, -9, 16, 30, 4]  # runs 0..8
HAIKU_SCORES = [4, 2, 2, 1, 2, 3, 2, 1, 4]  # judge-a, runs 0..8
GPT_SCORES = [5, 4, 5, 4, 4, 5, 3, 4, 2, 1]  # judge-a, runs 0..9


def expected(i: int) -> list[str]:
    return ["cat", "kitten"] if i == 0 else [CLASSES[i]]


def result(run: int, target: str, **fields: Any) -> dict[str, Any]:
    item = {
        "run_id": RUNS[run],
        "created_at": f"2026-03-01T10:{run:02d}:00+00:00",
        "provider": target,
        "service": "sagemaker" if target == "clf" else "bedrock",
        "title": target.upper(),
        "model": target,
        "status": "ok",
        "output": "",
        "labels": [],
        "latency_ms": None,
        "cold_start": None,
        "cost_usd": None,
        "expected": expected(run),
        "correct": None,
        "bench_id": "bench-20260301T100000-abcdef",
    }
    item.update(fields)
    return item


def benchmark() -> list[dict[str, Any]]:
    items = []
    for i in range(10):
        top = CLASSES[i] if i in CLF_RIGHT else "bucket"
        items.append(
            result(
                i, "clf",
                output=f"{top}, bucket stand, tray",
                labels=[{"label": "tray", "score": 0.05}, {"label": top, "score": 0.8}, {"label": "bucket stand", "score": 0.1}],
                latency_ms=2500.0 if i == 0 else float(CLF_WARM[i - 1]),
                cold_start=i == 0,
                cost_usd=0.00001,
                correct=i in CLF_RIGHT,
            )
        )  # fmt: skip
        if i == 9:
            items.append(result(i, "haiku", status="error", output="", latency_ms=50.0, correct=False, error="throttled"))
        else:
            text = {0: "I see a kitten, or a cat", 5: "I see a bucket", 8: "A clock on a wall"}.get(i, "Nothing I recognise")
            items.append(
                result(
                    i, "haiku", output=text, latency_ms=float(GPT_LATENCY[i] + HAIKU_MINUS_GPT[i]),
                    cost_usd=0.0003 if i % 2 == 0 else 0.0005, correct=i in HAIKU_RIGHT,
                )
            )  # fmt: skip
        gpt_text = f"This is a {CLASSES[i]}." if i in GPT_RIGHT else "An abstract pattern."
        items.append(result(i, "gpt", output=gpt_text, latency_ms=float(GPT_LATENCY[i]), correct=i in GPT_RIGHT))
    return items


def judgments() -> list[dict[str, Any]]:
    out = []
    for i, score in enumerate(HAIKU_SCORES):
        out.append({"type": "judgment", "run_id": RUNS[i], "target": "haiku", "judge": "judge-a", "rubric_id": "r1", "score": score})
    for i, score in enumerate(GPT_SCORES):
        out.append({"type": "judgment", "run_id": RUNS[i], "target": "gpt", "judge": "judge-a", "rubric_id": "r1", "score": score})
    for i in range(3):  # another judge, fewer judgments: not chosen unless named
        out.append({"type": "judgment", "run_id": RUNS[i], "target": "gpt", "judge": "judge-b", "rubric_id": "r1", "score": 1})
    out.append({"type": "judgment", "run_id": "elsewhere", "target": "gpt", "judge": "judge-a", "rubric_id": "r1", "score": 5})
    return out


def votes() -> list[dict[str, Any]]:
    def vote(run: int, winner: str, voter: str = "v1", at: str = "2026-03-02T00:00:00+00:00") -> dict[str, Any]:
        return {"type": "vote", "run_id": RUNS[run], "a": "gpt", "b": "haiku", "winner": winner, "voter": voter, "voted_at": at}

    return [
        vote(0, "a"),
        vote(1, "a"),
        vote(2, "b"),
        vote(3, "tie"),
        vote(4, "a", at="2026-03-02T09:00:00+00:00"),  # replaces the earlier vote below (same voter, run and pair)
        vote(4, "b", at="2026-03-02T08:00:00+00:00"),
        vote(5, "neither", voter="v2"),
        {"run_id": "elsewhere", "a": "gpt", "b": "haiku", "winner": "b", "voter": "v1", "voted_at": "x"},  # not selected
    ]


@pytest.fixture(scope="module")
def card() -> scorecard.Scorecard:
    return scorecard.build(benchmark(), judgments(), votes(), order=ORDER)


def pair(card: scorecard.Scorecard, a: str, b: str, test: str) -> scorecard.PairCard:
    (found,) = [p for p in card.pairs if (p.a, p.b, p.test) == (a, b, test)]
    return found


def agreement(card: scorecard.Scorecard, a: str, b: str) -> scorecard.AgreementCard:
    (found,) = [c for c in card.agreement if (c.a, c.b) == (a, b)]
    return found


# --- per target ---------------------------------------------------------------------------------------------------


def test_targets_in_order_with_their_counts(card: scorecard.Scorecard) -> None:
    assert [c.target for c in card.targets] == ORDER
    assert card.quality_metric == "accuracy" and card.runs == 10
    clf, haiku, gpt = card.targets
    assert (clf.n, clf.n_ok, haiku.n, haiku.n_ok, gpt.n, gpt.n_ok) == (10, 10, 10, 9, 10, 10)
    assert clf.title == "CLF" and card.title("gpt") == "GPT"


def test_accuracy_with_wilson_bounds(card: scorecard.Scorecard) -> None:
    clf, haiku, gpt = card.targets
    assert (gpt.correct, gpt.n_scored, gpt.accuracy) == (8, 10, 0.8)
    assert gpt.accuracy_ci == pytest.approx([0.4902, 0.9433], abs=5e-5)  # the published 8/10 interval
    # The error on run 9 counts as not correct: 2 of 10, not 2 of 9.
    assert (haiku.correct, haiku.n_scored, haiku.accuracy) == (2, 10, 0.2)
    low, high = quality.wilson_interval(2, 10)
    assert haiku.accuracy_ci == pytest.approx([float(low), float(high)])
    assert clf.accuracy == 0.5 and clf.quality == 0.5


def test_latency_warm_and_cold_apart(card: scorecard.Scorecard) -> None:
    clf, haiku, gpt = card.targets
    # clf reports cold starts: p50/p95 of its 9 warm calls; p95 at rank 0.95 * 8 = 7.6 -> 240 + 0.6 * 20.
    assert (clf.latency_basis, clf.n_latency, clf.p50_ms, clf.p95_ms) == ("warm", 9, 180.0, pytest.approx(252.0))
    assert (clf.cold_n, clf.cold_p50_ms) == (1, 2500.0)
    # gpt does not report cold starts: every successful call, 400..490 -> p50 445, p95 480 + 0.55 * 10.
    assert (gpt.latency_basis, gpt.n_latency, gpt.p50_ms, gpt.p95_ms) == ("all", 10, 445.0, pytest.approx(485.5))
    # haiku: 9 successful calls (the error's 50 ms left out), sorted 407 412 427 441 441 455 476 484 500.
    assert (haiku.n_latency, haiku.p50_ms, haiku.p95_ms) == (9, 441.0, pytest.approx(484 + 0.6 * 16))
    assert (gpt.cold_n, gpt.cold_p50_ms) == (0, None)


def test_cost_per_thousand_images(card: scorecard.Scorecard) -> None:
    clf, haiku, gpt = card.targets
    assert clf.cost_per_1k_usd == pytest.approx(0.01) and clf.n_priced == 10
    assert haiku.cost_per_1k_usd == pytest.approx(1000 * (5 * 0.0003 + 4 * 0.0005) / 9) and haiku.n_priced == 9
    assert gpt.cost_per_1k_usd is None and gpt.n_priced == 0  # no price known: None, never $0


def test_judge_scores_use_the_judge_with_most_judgments(card: scorecard.Scorecard) -> None:
    clf, haiku, gpt = card.targets
    assert (card.judge, card.rubric_id, card.judgments) == ("judge-a", "r1", 19)
    assert (haiku.n_judged, haiku.judge_score) == (9, pytest.approx(21 / 9))
    assert (gpt.n_judged, gpt.judge_score) == (10, pytest.approx(3.7))  # the judgment on another run left out
    assert gpt.judge_ci[0] < 3.7 < gpt.judge_ci[1]
    expected_ci = quality.mean_ci(GPT_SCORES)
    assert gpt.judge_ci == [expected_ci.low, expected_ci.high]
    assert (clf.n_judged, clf.judge_score, clf.judge_ci) == (0, None, None)


def test_a_named_judge_is_used() -> None:
    named = scorecard.build(benchmark(), judgments(), judge="judge-b", order=ORDER)
    assert (named.judge, named.rubric_id) == ("judge-b", "r1")
    gpt = named.card("gpt")
    assert (gpt.n_judged, gpt.judge_score) == (3, 1.0) and named.card("haiku").n_judged == 0
    nobody = scorecard.build(benchmark(), judgments(), judge="judge-z")
    assert nobody.judge == "judge-z" and nobody.judgments == 0


def test_ratings_from_votes(card: scorecard.Scorecard) -> None:
    clf, haiku, gpt = card.targets
    assert card.votes == 6 and (gpt.votes, haiku.votes, clf.votes) == (6, 6, 0)
    # gpt: 3 wins + 2 ties as half = 4 of 6; with the prior's virtual tie, 4.5 to 2.5.
    gap = 400 * math.log10(4.5 / 2.5)
    assert gpt.rating == pytest.approx(1000 + gap / 2, abs=1e-4) and haiku.rating == pytest.approx(1000 - gap / 2, abs=1e-4)
    assert gpt.rating_ci[0] <= gpt.rating <= gpt.rating_ci[1]
    assert (clf.rating, clf.rating_ci) == (None, None)
    wins = card.win_rate_frame()
    assert wins.loc["gpt", "haiku"] == pytest.approx(4 / 6) and wins.loc["haiku", "gpt"] == pytest.approx(2 / 6)
    assert card.games_frame().loc["gpt", "haiku"] == 6
    assert list(card.ratings_frame()["target"]) == ["gpt", "haiku"]


def test_the_front_from_the_cards_own_figures(card: scorecard.Scorecard) -> None:
    clf, haiku, gpt = card.targets
    # clf: 0.5, 252 ms, $0.01 beats haiku: 0.2, 493.6 ms, $0.39 on all three; gpt has no price.
    assert (clf.pareto, haiku.pareto, gpt.pareto) == (True, False, None)
    assert card.front() == ["clf"]


# --- pairs -------------------------------------------------------------------------------------------------------


def test_mcnemar_on_the_same_runs(card: scorecard.Scorecard) -> None:
    test = pair(card, "haiku", "gpt", "mcnemar")
    assert (test.n, test.discordant, test.metric) == (10, [1, 7], "correct")
    assert test.p_value == pytest.approx(2 * (1 + 8) / 2**8)  # 2 * P(X <= 1), X ~ Bin(8, 1/2)
    assert test.effect == pytest.approx(0.2 - 0.8)
    other = pair(card, "clf", "haiku", "mcnemar")
    assert other.discordant == [4, 1] and other.p_value == pytest.approx(2 * (1 + 5) / 2**5)


def test_wilcoxon_on_warm_successful_pairs(card: scorecard.Scorecard) -> None:
    test = pair(card, "haiku", "gpt", "wilcoxon")
    assert test.n == 9 and test.metric == "latency_ms"  # run 9: haiku failed
    d = HAIKU_MINUS_GPT
    ranks = {x: r for r, x in enumerate(sorted(d, key=abs), start=1)}
    w_minus = sum(ranks[x] for x in d if x < 0)
    sums = [sum(s) for k in range(10) for s in combinations(range(1, 10), k)]
    assert test.p_value == pytest.approx(2 * sum(s <= w_minus for s in sums) / 2**9)
    assert test.effect == float(np.median(d))
    assert pair(card, "clf", "gpt", "wilcoxon").n == 9  # the classifier's cold start left out
    assert pair(card, "clf", "haiku", "wilcoxon").n == 8  # and haiku's error


def test_paired_bootstrap_on_judge_scores(card: scorecard.Scorecard) -> None:
    test = pair(card, "haiku", "gpt", "paired_bootstrap")
    assert test.n == 9 and test.metric == "judge_score"
    assert test.effect == pytest.approx((21 - 36) / 9)
    direct = quality.paired_bootstrap(HAIKU_SCORES, GPT_SCORES[:9])
    assert (test.p_value, test.effect_ci) == (direct.p_value, [direct.low, direct.high])
    assert test.p_value < 0.05
    none = pair(card, "clf", "gpt", "paired_bootstrap")
    assert none.n == 0 and none.p_value is None and none.note == "too few pairs (n=0; needs 6)"


def test_too_few_pairs_say_so() -> None:
    items = [i for i in benchmark() if i["run_id"] in RUNS[:3]]
    card = scorecard.build(items, order=ORDER)
    for test in card.pairs:
        assert test.p_value is None and test.note.startswith("too few pairs (n=")
    wilcoxon = pair(card, "clf", "gpt", "wilcoxon")
    assert wilcoxon.note == "too few pairs (n=2; needs 6)"  # run 0 is the classifier's cold start
    assert pair(card, "haiku", "gpt", "mcnemar").note == "too few pairs (n=3; needs 6)"
    assert not [p for p in card.pairs if p.test == "paired_bootstrap"]  # no judge: no judge-score test


# --- agreement ---------------------------------------------------------------------------------------------------


def test_kappa_between_targets(card: scorecard.Scorecard) -> None:
    hg = agreement(card, "haiku", "gpt")
    po, pe = 0.2, 0.2 * 0.8 + 0.8 * 0.2
    assert hg.n == 10 and hg.kappa == pytest.approx((po - pe) / (1 - pe)) and hg.observed == pytest.approx(0.2)
    cg = agreement(card, "clf", "gpt")
    assert cg.kappa == pytest.approx((0.7 - 0.5) / (1 - 0.5))


def test_top_answers_agree(card: scorecard.Scorecard) -> None:
    # The classifier's top label (highest score, not the first listed) against text: named on runs 0 and 5 of
    # haiku's 9 successful answers, on runs 0..4 of gpt's 10.
    assert (agreement(card, "clf", "haiku").top_agreement, agreement(card, "clf", "haiku").top_n) == (2 / 9, 9)
    assert (agreement(card, "clf", "gpt").top_agreement, agreement(card, "clf", "gpt").top_n) == (0.5, 10)
    # Two texts: only run 0 has both naming an expected label; haiku names "kitten" first, gpt "cat".
    assert (agreement(card, "haiku", "gpt").top_agreement, agreement(card, "haiku", "gpt").top_n) == (0.0, 1)


def test_top_answer_rules() -> None:
    def item(run: str, target: str, output: str = "", labels: list[dict[str, Any]] | None = None, exp: list[str] | None = None) -> dict[str, Any]:
        return {"run_id": run, "provider": target, "status": "ok", "output": output, "labels": labels or [], "expected": exp or []}

    items = [
        # two classifiers: the same top label (case aside) agrees
        item("1", "c1", labels=[{"label": "Tabby cat", "score": 0.9}]), item("1", "c2", labels=[{"label": "tabby cat", "score": 0.7}]),
        item("2", "c1", labels=[{"label": "dog", "score": 0.9}]), item("2", "c2", labels=[{"label": "wolf", "score": 0.7}]),
        # unlabelled image, two texts: not counted
        item("1", "t1", "a cat"), item("1", "t2", "a cat"),
        # labelled: the first expected label each names, by position in the text
        item("2", "t1", "two dogs and a cat", exp=["cat", "dog"]), item("2", "t2", "a dog, then a cat", exp=["cat", "dog"]),
        item("3", "t1", "cats sleeping", exp=["cat", "dog"]), item("3", "t2", "a dog and cats", exp=["cat", "dog"]),
        item("4", "t1", "nothing", exp=["cat"]), item("4", "t2", "a cat", exp=["cat"]),  # t1 names none: not counted
    ]  # fmt: skip
    card = scorecard.build(items)
    assert (agreement(card, "c1", "c2").top_agreement, agreement(card, "c1", "c2").top_n) == (0.5, 2)
    assert (agreement(card, "t1", "t2").top_agreement, agreement(card, "t1", "t2").top_n) == (0.5, 2)
    # Classifier against text: "a cat" does not name "tabby cat" (run 1); "two dogs and a cat" names "dog" (run 2)
    # but not "wolf".
    assert (agreement(card, "c1", "t1").top_agreement, agreement(card, "c1", "t1").top_n) == (0.5, 2)
    assert (agreement(card, "c2", "t1").top_agreement, agreement(card, "c2", "t1").top_n) == (0.0, 2)


# --- the document ------------------------------------------------------------------------------------------------

REQUIRED_TARGET = {"target", "n", "accuracy", "accuracy_ci", "judge_score", "judge_ci", "rating", "rating_ci", "votes",
                   "p50_ms", "p95_ms", "cost_per_1k_usd", "pareto"}  # fmt: skip
EXTRA_TARGET = {"title", "n_ok", "n_scored", "n_judged", "n_latency", "latency_basis", "cold_n", "cold_p50_ms", "n_priced", "quality"}


def test_to_json_has_the_issues_shape_and_is_valid_json(card: scorecard.Scorecard) -> None:
    doc = card.to_json()
    text = json.dumps(doc, allow_nan=False)  # raises on NaN or infinity
    assert json.loads(text) == doc
    assert set(doc) == {"quality_metric", "targets", "pairs", "agreement", "judge", "rubric_id", "win_rates", "modes"}
    assert doc["modes"] == {"online": sum(row["n"] for row in doc["targets"])}, "items without a mode are online"
    assert doc["quality_metric"] in ("accuracy", "judge_score")
    for row in doc["targets"]:
        assert set(row) == REQUIRED_TARGET | EXTRA_TARGET
        assert row["accuracy_ci"] is None or len(row["accuracy_ci"]) == 2
    for row in doc["pairs"]:
        assert set(row) == {"a", "b", "test", "p_value", "effect", "n", "metric", "effect_ci", "note", "discordant"}
        assert row["test"] in ("mcnemar", "wilcoxon", "paired_bootstrap")
    for row in doc["agreement"]:
        assert set(row) == {"a", "b", "kappa", "n", "note", "observed", "top_agreement", "top_n"}
    assert doc["win_rates"]["targets"] == ["haiku", "gpt"] and doc["win_rates"]["share"][0][0] is None
    assert doc["win_rates"]["share"][1][0] == pytest.approx(4 / 6) and doc["win_rates"]["games"][0][1] == 6
    assert len(doc["pairs"]) == 3 * 3 and len(doc["agreement"]) == 3
    gpt = doc["targets"][2]
    assert gpt["cost_per_1k_usd"] is None and gpt["pareto"] is None and isinstance(gpt["accuracy"], float)


def test_frames_hold_the_same_figures(card: scorecard.Scorecard) -> None:
    targets = card.targets_frame()
    assert list(targets["target"]) == ORDER
    assert targets.loc[2, "accuracy_low"] == card.targets[2].accuracy_ci[0]
    assert targets["n"].dtype == np.int64 and math.isnan(targets.loc[0, "judge_score"])
    assert list(targets["pareto"]) == [True, False, None]
    pairs = card.pairs_frame()
    assert len(pairs) == 9 and pairs.loc[(pairs["test"] == "mcnemar") & (pairs["a"] == "haiku"), "b_only"].item() == 7
    assert list(card.agreement_frame().columns) == ["a", "b", "n", "kappa", "observed", "note", "top_n", "top_agreement"]


def test_judge_score_is_the_quality_without_labels() -> None:
    items = [{**i, "correct": None, "expected": []} for i in benchmark()]
    card = scorecard.build(items, judgments(), order=ORDER)
    assert card.quality_metric == "judge_score"
    clf, haiku, gpt = card.targets
    assert (clf.quality, haiku.quality, gpt.quality) == (None, pytest.approx(21 / 9), pytest.approx(3.7))
    assert clf.pareto is None and gpt.pareto is None  # clf has no score, gpt no price
    assert haiku.pareto is True  # the only target with all three figures
    assert not [p for p in card.pairs if p.test == "mcnemar"]
    assert json.dumps(card.to_json(), allow_nan=False)


def test_two_identical_targets_are_both_on_the_front() -> None:
    items = [i for i in benchmark() if i["provider"] == "clf"]
    twin = [{**i, "provider": "twin"} for i in items]
    card = scorecard.build(items + twin)
    assert [c.pareto for c in card.targets] == [True, True]
    same = pair(card, "clf", "twin", "mcnemar")
    assert same.p_value is None and "no discordant pairs" in same.note
    kappa = agreement(card, "clf", "twin")
    assert kappa.kappa == pytest.approx(1.0) and kappa.top_agreement == 1.0


def test_an_empty_selection() -> None:
    card = scorecard.build([])
    assert card.to_json() == {"quality_metric": "judge_score", "judge": None, "rubric_id": None, "targets": [], "pairs": [], "agreement": [], "win_rates": None, "modes": {}}
    assert card.targets_frame().empty and card.ratings_frame().empty and card.front() == []


def test_figures_agree_with_random_items() -> None:
    """A larger random selection: each card's counts, accuracy and cost recomputed from the items, and the front
    checked against the cards' own figures."""
    rng = np.random.default_rng(3)
    items = []
    for run in range(120):
        for t, target in enumerate(["a", "b", "c", "d"]):
            ok = rng.random() > 0.1
            items.append(
                {
                    "run_id": f"run{run}", "provider": target, "status": "ok" if ok else "error",
                    "latency_ms": float(rng.gamma(2.0, 100 * (t + 1))) if ok else None,
                    "cost_usd": [None, 0.001, 0.002, 0.0005][t] if ok else None,
                    "correct": bool(ok and rng.random() < 0.3 + 0.15 * t) if run % 3 else None,
                    "output": "x", "labels": [], "expected": ["x"] if run % 3 else [],
                }
            )  # fmt: skip
    card = scorecard.build(items)
    for c in card.targets:
        mine = [i for i in items if i["provider"] == c.target]
        scored = [i["correct"] for i in mine if i["correct"] is not None]
        costs = [i["cost_usd"] for i in mine if i["status"] == "ok" and i["cost_usd"] is not None]
        assert c.n == len(mine) and c.n_ok == sum(i["status"] == "ok" for i in mine)
        assert (c.n_scored, c.correct) == (len(scored), sum(scored)) and c.accuracy == pytest.approx(sum(scored) / len(scored))
        assert c.cost_per_1k_usd == (pytest.approx(1000 * sum(costs) / len(costs)) if costs else None)
        ok_latency = [i["latency_ms"] for i in mine if i["status"] == "ok"]
        assert c.p95_ms == pytest.approx(float(np.percentile(ok_latency, 95)))
    complete = [c for c in card.targets if None not in (c.quality, c.p95_ms, c.cost_per_1k_usd)]

    def dominates(x: scorecard.TargetCard, y: scorecard.TargetCard) -> bool:
        at_least = x.quality >= y.quality and x.p95_ms <= y.p95_ms and x.cost_per_1k_usd <= y.cost_per_1k_usd
        return at_least and (x.quality > y.quality or x.p95_ms < y.p95_ms or x.cost_per_1k_usd < y.cost_per_1k_usd)

    for c in card.targets:
        if c in complete:
            assert c.pareto == (not any(dominates(o, c) for o in complete if o is not c))
        else:
            assert c.pareto is None
    assert card.card("a").pareto is None  # no cost known


def test_paired_answers_compare_two_sets_of_results_keyed_alike() -> None:
    """The same classifier on the same six images twice (online and in batch, say): top labels agree on five;
    right on all six one way, on four the other: McNemar has two discordant pairs."""

    def answer(top: str, right: bool) -> dict:
        return {"status": "ok", "labels": [{"label": top, "score": 0.9}, {"label": "other", "score": 0.1}], "correct": right}

    left = {f"k{i}": answer("tabby", True) for i in range(6)}
    right = {f"k{i}": answer("tabby" if i else "tiger cat", i >= 2) for i in range(6)}
    right["extra"] = answer("tabby", True)  # no partner: not counted
    agreement, test = scorecard.paired_answers("online", "batch", left, right)
    assert (agreement.a, agreement.b, agreement.top_agreement, agreement.top_n) == ("online", "batch", 5 / 6, 6)
    assert agreement.n == 6 and agreement.observed == pytest.approx(4 / 6)
    assert (test.test, test.n, test.discordant) == ("mcnemar", 6, [2, 0])
    assert test.p_value == pytest.approx(0.5) and test.effect == pytest.approx(2 / 6)
