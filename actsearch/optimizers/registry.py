"""Optimiser names -> classes: the :data:`OPTIMIZERS` registry.

Add your own with ``OPTIMIZERS.register("name", MyOptimizer)`` (check it first with
:func:`actsearch.testing.check_optimizer`).

Example:
    >>> import actsearch
    >>> from actsearch.optimizers.registry import get_optimizer, optimizers
    >>> optimizers()
    ['evolution', 'optuna', 'random', 'surrogate']
    >>> get_optimizer("random", actsearch.space("grammar"), seed=0).ask().family
    'grammar'
"""

from __future__ import annotations

import inspect
from typing import Any

from actsearch.registry import Registry
from actsearch.errors import ActsearchError

__all__ = ["OPTIMIZERS", "get_optimizer", "optimizers"]

#: name -> optimiser class (built-ins under actsearch.optimizers, imported when asked for)
OPTIMIZERS = Registry("optimizer", {
    "random": "random:RandomSearch",
    "evolution": "evolution:RegularizedEvolution",
    "surrogate": "surrogate:SurrogateOptimizer",
    "optuna": "optuna_opt:OptunaOptimizer",
}, "actsearch.optimizers")


def optimizers() -> list[str]:
    return OPTIMIZERS.names()


def get_optimizer(name: str, space, seed: int = 0, **options: Any):
    """A fresh optimiser ``name`` over ``space`` (unknown names/options: one-line errors)."""
    cls = OPTIMIZERS.load(name)
    accepted = inspect.signature(cls).parameters
    unknown = [k for k in options if k not in accepted]
    if unknown and not any(p.kind is p.VAR_KEYWORD for p in accepted.values()):
        raise ActsearchError(f"optimizer {name!r} has no option {unknown[0]!r}")
    return cls(space, seed=seed, **options)
