"""Every function of the operator grammar, enumerated at once with array arithmetic.

The grammar's trees are coded as rows of small integers (:data:`COLUMNS`): the
shape, the binary operator, the outer unary operator and up to four inner unary
operators, each an index into the space's operator lists (-1 where the shape has no
such slot).  Shapes (``u`` a unary, ``b`` a binary operator):

====  ==============================  ======================
 1    ``b(u1(x), u2(x))``             Swish search, Act-Bench
 2    ``o(b(u1(x), u2(x)))``          Swish search
 3    ``b(u1(x), u2(u3(x)))``         AQuaSurF
 4    ``o(b(u1(x), u2(u3(x))))``      AQuaSurF
 5    ``b(u1(u2(x)), u3(u4(x)))``     AQuaSurF
====  ==============================  ======================

:func:`evaluate` computes many coded trees on many points in one pass: the unary
operators' values on the points (``V1[u]``) and their compositions (``V2[u, v]``)
are computed once, each tree gathers its leaves from them and applies its binary
and outer operator to all trees that share it.  :class:`Catalog` walks every tree
of the chosen shapes in a fixed order (shape, binary, outer, u1..u4), drops those
that are not finite or are constant on :data:`DEDUP_POINTS`, and keeps the first
tree of every distinct function (outputs rounded to 6 significant digits, hashed).
The result is cached on disk (``catalog-<digest>.npz``, plain arrays, no pickle) and
reused; its digest covers the operator lists, the shapes and :data:`VERSION`.

Example:
    >>> from actsearch.search_spaces._catalog import Catalog
    >>> cat = Catalog.build(("identity", "neg", "tanh"), ("add", "mul"), (1,), cache=False)
    >>> cat.stats["trees"], len(cat) <= cat.stats["trees"]
    (18, True)
    >>> cat.tree(0)
    ('b', 'add', ('u', 'identity', 'x'), ('u', 'identity', 'x'))
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import torch

from actsearch.errors import ActsearchError

__all__ = ["Catalog", "COLUMNS", "SHAPE_FORMS", "DEDUP_POINTS", "evaluate", "tree_of", "code_of",
           "shape_of_tree", "trees_in_shape", "tree_text", "parse_tree", "function_hashes", "catalog_dir", "VERSION"]

#: bump when the enumeration, the points or the hashing change (old cache files are ignored)
VERSION = 1
COLUMNS = ("shape", "binary", "outer", "u1", "u2", "u3", "u4")
SHAPE_FORMS = {
    1: "b(u1(x), u2(x))",
    2: "o(b(u1(x), u2(x)))",
    3: "b(u1(x), u2(u3(x)))",
    4: "o(b(u1(x), u2(u3(x))))",
    5: "b(u1(u2(x)), u3(u4(x)))",
}
#: inner unary slots per shape, and whether it has an outer operator
_INNER = {1: 2, 2: 2, 3: 3, 4: 3, 5: 4}
_OUTER = {1: False, 2: True, 3: False, 4: True, 5: False}
_DIGITS = 6
_ZERO = 1e-9
_CHUNK = 1 << 15


def _dedup_points() -> np.ndarray:
    rng = np.random.default_rng(20261204)
    ramp = np.linspace(-5.0, 5.0, 41)
    normal = np.clip(rng.standard_normal(40), -5.0, 5.0)
    return np.sort(np.concatenate([ramp, normal]))


#: where functions are compared (and must be finite): a ramp on [-5, 5] and N(0, 1) samples
DEDUP_POINTS = _dedup_points()


def catalog_dir() -> Path:
    """``$ACTSEARCH_DATA/spaces`` (default ``~/.cache/actsearch/data/spaces``)."""
    root = os.environ.get("ACTSEARCH_DATA") or os.path.join(Path.home(), ".cache", "actsearch", "data")
    return Path(root).expanduser() / "spaces"


# -- trees <-> codes ---------------------------------------------------------------

def _leaf(op: str, inner="x"):
    return ("u", op, inner)


def tree_of(code: Sequence[int], unary: Sequence[str], binary: Sequence[str]):
    """The tuple tree (``"x"``, ``("u", op, child)``, ``("b", op, left, right)``) of a code row."""
    shape, b, o, u1, u2, u3, u4 = (int(v) for v in code)
    bop = binary[b]
    if shape in (1, 2):
        inner = ("b", bop, _leaf(unary[u1]), _leaf(unary[u2]))
    elif shape in (3, 4):
        inner = ("b", bop, _leaf(unary[u1]), _leaf(unary[u2], _leaf(unary[u3])))
    elif shape == 5:
        inner = ("b", bop, _leaf(unary[u1], _leaf(unary[u2])), _leaf(unary[u3], _leaf(unary[u4])))
    else:
        raise ValueError(f"no tree shape {shape}")
    return ("u", unary[o], inner) if _OUTER[shape] else inner


def _is_leaf(t, depth: int) -> bool:
    """``t`` is ``u(x)`` (depth 1) or ``u(u(x))`` (depth 2)."""
    if not (isinstance(t, tuple) and t[0] == "u"):
        return False
    return t[2] == "x" if depth == 1 else _is_leaf(t[2], 1)


def shape_of_tree(tree) -> int | None:
    """The shape number of a tuple tree, or ``None`` if it has none of :data:`SHAPE_FORMS`."""
    outer = isinstance(tree, tuple) and tree[0] == "u"
    inner = tree[2] if outer else tree
    if not (isinstance(inner, tuple) and inner[0] == "b"):
        return None
    left, right = inner[2], inner[3]
    if _is_leaf(left, 1) and _is_leaf(right, 1):
        shape = 1
    elif _is_leaf(left, 1) and _is_leaf(right, 2):
        shape = 3
    elif _is_leaf(left, 2) and _is_leaf(right, 2) and not outer:
        return 5
    else:
        return None
    return shape + 1 if outer else shape


def code_of(tree, unary: Sequence[str], binary: Sequence[str]) -> tuple[int, ...] | None:
    """The code row of a tuple tree; ``None`` if its shape or an operator is not in the lists."""
    shape = shape_of_tree(tree)
    if shape is None:
        return None
    try:
        o = unary.index(tree[1]) if _OUTER[shape] else -1
        inner = tree[2] if _OUTER[shape] else tree
        b = binary.index(inner[1])
        left, right = inner[2], inner[3]
        if shape in (1, 2):
            us = [unary.index(left[1]), unary.index(right[1])]
        elif shape in (3, 4):
            us = [unary.index(left[1]), unary.index(right[1]), unary.index(right[2][1])]
        else:
            us = [unary.index(left[1]), unary.index(left[2][1]), unary.index(right[1]), unary.index(right[2][1])]
    except ValueError:
        return None
    us += [-1] * (4 - len(us))
    return (shape, b, o, *us)


def tree_text(tree) -> str:
    """A tree in operator names, e.g. ``tanh(add(identity(x), sigmoid(relu(x))))``."""
    if tree == "x":
        return "x"
    return f"{tree[1]}({', '.join(tree_text(c) for c in tree[2:])})"


def parse_tree(text: str):
    """The tuple tree of :func:`tree_text`'s output; ``ValueError`` if it is not one."""
    import re

    tokens = re.findall(r"[A-Za-z_][A-Za-z0-9_]*|[(),]", text)
    if "".join(tokens) != re.sub(r"\s+", "", text):
        raise ValueError(f"not a tree: {text!r}")
    pos = 0

    def node():
        nonlocal pos
        name = tokens[pos]
        pos += 1
        if name == "x":
            return "x"
        if pos >= len(tokens) or tokens[pos] != "(":
            raise ValueError(f"not a tree: {text!r}")
        pos += 1
        children = [node()]
        while tokens[pos] == ",":
            pos += 1
            children.append(node())
        if tokens[pos] != ")":
            raise ValueError(f"not a tree: {text!r}")
        pos += 1
        if len(children) > 2:
            raise ValueError(f"not a tree: {text!r}")
        return ("u" if len(children) == 1 else "b", name, *children)

    try:
        tree = node()
    except IndexError:
        raise ValueError(f"not a tree: {text!r}") from None
    if pos != len(tokens):
        raise ValueError(f"not a tree: {text!r}")
    return tree


