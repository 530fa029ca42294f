"""Task names -> tasks: the built-ins' :data:`TASKS` and :func:`get_task`.

A name is a built-in (:func:`tasks`) or a user's ``package.module:function``
(:mod:`actsearch.tasks.user`).  Listing names imports no task (nor torch).

Example:
    >>> from actsearch.tasks.registry import TASKS, get_task
    >>> "digits" in TASKS
    True
    >>> get_task("digits").name
    'digits'
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from actsearch.errors import TaskError
from actsearch.registry import Registry

if TYPE_CHECKING:
    from .base import Task

__all__ = ["TASKS", "DEFAULT_TASK", "tasks", "get_task"]

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
        from .user import load_user_task  # a user's module: imported when named, as the built-ins are

        task = load_user_task(name, options)
        if not task.name:
            task.name = name
        return task
    cls = TASKS.load(name)
    try:
        return cls(**options)
    except (TypeError, ValueError) as exc:  # an unknown option, or a value that is not a number
        raise TaskError(f"bad options for task {name!r}: {exc}") from None
