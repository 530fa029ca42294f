"""``actsearch report [--name SEARCH] --out DIR``: a self-contained HTML report."""

from __future__ import annotations

from actsearch.commands import add_storage_option


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "report",
        help="write an HTML report of a search",
        description="Write DIR/index.html (settings, progress, leaderboard, failures, pictures of the best "
        "candidates; images embedded, readable offline) and DIR/leaderboard.csv.",
    )
    add_storage_option(p)
    p.add_argument("--name", dest="search", default=None, help="search to report (default: the latest)")
    p.add_argument("--out", required=True, help="folder to write (created)")
    p.set_defaults(func=run)


def run(args) -> int:
    from actsearch.results.report import write_report

    path = write_report(args.out, args.search, storage=args.storage)
    print(f"wrote {path}")
    return 0
