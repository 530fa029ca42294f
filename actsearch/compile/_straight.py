"""Straight-line code of sympy expressions over their DAG, and reverse-mode derivatives.

A :class:`Program` gives every distinct compound node of the expressions it is
shown one temporary, assigned once from its *local form*: the node with each
operand replaced by the operand's own temporary (a symbol), a leaf (``x``, a
parameter) or a number.  Sharing is structural (sympy builds equal subtrees as
equal objects), so a formula that nests ``tanh(... )**3`` ``n`` times is ``O(n)``
assignments whatever its tree size.

:meth:`Program.gradient` differentiates in reverse mode over that DAG: the
adjoint of the output is 1; each temporary, from the last to the first, passes
``adjoint * d(local form)/d(operand)`` to its operands.  Each local derivative is
sympy's derivative of a node whose operands are symbols (a few terms, or prefix
and suffix products for a long product), so the code for the value and all
derivatives grows linearly with the number of distinct nodes, and sympy never
differentiates or walks a deep tree (no ``sympy.diff`` of the whole formula, no
``cse``, no recursion: every walk here keeps its own stack).

Generation is bounded: at most :data:`MAX_NODES` temporaries per program, and a
:class:`Deadline` shared by every program of one kernel (:class:`GenerationLimit`,
a :class:`~actsearch.errors.CompileError` saying which bound).

Example:
    >>> import sympy
    >>> from actsearch.symbolic.parser import X
    >>> p = Program("_t")
    >>> y, (dydx,) = p.gradient(sympy.tanh(sympy.tanh(X)**3), [X])
    >>> [f"{t} = {e}" for t, e in p.assignments][:3]
    ['_t0 = tanh(x)', '_t1 = _t0**3', '_t2 = tanh(_t1)']
    >>> y
    _t2
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

import sympy
from actsearch.errors import CompileError
from actsearch.symbolic.dag import is_atom as _is_atom, operands as _operands

__all__ = ["Program", "Deadline", "GenerationLimit", "MAX_NODES", "GENERATION_SECONDS"]

#: most temporaries one program may assign (the search spaces' largest candidates
#: need a few hundred); past it generation stops at once
MAX_NODES = 20_000
#: most seconds the generation of one kernel module may take; generation is linear,
#: so only a formula far beyond the size limits gets near it
GENERATION_SECONDS = 30.0


class GenerationLimit(CompileError):
    """Kernel generation passed one of its bounds (nodes or seconds)."""


class Deadline:
    """A wall-clock bound on generation: :meth:`check` raises :class:`GenerationLimit` past it."""

    def __init__(self, seconds: float | None = None):
        self.seconds = GENERATION_SECONDS if seconds is None else seconds
        self.at = time.monotonic() + self.seconds

    def check(self) -> None:
        if time.monotonic() > self.at:
            raise GenerationLimit(f"generation took more than {self.seconds:g} s")


class Program:
    """Assignments ``temporary = local form``, in an order where operands come first.

    Args:
        prefix: names of the temporaries (``prefix0``, ``prefix1``...).
        deadline: the wall-clock bound (default: :data:`GENERATION_SECONDS` from now).
        max_nodes: most temporaries (default :data:`MAX_NODES`).
    """

    def __init__(self, prefix: str, deadline: Deadline | None = None, max_nodes: int | None = None):
        self.prefix = prefix
        self.assignments: list[tuple[sympy.Symbol, sympy.Expr]] = []
        self.deadline = deadline or Deadline()
        self.max_nodes = MAX_NODES if max_nodes is None else max_nodes
        #: node (as written, or as a local form) -> the atom holding its value
        self._memo: dict[sympy.Basic, sympy.Basic] = {}
        #: temporary -> (its local form, its index in ``assignments``)
        self._local: dict[sympy.Symbol, tuple[sympy.Expr, int]] = {}

    # -- values -----------------------------------------------------------------------
    def value(self, expr: sympy.Basic) -> sympy.Basic:
        """The atom holding ``expr``'s value, assigning temporaries for what is new."""
        memo = self._memo
        stack: list[tuple[sympy.Basic, bool]] = [(expr, False)]
        while stack:
            node, ready = stack.pop()
            if node in memo:
                continue
            if _is_atom(node):
                memo[node] = node
                continue
            ops = _operands(node)
            if not ready:
                stack.append((node, True))
                stack.extend((op, False) for op in ops if op not in memo)
                continue
            local = node.xreplace({op: memo[op] for op in ops if memo[op] is not op})
            memo[node] = self._assign(local)
        return memo[expr]

    def _assign(self, local: sympy.Basic) -> sympy.Basic:
        """The temporary holding ``local`` (a new one unless it is known or an atom)."""
        if _is_atom(local):
            return local
        known = self._memo.get(local)
        if known is not None:
            return known
        if len(self.assignments) >= self.max_nodes:
            raise GenerationLimit(f"more than {self.max_nodes:,} distinct sub-expressions")
        self.deadline.check()
        temp = sympy.Symbol(f"{self.prefix}{len(self.assignments)}", real=True)
        self._local[temp] = (local, len(self.assignments))
        self.assignments.append((temp, local))
        self._memo[local] = temp
        return temp

    # -- derivatives ------------------------------------------------------------------
    def gradient(self, expr: sympy.Expr, wrt: Sequence[sympy.Symbol]) -> tuple[sympy.Basic, list[sympy.Basic]]:
        """(the atom of ``expr``, the atoms of ``d expr / d w`` for each ``w`` in ``wrt``)."""
        root = self.value(expr)
        targets = set(wrt)
        adjoint: dict[sympy.Basic, list[sympy.Expr]] = {root: [sympy.S.One]}
        for temp in self._reachable(root):
            terms = adjoint.pop(temp, None)
            if not terms:
                continue
            bar = self._sum(terms)
            local = self._local[temp][0]
            for operand, local_derivative in self._partials(temp, local, targets):
                adjoint.setdefault(operand, []).append(local_derivative if bar == 1 else bar * local_derivative)
        return root, [self._sum(adjoint.get(w, [])) for w in wrt]

    def _sum(self, terms: Iterable[sympy.Expr]) -> sympy.Basic:
        return self.value(sympy.Add(*terms))

    def _reachable(self, root: sympy.Basic) -> list[sympy.Symbol]:
        """The temporaries ``root`` depends on, latest first (a reverse topological order)."""
        seen: set[sympy.Symbol] = set()
        stack = [root] if root in self._local else []
        while stack:
            temp = stack.pop()
            if temp in seen:
                continue
            seen.add(temp)
            stack.extend(s for s in self._local[temp][0].free_symbols if s in self._local and s not in seen)
        return sorted(seen, key=lambda t: -self._local[t][1])

    def _partials(self, temp: sympy.Symbol, local: sympy.Expr, targets: set) -> list[tuple[sympy.Symbol, sympy.Expr]]:
        """(operand, d local / d operand) for the operands that are temporaries or targets."""
        operands = [s for s in sorted(local.free_symbols, key=sympy.default_sort_key)
                    if s in self._local or s in targets]
        if local.is_Mul and len(operands) > 3 and all(not f.is_Pow for f in local.args):
            return self._product_partials(local, operands)
        out = []
        for operand in operands:
            d = sympy.diff(local, operand)
            if d != 0:
                out.append((operand, d.xreplace({local: temp}) if d.has(local) else d))
        return out

    def _product_partials(self, local: sympy.Expr, operands: list) -> list[tuple[sympy.Symbol, sympy.Expr]]:
        """d/d f_i of ``c * f_1 * ... * f_k`` as ``c * prefix_{i-1} * suffix_{i+1}``: linear in k."""
        coeff, factors = local.as_coeff_mul()
        factors = list(factors)
        prefix, suffix = [sympy.S.One], [sympy.S.One]
        for f in factors[:-1]:
            prefix.append(self.value(prefix[-1] * f))
        for f in reversed(factors[1:]):
            suffix.append(self.value(suffix[-1] * f))
        suffix.reverse()
        wanted = set(operands)
        return [(f, coeff * prefix[i] * suffix[i]) for i, f in enumerate(factors) if f in wanted]
