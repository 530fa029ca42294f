"""A user's task: ``package.module:function`` or ``path/to/file.py:function``, naming a
:class:`~actsearch.tasks.base.Task`, a factory of one, or a
``train(act_factory, budget, seed, report)`` function (:class:`FunctionTask`).

The contract of a train function, as Ray Tune's function trainables: call
``report(epoch, {...})`` with any keys after each epoch, and return the final value of
the search's metric (a number) or a dict of values (any keys); the search's
``--metric`` names the key that is the score (default ``score``, or what the
function's ``@actsearch.task(metric=...)`` says) and ``--mode`` which way is better.
The score is the tail mean of that metric's reported curve (the task option
``score_epochs``; by default its last value), or the value returned when nothing
was reported.

A task read from a settings file or a stored search runs only when it is marked
(:mod:`actsearch.tasks.mark`): :func:`refuse_unmarked` checks that first, from the
module's source text before any of its code runs, then on the imported function.
A file task is loaded under a name of its own (it never shadows a module of that
name), its folder added at the end of ``sys.path`` for its own imports.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.util
import inspect
import os
import re
import sys
from typing import Any

from actsearch.errors import TaskError
from actsearch.registry import did_you_mean

from .base import MetricReport, Task, TrainResult
from .mark import is_marked, split_spec

__all__ = ["FunctionTask", "load_user_task", "refuse_unmarked"]


class FunctionTask(Task):
    """Wraps a user's ``train(act_factory, budget, seed, report)`` function (see the
    module docstring for what it reports and returns).

    What the function returns is checked (:meth:`TrainResult.coerce`): a score that
    is not a number is a :class:`~actsearch.TaskError` naming it.
    ``act_factory.runtime`` tells the function where to train (see
    :mod:`actsearch.devices`).
    """

    default_budget = 10
    full_budget = 10

    def __init__(self, fn, name: str):
        super().__init__()
        self.fn, self.name = fn, name
        self.metric = getattr(fn, "metric", "score")
        self.mode = getattr(fn, "mode", "max")

    def with_metric(self, metric: str) -> "FunctionTask":
        """This function scored by ``metric`` (a key of its reports or of what it returns)."""
        import copy

        if metric == self.metric:
            return self
        other = copy.copy(self)
        other.metric = metric
        return other

    def train(self, act_factory, budget=None, seed=0, report=None) -> TrainResult:
        reported = MetricReport(self.metric, report)
        out = TrainResult.coerce(self.fn(act_factory, int(budget or self.default_budget), seed, reported),
                                 metric=self.metric, where=f"task {self.name!r}", reported=reported)
        if self.score_epochs > 1 and out.status == "ok" and out.curve:
            out.score = self.tail_score(out.curve)
        return out


def _with_cwd_on_path() -> None:
    if os.getcwd() not in sys.path and "" not in sys.path:
        # as `python -m` would: the `actsearch` console script does not put the cwd on sys.path
        sys.path.insert(0, os.getcwd())


def _file_module_name(path: str) -> str:
    stem = re.sub(r"\W", "_", os.path.splitext(os.path.basename(path))[0])
    return f"actsearch_task_{stem}_{hashlib.sha1(path.encode()).hexdigest()[:10]}"


def _load_file(where: str):
    path = os.path.abspath(os.path.expanduser(where))
    if not os.path.isfile(path):
        raise TaskError(f"task file {where!r} does not exist")
    name = _file_module_name(path)
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise TaskError(f"cannot load task file {where!r}: not a Python source file")
    module = importlib.util.module_from_spec(spec)
    folder = os.path.dirname(path)
    if folder not in sys.path:
        sys.path.append(folder)  # its own helpers import; never ahead of what is installed
    sys.modules[name] = module  # what it defines (dataclasses, pickles) finds its module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - any failure is the user's task's problem
        del sys.modules[name]
        raise TaskError(f"cannot load task file {where!r}: {type(exc).__name__}: {exc}") from None
    return module


def _load_module(where: str, is_file: bool):
    if is_file:
        return _load_file(where)
    _with_cwd_on_path()
    try:
        return importlib.import_module(where)
    except Exception as exc:  # noqa: BLE001 - any import failure is the user's task's problem
        raise TaskError(f"cannot import task module {where!r}: {type(exc).__name__}: {exc}") from None


def _functions(module) -> list[str]:
    """The public functions and Task objects a module defines (not those it imports)."""
    out = []
    for name, value in vars(module).items():
        if name.startswith("_"):
            continue
        if isinstance(value, Task) or (callable(value) and getattr(value, "__module__", None) == module.__name__):
            out.append(name)
    return sorted(out)


def _attribute(module, where: str, attr: str, is_file: bool):
    fn = getattr(module, attr, None)
    if fn is None:
        names = _functions(module)
        what = "task file" if is_file else "task module"
        raise TaskError(f"{what} {where!r} has no attribute {attr!r}{did_you_mean(attr, names)} "
                        f"(its functions: {', '.join(names) or 'none'})")
    return fn


def load_user_task(spec: str, options: dict[str, Any]) -> Task:
    """The task ``spec`` (``package.module:function`` or ``path.py:function``) with ``options``."""
    where, attr, is_file = split_spec(spec)
    fn = _attribute(_load_module(where, is_file), where, attr, is_file)
    if isinstance(fn, Task):
        _refuse_options(spec, options, "a ready-made Task")
        return fn
    if not callable(fn):
        raise TaskError(f"task {spec!r} is neither a Task nor a function")
    if not (inspect.isclass(fn) and issubclass(fn, Task)):
        params = inspect.signature(fn).parameters
        # a train function takes the activation factory first; a task factory takes options
        if "act_factory" in params or len(params) >= 3:
            _refuse_options(spec, options, "a train function")
            return FunctionTask(fn, spec)
    try:
        task = fn(**options)
    except (TypeError, ValueError) as exc:
        raise TaskError(f"bad options for task {spec!r}: {exc}") from None
    if not isinstance(task, Task):
        raise TaskError(f"task function {spec!r} returned {type(task).__name__}, not an actsearch Task")
    for key, value in options.items():  # what the user's class did not record still enters the spec
        task.options.setdefault(key, value)
    return task


def _refuse_options(spec: str, options: dict[str, Any], what: str) -> None:
    if options:
        raise TaskError(f"task {spec!r} is {what} and takes no options (got {', '.join(sorted(options))}); "
                        "only score_epochs applies to it")


# -- a task read from a settings file or a stored search ---------------------------------

def _source_file(where: str, is_file: bool) -> str | None:
    """The source file of ``where``, found without running any of its code (``None``
    for the standard library, built-in modules and what cannot be found)."""
    if is_file:
        path = os.path.abspath(os.path.expanduser(where))
        return path if os.path.isfile(path) else None
    if where.split(".")[0] in sys.stdlib_module_names:
        return None  # nothing in the standard library is an actsearch task
    from importlib.machinery import PathFinder

    _with_cwd_on_path()
    search, spec = None, None
    parts = where.split(".")
    for i in range(len(parts)):  # each package's folder, as an import would find it, importing nothing
        spec = PathFinder.find_spec(".".join(parts[: i + 1]), search)
        if spec is None:
            return None
        search = spec.submodule_search_locations
        if i < len(parts) - 1 and search is None:
            return None
    origin = getattr(spec, "origin", None)
    return origin if origin and origin.endswith(".py") and os.path.isfile(origin) else None


def _is_mark(node: ast.expr) -> bool:
    """``task``, ``x.task``, ``task(...)`` or ``x.task(...)``: the decorator's shape."""
    if isinstance(node, ast.Call):
        node = node.func
    return (isinstance(node, ast.Name) and node.id == "task") or (isinstance(node, ast.Attribute)
                                                                  and node.attr == "task")


