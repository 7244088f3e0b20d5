"""The package's layers (docs/architecture.md), read from the source with ``ast``: no module
imports a package of a higher layer, the packages import each other without cycles, and the
reading side (results, regress, report, merge) imports no torch; and, in a fresh interpreter,
building the command line loads none of the heavy libraries."""

from __future__ import annotations

import ast
import graphlib
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "bench"
# Lowest first; a module may import its own layer and those below it.
LAYERS = (
    ("errors", "text_table"),
    ("results", "models"),
    ("suite",),
    ("data", "measure", "recipes", "regress", "report", "export"),
    ("run",),
    ("bench", "commands", "cli", "__main__"),  # "bench": the package's public names (load_run)
)
LAYER_OF = {part: level for level, parts in enumerate(LAYERS) for part in parts}
TORCH_FREE = ("bench.results", "bench.regress", "bench.report", "bench.run.merge")
TORCH = {"torch", "torchvision", "fvcore"}
HEAVY = ("numpy", "scipy", "pandas", "torch")
"""Libraries that a command loads only when its work needs them, never to build the parser."""


@cache
def modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its ``__init__``)."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def part_of(module: str) -> str:
    """The package (or top-level module) of ``bench`` that ``module`` belongs to."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    """The modules an import statement loads (a ``from`` import of a submodule loads it)."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    assert node.module is not None and node.level == 0, "bench uses absolute imports only"
    yield node.module
    for alias in node.names:
        if f"{node.module}.{alias.name}" in modules():
            yield f"{node.module}.{alias.name}"


@cache
def imports(module: str) -> tuple[tuple[str, bool], ...]:
    """(imported module, at import time?) for each import of ``module`` outside
    ``if TYPE_CHECKING:``; imports inside functions run later, when called."""
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, at_import: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for orelse in child.orelse:
                    visit(orelse, at_import)
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.extend((name, at_import) for name in _imported(child))
            inner = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            visit(child, at_import and not inner)

    visit(ast.parse(modules()[module].read_text(encoding="utf-8")), True)
    return tuple(found)


def loaded_on_import(module: str) -> set[str]:
    """Every module importing ``module`` loads: its imports made at import time, their
    parent packages, and theirs in turn."""
    seen: set[str] = set()
    stack = [module]
    while stack:
        name = stack.pop()
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            prefix = ".".join(parts[:i])
            if prefix not in seen:
                seen.add(prefix)
                if prefix in modules():
                    stack += [m for m, at_import in imports(prefix) if at_import]
    return seen


def test_every_part_of_the_package_has_a_layer() -> None:
    assert {part_of(m) for m in modules()} == set(LAYER_OF)


@pytest.mark.parametrize("module", sorted(modules()))
def test_no_module_imports_a_higher_layer(module: str) -> None:
    own = LAYER_OF[part_of(module)]
    higher = [
        name
        for name, _ in imports(module)
        if name.split(".")[0] == "bench" and LAYER_OF[part_of(name)] > own
    ]
    assert higher == []


def test_packages_import_each_other_without_cycles() -> None:
    graph: dict[str, set[str]] = {}
    for module in modules():
        targets = {part_of(n) for n, _ in imports(module) if n.split(".")[0] == "bench"}
        graph.setdefault(part_of(module), set()).update(targets - {part_of(module)})
    graphlib.TopologicalSorter(graph).prepare()  # raises CycleError on a cycle


@pytest.mark.parametrize("root", TORCH_FREE)
def test_the_reading_side_imports_no_torch(root: str) -> None:
    chosen = [m for m in modules() if m == root or m.startswith(f"{root}.")]
    loaded = set().union(*(loaded_on_import(m) for m in chosen))
    assert {name.split(".")[0] for name in loaded} & TORCH == set()


def test_the_checks_see_torch_where_it_is_imported() -> None:
    assert "torch" in loaded_on_import("bench.run.job")
    assert "bench.suite.settings" in loaded_on_import("bench.suite.matrix")
    assert ("bench.report", False) in imports("bench.commands.report")


def test_building_the_command_line_loads_no_heavy_library() -> None:
    script = (
        "import sys; from bench.cli import get_args_parser; get_args_parser(); "
        f"print(sorted(set({HEAVY!r}) & set(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout == "[]\n"
