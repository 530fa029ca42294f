"""Optimiser names -> classes.  Add an optimiser with one line in :data:`OPTIMIZERS`.

Example:
    >>> from actsearch.optimizers.registry import optimizers
    >>> "random" in optimizers()
    True
"""

from __future__ import annotations

import inspect
from typing import Any

from actsearch._lazy import load_class
from actsearch.errors import ActsearchError

__all__ = ["OPTIMIZERS", "get_optimizer", "optimizers"]

#: name -> "module:Class" under actsearch.optimizers
OPTIMIZERS: dict[str, str] = {
    "random": "random:RandomSearch",
    "evolution": "evolution:RegularizedEvolution",
    "surrogate": "surrogate:SurrogateOptimizer",
    "optuna": "optuna_opt:OptunaOptimizer",
}


def optimizers() -> list[str]:
    return sorted(OPTIMIZERS)


def get_optimizer(name: str, space, seed: int = 0, **options: Any):
    """A fresh optimiser ``name`` over ``space`` (unknown names/options: one-line errors)."""
    from actsearch.registry import UnknownNameError

    target = OPTIMIZERS.get(name)
    if target is None:
        raise UnknownNameError(f"unknown optimizer {name!r}; choose one of: {', '.join(optimizers())}")
    cls = load_class("actsearch.optimizers", target)
    accepted = inspect.signature(cls.__init__).parameters
    unknown = [k for k in options if k not in accepted]
    if unknown and not any(p.kind is p.VAR_KEYWORD for p in accepted.values()):
        raise ActsearchError(f"optimizer {name!r} has no option {unknown[0]!r}")
    return cls(space, seed=seed, **options)
