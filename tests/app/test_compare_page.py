"""The Compare page through Streamlit's AppTest, against the session's local cloud (real emulator, real models).

Each test builds a fresh AppTest from app.py (the compare page is the default page) and clears Streamlit's
caches first, so the page's cached workbench is opened from the test's environment, not a previous one.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Block

from pages._shared import comparison_report, plain
from tests.app.tables import ZERO_COST, assert_tables_configured

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "app.py"

ALL = ["sagemaker", "bedrock", "azure_openai"]
TITLES = {"sagemaker": "SageMaker Serverless", "bedrock": "Amazon Bedrock", "azure_openai": "Azure OpenAI"}
# The first comparison of the session pays for cold starts (torch imports, model loads) on a busy machine.
COMPARE_TIMEOUT_S = 180
CAT_WORDS = ("cat", "tabby", "egyptian mau", "lynx")

NOT_AN_IMAGE = b"<html><body>not a picture</body></html>"


# --- fixtures and helpers --------------------------------------------------------------------------------


@pytest.fixture
def app(local_env: dict[str, str]) -> Iterator[AppTest]:
    """The app, rendered once, with a workbench opened for this test's local cloud."""
    st.cache_resource.clear()
    st.cache_data.clear()
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    assert not at.exception, _exceptions(at)
    yield at
    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture
def cleared_faults(local_settings: Any) -> Iterator[Any]:
    """The emulator's connection, with no fault planned before or after the test."""
    from mcv_core.local import control

    conn = control.running(local_settings)
    assert conn is not None, "the local cloud of the test session is not running"
    control.emulator_admin(conn, "DELETE", "/_mcv/faults")
    try:
        yield conn
    finally:
        control.emulator_admin(conn, "DELETE", "/_mcv/faults")


def _exceptions(at: AppTest) -> str:
    return "\n".join(f"{e.message}\n{''.join(e.stack_trace)}" for e in at.exception)


def upload(at: AppTest, *files: tuple[str, bytes, str]) -> None:
    at.file_uploader(key="compare.files").set_value(list(files))
    at.run()
    assert not at.exception, _exceptions(at)


def click_compare(at: AppTest) -> None:
    button = at.button(key="compare.go")
    assert not button.disabled, "Compare is disabled although a file, a model and a prompt are set"
    button.click()
    at.run(timeout=COMPARE_TIMEOUT_S)
    assert not at.exception, _exceptions(at)


def cards(at: AppTest, titles: dict[str, str] = TITLES) -> dict[str, list[Block]]:
    """Result cards by target: the bordered blocks whose first element is the target's bold title."""
    by_title = {f"**{plain(title)}**": name for name, title in titles.items()}
    found: dict[str, list[Block]] = {}

    def walk(node: Any) -> None:
        children = getattr(node, "children", None) or {}
        first = children.get(0)
        if isinstance(node, Block) and getattr(first, "type", None) == "markdown" and first.value in by_title:
            found.setdefault(by_title[first.value], []).append(node)
        for child in children.values():
            walk(child)

    walk(at.main)
    return found


def one_card_each(at: AppTest, providers: list[str], titles: dict[str, str] = TITLES) -> dict[str, Block]:
    found = cards(at, titles)
    assert sorted(found) == sorted(providers), f"cards shown for {sorted(found)}, expected {sorted(providers)}"
    for name, blocks in found.items():
        assert len(blocks) == 1, f"{len(blocks)} cards for {name}"
    return {name: blocks[0] for name, blocks in found.items()}


def badges(card: Block) -> list[str]:
    return [m.value for m in card.markdown if "-badge[" in m.value]


FIGURES = ["Latency", "Time to first token", "Output speed", "Tokens in / out", "Cost"]  # every card, in this order
DURATION = re.compile(r"[\d,.]+ (ms|s)")  # "850 ms", "12.3 s"


def metrics(card: Block) -> dict[str, str]:
    return {m.label: m.value for m in card.metric}


def assert_ok_card(card: Block, name: str) -> None:
    assert not card.error, f"{name} shows an error: {[e.value for e in card.error]}"
    assert not any("error" in b for b in badges(card)), badges(card)
    shown = metrics(card)
    assert list(shown) == FIGURES, shown
    assert DURATION.fullmatch(shown["Latency"]), shown["Latency"]
    outputs = [t.value for t in card.text]
    assert outputs and outputs[0].strip(), f"{name} shows no answer"


