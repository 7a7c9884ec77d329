"""The structural rules of docs/architecture.md that import-linter does not check: no
import cycle between modules, and no module over 800 lines. (The layer rules themselves
are import-linter contracts in pyproject.toml, run by ``make imports``.)"""

from __future__ import annotations

from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("cleanapp_geo", "cleanapp_api")
MAX_LINES = 800
#: Modules still over the limit, each owned by work in progress elsewhere; shrink, never grow.
OVER_LIMIT: dict[str, int] = {}


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES)


def _imports(graph: grimp.ImportGraph) -> dict[str, list[str]]:
    """Module → the modules it imports directly, without a package's imports of its own
    modules (its re-exports): a package's ``__init__`` importing its modules is not a
    cycle, a module importing its package back is (the package is then half-initialised)."""
    return {
        module: sorted(
            m for m in graph.find_modules_directly_imported_by(module)
            if not m.startswith(module + ".")
        )
        for module in sorted(graph.modules)
    }  # fmt: skip


def _cycles(imports: dict[str, list[str]]) -> list[list[str]]:
    """Every strongly connected set of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def enter(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)

    for root in imports:
        if root in index:
            continue
        enter(root)
        work = [(root, iter(imports[root]))]
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    enter(child)
                    work.append((child, iter(imports.get(child, []))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycle(graph: grimp.ImportGraph) -> None:
    assert _cycles(_imports(graph)) == []


def test_the_cycle_finder_finds_cycles() -> None:
    imports = {"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"], "e": ["e.x"], "e.x": []}
    assert _cycles(imports) == [["a", "b", "c"]]


def test_no_module_over_800_lines() -> None:
    long = {
        str(path.relative_to(ROOT)): n
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
        and (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert {k: v for k, v in long.items() if v > OVER_LIMIT.get(k, MAX_LINES)} == {}
