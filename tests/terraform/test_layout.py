"""The shape of terraform/: module files, typed and described variables, described outputs, version pins, fmt."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from .tfconfig import AWS, AZURE, MODULE_FILES, REPO, ROOTS, TERRAFORM, all_configs, load, module_dirs, unquote

EXPECTED_MODULES = {"s3", "dynamodb", "lambda", "iam", "sagemaker", "cloudwatch", "cicd", "alarms"}


def test_aws_has_its_eight_modules() -> None:
    assert {p.name for p in module_dirs()} == EXPECTED_MODULES


@pytest.mark.parametrize("path", [*ROOTS, *module_dirs()], ids=lambda p: str(p.relative_to(TERRAFORM)))
def test_every_module_has_the_four_files(path) -> None:
    missing = [name for name in MODULE_FILES if not (path / name).is_file()]
    assert not missing, f"{path.relative_to(REPO)} lacks {missing}"


def test_every_variable_is_typed_and_described() -> None:
    problems = []
    for config in all_configs():
        for name, variable in config.variables.items():
            where = f"{config.path.relative_to(TERRAFORM)}: variable {name}"
            if "type" not in variable:
                problems.append(f"{where} has no type")
            if not unquote(variable.get("description", "")).strip():
                problems.append(f"{where} has no description")
    assert not problems, "\n".join(problems)


def test_every_output_is_described() -> None:
    problems = [
        f"{config.path.relative_to(TERRAFORM)}: output {name}"
        for config in all_configs()
        for name, output in config.outputs.items()
        if not unquote(output.get("description", "")).strip()
    ]
    assert not problems, "outputs without a description:\n" + "\n".join(problems)


def test_every_variable_is_used() -> None:
    # A declared but unused variable is a setting that silently does nothing.
    unused = []
    for config in all_configs():
        text = "\n".join(p.read_text(encoding="utf-8") for p in config.path.glob("*.tf"))
        for name in config.variables:
            if not re.search(rf"\bvar\.{re.escape(name)}\b", text):
                unused.append(f"{config.path.relative_to(TERRAFORM)}: var.{name}")
    assert not unused, "unused variables:\n" + "\n".join(unused)


def test_module_calls_pass_only_declared_variables() -> None:
    meta = {"source", "version", "providers", "depends_on", "count", "for_each"}
    problems = []
    for config in all_configs():
        for call, args in config.modules.items():
            target = config.module_config(call)
            for arg in args:
                if arg.startswith("__") or arg in meta:
                    continue
                if arg not in target.variables:
                    problems.append(f"{config.path.relative_to(TERRAFORM)}: module {call} passes unknown {arg}")
            for name, variable in target.variables.items():
                if "default" not in variable and name not in args:
                    problems.append(f"{config.path.relative_to(TERRAFORM)}: module {call} misses required {name}")
    assert not problems, "\n".join(problems)


def test_module_outputs_referenced_exist() -> None:
    problems = []
    for config in all_configs():
        text = "\n".join(p.read_text(encoding="utf-8") for p in config.path.glob("*.tf"))
        for call, output in re.findall(r"\bmodule\.([a-z_]+)\.([a-z_]+)", text):
            if call not in config.modules:
                problems.append(f"{config.path.relative_to(TERRAFORM)}: no module {call}")
            elif output not in config.module_config(call).outputs:
                problems.append(f"{config.path.relative_to(TERRAFORM)}: module {call} has no output {output}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", module_dirs(), ids=lambda p: p.name)
def test_modules_set_lower_bounds_only(path) -> None:
    config = load(path)
    assert config.required_version() and config.required_version().startswith(">="), config.required_version()
    providers = config.required_providers()
    assert "aws" in providers
    for name, spec in providers.items():
        assert spec["source"].startswith("hashicorp/"), spec
        assert re.fullmatch(r">= ?\d+(\.\d+)*", spec["version"]), f"{path.name}: {name} {spec['version']}"


@pytest.mark.parametrize("path", ROOTS, ids=lambda p: p.name)
def test_roots_pin_providers_exactly(path) -> None:
    config = load(path)
    assert config.required_version() == ">= 1.6"
    providers = config.required_providers()
    assert providers, "no required_providers"
    for name, spec in providers.items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", spec["version"]), f"{path.name}: {name} is not pinned: {spec['version']}"


def test_aws_root_pins_what_its_modules_need() -> None:
    root = load(AWS).required_providers()
    assert set(root) == {"aws", "archive"}
    for path in module_dirs():
        for name, spec in load(path).required_providers().items():
            pinned = tuple(int(x) for x in root[name]["version"].split("."))
            lower = tuple(int(x) for x in spec["version"].lstrip(">= ").split("."))
            assert pinned >= lower, f"{path.name} needs {name} {spec['version']}, root pins {root[name]['version']}"


@pytest.mark.parametrize("path", ROOTS, ids=lambda p: p.name)
def test_state_backend_is_s3_with_partial_configuration(path) -> None:
    text = (path / "backend.tf").read_text(encoding="utf-8")
    assert re.search(r'backend\s+"s3"\s*\{\s*\}', text), "backend.tf must be a partial s3 backend"
    example = (path / "backend.hcl.example").read_text(encoding="utf-8")
    keys = set(re.findall(r"^(\w+)\s*=", example, re.M))
    assert {"bucket", "key", "region", "dynamodb_table", "encrypt"} <= keys
    assert re.search(rf'^key\s*=\s*"[^"]*/{path.name}\.tfstate"', example, re.M), "each stack needs its own key"


def test_backend_files_are_git_ignored() -> None:
    ignore = (TERRAFORM / ".gitignore").read_text(encoding="utf-8").split()
    assert "backend.hcl" in ignore and "build/" in ignore


def test_terraform_fmt() -> None:
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform is not on PATH (terraform fmt -check needs it)")
    done = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-diff", str(TERRAFORM)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"terraform fmt -check -recursive terraform:\n{done.stdout}{done.stderr}"


def test_azure_is_separate_from_aws() -> None:
    assert set(load(AZURE).required_providers()) == {"azurerm"}
    assert not load(AZURE).modules


@pytest.mark.parametrize("path", ROOTS, ids=lambda p: p.name)
def test_tfvars_examples_name_real_variables(path) -> None:
    text = (path / "terraform.tfvars.example").read_text(encoding="utf-8")
    # Both the set and the commented-out assignments must be variables of this stack.
    names = set(re.findall(r"^#?\s*([a-z_]+)\s*=", text, re.M))
    assert names, "no assignments found"
    unknown = names - set(load(path).variables)
    assert not unknown, f"{path.name}/terraform.tfvars.example names unknown variables {unknown}"