def sagemaker_labels(card: Block) -> list[str]:
    assert len(card.dataframe) == 1, "the SageMaker card has no label table"
    frame = card.dataframe[0].value
    assert list(frame.columns) == ["label", "score"], list(frame.columns)
    return [str(label) for label in frame["label"]]


def names_a_cat(labels: list[str]) -> bool:
    return any(word in label.lower() for label in labels for word in CAT_WORDS)


def last_run(at: AppTest) -> Any:
    """The run the page kept in session state for the one uploaded image."""
    outcomes = at.session_state["compare.outcomes"]
    assert len(outcomes) == 1, outcomes
    name, run = outcomes[0]
    assert not isinstance(run, str), f"{name}: {run}"
    return run


def stored_results(workbench: Any, run_id: str) -> dict[str, dict[str, Any]]:
    items = workbench.history.run(run_id)
    return {item["provider"]: item for item in items if item.get("type") == "result"}


def s3_keys(workbench: Any) -> set[str]:
    s3 = workbench.clients.aws("s3")
    keys: set[str] = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=workbench.store.bucket):
        keys.update(obj["Key"] for obj in page.get("Contents", []))
    return keys


def waiting_notes(at: AppTest) -> list[str]:
    return [i.value for i in at.info if i.value.startswith("Waiting for")]


# --- tests -----------------------------------------------------------------------------------------------


def test_page_renders_its_controls_and_compare_waits_for_a_file(app: AppTest, local_settings: Any, cat_jpeg: bytes) -> None:
    at = app
    assert [t.value for t in at.title] == ["Compare"]
    uploader = at.file_uploader(key="compare.files")
    assert uploader.accept_multiple_files

    pills = at.pills(key="compare.targets")
    assert sorted(pills.options) == sorted(TITLES.values())
    assert sorted(pills.value) == sorted(ALL), "every enabled target is selected by default"
    assert "targets.toml" in (pills.help or ""), "the pills say where the targets come from"
    assert "Bedrock" not in (at.text_area(key="compare.prompt").help or "")

    prompt = at.text_area(key="compare.prompt")
    assert prompt.value == local_settings.default_prompt and prompt.value.strip()

    assert at.button(key="compare.go").disabled, "Compare must wait for a file"
    assert "To compare, choose an image." in [c.value for c in at.caption], "the disabled button says why"
    assert not cards(at)

    upload(at, ("cat.jpg", cat_jpeg, "image/jpeg"))
    assert not at.button(key="compare.go").disabled
    assert not [c.value for c in at.caption if c.value.startswith("To compare")]

    at.pills(key="compare.targets").set_value([]).run()
    assert at.button(key="compare.go").disabled, "Compare must wait for at least one model"
    assert "To compare, choose a model." in [c.value for c in at.caption]
    at.pills(key="compare.targets").set_value(ALL).run()
    at.text_area(key="compare.prompt").set_value("   ").run()
    assert at.button(key="compare.go").disabled, "Compare must wait for a prompt"
    assert "To compare, choose a prompt." in [c.value for c in at.caption]
    assert not at.exception, _exceptions(at)


