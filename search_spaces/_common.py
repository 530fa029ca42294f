"""Helpers shared by the search-space families: building candidates, option checks,
and coefficient-level mutation and crossover.

Example:
    >>> import numpy as np, sympy
    >>> from actsearch.symbolic.parser import X, param_symbol
    >>> c = finish(param_symbol("w") * X, {"w": 0.5}, "polynomial")
    >>> c.text, c.family
    ('w*x; w=0.5', 'polynomial')
    >>> jitter_params(c, np.random.default_rng(0), 0.1).params["w"] != 0.5
    True
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import numpy as np
import sympy

from actsearch.errors import ActsearchError
from actsearch.symbolic.expr import Candidate

__all__ = [
    "SearchSpaceError",
    "finish",
    "body",
    "choice",
    "check_choice",
    "check_int",
    "check_float",
    "param_crossover",
    "reject_unknown",
    "jitter_params",
    "mix_params",
]

#: significant digits kept for sampled / mutated values: short, readable text
_DIGITS = 6


class SearchSpaceError(ActsearchError, ValueError):
    """A search space was given an option it does not accept (names the option)."""


def finish(expr: sympy.Expr, params: Mapping[str, float], family: str, name: str | None = None) -> Candidate:
    """A candidate of ``family`` (``parse(c.text) == c`` holds: Candidate guarantees it)."""
    return Candidate(expr, params, family=family, name=name)


def body(candidate: Candidate) -> str:
    """The formula part of the canonical text (without the parameter bindings)."""
    return candidate.text.split(";")[0].strip()


def reject_unknown(space, unknown: Mapping[str, Any]) -> None:
    """An unknown constructor option is a :class:`SearchSpaceError` naming the valid ones."""
    if unknown:
        valid = ", ".join(getattr(space, "option_help", {}))
        raise SearchSpaceError(f"{space.name}: unknown option {sorted(unknown)[0]!r}; options are: {valid}")


def round_sig(value: float, digits: int = _DIGITS) -> float:
    return float(f"{float(value):.{digits}g}")


def choice(rng: np.random.Generator, items: Iterable[Any]) -> Any:
    items = list(items)
    return items[int(rng.integers(len(items)))]


def check_choice(option: str, value: Any, allowed: Iterable[Any], space: str) -> Any:
    allowed = list(allowed)
    if value not in allowed:
        shown = ", ".join(str(a) for a in allowed)
        raise SearchSpaceError(f"{space}: option {option}={value!r} is not one of: {shown}")
    return value


def check_int(option: str, value: Any, low: int, high: int, space: str) -> int:
    try:
        number = int(value)
        if number != float(value):
            raise ValueError
    except (TypeError, ValueError):
        raise SearchSpaceError(f"{space}: option {option}={value!r} must be an integer") from None
    if not low <= number <= high:
        raise SearchSpaceError(f"{space}: option {option}={number} must be between {low} and {high}")
    return number


def check_float(option: str, value: Any, low: float, high: float, space: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SearchSpaceError(f"{space}: option {option}={value!r} must be a number") from None
    if not low <= number <= high:
        raise SearchSpaceError(f"{space}: option {option}={value!r} must be between {low:g} and {high:g}")
    return number


def jitter_params(candidate: Candidate, rng: np.random.Generator, scale: float, floor: float = 0.01) -> Candidate:
    """Every parameter perturbed by Gaussian noise relative to its size.

    ``v + scale * (|v| + floor) * N(0, 1)``: relative for large values, and the
    ``floor`` lets a parameter at 0 move too.
    """
    values = {
        k: round_sig(v + scale * (abs(v) + floor) * rng.standard_normal())
        for k, v in sorted(candidate.params.items())
    }
    return candidate.with_params(values)


def mix_params(a: Candidate, b: Candidate, rng: np.random.Generator) -> dict[str, float]:
    """Parameter values of ``a``, each taken from ``b`` instead with probability 1/2
    when ``b`` has a parameter of the same name (uniform crossover)."""
    out = {}
    for k, v in sorted(a.params.items()):
        take_b = bool(rng.integers(2))
        out[k] = b.params[k] if take_b and k in b.params else v
    return out


def param_crossover(space, a: Candidate, b: Candidate, rng: np.random.Generator) -> Candidate:
    """``a``'s formula with parameter values mixed from both parents (:func:`mix_params`);
    a mutation of ``b`` when ``a`` is outside ``space``."""
    if not space.contains(a):
        return space.mutate(b, rng)
    return a.with_params(mix_params(a, b, rng))
