"""Read terraform/ with python-hcl2 and evaluate the simple expressions that make names and settings.

python-hcl2 (8.x) keeps a string literal with its quotes ('"AES256"'), an expression as '${...}', block labels
quoted, and comments under '__comments__'. `Config` merges the .tf files of one directory into plain dicts;
`Evaluator` resolves string templates and references (var., local., module inputs, the caller identity) the
way Terraform would, and refuses anything else (function calls, conditionals) instead of guessing, so a test
that evaluates an expression really checks what Terraform will compute from it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import hcl2

REPO = Path(__file__).resolve().parents[2]
TERRAFORM = REPO / "terraform"
AWS = TERRAFORM / "aws"
AZURE = TERRAFORM / "azure"
AWS_MODULES = AWS / "modules"
ROOTS = (AWS, AZURE)
MODULE_FILES = ("main.tf", "variables.tf", "outputs.tf", "versions.tf")

_META = ("__is_block__", "__comments__", "__inline_comments__", "__start_line__", "__end_line__")
_INTERPOLATION = re.compile(r"\$\{([^{}]*)\}")


class NotEvaluable(ValueError):
    """The expression is more than a template of references: the test must not pretend to know its value."""


def unquote(value: Any) -> Any:
    """'"text"' -> 'text'; other values as they are."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return value[1:-1]
    return value


def literal(value: Any) -> Any:
    """The Python value of an HCL literal (strings unquoted, lists and maps recursively); expressions stay."""
    if isinstance(value, list):
        return [literal(v) for v in value]
    if isinstance(value, dict):
        return {unquote(k): literal(v) for k, v in value.items() if k not in _META}
    return unquote(value)


def clean(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in _META}


def comments(body: dict[str, Any]) -> list[str]:
    return [c["value"] for c in body.get("__comments__", [])]


def block(body: dict[str, Any], name: str) -> dict[str, Any]:
    """The single nested block `name` of a resource or block body."""
    blocks = body.get(name)
    assert isinstance(blocks, list) and len(blocks) == 1, f"expected one {name} block, found {blocks!r}"
    return blocks[0]


def dynamic_block(body: dict[str, Any], name: str) -> dict[str, Any]:
    """The `dynamic "name"` block of a body."""
    for entry in body.get("dynamic", []):
        for label, dyn in entry.items():
            if unquote(label) == name:
                return dyn
    raise AssertionError(f"no dynamic {name} block")


@dataclass
class Config:
    """The merged .tf files of one Terraform module directory."""

    path: Path
    resources: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    data: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    modules: dict[str, dict[str, Any]] = field(default_factory=dict)
    terraform: list[dict[str, Any]] = field(default_factory=list)
    providers: dict[str, dict[str, Any]] = field(default_factory=dict)

    def resource(self, kind: str, name: str = "this") -> dict[str, Any]:
        try:
            return self.resources[kind][name]
        except KeyError:
            raise AssertionError(f"{self.path.relative_to(REPO)} declares no {kind}.{name}") from None

    def all_resources(self) -> list[tuple[str, str, dict[str, Any]]]:
        return [(kind, name, body) for kind, named in self.resources.items() for name, body in named.items()]

    def module_config(self, call: str) -> "Config":
        source = unquote(self.modules[call]["source"])
        return load(self.path / source)

    def required_providers(self) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for terraform in self.terraform:
            for required in terraform.get("required_providers", []):
                for name, spec in clean(required).items():
                    found[name] = literal(spec)
        return found

    def required_version(self) -> str | None:
        for terraform in self.terraform:
            if "required_version" in terraform:
                return unquote(terraform["required_version"])
        return None


def _labelled(entries: list[dict[str, Any]], depth: int) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for entry in entries:
        for label, body in entry.items():
            key = unquote(label)
            if depth == 2:
                merged.setdefault(key, {}).update(_labelled([body], 1))
            else:
                assert key not in merged, f"{key} declared twice"
                merged[key] = body
    return merged


