"""terraform/ against the pinned providers' schemas (schema_check.py), and the check itself against planted mistakes.

The schemas are built by `make tf-schemas` (make test and make tf-check do it first); these tests only read them.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pytest

from . import schema_supplement as lang
from .provider_schema import PACKAGES, SchemaError, load, pinned_providers, schema_versions
from .schema_check import Report, check, conversion_problem
from .tfconfig import AWS, AZURE, ROOTS, TERRAFORM


class SchemaAdvisory(UserWarning):
    """A deprecation, or a disagreement between the schema versions on either side of a pin: shown, never failing."""


@pytest.fixture(scope="module")
def pinned_schemas() -> dict[str, list]:
    try:
        return {
            source: [load(source, version) for pin in pins for version in schema_versions(source, pin)]
            for source, pins in pinned_providers().items()
        }
    except SchemaError as error:
        pytest.fail(str(error))


@pytest.fixture(scope="module")
def report(pinned_schemas) -> Report:
    return check(ROOTS)


# --- The real terraform/ ------------------------------------------------------------------------------------


def _show(report: Report) -> None:
    for advisory in report.warnings:
        warnings.warn(str(advisory), SchemaAdvisory, stacklevel=2)


def test_terraform_matches_the_pinned_schemas(report: Report) -> None:
    _show(report)  # deprecations and disagreements: in pytest's warnings summary, never a failure
    assert not report.findings, "terraform/ does not match the pinned providers' schemas:\n" + str(report)


def test_every_module_directory_is_checked(report: Report) -> None:
    with_tf = {p.parent.resolve() for p in TERRAFORM.rglob("*.tf")}
    assert set(report.checked) == with_tf, "directories with .tf files that no root reaches"


def test_every_pinned_provider_is_checked_against_its_own_schema(report: Report, pinned_schemas) -> None:
    expected = {schema.label for schemas in pinned_schemas.values() for schema in schemas}
    assert report.schemas == expected
    assert {"hashicorp/aws 6.32.1", "hashicorp/archive 2.7.1"} <= expected


def test_a_pin_without_a_package_is_checked_against_both_neighbours() -> None:
    pins = pinned_providers()
    for source, versions in pins.items():
        for pin in versions:
            chosen = schema_versions(source, pin)
            if pin in PACKAGES[source]:
                assert chosen == [pin]
            else:
                below, above = (tuple(int(p) for p in v.split(".")) for v in chosen)
                assert below < tuple(int(p) for p in pin.split(".")) < above, (source, pin, chosen)
    assert schema_versions("hashicorp/azurerm", "4.57.0") == ["4.55.0", "4.59.0"]
    with pytest.raises(SchemaError, match="brackets"):
        schema_versions("hashicorp/azurerm", "9.0.0")
    with pytest.raises(SchemaError, match="no schema package"):
        schema_versions("hashicorp/random", "3.7.2")


DEPRECATED_GSI = """
terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "6.32.1"
    }
  }
}

