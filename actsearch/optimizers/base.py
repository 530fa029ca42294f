"""The ask/tell interface every optimiser implements."""

from __future__ import annotations

import abc
from typing import Any

import numpy as np

from actsearch.expr import Candidate
from actsearch.result import Result

__all__ = ["Optimizer"]


class Optimizer(abc.ABC):
    """Proposes candidates from a search space and learns from their results.

    Constructor arguments are stored as given; all randomness comes from
    ``numpy.random.default_rng(seed)`` so the same seed gives the same proposals
    for the same sequence of results.  ``state_dict()`` is JSON-serialisable and
    ``load_state_dict()`` makes a fresh optimiser continue exactly where the saved
    one stopped (used by ``actsearch search --resume``).
    """

    name: str = ""

    def __init__(self, space, seed: int = 0):
        self.space = space
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    @abc.abstractmethod
    def ask(self) -> Candidate:
        """The next candidate to evaluate."""

    @abc.abstractmethod
    def tell(self, candidate: Candidate, result: Result) -> None:
        """Report the result of a candidate returned by :meth:`ask` (or enqueued)."""

    @abc.abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable state, including the random generator's."""

    @abc.abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state produced by :meth:`state_dict`."""

    def _rng_state(self) -> dict[str, Any]:
        return self.rng.bit_generator.state

    def _set_rng_state(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state
