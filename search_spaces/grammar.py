"""The operator grammar: trees of unary and binary operators over ``x``.

Two tree shapes, as in the Swish search (Ramachandran et al. 2017):

* shape 1: ``binary(unary(x), unary(x))``, e.g. ``mul(identity(x), sigmoid(x))`` = swish
* shape 2: ``unary(binary(unary(x), unary(x)))``

Operators are whitelisted functions and arithmetic (:data:`UNARY`, :data:`BINARY`);
the unary functions are the rows of the function table that name a grammar
operator (``FunctionSpec.grammar``), so a new row can join the grammar by itself.
``div`` and ``pow`` are opt-in (``binary="all"``): most pairs give poles or NaN
on part of the line.  Such candidates are legal; they simply score as failures.

``mutate`` (replace one operator) and ``crossover`` (swap a subtree) work on trees,
not on simplified formulas.  A candidate's tree is recovered from its canonical text
alone (:meth:`GrammarSpace.tree`): shape 1 through a table of every shape-1 tree's
text, shape 2 by undoing the outer operator first.  The answer depends only on the
text and the space's options, never on what was built before, so the same seed
gives the same candidates in any process, after a resume too.  Among trees with the
same text the first in a fixed order is taken.  A grammar candidate whose tree
cannot be recovered is replaced by a fresh sample in ``mutate``.

``enumerate()`` walks shape 1 in a fixed order and yields each distinct function
once, de-duplicated by :meth:`Candidate.fingerprint`.

Example:
    >>> import numpy as np, actsearch
    >>> s = actsearch.space("grammar")
    >>> c = s.build(("b", "mul", ("u", "identity", "x"), ("u", "sigmoid", "x")))
    >>> c.text, c.fingerprint() == actsearch.parse("silu(x)").fingerprint()
    ('x*sigmoid(x)', True)
    >>> s.tree(actsearch.parse("x*sigmoid(x)", family="grammar"))
    ('b', 'mul', ('u', 'identity', 'x'), ('u', 'sigmoid', 'x'))
"""

from __future__ import annotations

import functools
from typing import Callable, Iterator, Mapping, Union

import numpy as np
import sympy

from actsearch.symbolic.parser import X
from actsearch.symbolic.text import canonical_text
from actsearch.errors import ExpressionError
from actsearch.symbolic.expr import Candidate, parse
from actsearch.symbolic.functions import FUNCTIONS, table

from ._catalog import SHAPE_FORMS, Catalog, shape_of_tree
from ._common import SearchSpaceError, check_choice, choice, reject_unknown
from .base import SearchSpace

__all__ = ["GrammarSpace", "UNARY", "BINARY", "SAFE_BINARY", "Tree", "tree_expr"]

FAMILY = "grammar"
#: a tree: "x", ("u", op, child) or ("b", op, left, right)
Tree = Union[str, tuple]


class _UnaryOps(Mapping):
    """Unary operator name -> constructor: arithmetic, then the function table's rows
    that name a grammar operator (``FunctionSpec.grammar``), read at every access.

    Sampling draws operators by position, so the order is fixed: :data:`_ORDER`,
    the operators of the first release, then rows added since, in table order.
    """

    def _ops(self) -> dict[str, Callable[[sympy.Expr], sympy.Expr]]:
        rows = {s.grammar: s.sympy_fn for s in table() if s.grammar and s.public}
        names = [n for n in _ORDER if n in _ARITHMETIC or n in rows]
        names += [n for n in rows if n not in _ORDER]
        return {n: _ARITHMETIC.get(n) or rows[n] for n in names}

    def __getitem__(self, name: str):
        return self._ops()[name]

    def __iter__(self):
        return iter(self._ops())

    def __len__(self) -> int:
        return len(self._ops())


_ARITHMETIC: dict[str, Callable[[sympy.Expr], sympy.Expr]] = {
    "identity": lambda z: z,
    "neg": lambda z: -z,
    "square": lambda z: z**2,
}
#: the operator order seeds depend on (see :class:`_UnaryOps`)
_ORDER = (
    "identity", "neg", "abs", "square", "exp", "erf", "tanh", "sigmoid", "relu", "elu", "selu", "swish",
    "softplus", "softsign", "sin", "cos", "arctan", "gelu", "leaky_relu",
)
UNARY: Mapping[str, Callable[[sympy.Expr], sympy.Expr]] = _UnaryOps()

