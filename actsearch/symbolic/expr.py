"""Candidates: symbolic activation functions with named learnable parameters.

Example:
    >>> import torch, actsearch
    >>> c = actsearch.parse("relu(x) + eps*x*exp(-x**2/2); eps=0.01", family="entropy")
    >>> c.text
    'eps*x*exp(-x**2/2) + relu(x); eps=0.01'
    >>> actsearch.parse(c.text) == c
    True
    >>> c.fingerprint() == actsearch.parse("x*eps*exp(-x*x/2) + max(x, 0); eps=0.01").fingerprint()
    True
    >>> m = c.module()
    >>> m(torch.tensor([-1.0, 0.0, 2.0])).shape
    torch.Size([3])
"""

from __future__ import annotations

import hashlib
import math
from types import MappingProxyType
from typing import Any, Mapping

import numpy as np
import sympy
import torch

from .parser import X, param_symbol, parse_text
from .text import canonical_text
from .torch_eval import build_torch_fn
from ..errors import ExpressionError
from .functions import is_elementwise
from .module import CandidateModule

__all__ = ["Candidate", "parse", "probe_inputs", "X"]

_PROBE_SEED = 20240601
_FINGERPRINT_DIGITS = 6


def probe_inputs() -> torch.Tensor:
    """Fixed float64 probe inputs, shape (4, 32): two ramps and two normal rows.

    Row-wise candidates (PolyNorm) normalise over each row, so the rows differ in
    scale to tell apart functions that only differ in their normalisation.
    """
    rng = np.random.default_rng(_PROBE_SEED)
    rows = [
        np.linspace(-6.0, 6.0, 32),
        np.linspace(-1.0, 1.0, 32),
        rng.standard_normal(32) * 2.0,
        rng.standard_normal(32) * 0.5 + 0.3,
    ]
    return torch.tensor(np.stack(rows), dtype=torch.float64)


def _round_sig(value: float) -> str:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value == 0.0:
        return "0"
    return f"{value:.{_FINGERPRINT_DIGITS - 1}e}"


