"""Scorecard: which model is best for the job. Quality (labels, an LLM judge, blind votes), latency and cost per
model, the Pareto front, paired tests on the same images, agreement and ratings; and a judge pass on the page."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import streamlit as st

from mcv_core import analytics, charts, history, judge, modes, report, scorecard
from mcv_core import formatting as fmt
from mcv_core.errors import MCVError
from pages._shared import (
    Column,
    Selection,
    get_workbench,
    image_jpeg,
    plain,
    selected_results,
    selection_picker,
    results_legend,
    selection_votes,
    show_table,
)

workbench = get_workbench()
TABS = ["Pairs", "Agreement", "Ratings", "Online vs batch", "Judge", "Report"]
JUDGED = "scorecard.judged"  # the last judge pass's outcome, shown until the next
JUDGE_PAIR = "scorecard.judge_pair"  # (judge, rubric id) the scorecard reads, once a pass or a choice named one
RUBRIC = "scorecard.rubric"
GRID_RUNS = 6  # comparisons the report shows side by side
OTHER_MODE = "scorecard.other_mode"  # the benchmark of the other mode a benchmark is put beside
OTHER_LOOKBACK = timedelta(days=30)  # benchmarks of the other mode looked for among this many days of results
BATCH_LOOKBACK = timedelta(days=8)  # a batch benchmark's jobs may run 7 days before its results arrive
IMAGE_FIELDS = ("run_id", "created_at", "provider", "bench_id", "mode", "image_sha256", "image_key", "prompt")
MODE_COLUMNS = {name: Column(kind, help_text, title) for name, (kind, title, help_text) in modes.COLUMNS.items()}

TARGET_COLUMNS: dict[str, Column] = {
    "n": Column("count", "Results of this model in the selection, successful or not", "Results"),
    "accuracy_text": Column("text", "Share of answers on labelled images that name what the image shows, its 95% Wilson interval and the labelled results it is of", "Accuracy (95% CI, n)"),
    "judge_text": Column("text", "Mean score the judge gave (1 to 5), its 95% bootstrap interval and the judged results it is of", "Judge score 1–5 (95% CI, n)"),
    "rating_text": Column("text", "Bradley-Terry rating from blind votes in the Arena (1,000 is the average), its 95% bootstrap interval and the votes", "Rating (95% CI, votes)"),
    "p50_ms": Column("ms", "Median latency of successful calls: warm calls where the service reports cold starts, else all", "p50 (ms)"),
    "p95_ms": Column("ms", "19 in 20 successful calls were at least this fast: warm calls where the service reports cold starts, else all", "p95 (ms)"),
    "n_latency": Column("count", "Successful calls the latency percentiles are of", "Calls timed"),
    "latency_basis": Column("text", "Which calls the latency is of: warm ones where cold starts are reported, else all", "Latency of"),
    "cold_text": Column("text", "Median latency of cold starts and how many there were, kept apart from the warm figures", "Cold starts"),
    "cost_per_1k_usd": Column("money", "1,000 times the mean cost of a successful call with a known price", "Per 1,000 images"),
    "n_priced": Column("count", "Successful calls with a known price", "Priced calls"),
    "front_text": Column(
        "text",
        "On the front when no other model is at least as good on quality, p95 latency and cost and better on one; "
        "– when one of the three is unknown (the chart's caption says which)",
        "Pareto front",
    ),
    "n_scored": Column("count", "Results on labelled images", "Labelled"),
    "n_judged": Column("count", "Results the judge scored", "Judged"),
    "votes": Column("count", "Blind votes this model took part in", "Votes"),
}
PAIR_COLUMNS: dict[str, Column] = {
    "a": Column("text", "The first model of the pair", "Model A"),
    "b": Column("text", "The second model of the pair", "Model B"),
    "test": Column("text", "The paired test: on the comparisons (same image, same prompt) both models answered", "Test"),
    "n": Column("count", "Comparisons the test is made on", "Pairs"),
    "effect": Column("text", "Model A minus model B: accuracy in points, latency as the median difference, judge score as the mean difference", "Effect (A − B)"),
    "p_value": Column("text", "How likely a difference this large is if the two models were equally good; a test with too few pairs says so", "p-value"),
    "verdict": Column("text", f"Which model is better, when p is below {report.ALPHA:g}", "Verdict"),
    "discordant": Column("text", "McNemar: comparisons one model got right and the other wrong; only these decide the test", "Only one right (A · B)"),
}
AGREEMENT_COLUMNS: dict[str, Column] = {
    "a": Column("text", "The first model of the pair", "Model A"),
    "b": Column("text", "The second model of the pair", "Model B"),
    "kappa": Column("text", "Cohen's kappa on right/wrong: 1 always agree, 0 no more than chance; undefined when both are always right (or wrong)", "Cohen's kappa"),
    "n": Column("count", "Labelled comparisons both were scored on", "Labelled"),
    "observed": Column("text", "Share of those comparisons where both were right or both wrong", "Same verdict"),
    "top_agreement": Column("text", "Share of comparisons where their top answers are the same (the classifier's top label; the expected label a text answer names first)", "Same top answer"),
    "top_n": Column("count", "Comparisons where both top answers could be compared", "Compared"),
}
FAILED_COLUMNS: dict[str, Column] = {
    "model": Column("name", "The model whose answer was to be judged", "Model"),
    "run_id": Column("text", "The comparison the answer belongs to", "Run"),
    "reason": Column("text", "What went wrong; the answer is judged again by the next pass", "Why it failed"),
}

st.title("Scorecard")
st.caption(
    "Which model is best for the job: quality (labels, an LLM judge, blind votes), latency and cost side by side, "
    "whether a difference is real or noise, and where the models agree."
)


def judgment_pairs(judgments: list[dict[str, Any]], results: list[dict[str, Any]]) -> Counter:
    """(judge, rubric id) -> judgments of the selected results."""
    keys = {(r["run_id"], r["provider"]) for r in results}
    return Counter((j["judge"], j["rubric_id"]) for j in judgments if (j["run_id"], j["target"]) in keys)


def choose_judgments(pairs: Counter, legend: charts.Legend) -> tuple[str | None, str | None]:
    """Which judge's scores the scorecard reads, when judgments of more than one judge or rubric are there."""
    if len(pairs) <= 1:
        return next(iter(pairs), (None, None))
    options = [pair for pair, _ in pairs.most_common()]
    kept = st.session_state.get(JUDGE_PAIR)
    chosen = st.selectbox(
        "Judge scores from",
        options,
        index=options.index(kept) if kept in options else 0,
        format_func=lambda p: f"{legend.title(p[0])} · rubric {p[1]} · {fmt.count(pairs[p], 'judgment')}",
        key="scorecard.judgments",
        help="Judgments by more than one judge or rubric are stored for this selection; the scorecard reads one set.",
    )
    return chosen


