"""The ``actsearch`` command.

Each subcommand lives in its own module under :mod:`actsearch.commands` and
exposes ``register(subparsers)``, which adds its parser and sets
``func=handler``.  Errors users can cause (:class:`~actsearch.ActsearchError`)
print as one line and exit with code 2.  SIGINT (Ctrl-C) and SIGTERM stop any
command alike from its first moment (:mod:`actsearch.stopping`): one line, exit
code 130 or 143, and a search ends in order, resumable.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from . import stopping
from .errors import ActsearchError

__all__ = ["main", "COMMAND_MODULES"]

#: modules under actsearch.commands, in the order their commands are listed
COMMAND_MODULES = [
    "spaces",
    "search",
    "confirm",
    "config",
    "leaderboard",
    "show",
    "export",
    "report",
    "delete",
    "bench_kernel",
    "benchmark",
]


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # exit code 2 with a one-line reason, as argparse does
        self.exit(2, f"actsearch: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="actsearch", description="Search for better activation functions.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(f"actsearch.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    # before anything else: a signal while the commands load is one line, not a traceback
    with stopping.handling_signals():
        try:
            parser = build_parser()
            args = parser.parse_args(argv)
            return int(args.func(args) or 0)
        except ActsearchError as exc:
            print(f"actsearch: error: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            how = "" if stopping.requested() in (None, "SIGINT") else f" ({stopping.requested()})"
            print(f"actsearch: interrupted{how}", file=sys.stderr)
            return stopping.exit_code()


if __name__ == "__main__":
    sys.exit(main())
