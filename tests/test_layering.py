"""Layering that runs one way: the import graph of actsearch, read from the source.

Every ``import`` counts, at module level or inside a function: a cycle hidden in a
function-local import is still a cycle.  Modules are grouped by their top-level
name under ``actsearch`` (``actsearch.compile._backends`` is ``compile``;
``search_spaces/`` and ``surrogates/`` are installed as ``actsearch.search_spaces``
and ``actsearch.surrogates``).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: installed package name -> folder in the repository
PACKAGES = {"actsearch": ROOT / "actsearch", "actsearch.search_spaces": ROOT / "search_spaces",
            "actsearch.surrogates": ROOT / "surrogates"}

#: cycles among top-level modules we accept, each with its reason (none today)
ALLOWED_CYCLES: dict[frozenset[str], str] = {}

#: the symbolic core: candidates, the parser, the function table and its text printer
CORE = ("symbolic",)
#: what the core must not reach, directly or through other modules
ABOVE_CORE = ("compile", "search", "store", "tasks")


def _modules() -> dict[str, Path]:
    out = {}
    for package, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join([package, *parts])] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The actsearch modules ``name`` imports (the nearest known module of each target)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target:
                found.add(target)
    return found


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "actsearch"


def unit_graph() -> dict[str, dict[str, set[str]]]:
    """top-level module -> the top-level modules it imports -> the modules whose import it is."""
    modules = _modules()
    graph: dict[str, dict[str, set[str]]] = {}
    for name, path in modules.items():
        for target in _imports(name, path, modules):
            a, b = _unit(name), _unit(target)
            if a != b:
                graph.setdefault(a, {}).setdefault(b, set()).add(name)
    return graph


def cycles(graph) -> list[frozenset[str]]:
    """The strongly connected components with more than one member (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            members = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                members.add(w)
                if w == v:
                    break
            if len(members) > 1:
                out.append(frozenset(members))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _describe(graph, members) -> str:
    edges = [f"{a} -> {b} (in {', '.join(sorted(graph[a][b]))})"
             for a in sorted(members) for b in sorted(graph.get(a, {})) if b in members]
    return "; ".join(edges)


def test_no_import_cycles_among_top_level_modules():
    graph = unit_graph()
    found = [c for c in cycles(graph) if c not in ALLOWED_CYCLES]
    assert not found, "import cycles: " + " | ".join(_describe(graph, c) for c in found)


def test_symbolic_core_reaches_nothing_above_it():
    graph = unit_graph()
    for core in CORE:
        seen, todo = set(), [core]
        while todo:
            for b in graph.get(todo.pop(), {}):
                if b not in seen:
                    seen.add(b)
                    todo.append(b)
        assert not seen & set(ABOVE_CORE), f"{core} reaches {sorted(seen & set(ABOVE_CORE))} (through {sorted(seen)})"


def test_the_checker_sees_function_local_imports_and_cycles():
    """The graph is read from every import statement, and a cycle is found and named."""
    graph = unit_graph()
    assert "store" in graph["results"]  # a module-level import
    assert "optimizers" in graph["search"]  # imported inside a function (search/run.py)
    toy = {"a": {"b": {"actsearch.a"}}, "b": {"c": {"actsearch.b"}}, "c": {"a": {"actsearch.c.x"}}, "d": {}}
    assert cycles(toy) == [frozenset("abc")]
    assert "c -> a (in actsearch.c.x)" in _describe(toy, frozenset("abc"))