def headline(card: scorecard.Scorecard, results: list[dict[str, Any]]) -> None:
    cols = st.columns(4)
    cols[0].metric("Results", fmt.count(len(results)), help="One result is one model's answer on one image")
    cols[1].metric("Comparisons", fmt.count(card.runs), help="One comparison is one image and prompt sent to the models")
    cols[2].metric("Judgments", fmt.count(card.judgments), help="Judge scores the scorecard reads (one judge and rubric)")
    cols[3].metric("Votes", fmt.count(card.votes), help="Blind votes from the Arena on these comparisons")


def targets_tables(card: scorecard.Scorecard, legend: charts.Legend) -> None:
    """Two tables, each answering one question: how good each model is, and how fast and costly. Each quality
    figure carries its own n, so the results count waits behind More columns (the table fits a 1,024 px page)."""
    frame = report.scorecard_targets(card)
    show_table(
        frame, key="scorecard.quality", main=["accuracy_text", "judge_text", "rating_text", "front_text"],
        title_of=legend.title, columns=TARGET_COLUMNS,
        caption="How good is each model? Accuracy on labelled images, the judge's score and the rating from blind "
        "votes, each with its 95% interval and n.",
    )  # fmt: skip
    show_table(
        frame, key="scorecard.speed", main=["p50_ms", "p95_ms", "n_latency", "latency_basis", "cold_text", "cost_per_1k_usd", "n_priced"],
        title_of=legend.title, columns=TARGET_COLUMNS,
        caption="How fast and how costly? Latency of successful calls (warm where the service reports cold starts; "
        "cold starts apart) and the cost of 1,000 images.",
    )  # fmt: skip


