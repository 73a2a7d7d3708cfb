"""The Infrastructure page through AppTest, against the session's local cloud."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Block

from mcv_core import alarms
from mcv_core.local import control

APP = Path(__file__).resolve().parents[2] / "app.py"
PAGE = "pages/infrastructure.py"


@pytest.fixture
def app(local_env: dict[str, str]) -> Iterator[AppTest]:
    st.cache_resource.clear()
    st.cache_data.clear()
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    yield at
    st.cache_resource.clear()


@pytest.fixture(autouse=True)
def quiet_alarms(local_settings: Any, workbench: Any) -> Iterator[Any]:
    """Alarms that earlier tests' faults left in ALARM are set back to OK, and the local cloud's evaluator is paused
    meanwhile (it would set a state a test puts back within a minute); yields the CloudWatch client."""
    conn = control.running(local_settings)
    cloudwatch = workbench.clients.aws("cloudwatch")
    control.admin(conn, "POST", "/components/alarms/stop")
    try:
        for alarm in alarms.current(workbench):
            if alarm.state == "ALARM":
                cloudwatch.set_alarm_state(AlarmName=alarm.name, StateValue="OK", StateReason="set back by the Infrastructure page tests")
        yield cloudwatch
    finally:
        control.admin(conn, "POST", "/components/alarms/start")


def open_page(at: AppTest) -> AppTest:
    at.switch_page(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _walk(node: Any) -> Iterator[Any]:
    if isinstance(node, Block):
        for child in node.children.values():
            yield from _walk(child)
    else:
        yield node


def section(at: AppTest, title: str) -> list[Any]:
    """The elements under the subheader `title`, up to the next subheader, in page order."""
    elements = list(_walk(at.main))
    start = next(i for i, e in enumerate(elements) if e.type == "subheader" and e.value == title)
    end = next((i for i, e in enumerate(elements) if i > start and e.type == "subheader"), len(elements))
    return elements[start + 1 : end]


def badges(at: AppTest, title: str = "Health") -> dict[str, str]:
    """Card title -> badge text, read from the cards of a section (a bold title followed by its badge)."""
    values = [e.value for e in section(at, title) if e.type == "markdown"]
    found = {}
    for title, badge in zip(values, values[1:]):
        if title.startswith("**") and "-badge[" in badge:
            found[title.strip("*")] = re.sub(r"^:material/[a-z_]+: ", "", badge.split("-badge[", 1)[1]).removesuffix("]")
    return found


def test_outputs_and_every_check_ok(app: AppTest, local_settings: Any) -> None:
    at = open_page(app)
    outputs = at.dataframe[0].value
    values = dict(zip(outputs["output"], outputs["value"]))
    assert values["upload_bucket_name"] == local_settings.upload_bucket
    assert values["results_table_name"] == local_settings.results_table
    assert values["azure_openai_api_key"] == "(sensitive)"
    found = badges(at)
    assert len(found) == 13 and set(found.values()) == {"ok"}, found  # 7 of the stack, 3 targets and their batch
    assert {title for title in found if title.endswith(": batch")} == {
        "SageMaker Serverless: batch", "Amazon Bedrock: batch", "Azure OpenAI: batch",
    }  # fmt: skip
    assert "13 ok · 0 warn · 0 fail" in [c.value for c in at.caption]


def test_a_fault_shows_fail_with_its_fix_after_check_again(app: AppTest, local_settings: Any, workbench: Any) -> None:
    at = open_page(app)
    workbench.clients.aws("dynamodb").update_time_to_live(
        TableName=local_settings.results_table, TimeToLiveSpecification={"Enabled": False, "AttributeName": "expires_at"}
    )
    try:
        at.button(key="infrastructure.recheck").click().run()
        found = badges(at)
        assert found["DynamoDB results table"] == "fail"
        assert [title for title, status in found.items() if status == "fail"] == ["DynamoDB results table"]
        assert any(c.value.startswith("What to do: restore the table's settings") for c in at.caption)
    finally:
        control.reprovision(local_settings)


ALARM = "mc-vision-target-latency-p95-bedrock"


def test_the_alarm_panel_lists_every_alarm_and_one_in_alarm_first_with_its_reason(
    app: AppTest, workbench: Any, quiet_alarms: Any
) -> None:
    known = {a.name: a for a in alarms.status(workbench)}
    titles = {alarms.title(name, workbench.catalogue.title): name for name in known}
    per_target = sorted(alarms.target_of(name) or ("", "") for name in known)
    assert [kind for kind, _ in per_target].count("target_error_rate") == 3 and "Amazon Bedrock: p95 latency" in titles
    at = open_page(app)
    shown = badges(at, "Alarms")
    assert set(shown) == set(titles), shown
    words = {"OK": "ok", "ALARM": "in alarm", "INSUFFICIENT_DATA": "no data"}
    assert shown == {title: words[known[name].state] for title, name in titles.items()}
    assert "in alarm" not in shown.values()
    panel = section(at, "Alarms")
    assert any(e.type == "caption" and e.value.startswith(f"{len(known)} alarms in the local cloud's CloudWatch: 0 in alarm") for e in panel)
    assert len([e for e in panel if e.type == "plotly_chart"]) == len(known)
    assert badges(at)["CloudWatch alarms"] == "ok"

    before = known[ALARM]
    reason = "Threshold Crossed: 3 out of the last 3 datapoints were greater than the threshold (20000.0) (set by a test)."
    quiet_alarms.set_alarm_state(AlarmName=ALARM, StateValue="ALARM", StateReason=reason)
    try:
        at.button(key="infrastructure.recheck").click()
        at.button(key="infrastructure.alarms.refresh").click().run()
        assert not at.exception, [e.value for e in at.exception]
        shown = badges(at, "Alarms")
        assert list(shown)[0] == "Amazon Bedrock: p95 latency" and shown["Amazon Bedrock: p95 latency"] == "in alarm", shown
        assert [state for state in shown.values()].count("in alarm") == 1
        panel = section(at, "Alarms")
        errors = [e.value for e in panel if e.type == "error"]
        assert len(errors) == 1 and "set by a test" in errors[0]
        assert any(e.type == "caption" and ": 1 in alarm" in e.value for e in panel)
        health = badges(at)
        assert health["CloudWatch alarms"] == "warn"
        assert [title for title, status in health.items() if status != "ok"] == ["CloudWatch alarms"]
        detail = next(e.value for e in section(at, "Health") if e.type == "text" and "In alarm:" in e.value)
        assert f"Amazon Bedrock: p95 latency ({ALARM}): {reason}" in detail
    finally:
        quiet_alarms.set_alarm_state(AlarmName=ALARM, StateValue=before.state, StateReason=before.reason or "set back by a test")


def test_an_upload_through_the_app_appears_in_the_lambda_events(app: AppTest, cat_jpeg: bytes, workbench: Any) -> None:
    at = app
    at.file_uploader(key="compare.files").set_value([("cat.jpg", cat_jpeg, "image/jpeg")])
    at.run()
    at.pills(key="compare.targets").set_value(["sagemaker"]).run()
    at.button(key="compare.go").click().run()
    assert not at.exception
    key = next(c.value for c in at.caption if c.value.startswith("stored as s3://")).rsplit("/", 6)
    image_key = "/".join(key[-5:])  # uploads/YYYY/MM/DD/<sha256>.jpg
    assert image_key.startswith("uploads/")
    deadline = time.monotonic() + 60
    while True:
        open_page(at)
        events = at.dataframe[-1].value
        if "key" in events and image_key in set(events["key"]):
            break
        assert time.monotonic() < deadline, "the upload did not show up in the Lambda's events"
        time.sleep(1)
    row = events[events["key"] == image_key].iloc[0]
    assert row["outcome"] == "stored" and row["format"] == "JPEG" and (row["width"], row["height"]) == (451, 300)


def targets_table(at: AppTest) -> Any:
    found = [d.value for d in at.dataframe if "image rule" in d.value.columns]
    assert len(found) == 1, f"{len(found)} target tables"
    return found[0]


def targets_caption(at: AppTest) -> str:
    found = [c.value for c in at.caption if "Read from" in c.value]
    assert len(found) == 1, [c.value for c in at.caption]
    return found[0]


def test_the_built_in_targets_are_listed_with_their_source(app: AppTest, workbench: Any) -> None:
    at = open_page(app)
    assert "Targets" in [s.value for s in at.subheader]
    assert "built-in defaults (no targets.toml)" in targets_caption(at)
    table = targets_table(at)
    assert list(table.columns) == [
        "title", "id", "price", "billing", "service", "model", "image rule", "model id",
    ]
    assert list(table["id"]) == workbench.catalogue.ids == ["sagemaker", "bedrock", "azure_openai"]
    assert list(table["title"]) == ["SageMaker Serverless", "Amazon Bedrock", "Azure OpenAI"]
    rows = table.set_index("id")
    assert rows.loc["bedrock", "service"] == "Amazon Bedrock" and rows.loc["bedrock", "model"] == "Claude 3 Haiku"
    assert rows.loc["bedrock", "model id"] == "anthropic.claude-3-haiku-20240307-v1:0"
    assert rows.loc["bedrock", "image rule"].startswith("w×h/750 tokens")
    assert rows.loc["bedrock", "price"] == "$0.25 in / $1.25 out per million tokens"
    assert rows.loc["sagemaker", "billing"] == "compute time"
    assert rows.loc["sagemaker", "price"] == "$0.00002 per GB-second of compute"  # us-east-1's list price
    assert "None" not in table.to_string() and "nan" not in table.to_string()


CATALOGUE = """
[targets.claude-35-sonnet]
service = "bedrock"
model = "anthropic.claude-3-5-sonnet-20241022-v2:0"

