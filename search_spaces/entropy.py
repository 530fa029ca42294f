"""Entropy-corrected activations: CRReLU and the EAFO correction of monotone bases.

The EAFO correction of a monotone base ``f`` (Sun et al. 2024) is

    f(x) - e * phi(x) * (x + f''(x) / f'(x)),    phi(x) = exp(-x^2/2) / sqrt(2 pi).

This space uses CRReLU's scaling of the learnable parameter, ``eps = -e / sqrt(2 pi)``:

    f(x) + eps * exp(-x^2/2) * (x + f''(x) / f'(x))

which is the same family, with CRReLU ``relu(x) + eps*x*exp(-x**2/2)`` (eps = 0.01)
as the first-order correction of ``relu`` (``f'' = 0`` away from 0); a positive
CRReLU ``eps`` is a negative EAFO ``e``.  ``f''/f'`` is derived symbolically with
sympy from the base's expression.  Higher orders apply the correction again to the
corrected function, with a new parameter each time (``eps``, ``eps2``); orders stop at 2, because
the third correction's canonical text is longer than the parser accepts.

Bases (:data:`BASES`) are the monotone whitelisted functions whose ratio ``f''/f'``
is written with whitelisted functions: relu and leaky_relu (ratio 0), softplus
(``1 - sigmoid(x)``), sigmoid (``1 - 2 sigmoid(x)``), tanh (``-2 tanh(x)``) and arctan
(``-2x/(1+x^2)``).  Left out, on purpose:

* gelu and silu are not monotone: ``f'`` vanishes near x = -0.75 (gelu) and
  x = -1.28 (silu), so ``f''/f'`` has a pole there.
* elu, selu and softsign have a second derivative that jumps at 0, so the
  correction jumps too; writing it needs a step function the parser does not have.
* relu and leaky_relu have no higher orders: after one correction ``f'`` jumps at
  0 (a step again) and, for relu, vanishes at x = -1 (a pole).

Example:
    >>> import actsearch
    >>> s = actsearch.space("entropy", base="relu", order=1)
    >>> s.initial().text
    'eps*x*exp(-x**2/2) + relu(x); eps=0.01'
    >>> actsearch.space("entropy", base="softplus", order=1).initial().text
    'eps*(x - sigmoid(x) + 1)*exp(-x**2/2) + softplus(x); eps=0.01'
"""

from __future__ import annotations

import functools
import re

import numpy as np
import sympy

from actsearch.symbolic.parser import X, param_symbol
from actsearch.symbolic.expr import Candidate
from actsearch.symbolic.functions import DERIVED_HEADS, FUNCTIONS

from ._common import (SearchSpaceError, body, check_choice, check_float, check_int, choice, finish, param_crossover,
                     reject_unknown, round_sig)
from .base import SearchSpace

__all__ = ["EntropySpace", "eafo_expr", "eafo_candidate", "derivative_ratio", "BASES", "SMOOTH_BASES"]

FAMILY = "entropy"
BASES = ("relu", "leaky_relu", "softplus", "sigmoid", "tanh", "arctan")
#: bases whose corrected function is smooth again, so the correction repeats
SMOOTH_BASES = ("softplus", "sigmoid", "tanh", "arctan")
#: a third correction of softplus prints to more than the parser's 4000 characters
MAX_ORDER = 2
EPS_INIT = 0.01
_EPS_NAME = re.compile(r"eps(\d*)$")


def eps_name(step: int) -> str:
    """``eps`` for the first correction, ``eps2`` for the second."""
    return "eps" if step == 1 else f"eps{step}"


def derivative_ratio(f: sympy.Expr) -> sympy.Expr:
    """``f''/f'`` of ``f`` in ``x``, symbolically; an error if it needs a step function."""
    d1 = sympy.diff(f, X)
    d2 = sympy.diff(d1, X)
    if d2 == 0:
        return sympy.Integer(0)
    ratio = sympy.cancel(d2 / d1) if f.count_ops() < 40 else d2 / d1
    if ratio.has(*DERIVED_HEADS, sympy.DiracDelta):
        raise SearchSpaceError(f"entropy: f''/f' of {f} is not smooth (needs a step function)")
    return ratio


@functools.lru_cache(maxsize=None)
def eafo_expr(base: str, order: int) -> sympy.Expr:
    """``order`` repeated corrections ``f + eps_k exp(-x^2/2) (x + f''/f')`` of ``base``."""
    f = FUNCTIONS[base].sympy_fn(X)
    gauss = sympy.exp(-(X**2) / 2)
    for step in range(1, order + 1):
        f = f + param_symbol(eps_name(step)) * gauss * (X + derivative_ratio(f))
    return f


def eafo_candidate(base: str, order: int = 1, eps=None, name: str | None = None) -> Candidate:
    """The order-``order`` correction of ``base``; ``eps`` is one value or one per order."""
    if eps is None:
        eps = [EPS_INIT] * order
    elif np.isscalar(eps):
        eps = [float(eps)] * order
    params = {eps_name(k + 1): float(v) for k, v in enumerate(eps)}
    return finish(eafo_expr(base, order), params, FAMILY, name=name)


@functools.lru_cache(maxsize=None)
def _body_text(base: str, order: int) -> str:
    params = {eps_name(k): 1.0 for k in range(1, order + 1)}
    return body(Candidate(eafo_expr(base, order), params))


def _allowed_bases(order: int) -> tuple[str, ...]:
    return BASES if order == 1 else SMOOTH_BASES


