"""Polynomial activations: PolyReLU, PolyNorm (PolyCom) and polynomial compositions.

With order ``k`` and learnable ``w0 .. w{k-1}``, ``b``:

* PolyReLU:    ``w0 r^k + w1 r^(k-1) + ... + w{k-1} r + b``, ``r = relu(x)``
* PolyNorm:    ``w0 rmsnorm(x^k) + ... + w{k-1} rmsnorm(x) + b``, where
  ``rmsnorm(z) = z / sqrt(mean(z^2 over the feature dim) + 1e-6)``: a row-wise
  reduction, so PolyNorm candidates are not elementwise.
* composition: ``w0 g^k + ... + w{k-1} g + b`` for a base ``g`` in
  :data:`BASES` (``x`` itself gives a plain polynomial).

PolyReLU and PolyNorm start at ``w = 1/k``, ``b = 0`` as in PolyCom.

Example:
    >>> import numpy as np, actsearch
    >>> s = actsearch.space("polynomial", kind="polyrelu", order=3)
    >>> s.initial().text
    'b + w0*relu(x)**3 + w1*relu(x)**2 + w2*relu(x); b=0.0, w0=0.3333333333333333, w1=0.3333333333333333, w2=0.3333333333333333'
    >>> actsearch.space("polynomial", kind="polynorm").initial().elementwise
    False
"""

from __future__ import annotations

import functools
import re

import numpy as np
import sympy

from actsearch.symbolic.parser import X, param_symbol
from actsearch.symbolic.expr import Candidate
from actsearch.symbolic.functions import FUNCTIONS

from ._common import (SearchSpaceError, body, check_choice, check_float, check_int, choice, finish, jitter_params,
                     param_crossover, reject_unknown)
from .base import SearchSpace

__all__ = ["PolynomialSpace", "polynomial_expr", "polynomial_candidate", "KINDS", "BASES"]

FAMILY = "polynomial"
KINDS = ("polyrelu", "polynorm", "composition")
#: bases g of the general compositions sum_i w_i g(x)^i
BASES = ("relu", "gelu", "silu", "tanh", "x")
_MAX_ORDER = 8
_W_NAME = re.compile(r"w(\d+)$")


def _base(name: str) -> sympy.Expr:
    return X if name == "x" else FUNCTIONS[name].sympy_fn(X)


def polynomial_expr(kind: str, order: int, base: str = "relu") -> sympy.Expr:
    """``sum_i w_{k-i} * term_i + b`` for ``i = 1..k`` (``base`` only for compositions)."""
    k = order
    w = [param_symbol(f"w{j}") for j in range(k)]
    if kind == "polyrelu":
        terms = [FUNCTIONS["relu"].sympy_fn(X) ** i for i in range(1, k + 1)]
    elif kind == "polynorm":
        norm = FUNCTIONS["rmsnorm"].sympy_fn
        terms = [norm(X**i) for i in range(1, k + 1)]
    else:
        g = _base(base)
        terms = [g**i for i in range(1, k + 1)]
    return sympy.Add(*[w[k - i] * terms[i - 1] for i in range(1, k + 1)]) + param_symbol("b")


def polynomial_candidate(kind: str, order: int, weights, bias: float = 0.0, base: str = "relu",
                         name: str | None = None) -> Candidate:
    """A polynomial candidate with ``weights`` = (w0 .. w{k-1}) and ``bias``."""
    params = {f"w{j}": float(v) for j, v in enumerate(weights)}
    params["b"] = float(bias)
    return finish(polynomial_expr(kind, order, base), params, FAMILY, name=name)


@functools.lru_cache(maxsize=None)
def _body_text(kind: str, order: int, base: str) -> str:
    params = {f"w{j}": 1.0 for j in range(order)}
    params["b"] = 1.0
    return body(Candidate(polynomial_expr(kind, order, base), params))


def _structures(order: int):
    yield ("polyrelu", "relu")
    yield ("polynorm", "x")
    for base in BASES:
        yield ("composition", base)


