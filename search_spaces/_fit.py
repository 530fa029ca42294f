"""Least-squares fits of rational (PAU) activations to named targets.

The coefficients are computed here, not copied from a table: first the linearised
problem ``P(x) - y Q(x) = 0`` (linear in the coefficients once the absolute values
are dropped) is solved with ``numpy.linalg.lstsq``, then the actual nonlinear form
``P(x)/Q(x)`` of the requested version, absolute values included, is refined with
``scipy.optimize.least_squares`` from that start and from a polynomial start; the
better of the two wins.  Fits are cached: the same request returns the same
coefficients in every process.

Example:
    >>> from actsearch.search_spaces._fit import fit_rational
    >>> fit = fit_rational("gelu", "A", 5, 4)
    >>> len(fit.a), len(fit.b), fit.max_error < 1e-2
    (6, 4, True)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from actsearch.symbolic.functions import FUNCTIONS

if TYPE_CHECKING:
    import torch

__all__ = [
    "FIT_RANGE", "TARGETS", "VERSIONS", "RationalFit", "fit_rational", "target_numpy", "target_torch", "rational_numpy",
]

FIT_RANGE = (-3.0, 3.0)
_FIT_POINTS = 601
#: significant digits kept in fitted coefficients: short canonical text, and the
#: rounding is part of what the verification in the evaluated form checks
_DIGITS = 8
_MAX_EVALS = 400

VERSIONS = ("A", "B", "C", "N")
#: Q = 0.1 + |...| in version C
_C_OFFSET = 0.1


#: the fit targets, in the order the rational space draws them; each is a row of
#: the function table (its ``numpy`` form) except the identity
_TARGET_NAMES = ("leaky_relu", "relu", "gelu", "swish", "tanh", "sigmoid", "identity")


def _identity(z: np.ndarray) -> np.ndarray:
    return z.astype(float)


def _numpy_form(name: str):
    if name == "identity":
        return _identity
    form = FUNCTIONS[name].numpy
    if form is None:  # pragma: no cover - a table row lost its numpy form
        raise KeyError(f"fit target {name!r} has no numpy form in actsearch.symbolic.functions")
    return form


TARGETS = {name: _numpy_form(name) for name in _TARGET_NAMES}


def target_numpy(name: str, z: np.ndarray) -> np.ndarray:
    """The target activation ``name`` evaluated in float64 numpy."""
    return TARGETS[name](np.asarray(z, dtype=float))


def target_torch(name: str, z: torch.Tensor) -> torch.Tensor:
    """The target activation ``name`` evaluated by torch (the table's eager form)."""
    return z if name == "identity" else FUNCTIONS[name].torch_fn(z)


def _denominator_numpy(version: str, b: np.ndarray, z: np.ndarray) -> np.ndarray:
    if version == "A":
        return 1.0 + sum(abs(bj) * np.abs(z) ** (j + 1) for j, bj in enumerate(b))
    if version == "B":
        return 1.0 + np.abs(sum(bj * z ** (j + 1) for j, bj in enumerate(b)))
    if version == "C":
        return _C_OFFSET + np.abs(sum(bj * z**j for j, bj in enumerate(b)))
    return 1.0 + sum(bj * z ** (j + 1) for j, bj in enumerate(b))


def rational_numpy(version: str, a, b, z: np.ndarray) -> np.ndarray:
    """P(z)/Q(z) for the given version; ``b`` starts at b1 (at b0 for version C)."""
    z = np.asarray(z, dtype=float)
    p = sum(aj * z**j for j, aj in enumerate(a))
    return p / _denominator_numpy(version, np.asarray(b, dtype=float), z)


@dataclass(frozen=True)
class RationalFit:
    """Fitted coefficients: ``a`` = (a0..am), ``b`` = (b1..bn), or (b0..bn) for C."""

    target: str
    version: str
    a: tuple[float, ...]
    b: tuple[float, ...]
    rms_error: float
    max_error: float


def _round(v: float) -> float:
    return float(f"{v:.{_DIGITS}g}")


def _jacobian(version: str, a, b, z: np.ndarray) -> np.ndarray:
    """d(P/Q)/d(a, b): analytic, so a fit takes milliseconds, not seconds."""
    q = _denominator_numpy(version, b, z)
    p = sum(aj * z**j for j, aj in enumerate(a))
    cols = [z**j / q for j in range(len(a))]
    first = 0 if version == "C" else 1
    powers = [z ** (j + first) for j in range(len(b))]
    if version == "A":
        dq = [np.sign(bj) * np.abs(zj) for bj, zj in zip(b, powers)]
    elif version in ("B", "C"):
        s = np.sign(sum(bj * zj for bj, zj in zip(b, powers)))
        dq = [s * zj for zj in powers]
    else:
        dq = powers
    cols += [-p / q**2 * d for d in dq]
    return np.stack(cols, axis=1)


def _linearised_start(version: str, m: int, n: int, z: np.ndarray, y: np.ndarray):
    """Solve P(z) - y * Q_lin(z) = y * q0 for (a, b) in the least-squares sense."""
    powers_p = np.stack([z**j for j in range(m + 1)], axis=1)
    if version == "A":
        q_terms = np.stack([np.abs(z) ** j for j in range(1, n + 1)], axis=1)
        q0 = 1.0
    elif version == "C":
        q_terms = np.stack([z**j for j in range(0, n + 1)], axis=1)
        q0 = _C_OFFSET
    else:  # B and N: the sum inside |.| is taken as positive
        q_terms = np.stack([z**j for j in range(1, n + 1)], axis=1)
        q0 = 1.0
    design = np.concatenate([powers_p, -y[:, None] * q_terms], axis=1)
    coef, *_ = np.linalg.lstsq(design, q0 * y, rcond=None)
    a, b = coef[: m + 1], coef[m + 1 :]
    if version == "A":
        b = np.abs(b)
    return a, b


def _polynomial_start(version: str, m: int, n: int, z: np.ndarray, y: np.ndarray):
    a = np.polynomial.polynomial.polyfit(z, y, m)
    nb = n + 1 if version == "C" else n
    # a small nonzero b: |b| has no useful gradient at exactly 0
    b = np.full(nb, 1e-2)
    if version == "C":
        b[0] = 1.0 - _C_OFFSET  # Q starts at 1
    return a, b


@functools.lru_cache(maxsize=None)
def fit_rational(target: str, version: str, m: int, n: int) -> RationalFit:
    """Fit ``P/Q`` of degrees (m, n) and ``version`` to ``target`` on [-3, 3]."""
    from scipy.optimize import least_squares

    if target not in TARGETS:
        raise KeyError(target)
    z = np.linspace(*FIT_RANGE, _FIT_POINTS)
    y = target_numpy(target, z)

    def residual(theta):
        return rational_numpy(version, theta[: m + 1], theta[m + 1 :], z) - y

    def jacobian(theta):
        return _jacobian(version, theta[: m + 1], theta[m + 1 :], z)

    best = None
    for start in (_linearised_start, _polynomial_start):
        a0, b0 = start(version, m, n, z, y)
        theta0 = np.concatenate([a0, b0])
        if not np.all(np.isfinite(residual(theta0))):
            continue
        with np.errstate(all="ignore"):
            sol = least_squares(residual, theta0, jac=jacobian, method="lm", xtol=1e-12, ftol=1e-12, max_nfev=_MAX_EVALS)
        theta = np.array([_round(v) for v in sol.x])
        r = residual(theta)
        if not np.all(np.isfinite(r)):
            continue
        score = float(np.sqrt(np.mean(r**2)))
        if best is None or score < best[0]:
            best = (score, float(np.max(np.abs(r))), theta)
    if best is None:  # pragma: no cover - both starts blew up
        raise ArithmeticError(f"rational fit to {target} failed")
    rms, mx, theta = best
    if version == "A":  # only |b_j| enters Q; store the equivalent positive values
        theta[m + 1 :] = np.abs(theta[m + 1 :])
    a = tuple(float(v) for v in theta[: m + 1])
    b = tuple(float(v) for v in theta[m + 1 :])
    return RationalFit(target, version, a, b, rms, mx)
