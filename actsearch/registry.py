"""Names users type -> search spaces and presets; the references.

Words used throughout actsearch:

* a **preset** is a named candidate (``crrelu``, ``rational-gelu``, ``relu``, ...):
  :func:`preset`, :func:`presets`;
* the **references** are the presets every search trains first and every
  leaderboard compares with: :data:`REFERENCES` (relu, gelu, silu), :func:`references`.

Example:
    >>> import actsearch
    >>> from actsearch.registry import REFERENCES, references
    >>> [c.name for c in references()] == list(REFERENCES)
    True
    >>> actsearch.space("nope")
    Traceback (most recent call last):
    actsearch.errors.UnknownNameError: unknown search space 'nope'; choose one of: entropy, grammar, polynomial, rational
"""

from __future__ import annotations

from typing import Any

from ._lazy import Registry, unknown_name
from ._presets import PRESETS
from .errors import UnknownNameError
from .symbolic.expr import Candidate

__all__ = ["space", "spaces", "preset", "presets", "references", "UnknownNameError", "REFERENCES", "SPACES"]

#: the reference presets every search trains first and every leaderboard compares with
REFERENCES = ("relu", "gelu", "silu")

#: search space name -> class under actsearch.search_spaces (``SPACES.register`` adds yours)
SPACES = Registry("search space", {
    "rational": "rational:RationalSpace",
    "polynomial": "polynomial:PolynomialSpace",
    "entropy": "entropy:EntropySpace",
    "grammar": "grammar:GrammarSpace",
}, "actsearch.search_spaces")


def spaces() -> list[str]:
    """Names accepted by :func:`space`."""
    return SPACES.names()


def space(name: str, **options: Any):
    """The search space ``name`` configured with ``options``.

    Example:
        >>> import numpy as np, actsearch
        >>> s = actsearch.space("rational", version="A", degrees=(5, 4))
        >>> s.sample(np.random.default_rng(0)).family
        'rational'
    """
    return SPACES.get(name, **options)


def presets() -> dict[str, str]:
    """Preset name -> one-line description."""
    return {k: v.description for k, v in PRESETS.items()}


def preset(name: str) -> Candidate:
    """The named candidate, e.g. ``crrelu``, ``rational-gelu`` or the reference ``relu``."""
    entry = PRESETS.get(name)
    if entry is None:
        raise unknown_name("preset", name, sorted(PRESETS))
    return entry.build()


def references() -> list[Candidate]:
    """The :data:`REFERENCES` as candidates, in order."""
    return [preset(name) for name in REFERENCES]
