"""The layers descend: no import circle among `architecture`, `plan`, `scenario` and `packages`, and
the model layer (architecture, plan, model/, packages/) reaches neither `scenario/` nor `runtime/`.

Read from the source, not from sys.modules: every `import` counts, at module level, inside a
function or under TYPE_CHECKING, because each is a dependency someone has to keep true.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = "nanoservices"
# A package of the tree counts as one node; every other module is a node of its own.
GROUPS = ("scenario", "packages", "model", "runtime")
CIRCLE_FREE = {"architecture", "plan", "scenario", "packages"}
MODEL_LAYER = {"architecture", "plan", "model", "packages"}
ABOVE_THE_MODEL = {"scenario", "runtime"}

Graph = dict[str, set[str]]


def node(module: str) -> str:
    """`nanoservices.scenario.actions` -> `scenario`; `nanoservices.plan` -> `plan`."""
    parts = module.split(".")[1:]
    if not parts:
        return ROOT
    return parts[0] if parts[0] in GROUPS else ".".join(parts)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(tree: ast.Module, module: str, is_package: bool) -> Iterable[str]:
    """Every module of ours that `module` imports, and the packages whose __init__ that runs."""
    here = module.split(".") if is_package else module.split(".")[:-1]
    for stmt in ast.walk(tree):
        names: list[str] = []
        if isinstance(stmt, ast.Import):
            names = [alias.name for alias in stmt.names]
        elif isinstance(stmt, ast.ImportFrom):
            base = stmt.module or ""
            if stmt.level:
                base = ".".join([*here[: len(here) - stmt.level + 1], *([base] if base else [])])
            names = [base] + [f"{base}.{alias.name}" for alias in stmt.names]  # `from pkg import mod`
        for name in names:
            parts = name.split(".")
            for i in range(2, len(parts) + 1):  # importing a.b.c runs a/b/__init__ too; the root
                yield ".".join(parts[:i])  # __init__ (a) imports nothing: its names load lazily


def import_graph() -> Graph:
    files = {module_name(path): path for path in (SRC / ROOT).rglob("*.py")}
    graph: Graph = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        edges = graph.setdefault(node(module), set())
        for target in imported(tree, module, path.name == "__init__.py"):
            if target in files and node(target) != node(module):
                edges.add(node(target))
    return graph


def circles(graph: Graph) -> list[set[str]]:
    """The strongly connected components of more than one node (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            current, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[current] = min(low[current], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[current])
            if low[current] == index[current]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == current:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


def reachable(graph: Graph, start: str) -> set[str]:
    seen, pending = {start}, [start]
    while pending:
        for target in graph.get(pending.pop(), ()):
            if target not in seen:
                seen.add(target)
                pending.append(target)
    return seen


def circles_through_the_model(graph: Graph) -> list[set[str]]:
    return [component for component in circles(graph) if component & CIRCLE_FREE]


def model_reaching_up(graph: Graph) -> dict[str, set[str]]:
    reach = {name: reachable(graph, name) & ABOVE_THE_MODEL for name in MODEL_LAYER}
    return {name: up for name, up in reach.items() if up}


def test_no_import_circle_among_architecture_plan_scenario_and_packages() -> None:
    assert circles_through_the_model(import_graph()) == []


def test_the_model_layer_imports_neither_the_scenario_nor_the_runtime() -> None:
    assert model_reaching_up(import_graph()) == {}


def test_the_graph_sees_function_level_and_type_only_imports() -> None:
    graph = import_graph()
    assert "packages" in graph["architecture"]  # known_packages, imported inside a function
    assert "architecture" in graph["plan"]  # under TYPE_CHECKING only
    assert "plan" in graph["scenario"]


def test_an_import_of_the_scenario_from_the_plan_would_be_caught() -> None:
    """The old circle (plan -> scenario.actions for VersionBehaviour), put back by hand."""
    graph = import_graph()
    graph["plan"].add("scenario")

    assert any({"plan", "scenario"} <= component for component in circles_through_the_model(graph))
    assert model_reaching_up(graph)["plan"] == {"scenario"}
