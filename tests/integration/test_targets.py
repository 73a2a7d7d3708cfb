"""Targets end to end on the local cloud, through the command line and the real SDKs: seven models compared at
once, each priced and token-counted by its own model's rules; the catalogue's contract (`targets --json`, bad
catalogues, empty --targets); an unknown model failing in its own column; history keyed by target id, old items
and removed targets included."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from genai_prices import Usage, calc_price

from mcv_core import models, pricing

pytestmark = pytest.mark.timeout(900)
REPO = Path(__file__).resolve().parents[2]

SEVEN = """\
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
deployment = "gpt4o-eastus2"
model = "gpt-4o"

[targets.gpt-41-mini]
service = "openai"
model = "gpt-4.1-mini"

[targets.classifier]
service = "sagemaker"

[targets.no-such-model]
service = "bedrock"
model = "anthropic.claude-9-imaginary-v1:0"
"""
SEVEN_IDS = ["claude-3-haiku", "claude-35-sonnet", "nova-lite", "gpt-4o-mini", "gpt-4o", "gpt-41-mini", "classifier"]
GENAI_PROVIDER = {"bedrock": "aws", "azure_openai": "azure", "openai": "openai"}


def mcv(*args: str, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mcv_core", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def catalogue_env(local_env, tmp_path_factory) -> dict[str, str]:  # noqa: ANN001
    path = tmp_path_factory.mktemp("catalogue") / "targets.toml"
    path.write_text(SEVEN)
    return {**os.environ, "MCV_TARGETS_FILE": str(path)}


@pytest.fixture(scope="module")
def seven(catalogue_env, tmp_path_factory, cat_jpeg) -> dict:  # noqa: ANN001
    image = tmp_path_factory.mktemp("images") / "cat.jpg"
    image.write_bytes(cat_jpeg)
    done = mcv("compare", str(image), "--targets", ",".join(SEVEN_IDS), "--json", env=catalogue_env)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_seven_targets_answer_each_priced_and_counted_by_its_own_model(seven: dict) -> None:
    results = {r["target"]: r for r in seven["results"]}
    assert list(results) == SEVEN_IDS
    for target_id, r in results.items():
        assert r["status"] == "ok", (target_id, r["error"])
        assert r["provider"] == target_id  # the old key, kept for the tools that read it
        assert r["output"]
    services = {t: r["service"] for t, r in results.items()}
    assert services == {
        "claude-3-haiku": "bedrock", "claude-35-sonnet": "bedrock", "nova-lite": "bedrock", "gpt-4o-mini": "azure_openai",
        "gpt-4o": "azure_openai", "gpt-41-mini": "openai", "classifier": "sagemaker",
    }  # fmt: skip
    families = {
        "claude-3-haiku": models.claude_image_tokens,
        "claude-35-sonnet": models.claude_image_tokens,
        "nova-lite": models.nova_image_tokens,
        "gpt-4o-mini": models.gpt4o_mini_image_tokens,
        "gpt-4o": models.gpt4o_image_tokens,
        # 32-px patches x 1.62, exactly (test_models checks the rule against hand-computed figures).
        "gpt-41-mini": models.resolve("openai", "gpt-4.1-mini").family.image_tokens,
    }
    model_refs = {
        "claude-3-haiku": "anthropic.claude-3-haiku-20240307-v1:0",
        "claude-35-sonnet": "us.anthropic.claude-3-5-sonnet-20241022-v2:0",
        "nova-lite": "amazon.nova-lite-v1:0",
        "gpt-4o-mini": "gpt-4o-mini",
        "gpt-4o": "gpt-4o",
        "gpt-41-mini": "gpt-4.1-mini",
    }
    for target_id, rule in families.items():
        r = results[target_id]
        # Image tokens by the family's published rule, on the size that target was sent.
        assert r["image_tokens"] == rule(r["sent_width"], r["sent_height"]), target_id
        assert r["input_tokens"] > r["image_tokens"] and r["output_tokens"] > 0
        # The cost is genai-prices' price for the reported tokens, for that model on that service.
        price = calc_price(
            Usage(input_tokens=r["input_tokens"], output_tokens=r["output_tokens"]),
            model_refs[target_id],
            provider_id=GENAI_PROVIDER[r["service"]],
        )
        assert r["cost_usd"] == pytest.approx(float(price.total_price), rel=1e-9), target_id
    # The classifier: its own model time at the SageMaker Serverless GB-second price.
    classifier = results["classifier"]
    billed_s = math.ceil(classifier["provider_latency_ms"]) / 1000
    assert classifier["cost_usd"] == pytest.approx(pricing.sagemaker_price("ap-northeast-1").usd_per_gb_second * billed_s)
    assert classifier["labels"] and classifier["input_tokens"] is None
    # Sizes sent follow each family: 224 x 224 for the classifier, the cat photo whole for Claude.
    assert (classifier["sent_width"], classifier["sent_height"]) == (224, 224)
    # Stand-ins differ: no two language-model targets gave the same answer, and each names its local models.
    answers = [results[t]["output"] for t in families]
    assert len(set(answers)) == len(answers)
    for target_id in families:
        assert "local stand-in" in results[target_id]["output"] and "efficientnet-lite" in results[target_id]["output"]


def test_history_keeps_target_service_and_model(seven: dict, catalogue_env: dict[str, str]) -> None:
    done = mcv("history", "--since", "1h", "--json", env=catalogue_env)
    assert done.returncode == 0, done.stderr
    items = [i for i in json.loads(done.stdout)["results"] if i["run_id"] == seven["run_id"]]
    assert sorted(i["provider"] for i in items) == sorted(SEVEN_IDS)
    for item in items:
        assert item["service"] and item["model"] and item["title"]
    one = mcv("history", "--since", "1h", "--provider", "nova-lite", "--json", env=catalogue_env)
    assert {i["provider"] for i in json.loads(one.stdout)["results"]} == {"nova-lite"}


def test_history_charts_the_seven_with_their_titles_and_colours(seven: dict, workbench, catalogue_env) -> None:  # noqa: ANN001
    from datetime import datetime, timedelta, timezone

    from mcv_core import analytics, charts, targets
    from mcv_core.config import Settings

    catalogue = targets.load(Settings.from_mapping(catalogue_env))
    items = [i for i in workbench.history.load(datetime.now(timezone.utc) - timedelta(hours=1)) if i["run_id"] == seven["run_id"]]
    frame = analytics.to_frame(items, order=catalogue.ids)
    figure = charts.latency_distribution(frame, charts.legend_for(frame, catalogue))
    names = [trace.name for trace in figure.data if trace.name]
    for target_id in SEVEN_IDS:
        target = catalogue.get(target_id)
        assert any(target.title in name for name in names), (target.title, names)
        assert any(target.color.lower() in str(trace.marker.color).lower() for trace in figure.data if trace.name and target.title in trace.name)


def test_an_unknown_model_fails_in_its_own_column(catalogue_env, tmp_path, cat_jpeg) -> None:  # noqa: ANN001
    image = tmp_path / "cat.jpg"
    image.write_bytes(cat_jpeg)
    done = mcv("compare", str(image), "--targets", "no-such-model,classifier", "--json", env=catalogue_env)
    assert done.returncode == 1, done.stderr  # a target failed: exit 1, the other one still answered
    results = {r["target"]: r for r in json.loads(done.stdout)["results"]}
    assert results["classifier"]["status"] == "ok"
    bad = results["no-such-model"]
    assert bad["status"] == "error" and bad["error_type"] == "invalid_request"
    assert "ValidationException" in bad["error"] and "check the target's model" in bad["error"]


def test_targets_json_lists_the_catalogue(catalogue_env: dict[str, str]) -> None:
    done = mcv("targets", "--json", env=catalogue_env)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["source"] == catalogue_env["MCV_TARGETS_FILE"]
    rows = {t["id"]: t for t in doc["targets"]}
    assert list(rows) == [*SEVEN_IDS, "no-such-model"]
    for row in rows.values():
        assert {"id", "title", "service", "model", "image_rule"} <= set(row)
    assert rows["claude-35-sonnet"]["input_usd_per_mtok"] == pytest.approx(3.0)
    assert rows["no-such-model"]["family"] == "unknown" and rows["no-such-model"]["input_usd_per_mtok"] is None
    text = mcv("targets", env=catalogue_env)
    assert "price unknown" in text.stdout and "claude-35-sonnet" in text.stdout


@pytest.mark.parametrize(
    "catalogue, args, message",
    [
        (SEVEN, ["--targets", ""], "no targets given"),
        (SEVEN, ["--targets", " , "], "no targets given"),
        (SEVEN, ["--targets", "gpt-5"], "unknown target 'gpt-5'"),
        ('[targets.a]\nservice = "bedrock"\nmodle = "x"\n', [], ":3: unknown field 'modle' in target 'a'"),
        ('[targets.a]\nservice = "bedrock"\nmodel = "x', [], "not valid TOML"),
    ],
)
def test_bad_targets_are_usage_errors(catalogue, args, message, local_env, tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "targets.toml"
    path.write_text(catalogue)
    env = {**os.environ, "MCV_TARGETS_FILE": str(path)}
    image = tmp_path / "x.jpg"
    image.write_bytes(b"\xff\xd8\xff")
    done = mcv("compare", str(image), *args, env=env, timeout=120)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("command", ["bench", "sweep"])
def test_bench_and_sweep_refuse_an_empty_target_list_too(command, local_env, tmp_path) -> None:  # noqa: ANN001
    image = tmp_path / "x.jpg"
    image.write_bytes(b"\xff\xd8\xff")
    done = mcv(command, str(image), "--targets", " , ", env=dict(os.environ), timeout=120)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "no targets given" in lines[0], done.stderr


def test_old_history_and_removed_targets_still_show(workbench, catalogue_env) -> None:  # noqa: ANN001
    """Items written before targets existed (no service, no title) and items of a target since removed from the
    catalogue come back under their stored ids."""
    from datetime import datetime, timezone

    from mcv_core import history

    now = datetime.now(timezone.utc)
    created = history._iso(now)
    old_items = [
        {
            "pk": f"RUN#old-{name}", "sk": f"RESULT#{name}", "type": "result", "run_id": f"old-{name}", "created_at": created,
            "gsi1pk": f"DAY#{created[:10]}", "gsi1sk": f"{created}#old-{name}#{name}", "gsi2pk": f"PROVIDER#{name}",
            "gsi2sk": f"{created}#old-{name}", "provider": name, "model": model, "status": "ok", "output": "old answer",
            "latency_ms": 12.5, **extra,
        }
        for name, model, extra in (
            ("bedrock", "anthropic.claude-3-haiku-20240307-v1:0", {}),
            ("retired-model", "gpt-4-turbo", {"service": "azure_openai", "title": "GPT-4 Turbo (retired)"}),
        )
    ]  # fmt: skip
    for item in old_items:
        workbench.history.put_once(item)
    done = mcv("history", "--since", "1h", "--json", env=catalogue_env)
    assert done.returncode == 0, done.stderr
    found = {i["provider"]: i for i in json.loads(done.stdout)["results"] if i["run_id"].startswith("old-")}
    assert set(found) == {"bedrock", "retired-model"}
    assert found["retired-model"]["title"] == "GPT-4 Turbo (retired)"
    text = mcv("history", "--since", "1h", "--provider", "retired-model", env=catalogue_env)
    assert text.returncode == 0 and "retired-model" in text.stdout
