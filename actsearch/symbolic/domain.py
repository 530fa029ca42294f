"""Canonical forms that equal the written function on every real input.

sympy simplifies as if every value were complex: ``exp(log(x))`` becomes ``x``,
``sqrt(x)**2`` and ``sqrt(x)*sqrt(x)`` become ``x``, ``(x**0.5)**2`` becomes ``x``,
``x**a*x**b`` becomes ``x**(a + b)``.  On the reals, where a candidate is evaluated,
each of these is NaN below zero as written and finite after simplifying: another
function.  So the nodes that are undefined (NaN) for some real inputs stay opaque to
sympy:

- ``log`` and ``sqrt`` are function-table rows of their own (``partial=True``), not
  sympy's ``log`` and ``Pow(z, 1/2)``, so no rule of sympy's looks inside them;
- ``z**e`` with an exponent that is not an integer is :class:`RealPow` (printed
  ``z**e``) unless ``z`` is provably positive, where sympy's ``Pow`` rules all hold.

What remains are simplifications that cancel a term: ``log(x) - log(x)``,
``0*sqrt(x)``, ``x**2/x`` (0/0 at x = 0).  The parser asks :func:`dropped` after
each operation, and a formula whose simplification drops such a term is refused
in one line (a refused candidate is reported, never silently changed).  ``z**0`` is 1 even where ``z`` is NaN, in IEEE arithmetic as in sympy,
so dropping a term there changes nothing.  Overflow (``exp(x) - exp(x)`` at
``x = 1000``) is an artefact of floats, not a domain, and is not guarded.

Example:
    >>> import sympy
    >>> from actsearch.symbolic.parser import X
    >>> power(X, sympy.Float(0.5)) ** 2
    (x**0.5)**2
    >>> power(sympy.exp(X), sympy.Float(0.5))
    exp(0.5*x)
"""

from __future__ import annotations

import sympy
from sympy.core.logic import fuzzy_and
from sympy.printing.precedence import PRECEDENCE

from .functions import FUNCTIONS, spec_for

__all__ = ["RealPow", "power", "dropped"]

_POW = PRECEDENCE["Pow"]


class RealPow(sympy.Function):
    """``base**exponent`` on the reals: NaN for a negative base unless the exponent is an
    integer (at run time), as ``torch.pow``.  sympy combines none of its powers."""

    nargs = 2
    #: sympy's printers parenthesize by this: it prints as ``**``
    precedence = _POW

    def _eval_is_extended_real(self):  # where defined: abs(exp(x**0.5)) stays real, no re()
        if all(a.is_number for a in self.args):
            return False  # left unevaluated at numbers: a negative base, NaN
        return fuzzy_and(a.is_extended_real for a in self.args)

    @classmethod
    def eval(cls, base, exponent):
        if base.is_number and exponent.is_number and base.is_extended_nonnegative:
            return sympy.Pow(base, exponent)
        return None

    def fdiff(self, argindex=1):
        base, exponent = self.args
        if argindex == 1:
            return exponent * power(base, exponent - 1)
        return self * FUNCTIONS["log"].sympy_fn(base)

    def _sympystr(self, printer):
        base, exponent = self.args
        return f"{printer.parenthesize(base, _POW, strict=False)}**{printer.parenthesize(exponent, _POW, strict=False)}"


def _integral(exponent: sympy.Expr) -> bool:
    return bool(exponent.is_integer) or (exponent.is_Float and float(exponent).is_integer())


def power(base: sympy.Expr, exponent: sympy.Expr) -> sympy.Expr:
    """``base**exponent`` as the parser builds it: sympy's ``Pow`` where its rules hold on
    the reals (an integral exponent, or a provably positive base), else :class:`RealPow`."""
    if _integral(exponent) or base.is_positive:
        return sympy.Pow(base, exponent)
    return RealPow(base, exponent)


def _own(node: sympy.Basic) -> tuple[str, sympy.Basic] | None:
    """``node`` as a term undefined for some real inputs: ``("node", node)`` for a partial
    function or a :class:`RealPow`, ``("divisor", base)`` for a division by a base that may
    be zero; ``None`` otherwise (a constant with a real value among them)."""
    if not isinstance(node, sympy.Expr) or (node.is_number and node.is_extended_real):
        return None
    spec = spec_for(node)
    if isinstance(node, RealPow) or (spec is not None and spec.partial):
        return ("node", node)
    if isinstance(node, sympy.Pow) and node.exp.is_negative and _may_be_zero(node.base):
        return ("divisor", node.base)
    return None


#: expression -> its terms undefined somewhere; the parser asks after every operation, so
#: each sub-expression is looked at once, not once per operation above it
_MEMO: dict[sympy.Basic, frozenset] = {}
_MEMO_SIZE = 1 << 16


def _undefined_somewhere(expr: sympy.Basic) -> frozenset:
    """The terms of ``expr`` undefined for some real inputs (see :func:`_own`)."""
    if len(_MEMO) > _MEMO_SIZE:
        _MEMO.clear()
    stack = [(expr, False)]  # post-order, explicit: no recursion, known subtrees skipped
    while stack:
        node, ready = stack.pop()
        if node in _MEMO:
            continue
        if not ready:
            stack.append((node, True))
            stack.extend((a, False) for a in node.args if a not in _MEMO)
            continue
        own = _own(node)
        below = frozenset().union(*(_MEMO[a] for a in node.args))
        _MEMO[node] = below | {own} if own else below
    return _MEMO[expr]


def _may_be_zero(base: sympy.Expr) -> bool:
    return not base.is_number and base.is_zero is not False


def dropped(operands, result: sympy.Expr, product: bool = False) -> str:
    """What sympy dropped, building ``result`` from ``operands``, that is undefined for some
    real inputs ('' when it kept all of it): a node no longer in ``result``, or a
    division ``result`` no longer makes (``x**2/x`` is 0/0 at x = 0, ``x`` is not).  For a
    ``product`` of two operands, also a power of a base that may be zero multiplied by
    a negative power of it (``x/(x*x)`` is 0/0 at x = 0, ``1/x`` is not)."""
    if product:
        a, b = (op.as_powers_dict() for op in operands)
        for base in a.keys() & b.keys():
            ea, eb = a[base], b[base]
            if _may_be_zero(base) and ((ea.is_positive and eb.is_negative) or (ea.is_negative and eb.is_positive)):
                return f"a division by {base} against a product with it, which is NaN (0/0) where {base} = 0"
    wanted = frozenset().union(*(_undefined_somewhere(op) for op in operands if isinstance(op, sympy.Basic)))
    if not wanted:
        return ""
    kept = _undefined_somewhere(result) if isinstance(result, sympy.Basic) else frozenset()
    for kind, node in sorted(wanted, key=lambda item: (item[0], sympy.default_sort_key(item[1]))):
        if (kind, node) in kept:
            continue
        if kind == "node":
            return f"{node}, which is NaN for some x"
        return f"a division by {node}, which is NaN (0/0) where {node} = 0"
    return ""