def pairs_tab(card: scorecard.Scorecard, legend: charts.Legend) -> None:
    ids = [t.target for t in card.targets]
    if len(ids) < 2:
        st.info("Paired tests need two models in the selection.", icon=":material/info:")
        return
    left, right = st.columns(2)
    first = left.selectbox("Model A", ids, index=0, format_func=legend.title, key="scorecard.pair_a")
    second = right.selectbox("Model B", ids, index=1, format_func=legend.title, key="scorecard.pair_b")
    if first == second:
        st.info("Choose two different models.", icon=":material/info:")
    else:
        st.caption(
            f"{plain(legend.title(first))} against {plain(legend.title(second))} on the comparisons both answered "
            f"(the same image and prompt). Effects are A minus B; a test needs at least 6 pairs."
        )
        show_table(
            report.scorecard_pairs(card, legend.title, first, second), key="scorecard.pair",
            main=["test", "n", "effect", "p_value", "verdict"], columns=PAIR_COLUMNS,
        )  # fmt: skip
    with st.expander("Every pair", icon=":material/table:"):
        show_table(
            report.scorecard_pairs(card, legend.title), key="scorecard.pairs",
            main=["a", "b", "test", "n", "effect", "p_value", "verdict"], columns=PAIR_COLUMNS,
        )  # fmt: skip


def agreement_tab(card: scorecard.Scorecard, legend: charts.Legend) -> None:
    if not card.agreement:
        st.info("Agreement needs two models in the selection.", icon=":material/info:")
        return
    show_table(
        report.scorecard_agreement(card, legend.title), key="scorecard.agreement",
        main=["a", "b", "kappa", "n", "top_agreement", "top_n"], columns=AGREEMENT_COLUMNS,
        caption="Do two models get the same images right, and give the same top answer? Kappa corrects the raw "
        "agreement (Same verdict, among the other columns) for what chance alone would give.",
    )  # fmt: skip


def ratings_tab(card: scorecard.Scorecard, legend: charts.Legend) -> None:
    if card.ratings is None:
        st.info("No blind votes on these comparisons yet: vote in the Arena to rate the models.", icon=":material/how_to_vote:")
        st.page_link("pages/arena.py", label="Go to the Arena", icon=":material/how_to_vote:")
        return
    st.plotly_chart(charts.ratings_chart(card.ratings, legend), key="scorecard.chart.ratings")
    st.plotly_chart(charts.win_rate_matrix(card.ratings, legend), key="scorecard.chart.win_rates")
    st.page_link("pages/arena.py", label="Vote in the Arena", icon=":material/how_to_vote:")


@st.cache_data(ttl=60, show_spinner=False, max_entries=8)
def benchmark_images(until: datetime) -> list[dict[str, Any]]:
    """Which image, prompt, model and mode every benchmark's results of the last OTHER_LOOKBACK are of."""
    items = workbench.history.load(until - OTHER_LOOKBACK, until, fields=IMAGE_FIELDS)
    return [item for item in items if item.get("bench_id")]