def trees_in_shape(shape: int, n_unary: int, n_binary: int) -> int:
    """How many trees a shape holds."""
    return n_binary * n_unary ** (_INNER[shape] + _OUTER[shape])


def _shape_codes(shape: int, n_unary: int, n_binary: int) -> Iterator[np.ndarray]:
    """Every code row of ``shape`` in the fixed order (binary, outer, u1..u4), in chunks."""
    k = _INNER[shape]
    inner = np.stack(np.meshgrid(*[np.arange(n_unary)] * k, indexing="ij"), -1).reshape(-1, k)
    outers = range(n_unary) if _OUTER[shape] else [-1]
    pad = np.full((len(inner), 4 - k), -1)
    for b in range(n_binary):
        for o in outers:
            for s in range(0, len(inner), _CHUNK):
                part = inner[s:s + _CHUNK]
                head = np.tile([shape, b, o], (len(part), 1))
                yield np.concatenate([head, part, pad[: len(part)]], axis=1).astype(np.int16)


# -- evaluation ----------------------------------------------------------------------

UnaryFn = Callable[[torch.Tensor], torch.Tensor]
BinaryFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def evaluate(codes: np.ndarray, points: np.ndarray, unary_fns: Sequence[UnaryFn],
             binary_fns: Sequence[BinaryFn]) -> torch.Tensor:
    """Values of coded trees on ``points``: a float64 tensor of shape ``(len(codes), len(points))``.

    Non-finite values are kept (the caller decides); floating-point warnings are silenced.
    """
    codes = np.asarray(codes, dtype=np.int64)
    p = torch.as_tensor(np.asarray(points, dtype=np.float64))
    out = torch.empty((len(codes), len(p)), dtype=torch.float64)
    if len(codes) == 0:
        return out
    with torch.no_grad(), np.errstate(all="ignore"):
        v1 = torch.stack([fn(p) for fn in unary_fns])                          # (U, P)
        needs_v2 = bool(np.isin(codes[:, 0], (3, 4, 5)).any())
        v2 = torch.stack([fn(v1) for fn in unary_fns]) if needs_v2 else None  # (U, U, P): v2[u, v] = u(v(p))
        for shape in np.unique(codes[:, 0]):
            in_shape = np.flatnonzero(codes[:, 0] == shape)
            c = codes[in_shape]
            if shape in (1, 2):
                left, right = v1[c[:, 3]], v1[c[:, 4]]
            elif shape in (3, 4):
                left, right = v1[c[:, 3]], v2[c[:, 4], c[:, 5]]
            else:
                left, right = v2[c[:, 3], c[:, 4]], v2[c[:, 5], c[:, 6]]
            vals = torch.empty_like(left)
            for b in np.unique(c[:, 1]):
                rows = torch.as_tensor(np.flatnonzero(c[:, 1] == b))
                vals[rows] = binary_fns[b](left[rows], right[rows])
            if _OUTER[int(shape)]:
                for o in np.unique(c[:, 2]):
                    rows = torch.as_tensor(np.flatnonzero(c[:, 2] == o))
                    vals[rows] = unary_fns[o](vals[rows])
            out[torch.as_tensor(in_shape)] = vals
    return out


