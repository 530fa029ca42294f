"""One kind of table for every name a user types: :class:`Registry`.

Search spaces, optimisers, tasks and compile backends each live in one registry.
An entry is either a ``"module:Attr"`` string, imported the first time it is asked
for (so listing names imports nothing heavy), or the object itself (what
``register`` adds at run time).  Every registry answers an unknown name with the
same one-line error naming the choices.

Example:
    >>> from actsearch._lazy import Registry
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
"""

from __future__ import annotations

import importlib
from typing import Any, Iterator, Mapping

from .errors import ActsearchError, UnknownNameError

__all__ = ["Registry", "unknown_name"]


def _import(target: str) -> Any:
    """``"actsearch.tasks.digits:DigitsCNN"`` -> the class ``DigitsCNN``."""
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def unknown_name(kind: str, name: str, choices, error: type[Exception] = UnknownNameError,
                 hint: str = "") -> Exception:
    """The one-line error every registry raises for a name it does not know."""
    return error(f"unknown {kind} {name!r}; choose one of: {', '.join(choices)}{hint}")


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
