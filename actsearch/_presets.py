"""Presets: named candidates, the seeds' functions and plain activations, exactly.

``PRESETS`` maps a name to a :class:`Preset`; ``actsearch.preset(name)`` builds it.
Three of them, relu, gelu and silu, are the references every search trains
(:data:`actsearch.registry.REFERENCES`).  Presets are built from the search-space
families (this module sits above :mod:`actsearch.search_spaces`).

Example:
    >>> from actsearch._presets import PRESETS
    >>> PRESETS["crrelu"].build().text
    'eps*x*exp(-x**2/2) + relu(x); eps=0.01'
    >>> PRESETS["polyrelu"].build().name
    'polyrelu'
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable

from .symbolic.expr import Candidate, parse

__all__ = ["Preset", "PRESETS"]


@dataclass(frozen=True)
class Preset:
    """A named candidate: ``build()`` returns it with ``name`` set (cached)."""

    name: str
    description: str
    factory: Callable[[], Candidate] = field(repr=False, compare=False)

    def build(self) -> Candidate:
        return _build(self.name)


def _plain(text: str, name: str) -> Callable[[], Candidate]:
    # family "reference": the label stored searches and leaderboards show for plain activations
    return lambda: parse(text, family="reference", name=name)


def _rational(target: str, name: str) -> Callable[[], Candidate]:
    def make() -> Candidate:
        from actsearch.search_spaces.rational import fitted_rational

        c = fitted_rational(target, "A", 5, 4)
        return parse(c.text, family=c.family, name=name)

    return make


def _crrelu() -> Candidate:
    from actsearch.search_spaces.entropy import eafo_candidate

    return eafo_candidate("relu", 1, 0.01, name="crrelu")


def _poly(kind: str, name: str) -> Callable[[], Candidate]:
    def make() -> Candidate:
        from actsearch.search_spaces.polynomial import polynomial_candidate

        return polynomial_candidate(kind, 3, [1 / 3] * 3, 0.0, name=name)

    return make


_ENTRIES = [
    Preset("relu", "ReLU, max(x, 0): reference", _plain("relu(x)", "relu")),
    Preset("gelu", "GELU, x * Phi(x) (exact erf form): reference", _plain("gelu(x)", "gelu")),
    Preset("silu", "SiLU / swish, x * sigmoid(x): reference", _plain("silu(x)", "silu")),
    Preset("swish", "alias of silu", _plain("silu(x)", "swish")),
    Preset("crrelu", "CRReLU (Sun et al. 2024): relu(x) + eps x exp(-x^2/2), eps = 0.01", _crrelu),
    Preset("polyrelu", "PolyReLU order 3 (PolyCom): w0 r^3 + w1 r^2 + w2 r + b, r = relu(x), w = 1/3, b = 0",
           _poly("polyrelu", "polyrelu")),
    Preset("polynorm", "PolyNorm order 3 (PolyCom): sum_i w rmsnorm(x^i) + b over the feature dim, w = 1/3, b = 0",
           _poly("polynorm", "polynorm")),
    Preset("rational-gelu", "PAU version A, degrees 5/4, least-squares fit to GELU on [-3, 3] (RAFT's start)",
           _rational("gelu", "rational-gelu")),
    Preset("rational-leaky-relu", "PAU version A, degrees 5/4, least-squares fit to leaky_relu(0.01) on [-3, 3]",
           _rational("leaky_relu", "rational-leaky-relu")),
]

#: preset name -> :class:`Preset`
PRESETS: dict[str, Preset] = {p.name: p for p in _ENTRIES}


@functools.lru_cache(maxsize=None)
def _build(name: str) -> Candidate:
    return PRESETS[name].factory()