def test_compare_shows_three_cards_and_stores_the_run(app: AppTest, workbench: Any, cat_jpeg: bytes) -> None:
    at = app
    started = datetime.now(timezone.utc) - timedelta(seconds=5)
    upload(at, ("cat.jpg", cat_jpeg, "image/jpeg"))
    click_compare(at)

    shown = one_card_each(at, ALL)
    for name in ALL:
        assert_ok_card(shown[name], name)
    assert not waiting_notes(at), waiting_notes(at)
    assert not at.error, [e.value for e in at.error]

    sagemaker = shown["sagemaker"]
    assert any("cold start" in b or "warm" in b for b in badges(sagemaker)), badges(sagemaker)
    for name, card in shown.items():  # one structure: a badge, the figures, what 1,000 images cost
        assert len(badges(card)) == 1, (name, badges(card))
        assert [m.label for m in card.metric] == FIGURES, name
        cost = metrics(card)["Cost"]
        assert cost.startswith("$") and not ZERO_COST.search(cost), (name, cost)
        assert any(c.value.endswith("per 1,000 images") for c in card.caption), name
    assert metrics(sagemaker)["Tokens in / out"] == "–", "the classifier reports no tokens"
    assert assert_tables_configured(at) == 1, "the classifier's label table"
    reports = [b for b in at.get("download_button") if b.proto.label == "Download report"]
    assert len(reports) == 1, "no report of the comparison"
    labels = sagemaker_labels(sagemaker)
    assert names_a_cat(labels[:3]), f"SageMaker's top labels name no cat: {labels}"
    # The generative services answer in words; on this photo the local describers see a cat too.
    for name in ("bedrock", "azure_openai"):
        assert "cat" in shown[name].text[0].value.lower(), shown[name].text[0].value
        assert metrics(shown[name])["Tokens in / out"] != "–"

    run = last_run(at)
    assert run.source == "ui"
    # What "Download report" gives: the one self-contained report, of this comparison's answers.
    html = comparison_report([run], "MC Vision comparison")
    assert html.startswith("<!DOCTYPE html>") and "MC Vision comparison" in html
    for name in ALL:
        assert TITLES[name] in html, name
    assert "data:image/jpeg;base64," in html, "the report shows the image"
    stored = stored_results(workbench, run.run_id)
    assert sorted(stored) == sorted(ALL)
    for name, item in stored.items():
        assert item["source"] == "ui" and item["status"] == "ok", item
        assert item["image_name"] == "cat.jpg"
    assert names_a_cat([label["label"] for label in stored["sagemaker"]["labels"]][:3])
    recent = [r for r in workbench.history.results(since=started) if r["run_id"] == run.run_id]
    assert sorted(r["provider"] for r in recent) == sorted(ALL)
    assert workbench.store.read(run.image_key) == cat_jpeg

    # The next rerun draws the same comparison from session state, now with its run id and S3 key.
    at.run()
    assert not at.exception, _exceptions(at)
    again = one_card_each(at, ALL)
    assert sagemaker_labels(again["sagemaker"]) == labels
    captions = " ".join(c.value for c in at.caption)
    assert run.run_id in captions and run.image_key in captions


def test_a_file_that_is_not_an_image_shows_an_error_and_stores_nothing(
    app: AppTest, workbench: Any
) -> None:
    at = app
    keys_before = s3_keys(workbench)
    started = datetime.now(timezone.utc)  # the page and the tests share this clock
    upload(at, ("x.jpg", NOT_AN_IMAGE, "image/jpeg"))
    click_compare(at)

    errors = [e.value for e in at.error]
    # One message that names the file once: the core's message names it, the page adds nothing before it.
    assert len(errors) == 1 and errors[0].count("x.jpg") == 1 and not errors[0].startswith("x.jpg: "), errors
    assert not cards(at)
    assert not waiting_notes(at)
    outcomes = at.session_state["compare.outcomes"]
    assert len(outcomes) == 1 and outcomes[0][0] == "x.jpg" and isinstance(outcomes[0][1], str), outcomes

    assert workbench.history.results(since=started) == []
    assert s3_keys(workbench) == keys_before

    at.run()  # the error stays on the page after a rerun
    assert [e.value for e in at.error] == errors


def test_a_bad_file_does_not_stop_the_good_one(app: AppTest, workbench: Any, cat_jpeg: bytes) -> None:
    at = app
    at.pills(key="compare.targets").set_value(["sagemaker"]).run()
    upload(at, ("x.jpg", NOT_AN_IMAGE, "image/jpeg"), ("cat.jpg", cat_jpeg, "image/jpeg"))
    click_compare(at)

    errors = [e.value for e in at.error]
    assert len(errors) == 1 and errors[0].count("x.jpg") == 1, errors
    shown = one_card_each(at, ["sagemaker"])
    assert_ok_card(shown["sagemaker"], "sagemaker")
    outcomes = dict(at.session_state["compare.outcomes"])
    assert isinstance(outcomes["x.jpg"], str)
    assert sorted(stored_results(workbench, outcomes["cat.jpg"].run_id)) == ["sagemaker"]


def test_a_deselected_provider_is_not_compared(app: AppTest, workbench: Any, coffee_jpeg: bytes) -> None:
    at = app
    at.pills(key="compare.targets").unselect("bedrock").run()
    assert sorted(at.pills(key="compare.targets").value) == ["azure_openai", "sagemaker"]
    upload(at, ("coffee.jpg", coffee_jpeg, "image/jpeg"))
    click_compare(at)

    shown = one_card_each(at, ["sagemaker", "azure_openai"])
    for name, card in shown.items():
        assert_ok_card(card, name)
    assert "espresso" in [label.lower() for label in sagemaker_labels(shown["sagemaker"])[:3]]

    run = last_run(at)
    assert sorted(run.providers) == ["azure_openai", "sagemaker"]
    assert sorted(stored_results(workbench, run.run_id)) == ["azure_openai", "sagemaker"]


