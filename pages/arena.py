"""Arena: two models' answers to the same image and prompt, names hidden and order random; a person says which is
better. The votes make the Bradley-Terry ratings of the scorecard."""

from __future__ import annotations

import random
from typing import Any

import streamlit as st

from mcv_core import charts, scorecard, votes
from mcv_core import formatting as fmt
from mcv_core.errors import MCVError
from pages._shared import (
    Selection,
    get_workbench,
    image_jpeg,
    plain,
    selected_results,
    selection_picker,
    results_legend,
    selection_votes,
)

workbench = get_workbench()
PAIR = "arena.pair"  # {"choice", "run_id", "shown": [left id, right id]}: kept, so a rerun does not reshuffle
VOTED = "arena.voted"  # the vote just cast on the pair shown: the names are revealed
VOTER = "arena.voter"  # the name field (a widget: dropped when the page is left)
VOTER_NAME = "arena.voter_name"  # the name, kept for the whole session
BUTTONS = (("a", "A is better", ":material/arrow_back:"), ("b", "B is better", ":material/arrow_forward:"),
           ("tie", "Tie", ":material/balance:"), ("neither", "Both bad", ":material/thumb_down:"))  # fmt: skip
SAID = {"a": "{A} better than {B}", "b": "{B} better than {A}", "tie": "a tie between {A} and {B}", "neither": "both bad: {A} and {B}"}

st.title("Arena")
st.caption(
    "Two models' answers to the same image and prompt, side by side, without their names and in random order. "
    "Say which is better: the votes rate the models (Bradley-Terry) on the Scorecard."
)


def keep_voter() -> None:
    st.session_state[VOTER_NAME] = st.session_state[VOTER]


def voter_name() -> str:
    if VOTER not in st.session_state:
        st.session_state[VOTER] = st.session_state.get(VOTER_NAME, votes.ANONYMOUS)
    return st.columns([1, 2])[0].text_input(
        "Your name", key=VOTER, on_change=keep_voter, max_chars=votes.MAX_VOTER_CHARS,
        help="Stored with your votes. Voting again on the same pair under the same name replaces your vote.",
    )  # fmt: skip


def pick_pair(selection: Selection, pairs: list[tuple[str, str, str]], voted: set[tuple[str, str, str]]) -> dict[str, Any]:
    """A random pair, preferring those this voter has not voted on yet; its two answers in random order."""
    fresh = [p for p in pairs if p not in voted] or pairs
    run_id, a, b = random.choice(fresh)
    shown = [a, b]
    random.shuffle(shown)
    return {"choice": selection.choice, "run_id": run_id, "shown": shown}


def show_ratings(results: list[dict[str, Any]], selection: Selection, legend: charts.Legend) -> None:
    """The ratings of the selection's models from every vote on it, as the Scorecard computes them."""
    card = scorecard.build(results, votes=selection_votes(selection, results), order=workbench.catalogue.ids)
    if card.ratings is None:
        st.info("No votes in this selection yet.", icon=":material/how_to_vote:")
        return
    st.plotly_chart(charts.ratings_chart(card.ratings, legend), key="arena.chart.ratings")
    st.page_link("pages/scorecard.py", label="The whole scorecard", icon=":material/leaderboard:")


selection = selection_picker("arena")
if selection is None:
    st.stop()
try:
    results = selected_results(selection)
except MCVError as exc:
    st.error(plain(exc.user_text()), icon=":material/cloud_off:")
    st.stop()
pairs = votes.arena_pairs(results)
if not pairs:
    st.info(
        "No comparison in this selection has two answers in words to set side by side. Compare an image with two "
        "language models (the classifier answers with labels), or choose a wider range.",
        icon=":material/info:",
    )
    st.page_link("pages/compare.py", label="Go to Compare", icon=":material/compare:")
    st.stop()

legend = results_legend(results)
voter = voter_name()
pair = st.session_state.get(PAIR)
if pair is None or pair["choice"] != selection.choice or tuple([pair["run_id"], *sorted(pair["shown"])]) not in set(pairs):
    mine = {(v["run_id"], v["a"], v["b"]) for v in selection_votes(selection, results) if v["voter"] == voter.strip()}
    pair = st.session_state[PAIR] = pick_pair(selection, pairs, mine)
    st.session_state.pop(VOTED, None)

run_results = {r["provider"]: r for r in results if r["run_id"] == pair["run_id"]}
left, right = (run_results[t] for t in pair["shown"])
voted = st.session_state.get(VOTED)
blind = "" if not workbench.settings.is_local else (
    " In the local cloud each answer names the local stand-in that made it, so these votes are not blind."
)
st.caption(f"{fmt.count(len(pairs), 'pair')} of answers in {selection.label}.{blind}")

with st.container(border=True):
    picture, question = st.columns([1, 2])
    jpeg = image_jpeg(left["image_key"], 640) if left.get("image_key") else None
    if jpeg:
        picture.image(jpeg, width="stretch")
    else:
        picture.caption("The image is no longer stored (30-day lifecycle).")
    question.markdown(f"**{plain(left.get('image_name') or 'image')}**")
    question.caption("The prompt both models were given:")
    question.text(left.get("prompt") or "")
    question.caption(f"run {pair['run_id']} · {str(left.get('created_at', ''))[:16].replace('T', ' ')} UTC")

columns = st.columns(2)
for column, letter, result in zip(columns, "AB", (left, right)):
    with column.container(border=True):
        heading = f"**Answer {letter}**"
        if voted is not None:
            heading += f" · {plain(legend.title(result['provider']))}"
        st.markdown(heading)
        st.text(result.get("output") or "")  # model output: plain text, never markdown

if voted is None:
    with st.container(horizontal=True):
        for winner, label, icon in BUTTONS:
            if st.button(label, icon=icon, key=f"arena.vote.{winner}", width="stretch"):
                try:
                    vote = votes.cast(workbench, pair["run_id"], pair["shown"][0], pair["shown"][1], winner, voter)
                except MCVError as exc:
                    st.error(plain(exc.user_text()), icon=":material/error:")
                    st.stop()
                st.session_state[VOTED] = {"winner": winner, "voter": vote.voter}
                st.rerun()
    st.caption("The models' names are shown once you have voted.")
    st.stop()

names = {"A": legend.title(pair["shown"][0]), "B": legend.title(pair["shown"][1])}
st.success(
    f"Your vote as {plain(voted['voter'])}: {plain(SAID[voted['winner']].format(**names))}. "
    f"A was {plain(names['A'])}, B was {plain(names['B'])}.",
    icon=":material/how_to_vote:",
)
if st.button("Next pair", type="primary", icon=":material/skip_next:", key="arena.next"):
    st.session_state.pop(PAIR, None)
    st.session_state.pop(VOTED, None)
    st.rerun()
st.subheader("Ratings so far")
show_ratings(results, selection, legend)
