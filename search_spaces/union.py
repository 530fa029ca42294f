"""Several families searched as one space: ``all``, or a comma-separated list of names.

``sample`` picks a family (uniformly, or by ``weights``) and samples it;
``mutate`` and ``crossover`` go to the family that holds the parent (two parents
of different families: a mutation of the first); ``contains`` asks every family.
Options for one family are written ``family.option`` (``grammar.shapes=1,2``).
A surrogate ranks every member of every family at once when all of them are finite
(the grammar's catalog and the fitted starts of the others).

Example:
    >>> import numpy as np, actsearch
    >>> s = actsearch.space("rational,grammar", **{"grammar.shapes": "1"})
    >>> sorted({s.sample(np.random.default_rng(i)).family for i in range(8)})
    ['grammar', 'rational']
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from actsearch.symbolic.expr import Candidate

from ._common import SearchSpaceError
from .base import SearchSpace

__all__ = ["UnionSpace", "ALL"]

#: the families ``all`` joins
ALL = ("rational", "polynomial", "entropy", "grammar")


class UnionSpace(SearchSpace):
    """Several families' spaces as one.

    Built by :func:`actsearch.space` from ``all`` or ``a,b`` (options: ``weights``,
    how often ``sample`` picks each family, comma-separated in order, default
    equally; ``family.option`` for one family, e.g. ``grammar.shapes=1``).

    Args:
        spaces: family name -> its configured space, in order.
        weights: sampling weights, one per family (default: equal).
        options: the options it was made with (shown by ``repr`` and stored).
    """

    name = "all"
    option_help = {
        "weights": "how often each family is sampled, comma-separated in order (default equal)",
        "<family>.<option>": "an option of one family, e.g. grammar.shapes=1,2 or rational.version=A",
    }

    def __init__(self, spaces: dict[str, SearchSpace], weights=None, options: dict | None = None):
        self._options = dict(options or {})
        self.spaces = dict(spaces)
        self.names = tuple(self.spaces)
        if not self.names:
            raise SearchSpaceError("all: a union needs one or more families")
        self.weights = self._weights(weights)

    @property
    def label(self) -> str:
        return ",".join(self.names)

    def _weights(self, weights) -> np.ndarray:
        if weights is None:
            return np.full(len(self.names), 1.0 / len(self.names))
        if isinstance(weights, str):
            weights = [w for w in weights.replace(" ", "").split(",") if w]
        try:
            w = np.array([float(v) for v in weights])
        except (TypeError, ValueError):
            w = np.array([])
        if len(w) != len(self.names) or (w < 0).any() or w.sum() <= 0:
            raise SearchSpaceError(f"{self.label}: weights={weights!r} must be {len(self.names)} non-negative "
                                   "numbers, one per family, not all 0")
        return w / w.sum()

    def members(self) -> list[SearchSpace]:
        """The families' spaces, in order."""
        return list(self.spaces.values())

    def _owner(self, candidate: Candidate) -> SearchSpace | None:
        space = self.spaces.get(candidate.family)
        return space if space is not None and space.contains(candidate) else None

    @property
    def finite(self) -> bool:
        return all(s.finite for s in self.spaces.values())

    @property
    def size(self) -> int | None:
        sizes = [s.size for s in self.spaces.values()]
        return None if None in sizes else sum(sizes)

    def enumerate(self) -> Iterator[Candidate]:
        if not self.finite:
            return super().enumerate()
        return (c for s in self.spaces.values() for c in s.enumerate())

    def contains(self, candidate: Candidate) -> bool:
        return self._owner(candidate) is not None

    def sample(self, rng: np.random.Generator) -> Candidate:
        name = self.names[int(rng.choice(len(self.names), p=self.weights))]
        return self.spaces[name].sample(rng)

    def mutate(self, candidate: Candidate, rng: np.random.Generator) -> Candidate:
        owner = self._owner(candidate)
        return owner.mutate(candidate, rng) if owner is not None else self.sample(rng)

    def crossover(self, a: Candidate, b: Candidate, rng: np.random.Generator) -> Candidate:
        owner = self._owner(a)
        if owner is None:
            return self.mutate(b, rng)
        if a.family == b.family and owner.contains(b):
            return owner.crossover(a, b, rng)
        return owner.mutate(a, rng)

    def __repr__(self) -> str:
        return f"UnionSpace({self.label})"

