"""Scoring tasks and their registry.

``get_task(name, **options)`` accepts a built-in name (see :func:`tasks`) or a user
task ``"package.module:function"`` whose function returns a :class:`Task` (or is
itself a ``train(act_factory, budget, seed, report)`` function returning a dict
with ``score``, see :class:`FunctionTask`).

Example:
    >>> from actsearch.tasks import get_task, tasks
    >>> "mnist1d-mlp" in tasks()
    True
    >>> get_task("mnist1d-mlp").metric
    'val_accuracy'
"""

from __future__ import annotations

import copy
import importlib
import inspect
import os
import sys
from typing import Any

from actsearch.registry import Registry
from actsearch.errors import TaskError

from .base import ActivationFactory, Task, TrainResult

__all__ = ["Task", "TrainResult", "ActivationFactory", "get_task", "tasks", "FunctionTask", "DEFAULT_TASK", "TASKS"]

DEFAULT_TASK = "mnist1d-mlp"

#: task name -> Task class (built-ins under actsearch.tasks, imported when asked for)
TASKS = Registry("task", {
    "mnist1d-mlp": "mnist1d:MNIST1DMLP",
    "mnist1d-cnn": "mnist1d:MNIST1DCNN",
    "digits": "digits:DigitsCNN",
    "cifar10-resnet": "cifar10:CIFAR10ResNet",
    "charlm": "charlm:CharLM",
}, "actsearch.tasks", hint=" or 'package.module:function'")


def tasks() -> list[str]:
    """Registered task names."""
    return TASKS.names()


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


def _load_user_task(spec: str, options: dict[str, Any]) -> Task:
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


def get_task(name: str, **options: Any) -> Task:
    """The task ``name`` (built-in, or ``package.module:function``) with ``options``.

    ``score_epochs`` is an option of every task (see :class:`Task`)."""
    options = dict(options)
    given = options.pop("score_epochs", None)
    task = _make_task(name, options)
    score_epochs = task.score_epochs if given is None else _score_epochs(name, given)
    if score_epochs != task.score_epochs:
        task = copy.copy(task)  # a user's Task instance stays as the user made it
        task.score_epochs = score_epochs
    if score_epochs != 1:  # in the spec: scores averaged otherwise are never reused
        task.options = {**task.options, "score_epochs": score_epochs}
    return task


def _score_epochs(name: str, value: Any) -> int:
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise TaskError(f"bad options for task {name!r}: score_epochs must be a whole number of epochs "
                        f"(1 or more), not {value!r}")
    return int(text)


def _make_task(name: str, options: dict[str, Any]) -> Task:
    if ":" in name:
        task = _load_user_task(name, options)
        if not task.name:
            task.name = name
        return task
    cls = TASKS.load(name)
    try:
        return cls(**options)
    except (TypeError, ValueError) as exc:  # an unknown option, or a value that is not a number
        raise TaskError(f"bad options for task {name!r}: {exc}") from None