def _maybe_marked(source: str, attr: str) -> bool:
    """Whether the module text can define ``attr`` as a marked task: a decorated
    ``def``/``class``, an assignment from ``task(...)``, or a name it imports (whose
    mark the import then shows)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError):
        return False
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == attr:
            if any(_is_mark(d) for d in node.decorator_list):
                return True
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == attr for t in node.targets):
            call = node.value
            if isinstance(call, ast.Call) and (_is_mark(call.func) or _is_mark(call)):
                return True
        elif isinstance(node, ast.ImportFrom) and any((a.asname or a.name) == attr for a in node.names):
            return True
    return False


def refuse_unmarked(spec: str, source: str) -> None:
    """Raise :class:`~actsearch.TaskError` unless the task ``spec``, read from ``source``
    (a settings file, a stored search), may run: a registered name, or a
    ``module:function`` marked with ``@actsearch.task``.  The module's text is read
    first: an unmarked function's module is never imported."""
    if ":" not in spec:
        return  # a registered name: built in, or registered by the user's own code
    where, attr, is_file = split_spec(spec)
    refusal = TaskError(
        f"task {spec!r} comes from {source} and is not marked as a task: a module:function read from a settings "
        "file or a stored search runs only when marked with @actsearch.task (or registered in "
        "actsearch.tasks.TASKS); mark it, or name it with --task on the command line")
    path = _source_file(where, is_file)
    try:
        text = open(path, encoding="utf-8").read() if path else ""
    except (OSError, UnicodeDecodeError):
        text = ""
    if not _maybe_marked(text, attr):
        raise refusal
    fn = getattr(_load_module(where, is_file), attr, None)
    if not is_marked(fn):
        raise refusal