@st.cache_data(ttl=60, show_spinner=False, max_entries=8)
def batch_states(days: int) -> list[dict[str, Any]]:
    return workbench.history.batches(days)


def other_mode_benchmarks(results: list[dict[str, Any]], selection: Selection) -> dict[str, dict[str, Any]]:
    """Benchmarks of the other mode that ran a model of this benchmark on some of its images (the same image and
    prompt): bench id -> {mode, images (shared), started}, most shared images first, then the newest."""
    own = {modes.mode_of(r) for r in results}
    shared = {(str(r.get("provider")), *modes.image_of(r)) for r in results}
    found: dict[str, dict[str, Any]] = {}
    for item in benchmark_images(selection.until):
        mode = modes.mode_of(item)
        key = (str(item.get("provider")), *modes.image_of(item))
        if item["bench_id"] == selection.bench_id or mode in own or key not in shared:
            continue
        entry = found.setdefault(item["bench_id"], {"mode": mode, "images": set(), "started": item["created_at"]})
        entry["images"].add(key[1:])
        entry["started"] = min(entry["started"], item["created_at"])
    ranked = sorted(found.items(), key=lambda kv: str(kv[1]["started"]), reverse=True)  # newest first, then
    ranked.sort(key=lambda kv: -len(kv[1]["images"]))  # the most shared images first (a stable sort)
    return {bench: {**entry, "images": len(entry["images"])} for bench, entry in ranked}


def modes_tab(
    card: scorecard.Scorecard, results: list[dict[str, Any]], selection: Selection, legend: charts.Legend
) -> None:
    """Each model online and in batch on the same images. A benchmark of one mode is put beside a benchmark of the
    other that covers the same images; a time range compares the modes it holds."""
    items = results
    if len(card.modes) < 2 and selection.bench_id:
        others = other_mode_benchmarks(results, selection)
        present = next(iter(card.modes), modes.ONLINE)
        if not others:
            st.info(
                f"{modes.lacking_note(present)} No {'batch' if present == modes.ONLINE else 'online'} benchmark of the "
                f"last {OTHER_LOOKBACK.days} days ran these images with the same prompt.",
                icon=":material/info:",
            )
            return
        chosen = st.selectbox(
            "Beside", list(others), key=OTHER_MODE,
            format_func=lambda b: f"{others[b]['mode'].capitalize()} benchmark {b} · "
            f"{fmt.count(others[b]['images'], 'same image')}",
            help=f"Benchmarks of the other mode, of the last {OTHER_LOOKBACK.days} days, that ran some of these "
            "images with the same prompt; the most shared images first.",
        )  # fmt: skip
        started = history.bench_started(chosen)
        beside = Selection(started - timedelta(minutes=1), selection.until, chosen, choice=chosen)
        items = results + selected_results(beside)
    states = batch_states(BATCH_LOOKBACK.days + OTHER_LOOKBACK.days)
    comparisons = modes.compare(items, states, order=workbench.catalogue.ids)
    note = modes.one_mode_note(comparisons)
    if note is not None:
        st.info(note, icon=":material/info:")
        return
    named = legend.covering([r.target for r in comparisons], {r.target: r.title for r in comparisons if r.title})
    show_table(
        modes.table([row for row in comparisons if row.both]), key="scorecard.modes", main=modes.MAIN_COLUMNS,
        title_of=named.title, columns=MODE_COLUMNS,
        caption="Each model online and as a batch job on the same images: what 1,000 images cost, how long a "
        "benchmark took to have all its results, and how often the two give the same top answer (n: images "
        "compared). Accuracy of each mode and McNemar's test are among the other columns.",
    )  # fmt: skip


def restore_rubric() -> None:
    st.session_state[RUBRIC] = judge.DEFAULT_RUBRIC_TEXT