class EntropySpace(SearchSpace):
    """CRReLU and EAFO corrections of monotone bases, first and higher order.

    Options:
        base: one of :data:`BASES` or ``"any"`` (default).
        order: number of corrections, 1 or 2, or ``"any"`` (default: 1 or 2 per
            sample).  Orders above 1 need a smooth base (:data:`SMOOTH_BASES`).
        scale: spread of sampled ``eps`` around 0.01 (default 0: CRReLU's 0.01;
            values are clipped to [-0.1, 0.1] so the corrected derivative stays positive).

    A sample is a *structure*, base x order (10 of them), started at eps = 0.01.
    ``mutate`` switches the base or the order (keeping the eps it can);
    ``crossover`` takes base and order from either parent.  With both fixed they
    perturb the eps values.  Candidates from outside the space are replaced by a
    fresh sample.  With ``scale=0`` the space is finite (``enumerate()``).
    """

    name = FAMILY
    option_help = {
        "base": "base function: " + " | ".join(BASES) + " | any (default any)",
        "order": f"number of corrections 1..{MAX_ORDER}, or any (default any); >1 needs a smooth base",
        "scale": "spread of sampled eps around 0.01 (default 0: none)",
    }

    def __init__(self, base: str = "any", order="any", scale: float = 0.0, **unknown):
        reject_unknown(self, unknown)
        self._options = {"base": base, "order": order, "scale": scale}
        self.base = check_choice("base", base, (*BASES, "any"), FAMILY)
        self.order = order if order == "any" else check_int("order", order, 1, MAX_ORDER, FAMILY)
        if self.order not in ("any", 1) and self.base not in ("any", *SMOOTH_BASES):
            raise SearchSpaceError(
                f"entropy: order {self.order} needs a smooth base ({', '.join(SMOOTH_BASES)}); "
                f"{base} has a step in f' after one correction"
            )
        self.scale = check_float("scale", scale, 0.0, 1.0, FAMILY)

    @property
    def finite(self) -> bool:
        """With ``scale=0``: every sample is one structure's start."""
        return self.scale == 0

    # -- structure ----------------------------------------------------------
    def structure(self, candidate: Candidate) -> tuple[str, int] | None:
        """(base, order) of an entropy candidate, or ``None``."""
        if candidate.family != FAMILY:
            return None
        if not all(_EPS_NAME.match(k) for k in candidate.params):
            return None
        order = len(candidate.params)
        if not 1 <= order <= MAX_ORDER or set(candidate.params) != {eps_name(k) for k in range(1, order + 1)}:
            return None
        text = body(candidate)
        for base in _allowed_bases(order):
            if _body_text(base, order) == text:
                return (base, order)
        return None

    def contains(self, candidate: Candidate) -> bool:
        found = self.structure(candidate)
        if found is None:
            return False
        base, order = found
        return self.base in ("any", base) and self.order in ("any", order)

    # -- candidates -----------------------------------------------------------
    def initial(self) -> Candidate:
        """eps = 0.01 at every order (needs a fixed base and order)."""
        if "any" in (self.base, self.order):
            raise SearchSpaceError("entropy: initial() needs a fixed base and order")
        return eafo_candidate(self.base, self.order)

    def _eps(self, rng: np.random.Generator, around: float) -> float:
        if self.scale == 0:
            return around
        return round_sig(float(np.clip(around + self.scale * rng.standard_normal(), -0.1, 0.1)))

    def _structures(self) -> list[tuple[str, int]]:
        orders = range(1, MAX_ORDER + 1) if self.order == "any" else (self.order,)
        return [(base, order) for order in orders for base in _allowed_bases(order)
                if self.base in ("any", base)]

    def sample(self, rng: np.random.Generator) -> Candidate:
        base, order = choice(rng, self._structures())
        return eafo_candidate(base, order, [self._eps(rng, EPS_INIT) for _ in range(order)])

    def enumerate(self):
        """Every structure's start (only with ``scale=0``)."""
        if not self.finite:
            return super().enumerate()
        return (eafo_candidate(base, order) for base, order in self._structures())

    def mutate(self, candidate: Candidate, rng: np.random.Generator) -> Candidate:
        found = self.structure(candidate) if self.contains(candidate) else None
        if found is None:
            return self.sample(rng)
        eps = [candidate.params[eps_name(k)] for k in range(1, found[1] + 1)]
        others = [s for s in self._structures() if s != found]
        if not others:
            return eafo_candidate(*found, [self._eps(rng, e) if self.scale else
                                           round_sig(float(np.clip(e + 0.02 * rng.standard_normal(), -0.1, 0.1)))
                                           for e in eps])
        # a neighbour: the same order with another base, or the same base at another order
        near = [s for s in others if s[0] == found[0] or s[1] == found[1]] or others
        base, order = choice(rng, near)
        eps = (eps + [EPS_INIT] * order)[:order]
        return eafo_candidate(base, order, [self._eps(rng, e) for e in eps])

    def crossover(self, a: Candidate, b: Candidate, rng: np.random.Generator) -> Candidate:
        sa = self.structure(a) if self.contains(a) else None
        sb = self.structure(b) if self.contains(b) else None
        if sa is None or sb is None or len(self._structures()) < 2:
            return param_crossover(self, a, b, rng)
        base = sa[0] if rng.random() < 0.5 else sb[0]
        order = sa[1] if rng.random() < 0.5 else sb[1]
        if (base, order) not in self._structures():
            base, order = sa
        return eafo_candidate(base, order, [self._eps(rng, EPS_INIT) for _ in range(order)])
