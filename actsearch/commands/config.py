"""``actsearch config NAME``: a stored search's settings as a TOML file that runs it again.

Example::

    actsearch config mnist1d-mlp-grammar-surrogate-1 --out search.toml
    actsearch search --config search.toml --name again
"""

from __future__ import annotations

import argparse

from actsearch.commands import add_storage_option
from actsearch.errors import ActsearchError
from actsearch.results.files import write_files
from actsearch.search.config_file import stored_as_file
from actsearch.store.view import StoreView


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "config",
        help="print a stored search's settings as a config file (actsearch search --config FILE)",
        description="Write the settings search NAME was run with as TOML: `actsearch search --config FILE` "
        "runs the same search again (pass another --name).",
    )
    p.add_argument("name", help="the search")
    add_storage_option(p)
    p.add_argument("--out", default=None, metavar="FILE", help="write to FILE instead of standard output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    view = StoreView(args.storage)
    if args.name not in view.names():
        raise ActsearchError(f"no search named {args.name!r} in the store (searches: "
                             f"{', '.join(view.names()) or 'none'})")
    text = stored_as_file(view.config(args.name))
    if args.out is None:
        print(text, end="")
        return 0
    write_files({args.out: text})
    return 0
