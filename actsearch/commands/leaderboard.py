"""``actsearch leaderboard``: ranked candidates of a search, failures listed separately."""

from __future__ import annotations

from actsearch.commands import add_storage_option, add_wide_option, terminal_width
from actsearch.results.tables import FORMATS


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "leaderboard",
        help="rank the candidates of a search",
        description="Rank scored candidates (mean score over seeds; higher is better unless the search's "
        "--mode is min) with their gain over the "
        "best reference activation (relu/gelu/silu) of the same task, how much its last epochs swing (tail std) "
        "and whether that is more than the references' (stability: unstable, drifting); candidates whose final "
        "training loss stays far above the references' (not converged), copies of earlier searches' results and "
        "runs stopped early are in sections of their own; failed candidates are listed separately with their "
        "reasons. Pass an id (SEARCH:NUMBER) to show or export.",
    )
    add_storage_option(p)
    which = p.add_mutually_exclusive_group()
    which.add_argument("--name", dest="search", default=None, help="search to show (default: the latest)")
    which.add_argument("--all", action="store_true", help="every search in the store")
    p.add_argument("--task", default=None, help="only candidates scored on this task")
    p.add_argument("--top", type=int, default=None, help="show the N best")
    p.add_argument("--against", default=None, metavar="REFERENCE",
                   help="measure gain, wins and p against one of the search's references (relu, gelu or silu "
                   "unless it was started with others; default: the best of them)")
    p.add_argument("--front", action="store_true",
                   help="only the Pareto front of score against cost (the formula's weighted operation count: "
                   "no other candidate is both better and cheaper), cheapest first")
    p.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    add_wide_option(p)
    p.add_argument("--no-legend", dest="legend", action="store_false",
                   help="leave out what the columns mean (printed under the table)")
    p.set_defaults(func=run)


def run(args) -> int:
    from actsearch.commands import score_line
    from actsearch.results.leaderboard import failures, leaderboard, render

    ranked = leaderboard(args.storage, args.search, all=args.all, task=args.task, top=args.top,
                         against=args.against, front=args.front)
    failed = failures(args.storage, args.search, all=args.all, task=args.task)
    print(render(ranked, failed, args.format, width=terminal_width(), wide=args.wide, show_legend=args.legend)
          + score_line(args.storage, ranked, args.format), end="")
    return 0