BINARY: dict[str, Callable[[sympy.Expr, sympy.Expr], sympy.Expr]] = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "max": FUNCTIONS["max"].sympy_fn,
    "min": FUNCTIONS["min"].sympy_fn,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a**b,
}
#: binary operators defined and finite for every finite input
SAFE_BINARY = ("add", "sub", "mul", "max", "min")
SHAPES = (1, 2)
_MAX_TRIES = 100


def tree_expr(tree: Tree) -> sympy.Expr:
    """The sympy expression of ``tree``."""
    if tree == "x":
        return X
    if tree[0] == "u":
        return UNARY[tree[1]](tree_expr(tree[2]))
    return BINARY[tree[1]](tree_expr(tree[2]), tree_expr(tree[3]))


def _shape_of(tree: Tree) -> int | None:
    def leaf(t):
        return isinstance(t, tuple) and t[0] == "u" and t[2] == "x"

    def shape1(t):
        return isinstance(t, tuple) and t[0] == "b" and leaf(t[2]) and leaf(t[3])

    if shape1(tree):
        return 1
    if isinstance(tree, tuple) and tree[0] == "u" and shape1(tree[2]):
        return 2
    return None


def _paths(tree: Tree, path=()) -> list[tuple]:
    """Paths (tuples of child indices) of every operator node."""
    if tree == "x":
        return []
    out = [path]
    for i, child in enumerate(tree[2:], start=2):
        out += _paths(child, path + (i,))
    return out


def _get(tree: Tree, path: tuple) -> Tree:
    for i in path:
        tree = tree[i]
    return tree


def _replace(tree: Tree, path: tuple, new: Tree) -> Tree:
    if not path:
        return new
    i = path[0]
    return tree[:i] + (_replace(tree[i], path[1:], new),) + tree[i + 1 :]


def _raw(tree: Tree) -> Candidate | None:
    """The candidate of ``tree`` without the round trip; ``None`` if it is not one
    (constant, e.g. ``sub(relu(x), relu(x))``, or undefined)."""
    try:
        return Candidate(tree_expr(tree), {}, family=FAMILY)
    except (ExpressionError, ValueError, TypeError, ArithmeticError):
        return None


def _finish(tree: Tree) -> Candidate | None:
    raw = _raw(tree)
    if raw is None:
        return None
    try:
        cand = parse(raw.text, family=FAMILY)
    except ExpressionError:  # e.g. an exponent above the parser's limit
        return None
    return cand


def _names(value, table, default, option: str) -> tuple[str, ...]:
    if value is None:
        return tuple(default)
    if value == "all":
        return tuple(table)
    if value == "safe" and table is BINARY:
        return SAFE_BINARY
    if isinstance(value, str):
        value = [v for v in value.replace(" ", "").split(",") if v]
    value = tuple(value)
    if not value:
        raise SearchSpaceError(f"grammar: option {option} is empty")
    for v in value:
        check_choice(option, v, table, FAMILY)
    return value


@functools.lru_cache(maxsize=16)
def _enumerate_shape1(unary: tuple[str, ...], binary: tuple[str, ...]) -> tuple[tuple[Candidate, Tree], ...]:
    seen: set[str] = set()
    out = []
    for op in binary:
        for u1 in unary:
            for u2 in unary:
                tree = ("b", op, ("u", u1, "x"), ("u", u2, "x"))
                raw = _raw(tree)
                if raw is None:
                    continue
                fp = raw.fingerprint()
                if fp in seen:
                    continue
                seen.add(fp)
                cand = _finish(tree)
                if cand is not None:
                    out.append((cand, tree))
    return tuple(out)


def _text(expr: sympy.Expr) -> str | None:
    return canonical_text(expr, {}) if expr.has(X) else None


