"""Canonical text of a sympy expression: a printer whose output our parser reads back."""

from __future__ import annotations

import sympy
from sympy.printing.str import StrPrinter

__all__ = ["CanonicalPrinter", "canonical_text", "format_number"]


def format_number(value: float) -> str:
    """Shortest text that reads back as exactly ``value`` (Python's repr of a float)."""
    text = repr(float(value))
    return text


class CanonicalPrinter(StrPrinter):
    """sympy's str printer with the names our parser accepts.

    Example:
        >>> import sympy
        >>> from actsearch._parser import X
        >>> CanonicalPrinter().doprint(sympy.Abs(X) + sympy.atan(X))
        'abs(x) + arctan(x)'
    """

    def _print_Float(self, expr):
        return format_number(float(expr))

    def _print_Abs(self, expr):
        return f"abs({self._print(expr.args[0])})"

    def _print_atan(self, expr):
        return f"arctan({self._print(expr.args[0])})"

    def _print_Max(self, expr):
        return "max(" + ", ".join(self._print(a) for a in expr.args) + ")"

    def _print_Min(self, expr):
        return "min(" + ", ".join(self._print(a) for a in expr.args) + ")"

    def _print_Exp1(self, expr):
        return "exp(1)"

    def _print_Pi(self, expr):
        return "pi"


_PRINTER = CanonicalPrinter()


def canonical_text(expr: sympy.Expr, params: dict[str, float]) -> str:
    """``expr`` printed canonically, then ``; name=value, ...`` sorted by name."""
    body = _PRINTER.doprint(expr)
    if not params:
        return body
    bindings = ", ".join(f"{k}={format_number(params[k])}" for k in sorted(params))
    return f"{body}; {bindings}"