def judge_tab(results: list[dict[str, Any]], judgments: list[dict[str, Any]], legend: charts.Legend) -> None:
    able = judge.judges(workbench.catalogue)
    if not able:
        st.info(
            f"No target of the catalogue ({workbench.catalogue.source_text}) can judge: add a language model.",
            icon=":material/gavel:",
        )
        return
    st.caption(
        "A language model of the catalogue scores each answer 1 to 5 against the rubric, one answer at a time, with "
        "the image. Its own tokens and cost are kept apart from the judged models'. Answers it has already scored "
        "with the same rubric are not judged again."
    )
    chosen = st.selectbox(
        "Judge", able, format_func=legend.title, key="scorecard.judge",
        help="Only models that answer in words can judge (the classifier cannot).",
    )  # fmt: skip
    if RUBRIC not in st.session_state:
        restore_rubric()
    text = st.text_area("Rubric", key=RUBRIC, height=230, max_chars=judge.MAX_RUBRIC_CHARS)
    try:
        rubric = judge.Rubric(text, source="the rubric on this page")
    except MCVError as exc:
        st.error(plain(exc.user_text()), icon=":material/error:")
        return
    done = {(j["run_id"], j["target"]) for j in judgments if j["judge"] == chosen and j["rubric_id"] == rubric.id}
    answered = [r for r in results if r["status"] == "ok"]
    todo = [r for r in answered if (r["run_id"], r["provider"]) not in done]
    with st.container(horizontal=True, vertical_alignment="center"):
        go = st.button(
            f"Judge {fmt.count(len(todo), 'answer')}" if todo else "Nothing to judge", type="primary", icon=":material/gavel:",
            disabled=not todo, key="scorecard.judge_go",
        )  # fmt: skip
        st.button("Default rubric", icon=":material/restart_alt:", key="scorecard.rubric_default", on_click=restore_rubric)
        failed = len(results) - len(answered)
        st.caption(
            f"Rubric {rubric.id} · {fmt.count(len(answered) - len(todo), 'answer')} already judged by "
            f"{plain(legend.title(chosen))} with it"
            + (f" · {fmt.count(failed, 'failed call')} not judged (no answer to judge)" if failed else "")
        )
    if go:
        progress = st.progress(0.0, text=f"Judging {fmt.count(len(todo), 'answer')} with {plain(legend.title(chosen))}…")

        def on_progress(finished: int, total: int) -> None:
            progress.progress(finished / max(total, 1), text=f"{fmt.count(finished)} of {fmt.count(total, 'answer')} judged")

        try:
            outcome = judge.judge_results(workbench, chosen, todo, rubric, on_progress=on_progress)
        except MCVError as exc:
            st.error(plain(exc.user_text()), icon=":material/error:")
            return
        st.session_state[JUDGED] = outcome
        st.session_state[JUDGE_PAIR] = (outcome.judge, outcome.rubric_id)
        st.rerun()  # the scorecard above reads the new judgments
    outcome: judge.JudgeOutcome | None = st.session_state.get(JUDGED)
    if outcome is not None:
        show_outcome(outcome, legend)


def show_outcome(outcome: judge.JudgeOutcome, legend: charts.Legend) -> None:
    billed = sum(1 for r in outcome.results if r.billed)
    skipped = Counter(s.why for s in outcome.skipped)
    text = (
        f"Judged by {plain(legend.title(outcome.judge))} (rubric {outcome.rubric_id}): "
        f"{fmt.count(outcome.scored, 'answer')} scored, "
        f"{fmt.count(sum(skipped.values()), 'answer')} skipped"
        + (f" ({', '.join(f'{n} {why}' for why, n in skipped.items())})" if skipped else "")
        + f", {fmt.count(len(outcome.failed), 'call')} failed. "
        f"The judge's cost: {fmt.money(outcome.cost_usd)} for {fmt.count(billed, 'call')}."
    )
    (st.warning if outcome.failed else st.success)(text, icon=":material/gavel:")
    if outcome.failed:
        rows = pd.DataFrame(
            [{"model": legend.title(r.target), "run_id": r.run_id, "reason": r.reason} for r in outcome.failed],
            columns=["model", "run_id", "reason"],
        )
        show_table(rows, key="scorecard.failed", main=["run_id", "reason"], columns=FAILED_COLUMNS,
                   caption="Judge calls that failed: nothing is stored for them, and the next pass tries them again.")  # fmt: skip


