"""terraform/ checked against the pinned providers' schemas, offline: what `terraform validate` would find.

Every root module (terraform/aws, terraform/azure) and every local module it calls, file by file, parsed with
python-hcl2 (its Lark tree keeps the line of each argument and block). Checked against the schema of the exact
provider version each root pins (provider_schema.py):
- resource and data source types the provider does not have;
- arguments and nested blocks a resource, data source, provider block or nested block does not have, an argument
  written as a block or a block written as an argument, required arguments and blocks that are missing, a second
  block where the schema allows at most one;
- literal values that cannot convert to the argument's type (Terraform's conversion rules, schema_supplement.py);
- module calls against the called module's variables: unknown inputs, and variables without a default not given;
- Terraform's own meta-arguments (count, for_each, depends_on, provider, lifecycle with its conditions, dynamic
  blocks with their content), checked against Terraform's language, not the provider's.
Each finding names the file, the line, and the nearest valid name (difflib).

Where no package carries the pinned version, the versions on either side are checked (provider_schema.PACKAGES):
a finding is reported only if both schemas give it; one that only one of them gives is a warning (the pinned
version may go either way), as are the deprecations in schema_supplement.DEPRECATIONS. Warnings never fail.

Deliberately lenient, where the schema cannot say more: an argument whose type is a list or set of objects may
also be written as blocks (Terraform allows that for SDKv2 providers, and the assembly does not tell SDKv2
attributes from the plugin framework's nested attributes); a value that is an expression (a reference, a call,
a template with interpolation) is not type-checked; inside a dynamic block the number of blocks is unknown, so
neither "at most one" nor "required" is judged from it.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hcl2.api import parses_to_tree, transform

from . import schema_supplement as lang
from .provider_schema import ProviderSchema, load, schema_versions
from .tfconfig import REPO

_META_KEYS = ("__is_block__", "__comments__", "__inline_comments__", "__start_line__", "__end_line__")
_TEMPLATE = re.compile(r"\$\{|%\{")
_NUMBER = re.compile(r"-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")
_EXACT_VERSION = re.compile(r"=?\s*(\d+\.\d+\.\d+)")


# --- The configuration, as python-hcl2 reads it -------------------------------------------------------------


@dataclass
class Attribute:
    name: str
    value: Any  # python-hcl2's serialized form: '"text"' for a string, '${...}' for an expression
    file: Path
    line: int


@dataclass
class Block:
    type: str
    labels: list[str]
    body: Body
    file: Path
    line: int


@dataclass
class Body:
    attributes: list[Attribute] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)

    def attribute(self, name: str) -> Attribute | None:
        return next((a for a in self.attributes if a.name == name), None)


def _unquote(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def _body(tree: Any, file: Path) -> Body:
    """A body of python-hcl2's Lark tree: its rules carry their line (the parser keeps positions)."""
    body = Body()
    if tree is None:
        return body  # an empty block, `name {}`
    for child in tree.children:
        kind = getattr(child, "data", None)  # rules have one; tokens (braces, newlines) do not
        if kind == "attribute":
            rule = transform(child)
            body.attributes.append(
                Attribute(rule.identifier.serialize(), rule.expression.serialize(), file, child.meta.line)
            )
        elif kind == "block":
            parts = [c for c in child.children if getattr(c, "data", None)]
            inner = next((c for c in parts if c.data == "body"), None)
            names = [_unquote(str(transform(c).serialize())) for c in parts if c.data != "body"]
            body.blocks.append(Block(names[0], names[1:], _body(inner, file), file, child.meta.line))
    return body


def parse_file(path: Path) -> Body:
    return _body(parses_to_tree(path.read_text(encoding="utf-8")).children[0], path)


@dataclass
class Module:
    path: Path
    body: Body  # every file's top-level blocks, in file order

    def blocks(self, kind: str) -> list[Block]:
        return [b for b in self.body.blocks if b.type == kind]

    def required_providers(self) -> dict[str, dict[str, str]]:
        found: dict[str, dict[str, str]] = {}
        for terraform in self.blocks("terraform"):
            for required in terraform.body.blocks:
                if required.type != "required_providers":
                    continue
                for attribute in required.body.attributes:
                    if isinstance(attribute.value, dict):
                        found[attribute.name] = {_unquote(k): _unquote(str(v)) for k, v in attribute.value.items()}
        return found

    def source_of(self, local_name: str) -> str:
        if local_name == "terraform":
            return lang.BUILTIN_SOURCE
        return self.required_providers().get(local_name, {}).get("source", f"hashicorp/{local_name}")


