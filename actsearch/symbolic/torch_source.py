"""Print a candidate's sympy expression as plain PyTorch source text.

:class:`TorchSourcePrinter` is a :class:`~actsearch.symbolic.text.FunctionTablePrinter` (sympy's
``CodePrinter``): whitelisted functions print from the ``source`` column of the
:mod:`actsearch.symbolic.functions` table, ``Pow`` through torch's special cases.  Its
output uses only ``torch``, ``torch.nn.functional as F``, ``x`` and the helpers
of the rows it printed (:meth:`TorchSourcePrinter.helpers`, e.g. ``_rmsnorm``),
which :mod:`actsearch.results.export` writes next to it, so an exported file needs
nothing else.

Example:
    >>> import actsearch
    >>> from actsearch.symbolic.torch_source import TorchSourcePrinter
    >>> c = actsearch.parse("x*sigmoid(a*x); a=1.5")
    >>> TorchSourcePrinter({"a": "a"}).doprint(c.expr)
    'x*torch.sigmoid(a*x)'
"""

from __future__ import annotations

import math
from typing import Mapping

import sympy
from sympy.printing.precedence import PRECEDENCE

from .parser import X, param_symbol
from .text import FunctionTablePrinter
from ..errors import ExpressionError

__all__ = ["TorchSourcePrinter", "number_literal"]


def number_literal(value: float) -> str:
    """Python literal reading back as exactly ``value`` (``float`` repr, ints without '.0')."""
    if not math.isfinite(value):
        raise ExpressionError(f"constant {value} is not a finite real number", repr(value), 0)
    if value == int(value) and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


class TorchSourcePrinter(FunctionTablePrinter):
    """sympy expression -> a Python expression over tensors ``x`` and parameters.

    Args:
        names: parameter name -> the local variable holding it in the generated code.

    Every numeric sub-expression is folded to one literal, as the eager reference
    folds it, so outputs agree to rounding.  A template that uses an argument twice
    gets it through a temporary (``print_statements`` returns the statements).
    """

    printmethod = "_torch_source"
    language = "PyTorch"
    form = "source"
    where = "torch.where({0}, {1}, {2})"
    error = ExpressionError

    def __init__(self, names: Mapping[str, str] | None = None):
        symbols = {X: "x"}
        symbols.update({param_symbol(k): v for k, v in (names or {}).items()})
        super().__init__(symbols)

    def helpers(self) -> str:
        """Definitions the printed code calls (``_rmsnorm``...), for the rows used so far."""
        return "".join(spec.source_helpers for spec in self.used.values())

    def _print_number(self, value: float) -> str:
        return number_literal(value)

    def _function_arg(self, arg):
        # torch.maximum, torch.where, torch.heaviside need tensors: a constant becomes one shaped like x
        if arg.is_number:
            return f"torch.full_like(x, {self._print(arg)})", PRECEDENCE["Func"]
        return super()._function_arg(arg)

    def _print_Symbol(self, expr):
        if expr not in self.names:
            raise ExpressionError(f"parameter {expr.name!r} has no variable", str(expr), 0)
        return self.names[expr]

    def _print_Pow(self, expr):
        base, exp = expr.base, expr.exp
        if exp == 2:
            return f"torch.square({self._print(base)})"
        if exp == sympy.S.Half:
            return f"torch.sqrt({self._print(base)})"
        if exp == -sympy.S.Half:
            return f"torch.rsqrt({self._print(base)})"
        if exp == -1:
            return f"torch.reciprocal({self._print(base)})"
        # c**expr: exp(log(c)*expr) would change rounding; keep pow
        return f"torch.pow({self._print(base)}, {self._print(exp)})"