def function_hashes(values: torch.Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(hash, usable)`` per row: a 64-bit hash of the row rounded to 6 significant digits
    (values under 1e-9 in magnitude count as 0), and whether the row is finite and not constant."""
    v = values.numpy() if isinstance(values, torch.Tensor) else np.asarray(values, dtype=np.float64)
    finite = np.isfinite(v).all(axis=1)
    with np.errstate(all="ignore"):
        spread = np.nanmax(v, axis=1) - np.nanmin(v, axis=1)
        constant = ~(spread > _ZERO * (1.0 + np.abs(np.nanmean(v, axis=1))))
        v = np.where(finite[:, None], v, 0.0)
        mag = np.abs(v)
        small = mag < _ZERO
        exponent = np.floor(np.log10(np.where(small, 1.0, mag))).astype(np.int64)
        mantissa = np.rint(v / 10.0 ** (exponent - (_DIGITS - 1))).astype(np.int64)
    mantissa = np.where(small, 0, mantissa)
    exponent = np.where(small, 0, exponent)
    words = (mantissa * 4096 + (exponent + 2048)).astype(np.uint64)
    rng = np.random.default_rng(0xC0FFEE)
    weights = rng.integers(1, 2**63 - 1, size=v.shape[1], dtype=np.int64).astype(np.uint64) | np.uint64(1)
    with np.errstate(over="ignore"):
        mixed = words * weights
        mixed ^= mixed >> np.uint64(29)
        h = np.bitwise_xor.reduce(mixed * np.uint64(0x9E3779B97F4A7C15), axis=1) if v.shape[1] else \
            np.zeros(len(v), np.uint64)
        h = h + np.add.reduce(mixed, axis=1, dtype=np.uint64)
    return h, finite & ~constant


# -- the catalog ---------------------------------------------------------------------

class Catalog:
    """The distinct, finite, non-constant functions of the grammar's shapes.

    Attributes:
        unary, binary, shapes: the operator lists and shapes it was built from.
        codes: ``(n, 7)`` int16 code rows (:data:`COLUMNS`), one per distinct function,
            the first tree (in the enumeration order) computing it.
        hashes: ``(n,)`` their function hashes on :data:`DEDUP_POINTS`.
        stats: ``trees``, ``usable`` (finite and not constant), ``unique``, ``seconds``,
            and ``per_shape`` ``{shape: (trees, unique)}``.

    Build with :meth:`build` (cached on disk unless ``cache=False``).
    """

    def __init__(self, unary: Sequence[str], binary: Sequence[str], shapes: Sequence[int], codes: np.ndarray,
                 hashes: np.ndarray, stats: dict):
        self.unary, self.binary, self.shapes = tuple(unary), tuple(binary), tuple(shapes)
        self.codes, self.hashes, self.stats = codes, hashes, stats
        self._order = np.argsort(hashes, kind="stable")
        self._sorted = hashes[self._order]

    def __len__(self) -> int:
        return len(self.codes)

    def __repr__(self) -> str:
        return (f"Catalog({len(self)} functions of {self.stats.get('trees')} trees, shapes {self.shapes}, "
                f"{len(self.unary)} unary x {len(self.binary)} binary)")

    # -- building ----------------------------------------------------------------
    @staticmethod
    def digest(unary: Sequence[str], binary: Sequence[str], shapes: Sequence[int]) -> str:
        text = "|".join([str(VERSION), ",".join(unary), ",".join(binary), ",".join(map(str, shapes))])
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @classmethod
    def build(cls, unary: Sequence[str], binary: Sequence[str], shapes: Sequence[int], cache: bool = True,
              progress: Callable[[str], None] | None = None) -> "Catalog":
        """Enumerate, evaluate and de-duplicate every tree (or load the cached result)."""
        unary, binary, shapes = tuple(unary), tuple(binary), tuple(sorted(set(int(s) for s in shapes)))
        bad = [s for s in shapes if s not in SHAPE_FORMS]
        if bad:
            raise ActsearchError(f"grammar: no tree shape {bad[0]}; shapes are {', '.join(map(str, SHAPE_FORMS))}")
        path = catalog_dir() / f"catalog-{cls.digest(unary, binary, shapes)}.npz"
        if cache:
            loaded = cls._load(path, unary, binary, shapes)
            if loaded is not None:
                return loaded
        start = time.perf_counter()
        unary_fns, binary_fns = operator_functions(unary, binary)
        all_hashes, all_codes, usable_n = [], [], 0
        per_shape = {}
        for shape in shapes:
            n_trees = 0
            for codes in _shape_codes(shape, len(unary), len(binary)):
                h, usable = function_hashes(evaluate(codes, DEDUP_POINTS, unary_fns, binary_fns))
                n_trees += len(codes)
                usable_n += int(usable.sum())
                # the first tree of each function within the chunk (globally below): bounded memory
                h = h[usable]
                keep = np.sort(np.unique(h, return_index=True)[1])
                all_hashes.append(h[keep])
                all_codes.append(codes[usable][keep])
            per_shape[shape] = n_trees
            if progress:
                progress(f"shape {shape} ({SHAPE_FORMS[shape]}): {n_trees:,} trees")
        hashes = np.concatenate(all_hashes) if all_hashes else np.zeros(0, np.uint64)
        codes = np.concatenate(all_codes) if all_codes else np.zeros((0, 7), np.int16)
        _, first = np.unique(hashes, return_index=True)
        first = np.sort(first)
        codes, hashes = codes[first], hashes[first]
        stats = {
            "trees": int(sum(per_shape.values())), "usable": usable_n, "unique": int(len(codes)),
            "seconds": time.perf_counter() - start,
            "per_shape": {s: (per_shape[s], int((codes[:, 0] == s).sum())) for s in shapes},
        }
        cat = cls(unary, binary, shapes, codes, hashes, stats)
        if cache:
            cat._save(path)
        return cat

    def _save(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".npz")
            with os.fdopen(fd, "wb") as fh:
                per = np.array([[s, *self.stats["per_shape"][s]] for s in self.shapes], dtype=np.int64)
                np.savez(fh, codes=self.codes, hashes=self.hashes, per_shape=per,
                         totals=np.array([self.stats["trees"], self.stats["usable"]], dtype=np.int64),
                         seconds=np.array([self.stats["seconds"]]),
                         names=np.array(["|".join(self.unary), "|".join(self.binary)]))
            os.replace(tmp, path)
        except OSError:
            pass  # a cache that cannot be written costs only the next build's time

    @classmethod
    def _load(cls, path: Path, unary, binary, shapes) -> "Catalog | None":
        try:
            with np.load(path, allow_pickle=False) as data:
                names = [str(v) for v in data["names"]]
                if names != ["|".join(unary), "|".join(binary)]:
                    return None
                per = data["per_shape"]
                trees, usable = (int(v) for v in data["totals"])
                codes, hashes = data["codes"], data["hashes"]
                seconds = float(data["seconds"][0])
        except (OSError, KeyError, ValueError):
            return None
        stats = {"trees": trees, "usable": usable, "unique": int(len(codes)), "seconds": seconds,
                 "per_shape": {int(r[0]): (int(r[1]), int(r[2])) for r in per}, "cached": True}
        return cls(unary, binary, shapes, codes, hashes, stats)

    # -- members -----------------------------------------------------------------
    def tree(self, index: int):
        """The tuple tree of member ``index``."""
        return tree_of(self.codes[index], self.unary, self.binary)

    def values(self, points: np.ndarray, index: np.ndarray | None = None, chunk: int = 20_000) -> np.ndarray:
        """Members' values on ``points`` (float64, ``(n, len(points))``), computed in chunks."""
        codes = self.codes if index is None else self.codes[np.asarray(index)]
        unary_fns, binary_fns = operator_functions(self.unary, self.binary)
        out = np.empty((len(codes), len(points)), dtype=np.float64)
        for s in range(0, len(codes), chunk):
            out[s:s + chunk] = evaluate(codes[s:s + chunk], points, unary_fns, binary_fns).numpy()
        return out

    def lookup(self, hashes: np.ndarray) -> np.ndarray:
        """Member index per function hash, -1 where none."""
        hashes = np.asarray(hashes, dtype=np.uint64)
        pos = np.searchsorted(self._sorted, hashes)
        pos = np.minimum(pos, len(self._sorted) - 1)
        found = self._sorted[pos] == hashes if len(self._sorted) else np.zeros(len(hashes), bool)
        return np.where(found, self._order[pos], -1)


def operator_functions(unary: Sequence[str], binary: Sequence[str]) -> tuple[list[UnaryFn], list[BinaryFn]]:
    """Torch implementations of the named operators (the function table's eager forms)."""
    from actsearch.symbolic.functions import FUNCTIONS, table

    rows = {s.grammar: s.torch_fn for s in table() if s.grammar}
    arithmetic = {"identity": lambda z: z, "neg": torch.neg, "square": torch.square}
    binaries = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div,
                "max": FUNCTIONS["max"].torch_fn, "min": FUNCTIONS["min"].torch_fn, "pow": torch.pow}
    try:
        return [arithmetic.get(u) or rows[u] for u in unary], [binaries[b] for b in binary]
    except KeyError as exc:
        raise ActsearchError(f"grammar: no array form for operator {exc.args[0]!r}") from None
