"""The cost of a formula: a weighted count of the operations per element of its forward pass.

A deterministic, device-free stand-in for an activation's kernel time, the second
objective of ``--objective pareto`` and the leaderboard's ``cost`` column.  The
formula is walked as a DAG (:mod:`actsearch.symbolic.dag`, the walk the kernel
generator uses): a sub-expression that occurs several times is computed once and
counted once.  Symbols and numbers are free.  Weights per operation:

=========================================================  ==========================
operation                                                  weight
=========================================================  ==========================
``a + b``, ``a - b``, ``a * b``, ``-a``                    1 (``n`` terms: ``n - 1``)
``abs``, ``max``/``min`` (per fold), ``sign``, a select    1
  (each pair of a Piecewise past the first), a comparison
``relu``, ``Heaviside``                                    1
``leaky_relu``                                             2 (a select and a multiply)
division ``a / b``, a reciprocal ``b**-1``                 4
``b**n``, ``n`` a whole number                             multiplications of repeated
                                                           squaring: ``floor(log2 n) +
                                                           popcount(n) - 1`` (``x**2``:
                                                           1, ``x**5``: 3); a negative
                                                           ``n`` adds a division
``b**e``, ``e`` not a whole number (or a parameter)        17 (``exp(e * log(b))``)
``exp``, ``log``, ``sqrt``, ``tanh``, ``sigmoid``,         8 (transcendental)
  ``erf``, ``softplus``, ``sin``, ``cos``, ``arctan``,
  ``sinh``, ``cosh``, ``asinh``
``silu``                                                   9 (sigmoid, multiply)
``elu``                                                    10 (expm1, multiply, select)
``selu``                                                   11 (expm1, 2 multiplies, select)
``gelu``                                                   12 (erf, 4 multiply/add)
``softsign``                                               6 (abs, add, division)
``rmsnorm``                                                15 (square, mean, add, sqrt,
                                                           division)
a function of the table not listed here                    8
=========================================================  ==========================

A product's factors with a negative whole exponent form its denominator: ``x / (1
+ x**2)`` costs an add, a square and one division (4 + 1 + 1 = 6), as a kernel
computes it, not a reciprocal and a multiply.

Example:
    >>> from actsearch.symbolic.expr import parse
    >>> formula_cost(parse("x*sigmoid(x)").expr), formula_cost(parse("x**2*tanh(x)").expr)
    (9, 10)
    >>> formula_cost(parse("tanh(x)**2 + tanh(x)").expr)  # tanh(x) counted once
    10
"""

from __future__ import annotations

import sympy

from .dag import nodes, operands
from .domain import RealPow
from .functions import spec_for

__all__ = ["formula_cost", "WEIGHTS", "ELEMENTARY", "DIVISION", "TRANSCENDENTAL", "REAL_POWER"]

#: one addition, subtraction, multiplication, negation, comparison or select
ELEMENTARY = 1
#: one division (or reciprocal)
DIVISION = 4
#: a function of the table that is not listed in :data:`WEIGHTS`
TRANSCENDENTAL = 8
#: ``b**e`` for an exponent that is not a whole number: ``exp(e * log(b))``
REAL_POWER = 2 * TRANSCENDENTAL + ELEMENTARY

#: the function table's rows (by name) -> weight, as their kernel templates compute them
WEIGHTS: dict[str, int] = {
    "abs": 1, "max": 1, "min": 1, "sign": 1, "Heaviside": 1, "relu": 1, "leaky_relu": 2,
    "exp": 8, "log": 8, "sympy_log": 8, "sqrt": 8, "tanh": 8, "sigmoid": 8, "erf": 8, "softplus": 8,
    "sin": 8, "cos": 8, "arctan": 8, "sinh": 8, "cosh": 8, "asinh": 8,
    "silu": 9, "elu": 10, "selu": 11, "gelu": 12, "softsign": 6, "rmsnorm": 15,
}


def _whole_power(n: int) -> int:
    """Multiplications of ``b**n`` by repeated squaring (``n >= 1``)."""
    return n.bit_length() - 1 + bin(n).count("1") - 1


def _power(exponent: sympy.Expr) -> int:
    # 3 or 3.0 (sympy's Float(3.0) is not equal to Integer 3: compare as floats)
    if exponent.is_number and exponent.is_finite and exponent.is_real and float(exponent) == int(exponent):
        n = int(exponent)
        if n == 0:
            return 0
        return _whole_power(abs(n)) + (DIVISION if n < 0 else 0)
    return REAL_POWER


def _denominator_factor(factor: sympy.Expr) -> bool:
    return factor.is_Pow and factor.exp.is_Integer and factor.exp < 0


def _negated(term: sympy.Expr) -> sympy.Expr | None:
    """``t`` where ``term`` is ``-t`` (a subtraction inside a sum), else None."""
    if term.is_Mul and term.args[0] == -1:
        rest = term.args[1:]
        return rest[0] if len(rest) == 1 else sympy.Mul(*rest, evaluate=False)
    return None


def _condition_cost(condition: sympy.Basic) -> int:
    """Comparisons and logical connectives of a Piecewise's condition (each 1)."""
    total, stack = 0, [condition]
    while stack:
        c = stack.pop()
        if isinstance(c, sympy.core.relational.Relational):
            total += ELEMENTARY
        elif isinstance(c, (sympy.And, sympy.Or, sympy.Xor)):
            total += ELEMENTARY * (len(c.args) - 1)
            stack.extend(c.args)
        elif isinstance(c, sympy.Not):
            total += ELEMENTARY
            stack.extend(c.args)
    return total


def _local(node: sympy.Basic) -> tuple[int, list[sympy.Basic]]:
    """(the cost of ``node`` itself, the operands it is computed from)."""
    if node.is_Add:
        terms = [_negated(t) or t for t in node.args]  # a - b is one subtraction, no negation
        return ELEMENTARY * (len(terms) - 1), terms
    if node.is_Mul:
        above = [f for f in node.args if not _denominator_factor(f)]
        below = [f for f in node.args if _denominator_factor(f)]
        if not below:
            return ELEMENTARY * (len(above) - 1), list(node.args)
        # the denominator's factors multiplied together, divided into the numerator once
        multiplies = max(len(above) - 1, 0) + len(below) - 1
        bases = [f.base if f.exp == -1 else f.base ** (-f.exp) for f in below]
        return ELEMENTARY * multiplies + DIVISION, above + bases
    if node.is_Pow or isinstance(node, RealPow):
        base, exponent = node.args
        return _power(exponent), [base] if exponent.is_number else [base, exponent]
    if isinstance(node, sympy.Piecewise):
        selects = ELEMENTARY * (len(node.args) - 1)
        return selects + sum(_condition_cost(c) for _, c in node.args), operands(node)
    spec = spec_for(node)
    if spec is not None and spec.arity == -1:  # max, min: folded from the left
        return WEIGHTS.get(spec.name, ELEMENTARY) * (len(node.args) - 1), operands(node)
    weight = WEIGHTS.get(spec.name, TRANSCENDENTAL) if spec is not None else TRANSCENDENTAL
    return weight, operands(node)


def formula_cost(expr: sympy.Expr) -> int:
    """The weighted count of operations per element of ``expr`` (module docstring)."""
    return sum(_local(node)[0] for node in nodes(expr, lambda node: _local(node)[1]))
