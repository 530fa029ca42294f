"""How a run's per-epoch curves become the score a search ranks by.

Two rules, shared by the tasks (the score a trial reports), the optimisers (what
they are told), the leaderboard (how it ranks) and the benchmark tables (how a
replay scores a row):

* **the tail mean**: the mean of the metric over the last :data:`SCORE_EPOCHS`
  epochs of each seed, averaged over seeds, not the last epoch alone: a function
  whose accuracy swings by several points from epoch to epoch is not ranked by one
  lucky epoch.  The default was chosen by measurement on the 3,000-function
  mnist1d-mlp table (``benchmarks/NOTES.md``, "Which score holds up").
* **the direction**: a search's ``--mode`` says whether a higher (``max``) or lower
  (``min``) value of its metric is better.  Scores are stored as measured;
  :func:`higher_is_better` is the one conversion to the higher-is-better number that
  optimisers are told and rankings sort by.
* **convergence**: a candidate whose final training loss (mean over seeds) is above
  :data:`LOSS_FLOOR` and above :data:`LOSS_RATIO` times the highest final loss of the
  references (relu, gelu, silu on the same task) did not fit its training data; it
  is *not converged*, and ranks below every converged candidate
  (:func:`holds_up_value`), whatever its score.

Example:
    >>> round(tail_mean([0.5, 0.6, 0.7, 0.6, 0.7, 0.6, 0.7], epochs=4), 6)
    0.65
    >>> converged(0.9, [0.25, 0.3]), converged(0.4, [0.25, 0.3]), converged(0.9, [])
    (False, True, None)
    >>> holds_up_value(0.71, False) < holds_up_value(0.60, True)
    True
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

__all__ = ["SCORE_EPOCHS", "LOSS_FLOOR", "LOSS_RATIO", "NOT_CONVERGED_PENALTY", "MODES", "tail_mean", "converged",
           "final_loss", "holds_up_value", "higher_is_better", "score_rule"]

#: epochs the default score averages (per seed); see the module docstring
SCORE_EPOCHS = 5
#: a final training loss below this always counts as converged (in the loss's units)
LOSS_FLOOR = 0.05
#: ... and one up to this many times the references' highest final loss
LOSS_RATIO = 2.0
#: subtracted from a not-converged candidate's score where one number must rank it
#: (scores of accuracy-like metrics span less than 1)
NOT_CONVERGED_PENALTY = 1.0


#: a metric's directions: higher is better (``max``) or lower is better (``min``)
MODES = ("max", "min")


def higher_is_better(value: float | None, mode: str | None = "max") -> float | None:
    """``value`` as a number where higher is better: itself for ``max`` (and no mode),
    negated for ``min``; ``None`` stays ``None``.

    Example:
        >>> higher_is_better(0.25, "min"), higher_is_better(0.9, "max"), higher_is_better(None, "min")
        (-0.25, 0.9, None)
    """
    if value is None or mode != "min":
        return value
    return -value


def score_rule(metric: str, mode: str | None = "max") -> str:
    """A search's score as every view names it.

    Example:
        >>> score_rule("val_loss", "min")
        'val_loss (lower is better)'
    """
    return f"{metric} ({'lower' if mode == 'min' else 'higher'} is better)"


def tail_mean(curve: Sequence[float], epochs: int = SCORE_EPOCHS) -> float:
    """The mean of the last ``epochs`` values of ``curve`` (all of them when shorter)."""
    tail = list(curve)[-max(1, int(epochs)):]
    if not tail:
        return math.nan
    return sum(float(v) for v in tail) / len(tail)


def final_loss(loss_curves: Iterable[Sequence[float]]) -> float:
    """The last training loss of each seed's curve, averaged (NaN when there is none)."""
    finals = [float(c[-1]) for c in loss_curves if len(c) and math.isfinite(float(c[-1]))]
    return sum(finals) / len(finals) if finals else math.nan


def converged(loss: float, reference_losses: Iterable[float]) -> bool | None:
    """Whether a final training loss ``loss`` fits the data as the references do
    (``None`` when there is nothing to compare: no loss or no reference loss)."""
    refs = [float(v) for v in reference_losses if v is not None and math.isfinite(float(v))]
    if not refs or loss is None or not math.isfinite(loss):
        return None
    return loss <= max(LOSS_FLOOR, LOSS_RATIO * max(refs))


def holds_up_value(score: float, is_converged: bool | None) -> float:
    """One number that ranks a not-converged candidate below every converged one."""
    return score - NOT_CONVERGED_PENALTY if is_converged is False else score