def test_a_failing_provider_stays_in_its_own_column(
    app: AppTest, workbench: Any, local_settings: Any, cleared_faults: Any, cat_jpeg: bytes
) -> None:
    from mcv_core.local import control

    at = app
    attempts = local_settings.max_attempts
    # One 500 per attempt the SDK makes: Bedrock fails for real, after its retries; SageMaker is untouched.
    control.emulator_admin(
        cleared_faults, "POST", "/_mcv/faults", json={"bedrock": [{"kind": "error", "status": 500, "count": attempts}]}
    )
    at.pills(key="compare.targets").set_value(["bedrock", "sagemaker"]).run()
    upload(at, ("cat.jpg", cat_jpeg, "image/jpeg"))
    click_compare(at)

    shown = one_card_each(at, ["bedrock", "sagemaker"])
    bedrock, sagemaker = shown["bedrock"], shown["sagemaker"]
    assert any("error" in b for b in badges(bedrock)), badges(bedrock)
    assert len(bedrock.error) == 1, [e.value for e in bedrock.error]
    assert not bedrock.error[0].value.startswith("service_error"), "an internal name on the card"
    # The same structure as an answer's card: the figures, then the error where the answer would be.
    assert [m.label for m in bedrock.metric] == FIGURES and not bedrock.text
    assert f"{attempts} attempts" in " ".join(c.value for c in bedrock.caption)

    assert_ok_card(sagemaker, "sagemaker")
    assert names_a_cat(sagemaker_labels(sagemaker)[:3])
    assert len(at.error) == 1, "the only error on the page is Bedrock's"

    run = last_run(at)
    stored = stored_results(workbench, run.run_id)
    assert stored["bedrock"]["status"] == "error" and stored["bedrock"]["error_type"] == "service_error", stored["bedrock"]
    assert stored["bedrock"]["attempts"] == attempts
    assert stored["sagemaker"]["status"] == "ok"
    # Every planned failure was used by an attempt: none is left to come.
    planned = control.emulator_admin(cleared_faults, "GET", "/_mcv/status").get("faults", {})
    assert "bedrock" not in planned, planned


