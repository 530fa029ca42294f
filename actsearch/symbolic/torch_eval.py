"""Turn a sympy expression into a torch function by walking its tree.

:class:`TorchBuilder` is a sympy :class:`~sympy.printing.printer.Printer` whose
``_print_<Node>`` methods return closures ``f(x, params) -> Tensor`` instead of
text.  It is not a ``CodePrinter``: everything that class adds (``stringify``,
``parenthesize``, precedence, assignments, line formatting) is about text, and
here no source is generated or executed; this is the eager numerical reference.
Whitelisted functions come from the :mod:`actsearch.symbolic.functions` table (their
``torch_fn``), numeric sub-expressions are folded to one float.

Example:
    >>> import torch, sympy
    >>> from actsearch.symbolic.parser import X
    >>> f = build_torch_fn(sympy.Max(X, 0) + sympy.tanh(X))
    >>> f(torch.tensor([-1.0, 2.0]), {})
    tensor([-0.7616,  2.9640])
"""

from __future__ import annotations

import math
from typing import Callable

import sympy
import torch
from sympy.printing.printer import Printer

from .parser import X
from ..errors import ExpressionError
from .domain import RealPow
from .functions import spec_for

__all__ = ["build_torch_fn", "TorchBuilder", "constant_value"]

TorchFn = Callable[[torch.Tensor, dict[str, torch.Tensor]], torch.Tensor]

#: sympy's relational operators (``rel_op``) -> torch comparisons
_RELATIONS = {">": torch.gt, ">=": torch.ge, "<": torch.lt, "<=": torch.le, "==": torch.eq, "!=": torch.ne}


def _complex(node: sympy.Basic) -> complex | None:
    try:
        return complex(node)
    except TypeError:  # e.g. relu(pi): no evalf; evaluate it structurally
        return None


class TorchBuilder(Printer):
    """Builds closures from sympy nodes: one ``_print_<Node>`` per node type."""

    printmethod = "_torch_closure"

    def doprint(self, expr: sympy.Basic) -> TorchFn:
        return self._print(expr)

    def build(self, node: sympy.Basic) -> TorchFn:
        """The closure computing ``node`` (``doprint`` under its former name)."""
        return self._print(node)

    def _print(self, expr, **kwargs) -> TorchFn:
        if isinstance(expr, sympy.Basic) and expr.is_number:
            value = _complex(expr)
            if value is not None:
                if value.imag != 0 or not math.isfinite(value.real):
                    raise ExpressionError(f"constant {expr} is not a finite real number", str(expr), 0)
                const = value.real
                return lambda x, p: const
        spec = spec_for(expr)
        if spec is not None:
            args = [self._print(a) for a in expr.args]
            fn = spec.torch_fn
            return lambda x, p: fn(*[_as_tensor(a(x, p), x) for a in args])
        return super()._print(expr, **kwargs)

    def emptyPrinter(self, expr):
        raise ExpressionError(f"no torch implementation for {type(expr).__name__}", str(expr), 0)

    def _print_Symbol(self, expr):
        if expr == X:
            return lambda x, p: x
        name = expr.name
        return lambda x, p: p[name]

    def _print_Add(self, expr):
        terms = [self._print(a) for a in expr.args]

        def add(x, p):
            out = terms[0](x, p)
            for t in terms[1:]:
                out = out + t(x, p)
            return out

        return add

    def _print_Mul(self, expr):
        factors = [self._print(a) for a in expr.args]

        def mul(x, p):
            out = factors[0](x, p)
            for f in factors[1:]:
                out = out * f(x, p)
            return out

        return mul

    def _print_Pow(self, expr):
        base = self._print(expr.base)
        exp = expr.exp
        if exp == 2:
            return lambda x, p: _square(base(x, p))
        if exp == sympy.S.Half:
            return lambda x, p: torch.sqrt(_as_tensor(base(x, p), x))
        if exp == -sympy.S.Half:
            return lambda x, p: torch.rsqrt(_as_tensor(base(x, p), x))
        if exp == -1:
            return lambda x, p: 1.0 / base(x, p)
        if exp.is_Integer:
            k = int(exp)
            return lambda x, p: torch.pow(_as_tensor(base(x, p), x), k)
        power = self._print(exp)
        return lambda x, p: torch.pow(_as_tensor(base(x, p), x), power(x, p))

    def _print_RealPow(self, expr: RealPow):
        return self._print_Pow(sympy.Pow(*expr.args, evaluate=False))

    def _print_Piecewise(self, expr):
        if expr.args[-1].cond is not sympy.true:
            raise ExpressionError("Piecewise without a default branch", str(expr), 0)
        pieces = [(self._print(e), self._print(c)) for e, c in expr.args[:-1]]
        default = self._print(expr.args[-1].expr)

        def piecewise(x, p):
            out = _as_tensor(default(x, p), x)
            for value, cond in reversed(pieces):
                out = torch.where(cond(x, p), _as_tensor(value(x, p), x), out)
            return out

        return piecewise

    def _print_Relational(self, expr):
        op = _RELATIONS.get(expr.rel_op)
        if op is None:
            raise ExpressionError(f"unsupported condition {expr}", str(expr), 0)
        lhs, rhs = self._print(expr.lhs), self._print(expr.rhs)
        return lambda x, p: op(_as_tensor(lhs(x, p), x), _as_tensor(rhs(x, p), x))

    def _print_And(self, expr):
        return self._logical(torch.logical_and, expr.args)

    def _print_Or(self, expr):
        return self._logical(torch.logical_or, expr.args)

    def _print_Not(self, expr):
        arg = self._print(expr.args[0])
        return lambda x, p: torch.logical_not(arg(x, p))

    def _logical(self, op, args):
        conds = [self._print(a) for a in args]

        def combine(x, p):
            out = conds[0](x, p)
            for c in conds[1:]:
                out = op(out, c(x, p))
            return out

        return combine


def _square(z):
    return z * z


def _as_tensor(value, like: torch.Tensor) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    # through float64 so a constant beyond the dtype's range becomes inf, as x*1e300 would
    return torch.tensor(float(value), dtype=torch.float64).to(like.dtype).expand_as(like)


def build_torch_fn(expr: sympy.Expr) -> TorchFn:
    """A function ``f(x, params)`` computing ``expr``; ``params`` maps names to tensors."""
    fn = TorchBuilder().doprint(expr)

    def evaluate(x: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
        return _as_tensor(fn(x, params), x)

    return evaluate


def constant_value(node: sympy.Expr) -> float:
    """The float value of a numeric node, as the eager reference computes it.

    Raises :class:`ExpressionError` if it is not real.  May be infinite.
    """
    value = _complex(node)
    if value is None:
        value = complex(float(build_torch_fn(node)(torch.zeros((), dtype=torch.float64), {})))
    if value.imag != 0:
        raise ExpressionError(f"constant {node} is not real", str(node), 0)
    return value.real
