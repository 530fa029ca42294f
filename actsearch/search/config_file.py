"""A search's settings as a TOML file: ``actsearch search --config search.toml``.

The keys are :class:`~actsearch.search.config.SearchConfig`'s fields (``-`` or
``_``), the options tables ``[task_options]``, ``[space_options]`` and
``[optimizer_options]``.  Options on the command line override the file.
``actsearch config NAME`` writes a stored search back as such a file, so a search
can be run again exactly::

    task = "mnist1d-mlp"
    space = "rational"
    optimizer = "surrogate"
    budget = 40
    epochs = 20
    candidates = ["x*tanh(softplus(x))"]

    [space_options]
    version = "B"
    degrees = "5,4"

Example:
    >>> text = dump_config({"task": "digits", "budget": 6, "task_options": {"lr": 0.01}})
    >>> print(text)
    task = "digits"
    budget = 6
    <BLANKLINE>
    [task_options]
    lr = 0.01
    <BLANKLINE>
    >>> loads_config(text)
    {'task': 'digits', 'budget': 6, 'task_options': {'lr': 0.01}}
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any

from actsearch.errors import ActsearchError

from .config import SearchConfig, from_stored

__all__ = ["load_config", "loads_config", "dump_config", "stored_as_file"]

_TABLES = ("task_options", "space_options", "optimizer_options", "notes")
#: fields a file may not set: they name this run, not the search's settings
_NOT_IN_FILES = frozenset({"resume", "callbacks"})


def _fields() -> set[str]:
    return {f.name for f in fields(SearchConfig)} - _NOT_IN_FILES


def loads_config(text: str, source: str = "<text>") -> dict[str, Any]:
    """The SearchConfig fields a TOML text sets; a one-line error for bad TOML or an
    unknown key (naming it and the file)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ActsearchError(f"config file {source}: {exc}") from None
    out, known = {}, _fields()
    for key, value in data.items():
        name = key.replace("-", "_")
        if name not in known:
            raise ActsearchError(f"config file {source}: unknown setting {key!r}; "
                                 f"known: {', '.join(sorted(known))}")
        if name in _TABLES and not isinstance(value, dict):
            raise ActsearchError(f"config file {source}: {key} must be a table ([{name}])")
        if name == "references":
            value = tuple(value)
        out[name] = value
    return out


def load_config(path: str | Path) -> dict[str, Any]:
    """:func:`loads_config` of a file; a missing or unreadable file is a one-line error."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ActsearchError(f"cannot read config file {str(path)!r}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ActsearchError(f"config file {str(path)!r} is not UTF-8 text") from None
    return loads_config(text, repr(str(path)))


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return {math.inf: "inf", -math.inf: "-inf"}.get(value, "nan")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a TOML basic string is a JSON string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise ActsearchError(f"cannot write {value!r} ({type(value).__name__}) to a config file")


def _key(name: str) -> str:
    return name if name.replace("_", "").replace("-", "").isalnum() else json.dumps(name)


def dump_config(values: dict[str, Any]) -> str:
    """TOML text of SearchConfig field values (``None`` values are left out)."""
    head, tables = [], []
    for key, value in values.items():
        if value is None:
            continue
        if key in _TABLES:
            if value:
                body = [f"{_key(k)} = {_value(v)}" for k, v in value.items() if v is not None]
                tables.append(f"\n[{key}]\n" + "\n".join(body) + "\n")
        else:
            head.append(f"{key} = {_value(value)}")
    return "\n".join(head) + "\n" + "".join(tables)


def stored_as_file(stored: dict[str, Any]) -> str:
    """A stored search's configuration as a config file that runs it again."""
    config = from_stored(stored)
    values = {f.name: getattr(config, f.name) for f in fields(SearchConfig)
              if f.name in _fields() and f.name not in ("storage", "name", "results_dir")}
    defaults = SearchConfig()
    keep = {"task", "space", "optimizer", "budget", "seeds", "seed", "epochs"}
    values = {k: v for k, v in values.items() if k in keep or v != getattr(defaults, k)}
    return dump_config(values)