def load_module(path: Path) -> Module:
    body = Body()
    for tf in sorted(path.glob("*.tf")):
        parsed = parse_file(tf)
        body.blocks.extend(parsed.blocks)
        body.attributes.extend(parsed.attributes)  # none belong at the top level: each is a finding
    return Module(path.resolve(), body)


# --- Findings and warnings ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    file: Path
    line: int
    code: str  # what kind of mistake: unknown-argument, missing-argument, wrong-type, ...
    subject: str  # where, e.g. 'resource aws_s3_bucket.this: cors_rule.allowed_origins'
    message: str
    nearest: str  # the nearest valid name

    @property
    def key(self) -> tuple[Any, ...]:
        """What two schema versions must agree on for the finding to stand (not the wording of the suggestion)."""
        return (self.file, self.line, self.code, self.subject)

    def __str__(self) -> str:
        where = self.file.relative_to(REPO) if self.file.is_relative_to(REPO) else self.file
        return f"{where}:{self.line}: {self.subject}: {self.message} (nearest valid name: {self.nearest})"


@dataclass(frozen=True)
class Advisory:
    """A warning: worth reading, never a failure (a deprecation, or bracketing schema versions that disagree)."""

    file: Path
    line: int
    message: str

    def __str__(self) -> str:
        where = self.file.relative_to(REPO) if self.file.is_relative_to(REPO) else self.file
        return f"{where}:{self.line}: {self.message}"


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    warnings: list[Advisory] = field(default_factory=list)
    checked: list[Path] = field(default_factory=list)  # module directories
    schemas: set[str] = field(default_factory=set)  # "source version" of every schema used

    def __str__(self) -> str:
        return "\n".join(str(f) for f in self.findings)


def nearest(name: str, candidates: Iterable[str]) -> str:
    """The candidate most like `name` (difflib's ratio), so that every finding names a valid alternative."""
    options = sorted(set(candidates))
    if not options:
        return "(none: nothing is allowed here)"
    match = difflib.get_close_matches(name, options, n=1, cutoff=0.0)
    return match[0] if match else options[0]


# --- Literal conversion (schema_supplement: Terraform's conversion rules) -----------------------------------


