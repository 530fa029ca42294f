"""``random``: independent samples from the search space.

Example:
    >>> import actsearch
    >>> from actsearch.optimizers.registry import get_optimizer
    >>> opt = get_optimizer("random", actsearch.space("grammar"), seed=0)  # doctest: +SKIP
    >>> opt.ask().family  # doctest: +SKIP
    'grammar'
"""

from __future__ import annotations

from typing import Any

from actsearch.expr import Candidate
from actsearch.result import Result

from .base import Optimizer

__all__ = ["RandomSearch"]


class RandomSearch(Optimizer):
    """Asks ``space.sample(rng)``; results do not change what it asks next."""

    name = "random"

    def __init__(self, space, seed: int = 0):
        super().__init__(space, seed)
        self.asked = 0
        self.told = 0

    def ask(self) -> Candidate:
        self.asked += 1
        return self.space.sample(self.rng)

    def tell(self, candidate: Candidate, result: Result) -> None:
        self.told += 1

    def state_dict(self) -> dict[str, Any]:
        return {"name": self.name, "seed": self.seed, "asked": self.asked, "told": self.told,
                "rng": self._rng_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.asked, self.told = int(state["asked"]), int(state["told"])
        self._set_rng_state(state["rng"])
