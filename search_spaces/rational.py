"""Rational activations: Padé Activation Units (PAU) versions A, B, C and N.

``f(x) = P(x) / Q(x)`` with ``P = a0 + a1 x + ... + am x^m`` and

=========  ============================================
version    Q
=========  ============================================
``A``      ``1 + |b1||x| + ... + |bn||x|^n`` (default)
``B``      ``1 + |b1 x + ... + bn x^n|``
``C``      ``0.1 + |b0 + b1 x + ... + bn x^n|``
``N``      ``1 + b1 x + ... + bn x^n`` (no safety: poles possible)
=========  ============================================

Initial coefficients are least-squares fits to a named target on [-3, 3]
(:mod:`search_spaces._fit`), checked in the evaluated form: the candidate's own
eager module must reproduce the fitted function.

Example:
    >>> import numpy as np, actsearch
    >>> s = actsearch.space("rational", version="A", degrees=(5, 4), target="gelu")
    >>> c = s.initial()
    >>> sorted(c.params)[:3], c.family
    (['a0', 'a1', 'a2'], 'rational')
    >>> fit_error(c, "gelu") < 1e-2
    True
    >>> s.contains(s.mutate(c, np.random.default_rng(0)))
    True
"""

from __future__ import annotations

import functools
import re

import numpy as np
import sympy
import torch

from actsearch.symbolic.parser import X, param_symbol
from actsearch.symbolic.expr import Candidate

from ._common import (SearchSpaceError, body, check_choice, check_float, check_int, choice, finish, jitter_params,
                     param_crossover, reject_unknown)
from ._fit import FIT_RANGE, TARGETS, VERSIONS, fit_rational, rational_numpy, target_torch
from .base import SearchSpace

__all__ = ["RationalSpace", "rational_expr", "rational_candidate", "fitted_rational", "fit_error"]

FAMILY = "rational"
_C_OFFSET = sympy.Float(0.1)
#: degree pairs a sample draws from when ``degrees="any"``
DEGREE_CHOICES = ((3, 2), (4, 3), (5, 4), (6, 5))
_MAX_DEGREE = 10
_A_NAME = re.compile(r"a(\d+)$")
_B_NAME = re.compile(r"b(\d+)$")


def _b_first(version: str) -> int:
    return 0 if version == "C" else 1


def rational_expr(version: str, m: int, n: int) -> sympy.Expr:
    """The symbolic ``P/Q`` in parameters ``a0..am`` and ``b1..bn`` (``b0..bn`` for C)."""
    a = [param_symbol(f"a{j}") for j in range(m + 1)]
    first = _b_first(version)
    b = {j: param_symbol(f"b{j}") for j in range(first, n + 1)}
    p = sympy.Add(*[a[j] * X**j for j in range(m + 1)])
    if version == "A":
        q = 1 + sympy.Add(*[sympy.Abs(b[j]) * sympy.Abs(X) ** j for j in range(1, n + 1)])
    elif version == "B":
        q = 1 + sympy.Abs(sympy.Add(*[b[j] * X**j for j in range(1, n + 1)]))
    elif version == "C":
        q = _C_OFFSET + sympy.Abs(sympy.Add(*[b[j] * X**j for j in range(0, n + 1)]))
    else:
        q = 1 + sympy.Add(*[b[j] * X**j for j in range(1, n + 1)])
    return p / q


def rational_candidate(version: str, a, b, name: str | None = None) -> Candidate:
    """A rational candidate with coefficients ``a`` (a0..am) and ``b`` (from b1, or b0 for C)."""
    m, first = len(a) - 1, _b_first(version)
    n = len(b) - 1 + first
    params = {f"a{j}": float(v) for j, v in enumerate(a)}
    params.update({f"b{j + first}": float(v) for j, v in enumerate(b)})
    return finish(rational_expr(version, m, n), params, FAMILY, name=name)


@functools.lru_cache(maxsize=None)
def _body_text(version: str, m: int, n: int) -> str:
    first = _b_first(version)
    params = {f"a{j}": 1.0 for j in range(m + 1)}
    params.update({f"b{j}": 1.0 for j in range(first, n + 1)})
    return body(Candidate(rational_expr(version, m, n), params))


