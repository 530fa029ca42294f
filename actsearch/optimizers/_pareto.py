"""``--objective pareto`` inside the optimisers that learn: random scalarisation of score and cost.

After ParEGO (Knowles 2006): at each ask the optimiser draws a weight ``w`` uniform
in [0, 1] from its own seeded generator (so a saved and restored state continues
exactly) and ranks by ``w * z(score) - (1 - w) * z(cost)``, ``z`` standardising over
the values ranked (mean 0, std 1).  The score is what the optimiser would rank by
alone (a surrogate's acquisition value, evolution's fitness); the cost is the
formula's, known before training (:func:`actsearch.symbolic.cost.formula_cost`).
Over many asks the weights sweep the front rather than its top corner.

Example:
    >>> import numpy as np
    >>> int(scalarised(np.array([0.9, 0.8, 0.5]), np.array([30.0, 9.0, 1.0]), w=0.0).argmax())  # cost alone
    2
    >>> int(scalarised(np.array([0.9, 0.8, 0.5]), np.array([30.0, 9.0, 1.0]), w=1.0).argmax())  # score alone
    0
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from actsearch.errors import ActsearchError
from actsearch.symbolic.cost import formula_cost
from actsearch.symbolic.expr import Candidate

from .registry import OBJECTIVES

__all__ = ["check_objective", "Costs", "standardised", "scalarised"]


def check_objective(owner: str, objective: str) -> str:
    if objective not in OBJECTIVES:
        raise ActsearchError(f"{owner}: objective must be one of {', '.join(OBJECTIVES)}, not {objective!r}")
    return objective


#: formula text -> cost, shared by every optimiser of the process (a pure function of the text)
_KNOWN: dict[str, float] = {}
_MAX_KNOWN = 200_000


class Costs:
    """:func:`formula_cost` of candidates, remembered by canonical text."""

    def __call__(self, candidates: Sequence[Candidate]) -> np.ndarray:
        if len(_KNOWN) > _MAX_KNOWN:
            _KNOWN.clear()
        out = np.empty(len(candidates))
        for i, c in enumerate(candidates):
            value = _KNOWN.get(c.text)
            if value is None:
                value = _KNOWN[c.text] = float(formula_cost(c.expr))
            out[i] = value
        return out


def standardised(values: np.ndarray) -> np.ndarray:
    """``(v - mean) / std`` over the finite values (all 0 when they do not vary; -inf kept)."""
    values = np.asarray(values, dtype=float)
    finite = np.isfinite(values)
    out = np.where(finite, 0.0, values)
    if finite.sum() >= 2:
        spread = values[finite].std()
        if spread > 0:
            out[finite] = (values[finite] - values[finite].mean()) / spread
    return out


def scalarised(score: np.ndarray, cost: np.ndarray, w: float) -> np.ndarray:
    """``w * z(score) - (1 - w) * z(cost)``: higher is better; a score of -inf stays -inf."""
    score = np.asarray(score, dtype=float)
    value = w * np.where(np.isfinite(score), standardised(score), 0.0) - (1.0 - w) * standardised(cost)
    return np.where(np.isfinite(score), value, -np.inf)
