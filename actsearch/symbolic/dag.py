"""A formula as a DAG: each distinct sub-expression once, walked without recursion.

sympy builds equal subtrees as equal (hashed) objects, so the distinct compound
nodes of an expression are its DAG.  The kernel generator
(:mod:`actsearch.compile._straight`) gives each of them one temporary and the cost
of a formula (:mod:`actsearch.symbolic.cost`) counts each once; both walk it with
:func:`operands` and :func:`is_atom`, keeping their own stacks (a formula nested
60 levels deep never reaches Python's recursion limit).

Example:
    >>> import sympy
    >>> x = sympy.Symbol("x")
    >>> [str(n) for n in nodes(sympy.tanh(x)**2 + sympy.tanh(x))]
    ['tanh(x)', 'tanh(x)**2', 'tanh(x)**2 + tanh(x)']
"""

from __future__ import annotations

from typing import Callable

import sympy
from sympy.logic.boolalg import Boolean

__all__ = ["is_atom", "operands", "nodes"]


def is_atom(node: sympy.Basic) -> bool:
    """A value that needs no computation: a symbol, a number or a boolean constant."""
    if isinstance(node, sympy.Symbol) or node in (sympy.true, sympy.false):
        return True
    return isinstance(node, sympy.Expr) and node.is_number


def operands(node: sympy.Basic) -> list[sympy.Expr]:
    """The expressions ``node`` computes from: its arguments that are expressions,
    and those inside the conditions and pairs of a Piecewise (walked with a stack)."""
    out: list[sympy.Expr] = []
    stack = list(reversed(node.args))
    while stack:
        arg = stack.pop()
        if isinstance(arg, sympy.Expr):
            out.append(arg)
        elif isinstance(arg, (Boolean, sympy.Tuple)) and arg.args:
            stack.extend(reversed(arg.args))
    return out


def nodes(expr: sympy.Basic, operands_of: Callable[[sympy.Basic], list[sympy.Basic]] = operands
          ) -> list[sympy.Basic]:
    """The distinct compound nodes of ``expr``, each after its operands (``operands_of``
    says what a node computes from: :func:`operands` unless a caller reads nodes otherwise)."""
    done: set[sympy.Basic] = set()
    order: list[sympy.Basic] = []
    stack: list[tuple[sympy.Basic, bool]] = [(expr, False)]
    while stack:
        node, ready = stack.pop()
        if node in done or is_atom(node):
            continue
        if ready:
            done.add(node)
            order.append(node)
            continue
        stack.append((node, True))
        stack.extend((op, False) for op in reversed(operands_of(node)) if op not in done)
    return order
