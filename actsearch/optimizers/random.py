"""``random``: independent samples from the search space.

Example:
    >>> import actsearch
    >>> from actsearch.optimizers.registry import get_optimizer
    >>> opt = get_optimizer("random", actsearch.space("entropy"), seed=0)
    >>> opt.ask().family, opt.asked
    ('entropy', 1)
"""

from __future__ import annotations


from actsearch.symbolic.expr import Candidate
from actsearch.result import Result

from .base import INT, Optimizer

__all__ = ["RandomSearch"]


class RandomSearch(Optimizer):
    """Asks ``space.sample(rng)``; results do not change what it asks next."""

    name = "random"
    learns = False  # --objective pareto: a random search's proposals never depend on results
    saved = {"asked": INT, "told": INT}

    def __init__(self, space, seed: int = 0):
        super().__init__(space, seed)
        self.asked = 0
        self.told = 0

    def ask(self) -> Candidate:
        self.asked += 1
        return self.space.sample(self.rng)

    def tell(self, candidate: Candidate, result: Result) -> None:
        self.told += 1
