"""A package's public names, each imported from its module the first time it is read (PEP 562).

``import actsearch`` and ``actsearch --help`` load neither torch, sympy, pandas,
optuna nor Ray this way: a package's ``__init__`` says where its names live, and
reading ``actsearch.parse`` imports the symbolic core then, once.
``tests/test_layering.py`` reads the table as the package's imports.

Example:
    >>> getattr_, dir_ = lazy_exports("json", {".decoder": ("JSONDecodeError",)})
    >>> getattr_("JSONDecodeError").__module__
    'json.decoder'
    >>> "JSONDecodeError" in dir_()
    True
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, Callable, Mapping

__all__ = ["lazy_exports"]


def lazy_exports(package: str, where: Mapping[str, tuple[str, ...]]) -> tuple[Callable, Callable]:
    """``(__getattr__, __dir__)`` for ``package``, whose names ``where[module]`` live in
    ``module`` (relative to the package, e.g. ``".symbolic.expr"``)."""
    owner = {name: module for module, names in where.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = owner.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        setattr(sys.modules[package], name, value)  # read again: a plain attribute
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *owner})

    return __getattr__, __dir__
