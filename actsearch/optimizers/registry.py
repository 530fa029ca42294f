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

import re
from dataclasses import dataclass

from actsearch.errors import ActsearchError
from actsearch.registry import Registry, did_you_mean

__all__ = ["OPTIMIZERS", "OBJECTIVES", "get_optimizer", "optimizers", "optimizer_options", "OptimizerOption",
           "set_by_the_search"]

#: what a search optimises (``--objective``): the score alone, or the front of score
#: against cost (the formula's weighted operation count, :mod:`actsearch.symbolic.cost`)
OBJECTIVES = ("score", "pareto")

#: name -> optimiser class (built-ins under actsearch.optimizers, imported when asked for)
OPTIMIZERS = Registry("optimizer", {
    "random": "random:RandomSearch",
    "evolution": "evolution:RegularizedEvolution",
    "surrogate": "surrogate:SurrogateOptimizer",
    "optuna": "optuna_opt:OptunaOptimizer",
}, "actsearch.optimizers")


def optimizers() -> list[str]:
    return OPTIMIZERS.names()


#: parameters every optimiser takes from the search itself, not from --optimizer-option
_FROM_THE_SEARCH = ("space", "seed")
#: parameters that other search options set
_SET_BY = {"prior": "--warm-start", "objective": "--objective"}


def set_by_the_search(option: str) -> str | None:
    """The search option that sets the optimiser's parameter ``option`` (``"seed"`` ->
    ``"--seed"``), or ``None`` for one that ``--optimizer-option`` sets."""
    if option in _FROM_THE_SEARCH:
        return f"--{option}"
    return _SET_BY.get(option)


@dataclass(frozen=True)
class OptimizerOption:
    """One ``--optimizer-option`` of an optimiser: its name, default and what it does."""

    name: str
    default: Any
    help: str


def _arg_help(doc: str) -> dict[str, str]:
    """``name -> text`` from the ``Args:`` section of a Google-style docstring
    (``a, b: text`` documents both; ``a: text; b: text`` on one line splits)."""
    out: dict[str, str] = {}
    lines = doc.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "Args:")
    except StopIteration:
        return out
    indent, names = None, []
    for line in lines[start + 1:]:
        if not line.strip():
            if names:
                continue
            break
        depth = len(line) - len(line.lstrip())
        indent = depth if indent is None else indent
        if depth < indent:
            break
        entry = re.match(r"\s*([\w, ]+):\s+(.*)$", line) if depth == indent else None
        if entry:
            names = [n.strip() for n in entry.group(1).split(",")]
            for part in re.split(r";\s+(?=\w+:\s)", entry.group(2)):
                named = re.match(r"(\w+):\s+(.*)$", part)
                if named and part is not entry.group(2):
                    names = [named.group(1)]
                    part = named.group(2)
                for n in names:
                    out[n] = (out.get(n, "") + " " + part).strip()
        else:
            for n in names:
                out[n] = (out[n] + " " + line.strip()).strip()
    return out


def optimizer_options(name: str) -> list[OptimizerOption]:
    """The options optimiser ``name`` takes (``--optimizer-option KEY=VALUE``), from its
    signature and docstring, in signature order.

    Example:
        >>> [o.name for o in optimizer_options("evolution")][:2]
        ['population_size', 'sample_size']
    """
    cls = OPTIMIZERS.load(name)
    helps = _arg_help(inspect.getdoc(cls) or "")
    out = []
    for param in inspect.signature(cls).parameters.values():
        if param.name in _FROM_THE_SEARCH or param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
            continue
        text = helps.get(param.name, "")
        if param.name in _SET_BY:
            text = f"{text} (set with {_SET_BY[param.name]})".strip()
        default = None if param.default is param.empty else param.default
        out.append(OptimizerOption(param.name, default, text))
    return out


def get_optimizer(name: str, space, seed: int = 0, objective: str = "score", **options: Any):
    """A fresh optimiser ``name`` over ``space`` (unknown names/options: one-line errors).

    ``objective`` (:data:`OBJECTIVES`) reaches an optimiser that takes one (surrogate,
    evolution); one whose proposals never depend on results (``learns = False``:
    random) needs none; any other refuses ``pareto`` in one line.
    """
    cls = OPTIMIZERS.load(name)
    accepted = inspect.signature(cls).parameters
    if objective not in OBJECTIVES:
        raise ActsearchError(f"--objective must be one of {', '.join(OBJECTIVES)}, not {objective!r}"
                             f"{did_you_mean(objective, OBJECTIVES)}")
    if "objective" in accepted:
        options["objective"] = objective
    elif objective != "score" and getattr(cls, "learns", True):
        takes = [n for n in optimizers() if "objective" in inspect.signature(OPTIMIZERS.load(n)).parameters
                 or not getattr(OPTIMIZERS.load(n), "learns", True)]
        raise ActsearchError(f"--objective {objective}: optimizer {name!r} ranks by score alone; use one of "
                             f"{', '.join(takes)}")
    unknown = [k for k in options if k not in accepted]
    if unknown and not any(p.kind is p.VAR_KEYWORD for p in accepted.values()):
        known = [o.name for o in optimizer_options(name)]
        raise ActsearchError(f"optimizer {name!r} has no option {unknown[0]!r}; its options: "
                             f"{', '.join(known) or 'none'} (see actsearch optimizers)"
                             f"{did_you_mean(unknown[0], known)}")
    return cls(space, seed=seed, **options)