def fit_error(candidate: Candidate, target: str, points: int = 601) -> float:
    """Max |candidate - target| on [-3, 3], evaluated by the candidate's eager module
    in float64 against the function table's torch form of ``target``."""
    z = torch.linspace(*FIT_RANGE, points, dtype=torch.float64)
    with torch.no_grad():
        y = candidate.module(torch.float64)(z)
    return float((y - target_torch(target, z)).abs().max())


@functools.lru_cache(maxsize=None)
def fitted_rational(target: str, version: str = "A", m: int = 5, n: int = 4) -> Candidate:
    """The rational of ``version`` and degrees (m, n) fitted to ``target`` on [-3, 3].

    The fit is verified in the form that is evaluated: the candidate's eager
    module must give the same values as the fitting code (to 1e-9), so a wrong
    sign or a misplaced ``abs`` in either cannot go unnoticed.
    """
    fit = fit_rational(target, version, m, n)
    cand = rational_candidate(version, fit.a, fit.b)
    z = np.linspace(*FIT_RANGE, 601)
    expected = torch.from_numpy(rational_numpy(version, fit.a, fit.b, z))
    with torch.no_grad():
        got = cand.module(torch.float64)(torch.from_numpy(z))
    gap = float((got - expected).abs().max())
    if not gap <= 1e-9:
        raise RuntimeError(f"rational {version} {m}/{n} evaluates {gap:.3g} away from its own fit")
    return cand


def _parse_degrees(value) -> tuple[int, int] | str:
    if value == "any":
        return value
    if isinstance(value, str):
        value = tuple(v for v in re.split(r"[,/ ]+", value.strip()) if v)
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise SearchSpaceError(f"rational: option degrees={value!r} must be two integers (m, n) or 'any'")
    m = check_int("degrees", value[0], 1, _MAX_DEGREE, "rational")
    n = check_int("degrees", value[1], 1, _MAX_DEGREE, "rational")
    return (m, n)


