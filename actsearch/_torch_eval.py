"""Turn a sympy expression into a torch function by walking its tree.

The builder is a printer-style class: one ``_build_<Node>`` method per sympy node
type, each returning a closure ``f(x, params) -> Tensor``.  No source text is
generated or executed; this is the eager numerical reference.
"""

from __future__ import annotations

import math
from typing import Callable

import sympy
import torch

from .errors import ExpressionError
from .functions import BY_SYMPY_HEAD
from ._parser import X

__all__ = ["build_torch_fn", "TorchBuilder"]

TorchFn = Callable[[torch.Tensor, dict[str, torch.Tensor]], torch.Tensor]


def _relation(cond: sympy.Basic) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    table = {
        sympy.StrictGreaterThan: torch.gt,
        sympy.GreaterThan: torch.ge,
        sympy.StrictLessThan: torch.lt,
        sympy.LessThan: torch.le,
        sympy.Eq: torch.eq,
        sympy.Ne: torch.ne,
    }
    for cls, op in table.items():
        if isinstance(cond, cls):
            return op
    raise ExpressionError(f"unsupported condition {cond}", str(cond), 0)


class TorchBuilder:
    """Builds closures from sympy nodes; dispatch on the node's class name."""

    def build(self, node: sympy.Basic) -> TorchFn:
        if node.is_number:
            try:
                value = complex(node)
            except TypeError:  # e.g. relu(pi): no evalf; evaluate it structurally below
                value = None
            if value is not None:
                if value.imag != 0 or not math.isfinite(value.real):
                    raise ExpressionError(f"constant {node} is not a finite real number", str(node), 0)
                const = value.real
                return lambda x, p: const
        for cls in type(node).__mro__:
            method = getattr(self, f"_build_{cls.__name__}", None)
            if method is not None:
                return method(node)
        spec = BY_SYMPY_HEAD.get(type(node))
        if spec is not None:
            args = [self.build(a) for a in node.args]
            fn = spec.torch_fn
            return lambda x, p: fn(*[_as_tensor(a(x, p), x) for a in args])
        raise ExpressionError(f"no torch implementation for {type(node).__name__}", str(node), 0)

    def _build_Symbol(self, node):
        if node == X:
            return lambda x, p: x
        name = node.name
        return lambda x, p: p[name]

    def _build_Add(self, node):
        terms = [self.build(a) for a in node.args]

        def add(x, p):
            out = terms[0](x, p)
            for t in terms[1:]:
                out = out + t(x, p)
            return out

        return add

    def _build_Mul(self, node):
        factors = [self.build(a) for a in node.args]

        def mul(x, p):
            out = factors[0](x, p)
            for f in factors[1:]:
                out = out * f(x, p)
            return out

        return mul

    def _build_Pow(self, node):
        base = self.build(node.base)
        exp = node.exp
        if exp == 2:
            return lambda x, p: _square(base(x, p))
        if exp == sympy.Rational(1, 2):
            return lambda x, p: torch.sqrt(_as_tensor(base(x, p), x))
        if exp == -sympy.Rational(1, 2):
            return lambda x, p: torch.rsqrt(_as_tensor(base(x, p), x))
        if exp == -1:
            return lambda x, p: 1.0 / base(x, p)
        if exp.is_Integer:
            k = int(exp)
            return lambda x, p: torch.pow(_as_tensor(base(x, p), x), k)
        power = self.build(exp)
        return lambda x, p: torch.pow(_as_tensor(base(x, p), x), power(x, p))

    def _build_Piecewise(self, node):
        pieces = [(self.build(e), c) for e, c in node.args]

        def piecewise(x, p):
            out = _as_tensor(pieces[-1][0](x, p), x)
            for value, cond in reversed(pieces[:-1]):
                mask = self._condition(cond)(x, p)
                out = torch.where(mask, _as_tensor(value(x, p), x), out)
            return out

        if pieces[-1][1] is not sympy.true:
            raise ExpressionError("Piecewise without a default branch", str(node), 0)
        return piecewise

    def _condition(self, cond):
        op = _relation(cond)
        lhs, rhs = self.build(cond.lhs), self.build(cond.rhs)
        return lambda x, p: op(_as_tensor(lhs(x, p), x), _as_tensor(rhs(x, p), x))

    def _build_sign(self, node):
        arg = self.build(node.args[0])
        return lambda x, p: torch.sign(_as_tensor(arg(x, p), x))

    def _build_Heaviside(self, node):
        # sympy's Heaviside(0) is 1/2, as torch.maximum splits the gradient at ties
        arg = self.build(node.args[0])

        def heaviside(x, p):
            z = _as_tensor(arg(x, p), x)
            return torch.where(z > 0, 1.0, torch.where(z < 0, 0.0, 0.5)).to(z.dtype)

        return heaviside


def _square(z):
    return z * z


def _as_tensor(value, like: torch.Tensor) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    # through float64 so a constant beyond the dtype's range becomes inf, as x*1e300 would
    return torch.tensor(float(value), dtype=torch.float64).to(like.dtype).expand_as(like)


def build_torch_fn(expr: sympy.Expr) -> TorchFn:
    """A function ``f(x, params)`` computing ``expr``; ``params`` maps names to tensors."""
    fn = TorchBuilder().build(expr)

    def evaluate(x: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
        return _as_tensor(fn(x, params), x)

    return evaluate
