"""Signal propagation through a deep random network at initialisation, for many functions at once.

A cheap stand-in for AQuaSurF's Fisher spectrum (which costs seconds to minutes per
function on a GPU): the mean-field recursions of a wide fully connected network
(Poole et al. 2016; Schoenholz et al. 2017) with weight variance ``sigma_w^2 / fan_in``
and no bias, started at unit pre-activation variance::

    q_{l+1} = sigma_w^2 E[f(sqrt(q_l) z)^2]                       (signal size)
    c_{l+1} = sigma_w^2 E[f(u_1) f(u_2)] / q_{l+1}                (two inputs' correlation)
    chi_l   = sigma_w^2 E[f'(sqrt(q_l) z)^2]                      (gradient gain per layer)
    m_l     = E[f(sqrt(q_l) z)] / sqrt(E[f(sqrt(q_l) z)^2])        (how far from zero-mean)

with ``z ~ N(0, 1)`` and ``(u_1, u_2)`` bivariate normal of variance ``q_l`` and
correlation ``c_l``.  Expectations are Gauss-Hermite sums; ``f`` and ``f'`` are read
from each function's values on a uniform grid (linear interpolation, linear
extrapolation past its ends), so every function costs the same few array
operations whatever its formula, and a table of hundreds of thousands takes seconds.

Example:
    >>> import numpy as np
    >>> from actsearch.surrogates.signal import signal_features, LAYERS
    >>> grid = np.linspace(-5, 5, 501)
    >>> f = signal_features(np.maximum(grid, 0)[None, :], grid, sigma_w2=2.0)
    >>> f.shape == (1, 4 * LAYERS), bool(abs(f[0, 0]) < 1e-3)  # He init keeps relu's q at 1: log10 q = 0
    (True, True)
"""

from __future__ import annotations

import numpy as np

__all__ = ["signal_features", "LAYERS", "interpolate"]

LAYERS = 6
_NODES = 20
_NODES_2D = 10
_START_CORRELATION = 0.5
_CLIP = 8.0


def _hermite(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of ``E[g(z)], z ~ N(0, 1)`` (probabilists' Gauss-Hermite)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(n)
    return nodes, weights / weights.sum()


def interpolate(values: np.ndarray, grid: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Row ``i`` of ``values`` (a function on the uniform ``grid``) read at ``at[i, ...]``,
    linearly, and extrapolated linearly past the grid's ends."""
    lo, step = grid[0], grid[1] - grid[0]
    shape = at.shape
    pos = (at.reshape(len(at), -1) - lo) / step
    idx = np.clip(np.floor(pos), 0, len(grid) - 2).astype(np.int64)
    frac = pos - idx
    left = np.take_along_axis(values, idx, axis=1)
    right = np.take_along_axis(values, idx + 1, axis=1)
    return (left + frac * (right - left)).reshape(shape)


def signal_features(values: np.ndarray, grid: np.ndarray, sigma_w2: float = 2.0,
                    layers: int = LAYERS) -> np.ndarray:
    """``(n, 4 * layers)``: per layer ``log10 q``, ``c``, ``log10 chi`` and ``m`` (see the module).

    ``values`` is ``(n, len(grid))``, finite.  Sizes are bounded (``log10`` values to
    ``+-8``) so that an exploding function stays comparable with the others.
    """
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    slopes = np.gradient(values, grid, axis=1)
    z, w = _hermite(_NODES)
    za, wa = _hermite(_NODES_2D)
    out = np.empty((n, 4, layers))
    q = np.ones(n)
    c = np.full(n, _START_CORRELATION)
    with np.errstate(all="ignore"):
        for layer in range(layers):
            s = np.sqrt(q)[:, None]
            f = interpolate(values, grid, s * z[None, :])
            df = interpolate(slopes, grid, s * z[None, :])
            second = (f * f) @ w
            mean = f @ w
            chi = sigma_w2 * (df * df) @ w
            q_next = np.clip(sigma_w2 * second, 10.0 ** -_CLIP, 10.0 ** _CLIP)
            # correlated pair: u1 = s za_i, u2 = s (c za_i + sqrt(1 - c^2) za_j)
            root = np.sqrt(np.clip(1.0 - c * c, 0.0, 1.0))[:, None, None]
            f1 = interpolate(values, grid, s * za[None, :])
            u2 = s[:, :, None] * (c[:, None, None] * za[None, :, None] + root * za[None, None, :])
            f2 = interpolate(values, grid, u2)
            cross = np.einsum("ni,nij,i,j->n", f1, f2, wa, wa)
            c_next = np.clip(sigma_w2 * cross / q_next, -1.0, 1.0)
            out[:, 0, layer] = np.log10(q_next)
            out[:, 1, layer] = c_next
            out[:, 2, layer] = np.clip(np.log10(chi), -_CLIP, _CLIP)
            out[:, 3, layer] = mean / np.sqrt(np.maximum(second, 1e-300))
            q, c = q_next, np.nan_to_num(c_next)
    out = np.nan_to_num(out, nan=-_CLIP, posinf=_CLIP, neginf=-_CLIP)
    return out.reshape(n, 4 * layers)