def _describe(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= 40 else text[:37] + "..."


def conversion_problem(value: Any, wanted: Any) -> str | None:
    """Why this literal cannot convert to the schema type `wanted`, or None (fine, or not a literal)."""
    if value is None or wanted == "any":
        return None
    if isinstance(value, str) and not value.startswith('"'):
        return None  # an expression: its type is not known here
    if isinstance(value, str):
        text = value[1:-1]
        if wanted == "string":
            return None
        if _TEMPLATE.search(text) or text.startswith("<<"):
            return None if wanted in ("number", "bool") else f"a string cannot convert to {_type_name(wanted)}"
        if wanted == "number":
            return None if _NUMBER.fullmatch(text) else f'the string "{_describe(text)}" is not a number'
        if wanted == "bool":
            return None if text in lang.BOOL_STRINGS else f'the string "{_describe(text)}" is not true or false'
        return f"a string cannot convert to {_type_name(wanted)}"
    if isinstance(value, bool):
        return None if wanted in ("bool", "string") else f"a bool cannot convert to {_type_name(wanted)}"
    if isinstance(value, (int, float)):
        return None if wanted in ("number", "string") else f"a number cannot convert to {_type_name(wanted)}"
    if isinstance(value, list):
        if not (isinstance(wanted, list) and wanted[0] == "list"):
            return f"a list cannot convert to {_type_name(wanted)}"
        for index, element in enumerate(value):
            problem = conversion_problem(element, wanted[1])
            if problem:
                return f"element {index}: {problem}"
        return None
    if isinstance(value, dict):
        items = {k: v for k, v in value.items() if k not in _META_KEYS}
        if isinstance(wanted, list) and wanted[0] == "map":
            for key, element in items.items():
                problem = conversion_problem(element, wanted[1])
                if problem:
                    return f"key {_unquote(str(key))}: {problem}"
            return None
        if isinstance(wanted, dict):
            fields = wanted["o"]
            for key, element in items.items():
                name = _unquote(str(key))
                if name.startswith("${"):
                    continue  # a computed key
                if name not in fields:
                    return f'the object has no attribute "{name}" (nearest: {nearest(name, fields)})'
                problem = conversion_problem(element, fields[name])
                if problem:
                    return f"attribute {name}: {problem}"
            return None
        return f"an object cannot convert to {_type_name(wanted)}"
    return None


def _type_name(wanted: Any) -> str:
    if isinstance(wanted, str):
        return wanted
    if isinstance(wanted, dict):
        return "object"
    return f"{wanted[0]}({_type_name(wanted[1])})"


def _object_list(wanted: Any) -> dict[str, Any] | None:
    """The fields of `wanted` if it is a list (or set) of objects: such an argument may be written as blocks."""
    if isinstance(wanted, list) and wanted[0] == "list" and isinstance(wanted[1], dict):
        return wanted[1]["o"]
    return None


# --- The check ----------------------------------------------------------------------------------------------


@dataclass
class _Context:
    """One resource (or provider, data source) checked against one schema version."""

    kind: str  # "resource", "data" or "provider"
    type: str
    subject: str
    schema: ProviderSchema
    findings: list[Finding] = field(default_factory=list)
    used: list[tuple[str, Attribute | Block]] = field(default_factory=list)  # dotted path -> where, for deprecations

    def add(self, where: Attribute | Block, code: str, path: str, message: str, near: str) -> None:
        subject = f"{self.subject}: {path}" if path else self.subject
        self.findings.append(Finding(where.file, where.line, code, subject, message, near))


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _check_body(
    ctx: _Context,
    body: Body,
    block: dict[str, Any] | None,
    path: str,
    owner: Block,
    meta_arguments: frozenset[str] = frozenset(),
    meta_blocks: frozenset[str] = frozenset(),
) -> None:
    if block is None:
        return  # a block whose content the assembly does not describe
    attributes: dict[str, Any] = block.get("a", {})
    blocks: dict[str, Any] = block.get("b", {})
    names = set(attributes) | set(blocks)

    for attribute in body.attributes:
        here = _join(path, attribute.name)
        if attribute.name in meta_arguments:
            continue
        if attribute.name in attributes:
            ctx.used.append((here, attribute))
            problem = conversion_problem(attribute.value, attributes[attribute.name][0])
            if problem:
                wanted = _type_name(attributes[attribute.name][0])
                ctx.add(attribute, "wrong-type", here, f"expects {wanted}: {problem}", attribute.name)
        elif attribute.name in blocks:
            ctx.add(
                attribute,
                "block-as-argument",
                here,
                f'"{attribute.name}" is a block: write {attribute.name} {{ ... }}',
                attribute.name,
            )
        else:
            ctx.add(
                attribute,
                "unknown-argument",
                here,
                f'unsupported argument "{attribute.name}"',
                nearest(attribute.name, names | meta_arguments),
            )

    counts: Counter[str] = Counter()
    dynamic: set[str] = set()
    for nested in body.blocks:
        here = _join(path, nested.type)
        if nested.type in meta_blocks:
            _check_meta_block(ctx, nested, here)
        elif nested.type == "dynamic":
            name = nested.labels[0] if nested.labels else ""
            dynamic.add(name)
            _check_dynamic(ctx, nested, _join(path, name), blocks.get(name), attributes.get(name), names)
        elif nested.type in blocks:
            counts[nested.type] += 1
            single, _, content = blocks[nested.type]
            ctx.used.append((here, nested))
            if single and counts[nested.type] == 2:
                ctx.add(
                    nested,
                    "too-many-blocks",
                    here,
                    f'at most one "{nested.type}" block is allowed, this is the second',
                    nested.type,
                )
            _check_body(ctx, nested.body, content, here, nested)
        elif nested.type in attributes and _object_list(attributes[nested.type][0]) is not None:
            counts[nested.type] += 1  # an argument of object-list type written as blocks: allowed, see above
            ctx.used.append((here, nested))
            fields = _object_list(attributes[nested.type][0]) or {}
            _check_body(ctx, nested.body, {"a": {k: [v, 0] for k, v in fields.items()}}, here, nested)
        elif nested.type in attributes:
            ctx.add(
                nested,
                "argument-as-block",
                here,
                f'"{nested.type}" is an argument: write {nested.type} = ...',
                nested.type,
            )
        else:
            ctx.add(
                nested,
                "unknown-block",
                here,
                f'blocks of type "{nested.type}" are not expected here',
                nearest(nested.type, (set(blocks) | meta_blocks) or names),
            )

    given = {a.name for a in body.attributes} | set(counts) | dynamic
    for name, (_, required) in sorted(attributes.items()):
        if required and name not in given:
            ctx.add(
                owner,
                "missing-argument",
                _join(path, name),
                f'the argument "{name}" is required, but no definition was found',
                name,
            )
    for name, (_, required, _) in sorted(blocks.items()):
        if required and name not in given:
            ctx.add(owner, "missing-block", _join(path, name), f'at least one "{name}" block is required', name)


def _check_dynamic(
    ctx: _Context, dyn: Block, path: str, block: list[Any] | None, attribute: list[Any] | None, names: set[str]
) -> None:
    name = dyn.labels[0] if dyn.labels else ""
    if block is None and (attribute is None or _object_list(attribute[0]) is None):
        ctx.add(
            dyn,
            "unknown-block",
            path,
            f'dynamic "{name}": blocks of type "{name}" are not expected here',
            nearest(name, names),
        )
        return
    for attribute_ in dyn.body.attributes:
        if attribute_.name not in lang.DYNAMIC_ARGUMENTS:
            ctx.add(
                attribute_,
                "unknown-argument",
                f"{path}.{attribute_.name}",
                f'unsupported argument "{attribute_.name}" in a dynamic block',
                nearest(attribute_.name, lang.DYNAMIC_ARGUMENTS),
            )
    for required in sorted(lang.DYNAMIC_REQUIRED_ARGUMENTS - {a.name for a in dyn.body.attributes}):
        ctx.add(dyn, "missing-argument", f"{path}.{required}", f'a dynamic block needs "{required}"', required)
    contents = [b for b in dyn.body.blocks if b.type == "content"]
    for other in dyn.body.blocks:
        if other.type != "content":
            ctx.add(other, "unknown-block", f"{path}.{other.type}", 'a dynamic block holds only "content"', "content")
    if len(contents) != 1:
        ctx.add(
            dyn,
            "missing-block" if not contents else "too-many-blocks",
            f"{path}.content",
            f'a dynamic block needs exactly one "content" block, found {len(contents)}',
            "content",
        )
    if not contents:
        return
    if block is not None:
        ctx.used.append((path, dyn))
        _check_body(ctx, contents[0].body, block[2], path, contents[0])
    else:
        fields = _object_list(attribute[0]) or {}
        _check_body(ctx, contents[0].body, {"a": {k: [v, 0] for k, v in fields.items()}}, path, contents[0])


def _check_meta_block(ctx: _Context, meta: Block, path: str) -> None:
    if meta.type != "lifecycle":
        return  # connection and provisioner bodies belong to provisioners, which this check does not know
    allowed = lang.RESOURCE_LIFECYCLE_ARGUMENTS if ctx.kind == "resource" else lang.DATA_LIFECYCLE_ARGUMENTS
    for attribute in meta.body.attributes:
        if attribute.name not in allowed:
            ctx.add(
                attribute,
                "unknown-argument",
                f"{path}.{attribute.name}",
                f'"{attribute.name}" is not a lifecycle argument here',
                nearest(attribute.name, allowed | lang.LIFECYCLE_BLOCKS),
            )
    for condition in meta.body.blocks:
        here = f"{path}.{condition.type}"
        if condition.type not in lang.LIFECYCLE_BLOCKS:
            ctx.add(
                condition,
                "unknown-block",
                here,
                f'blocks of type "{condition.type}" are not expected in lifecycle',
                nearest(condition.type, lang.LIFECYCLE_BLOCKS | allowed),
            )
            continue
        given = {a.name for a in condition.body.attributes}
        for attribute in condition.body.attributes:
            if attribute.name not in lang.CONDITION_ARGUMENTS:
                ctx.add(
                    attribute,
                    "unknown-argument",
                    f"{here}.{attribute.name}",
                    f'unsupported argument "{attribute.name}"',
                    nearest(attribute.name, lang.CONDITION_ARGUMENTS),
                )
        for missing in sorted(lang.CONDITION_ARGUMENTS - given):
            ctx.add(
                condition, "missing-argument", f"{here}.{missing}", f'the argument "{missing}" is required', missing
            )


class Checker:
    """Checks root modules and the local modules they call; one Report for all of them."""

    def __init__(self) -> None:
        self.report = Report()
        self._visited: set[tuple[Path, tuple[tuple[str, str], ...]]] = set()

    def check_root(self, root: Path) -> None:
        module = load_module(root)
        pins: dict[str, str] = {}
        for local_name, spec in module.required_providers().items():
            source = spec.get("source", f"hashicorp/{local_name}")
            exact = _EXACT_VERSION.fullmatch(spec.get("version", "").strip())
            if exact:
                pins[source] = exact.group(1)
            else:
                block = module.blocks("terraform")[0]
                self.report.findings.append(
                    Finding(
                        block.file,
                        block.line,
                        "unpinned-provider",
                        f"required_providers {local_name}",
                        f"a root module pins every provider exactly (found {spec.get('version')!r}), "
                        "which is what makes one schema the right one",
                        local_name,
                    )
                )
        self._check_module(module, pins)

    def _check_module(self, module: Module, pins: dict[str, str]) -> None:
        key = (module.path, tuple(sorted(pins.items())))
        if key in self._visited:
            return
        self._visited.add(key)
        if module.path not in self.report.checked:
            self.report.checked.append(module.path)
        for stray in module.body.attributes:
            self.report.findings.append(
                Finding(
                    stray.file,
                    stray.line,
                    "unknown-argument",
                    f"top-level {stray.name}",
                    "arguments belong inside a block",
                    nearest(stray.name, lang.TOP_LEVEL_BLOCKS),
                )
            )
        for top in module.body.blocks:
            if top.type not in lang.TOP_LEVEL_BLOCKS:
                self.report.findings.append(
                    Finding(
                        top.file,
                        top.line,
                        "unknown-block",
                        f"top-level {top.type}",
                        f'blocks of type "{top.type}" are not expected in a .tf file',
                        nearest(top.type, lang.TOP_LEVEL_BLOCKS),
                    )
                )
            elif top.type in ("resource", "data"):
                self._check_resource(module, top, pins)
            elif top.type == "provider":
                self._check_provider(module, top, pins)
            elif top.type == "module":
                self._check_call(module, top, pins)

    def _schemas(self, where: Block, source: str, pins: dict[str, str], subject: str) -> list[ProviderSchema] | None:
        if source == lang.BUILTIN_SOURCE:
            raw = lang.BUILTIN_SCHEMA
            return [
                ProviderSchema(source, raw["version"], raw["package"], raw["provider"], raw["resources"], raw["data"])
            ]
        if source not in pins:
            self.report.findings.append(
                Finding(
                    where.file,
                    where.line,
                    "unpinned-provider",
                    subject,
                    f"{source} is not pinned in the root module's required_providers",
                    nearest(source, pins),
                )
            )
            return None
        schemas = [load(source, version) for version in schema_versions(source, pins[source])]
        self.report.schemas.update(schema.label for schema in schemas)
        return schemas

    def _run(self, schemas: list[ProviderSchema], check) -> None:
        """Runs `check` once per schema version; keeps what every version finds, and warns of the rest."""
        contexts: list[_Context] = [check(schema) for schema in schemas]
        agreed = set.intersection(*({f.key for f in ctx.findings} for ctx in contexts))
        seen: set[tuple[Any, ...]] = set()
        for ctx in contexts:
            for finding in ctx.findings:
                if finding.key in agreed and finding.key not in seen:
                    seen.add(finding.key)
                    self.report.findings.append(finding)
                elif finding.key not in agreed:
                    others = ", ".join(c.schema.version for c in contexts if c is not ctx)
                    self.report.warnings.append(
                        Advisory(
                            finding.file,
                            finding.line,
                            f"{finding.subject}: {finding.message} in {ctx.schema.label} but not in {others}: "
                            f"the pinned version may go either way (nearest valid name: {finding.nearest})",
                        )
                    )
        self._deprecations(contexts[0])

    def _deprecations(self, ctx: _Context) -> None:
        for entry in lang.DEPRECATIONS:
            if (entry.source, entry.kind, entry.type) != (ctx.schema.source, ctx.kind, ctx.type):
                continue
            if ctx.schema.version == "built-in" or _version(ctx.schema.version) < _version(entry.since):
                continue
            for path, where in ctx.used:
                if path == entry.path:
                    self.report.warnings.append(
                        Advisory(
                            where.file,
                            where.line,
                            f"{ctx.subject}: {entry.path} is deprecated since {entry.source} {entry.since}; use "
                            f"{entry.replacement} ({entry.reference})",
                        )
                    )

    def _check_resource(self, module: Module, top: Block, pins: dict[str, str]) -> None:
        if len(top.labels) != 2:
            self.report.findings.append(
                Finding(
                    top.file,
                    top.line,
                    "labels",
                    f"{top.type} {' '.join(top.labels)}",
                    f"a {top.type} block takes two labels, type and name",
                    "type, name",
                )
            )
            return
        kind, (type_, name) = top.type, top.labels
        subject = f"{'data ' if kind == 'data' else 'resource '}{type_}.{name}"
        provider_ref = top.body.attribute("provider")
        local_name = type_.split("_")[0]
        if provider_ref is not None and isinstance(provider_ref.value, str):
            local_name = provider_ref.value.strip("${}").split(".")[0]
        schemas = self._schemas(top, module.source_of(local_name), pins, subject)
        if not schemas:
            return
        if top.body.attribute("count") and top.body.attribute("for_each"):
            self.report.findings.append(
                Finding(
                    top.file,
                    top.line,
                    "count-and-for_each",
                    subject,
                    "count and for_each cannot both be set",
                    "for_each",
                )
            )

        def check(schema: ProviderSchema) -> _Context:
            ctx = _Context(kind, type_, subject, schema)
            table = schema.resources if kind == "resource" else schema.data
            if type_ not in table:
                what = "resource type" if kind == "resource" else "data source"
                ctx.add(top, "unknown-type", "", f'{schema.label} has no {what} "{type_}"', nearest(type_, table))
                return ctx
            meta_blocks = lang.RESOURCE_META_BLOCKS if kind == "resource" else lang.DATA_META_BLOCKS
            _check_body(ctx, top.body, table[type_], "", top, lang.RESOURCE_META_ARGUMENTS, meta_blocks)
            return ctx

        self._run(schemas, check)

    def _check_provider(self, module: Module, top: Block, pins: dict[str, str]) -> None:
        local_name = top.labels[0] if top.labels else ""
        subject = f"provider {local_name}"
        schemas = self._schemas(top, module.source_of(local_name), pins, subject)
        if not schemas:
            return

        def check(schema: ProviderSchema) -> _Context:
            ctx = _Context("provider", local_name, subject, schema)
            _check_body(ctx, top.body, schema.provider, "", top, lang.PROVIDER_META_ARGUMENTS)
            return ctx

        self._run(schemas, check)

    def _check_call(self, module: Module, top: Block, pins: dict[str, str]) -> None:
        name = top.labels[0] if top.labels else ""
        subject = f"module {name}"
        source_attr = top.body.attribute("source")
        if source_attr is None:
            self.report.findings.append(
                Finding(
                    top.file,
                    top.line,
                    "missing-argument",
                    f"{subject}: source",
                    'the argument "source" is required',
                    "source",
                )
            )
            return
        source = _unquote(str(source_attr.value))
        if not source.startswith(("./", "../")):
            self.report.warnings.append(
                Advisory(top.file, top.line, f"{subject}: {source} is not a local module: not checked")
            )
            return
        target = (module.path / source).resolve()
        if not any(target.glob("*.tf")):
            self.report.findings.append(
                Finding(
                    source_attr.file, source_attr.line, "unknown-module", subject, f"no .tf files in {source}", source
                )
            )
            return
        called = load_module(target)
        variables = {v.labels[0]: v for v in called.blocks("variable") if v.labels}
        for attribute in top.body.attributes:
            if attribute.name in lang.MODULE_META_ARGUMENTS:
                continue
            if attribute.name not in variables:
                self.report.findings.append(
                    Finding(
                        attribute.file,
                        attribute.line,
                        "unknown-module-input",
                        f"{subject}: {attribute.name}",
                        f'the module {source} has no variable "{attribute.name}"',
                        nearest(attribute.name, variables),
                    )
                )
        for block in top.body.blocks:
            self.report.findings.append(
                Finding(
                    block.file,
                    block.line,
                    "unknown-block",
                    f"{subject}: {block.type}",
                    "a module call takes arguments only, no blocks",
                    nearest(block.type, variables),
                )
            )
        given = {a.name for a in top.body.attributes}
        for variable_name, variable in sorted(variables.items()):
            if variable.body.attribute("default") is None and variable_name not in given:
                self.report.findings.append(
                    Finding(
                        top.file,
                        top.line,
                        "missing-module-input",
                        f"{subject}: {variable_name}",
                        f'the variable "{variable_name}" of {source} has no default and is not given',
                        variable_name,
                    )
                )
        self._check_module(called, pins)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


def check(roots: Iterable[Path]) -> Report:
    """The findings and warnings of these root modules and every local module they call."""
    checker = Checker()
    for root in roots:
        checker.check_root(Path(root))
    checker.report.findings.sort(key=lambda f: (str(f.file), f.line, f.subject))
    checker.report.warnings.sort(key=lambda w: (str(w.file), w.line))
    return checker.report
