"""Names users type -> what they stand for: one kind of table, and the tables of spaces and presets.

:class:`Registry` is the one kind of table for every name a user types.  Search
spaces (:data:`SPACES`), presets (:data:`PRESETS`), optimisers
(:data:`actsearch.optimizers.registry.OPTIMIZERS`), tasks
(:data:`actsearch.tasks.registry.TASKS`) and compile backends each live in one.  An
entry is either a ``"module:Attr"`` string, imported the first time it is asked for
(so listing names imports nothing heavy), or the object itself (what ``register``
adds at run time).  Every registry answers an unknown name with the same one-line
error naming the choices.

Words used throughout actsearch:

* a **preset** is a named candidate (``crrelu``, ``rational-gelu``, ``relu``, ...):
  :func:`preset`, :func:`presets`;
* the **references** are the presets every search trains first and every
  leaderboard compares with: :data:`REFERENCES` (relu, gelu, silu), :func:`references`.

Example:
    >>> shapes = Registry("shape", {"frac": "fractions:Fraction"})
    >>> shapes.names(), "frac" in shapes
    (['frac'], True)
    >>> shapes.get("frac", 3, 4)
    Fraction(3, 4)
    >>> shapes.register("pair", tuple)
    >>> shapes.get("pair", "ab")
    ('a', 'b')
    >>> shapes.get("circle")
    Traceback (most recent call last):
    actsearch.errors.UnknownNameError: unknown shape 'circle'; choose one of: frac, pair
    >>> shapes.unregister("pair")
    >>> import actsearch
    >>> [c.name for c in references()] == list(REFERENCES)
    True
    >>> PRESETS.get("crrelu").text
    'eps*x*exp(-x**2/2) + relu(x); eps=0.01'
    >>> actsearch.space("nope")
    Traceback (most recent call last):
    actsearch.errors.UnknownNameError: unknown search space 'nope'; choose one of: all, entropy, grammar, polynomial, rational
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping

from .errors import ActsearchError, UnknownNameError

if TYPE_CHECKING:
    from .symbolic.expr import Candidate

__all__ = ["Registry", "unknown_name", "did_you_mean", "space", "spaces", "space_class", "ALL_SPACES", "preset",
           "presets", "candidate", "references", "search_references", "Preset",
           "UnknownNameError", "REFERENCES", "SPACES", "PRESETS"]

def _import(target: str) -> Any:
    """``"actsearch.tasks.digits:DigitsCNN"`` -> the class ``DigitsCNN``."""
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def did_you_mean(name: str, choices) -> str:
    """``"; did you mean 'x'?"`` for the choice closest to a mistyped ``name``, or ``""``.

    Example:
        >>> did_you_mean("evolutoin", ["random", "evolution"]), did_you_mean("zzz", ["random"])
        ("; did you mean 'evolution'?", '')
    """
    import difflib

    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def unknown_name(kind: str, name: str, choices, error: type[Exception] = UnknownNameError,
                 hint: str = "") -> Exception:
    """The one-line error every registry raises for a name it does not know (with the
    closest name, when one is close)."""
    choices = list(choices)
    return error(f"unknown {kind} {name!r}; choose one of: {', '.join(choices)}{hint}{did_you_mean(name, choices)}")


class Registry:
    """Names -> implementations of one kind (``kind`` is what error messages call them).

    Args:
        kind: e.g. ``"search space"``, as in "unknown search space 'x'".
        entries: the built-in entries: ``"module:Attr"`` strings (relative to
            ``package``) or objects.  Built-ins cannot be unregistered.
        package: the package the built-in strings are relative to.
        call: :meth:`get` calls the entry with its arguments (a class or a factory);
            ``False``: the entry is the object itself (e.g. a backend instance).
        sort: :meth:`names` sorted (default) or in registration order.
        error: the exception class of unknown or clashing names.
        first: choices listed before the names (e.g. ``auto``) that are not entries.
        hint: text appended to the unknown-name message (e.g. another accepted form).
        reserved: names that cannot be registered.
    """

    def __init__(self, kind: str, entries: Mapping[str, Any] = (), package: str = "", *, call: bool = True,
                 sort: bool = True, error: type[Exception] = UnknownNameError, first: tuple[str, ...] = (),
                 hint: str = "", reserved: tuple[str, ...] = ()):
        self.kind, self.call, self.sort, self.error = kind, call, sort, error
        self.first, self.hint, self.reserved = tuple(first), hint, (*reserved, *first)
        self._entries: dict[str, Any] = {}
        for name, entry in dict(entries).items():
            self._entries[name] = f"{package}.{entry}" if isinstance(entry, str) and package else entry
        self._builtin = frozenset(self._entries)
        self._loaded: dict[str, Any] = {}

    # -- names -----------------------------------------------------------------
    def names(self) -> list[str]:
        """The registered names (sorted, unless the registry keeps registration order)."""
        return sorted(self._entries) if self.sort else list(self._entries)

    def choices(self) -> list[str]:
        """What the unknown-name error lists: :attr:`first`, then :meth:`names`."""
        return [*self.first, *self.names()]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"

    def unknown(self, name: str) -> Exception:
        return unknown_name(self.kind, name, self.choices(), self.error, self.hint)

    # -- entries ---------------------------------------------------------------
    def load(self, name: str) -> Any:
        """The entry ``name`` itself (a class, a factory or an object), imported if lazy."""
        if name not in self._entries:
            raise self.unknown(name)
        if name not in self._loaded:
            entry = self._entries[name]
            self._loaded[name] = _import(entry) if isinstance(entry, str) else entry
        return self._loaded[name]

    def get(self, name: str, *args: Any, **options: Any) -> Any:
        """``name``'s entry called with the arguments; or the entry itself when the
        registry holds objects (which take no arguments)."""
        entry = self.load(name)
        if self.call:
            return entry(*args, **options)
        if args or options:
            raise ActsearchError(f"{self.kind} {name!r} takes no options")
        return entry

    def register(self, name: str, entry: Any, *, replace: bool = False) -> None:
        """Add ``entry`` under ``name``: an object, or an absolute ``"package.module:Attr"``."""
        if not name or not isinstance(name, str) or name in self.reserved:
            shown = " or ".join(repr(r) for r in self.reserved)
            raise self.error(f"a {self.kind} needs a name{' other than ' + shown if shown else ''}, got {name!r}")
        if name in self._entries and not replace:
            raise self.error(f"{self.kind} {name!r} is already registered (pass replace=True to replace it)")
        self._entries[name] = entry
        self._loaded.pop(name, None)

    def unregister(self, name: str) -> None:
        """Remove an entry added with :meth:`register` (built-ins stay; unknown names are ignored)."""
        if name in self._builtin:
            raise self.error(f"{self.kind} {name!r} is built in and cannot be removed")
        self._entries.pop(name, None)
        self._loaded.pop(name, None)


# -- search spaces ----------------------------------------------------------------
#: search space name -> class under actsearch.search_spaces (``SPACES.register`` adds yours)
SPACES = Registry("search space", {
    "rational": "rational:RationalSpace",
    "polynomial": "polynomial:PolynomialSpace",
    "entropy": "entropy:EntropySpace",
    "grammar": "grammar:GrammarSpace",
}, "actsearch.search_spaces")


#: the name of every family at once; a comma-separated list joins some of them
ALL_SPACES = "all"


def spaces() -> list[str]:
    """Names accepted by :func:`space` (and ``a,b,...``: those families as one space)."""
    return sorted(SPACES.names() + [ALL_SPACES])


def space(name: str, **options: Any):
    """The search space ``name`` configured with ``options``.

    Example:
        >>> import numpy as np, actsearch
        >>> s = actsearch.space("rational", version="A", degrees=(5, 4))
        >>> s.sample(np.random.default_rng(0)).family
        'rational'
    """
    if isinstance(name, str) and (name == ALL_SPACES or "," in name):
        return _union(name, options)
    if name not in SPACES:
        raise unknown_name("search space", name, spaces())
    return SPACES.get(name, **options)


def space_class(name: str) -> type:
    """The class :func:`space` builds for ``name`` (a union's for ``all`` and ``a,b``)."""
    if isinstance(name, str) and (name == ALL_SPACES or "," in name):
        from .search_spaces.union import UnionSpace

        return UnionSpace
    return SPACES.load(name)


def _union(name: str, options: dict[str, Any]):
    """Several families as one space: ``all`` or ``a,b``; ``family.option`` keys go to
    that family, ``weights`` to the union."""
    from .search_spaces.union import ALL, UnionSpace

    names = list(ALL) if name == ALL_SPACES else list(dict.fromkeys(n.strip() for n in name.split(",") if n.strip()))
    for n in names:
        if n not in SPACES:
            raise unknown_name("search space", n, SPACES.names())
    per: dict[str, dict[str, Any]] = {n: {} for n in names}
    weights = options.pop("weights", None) if "weights" in options else None
    for key, value in options.items():
        family, dot, option = key.partition(".")
        if not dot or family not in per:
            from .search_spaces._common import SearchSpaceError

            raise SearchSpaceError(f"{name}: option {key!r} must name one of its families: "
                                   f"{', '.join(f'{n}.<option>' for n in names)} (or weights)")
        per[family][option] = value
    return UnionSpace({n: SPACES.get(n, **per[n]) for n in names}, weights=weights,
                      options={**options, **({"weights": weights} if weights is not None else {})})


# -- presets ----------------------------------------------------------------------
# Presets are built on first use, from the search-space families and the parser
# (imported inside the factories): listing their names imports neither sympy nor torch.

@dataclass(frozen=True)
class Preset:
    """A named candidate, the seeds' functions and plain activations, exactly:
    calling it returns the candidate with ``name`` set (built once)."""

    name: str
    description: str
    factory: Callable[[], Candidate] = field(repr=False, compare=False)

    def __call__(self) -> Candidate:
        return _build(self)


@functools.lru_cache(maxsize=None)
def _build(entry: Preset) -> Candidate:
    return entry.factory()


def _plain(text: str, name: str) -> Callable[[], Candidate]:
    def make() -> Candidate:
        from .symbolic.expr import parse

        # family "reference": the label stored searches and leaderboards show for plain activations
        return parse(text, family="reference", name=name)

    return make


def _rational(target: str, name: str) -> Callable[[], Candidate]:
    def make() -> Candidate:
        from .search_spaces.rational import fitted_rational
        from .symbolic.expr import parse

        c = fitted_rational(target, "A", 5, 4)
        return parse(c.text, family=c.family, name=name)

    return make


def _crrelu() -> Candidate:
    from .search_spaces.entropy import eafo_candidate

    return eafo_candidate("relu", 1, 0.01, name="crrelu")


def _poly(kind: str, name: str) -> Callable[[], Candidate]:
    def make() -> Candidate:
        from .search_spaces.polynomial import polynomial_candidate

        return polynomial_candidate(kind, 3, [1 / 3] * 3, 0.0, name=name)

    return make


#: preset name -> :class:`Preset`, listed in this order (``actsearch spaces``)
PRESETS = Registry("preset", {p.name: p for p in [
    Preset("relu", "ReLU, max(x, 0): reference", _plain("relu(x)", "relu")),
    Preset("gelu", "GELU, x * Phi(x) (exact erf form): reference", _plain("gelu(x)", "gelu")),
    Preset("silu", "SiLU / swish, x * sigmoid(x): reference", _plain("silu(x)", "silu")),
    Preset("swish", "alias of silu", _plain("silu(x)", "swish")),
    Preset("crrelu", "CRReLU (Sun et al. 2024): relu(x) + eps x exp(-x^2/2), eps = 0.01", _crrelu),
    Preset("polyrelu", "PolyReLU order 3 (PolyCom): w0 r^3 + w1 r^2 + w2 r + b, r = relu(x), w = 1/3, b = 0",
           _poly("polyrelu", "polyrelu")),
    Preset("polynorm", "PolyNorm order 3 (PolyCom): sum_i w rmsnorm(x^i) + b over the feature dim, w = 1/3, b = 0",
           _poly("polynorm", "polynorm")),
    Preset("rational-gelu", "PAU version A, degrees 5/4, least-squares fit to GELU on [-3, 3] (RAFT's start)",
           _rational("gelu", "rational-gelu")),
    Preset("rational-leaky-relu", "PAU version A, degrees 5/4, least-squares fit to leaky_relu(0.01) on [-3, 3]",
           _rational("leaky_relu", "rational-leaky-relu")),
]}, sort=False)

#: the reference presets every search trains first and every leaderboard compares with
REFERENCES = ("relu", "gelu", "silu")


def presets() -> dict[str, str]:
    """Preset name -> one-line description."""
    return {name: PRESETS.load(name).description for name in PRESETS.names()}


def preset(name: str) -> Candidate:
    """The named candidate, e.g. ``crrelu``, ``rational-gelu`` or the reference ``relu``."""
    return PRESETS.get(name)


def candidate(text: str) -> Candidate:
    """A preset's name (``polynorm``) or formula text (``x*tanh(x)``) as a candidate:
    what a user may type wherever a formula is taken.  A preset keeps its name and
    family; anything else is parsed (an :class:`~actsearch.errors.ExpressionError`
    names the position where it fails).

    Example:
        >>> candidate("polynorm").name, candidate("x*tanh(x)").text
        ('polynorm', 'x*tanh(x)')
    """
    from .symbolic.expr import parse  # sympy on first use: the command line imports this module

    name = text.strip()
    return preset(name) if name in PRESETS.names() else parse(name)


def references() -> list[Candidate]:
    """The :data:`REFERENCES` as candidates, in order."""
    return [preset(name) for name in REFERENCES]


def search_references(config: dict | None) -> tuple[str, ...]:
    """The references a search was started with, read from its stored configuration:
    the one source its leaderboard, report and confirmation compare with (searches
    stored before the references were kept used :data:`REFERENCES`).

    >>> search_references({"references": ["relu", "crrelu"]}), search_references({})
    (('relu', 'crrelu'), ('relu', 'gelu', 'silu'))
    """
    names = (config or {}).get("references")
    return REFERENCES if names is None else tuple(names)