class RationalSpace(SearchSpace):
    """PAU rational activations ``P(x)/Q(x)`` around fitted starting points.

    Options:
        version: ``"A"``, ``"B"``, ``"C"``, ``"N"`` or ``"any"`` (default).
        degrees: ``(m, n)``, or ``"any"`` (default: one of :data:`DEGREE_CHOICES`).
        target: the function the starting coefficients are fitted to, one of
            leaky_relu, relu, gelu, swish, tanh, sigmoid, identity; or ``"any"``
            (default) for a random one per sample.
        jitter: relative Gaussian noise on sampled coefficients (default 0: none,
            training moves the coefficients anyway).

    A sample is a *structure*, version x degrees x fit target (112 of them with
    every option ``"any"``), started at its least-squares fit: samples differ in
    structure, not in starting noise.  ``mutate`` redraws one free part of the
    structure (version, degrees or target) and refits; ``crossover`` takes each
    part from either parent.  With every part fixed they perturb the coefficients
    instead.  Candidates from outside the space are replaced by a fresh sample.
    Without jitter the space is finite: ``enumerate()`` yields every structure's fit.
    """

    name = FAMILY
    option_help = {
        "version": "A | B | C | N | any (default any)",
        "degrees": "m,n numerator/denominator degrees, or any (default any: "
                   + ", ".join(f"{m},{n}" for m, n in DEGREE_CHOICES) + ")",
        "target": "fit target: " + " | ".join(TARGETS) + " | any (default any)",
        "jitter": "relative noise on sampled coefficients (default 0: none)",
    }

    def __init__(self, version: str = "any", degrees="any", target: str = "any", jitter: float = 0.0, **unknown):
        reject_unknown(self, unknown)
        self._options = {"version": version, "degrees": degrees, "target": target, "jitter": jitter}
        if isinstance(version, str) and version != "any":
            version = version.upper()
        self.version = check_choice("version", version, (*VERSIONS, "any"), FAMILY)
        self.degrees = _parse_degrees(degrees)
        self.target = check_choice("target", target, (*TARGETS, "any"), FAMILY)
        self.jitter = check_float("jitter", jitter, 0.0, 10.0, FAMILY)

    @property
    def finite(self) -> bool:
        """Without jitter: every sample is one of the structures' fits."""
        return self.jitter == 0

    # -- structure ----------------------------------------------------------
    def structure(self, candidate: Candidate) -> tuple[str, int, int] | None:
        """(version, m, n) of a rational candidate, or ``None`` if it is not one."""
        if candidate.family != FAMILY:
            return None
        a_idx = sorted(int(m.group(1)) for k in candidate.params if (m := _A_NAME.match(k)))
        b_idx = sorted(int(m.group(1)) for k in candidate.params if (m := _B_NAME.match(k)))
        if not a_idx or not b_idx or len(a_idx) + len(b_idx) != len(candidate.params):
            return None
        m, n = a_idx[-1], b_idx[-1]
        if a_idx != list(range(m + 1)) or m > _MAX_DEGREE or n > _MAX_DEGREE:
            return None
        versions = ("C",) if b_idx[0] == 0 else ("A", "B", "N")
        if b_idx != list(range(b_idx[0], n + 1)):
            return None
        text = body(candidate)
        for version in versions:
            if _body_text(version, m, n) == text:
                return (version, m, n)
        return None

    def target_of(self, candidate: Candidate) -> str | None:
        """The fit target whose starting point ``candidate`` is exactly, or ``None``."""
        found = self.structure(candidate)
        if found is None:
            return None
        return next((t for t in TARGETS if fitted_rational(t, *found).params == candidate.params), None)

    def contains(self, candidate: Candidate) -> bool:
        found = self.structure(candidate)
        if found is None:
            return False
        version, m, n = found
        if self.version != "any" and version != self.version:
            return False
        return self.degrees == "any" or (m, n) == self.degrees

    # -- candidates -----------------------------------------------------------
    def initial(self, target: str | None = None) -> Candidate:
        """The fitted starting point (needs a fixed version and degrees)."""
        target = target or self.target
        if "any" in (self.version, self.degrees, target):
            raise SearchSpaceError("rational: initial() needs a fixed version, degrees and target")
        check_choice("target", target, TARGETS, FAMILY)
        return fitted_rational(target, self.version, *self.degrees)

    def _choices(self) -> dict[str, tuple]:
        """The values each part of a structure may take in this space."""
        return {
            "version": VERSIONS if self.version == "any" else (self.version,),
            "degrees": DEGREE_CHOICES if self.degrees == "any" else (self.degrees,),
            "target": TARGETS if self.target == "any" else (self.target,),
        }

    def _start(self, parts: dict, rng: np.random.Generator) -> Candidate:
        start = fitted_rational(parts["target"], parts["version"], *parts["degrees"])
        return jitter_params(start, rng, self.jitter) if self.jitter > 0 else start

    def _parts(self, candidate: Candidate, rng: np.random.Generator) -> dict | None:
        found = self.structure(candidate) if self.contains(candidate) else None
        if found is None:
            return None
        target = self.target_of(candidate)
        if target is None or target not in self._choices()["target"]:
            target = choice(rng, self._choices()["target"])  # trained or jittered: its target is lost
        return {"version": found[0], "degrees": found[1:], "target": target}

    def sample(self, rng: np.random.Generator) -> Candidate:
        return self._start({k: choice(rng, v) for k, v in self._choices().items()}, rng)

    def enumerate(self):
        """Every structure's fitted start, each function once (only without jitter)."""
        if not self.finite:
            return super().enumerate()
        choices, seen = self._choices(), set()

        def starts():
            for v in choices["version"]:
                for d in choices["degrees"]:
                    for t in choices["target"]:
                        cand = fitted_rational(t, v, *d)
                        if cand.fingerprint() not in seen:  # e.g. identity fits: P = x, Q = 1 in A, B and N
                            seen.add(cand.fingerprint())
                            yield cand
        return starts()

    def mutate(self, candidate: Candidate, rng: np.random.Generator) -> Candidate:
        parts = self._parts(candidate, rng)
        if parts is None:
            return self.sample(rng)
        free = [k for k, v in self._choices().items() if len(v) > 1]
        if not free:
            return jitter_params(candidate, rng, max(self.jitter, 0.02))
        key = choice(rng, free)
        parts[key] = choice(rng, [v for v in self._choices()[key] if v != parts[key]])
        return self._start(parts, rng)

    def crossover(self, a: Candidate, b: Candidate, rng: np.random.Generator) -> Candidate:
        pa, pb = self._parts(a, rng), self._parts(b, rng)
        if pa is None or pb is None or not any(len(v) > 1 for v in self._choices().values()):
            return param_crossover(self, a, b, rng)
        return self._start({k: pa[k] if rng.random() < 0.5 else pb[k] for k in pa}, rng)
