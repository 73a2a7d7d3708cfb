"""The Compare page through Streamlit's AppTest, against the session's local cloud (real emulator, real models).

Each test builds a fresh AppTest from app.py (the compare page is the default page) and clears Streamlit's
caches first, so the page's cached workbench is opened from the test's environment, not a previous one.
"""

from __future__ import annotations

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


def metrics(card: Block) -> dict[str, str]:
    return {m.label: m.value for m in card.metric}


def assert_ok_card(card: Block, name: str) -> None:
    assert not card.error, f"{name} shows an error: {[e.value for e in card.error]}"
    assert not any("error" in b for b in badges(card)), badges(card)
    shown = metrics(card)
    assert set(shown) == {"Latency", "Tokens in / out", "Cost"}, shown
    assert re.fullmatch(r"[\d,.]+ (ms|s)", shown["Latency"]), shown["Latency"]  # "850 ms", "12.3 s"
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
    for name, card in shown.items():  # one structure: a badge, the three figures, what 1,000 images cost
        assert len(badges(card)) == 1, (name, badges(card))
        assert [m.label for m in card.metric] == ["Latency", "Tokens in / out", "Cost"], name
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
    assert [m.label for m in bedrock.metric] == ["Latency", "Tokens in / out", "Cost"] and not bedrock.text
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
