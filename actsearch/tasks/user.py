"""A user's task, named ``package.module:function``: a :class:`~actsearch.tasks.base.Task`,
a factory of one, or a ``train(act_factory, budget, seed, report)`` function
(:class:`FunctionTask`) whose dict result is checked.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from typing import Any

from actsearch.errors import TaskError

from .base import Task, TrainResult

__all__ = ["FunctionTask", "load_user_task"]


class FunctionTask(Task):
    """Wraps a user's ``train(act_factory, budget, seed, report) -> dict`` function.

    The dict needs ``score`` (higher is better); ``status``, ``curve`` and the other
    fields of :class:`TrainResult` are optional.  What the function returns is
    checked (:meth:`TrainResult.coerce`): a score that is not a number is a
    :class:`~actsearch.TaskError` naming it.  ``act_factory.runtime`` tells the
    function where to train (see :mod:`actsearch.devices`).
    """

    default_budget = 10
    full_budget = 10

    def __init__(self, fn, name: str):
        super().__init__()
        self.fn, self.name = fn, name
        self.metric = getattr(fn, "metric", "score")

    def train(self, act_factory, budget=None, seed=0, report=None) -> TrainResult:
        out = TrainResult.coerce(self.fn(act_factory, int(budget or self.default_budget), seed, report),
                                 metric=self.metric, where=f"task {self.name!r}")
        if self.score_epochs > 1 and out.status == "ok" and out.curve:
            out.score = self.tail_score(out.curve)
        return out


def load_user_task(spec: str, options: dict[str, Any]) -> Task:
    """The task ``spec`` (``package.module:function``) with ``options``."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise TaskError(f"task {spec!r} is not of the form 'package.module:function'")
    if os.getcwd() not in sys.path and "" not in sys.path:
        # as `python -m` would: the `actsearch` console script does not put the cwd on sys.path
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - any import failure is the user's task's problem
        raise TaskError(f"cannot import task module {module_name!r}: {type(exc).__name__}: {exc}") from None
    fn = getattr(module, attr, None)
    if fn is None:
        raise TaskError(f"task module {module_name!r} has no attribute {attr!r}")
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
