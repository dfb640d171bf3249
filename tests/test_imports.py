"""The shape of the source: no import circle anywhere in src/ (imports inside functions count too), and no module
outside the families package that decides by a family's name."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import dgenerate

SOURCE = Path(dgenerate.__file__).parent


def _modules() -> dict[str, Path]:
    found = {}
    for path in SOURCE.rglob("*.py"):
        parts = path.relative_to(SOURCE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(path: Path, name: str, modules: dict[str, Path]) -> set[str]:
    """The dgenerate modules `path` imports, anywhere in it; `from a import b` counts as a.b when that is a module."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return {each for each in found if each in modules and each != name}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_itself_through_others() -> None:
    modules = _modules()
    graph = {name: _imports(path, name, modules) for name, path in modules.items()}
    assert "dgenerate.resolve" in graph["dgenerate.render.generate"], "the graph sees imports inside functions"
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


# A comparison with a family's model type or checkpoint name, the old `.flow` test, or duck typing on a pipeline.
_FAMILY_TEST = re.compile(r'"torch(-sdxl|-sd3|-flux)?"|"(sd1|sd2|sd3|flux|sdxl-base|sdxl-refiner)"|\.flow\b|'
                          r'"unet" (not )?in|takes\(pipeline')


def test_only_the_families_package_names_a_family() -> None:
    naming = [f"{path.relative_to(SOURCE)}:{number}: {line.strip()}"
              for path in SOURCE.rglob("*.py") if "families" not in path.parts and path.name != "make_configs.py"
              for number, line in enumerate(path.read_text().splitlines(), start=1) if _FAMILY_TEST.search(line)]
    assert naming == []
