"""The SearchSpace interface every family implements."""

from __future__ import annotations

import abc
from typing import Iterator

import numpy as np

from actsearch.symbolic.expr import Candidate

__all__ = ["SearchSpace"]


class SearchSpace(abc.ABC):
    """A family of candidates that optimisers sample, mutate and recombine.

    Constructor arguments are stored as given (``self.options``); nothing is
    computed until a candidate is asked for.  All randomness comes from the
    ``numpy.random.Generator`` passed in, so the same seed gives the same
    candidates.
    """

    #: registry name, e.g. "rational"
    name: str = ""

    @abc.abstractmethod
    def sample(self, rng: np.random.Generator) -> Candidate:
        """A random candidate from the space."""

    @abc.abstractmethod
    def mutate(self, candidate: Candidate, rng: np.random.Generator) -> Candidate:
        """A nearby candidate, still inside the space."""

    @abc.abstractmethod
    def crossover(self, a: Candidate, b: Candidate, rng: np.random.Generator) -> Candidate:
        """A child mixing two parents, still inside the space."""

    def enumerate(self) -> Iterator[Candidate]:
        """Every candidate, for finite spaces; infinite ones raise ``TypeError``."""
        raise TypeError(f"search space {self.name!r} is not finite and cannot be enumerated")

    @property
    def finite(self) -> bool:
        return False

    @property
    def size(self) -> int | None:
        """How many distinct candidates ``enumerate()`` yields (``None``: infinite)."""
        return sum(1 for _ in self.enumerate()) if self.finite else None

    def contains(self, candidate: Candidate) -> bool:
        """True when ``candidate`` belongs to this space (used by the shared tests)."""
        return candidate.family == self.name

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"{type(self).__name__}({opts})"

    @property
    def options(self) -> dict:
        return dict(getattr(self, "_options", {}))