@functools.lru_cache(maxsize=16)
def _shape1_table(unary: tuple[str, ...], binary: tuple[str, ...]) -> dict[str, Tree]:
    """Text -> the first shape-1 tree (in a fixed order) printing to it."""
    table: dict[str, Tree] = {}
    for op in binary:
        for u1 in unary:
            for u2 in unary:
                tree = ("b", op, ("u", u1, "x"), ("u", u2, "x"))
                try:
                    text = _text(tree_expr(tree))
                except (ValueError, TypeError, ArithmeticError):
                    continue
                if text is not None:
                    table.setdefault(text, tree)
    return table


def _undo(op: str, expr: sympy.Expr) -> list[sympy.Expr]:
    """Expressions ``inner`` with ``UNARY[op](inner)`` possibly equal to ``expr``
    (sympy pulls signs out of odd functions and spreads powers over products)."""
    if op == "identity":
        return [expr]
    if op == "neg":
        return [-expr]
    if op == "square":
        base, exp = expr.as_base_exp()
        if exp != 1:  # (a**b)**2 prints as a**(2*b)
            return [base ** (exp / 2), -(base ** (exp / 2))]
        if isinstance(expr, sympy.Mul):
            halves = [f.as_base_exp() for f in expr.args]
            if all(e.is_even or (b.is_number and b.is_positive) for b, e in halves):
                inner = sympy.Mul(*[b ** (e / 2) for b, e in halves])
                return [inner, -inner]
        return []
    head = next(spec.node for spec in table() if spec.grammar == op)  # undoing it is taking the argument
    out = []
    for sign in (1, -1):
        e = sign * expr
        if isinstance(e, head):
            out += [sign * e.args[0], e.args[0]] if sign < 0 else [e.args[0]]
    return out


@functools.lru_cache(maxsize=4096)
def _recover(text: str, unary: tuple[str, ...], binary: tuple[str, ...], shapes: tuple[int, ...]) -> Tree | None:
    table = _shape1_table(unary, binary)
    if 1 in shapes and text in table:
        return table[text]
    if 2 not in shapes:
        return None
    expr = parse(text).expr
    for op in unary:
        for inner in _undo(op, expr):
            inner_tree = table.get(_text(inner) or "")
            if inner_tree is None:
                continue
            tree = ("u", op, inner_tree)
            if _text(tree_expr(tree)) == text:
                return tree
    return None


