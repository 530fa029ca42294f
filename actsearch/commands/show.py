"""``actsearch show ID|PRESET|FORMULA [--out FILE.png]``: a picture of a candidate;
``actsearch show --compare ID ...``: several overlaid, coloured by score."""

from __future__ import annotations

from actsearch.commands.export import REF_HELP, add_store_options
from actsearch.errors import ActsearchError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "show",
        help="draw a candidate, its derivative and (if stored) its learning curves",
        description="Write a PNG with the function and its derivative over [-5, 5] beside ReLU and GELU; "
        "for a stored candidate also the learning curves of its runs beside the best reference's, its training "
        "loss (a run that diverged marked where it stopped) and, for learnable families, the shape each layer "
        "learned against the initial one. With --compare, several candidates overlaid, coloured by score.",
    )
    p.add_argument("ref", nargs="?", default=None, metavar="ID|PRESET|FORMULA", help=REF_HELP)
    p.add_argument("--compare", nargs="+", default=None, metavar="ID|PRESET|FORMULA",
                   help="draw these candidates' f(x) and f'(x) overlaid, coloured by their scores")
    p.add_argument("--out", default=None, help="PNG file to write (default: named after ID/PRESET in the current folder)")
    add_store_options(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from actsearch.results.plots import compare_picture, default_png_name, picture_for, save_png

    if (args.ref is None) == (args.compare is None):
        raise ActsearchError("show takes one ID|PRESET|FORMULA, or --compare with several")
    out = args.out or (default_png_name(args.ref) if args.ref is not None else "compare.png")
    if not out.lower().endswith(".png"):
        raise ActsearchError(f"--out {out!r} must end in .png")
    if args.compare is not None:
        picture = compare_picture(args.compare, storage=args.storage, search=args.search)
    else:
        picture = picture_for(args.ref, storage=args.storage, search=args.search)  # one-line errors
    path = save_png(picture.figure, out)
    print(f"wrote {path}:")
    for line in picture.drawn:
        print(f"  {line}")
    return 0
