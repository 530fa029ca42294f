"""Layering that runs one way, folder by folder: the import graph of actsearch, read from the source.

Every ``import`` counts, at module level, inside a function or under ``TYPE_CHECKING``:
a cycle hidden in a function-local import is still a cycle.  So does every name a
package exports on first use (the table it gives ``lazy_exports``).  Within each
package (``actsearch``, ``actsearch.search``, ``actsearch.store``, ...) its modules
and subpackages are the units, and no two units import each other, directly or
through others.  ``search_spaces/`` and ``surrogates/`` are installed as
``actsearch.search_spaces`` and ``actsearch.surrogates``.

The rules of the map (``docs/DESIGN.md``): the symbolic core reaches nothing but
the errors; the trial path (``search/trial/``) runs without Ray; only
``search/ray/`` imports the ``ray`` package.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: installed package name -> folder in the repository
PACKAGES = {"actsearch": ROOT / "actsearch", "actsearch.search_spaces": ROOT / "search_spaces",
            "actsearch.surrogates": ROOT / "surrogates"}

#: cycles among the units of a package that we accept, each with its reason (none today)
ALLOWED_CYCLES: dict[frozenset[str], str] = {}

#: the symbolic core, and all it may reach outside itself
CORE, CORE_MAY_REACH = "actsearch.symbolic", {"actsearch.errors"}
#: the trial path, and the Ray side it must not reach
TRIAL, RAY_SIDE = "actsearch.search.trial", "actsearch.search.ray"


def _modules() -> dict[str, Path]:
    out = {}
    for package, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join([package, *parts])] = path
    return out


def _absolute(package: str, level: int, module: str | None) -> str:
    anchor = package.split(".")[: len(package.split(".")) - (level - 1)]
    return ".".join(anchor + ([module] if module else []))


def _statements(name: str, path: Path):
    """``(targets, third_party)`` of every import in module ``name``: the dotted names
    it imports (ours and others'), and whether each was an absolute import."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield [a.name for a in node.names], True
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(package, node.level, node.module) if node.level else node.module or ""
            named = [f"{base}.{a.name}" for a in node.names]  # modules, or names of base
            yield (named if node.module is None else [base] + named), not node.level
        elif (isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "lazy_exports"
              and len(node.args) == 2 and isinstance(node.args[1], ast.Dict)):
            # a package's names imported on first use: {".symbolic.expr": ("parse", ...), ...}
            for key in node.args[1].keys:
                relative = key.value
                level = len(relative) - len(relative.lstrip("."))
                yield [_absolute(package, level, relative.lstrip(".") or None)], False


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The actsearch modules ``name`` imports (the nearest known module of each target)."""
    found = set()
    for targets, _ in _statements(name, path):
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target:
                found.add(target)
    return found


def module_graph() -> dict[str, set[str]]:
    """actsearch module -> the actsearch modules it imports."""
    modules = _modules()
    return {name: _imports(name, path, modules) - {name} for name, path in modules.items()}


def _unit(package: str, module: str) -> str | None:
    """The unit of ``package`` that ``module`` belongs to (its child module or subpackage,
    ``__init__`` for the package itself), or None outside it."""
    if module == package:
        return "__init__"
    if not module.startswith(package + "."):
        return None
    return module[len(package) + 1:].split(".")[0]


def unit_graph(package: str = "actsearch", graph: dict[str, set[str]] | None = None) -> dict[str, dict[str, set[str]]]:
    """unit of ``package`` -> the units it imports -> the modules whose import it is."""
    graph = module_graph() if graph is None else graph
    units: dict[str, dict[str, set[str]]] = {}
    for name, targets in graph.items():
        a = _unit(package, name)
        for target in targets:
            b = _unit(package, target)
            if a is not None and b is not None and a != b:
                units.setdefault(a, {}).setdefault(b, set()).add(name)
    return units


def _packages() -> list[str]:
    return sorted(name for name, path in _modules().items() if path.name == "__init__.py")


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


def reach(graph: dict[str, set[str]], start: set[str]) -> set[str]:
    """The modules ``start`` imports, directly or through others."""
    seen, todo = set(), list(start)
    while todo:
        for b in graph.get(todo.pop(), ()):
            if b not in seen:
                seen.add(b)
                todo.append(b)
    return seen


def ray_importers() -> set[str]:
    """The modules that import the ``ray`` package (Ray itself, not ``actsearch.search.ray``)."""
    out = set()
    for name, path in _modules().items():
        for targets, absolute in _statements(name, path):
            if absolute and any(t == "ray" or t.startswith("ray.") for t in targets):
                out.add(name)
    return out


def _inside(package: str, modules) -> set[str]:
    return {m for m in modules if m == package or m.startswith(package + ".")}


def test_no_import_cycles_inside_any_package():
    graph = module_graph()
    found = []
    for package in _packages():
        units = unit_graph(package, graph)
        found += [f"{package}: {_describe(units, c)}" for c in cycles(units) if c not in ALLOWED_CYCLES]
    assert not found, "import cycles: " + " | ".join(found)


def test_the_packages_checked_are_the_folders_of_the_map():
    assert {"actsearch", "actsearch.search", "actsearch.search.trial", "actsearch.search.ray", "actsearch.store",
            "actsearch.results", "actsearch.symbolic", "actsearch.compile", "actsearch.tasks"} <= set(_packages())


def test_symbolic_core_reaches_nothing_above_it():
    graph = module_graph()
    core = _inside(CORE, graph)
    outside = reach(graph, core) - core
    assert outside <= CORE_MAY_REACH, f"the symbolic core reaches {sorted(outside - CORE_MAY_REACH)}"


def test_the_trial_path_runs_without_ray():
    graph = module_graph()
    trial = _inside(TRIAL, graph)
    reached = reach(graph, trial) | trial
    assert not _inside(RAY_SIDE, reached), f"search/trial/ reaches {sorted(_inside(RAY_SIDE, reached))}"
    assert not reached & ray_importers(), f"search/trial/ reaches Ray through {sorted(reached & ray_importers())}"


def test_only_search_ray_imports_ray():
    found = ray_importers()
    assert found, "no module imports Ray: the scan is broken"
    assert found <= _inside(RAY_SIDE, found), f"Ray imported outside search/ray/: {sorted(found - _inside(RAY_SIDE, found))}"


def test_the_checker_sees_every_kind_of_import_and_cycles():
    """The graph is read from every import statement and lazy export, and a cycle is found and named."""
    graph = unit_graph()
    assert "store" in graph["results"]  # a module-level import
    assert "search" in graph["commands"]  # imported inside a function (commands/search.py)
    assert "symbolic" in graph["__init__"]  # a name exported on first use (actsearch.parse)
    assert "stored_search" in unit_graph("actsearch.store")["database"]  # inside a package
    assert "actsearch.search.ray.tune" in ray_importers()
    toy = {"a": {"b": {"actsearch.a"}}, "b": {"c": {"actsearch.b"}}, "c": {"a": {"actsearch.c.x"}}, "d": {}}
    assert cycles(toy) == [frozenset("abc")]
    assert "c -> a (in actsearch.c.x)" in _describe(toy, frozenset("abc"))
    assert reach({"a": {"b"}, "b": {"c"}, "d": {"a"}}, {"a"}) == {"b", "c"}