class GrammarSpace(SearchSpace):
    """Operator trees over ``x`` (shapes 1 and 2, see the module docstring).

    Options:
        unary: operator names (list or comma-separated), ``"all"`` (default).
        binary: ``"safe"`` (default: add, sub, mul, max, min), ``"all"`` (adds
            div and pow) or a list.
        shapes: which tree shapes ``sample`` draws: ``(1, 2)`` (default), 1 or 2.

    ``sample`` draws a shape and operators uniformly, skipping trees that do not
    depend on ``x``; ``mutate`` replaces one operator by another of the same arity;
    ``crossover`` puts a subtree of the second parent (a ``unary(x)`` leaf or the
    binary node) into the first.  ``enumerate()`` yields the distinct functions
    of shape 1 (the whole space when ``shapes=1``, so only then is it ``finite``).
    """

    name = FAMILY
    option_help = {
        "unary": "unary operators, comma-separated, or all (default): " + ", ".join(UNARY),
        "binary": "safe (default: " + ", ".join(SAFE_BINARY) + ") | all (adds div, pow) | a list",
        "shapes": "tree shapes to sample: 1 = binary(unary(x), unary(x)), 2 = unary(shape 1); default 1,2",
    }

    def __init__(self, unary="all", binary="safe", shapes=SHAPES, **unknown):
        reject_unknown(self, unknown)
        self._options = {"unary": unary, "binary": binary, "shapes": shapes}
        self.unary = _names(unary, UNARY, UNARY, "unary")
        self.binary = _names(binary, BINARY, SAFE_BINARY, "binary")
        if isinstance(shapes, str):
            shapes = [s for s in shapes.replace(" ", "").split(",") if s]
        elif isinstance(shapes, int):
            shapes = [shapes]
        try:
            parsed = tuple(sorted({int(s) for s in shapes}))
        except (TypeError, ValueError):
            raise SearchSpaceError(f"grammar: option shapes={shapes!r} must be 1, 2 or both") from None
        if not parsed or not set(parsed) <= set(SHAPE_FORMS):
            raise SearchSpaceError(f"grammar: option shapes={shapes!r} must be among 1, 2, 3, 4, 5")
        self.shapes = parsed

    @property
    def finite(self) -> bool:
        """True when ``enumerate()`` covers the space: only shape 1 is sampled."""
        return self.shapes == (1,)

    # -- trees ----------------------------------------------------------------
    def tree(self, candidate: Candidate) -> Tree | None:
        """A tree of this space's shapes and operators printing to ``candidate``'s
        text (the first in a fixed order), or ``None`` if there is none or it is not
        found.  Depends only on the text: the same in every process."""
        if candidate.params:
            return None
        try:
            return _recover(candidate.text, self.unary, self.binary, self.shapes)
        except (ExpressionError, ValueError, TypeError, ArithmeticError):
            return None

    def catalog(self, progress=None) -> Catalog:
        """Every distinct function of this space's shapes and operators (cached on disk)."""
        return Catalog.build(self.unary, self.binary, self.shapes, progress=progress)

    def build(self, tree: Tree) -> Candidate:
        """The candidate of ``tree``; ``SearchSpaceError`` if it is not a valid one."""
        if shape_of_tree(tree) is None:
            raise SearchSpaceError(f"grammar: {tree!r} is not a tree of any grammar shape")
        cand = _finish(tree)
        if cand is None:
            raise SearchSpaceError(f"grammar: {tree!r} does not give a function of x")
        return cand

    def contains(self, candidate: Candidate) -> bool:
        return candidate.family == FAMILY and self.tree(candidate) is not None

    # -- candidates -----------------------------------------------------------
    def _random_tree(self, rng: np.random.Generator) -> Tree:
        shape = choice(rng, self.shapes)
        inner = (
            "b",
            choice(rng, self.binary),
            ("u", choice(rng, self.unary), "x"),
            ("u", choice(rng, self.unary), "x"),
        )
        return inner if shape == 1 else ("u", choice(rng, self.unary), inner)

    def _make(self, tree: Tree) -> Candidate | None:
        """The candidate of ``tree`` if it is one whose tree can be recovered from
        its text (so that it can be mutated later); else ``None``."""
        cand = _finish(tree)
        return cand if cand is not None and self.tree(cand) is not None else None

    def sample(self, rng: np.random.Generator) -> Candidate:
        for _ in range(_MAX_TRIES):
            cand = self._make(self._random_tree(rng))
            if cand is not None:
                return cand
        raise SearchSpaceError("grammar: no valid tree in 100 draws; widen the operator sets")

    def mutate(self, candidate: Candidate, rng: np.random.Generator) -> Candidate:
        tree = self.tree(candidate) if candidate.family == FAMILY else None
        if tree is None:
            return self.sample(rng)
        for _ in range(_MAX_TRIES):
            path = choice(rng, _paths(tree))
            node = _get(tree, path)
            pool = [op for op in (self.unary if node[0] == "u" else self.binary) if op != node[1]]
            if not pool:
                continue
            cand = self._make(_replace(tree, path, (node[0], choice(rng, pool)) + node[2:]))
            if cand is not None:
                return cand
        return self.sample(rng)

    def crossover(self, a: Candidate, b: Candidate, rng: np.random.Generator) -> Candidate:
        ta = self.tree(a) if a.family == FAMILY else None
        tb = self.tree(b) if b.family == FAMILY else None
        if ta is None:
            return self.mutate(b, rng)
        if tb is None:
            return self.mutate(a, rng)
        for _ in range(_MAX_TRIES):
            kind = "u" if rng.random() < 0.5 else "b"

            def slots(t):
                return [p for p in _paths(t) if _get(t, p)[0] == kind and (kind == "b" or _get(t, p)[2] == "x")]

            target, donor = choice(rng, slots(ta)), choice(rng, slots(tb))
            cand = self._make(_replace(ta, target, _get(tb, donor)))
            if cand is not None:
                return cand
        return self.mutate(a, rng)

    def enumerate(self) -> Iterator[Candidate]:
        """Every distinct function of shape 1, in a fixed order (cached per operator sets)."""
        for cand, _ in _enumerate_shape1(self.unary, self.binary):
            yield cand
