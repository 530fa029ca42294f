"""The operator grammar: trees of unary and binary operators over ``x``.

Five tree shapes (``u`` a unary, ``b`` a binary operator), from the Swish search
(Ramachandran et al. 2017) to the depth of AQuaSurF (Bingham & Miikkulainen 2023):

====  ==============================  ==========================================
 1    ``b(u1(x), u2(x))``             ``mul(identity(x), sigmoid(x))`` = swish
 2    ``o(b(u1(x), u2(x)))``          ``tanh(mul(identity(x), sigmoid(x)))``
 3    ``b(u1(x), u2(u3(x)))``         ``mul(identity(x), tanh(softplus(x)))`` = mish
 4    ``o(b(u1(x), u2(u3(x))))``
 5    ``b(u1(u2(x)), u3(u4(x)))``
====  ==============================  ==========================================

Operators are whitelisted functions and arithmetic (:data:`UNARY`, :data:`BINARY`);
the unary functions are the rows of the function table that name a grammar
operator (``FunctionSpec.grammar``), so a new row can join the grammar by itself.
``div`` and ``pow`` are opt-in (``binary="all"``): most pairs give poles or NaN
on part of the line.

With the 19 default unary and 5 binary operators the five shapes hold 1,373,605
trees and 542,217 distinct functions that are finite and not constant on
``[-5, 5]`` (:class:`~actsearch.search_spaces._catalog.Catalog`: every tree
evaluated at once on probe points, de-duplicated by its outputs, cached on disk).

``sample`` draws a shape, then operators, uniformly, and keeps only trees whose
function is finite and not constant on the probe points (those the catalog
holds).  ``mutate`` (replace one operator) and ``crossover`` (swap a subtree) work
on trees.  A candidate's tree is recovered from its function (:meth:`GrammarSpace.tree`):
the catalog's first tree computing it, found by its outputs on the probe points,
so the answer depends only on the candidate's text and the space's options,
never on what was built before, in any process, after a resume too.

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
import torch

from actsearch.symbolic.parser import X
from actsearch.errors import ExpressionError
from actsearch.symbolic.expr import Candidate, parse
from actsearch.symbolic.functions import FUNCTIONS, table

from ._catalog import DEDUP_POINTS, SHAPE_FORMS, Catalog, evaluate, function_hashes, operator_functions, \
    shape_of_tree, code_of
from ._common import SearchSpaceError, check_choice, choice, reject_unknown
from .base import SearchSpace

__all__ = ["GrammarSpace", "UNARY", "BINARY", "SAFE_BINARY", "Tree", "tree_expr", "SHAPES"]

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
#: every tree shape (see the module docstring)
SHAPES = tuple(SHAPE_FORMS)
_MAX_TRIES = 100


def tree_expr(tree: Tree) -> sympy.Expr:
    """The sympy expression of ``tree``."""
    if tree == "x":
        return X
    if tree[0] == "u":
        return UNARY[tree[1]](tree_expr(tree[2]))
    return BINARY[tree[1]](tree_expr(tree[2]), tree_expr(tree[3]))


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


def _finish(tree: Tree) -> Candidate | None:
    """The candidate of ``tree``; ``None`` if it is not one (constant, e.g.
    ``sub(relu(x), relu(x))``, undefined, or beyond the parser's limits)."""
    try:
        raw = Candidate(tree_expr(tree), {}, family=FAMILY)
        return parse(raw.text, family=FAMILY)
    except (ExpressionError, ValueError, TypeError, ArithmeticError, RecursionError):
        return None


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


def _shapes(value) -> tuple[int, ...]:
    if value in (None, "all"):
        return SHAPES
    if isinstance(value, str):
        value = [s for s in value.replace(" ", "").split(",") if s]
    elif isinstance(value, int):
        value = [value]
    try:
        parsed = tuple(sorted({int(s) for s in value}))
    except (TypeError, ValueError):
        parsed = ()
    if not parsed or not set(parsed) <= set(SHAPES):
        raise SearchSpaceError(f"grammar: option shapes={value!r} must be 'all' or among "
                               f"{', '.join(map(str, SHAPES))}")
    return parsed


@functools.lru_cache(maxsize=8)
def _catalog(unary: tuple[str, ...], binary: tuple[str, ...], shapes: tuple[int, ...]) -> Catalog:
    return Catalog.build(unary, binary, shapes)


@functools.lru_cache(maxsize=8192)
def _member(text: str, unary: tuple[str, ...], binary: tuple[str, ...], shapes: tuple[int, ...]) -> int | None:
    """The catalog member computing ``text``'s function (found by its outputs), or ``None``."""
    cand = parse(text)
    with torch.no_grad(), np.errstate(all="ignore"):
        values = cand.torch_fn()(torch.as_tensor(DEDUP_POINTS).reshape(1, -1), {})
    values = torch.broadcast_to(values, (1, len(DEDUP_POINTS)))
    hashes, usable = function_hashes(values)
    if not usable[0]:
        return None
    index = int(_catalog(unary, binary, shapes).lookup(hashes)[0])
    return index if index >= 0 else None


def _recover(text: str, unary: tuple[str, ...], binary: tuple[str, ...], shapes: tuple[int, ...]) -> Tree | None:
    index = _member(text, unary, binary, shapes)
    return None if index is None else _catalog(unary, binary, shapes).tree(index)


class GrammarSpace(SearchSpace):
    """Operator trees over ``x`` (shapes 1 to 5, see the module docstring).

    Options:
        unary: operator names (list or comma-separated), ``"all"`` (default).
        binary: ``"safe"`` (default: add, sub, mul, max, min), ``"all"`` (adds
            div and pow) or a list.
        shapes: tree shapes: ``"all"`` (default), or some of 1, 2, 3, 4, 5.

    ``sample`` draws a shape uniformly, then its operators uniformly, and keeps
    only trees whose function is finite and not constant on the probe points;
    ``mutate`` replaces one operator by another of the same arity; ``crossover``
    puts a subtree of the second parent (a unary chain over ``x`` or the binary
    node) into the first when the result still has one of the space's shapes.
    The space is finite: :meth:`catalog` holds every distinct function and
    ``enumerate()`` yields them (simplest trees first).
    """

    name = FAMILY
    option_help = {
        "unary": "unary operators, comma-separated, or all (default): " + ", ".join(UNARY),
        "binary": "safe (default: " + ", ".join(SAFE_BINARY) + ") | all (adds div, pow) | a list",
        "shapes": "tree shapes, all (default) or some of: "
                  + "; ".join(f"{k} = {v}" for k, v in SHAPE_FORMS.items()),
    }

    def __init__(self, unary="all", binary="safe", shapes="all", **unknown):
        reject_unknown(self, unknown)
        self._options = {"unary": unary, "binary": binary, "shapes": shapes}
        self.unary = _names(unary, UNARY, UNARY, "unary")
        self.binary = _names(binary, BINARY, SAFE_BINARY, "binary")
        self.shapes = _shapes(shapes)

    @property
    def finite(self) -> bool:
        """Always: :meth:`catalog` holds every distinct function."""
        return True

    @property
    def size(self) -> int:
        """The catalog's distinct functions (without building a candidate)."""
        return len(self.catalog())

    def catalog(self, progress=None) -> Catalog:
        """Every distinct function of this space's shapes and operators (cached on disk)."""
        if progress is None:
            return _catalog(self.unary, self.binary, self.shapes)
        return Catalog.build(self.unary, self.binary, self.shapes, progress=progress)

    # -- trees ----------------------------------------------------------------
    def tree(self, candidate: Candidate) -> Tree | None:
        """The catalog's first tree computing ``candidate``'s function (found by its outputs
        on the probe points), or ``None`` if the space holds no such function.
        Depends only on the text: the same in every process."""
        index = self.member_index(candidate)
        return None if index is None else self.catalog().tree(index)

    def member_index(self, candidate: Candidate) -> int | None:
        """The catalog member computing ``candidate``'s function, or ``None``."""
        if candidate.params or not candidate.elementwise:
            return None
        try:
            return _member(candidate.text, self.unary, self.binary, self.shapes)
        except (ExpressionError, ValueError, TypeError, ArithmeticError, RuntimeError):
            return None

    def build_member(self, index: int) -> Candidate | None:
        """The candidate of catalog member ``index`` (``None`` if sympy cannot build it)."""
        return _finish(self.catalog().tree(index))

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
    def _usable(self, tree: Tree) -> bool:
        """The tree has one of this space's shapes and its function is in the catalog
        (finite and not constant on the probe points)."""
        code = code_of(tree, self.unary, self.binary)
        if code is None or code[0] not in self.shapes:
            return False
        fns = _operator_functions(self.unary, self.binary)
        return bool(function_hashes(evaluate(np.array([code]), DEDUP_POINTS, *fns))[1][0])

    def _random_tree(self, rng: np.random.Generator) -> Tree:
        shape = choice(rng, self.shapes)
        u = [choice(rng, self.unary) for _ in range(5)]
        leaf = lambda op, inner="x": ("u", op, inner)  # noqa: E731
        b = choice(rng, self.binary)
        if shape in (1, 2):
            inner = ("b", b, leaf(u[0]), leaf(u[1]))
        elif shape in (3, 4):
            inner = ("b", b, leaf(u[0]), leaf(u[1], leaf(u[2])))
        else:
            inner = ("b", b, leaf(u[0], leaf(u[1])), leaf(u[2], leaf(u[3])))
        return ("u", u[4], inner) if shape in (2, 4) else inner

    def _make(self, tree: Tree) -> Candidate | None:
        return _finish(tree) if self._usable(tree) else None

    def sample(self, rng: np.random.Generator) -> Candidate:
        for _ in range(_MAX_TRIES):
            cand = self._make(self._random_tree(rng))
            if cand is not None:
                return cand
        raise SearchSpaceError("grammar: no valid tree in 100 draws; widen the operator sets")

    def mutate_tree(self, tree: Tree, rng: np.random.Generator) -> Tree | None:
        """``tree`` with one operator replaced by another of the same arity, keeping the
        function finite and not constant (no sympy: the catalog's array evaluation);
        ``None`` after :data:`_MAX_TRIES` draws."""
        for _ in range(_MAX_TRIES):
            path = choice(rng, _paths(tree))
            node = _get(tree, path)
            pool = [op for op in (self.unary if node[0] == "u" else self.binary) if op != node[1]]
            if not pool:
                continue
            child = _replace(tree, path, (node[0], choice(rng, pool)) + node[2:])
            if self._usable(child):
                return child
        return None

    def crossover_tree(self, ta: Tree, tb: Tree, rng: np.random.Generator) -> Tree | None:
        """``ta`` with a subtree of ``tb`` (a unary chain over ``x``, or the binary node)
        where the result keeps one of the space's shapes; ``None`` after :data:`_MAX_TRIES`."""
        for _ in range(_MAX_TRIES):
            kind = "u" if rng.random() < 0.5 else "b"
            target, donor = choice(rng, _slots(ta, kind)), choice(rng, _slots(tb, kind))
            child = _replace(ta, target, _get(tb, donor))
            if self._usable(child):
                return child
        return None

    def mutate(self, candidate: Candidate, rng: np.random.Generator) -> Candidate:
        tree = self.tree(candidate) if candidate.family == FAMILY else None
        if tree is None:
            return self.sample(rng)
        for _ in range(_MAX_TRIES):
            child = self.mutate_tree(tree, rng)
            if child is None:
                break
            cand = _finish(child)
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
            child = self.crossover_tree(ta, tb, rng)
            if child is None:
                break
            cand = _finish(child)
            if cand is not None:
                return cand
        return self.mutate(a, rng)

    def values(self, trees, points) -> np.ndarray:
        """Trees' values on ``points`` (float64 ``(len(trees), len(points))``), without sympy."""
        codes = np.array([code_of(t, self.unary, self.binary) for t in trees])
        return evaluate(codes, points, *_operator_functions(self.unary, self.binary)).numpy()

    def enumerate(self) -> Iterator[Candidate]:
        """Every distinct function, in the catalog's order (simplest shapes first).

        The catalog holds hundreds of thousands: take what you need, or work on
        :meth:`catalog` directly (arrays, no sympy)."""
        catalog = self.catalog()
        seen: set[str] = set()
        for i in range(len(catalog)):
            cand = _finish(catalog.tree(i))
            if cand is not None and cand.fingerprint() not in seen:
                seen.add(cand.fingerprint())
                yield cand


def _slots(tree: Tree, kind: str) -> list[tuple]:
    """Paths of the binary node (``kind="b"``) or of the unary chains over ``x`` (``"u"``)."""
    out = []
    for p in _paths(tree):
        node = _get(tree, p)
        if node[0] != kind:
            continue
        if kind == "b" or node[2] == "x" or (node[2][0] == "u" and node[2][2] == "x"):
            out.append(p)
    return out


@functools.lru_cache(maxsize=16)
def _operator_functions(unary: tuple[str, ...], binary: tuple[str, ...]):
    return operator_functions(unary, binary)
