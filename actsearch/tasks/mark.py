"""How a user's task is named (:func:`split_spec`), and ``@actsearch.task``: the mark
that says a function (or Task class) is a task.

A ``module:function`` named on the command line (``--task``) or in Python code runs
because its user chose it.  One read from a settings file or from a stored search
(``confirm``, ``search --resume``) is data someone else may have written, so it runs
only when its code carries this mark (or its name is registered in
:data:`~actsearch.tasks.registry.TASKS`): ``os:system`` in a shared store runs nothing.

The mark may also say which metric the function's score is and which way is better,
as ``--metric`` and ``--mode`` would.  It imports nothing heavy.

Example:
    >>> @task(metric="val_loss", mode="min")
    ... def train(act_factory, budget, seed, report):
    ...     return {"val_loss": 0.25}
    >>> is_marked(train), train.metric, train.mode
    (True, 'val_loss', 'min')
    >>> is_marked(print)
    False
"""

from __future__ import annotations

import os
from typing import Any, Callable

from actsearch.errors import TaskError

__all__ = ["task", "is_marked", "split_spec", "MARK"]

#: the attribute the mark sets
MARK = "__actsearch_task__"


def task(fn: Callable | None = None, *, metric: str | None = None, mode: str | None = None) -> Any:
    """Mark ``fn`` as an actsearch task: ``@task`` or ``@task(metric=..., mode=...)``.

    ``metric`` names the key of ``report()`` and of the returned dict that is the score
    (default: ``score``); ``mode`` is ``max`` (default) or ``min``."""
    if mode is not None and mode not in ("max", "min"):
        raise ValueError(f"mode must be 'max' or 'min', not {mode!r}")

    def mark(f: Callable) -> Callable:
        setattr(f, MARK, True)
        if metric is not None:
            f.metric = metric
        if mode is not None:
            f.mode = mode
        return f

    return mark(fn) if fn is not None else mark


def is_marked(obj: Any) -> bool:
    """Whether ``obj`` carries the mark."""
    try:
        return getattr(obj, MARK, False) is True
    except Exception:  # noqa: BLE001 - an object whose attributes raise is no task of ours
        return False


def split_spec(spec: str) -> tuple[str, str, bool]:
    """``(module or file, attribute, is_file)`` of ``module:function`` or ``path.py:function``.

    Example:
        >>> split_spec("mypkg.tasks:train"), split_spec("experiments/my_task.py:train")
        (('mypkg.tasks', 'train', False), ('experiments/my_task.py', 'train', True))
    """
    where, _, attr = spec.rpartition(":")
    if not where or not attr or not attr.isidentifier():
        raise TaskError(f"task {spec!r} is not of the form 'package.module:function' or 'path/to/file.py:function'")
    is_file = where.endswith(".py") or "/" in where or os.sep in where
    if not is_file and not all(part.isidentifier() for part in where.split(".")):
        raise TaskError(f"task {spec!r}: {where!r} is neither a module name nor a path to a .py file")
    return where, attr, is_file
