"""The search options that are Ray Tune's: ``--logger`` names and Tune ``Callback`` objects.

Checked with the rest of a :class:`~actsearch.search.config.SearchConfig`, before
Ray starts; Ray is imported only to check callbacks, which are Ray objects already.
"""

from __future__ import annotations

import importlib
import importlib.util

from actsearch.errors import ActsearchError
from actsearch.registry import did_you_mean

__all__ = ["LOGGERS", "check_loggers", "check_callbacks", "logger_callbacks"]

#: ``--logger`` names -> Tune's per-trial logger callbacks (``module:Class``)
LOGGERS = {"csv": "ray.tune.logger:CSVLoggerCallback", "json": "ray.tune.logger:JsonLoggerCallback",
           "tensorboard": "ray.tune.logger:TBXLoggerCallback"}


def check_loggers(names) -> None:
    """Refuse an unknown ``--logger`` name, or tensorboard without ``tensorboardX``."""
    for name in names or ():
        if name not in LOGGERS:
            raise ActsearchError(f"unknown logger {name!r}; choose from: {', '.join(LOGGERS)}"
                                 f"{did_you_mean(name, LOGGERS)}")
        if name == "tensorboard" and importlib.util.find_spec("tensorboardX") is None:
            raise ActsearchError("--logger tensorboard needs the tensorboardX package (pip install tensorboardX)")


def check_callbacks(callbacks) -> None:
    """Refuse anything but Ray Tune ``Callback`` objects."""
    if not callbacks:
        return
    from ray.tune import Callback

    for cb in callbacks:
        if not isinstance(cb, Callback):
            raise ActsearchError(f"callbacks must be Ray Tune Callback objects (ray.tune.Callback), "
                                 f"not {type(cb).__name__}")


def logger_callbacks(names) -> list:
    """Tune's logger callbacks for the ``--logger`` ``names`` (each once)."""
    out = []
    for name in dict.fromkeys(names or ()):
        module, _, cls = LOGGERS[name].partition(":")
        out.append(getattr(importlib.import_module(module), cls)())
    return out
