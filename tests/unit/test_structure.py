"""The shape of the code: no import cycle inside mcv_core, every direct dependency declared in pyproject.toml,
and no list of service or target names outside the modules that own them."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CORE = REPO / "mcv_core"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(imported module, at module level) for every import in a file; relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    top_level = set(map(id, tree.body))
    guarded = set()
    for node in tree.body:  # `if TYPE_CHECKING:` blocks are not imports at run time
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            guarded.update(id(n) for n in ast.walk(node))
    found = []
    for node in ast.walk(tree):
        if id(node) in guarded:
            continue
        level_ok = id(node) in top_level
        if isinstance(node, ast.Import):
            found.extend((alias.name, level_ok) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
                if node.module is None:  # from . import x: each x is a module
                    found.extend((f"{name}.{alias.name}", level_ok) for alias in node.names)
                    continue
            else:
                name = node.module or ""
            found.append((name, level_ok))
    return found


def _core_graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in CORE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges = set()
        for imported, at_top in _imports(path):
            while imported and imported not in modules:
                imported = imported.rpartition(".")[0]
            if imported and imported != name and imported.startswith("mcv_core"):
                edges.add(imported)
        graph[name] = edges
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle_inside_mcv_core() -> None:
    graph = _core_graph()
    assert "mcv_core.records" in graph and graph["mcv_core.history"], "the walk found the modules"
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def _third_party_imports() -> set[str]:
    names = set()
    for folder in ("mcv_core", "pages", "lambda", "sagemaker_model"):
        for path in (REPO / folder).rglob("*.py"):
            for imported, _ in _imports(path):
                top = imported.split(".")[0]
                if top and top not in sys.stdlib_module_names and top not in ("mcv_core", "pages", "sagemaker_model", "inference"):
                    names.add(top)
    names.update(top for top, _ in ((i.split(".")[0], 0) for i, _ in _imports(REPO / "app.py")) if top not in sys.stdlib_module_names)
    return names


# Imported only when present: azure-identity (Entra ID sign-in, clients.py) and the SageMaker container's own
# inference toolkit (sagemaker_model/code/inference.py runs without it here).
OPTIONAL = {"azure", "sagemaker_inference"}


def test_every_direct_dependency_is_declared() -> None:
    declared = {
        re.split(r"[\[=<>~!]", spec, maxsplit=1)[0].lower().replace("_", "-")
        for spec in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    }
    dists = packages_distributions()
    missing = {}
    for module in sorted(_third_party_imports() - OPTIONAL):
        owners = {d.lower().replace("_", "-") for d in dists.get(module, [])}
        assert owners, f"{module} is imported but no installed distribution provides it"
        if not owners & declared:
            missing[module] = sorted(owners)
    assert not missing, f"imported directly but not in pyproject.toml dependencies: {missing}"
    assert "scipy" in declared


def test_no_list_of_service_names_outside_their_home() -> None:
    """Service names appear as data, or in a test of a target's service, only where services and the catalogue's
    defaults live: elsewhere what differs between services is asked of the service (a property of its class)."""
    homes = {"services", "local", "targets.py", "models.py", "config.py", "stack.py", "clients.py"}
    name = r"""["'](?:sagemaker|bedrock|azure_openai|openai)["']"""
    pattern = re.compile(rf"{name}\s*,\s*{name}|[!=]=\s*{name}|{name}\s*[!=]=")
    offenders = []
    for path in CORE.rglob("*.py"):
        relative = path.relative_to(CORE)
        if relative.parts[0] in homes:
            continue
        if pattern.search(path.read_text(encoding="utf-8")):
            offenders.append(str(relative))
    for path in (REPO / "pages").glob("*.py"):
        if pattern.search(path.read_text(encoding="utf-8")):
            offenders.append(str(path.relative_to(REPO)))
    assert not offenders, f"lists of service names outside their home: {offenders}"
