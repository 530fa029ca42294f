"""The Pareto front: exactly the non-dominated points, against a brute-force reference."""

from __future__ import annotations

import numpy as np
import pytest

from actsearch.results.front import front_mask


def brute_force(scores, costs) -> list[bool]:
    """O(n^2): a point is on the front when no other point is as good on both and better on one."""
    out = []
    for i in range(len(scores)):
        dominated = any(scores[j] >= scores[i] and costs[j] <= costs[i] and
                        (scores[j] > scores[i] or costs[j] < costs[i]) for j in range(len(scores)))
        out.append(not dominated)
    return out


@pytest.mark.parametrize("seed", range(40))
def test_front_is_the_non_dominated_set_ties_included(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    # few distinct values: many ties in score, in cost and in both
    scores = rng.integers(0, 8, n).astype(float) / 8
    costs = rng.integers(0, 10, n).astype(float)
    assert front_mask(scores, costs).tolist() == brute_force(scores.tolist(), costs.tolist())


def test_front_of_continuous_points():
    rng = np.random.default_rng(7)
    scores, costs = rng.random(300), rng.random(300) * 50
    mask = front_mask(scores, costs)
    assert mask.tolist() == brute_force(scores.tolist(), costs.tolist())
    # along the front, a higher cost buys a higher score
    on = np.argsort(costs[mask])
    assert np.all(np.diff(scores[mask][on]) > 0)


def test_identical_points_are_both_kept_and_both_dropped():
    assert front_mask([0.5, 0.5, 0.4], [3, 3, 1]).tolist() == [True, True, True]
    assert front_mask([0.5, 0.5, 0.6], [3, 3, 1]).tolist() == [False, False, True]


def test_empty_and_mismatched_inputs():
    assert front_mask([], []).tolist() == []
    with pytest.raises(ValueError, match="one length"):
        front_mask([1.0, 2.0], [1.0])
