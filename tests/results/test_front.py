"""The Pareto front: exactly the non-dominated points, against a brute-force reference."""

from __future__ import annotations

import numpy as np
import pytest

from actsearch.results.front import front_mask, hypervolume


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


def _grid_hypervolume(scores, costs, reference, step=0.25):
    """Counted on a grid of cells: a cell counts when some point dominates its far corner."""
    worst, dearest = reference
    total = 0.0
    for cy in np.arange(worst, max(scores + [worst]) + step, step):
        for cc in np.arange(min(costs + [dearest]) - step, dearest, step):
            cell_score, cell_cost = cy + step, cc  # the cell [cc, cc+step] x [cy, cy+step]
            if any(s >= cell_score and c <= cell_cost for s, c in zip(scores, costs)) and cc >= 0:
                total += step * step
    return total


@pytest.mark.parametrize("seed", range(6))
def test_hypervolume_matches_counting_cells(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 12))
    # points on the grid, so the cell count is exact
    scores = (rng.integers(0, 20, n) * 0.25).tolist()
    costs = (rng.integers(0, 40, n) * 0.25).tolist()
    reference = (1.0, 9.0)
    assert hypervolume(scores, costs, reference) == pytest.approx(_grid_hypervolume(scores, costs, reference))


def test_hypervolume_ignores_points_beyond_the_reference_and_grows_with_the_front():
    assert hypervolume([0.2, 0.9], [1.0, 30.0], reference=(0.5, 20.0)) == 0.0
    base = hypervolume([0.8], [5.0], reference=(0.5, 20.0))
    assert base == pytest.approx(0.3 * 15)
    assert hypervolume([0.8, 0.7], [5.0, 2.0], reference=(0.5, 20.0)) == pytest.approx(base + 0.2 * 3)
    # a dominated point adds nothing
    assert hypervolume([0.8, 0.6], [5.0, 9.0], reference=(0.5, 20.0)) == pytest.approx(base)
