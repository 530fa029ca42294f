"""The ``actsearch`` command.

Each subcommand lives in its own module under :mod:`actsearch.commands` and
exposes ``register(subparsers)``, which adds its parser and sets
``func=handler``.  Errors users can cause (:class:`~actsearch.ActsearchError`)
print as one line and exit with code 2.  SIGINT (Ctrl-C) and SIGTERM stop any
command alike from its first moment (:mod:`actsearch.stopping`): one line, exit
code 130 or 143, and a search ends in order, resumable.  Output to a pipe its
reader closed (``actsearch spaces | head -3``) ends quietly with 141, as SIGPIPE would.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys

from . import stopping
from .errors import ActsearchError

__all__ = ["main", "COMMAND_MODULES"]

#: modules under actsearch.commands, in the order their commands are listed
COMMAND_MODULES = [
    "spaces",
    "optimizers",
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
        choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if choice:
            from .registry import did_you_mean

            message += did_you_mean(choice.group(1), re.findall(r"'([^']*)'", choice.group(2)))
        self.exit(2, f"actsearch: error: {message}\n")


def _unrecognized(parser: argparse.ArgumentParser, args: argparse.Namespace, extra: list[str]) -> str:
    """argparse's "unrecognized arguments", with the closest flag of the command for each mistyped one."""
    from .registry import did_you_mean

    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[args.command]
    flags = [flag for action in sub._actions for flag in action.option_strings]
    hints = [did_you_mean(word.partition("=")[0], flags) for word in extra if word.startswith("--")]
    return f"unrecognized arguments: {' '.join(extra)}" + next((h for h in hints if h), "")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="actsearch", description="Search for better activation functions.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(f"actsearch.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:  # a stop request delivered once more while the command ended: said already
        return stopping.exit_code()
    finally:
        stopping.answered()


def _main(argv: list[str] | None) -> int:
    # before anything else: a signal while the commands load is one line, not a traceback
    with stopping.handling_signals():
        try:
            parser = build_parser()
            args, extra = parser.parse_known_args(argv)
            if extra:
                parser.error(_unrecognized(parser, args, extra))
            return int(args.func(args) or 0)
        except ActsearchError as exc:
            print(f"actsearch: error: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            how = "" if stopping.requested() in (None, "SIGINT") else f" ({stopping.requested()})"
            print(f"actsearch: interrupted{how}", file=sys.stderr)
            return stopping.exit_code()
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
