"""Names users type -> search spaces and presets."""

from __future__ import annotations

from typing import Any

from ._lazy import load_class
from .errors import ActsearchError
from .expr import Candidate

__all__ = ["space", "spaces", "preset", "presets", "UnknownNameError", "REFERENCES"]

#: the reference presets every search trains first and every leaderboard compares with
REFERENCES = ("relu", "gelu", "silu")

#: space name -> "module:Class" under actsearch.search_spaces
_SPACES = {
    "rational": "rational:RationalSpace",
    "polynomial": "polynomial:PolynomialSpace",
    "entropy": "entropy:EntropySpace",
    "grammar": "grammar:GrammarSpace",
}


class UnknownNameError(ActsearchError, KeyError):
    """An unknown space, preset, task or optimiser name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def _unknown(kind: str, name: str, known) -> UnknownNameError:
    return UnknownNameError(f"unknown {kind} {name!r}; choose one of: {', '.join(sorted(known))}")


def spaces() -> list[str]:
    """Names accepted by :func:`space`."""
    return sorted(_SPACES)


def space(name: str, **options: Any):
    """The search space ``name`` configured with ``options``.

    Example:
        >>> import numpy as np, actsearch
        >>> s = actsearch.space("rational", version="A", degrees=(5, 4))
        >>> s.sample(np.random.default_rng(0)).family
        'rational'
    """
    target = _SPACES.get(name)
    if target is None:
        raise _unknown("search space", name, _SPACES)
    return load_class("actsearch.search_spaces", target)(**options)


def presets() -> dict[str, str]:
    """Preset name -> one-line description."""
    from ._presets import PRESETS

    return {k: v.description for k, v in PRESETS.items()}


def preset(name: str) -> Candidate:
    """The named seed or reference function, e.g. ``crrelu`` or ``rational-gelu``."""
    from ._presets import PRESETS

    entry = PRESETS.get(name)
    if entry is None:
        raise _unknown("preset", name, PRESETS)
    return entry.build()