resource "aws_dynamodb_table" "old_style" {
  name     = "t"
  hash_key = "pk"

  attribute {
    name = "pk"
    type = "S"
  }

  global_secondary_index {
    name            = "by_sk"
    hash_key        = "sk"
    range_key       = "pk"
    projection_type = "ALL"
  }
}
"""


def test_deprecations_are_warnings_not_findings(tmp_path: Path, pinned_schemas) -> None:
    (tmp_path / "main.tf").write_text(DEPRECATED_GSI, encoding="utf-8")
    report = check([tmp_path])
    assert not report.findings, str(report)
    lines = {w.line: w.message for w in report.warnings}
    assert sorted(lines) == [22, 23], lines
    assert "global_secondary_index.hash_key is deprecated since hashicorp/aws 6.29.0" in lines[22]
    assert "global_secondary_index.range_key is deprecated" in lines[23] and "key_schema" in lines[23]
    assert "https://github.com/hashicorp/terraform-provider-aws/" in lines[22]
    with pytest.warns(SchemaAdvisory, match="key_schema"):
        _show(report)


def test_each_deprecation_names_what_the_pinned_schema_has(pinned_schemas) -> None:
    def walk(block, path):
        *parents, leaf = path.split(".")
        for name in parents:
            block = block["b"][name][2]
        return leaf in block.get("a", {}) or leaf in block.get("b", {})

    for entry in lang.DEPRECATIONS:
        for schema in pinned_schemas[entry.source]:
            table = schema.resources if entry.kind == "resource" else schema.data
            assert walk(table[entry.type], entry.path), f"{entry.path} is not in {schema.label}: a stale entry"
            assert walk(table[entry.type], entry.replacement), f"{entry.replacement} is not in {schema.label}"
        assert entry.reference.startswith("https://")


# --- What the schemas say (facts from the providers' registry documentation) ---------------------------------


def test_schemas_carry_the_providers_documented_shape(pinned_schemas) -> None:
    aws = load("hashicorp/aws", "6.32.1")
    table = aws.resources["aws_dynamodb_table"]
    assert table["a"]["name"] == ["string", 1]
    assert table["b"]["point_in_time_recovery"][:2] == [1, 0]  # at most one, optional
    assert table["b"]["attribute"][:2] == [0, 0]  # any number
    gsi = table["b"]["global_secondary_index"][2]
    assert gsi["a"]["projection_type"] == ["string", 1] and "key_schema" in gsi["b"]
    # Renamed in the assembly (selfAttribute), found again through the registry anchor; a list of objects.
    ingress = aws.resources["aws_security_group"]["a"]["ingress"][0]
    assert ingress[0] == "list" and ingress[1]["o"]["self"] == "bool"
    statement = aws.data["aws_iam_policy_document"]["b"]["statement"][2]
    assert statement["b"]["condition"][2]["a"]["test"] == ["string", 1]
    assert aws.resources["aws_lambda_function"]["a"]["memory_size"] == ["number", 0]
    assert aws.resources["aws_s3_bucket"]["a"]["tags"] == [["map", "string"], 0]
    assert "default_tags" in aws.provider["b"] and aws.provider["a"]["region"] == ["string", 0]
    archive = load("hashicorp/archive", "2.7.1")
    assert archive.data["archive_file"]["a"]["output_path"] == ["string", 1]
    for schema in pinned_schemas["hashicorp/azurerm"]:
        deployment = schema.resources["azurerm_cognitive_deployment"]
        assert deployment["b"]["model"][:2] == [1, 1] and deployment["b"]["sku"][:2] == [1, 1]
        assert "features" in schema.provider["b"]


@pytest.mark.parametrize(
    ("value", "wanted", "fails"),
    [
        ('"abc"', "number", True),
        ('"12.5"', "number", False),
        ("12", "string", False),
        (True, "number", True),
        ('"true"', "bool", False),
        ('"yes"', "bool", True),
        (3, "bool", True),
        (['"a"'], "string", True),
        ('"a"', ["list", "string"], True),
        (['"a"', 1], ["list", "string"], False),
        ([True, '"x"'], ["list", "bool"], True),
        ({"a": '"1"'}, ["map", "number"], False),
        ({"a": ['"1"']}, ["map", "string"], True),
        (
            {"cidr_blocks": ['"10.0.0.0/8"'], "sefl": True},
            {"o": {"cidr_blocks": ["list", "string"], "self": "bool"}},
            True,
        ),
        ('"${var.x}"', "number", False),
        ("${var.x}", ["list", "string"], False),
        ('"n-${var.x}"', ["list", "string"], True),
        (None, "number", False),
        ({"k": [1]}, "any", False),
    ],
)
def test_literal_conversion_follows_terraform(value, wanted, fails) -> None:
    assert (conversion_problem(value, wanted) is not None) is fails


# --- Planted mistakes in a copy of terraform/ ---------------------------------------------------------------

# (file under terraform/, text to replace, replacement, the finding's code, the nearest valid name it must give,
# and optionally a text found once in the planted file). The finding must be on that text's line, else on the line
# of the replacement's part after "@@" (the marker is not written), else on the replacement's first line. Each
# replaced text occurs exactly once in its file.
PLANTED = [
    (
        "aws/modules/s3/main.tf",
        "  force_destroy = var.force_destroy\n",
        "  force_destory = var.force_destroy\n",
        "unknown-argument",
        "force_destroy",
    ),
    (
        "aws/modules/s3/main.tf",
        'resource "aws_s3_bucket_versioning" "this" {\n  bucket = aws_s3_bucket.this.id\n',
        'resource "aws_s3_bucket_versioning" "this" {\n',
        "missing-argument",
        "bucket",
    ),
    (
        "aws/modules/s3/main.tf",
        '    dynamic "expiration" {',
        '    dynamic "expirations" {',
        "unknown-block",
        "expiration",
    ),
    (
        "aws/modules/lambda/main.tf",
        "  logging_config {",
        "  logging_configuration {",
        "unknown-block",
        "logging_config",
    ),
    (
        "aws/modules/lambda/main.tf",
        "  memory_size   = var.memory_size\n",
        '  memory_size   = "lots"\n',
        "wrong-type",
        "memory_size",
    ),
    (
        "aws/modules/lambda/main.tf",
        '  output_file_mode = "0644"',
        '  output_mode = "0644"',
        "unknown-argument",
        "output_file_mode",
    ),
    (
        "aws/modules/dynamodb/main.tf",
        "  point_in_time_recovery {\n    enabled = var.point_in_time_recovery\n  }\n",
        (
            "  point_in_time_recovery {\n    enabled = var.point_in_time_recovery\n  }\n"
            "@@  point_in_time_recovery {\n    enabled = true\n  }\n"
        ),
        "too-many-blocks",
        "point_in_time_recovery",
    ),
    (
        "aws/modules/dynamodb/main.tf",
        "      enabled        = true\n",
        '      enabled        = "yes"\n',
        "wrong-type",
        "enabled",
    ),
    (
        "aws/modules/cloudwatch/main.tf",
        'resource "aws_cloudwatch_log_group" "this" {',
        'resource "aws_cloudwatch_loggroup" "this" {',
        "unknown-type",
        "aws_cloudwatch_log_group",
    ),
    (
        "aws/modules/sagemaker/main.tf",
        "    replace_triggered_by = [terraform_data.model_data_version]",
        "    replace_triggerd_by = [terraform_data.model_data_version]",
        "unknown-argument",
        "replace_triggered_by",
    ),
    (
        "aws/modules/sagemaker/main.tf",
        "  triggers_replace = var.model_data_version",
        "  trigger_replace = var.model_data_version",
        "unknown-argument",
        "triggers_replace",
    ),
    (
        "aws/modules/iam/main.tf",
        (
            '      error_message = "The app policy needs sagemaker_endpoint_arn, sagemaker_endpoint_config_arn, '
            'lambda_function_arn and bedrock_model_arns."\n'
        ),
        "",
        "missing-argument",
        "error_message",
        "    precondition {",
    ),
    (
        "aws/main.tf",
        "  cors_allowed_origins                   = var.cors_allowed_origins\n",
        "  cors_allowed_origin = var.cors_allowed_origins\n",
        "unknown-module-input",
        "cors_allowed_origins",
    ),
    (
        "aws/main.tf",
        'module "results_table" {\n  source = "./modules/dynamodb"\n\n  table_name = local.names.results_table\n',
        'module "results_table" {\n  source = "./modules/dynamodb"\n\n',
        "missing-module-input",
        "table_name",
    ),
    ("aws/providers.tf", "  region = var.region", "  regoin = var.region", "unknown-argument", "region"),
    (
        "azure/main.tf",
        "  local_auth_enabled            = var.local_auth_enabled",
        "  local_auth_enable = var.local_auth_enabled",
        "unknown-argument",
        "local_auth_enabled",
    ),
    (
        "azure/main.tf",
        "  sku {\n    name     = var.deployment_sku\n    capacity = var.deployment_capacity\n  }\n",
        "",
        "missing-block",
        "sku",
        'resource "azurerm_cognitive_deployment" "this" {',
    ),
    (
        "azure/providers.tf",
        "      purge_soft_delete_on_destroy = true",
        "      purge_soft_delete_on_destory = true",
        "unknown-argument",
        "purge_soft_delete_on_destroy",
    ),
]

# A resource type that azurerm 4.59.0 has and 4.55.0 has not: for the pin between them, a warning only.
ONLY_IN_4_59 = """
resource "azurerm_network_security_perimeter" "planted" {
  name                = "nsp-planted"
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
}
"""


def _plant(path: Path, old: str, new: str, at: str | None = None) -> int:
    """Replaces `old` by `new` in the file; the line the finding belongs to (see PLANTED)."""
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{path}: the planted text must occur once: {old!r}"
    start = text.index(old)
    before, marker, after = new.partition("@@")
    planted = text.replace(old, before + after)
    path.write_text(planted, encoding="utf-8")
    if at is not None:
        assert planted.count(at) == 1, f"{path}: {at!r} must occur once"
        return planted.count("\n", 0, planted.index(at)) + 1
    return text.count("\n", 0, start) + 1 + (before.count("\n") if marker else 0)


@pytest.fixture(scope="module")
def planted(
    tmp_path_factory: pytest.TempPathFactory, pinned_schemas
) -> tuple[Report, list[tuple[Path, int, str, str]]]:
    copy = tmp_path_factory.mktemp("planted") / "terraform"
    shutil.copytree(TERRAFORM, copy)
    expected = []
    for relative, old, new, code, near, *at in PLANTED:
        path = copy / relative
        expected.append((path.resolve(), _plant(path, old, new, *at), code, near))
    with (copy / "azure" / "main.tf").open("a", encoding="utf-8") as handle:
        handle.write(ONLY_IN_4_59)
    return check([copy / AWS.name, copy / AZURE.name]), expected


@pytest.mark.parametrize("index", range(len(PLANTED)), ids=[f"{p[0]}:{p[3]}:{p[4]}" for p in PLANTED])
def test_each_planted_mistake_is_found_with_file_line_and_nearest_name(planted, index: int) -> None:
    report, expected = planted
    path, line, code, near = expected[index]
    found = [f for f in report.findings if f.file == path and f.code == code]
    assert found, f"no {code} finding in {path.name}; the report:\n{report}"
    assert any(f.line == line and f.nearest == near for f in found), [str(f) for f in found]


def test_the_planted_mistakes_are_all_that_is_found(planted) -> None:
    report, expected = planted
    found = sorted((f.file, f.line, f.code, f.nearest) for f in report.findings)
    assert found == sorted(expected), str(report)


def test_a_disagreement_between_neighbouring_versions_is_a_warning(planted) -> None:
    report, _ = planted
    assert not [f for f in report.findings if "azurerm_network_security_perimeter" in f.subject]
    advisories = [w for w in report.warnings if "azurerm_network_security_perimeter" in w.message]
    assert len(advisories) == 1 and "hashicorp/azurerm 4.55.0 but not in 4.59.0" in advisories[0].message
