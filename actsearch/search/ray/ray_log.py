"""Where Ray's own messages go while a search runs: a file, ``ray.log`` beside Tune's folder.

Ray's Python loggers (Tune's traceback of a lost worker, warnings) and the error
lines the cluster pushes to the driver (a dead worker or node) are written to the
file; the user's terminal keeps the search's own lines.  Errors name the file
(:func:`log_hint`) when something went wrong.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from typing import Callable, TextIO

__all__ = ["ray_output", "log_hint", "RayOutput"]


def log_hint(path: str | None) -> str:
    """What an error adds to say where Ray's messages went."""
    return f" (Ray's own messages: {path})" if path else ""


def _cluster_errors_to(stream: TextIO) -> Callable[[], None]:
    """Send the error lines the cluster pushes to this driver (a worker or node that
    died) to ``stream``; returns what undoes it.

    Ray prints them from a thread of its own through ``ray._private.worker.print_to_stdstream``,
    straight to stdout, and no setting routes them elsewhere (``ray.init(log_to_driver=False)``
    stops the workers' output, not these lines; Ray's loggers do not carry them).  So this
    replaces that private function for as long as the search runs, and only here.
    """
    import ray._private.worker as ray_worker

    printer = getattr(ray_worker, "print_to_stdstream", None)
    if printer is None:  # a Ray without it: its lines stay on stdout
        return lambda: None

    def to_stream(data, ignore_prefix=False) -> None:
        pid = data.get("pid", "")
        stream.writelines(f"({pid}) {line}\n" for line in data.get("lines", ()))
        stream.flush()

    ray_worker.print_to_stdstream = to_stream

    def undo() -> None:
        ray_worker.print_to_stdstream = printer

    return undo


class RayOutput:
    """Ray's messages going to the file ``path`` (see :func:`ray_output`)."""

    def __init__(self, path: str):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.stream = open(path, "a", encoding="utf-8", errors="replace")
        self.stream.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} actsearch (pid {os.getpid()})\n")
        self.stream.flush()
        self.handler = logging.StreamHandler(self.stream)
        self.handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self.saved: dict[str, tuple] = {}
        self.undo_cluster_errors = _cluster_errors_to(self.stream)
        self.install()

    def install(self) -> None:
        """Point Ray's loggers at the file (again: ray.init resets the ``ray`` logger)."""
        names = ["ray"] + sorted(n for n, lg in logging.root.manager.loggerDict.items()
                                 if n.startswith("ray.") and isinstance(lg, logging.Logger) and lg.handlers)
        for name in names:
            lg = logging.getLogger(name)
            if name not in self.saved:
                self.saved[name] = (lg.handlers[:], lg.propagate)
            lg.handlers = [self.handler] if name == "ray" else []
            lg.propagate = name != "ray"

    def close(self) -> None:
        self.undo_cluster_errors()
        for name, (handlers, propagate) in self.saved.items():
            lg = logging.getLogger(name)
            lg.handlers, lg.propagate = handlers, propagate
        self.handler.close()
        self.stream.close()


@contextlib.contextmanager
def ray_output(path: str | None):
    """Send Ray's own messages to the file ``path`` while the block runs: its Python
    loggers (Tune's traceback of a lost worker, warnings) and the error lines the
    cluster pushes to the driver (a dead worker or node).  ``None``: leave them be.
    Yields a :class:`RayOutput` whose ``install()`` re-applies it after a ``ray.init``."""
    if not path:
        yield None
        return
    out = RayOutput(path)
    try:
        yield out
    finally:
        out.close()
