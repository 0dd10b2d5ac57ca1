"""No import cycles inside the project: the module import graph, read statically, is acyclic.

Every ``import`` counts, including those inside functions (a lazy import only hides a cycle, it does not
remove it). ``from pkg import name`` points at ``pkg.name`` when that is a module, else at ``pkg`` itself.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["rubrics", "discriminator", "annotation", "grpo", "flows"]
# Cycles known and waiting for their fix (each a sorted list of modules). A new cycle fails; so does one listed
# here that is gone, so the list only shrinks.
KNOWN_CYCLES: dict[str, list[list[str]]] = {}


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _all_modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports."""
    modules = _all_modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                source = _resolve(module, path, node)
                for alias in node.names:
                    sub = f"{source}.{alias.name}"
                    targets.append(sub if sub in modules else source)
            graph[module].update(t for t in targets if t in modules and t != module)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def test_cycle_finder_names_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycles_inside_package(package):
    graph = import_graph()
    inside = {m: {t for t in ts if t.split(".")[0] == package} for m, ts in graph.items() if m.split(".")[0] == package}
    found, known = cycles(inside), KNOWN_CYCLES.get(package, [])
    new = [c for c in found if c not in known]
    assert not new, f"import cycles in {package}/: " + "; ".join(" <-> ".join(c) for c in new)
    gone = [c for c in known if c not in found]
    assert not gone, f"fixed, remove from KNOWN_CYCLES: {gone}"


def test_no_import_cycles_across_packages():
    """Imports between packages point downward (tests/project/test_layering.py), so no cycle spans two packages."""
    known = [c for cs in KNOWN_CYCLES.values() for c in cs]
    found = [c for c in cycles(import_graph()) if c not in known]
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)
