"""The ``actsearch`` command.

Each subcommand lives in its own module under :mod:`actsearch.commands` and
exposes ``register(subparsers)``, which adds its parser and sets
``func=handler``.  Errors users can cause (:class:`~actsearch.ActsearchError`)
print as one line and exit with code 2; output to a pipe its reader closed
(``actsearch spaces | head -3``) ends quietly with 141, as SIGPIPE would.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

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
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        try:
            return int(args.func(args) or 0)
        except ActsearchError as exc:
            print(f"actsearch: error: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("actsearch: interrupted", file=sys.stderr)
            return 130
    except BrokenPipeError:
        return _output_closed()


def _output_closed() -> int:
    """The reader of our output went away (``actsearch spaces | head -3``): stop quietly,
    as a command killed by SIGPIPE does, with nothing left to flush at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real stdout (captured): nothing to flush
        pass
    return 128 + 13  # the shell's status for SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
