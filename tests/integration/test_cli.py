"""The command-line contract of DESIGN.md, run as a user runs it: `python -m mcv_core ...` in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mcv_core.local import control

pytestmark = pytest.mark.timeout(600)
REPO = Path(__file__).resolve().parents[2]
RESULT_KEYS = {
    "provider",
    "model",
    "status",
    "output",
    "labels",
    "latency_ms",
    "cold_start",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "error",
}


def mcv(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mcv_core", *args],
        cwd=REPO,
        env=env or dict(os.environ),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def cat_file(tmp_path_factory, cat_jpeg) -> Path:  # noqa: ANN001
    path = tmp_path_factory.mktemp("images") / "cat.jpg"
    path.write_bytes(cat_jpeg)
    return path


def test_compare_json_contract_and_warm_second_call(local_env, cat_file):
    first = mcv("compare", str(cat_file), "--json")
    assert first.returncode == 0, first.stderr
    doc = json.loads(first.stdout)
    assert {"run_id", "wall_ms", "image", "results"} <= set(doc)
    assert doc["image"]["sha256"] and doc["image"]["width"] == 451
    assert [r["provider"] for r in doc["results"]] == ["sagemaker", "bedrock", "azure_openai"]
    for result in doc["results"]:
        assert RESULT_KEYS <= set(result)
        assert result["status"] == "ok", result["error"]
    sagemaker = doc["results"][0]
    assert any("cat" in label["label"].lower() for label in sagemaker["labels"][:3])
    assert "cat" in sagemaker["labels"][0]["label"].lower()

    second = json.loads(mcv("compare", str(cat_file), "--json").stdout)
    assert second["results"][0]["status"] == "ok"
    assert second["results"][0]["cold_start"] is False

    history = mcv("history", "--since", "1h", "--json")
    assert history.returncode == 0, history.stderr
    items = json.loads(history.stdout)["results"]
    mine = [item for item in items if item["run_id"] == doc["run_id"]]
    assert {item["provider"] for item in mine} == {"sagemaker", "bedrock", "azure_openai"}
    assert all(item["source"] == "cli" for item in mine)

    only = json.loads(mcv("history", "--since", "1h", "--provider", "bedrock", "--json").stdout)["results"]
    assert only and {item["provider"] for item in only} == {"bedrock"}


def test_human_output(local_env, cat_file):
    done = mcv("compare", str(cat_file), "--providers", "sagemaker")
    assert done.returncode == 0, done.stderr
    assert "cat.jpg  451×300 JPEG" in done.stdout
    assert "sagemaker" in done.stdout and "bedrock" not in done.stdout


def _object_count(settings) -> int:  # noqa: ANN001
    from mcv_core.workbench import Workbench

    s3 = Workbench(settings).clients.aws("s3")
    return s3.list_objects_v2(Bucket=settings.upload_bucket).get("KeyCount", 0)


@pytest.mark.parametrize(
    "args, message",
    [
        (["compare", "{text}"], "is not an image"),
        (["compare", "{missing}"], "no such file"),
        (["compare", "{cat}", "--providers", "sagemaker,rekognition"], "unknown target 'rekognition'"),
        (["compare", "{cat}", "{text}"], "is not an image"),
        (["compare", "{cat}", "--prompt", "  "], "--prompt is empty"),
        (["history", "--since", "yesterday-ish"], "neither a duration nor a date"),
        (["compare"], "the following arguments are required"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_stores_nothing(local_settings, cat_file, tmp_path, args, message):
    text = tmp_path / "notes.jpg"
    text.write_text("this is not an image\n")
    values = {"text": str(text), "missing": str(tmp_path / "nope.jpg"), "cat": str(cat_file)}
    before = _object_count(local_settings)
    done = mcv(*[a.format(**values) for a in args])
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], done.stderr
    assert "Traceback" not in done.stderr
    assert _object_count(local_settings) == before


def test_local_commands(local_settings):
    status = mcv("local", "status", "--json")
    assert status.returncode == 0
    state = json.loads(status.stdout)
    assert state["running"] is True and state["components"]["moto"]["running"] is True
    text = mcv("local", "status").stdout
    for component in ("AWS (moto):", "AI emulator:", "Bedrock Converse:", "OpenAI-compatible:", "S3 event Lambda:"):
        assert component in text, text
    assert "DOWN" not in text and "None" not in text
    env = mcv("local", "env")
    assert env.returncode == 0
    lines = env.stdout.strip().splitlines()
    names = {line.split("=", 1)[0].removeprefix("export ") for line in lines}
    assert {
        "AWS_ENDPOINT_URL_S3",
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME",
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "OPENAI_BASE_URL",
        "OPENAI_API_KEY",
        "AWS_REGION",
        "AZURE_OPENAI_ENDPOINT",
        "AZURE_OPENAI_API_KEY",
        "OPENAI_API_VERSION",
        "MCV_BUCKET",
        "MCV_TABLE",
        "MCV_SAGEMAKER_ENDPOINT",
        "MCV_BEDROCK_MODEL_ID",
        "MCV_AZURE_DEPLOYMENT",
    } <= names


def test_cloud_mode_through_the_standard_variables_only(local_settings, cat_file, tmp_path):
    """`eval "$(python -m mcv_core local env)"` + MCV_MODE=cloud: the SDKs find the local cloud by themselves."""
    conn = control.running(local_settings)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCV_")}
    env.update(control.env_vars(local_settings, conn))
    env.update(MCV_MODE="cloud", MCV_DATA_DIR=str(tmp_path / "elsewhere"), MCV_ENV_FILE=os.devnull)
    done = mcv("compare", str(cat_file), "--json", env=env)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert [r["status"] for r in doc["results"]] == ["ok", "ok", "ok"]
    assert not (tmp_path / "elsewhere" / "local").exists()  # no local cloud was started for it


def test_cloud_mode_without_settings_names_the_variable(tmp_path, cat_file):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MCV_", "AWS_", "AZURE_"))}
    env.update(MCV_MODE="cloud", MCV_ENV_FILE=os.devnull, AWS_EC2_METADATA_DISABLED="true")
    done = mcv("compare", str(cat_file), "--providers", "sagemaker", env=env)
    assert done.returncode == 2
    assert "MCV_BUCKET is not set" in done.stderr and "Traceback" not in done.stderr
