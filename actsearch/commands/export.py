"""``actsearch export ID|PRESET|FORMULA --out FILE.py [--learned]``: a standalone module file."""

from __future__ import annotations

import argparse

from actsearch.commands import add_storage_option

REF_HELP = (
    "what to use: a stored trial (SEARCH:NUMBER or a candidate key), a preset name "
    "(e.g. crrelu) or a formula (e.g. 'x*sigmoid(x)')"
)


def add_store_options(parser: argparse.ArgumentParser) -> None:
    add_storage_option(parser)
    parser.add_argument("--name", dest="search", default=None, help="search name, to pick among searches holding the candidate")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "export",
        help="write a candidate as a standalone PyTorch module file",
        description="Write a single .py file defining an nn.Module that computes the candidate with plain "
        "torch ops; it needs only torch to import.",
    )
    p.add_argument("ref", metavar="ID|PRESET|FORMULA", help=REF_HELP)
    p.add_argument("--out", required=True, help="file to write, ending in .py")
    p.add_argument("--learned", action="store_true", help="use the values learned in the best run (per layer)")
    p.add_argument("--class-name", default=None, help="class name (default: from the preset name, else SearchedActivation)")
    add_store_options(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from actsearch.results.export import export

    path = export(
        args.ref, args.out, learned=args.learned, class_name=args.class_name, storage=args.storage, search=args.search
    )
    text = path.read_text(encoding="utf-8")
    cls = text.split("__all__ = ['", 1)[1].split("'", 1)[0]
    print(f"wrote {path} (class {cls}); use it with: from {path.stem} import {cls}")
    return 0
