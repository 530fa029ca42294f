"""The Pareto front of score against cost: the results no other result beats on both.

A result *dominates* another when its score is at least as good and its cost at
most as high, and one of the two strictly.  The front is every result nothing
dominates; two results with the same score and cost are both on it or both off.
Scores here are higher-is-better (a ``--mode min`` search's scores negated first,
:func:`actsearch.scoring.higher_is_better`); costs are lower-is-better
(:func:`actsearch.symbolic.cost.formula_cost`).

:func:`hypervolume` measures a front: the area it dominates up to a reference point.

Example:
    >>> front_mask([0.9, 0.8, 0.95, 0.7], [10, 3, 30, 5]).tolist()
    [True, True, True, False]
    >>> round(hypervolume([0.9, 0.8], [10, 3], reference=(0.5, 20)), 6)  # 7 x 0.3 + 10 x 0.4
    6.1
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["front_mask", "hypervolume"]


def front_mask(scores: Sequence[float], costs: Sequence[float]) -> np.ndarray:
    """Which of the points ``(scores[i], costs[i])`` are on the front (O(n log n)).

    Sorted by cost, a point is on the front when its score beats every strictly
    cheaper point's and is the best among the points of its own cost.
    """
    score = np.asarray(scores, dtype=float)
    cost = np.asarray(costs, dtype=float)
    if score.shape != cost.shape or score.ndim != 1:
        raise ValueError(f"scores and costs must be two lists of one length, got {score.shape} and {cost.shape}")
    keep = np.zeros(len(score), dtype=bool)
    order = np.lexsort((-score, cost))  # by cost, the best score first within a cost
    best_cheaper = -np.inf
    start = 0
    while start < len(order):
        end = start
        while end < len(order) and cost[order[end]] == cost[order[start]]:
            end += 1
        group = order[start:end]
        top = score[group[0]]
        if top > best_cheaper:
            keep[group[score[group] == top]] = True
            best_cheaper = top
        start = end
    return keep


def hypervolume(scores: Sequence[float], costs: Sequence[float], reference: tuple[float, float]) -> float:
    """The area of (score, cost) space the points dominate and that dominates
    ``reference`` = ``(worst score, highest cost)``: the union of the rectangles from
    each point to the reference.  Points no better than the reference add nothing."""
    score = np.asarray(scores, dtype=float)
    cost = np.asarray(costs, dtype=float)
    worst, dearest = reference
    inside = np.isfinite(score) & np.isfinite(cost) & (score > worst) & (cost < dearest)
    score, cost = score[inside], cost[inside]
    if not len(score):
        return 0.0
    on = front_mask(score, cost)
    order = np.argsort(cost[on], kind="stable")
    c, y = cost[on][order], score[on][order]
    widths = np.diff(np.append(c, dearest))  # each front point holds its score until the next, dearer one
    return float(np.sum(widths * (y - worst)))
