"""A search's settings as a TOML file: ``actsearch search --config search.toml``.

The keys are :class:`~actsearch.search.config.SearchConfig`'s options (``-`` or
``_``), the options tables ``[task_options]``, ``[space_options]`` and
``[optimizer_options]``; each value is checked with the option's own type and range,
as on the command line, and a bad one is one line naming the file, the key and what
it must be.  Options on the command line override the file.  A ``module:function``
task named in a file runs only when it is marked as a task (``@actsearch.task``):
a settings file is data, not a command (see :mod:`actsearch.tasks.user`).
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
from pathlib import Path
from typing import Any

from actsearch.errors import ActsearchError
from actsearch.registry import did_you_mean

from .config import SearchConfig, from_stored
from .option import options_of

__all__ = ["load_config", "loads_config", "dump_config", "stored_as_file"]


def _in_files(config_class: type) -> dict:
    return {n: d for n, d in options_of(config_class).items() if d.option.in_files}


def loads_config(text: str, source: str = "<text>", config_class: type = SearchConfig) -> dict[str, Any]:
    """The SearchConfig fields a TOML text sets, each checked; a one-line error for bad
    TOML, an unknown key or a bad value (naming it and the file)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ActsearchError(f"config file {source}: {exc}") from None
    except RecursionError:
        raise ActsearchError(f"config file {source}: values nested too deeply") from None
    out, known = {}, _in_files(config_class)
    for key, value in data.items():
        name = key.replace("-", "_")
        if name not in known:
            raise ActsearchError(f"config file {source}: unknown setting {key!r}; known: {', '.join(sorted(known))}"
                                 + did_you_mean(name, known))
        try:
            out[name] = known[name].check(value)
        except ActsearchError as exc:
            raise ActsearchError(f"config file {source}: {exc}") from None
    if ":" in out.get("task", ""):  # code named by a file runs only when marked as a task
        out["task_source"] = f"the settings file {source}"
    return out


def load_config(path: str | Path, config_class: type = SearchConfig) -> dict[str, Any]:
    """:func:`loads_config` of a file; a missing or unreadable file is a one-line error."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ActsearchError(f"cannot read config file {str(path)!r}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ActsearchError(f"config file {str(path)!r} is not UTF-8 text") from None
    return loads_config(text, repr(str(path)), config_class)


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
        if isinstance(value, dict):
            if value:
                body = [f"{_key(k)} = {_value(v)}" for k, v in value.items() if v is not None]
                tables.append(f"\n[{key}]\n" + "\n".join(body) + "\n")
        else:
            head.append(f"{key} = {_value(value)}")
    return "\n".join(head) + "\n" + "".join(tables)


def stored_as_file(stored: dict[str, Any], config_class: type = SearchConfig) -> str:
    """A stored search's configuration as a config file that runs it again: every
    option a file may set that the store keeps, where it differs from the default
    (and the ones that say what the search is, always)."""
    config = from_stored(stored, config_class)
    values = {}
    for name, declared in _in_files(config_class).items():
        if not declared.option.stored:
            continue
        value = getattr(config, name)
        if declared.option.always_in_file or not declared.option.kind.same(value, declared.default):
            values[name] = declared.option.kind.to_stored(value)
    return dump_config(values)
