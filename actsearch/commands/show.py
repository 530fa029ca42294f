"""``actsearch show ID|PRESET|FORMULA [--out FILE.png]``: a picture of a candidate."""

from __future__ import annotations

from actsearch.commands.export import REF_HELP, add_store_options
from actsearch.errors import ActsearchError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "show",
        help="draw a candidate, its derivative and (if stored) its learning curves",
        description="Write a PNG with the function and its derivative over [-5, 5] beside ReLU and GELU; "
        "for a stored candidate also the learning curves of its runs and, for learnable families, "
        "the shape each layer learned against the initial one.",
    )
    p.add_argument("ref", metavar="ID|PRESET|FORMULA", help=REF_HELP)
    p.add_argument("--out", default=None, help="PNG file to write (default: named after ID/PRESET in the current folder)")
    add_store_options(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from actsearch.results.plots import default_png_name, figure_for, save_png

    out = args.out or default_png_name(args.ref)
    if not out.lower().endswith(".png"):
        raise ActsearchError(f"--out {out!r} must end in .png")
    path = save_png(figure_for(args.ref, storage=args.storage, search=args.search), out)  # one-line errors
    print(f"wrote {path}")
    return 0