@lru_cache(maxsize=None)
def load(path: Path) -> Config:
    path = Path(path).resolve()
    config = Config(path=path)
    files = sorted(path.glob("*.tf"))
    assert files, f"no .tf files in {path}"
    for tf in files:
        with tf.open(encoding="utf-8") as handle:
            parsed = hcl2.load(handle)
        config.resources.update(_labelled(parsed.get("resource", []), 2))
        for kind, named in _labelled(parsed.get("data", []), 2).items():
            config.data.setdefault(kind, {}).update(named)
        config.variables.update(_labelled(parsed.get("variable", []), 1))
        config.outputs.update(_labelled(parsed.get("output", []), 1))
        config.modules.update(_labelled(parsed.get("module", []), 1))
        config.providers.update(_labelled(parsed.get("provider", []), 1))
        config.terraform.extend(parsed.get("terraform", []))
        for block_ in parsed.get("locals", []):
            config.locals.update(clean(block_))
    return config


def module_dirs() -> list[Path]:
    return sorted(p for p in AWS_MODULES.iterdir() if p.is_dir())


def all_configs() -> list[Config]:
    return [load(p) for p in (*ROOTS, *module_dirs())]


class Evaluator:
    """Evaluates templates of references in one module, given its inputs (or the variables' defaults)."""

    def __init__(
        self,
        config: Config,
        inputs: dict[str, Any] | None = None,
        *,
        account_id: str = "123456789012",
        parent: "Evaluator | None" = None,
        call_args: dict[str, Any] | None = None,
    ) -> None:
        self.config = config
        self.inputs = inputs or {}
        self.account_id = account_id
        self.parent = parent
        self.call_args = call_args or {}

    def module(self, call: str) -> "Evaluator":
        """An evaluator for a module call of this module, its inputs taken from the call's arguments."""
        args = clean(self.config.modules[call])
        return Evaluator(self.config.module_config(call), account_id=self.account_id, parent=self, call_args=args)

    def var(self, name: str) -> Any:
        if name in self.inputs:
            return self.inputs[name]
        if name in self.call_args:
            assert self.parent is not None
            return self.parent.value(self.call_args[name])
        variable = self.config.variables.get(name)
        assert variable is not None, f"{self.config.path.relative_to(REPO)} has no variable {name}"
        assert "default" in variable, f"variable {name} has no default and no input"
        return self.value(variable["default"])

    def local(self, name: str) -> Any:
        assert name in self.config.locals, f"{self.config.path.relative_to(REPO)} has no local {name}"
        return self.value(self.config.locals[name])

    def reference(self, expr: str) -> Any:
        expr = expr.strip()
        parts = expr.split(".")
        if not all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", p) for p in parts):
            raise NotEvaluable(expr)
        head = parts[0]
        if head == "var":
            value, rest = self.var(parts[1]), parts[2:]
        elif head == "local":
            value, rest = self.local(parts[1]), parts[2:]
        elif parts[:3] == ["data", "aws_caller_identity", "current"] and parts[3:] == ["account_id"]:
            return self.account_id
        else:
            raise NotEvaluable(expr)
        for attr in rest:
            assert isinstance(value, dict) and attr in value, f"{expr}: no {attr} in {value!r}"
            value = value[attr]
        return value

    def value(self, raw: Any) -> Any:
        if isinstance(raw, list):
            return [self.value(v) for v in raw]
        if isinstance(raw, dict):
            return {unquote(k): self.value(v) for k, v in raw.items() if k not in _META}
        if not isinstance(raw, str):
            return raw
        if raw.startswith('"') and raw.endswith('"'):
            return self.template(raw[1:-1])
        whole = _INTERPOLATION.fullmatch(raw)
        if whole:
            return self.reference(whole.group(1))
        raise NotEvaluable(raw)

    def template(self, text: str) -> str:
        return _INTERPOLATION.sub(lambda m: str(self.reference(m.group(1))), text)
