"""Acquisition rules: how much a prediction ``(mean, std)`` is worth evaluating (maximise).

* ``ucb``: upper confidence bound ``mean + kappa * std``;
* ``ei``: expected improvement over ``best`` (plus margin ``xi``) of a normal
  ``N(mean, std^2)``: ``(mean - best - xi) * Phi(z) + std * phi(z)``,
  ``z = (mean - best - xi) / std``; with ``std == 0`` it is ``max(mean - best - xi, 0)``.

Example:
    >>> import numpy as np
    >>> from actsearch.surrogates.acquisition import acquire
    >>> acquire("ucb", np.array([0.5, 0.4]), np.array([0.0, 0.2]), kappa=1.0).tolist()
    [0.5, 0.6000000000000001]
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import erf

from actsearch.registry import unknown_name

__all__ = ["ucb", "expected_improvement", "acquire", "ACQUISITIONS"]


def ucb(mean: np.ndarray, std: np.ndarray, kappa: float = 1.0) -> np.ndarray:
    """``mean + kappa * std``."""
    return np.asarray(mean, float) + kappa * np.asarray(std, float)


def expected_improvement(mean: np.ndarray, std: np.ndarray, best: float, xi: float = 0.0) -> np.ndarray:
    """Expected improvement of ``N(mean, std^2)`` over ``best + xi``."""
    mean, std = np.asarray(mean, float), np.asarray(std, float)
    gain = mean - best - xi
    safe = np.where(std > 0, std, 1.0)
    z = gain / safe
    cdf = 0.5 * (1.0 + erf(z / math.sqrt(2.0)))
    pdf = np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    return np.where(std > 0, gain * cdf + std * pdf, np.maximum(gain, 0.0))


ACQUISITIONS = ("ucb", "ei")


def acquire(name: str, mean, std, best: float | None = None, kappa: float = 1.0, xi: float = 0.0) -> np.ndarray:
    """Scores by rule ``name``; ``best`` is needed for ``ei`` (defaults to ``max(mean)``)."""
    if name == "ucb":
        return ucb(mean, std, kappa)
    if name == "ei":
        return expected_improvement(mean, std, float(np.max(mean)) if best is None else best, xi)
    raise unknown_name("acquisition", name, ACQUISITIONS)
