import re
from pathlib import Path

import pytest

from mcv_core.config import VARIABLES, Settings
from mcv_core.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def test_defaults_are_local_with_local_names():
    s = Settings.from_mapping({})
    assert s.mode == "local"
    assert s.region == "ap-northeast-1"
    assert s.targets == () and s.targets_file == ""  # every target of the catalogue
    assert s.upload_bucket == "mc-vision-uploads-123456789012"
    assert s.results_table == "mc-vision-results"
    assert s.sagemaker_endpoint == "mc-vision-classifier"
    assert s.result_ttl_days == 90
    assert s.bedrock_model_id == "anthropic.claude-3-haiku-20240307-v1:0"


def test_cloud_mode_reads_names_and_standard_region():
    s = Settings.from_mapping(
        {"MCV_MODE": "cloud", "AWS_DEFAULT_REGION": "us-east-1", "MCV_BUCKET": "b", "MCV_TABLE": "t", "MCV_PROVIDERS": "bedrock"}
    )
    assert (s.mode, s.region, s.upload_bucket, s.results_table, s.targets) == ("cloud", "us-east-1", "b", "t", ("bedrock",))
    # MCV_TARGETS is the name now; MCV_PROVIDERS is still read, and MCV_TARGETS wins.
    assert Settings.from_mapping({"MCV_TARGETS": "a, b,a", "MCV_PROVIDERS": "c"}).targets == ("a", "b")
    # AWS_REGION wins over AWS_DEFAULT_REGION, as in the SDKs.
    assert Settings.from_mapping({"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-east-1"}).region == "eu-west-1"


def test_missing_cloud_setting_names_the_variable():
    s = Settings.from_mapping({"MCV_MODE": "cloud"})
    with pytest.raises(ConfigError, match="MCV_SAGEMAKER_ENDPOINT is not set"):
        s.require("sagemaker_endpoint")
    with pytest.raises(ConfigError, match="AZURE_OPENAI_ENDPOINT is not set") as info:
        s.require("azure_endpoint")
    assert "AZURE_OPENAI_ENDPOINT" in info.value.hint


@pytest.mark.parametrize(
    "env, message",
    [
        ({"MCV_MODE": "staging"}, "MCV_MODE"),
        ({"MCV_TARGETS": " , "}, "MCV_TARGETS names no target"),
        ({"MCV_PROVIDERS": " , "}, "MCV_TARGETS names no target"),
        ({"MCV_TIMEOUT_S": "soon"}, "MCV_TIMEOUT_S"),
        ({"MCV_TIMEOUT_S": "0"}, "MCV_TIMEOUT_S must be positive"),
        ({"MCV_RESULT_TTL_DAYS": "-1"}, "MCV_RESULT_TTL_DAYS"),
        ({"MCV_AZURE_IMAGE_DETAIL": "ultra"}, "MCV_AZURE_IMAGE_DETAIL"),
        ({"MCV_TIMEOUT_S_BEDROCK": "x"}, "MCV_TIMEOUT_S_BEDROCK"),
        ({"MCV_STREAM": "maybe"}, "MCV_STREAM='maybe' is neither on nor off"),
    ],
)
def test_bad_values_are_clear_errors(env, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_mapping(env)


def test_per_target_timeout_and_concurrency():
    s = Settings.from_mapping(
        {"MCV_TIMEOUT_S": "30", "MCV_TIMEOUT_S_SAGEMAKER": "90", "MCV_TIMEOUT_S_CLAUDE_35_SONNET": "45", "MCV_CONCURRENCY_GPT_4O": "2"}
    )
    assert s.timeout_for("sagemaker") == 90 and s.timeout_for("bedrock") == 30
    # A target id's "-" is "_" in the variable's name.
    assert s.timeout_for("claude-35-sonnet") == 45 and s.timeout_for("claude_35_sonnet") == 45
    assert s.concurrency_for("gpt-4o", 8) == 2 and s.concurrency_for("gpt-4o-mini", 8) == 8


def test_settings_are_frozen():
    s = Settings.from_mapping({})
    with pytest.raises(AttributeError):
        s.mode = "cloud"  # type: ignore[misc]


def test_env_file_feeds_settings_without_overriding_the_environment(tmp_path, monkeypatch):
    env_file = tmp_path / ".env"
    env_file.write_text("MCV_TIMEOUT_S=12\nMCV_MAX_ATTEMPTS=5\n")
    monkeypatch.setenv("MCV_MAX_ATTEMPTS", "2")
    monkeypatch.delenv("MCV_TIMEOUT_S", raising=False)
    s = Settings.load(env_file=env_file)
    assert s.timeout_s == 12 and s.max_attempts == 2


def test_readme_documents_every_variable():
    readme = (REPO / "README.md").read_text()
    documented = set(re.findall(r"`((?:MCV|AWS|AZURE|OPENAI)_[A-Z_]+)`", readme))
    missing = [v.name for v in VARIABLES if v.name not in documented]
    assert not missing, f"README.md does not document {missing}"


@pytest.mark.parametrize(("value", "stream"), [(None, True), ("1", True), ("true", True), ("On", True), ("0", False), ("false", False), ("no", False)])
def test_streaming_is_on_unless_mcv_stream_turns_it_off(value, stream):
    assert Settings.from_mapping({} if value is None else {"MCV_STREAM": value}).stream is stream
    assert Settings.from_mapping({}).with_(stream=False).stream is False  # what --no-stream does