def report_html(card: scorecard.Scorecard, results: list[dict[str, Any]], selection: Selection, legend: charts.Legend) -> str:
    """The HTML report of the selection, its scorecard first; the newest comparisons side by side."""
    frame = analytics.to_frame(results, workbench.catalogue.ids)
    runs: dict[str, dict[str, Any]] = {}
    for item in results:  # newest first
        row = runs.setdefault(item["run_id"], {"image_name": item.get("image_name") or item["run_id"], "results": {}})
        row["results"][item["provider"]] = item
        row.setdefault("image_key", item.get("image_key"))
    grid = [
        {**row, "thumbnail_jpeg": image_jpeg(row["image_key"]) if row.get("image_key") else None}
        for row in list(runs.values())[:GRID_RUNS]
    ]
    subtitle = f"{selection.label} · {fmt.count(len(results), 'result')} · made {datetime.now():%Y-%m-%d %H:%M}"
    return report.build_report(frame, grid, title="MC Vision scorecard", subtitle=subtitle, legend=legend, scorecard=card)


def report_tab(card: scorecard.Scorecard, results: list[dict[str, Any]], selection: Selection, legend: charts.Legend) -> None:
    st.caption(
        "One self-contained HTML file that opens offline: this scorecard (table, Pareto front, paired tests, "
        f"agreement, ratings), then the latency, cost and accuracy tables and charts, and the {GRID_RUNS} newest "
        "comparisons side by side."
    )
    stamp = selection.bench_id or f"{selection.since:%Y%m%d-%H%M}-{selection.until:%Y%m%d-%H%M}"
    st.download_button(
        "Download report", lambda: report_html(card, results, selection, legend), f"mc-vision-scorecard-{stamp}.html",
        "text/html", icon=":material/download:", key="scorecard.report",
    )  # fmt: skip


selection = selection_picker("scorecard", prefer_benchmark=True)
if selection is None:
    st.stop()
try:
    results = selected_results(selection)
    judgments = workbench.history.judgments(selection.since, selection.until) if results else []
    votes = selection_votes(selection, results) if results else []
except MCVError as exc:
    st.error(plain(exc.user_text()), icon=":material/cloud_off:")
    st.stop()
if not results:
    st.info("No results in this selection yet. Compare some images, or run a benchmark.", icon=":material/info:")
    st.page_link("pages/benchmark.py", label="Go to Benchmark", icon=":material/speed:")
    st.stop()

legend = results_legend(results)
available = judgment_pairs(judgments, results)
judge_id, rubric_id = choose_judgments(available, legend)
card = scorecard.build(results, judgments, votes, judge=judge_id, rubric_id=rubric_id, order=workbench.catalogue.ids)
legend = legend.covering([t.target for t in card.targets], card.titles)

headline(card, results)
st.caption(plain(f"{modes.mode_sentence(card.modes)} {report.scorecard_summary(card, legend)}"))
targets_tables(card, legend)
st.plotly_chart(charts.pareto_chart(card, legend), key="scorecard.chart.pareto")

tabs = st.tabs(TABS, key="scorecard.tab", on_change="rerun")
for tab, draw in zip(
    tabs,
    (
        lambda: pairs_tab(card, legend),
        lambda: agreement_tab(card, legend),
        lambda: ratings_tab(card, legend),
        lambda: modes_tab(card, results, selection, legend),
        lambda: judge_tab(results, judgments, legend),
        lambda: report_tab(card, results, selection, legend),
    ),
):
    if tab.open:
        with tab:
            draw()
