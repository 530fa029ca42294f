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
    >>> actsearch.space("polynomial", kind="polynorm", order=3).initial().elementwise
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


#: orders a sample draws from when ``order="any"``
ORDER_CHOICES = (2, 3, 4, 5)


class PolynomialSpace(SearchSpace):
    """PolyReLU, PolyNorm and polynomial compositions of configurable order.

    Options:
        kind: ``"polyrelu"``, ``"polynorm"``, ``"composition"`` or ``"any"`` (default).
        order: the degree ``k`` (1..8), or ``"any"`` (default: one of
            :data:`ORDER_CHOICES` per sample).
        base: base of compositions, one of :data:`BASES` or ``"any"`` (default).
        jitter: relative noise on sampled weights (default 0: PolyCom's start).

    A sample is a *structure*, kind x order (x base for compositions), started at
    PolyCom's ``w = 1/k, b = 0``.  ``mutate`` redraws one free part of the
    structure (kind, order or base), keeping the weights where the orders agree;
    ``crossover`` takes each part from either parent.  With every part fixed they
    perturb the weights instead.  Candidates from outside the space are replaced by
    a fresh sample.  Without jitter the space is finite (``enumerate()``).
    """

    name = FAMILY
    option_help = {
        "kind": "polyrelu | polynorm | composition | any (default any)",
        "order": "polynomial degree k, 1..8, or any (default any: "
                 + ", ".join(map(str, ORDER_CHOICES)) + ")",
        "base": "composition base: " + " | ".join(BASES) + " | any (default any)",
        "jitter": "relative noise on sampled weights (default 0: none)",
    }

    def __init__(self, kind: str = "any", order="any", base: str = "any", jitter: float = 0.0, **unknown):
        reject_unknown(self, unknown)
        self._options = {"kind": kind, "order": order, "base": base, "jitter": jitter}
        self.kind = check_choice("kind", kind, (*KINDS, "any"), FAMILY)
        self.order = order if order == "any" else check_int("order", order, 1, _MAX_ORDER, FAMILY)
        self.base = check_choice("base", base, (*BASES, "any"), FAMILY)
        self.jitter = check_float("jitter", jitter, 0.0, 10.0, FAMILY)

    @property
    def finite(self) -> bool:
        """Without jitter: every sample is one structure's start."""
        return self.jitter == 0

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

    def _start(self, kind: str, order: int, base: str, weights=None, bias: float = 0.0) -> Candidate:
        weights = [1.0 / order] * order if weights is None else weights
        return polynomial_candidate(kind, order, weights, bias, base=base)

    def _choices(self) -> dict[str, tuple]:
        return {
            "kind": KINDS if self.kind == "any" else (self.kind,),
            "order": ORDER_CHOICES if self.order == "any" else (self.order,),
            "base": BASES if self.base == "any" else (self.base,),
        }

    def _build(self, parts: dict, rng: np.random.Generator, weights=None, bias: float = 0.0) -> Candidate:
        kind = parts["kind"]
        base = parts["base"] if kind == "composition" else ("relu" if kind == "polyrelu" else "x")
        start = self._start(kind, parts["order"], base, weights, bias)
        return jitter_params(start, rng, self.jitter) if self.jitter > 0 else start

    def _parts(self, candidate: Candidate, rng: np.random.Generator) -> dict | None:
        found = self.structure(candidate) if self.contains(candidate) else None
        if found is None:
            return None
        kind, order, base = found
        if kind != "composition":
            base = choice(rng, self._choices()["base"])  # unused until the kind becomes composition
        if kind == "polyrelu" and self.kind == "composition":
            kind, base = "composition", "relu"
        return {"kind": kind, "order": order, "base": base}

    def _structures(self) -> list[dict]:
        """The distinct structures (the relu composition is PolyReLU: listed once)."""
        choices, out = self._choices(), []
        for kind in choices["kind"]:
            for order in choices["order"]:
                for base in (choices["base"] if kind == "composition" else choices["base"][:1]):
                    if kind == "composition" and base == "relu" and "polyrelu" in choices["kind"]:
                        continue
                    out.append({"kind": kind, "order": order, "base": base})
        return out

    def sample(self, rng: np.random.Generator) -> Candidate:
        """A structure drawn uniformly, at its start (jittered if ``jitter > 0``)."""
        return self._build(dict(choice(rng, self._structures())), rng)

    def enumerate(self):
        """Every structure's start (only without jitter)."""
        if not self.finite:
            return super().enumerate()
        rng = np.random.default_rng(0)  # unused without jitter
        return (self._build(parts, rng) for parts in self._structures())

    def mutate(self, candidate: Candidate, rng: np.random.Generator) -> Candidate:
        parts = self._parts(candidate, rng)
        if parts is None:
            return self.sample(rng)
        free = [k for k, v in self._choices().items() if len(v) > 1 and (k != "base" or parts["kind"] == "composition")]
        if not free:
            return jitter_params(candidate, rng, max(self.jitter, 0.05))
        key = choice(rng, free)
        parts[key] = choice(rng, [v for v in self._choices()[key] if v != parts[key]])
        order = parts["order"]
        weights = [candidate.params.get(f"w{j}") for j in range(order)]
        if key == "order" or None in weights:
            return self._build(parts, rng)
        return self._build(parts, rng, weights, candidate.params["b"])  # same order: the weights carry over

    def crossover(self, a: Candidate, b: Candidate, rng: np.random.Generator) -> Candidate:
        pa, pb = self._parts(a, rng), self._parts(b, rng)
        if pa is None or pb is None or not any(len(v) > 1 for v in self._choices().values()):
            return param_crossover(self, a, b, rng)
        return self._build({k: pa[k] if rng.random() < 0.5 else pb[k] for k in pa}, rng)
