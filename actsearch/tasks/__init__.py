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

from actsearch._exports import lazy_exports

__all__ = ["Task", "TrainResult", "ActivationFactory", "get_task", "tasks", "FunctionTask", "DEFAULT_TASK", "TASKS"]

__getattr__, __dir__ = lazy_exports(__name__, {
    ".base": ("Task", "TrainResult", "ActivationFactory"),
    ".registry": ("get_task", "tasks", "DEFAULT_TASK", "TASKS"),
    ".user": ("FunctionTask",),
})