[targets.gpt-41-mini]
service = "openai"
model = "gpt-4.1-mini"

[targets.home-llava]
service = "openai"
model = "llava-local-7b"
title = "LLaVA at home"
"""


def test_a_catalogue_file_is_shown_with_every_target(local_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "targets.toml"
    path.write_text(CATALOGUE, encoding="utf-8")
    monkeypatch.setenv("MCV_TARGETS_FILE", str(path))
    st.cache_resource.clear()
    st.cache_data.clear()
    try:
        at = AppTest.from_file(str(APP), default_timeout=120)
        at.run()
        at = open_page(at)
        caption = targets_caption(at)
        assert "targets.toml" in caption and tmp_path.name in caption.replace("\\", ""), caption
        table = targets_table(at)
        assert list(table["id"]) == ["claude-35-sonnet", "gpt-41-mini", "home-llava"]
        assert list(table["title"]) == ["Claude 3.5 Sonnet (Amazon Bedrock)", "gpt-4.1-mini (OpenAI-compatible)", "LLaVA at home"]
        rows = table.set_index("id")
        assert rows.loc["claude-35-sonnet", "price"] == "$3.00 in / $15.00 out per million tokens"
        assert rows.loc["home-llava", "price"] == "– price unknown"
        assert set(rows["service"]) == {"Amazon Bedrock", "OpenAI-compatible"}
        assert "None" not in table.to_string()
    finally:
        st.cache_resource.clear()
        st.cache_data.clear()