# --- streamed answers ------------------------------------------------------------------------------------


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str]]:
    """Every st.text and st.metric the page draws, in order, as ("text", body, where) or ("metric", label, value):
    what the browser is sent while the script runs, which AppTest's final tree does not keep. `where` is the
    element's place on the page (its delta path): one place per card's streaming text."""
    from streamlit.elements.metric import MetricMixin
    from streamlit.elements.text import TextMixin

    calls: list[tuple[str, str, str]] = []
    text, metric = TextMixin.text, MetricMixin.metric

    def spy_text(self: Any, body: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(("text", str(body), self._get_delta_path_str()))
        return text(self, body, *args, **kwargs)

    def spy_metric(self: Any, label: str, value: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(("metric", label, str(value)))
        return metric(self, label, value, *args, **kwargs)

    # Elements drawn on a container (`slot.text(...)`) and through the module (`st.metric(...)`, bound to the
    # main block when streamlit was imported, drawing into the `with` block that is open).
    monkeypatch.setattr(TextMixin, "text", spy_text)
    monkeypatch.setattr(MetricMixin, "metric", spy_metric)
    main = st._main  # type: ignore[attr-defined]
    monkeypatch.setattr(st, "text", lambda body, *args, **kwargs: spy_text(main, body, *args, **kwargs))
    monkeypatch.setattr(st, "metric", lambda label, value, *args, **kwargs: spy_metric(main, label, value, *args, **kwargs))
    return calls


def test_answers_grow_word_by_word_with_their_time_to_first_token(
    app: AppTest, drawn: list[tuple[str, str, str]], cat_jpeg: bytes
) -> None:
    from mcv_core import formatting as fmt

    at = app
    upload(at, ("cat.jpg", cat_jpeg, "image/jpeg"))
    drawn.clear()
    click_compare(at)
    run = last_run(at)
    results = {r.provider: r for r in run.results}
    shown = one_card_each(at, ALL)

    for name in ("bedrock", "azure_openai"):
        result = results[name]
        assert result.ok and result.streamed, (name, result.status, result.error)
        assert 0 < result.ttft_ms < result.latency_ms, (name, result.ttft_ms, result.latency_ms)
        # While it streamed: the card first drawn with its time to first token, then its text alone, growing in
        # one place on the page.
        places: dict[str, list[str]] = {}
        for kind, body, where in drawn:
            if kind == "text":
                places.setdefault(where, []).append(body)
        growing = max(  # the final card's text lands in the same place: drawn once more, the same
            (list(dict.fromkeys(bodies)) for bodies in places.values() if all(result.output.startswith(b) for b in bodies)),
            key=len,
        )
        assert len(growing) >= 3, f"{name}: the answer was drawn {len(growing)} times as it grew: {growing}"
        assert all(len(a) < len(b) for a, b in zip(growing, growing[1:])), f"{name}: the text did not only grow: {growing}"
        assert result.output.startswith(growing[-1]) and len(growing[-1]) >= len(result.output) // 2
        first_text = next(i for i, (kind, body, _) in enumerate(drawn) if kind == "text" and body == growing[0])
        ttft_shown = [
            value for kind, label, value in drawn[:first_text] if kind == "metric" and label == "Time to first token"
        ]
        assert ttft_shown and DURATION.fullmatch(ttft_shown[-1]), f"{name}: no time to first token before its words"
        # Redrawn cheaply: the time to first token at most three times per card (the card as its call starts, the
        # first words, the final card), the text once per delta.
        assert sum(1 for kind, label, _ in drawn if kind == "metric" and label == "Time to first token") <= 3 * len(ALL)
        # The final card: latency, time to first token and output speed with the other figures.
        figures = metrics(shown[name])
        assert figures["Time to first token"] == fmt.duration_ms(result.ttft_ms)
        assert figures["Output speed"] == fmt.tokens_per_s(result.output_tokens_per_s)
        assert re.fullmatch(r"[\d,.]+ tokens?/s", figures["Output speed"]), figures["Output speed"]
        assert shown[name].text[0].value == result.output

    classifier = results["sagemaker"]
    assert classifier.streamed is False and classifier.ttft_ms is None
    figures = metrics(shown["sagemaker"])
    assert (figures["Time to first token"], figures["Output speed"]) == ("–", "–"), "never estimated"
    assert "not streamed" in " ".join(c.value for c in shown["sagemaker"].caption)


def test_each_card_shows_where_its_time_went_on_demand(app: AppTest, cat_jpeg: bytes) -> None:
    from mcv_core import formatting as fmt
    from mcv_core.records import anatomy

    at = app
    at.pills(key="compare.targets").set_value(["bedrock", "azure_openai"]).run()
    upload(at, ("cat.jpg", cat_jpeg, "image/jpeg"))
    click_compare(at)
    run = last_run(at)
    shown = one_card_each(at, ["bedrock", "azure_openai"])
    for result in run.results:
        card = shown[result.provider]
        (chart,) = card.get("plotly_chart")  # inside the card's "Where the time went" popover
        assert chart.key == f"compare.anatomy.0.{result.provider}"
        figure = json.loads(chart.proto.spec)
        parts = anatomy(result)
        assert list(parts)[:2] == ["queue_ms", "prepare_ms"] and parts["network_ms"] >= 0
        total = sum(parts.values())
        assert figure["layout"]["title"]["text"] == f"Where did the time go? {fmt.duration_ms(total)} in all"
        bars = [t for t in figure["data"] if t["x"][0] is not None]
        assert [t["x"][0] for t in bars] == pytest.approx(list(parts.values()))
        assert len(figure["layout"]["shapes"]) == 1, "where the first words arrived"
        keys = [t["name"] for t in figure["data"] if t["x"][0] is None]  # the legend: each part with its duration
        assert [k.rsplit(": ", 1)[1] for k in keys] == [fmt.duration_ms(ms) for ms in parts.values()], keys
    # Bedrock reports its own time (ConverseStream's metadata); chat completions do not: it is inside the rest.
    bedrock, azure = (anatomy(r) for r in run.results)
    assert "service_ms" in bedrock and "service_ms" not in azure


def test_a_stream_cut_in_the_middle_keeps_what_arrived(
    app: AppTest, workbench: Any, cleared_faults: Any, cat_jpeg: bytes
) -> None:
    from mcv_core import formatting as fmt
    from mcv_core.local import control

    at = app
    control.emulator_admin(cleared_faults, "POST", "/_mcv/faults", json={"bedrock": [{"kind": "cut", "count": 1}]})
    at.pills(key="compare.targets").set_value(["bedrock"]).run()
    upload(at, ("cat.jpg", cat_jpeg, "image/jpeg"))
    click_compare(at)

    (result,) = last_run(at).results
    assert result.status == "error" and result.error_type == "stream_cut", (result.status, result.error_type)
    assert result.output and result.ttft_ms is not None, "the text received and its first token are kept"
    card = one_card_each(at, ["bedrock"])["bedrock"]
    assert any("error" in b for b in badges(card)), badges(card)
    assert len(card.error) == 1 and list(metrics(card)) == FIGURES
    assert metrics(card)["Time to first token"] == fmt.duration_ms(result.ttft_ms)
    assert "What arrived before the error:" in [c.value for c in card.caption]
    assert [t.value for t in card.text] == [result.output]
    stored = stored_results(workbench, last_run(at).run_id)["bedrock"]
    assert stored["status"] == "error" and stored["output"] == result.output


# --- a catalogue of its own ------------------------------------------------------------------------------

CATALOGUE = """
[targets.claude-35-sonnet]
service = "bedrock"
model = "anthropic.claude-3-5-sonnet-20241022-v2:0"

[targets.gpt-41-mini]
service = "openai"
model = "gpt-4.1-mini"
title = "GPT-4.1 mini"

[targets.sagemaker]
service = "sagemaker"
endpoint = "mc-vision-classifier"
"""
CATALOGUE_TITLES = {
    "claude-35-sonnet": "Claude 3.5 Sonnet (Amazon Bedrock)",
    "gpt-41-mini": "GPT-4.1 mini",
    "sagemaker": "SageMaker Serverless",
}


@pytest.fixture
def catalogue_app(local_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppTest]:
    """The app started with a targets.toml of its own (MCV_TARGETS_FILE), naming non-default targets."""
    path = tmp_path / "targets.toml"
    path.write_text(CATALOGUE, encoding="utf-8")
    monkeypatch.setenv("MCV_TARGETS_FILE", str(path))
    st.cache_resource.clear()
    st.cache_data.clear()
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    assert not at.exception, _exceptions(at)
    yield at
    st.cache_resource.clear()
    st.cache_data.clear()


def test_a_catalogue_names_the_targets_to_compare(catalogue_app: AppTest, workbench: Any, cat_jpeg: bytes) -> None:
    at = catalogue_app
    pills = at.pills(key="compare.targets")
    assert pills.options == list(CATALOGUE_TITLES.values()), "the catalogue's targets, in its order, by title"
    assert pills.value == list(CATALOGUE_TITLES), "every target of the catalogue is enabled by default"
    assert "targets.toml" in (pills.help or "")

    chosen = ["claude-35-sonnet", "gpt-41-mini"]
    pills.set_value(chosen).run()
    upload(at, ("cat.jpg", cat_jpeg, "image/jpeg"))
    click_compare(at)

    shown = one_card_each(at, chosen, CATALOGUE_TITLES)
    for name in chosen:
        assert_ok_card(shown[name], name)
        assert metrics(shown[name])["Tokens in / out"] != "–", name
    assert not at.error, [e.value for e in at.error]

    run = last_run(at)
    assert run.providers == chosen
    stored = stored_results(workbench, run.run_id)
    assert sorted(stored) == sorted(chosen)
    assert {name: item.get("title") for name, item in stored.items()} == {n: CATALOGUE_TITLES[n] for n in chosen}
    assert {name: item.get("service") for name, item in stored.items()} == {"claude-35-sonnet": "bedrock", "gpt-41-mini": "openai"}


def test_a_broken_catalogue_is_one_clear_line_on_the_page(local_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same line the command line prints (file, line, what is wrong, what to do), and no traceback."""
    path = tmp_path / "targets.toml"
    path.write_text('[targets.claude]\nservice = "bedrock"\nmodle = "anthropic.claude-3-haiku-20240307-v1:0"\n', encoding="utf-8")
    monkeypatch.setenv("MCV_TARGETS_FILE", str(path))
    st.cache_resource.clear()
    try:
        at = AppTest.from_file(str(APP), default_timeout=60)
        at.run()
        assert not at.exception, _exceptions(at)
        errors = [e.value for e in at.error]
        assert len(errors) == 1
        assert f"{path}:3: unknown field 'modle' in target 'claude'" in errors[0].replace("\\", "")
        assert "did you mean 'model'?" in errors[0]
    finally:
        st.cache_resource.clear()