class Candidate:
    """An immutable activation candidate.

    Attributes:
        expr: sympy expression in the real symbol ``x`` and parameter symbols.
        params: read-only mapping ``name -> initial value``.
        family: which search space it came from (``"custom"`` for user text).
        name: a preset name when it is one, else ``None``.
        text: canonical text; ``parse(c.text)`` returns an equal candidate.
        key: stable 16-hex-digit hash of ``text``, the same in every process.

    Two candidates are equal when their canonical texts are equal; ``family`` and
    ``name`` are labels and do not take part.
    """

    __slots__ = ("expr", "params", "family", "name", "text", "key", "_fingerprint", "_fn")

    def __init__(
        self,
        expr: sympy.Expr,
        params: Mapping[str, float] | None = None,
        family: str = "custom",
        name: str | None = None,
    ):
        params = {str(k): float(v) for k, v in (params or {}).items()}
        symbols = {s.name for s in expr.free_symbols if s != X}
        if X not in expr.free_symbols:
            raise ExpressionError("expression does not depend on x", str(expr), 0)
        missing = symbols - set(params)
        if missing:
            raise ExpressionError(f"parameter {sorted(missing)[0]!r} has no initial value", str(expr), 0)
        if expr.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
            raise ExpressionError("expression contains an infinite or undefined constant", str(expr), 0)
        params = {k: params[k] for k in sorted(symbols)}
        expr, text = _canonical_fixed_point(expr, params)
        set_ = object.__setattr__
        set_(self, "expr", expr)
        set_(self, "params", MappingProxyType(params))
        set_(self, "family", family)
        set_(self, "name", name)
        set_(self, "text", text)
        set_(self, "key", hashlib.sha256(self.text.encode()).hexdigest()[:16])
        set_(self, "_fingerprint", None)
        set_(self, "_fn", None)

    # -- immutability ----------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Candidate is immutable")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Candidate) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)

    def __repr__(self) -> str:
        label = f", name={self.name!r}" if self.name else ""
        return f"Candidate({self.text!r}, family={self.family!r}{label})"

    def __reduce__(self):
        # pickles as its canonical text: the parser rebuilds it in a worker
        return (_from_text, (self.text, self.family, self.name))

    # -- derived views ---------------------------------------------------------
    @property
    def elementwise(self) -> bool:
        """False for row-wise candidates (those using ``rmsnorm``, e.g. PolyNorm)."""
        return is_elementwise(self.expr)

    @property
    def param_symbols(self) -> dict[str, sympy.Symbol]:
        return {k: param_symbol(k) for k in self.params}

    def with_params(self, values: Mapping[str, float], family: str | None = None) -> "Candidate":
        """The same formula with other initial values (unknown names are an error)."""
        unknown = set(values) - set(self.params)
        if unknown:
            raise ExpressionError(f"unknown parameter {sorted(unknown)[0]!r}", self.text, 0)
        merged = dict(self.params)
        merged.update({k: float(v) for k, v in values.items()})
        return Candidate(self.expr, merged, family or self.family, None)

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "family": self.family, "name": self.name, "key": self.key}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Candidate":
        return parse(data["text"], family=data.get("family", "custom"), name=data.get("name"))

    def torch_fn(self):
        """``f(x, params)`` evaluating the expression (built once, then reused)."""
        if self._fn is None:
            object.__setattr__(self, "_fn", build_torch_fn(self.expr))
        return self._fn

    def module(self, dtype: torch.dtype = torch.float32) -> "CandidateModule":
        """A fresh eager ``nn.Module``: the numerical reference for every kernel.

        ``dtype`` is the parameters' dtype; pass ``torch.float64`` for a reference
        whose initial values are exact (``.double()`` would round them through float32).
        """
        return CandidateModule(self, dtype=dtype)

    def fingerprint(self) -> str:
        """Hash of the outputs on :func:`probe_inputs` (float64, 6 significant digits).

        Candidates computing the same function share it, whatever their text.
        """
        if self._fingerprint is None:
            x = probe_inputs()
            params = {k: torch.tensor(v, dtype=torch.float64) for k, v in self.params.items()}
            with torch.no_grad(), np.errstate(all="ignore"):
                y = self.torch_fn()(x, params)
            y = torch.broadcast_to(y, x.shape).reshape(-1).tolist()
            digest = hashlib.sha256(",".join(_round_sig(v) for v in y).encode()).hexdigest()[:16]
            object.__setattr__(self, "_fingerprint", digest)
        return self._fingerprint


def _canonical_fixed_point(expr: sympy.Expr, params: dict[str, float]) -> tuple[sympy.Expr, str]:
    """The expression as the parser rebuilds it from its own text, and that text.

    sympy may build a tree from text that prints differently from the tree it
    came from (``-(x + 1)/x`` reads back as ``(-x - 1)/x``), so reparse until the
    text is stable; then ``parse(c.text) == c`` always holds.
    """
    text = canonical_text(expr, params)
    for _ in range(4):
        again, _values = parse_text(text)
        again_text = canonical_text(again, params)
        if again_text == text:
            return again, text
        expr, text = again, again_text
    raise ExpressionError("expression has no stable canonical form", text, 0)


def _from_text(text: str, family: str, name: str | None) -> Candidate:
    return parse(text, family=family, name=name)


def parse(
    text: str,
    params: Mapping[str, float] | None = None,
    family: str = "custom",
    name: str | None = None,
) -> Candidate:
    """Parse ``text`` into a :class:`Candidate` with our restricted parser.

    Parameters are declared after a semicolon (``"a*x + relu(x); a=0.5"``) or passed
    in ``params``; a value in the text wins.  Raises :class:`ExpressionError` with the
    position and reason for anything outside the grammar.
    """
    expr, values = parse_text(text, dict(params) if params else None)
    return Candidate(expr, values, family=family, name=name)