class PolynomialSpace(SearchSpace):
    """PolyReLU, PolyNorm and polynomial compositions of configurable order.

    Options:
        kind: ``"polyrelu"``, ``"polynorm"``, ``"composition"`` or ``"any"`` (default).
        order: the degree ``k`` (1..8, default 3), or ``"any"`` (2..4 per sample).
        base: base of compositions, one of :data:`BASES` or ``"any"`` (default).
        jitter: relative noise on sampled weights (default 0.2).

    ``sample`` starts from ``w = 1/k, b = 0`` and jitters; ``mutate`` perturbs the
    weights and, for compositions with a free base, sometimes swaps the base;
    ``crossover`` takes each weight from either parent.  Candidates from outside
    the space are replaced by a fresh sample.
    """

    name = FAMILY
    option_help = {
        "kind": "polyrelu | polynorm | composition | any (default any)",
        "order": "polynomial degree k, 1..8, or any (default 3)",
        "base": "composition base: " + " | ".join(BASES) + " | any (default any)",
        "jitter": "relative noise on sampled weights (default 0.2)",
    }

    def __init__(self, kind: str = "any", order=3, base: str = "any", jitter: float = 0.2, **unknown):
        reject_unknown(self, unknown)
        self._options = {"kind": kind, "order": order, "base": base, "jitter": jitter}
        self.kind = check_choice("kind", kind, (*KINDS, "any"), FAMILY)
        self.order = order if order == "any" else check_int("order", order, 1, _MAX_ORDER, FAMILY)
        self.base = check_choice("base", base, (*BASES, "any"), FAMILY)
        self.jitter = check_float("jitter", jitter, 0.0, 10.0, FAMILY)

    # -- structure ----------------------------------------------------------
    def structure(self, candidate: Candidate) -> tuple[str, int, str] | None:
        """(kind, order, base) of a polynomial candidate, or ``None``."""
        if candidate.family != FAMILY or "b" not in candidate.params:
            return None
        idx = sorted(int(m.group(1)) for k in candidate.params if (m := _W_NAME.match(k)))
        order = len(idx)
        if not 1 <= order <= _MAX_ORDER or idx != list(range(order)) or len(candidate.params) != order + 1:
            return None
        text = body(candidate)
        for kind, base in _structures(order):
            if _body_text(kind, order, base) == text:
                return (kind, order, base)
        return None

    def contains(self, candidate: Candidate) -> bool:
        found = self.structure(candidate)
        if found is None:
            return False
        kind, order, base = found
        if self.order != "any" and order != self.order:
            return False
        if self.kind == "any":
            return True
        if kind == "polyrelu" and self.kind == "composition":  # the relu-based composition
            return self.base in ("any", "relu")
        return kind == self.kind and (kind != "composition" or self.base in ("any", base))

    # -- candidates -----------------------------------------------------------
    def initial(self) -> Candidate:
        """PolyCom's start, ``w = 1/k`` and ``b = 0`` (needs a fixed kind and order)."""
        if "any" in (self.kind, self.order) or (self.kind == "composition" and self.base == "any"):
            raise SearchSpaceError("polynomial: initial() needs a fixed kind and order (and base)")
        return self._start(self.kind, self.order, self.base)

    def _start(self, kind: str, order: int, base: str) -> Candidate:
        return polynomial_candidate(kind, order, [1.0 / order] * order, 0.0, base=base)

    def _draw(self, rng: np.random.Generator) -> tuple[str, int, str]:
        kind = self.kind if self.kind != "any" else choice(rng, KINDS)
        order = self.order if self.order != "any" else int(rng.integers(2, 5))
        base = self.base if self.base != "any" else choice(rng, BASES)
        return kind, order, base

    def sample(self, rng: np.random.Generator) -> Candidate:
        kind, order, base = self._draw(rng)
        start = self._start(kind, order, base)
        return jitter_params(start, rng, self.jitter) if self.jitter > 0 else start

    def mutate(self, candidate: Candidate, rng: np.random.Generator) -> Candidate:
        found = self.structure(candidate) if self.contains(candidate) else None
        if found is None:
            return self.sample(rng)
        kind, order, base = found
        if kind == "composition" and self.base == "any" and rng.random() < 0.25:
            others = [g for g in BASES if g != base]
            weights = [candidate.params[f"w{j}"] for j in range(order)]
            return polynomial_candidate(kind, order, weights, candidate.params["b"], base=choice(rng, others))
        return jitter_params(candidate, rng, max(self.jitter, 0.05))

    def crossover(self, a: Candidate, b: Candidate, rng: np.random.Generator) -> Candidate:
        return param_crossover(self, a, b, rng)
