"""The statistics a leaderboard shows: how the last epochs move, and the paired test.

Stability (:func:`tail_stats`, :func:`stability`): ``tail_std`` is the standard
deviation of the metric over the last :data:`TAIL_EPOCHS` epochs of each seed's
curve, averaged over seeds.  A candidate that trained to the end is flagged
``unstable`` when its values swing around their trend over those epochs more than
twice as much as the most any reference of the same task and epochs does (and by
more than 0.01), and ``drifting`` when that trend still moves more than twice as far
as the references' does (and more than 0.01); otherwise it is ``stable``.  A gain is
worth little when the metric it rests on swings by more than the gain.  Whether a
candidate *converged* (fits its training data as the references do) is
:func:`actsearch.scoring.converged`'s rule, which the leaderboard applies.

``wins`` and ``p`` compare a candidate with a reference trained on the same seeds:
:func:`paired_p` is the one-sided paired t-test p-value that the candidate's mean
is higher, :func:`holm` corrects several of them for being tested together,
:func:`format_p` is how the tables print one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Tail", "tail_stats", "stability", "paired_p", "holm", "format_p", "TAIL_EPOCHS", "STABILITY_RATIO",
           "STABILITY_FLOOR"]


#: epochs at the end of each seed's curve that the stability measures read
TAIL_EPOCHS = 5
#: a candidate is flagged when it moves more than this many times the most any
#: reference (relu, gelu, silu on the same task and epochs) moves ...
STABILITY_RATIO = 2.0
#: ... and more than this, in the metric's units (1 point of accuracy): references
#: that barely move must not turn ordinary noise into a flag
STABILITY_FLOOR = 0.01


@dataclass(frozen=True)
class Tail:
    """How the last :data:`TAIL_EPOCHS` epochs of a run's curves move, averaged over seeds.

    ``std``: the population standard deviation of those epochs' values (what the
    ``tail_std`` column shows).  A least-squares line through them splits it in two:
    ``jitter``, the root mean square of the values around the line (epoch-to-epoch
    swings), and ``drift``, how far the line moves across the window, as an absolute
    value (a curve still rising, or falling, at the end).  NaN when no seed has three
    finite epochs.

    Example:
        >>> t = tail_stats([[0.1, 0.5, 0.7, 0.5, 0.7, 0.5]])   # swings by 0.2 around 0.58
        >>> round(t.std, 4), round(t.drift, 4)
        (0.098, 0.0)
    """

    std: float
    jitter: float
    drift: float


def _seed_tail(curve, epochs: int) -> tuple[float, float, float] | None:
    import numpy as np

    y = np.asarray(curve[-epochs:], dtype=np.float64)
    if len(y) < 3 or not np.isfinite(y).all():
        return None  # two points always lie on a line: nothing to tell jitter from drift
    t = np.arange(len(y), dtype=np.float64)
    slope, intercept = np.polyfit(t, y, 1)
    residual = y - (slope * t + intercept)
    return float(y.std()), float(np.sqrt(np.mean(residual**2))), abs(float(slope)) * (len(y) - 1)


def tail_stats(curves, epochs: int = TAIL_EPOCHS) -> Tail:
    """:class:`Tail` of the per-seed ``curves`` (one list of per-epoch values per seed)."""
    per_seed = [s for s in (_seed_tail(c, epochs) for c in curves if c) if s is not None]
    if not per_seed:
        return Tail(math.nan, math.nan, math.nan)
    std, jitter, drift = (sum(v) / len(per_seed) for v in zip(*per_seed))
    return Tail(std, jitter, drift)


def stability(tail: Tail, reference_tails=()) -> str | None:
    """``"unstable"``, ``"drifting"``, ``"stable"``, or None when ``tail`` is NaN.

    Unstable: ``tail.jitter`` above :data:`STABILITY_FLOOR` and above
    :data:`STABILITY_RATIO` times the largest jitter among ``reference_tails``.
    Drifting (checked second): ``tail.drift`` above the same bounds computed from the
    references' drifts.

    Example:
        >>> relu = Tail(std=0.006, jitter=0.005, drift=0.008)
        >>> stability(Tail(std=0.1, jitter=0.1, drift=0.01), [relu])
        'unstable'
        >>> stability(Tail(std=0.02, jitter=0.004, drift=0.06), [relu])
        'drifting'
        >>> stability(Tail(std=0.01, jitter=0.009, drift=0.015), [relu])
        'stable'
    """
    if math.isnan(tail.jitter):
        return None

    def bound(field: str) -> float:
        values = [getattr(r, field) for r in reference_tails if not math.isnan(getattr(r, field))]
        return max([STABILITY_FLOOR] + [STABILITY_RATIO * v for v in values])

    if tail.jitter > bound("jitter"):
        return "unstable"
    if tail.drift > bound("drift"):
        return "drifting"
    return "stable"


def paired_p(mine: list[float], theirs: list[float]) -> float:
    """P(mean difference > 0 by chance) under a paired t-test.

    Differences that are all the same (accuracies are multiples of 1/N, so this
    happens) leave the t statistic at +-infinity: 0 when the candidate won every
    seed by that margin, 1 when it lost, NaN when the two tie on every seed.
    """
    import warnings

    import numpy as np
    from scipy import stats

    diff = np.asarray(mine, dtype=np.float64) - np.asarray(theirs, dtype=np.float64)
    if np.allclose(diff, diff[0], rtol=0.0, atol=1e-9):
        return 0.0 if diff[0] > 1e-9 else 1.0 if diff[0] < -1e-9 else math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_rel(diff, np.zeros_like(diff), alternative="greater").pvalue)


def holm(pvalues) -> list[float]:
    """Holm's step-down correction of ``pvalues`` tested together (NaN left as NaN).

    The i-th smallest of the m finite p-values becomes ``(m - i + 1) p``, made no
    smaller than the one before it and capped at 1: a candidate counts as better at
    level alpha when its corrected p is below alpha, with the chance of any false
    claim among the m kept under alpha.

    Example:
        >>> [round(v, 3) for v in holm([0.01, 0.04, 0.03, float("nan")])]
        [0.03, 0.06, 0.06, nan]
    """
    values = [float(v) if v is not None else math.nan for v in pvalues]
    finite = sorted((v, i) for i, v in enumerate(values) if not math.isnan(v))
    out = [math.nan] * len(values)
    running = 0.0
    for rank, (value, i) in enumerate(finite):
        running = max(running, min(1.0, (len(finite) - rank) * value))
        out[i] = running
    return out


def format_p(value: float) -> str:
    """A p-value as the tables print it: three decimals, ``<0.001`` below that."""
    return f"{value:.3f}" if value >= 0.001 else "<0.001"
