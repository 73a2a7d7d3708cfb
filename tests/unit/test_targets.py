"""The catalogue of targets: parsing, defaults, and every refusal with the file, the line and what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcv_core import targets
from mcv_core.config import Settings
from mcv_core.errors import UsageError
from mcv_core.targets import CatalogueError

SETTINGS = Settings.from_mapping({})

SEVEN = """\
# The seven targets of the issue's acceptance run.
[targets.claude-3-haiku]
service = "bedrock"
model = "anthropic.claude-3-haiku-20240307-v1:0"

[targets.claude-35-sonnet]
service = "bedrock"
model = "us.anthropic.claude-3-5-sonnet-20241022-v2:0"
title = "Claude 3.5 Sonnet"

[targets.nova-lite]
service = "bedrock"
model = "amazon.nova-lite-v1:0"

[targets.gpt-4o-mini]
service = "azure_openai"
deployment = "gpt-4o-mini"
model = "gpt-4o-mini"

[targets.gpt-4o]
service = "azure_openai"
deployment = "gpt4o-prod"
model = "gpt-4o"
image_detail = "low"

[targets.gpt-41-mini]
service = "openai"
model = "gpt-4.1-mini"
max_output_tokens = 200

[targets.classifier]
service = "sagemaker"
"""


def test_a_catalogue_of_seven_targets() -> None:
    catalogue = targets.parse(SEVEN, SETTINGS, Path("targets.toml"))
    assert catalogue.ids == ["claude-3-haiku", "claude-35-sonnet", "nova-lite", "gpt-4o-mini", "gpt-4o", "gpt-41-mini", "classifier"]
    by = catalogue.by_id
    assert by["claude-35-sonnet"].title == "Claude 3.5 Sonnet"
    # Titles made from the model and the service where none is given.
    assert by["claude-3-haiku"].title == "Claude 3 Haiku (Amazon Bedrock)"
    assert by["gpt-4o"].title == "gpt-4o (Azure OpenAI)"
    assert by["gpt-41-mini"].title == "gpt-4.1-mini (OpenAI-compatible)"
    assert by["classifier"].title == "SageMaker Serverless"
    families = {t.id: t.family.name for t in catalogue.targets}
    assert families == {
        "claude-3-haiku": "claude",
        "claude-35-sonnet": "claude",
        "nova-lite": "nova",
        "gpt-4o-mini": "gpt4o_mini",
        "gpt-4o": "gpt4o",
        "gpt-41-mini": "gpt_patches_gpt-4.1-mini",
        "classifier": "classifier",
    }
    assert by["gpt-4o"].image_detail == "low" and by["gpt-4o"].image_spec.detail == "low"
    assert by["gpt-41-mini"].max_output_tokens == 200
    # Every target has its own colour.
    assert len({t.color for t in catalogue.targets}) == 7
    assert catalogue.source_text == "targets.toml"


def test_without_a_file_the_three_targets_of_the_proof_of_concept(tmp_path: Path) -> None:
    catalogue = targets.load(SETTINGS, cwd=tmp_path)
    assert catalogue.ids == ["sagemaker", "bedrock", "azure_openai"]
    assert catalogue.source is None and "built-in" in catalogue.source_text
    bedrock = catalogue.get("bedrock")
    assert (bedrock.service, bedrock.model, bedrock.title) == ("bedrock", "anthropic.claude-3-haiku-20240307-v1:0", "Amazon Bedrock")
    azure = catalogue.get("azure_openai")
    assert (azure.deployment, azure.model, azure.image_detail) == ("gpt-4o-mini", "gpt-4o-mini", "auto")
    # The colours they always had.
    assert [t.color for t in catalogue.targets] == ["#EC7211", "#01A88D", "#0078D4"]
    # The settings of the old providers still set the built-in targets.
    custom = Settings.from_mapping({"MCV_BEDROCK_MODEL_ID": "amazon.nova-lite-v1:0", "MCV_AZURE_IMAGE_DETAIL": "low"})
    catalogue = targets.load(custom, cwd=tmp_path)
    assert catalogue.get("bedrock").family.name == "nova" and catalogue.get("azure_openai").image_detail == "low"


def test_targets_toml_in_the_working_directory_or_the_named_file(tmp_path: Path) -> None:
    (tmp_path / "targets.toml").write_text(SEVEN)
    assert len(targets.load(SETTINGS, cwd=tmp_path).targets) == 7
    other = tmp_path / "other.toml"
    other.write_text('[targets.only]\nservice = "openai"\nmodel = "gpt-4o"\n')
    named = Settings.from_mapping({"MCV_TARGETS_FILE": str(other)})
    catalogue = targets.load(named, cwd=tmp_path)
    assert catalogue.ids == ["only"] and catalogue.source == other
    missing = Settings.from_mapping({"MCV_TARGETS_FILE": str(tmp_path / "nope.toml")})
    with pytest.raises(CatalogueError, match=r"nope\.toml: no such file \(MCV_TARGETS_FILE\)"):
        targets.load(missing, cwd=tmp_path)


@pytest.mark.parametrize(
    "text, message",
    [
        # TOML syntax: tomllib's own line and column.
        ('[targets.a]\nservice = "bedrock"\nmodel = "x\n', r"^t\.toml: not valid TOML: .*line 3"),
        ('[targets.a]\nservice = "rekognition"\nmodel = "x"\n', r"^t\.toml:2: unknown service 'rekognition' in target 'a'"),
        ('[targets.a]\nmodel = "x"\n', r"^t\.toml:1: target 'a' has no service"),
        ('[targets.a]\nservice = "bedrock"\n', r"^t\.toml:1: target 'a' \(bedrock\) needs model"),
        ('[targets.a]\nservice = "azure_openai"\nmodel = "gpt-4o"\n', r"^t\.toml:1: target 'a' \(azure_openai\) needs deployment"),
        ('[targets.a]\nservice = "openai"\n', r"target 'a' \(openai\) needs model"),
        ('[targets.Claude]\nservice = "bedrock"\nmodel = "x"\n', r"^t\.toml:1: target id 'Claude' is not valid"),
        ('[targets."a b"]\nservice = "bedrock"\nmodel = "x"\n', r"^t\.toml:1: target id 'a b' is not valid"),
        (
            '[targets.a]\nservice = "bedrock"\nmodel = "x"\n\n[targets.b]\nservice = "bedrock"\nmodle = "y"\n',
            r"^t\.toml:7: unknown field 'modle' in target 'b'",
        ),
        ('[targets.a]\nservice = "openai"\nmodel = "x"\nmax_output_tokens = "many"\n', r"^t\.toml:4: max_output_tokens"),
        ('[targets.a]\nservice = "openai"\nmodel = "x"\nimage_detail = "ultra"\n', r"^t\.toml:4: image_detail"),
        ('[targets.a]\nservice = "openai"\nmodel = "x"\ninput_usd_per_mtok = 1\n', r"gives only one of"),
        ('[targets.a]\nservice = "openai"\nmodel = "x"\ntemperature = 7\n', r"^t\.toml:4: temperature"),
        ('[targets.a]\nservice = "openai"\nmodel = "x"\nstream = "no"\n', r"^t\.toml:4: stream of target 'a' must be true or false"),
        ('[providers.a]\nservice = "openai"\n', r"^t\.toml:1: unknown table or key 'providers'"),
        ("# nothing\n", r"^t\.toml: no targets"),
    ],
)
def test_a_broken_catalogue_is_refused_with_the_file_and_line(text: str, message: str) -> None:
    with pytest.raises(CatalogueError, match=message) as info:
        targets.parse(text, SETTINGS, Path("t.toml"))
    assert isinstance(info.value, UsageError)  # exit 2 on the command line
    assert "\n" not in info.value.user_text()


def test_a_misspelt_field_gets_the_nearest_name() -> None:
    with pytest.raises(CatalogueError) as info:
        targets.parse('[targets.a]\nservice = "azure_openai"\ndeployement = "d"\nmodel = "gpt-4o"\n', SETTINGS, Path("t.toml"))
    assert info.value.hint == "did you mean 'deployment'?"


def test_choosing_targets() -> None:
    catalogue = targets.parse(SEVEN, SETTINGS)
    assert catalogue.parse("gpt-4o, classifier,gpt-4o") == ["gpt-4o", "classifier"]
    assert catalogue.parse(None) == catalogue.ids
    with pytest.raises(UsageError, match="no targets given"):
        catalogue.parse(" , ")
    with pytest.raises(UsageError, match="unknown target 'gpt-5'"):
        catalogue.parse("gpt-5")
    assert catalogue.enabled(Settings.from_mapping({"MCV_TARGETS": "nova-lite"})) == ["nova-lite"]
    with pytest.raises(CatalogueError, match="MCV_TARGETS names targets that are not in the catalogue: bedrock"):
        catalogue.enabled(Settings.from_mapping({"MCV_TARGETS": "bedrock"}))


def test_colours_for_targets_that_left_the_catalogue() -> None:
    catalogue = targets.parse(SEVEN, SETTINGS)
    colors = targets.colors_for(["gpt-4o", "old-target", "bedrock", "another-old"], catalogue)
    assert colors["gpt-4o"] == catalogue.get("gpt-4o").color
    assert colors["bedrock"] == "#01A88D"  # an old default id keeps its colour
    assert len(set(colors.values())) == 4
    assert not {colors["old-target"], colors["another-old"]} & {t.color for t in catalogue.targets}


def test_describe_is_what_targets_json_prints() -> None:
    catalogue = targets.parse(SEVEN, SETTINGS)
    row = catalogue.get("nova-lite").describe()
    assert {"id", "title", "service", "model"} <= set(row)
    assert (row["id"], row["service"], row["model"], row["family"]) == ("nova-lite", "bedrock", "amazon.nova-lite-v1:0", "nova")
    assert row["input_usd_per_mtok"] == pytest.approx(0.06) and row["output_usd_per_mtok"] == pytest.approx(0.24)
    assert row["price_source"] == "genai-prices"
    classifier = catalogue.get("classifier").describe()
    assert classifier["billing"] == "compute" and classifier["input_usd_per_mtok"] is None


def test_a_target_may_be_called_without_streaming() -> None:
    from mcv_core.clients import Clients, Endpoints
    from mcv_core.services import registry

    catalogue = targets.parse(
        '[targets.a]\nservice = "bedrock"\nmodel = "anthropic.claude-3-haiku-20240307-v1:0"\nstream = false\n\n'
        '[targets.b]\nservice = "openai"\nmodel = "gpt-4.1-mini"\n\n'
        '[targets.c]\nservice = "sagemaker"\nendpoint = "e"\nstream = true\n',
        SETTINGS,
    )
    assert [t.stream for t in catalogue.targets] == [False, None, True]
    assert catalogue.get("a").describe()["stream"] is False
    clients = Clients(SETTINGS, Endpoints(aws={}))
    bound = {t.id: registry.bind(t, SETTINGS, clients) for t in catalogue.targets}
    # Streaming: the service can, MCV_STREAM is on (the default), and the target does not say no.
    assert {name: s.streaming for name, s in bound.items()} == {"a": False, "b": True, "c": False}  # the classifier cannot
    off = Settings.from_mapping({"MCV_STREAM": "0"})
    assert not registry.bind(catalogue.get("b"), off, clients).streaming
