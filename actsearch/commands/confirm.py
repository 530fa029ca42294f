"""``actsearch confirm``: re-train a search's best candidates and the references on fresh seeds.

Example::

    actsearch confirm mnist1d-mlp-grammar-surrogate-1 --top 3 --seeds 5
"""

from __future__ import annotations

import argparse
import sys

from actsearch import stopping
from actsearch.commands import add_storage_option, add_wide_option, parse_options, print_leaderboard
from actsearch.commands._live import search_display
from actsearch.results.tables import FORMATS
from actsearch.search.config import CONFIRM_SEEDS, CONFIRM_TOP
from actsearch.store import masked


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "confirm",
        help="re-train a search's best candidates and the references on fresh seeds",
        description="Train the --top completed candidates of a search and the references (relu, gelu, silu) "
        "on --seeds seeds the search never used, each to the end, as a new search NAME-confirm; the "
        "leaderboard shows each candidate's id and score in the search, on how many seeds it beat the best "
        "reference (wins) and the paired p-value, corrected for the candidates tested together (Holm); one "
        "verdict line per candidate follows.",
    )
    p.add_argument("search", help="the search whose winners to re-train")
    add_options(p)
    add_storage_option(p)
    p.add_argument("--name", default=None, help="name of the confirmation (default: SEARCH-confirm)")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted confirmation (with the seeds and candidates it started with)")
    p.add_argument("--trial-timeout", type=float, default=None, metavar="SECONDS",
                   help="per-candidate time limit over all seeds (default: the search's, scaled to --seeds)")
    p.add_argument("--workers", type=int, default=None,
                   help="parallel trials (default: as many as the cluster's CPUs/GPUs allow per trial)")
    p.add_argument("--address", default=None, help="join a Ray cluster (host:port of its head, or auto)")
    p.add_argument("--backend", default=None, help="compile backend (default: the search's)")
    p.add_argument("--device", default=None, help="auto, cpu, cuda or cuda:N (default: the search's)")
    p.add_argument("--task-option", action="append", default=[], metavar="KEY=VALUE",
                   help="change one of the search's task options, e.g. data_seed=1 for a fresh MNIST-1D sample "
                   "(repeatable)")
    p.add_argument("--against", default=None, metavar="REFERENCE",
                   help="compare with one of the search's references (relu, gelu or silu unless it was "
                   "started with others; default: the best of them)")
    p.add_argument("--format", choices=FORMATS, default="table",
                   help="output format of the leaderboard (default: table)")
    add_wide_option(p)
    p.set_defaults(func=run)


def add_options(p: argparse.ArgumentParser, prefix: str = "") -> None:
    """--top/--seeds/--first-seed, shared with ``search --confirm`` (prefixed ``confirm-``)."""
    needs = " (with --confirm)" if prefix else ""
    if not prefix:
        p.add_argument("--top", type=int, default=None, help=f"best candidates to re-train (default: {CONFIRM_TOP})")
    p.add_argument(f"--{prefix}seeds", type=int, default=None,
                   help=f"fresh training seeds{needs} (default: {CONFIRM_SEEDS})")
    p.add_argument(f"--{prefix}first-seed", type=int, default=None,
                   help=f"first fresh seed{needs} (default: the one after the search's last seed)")


def run(args: argparse.Namespace) -> int:
    from actsearch.results.leaderboard import check_reference
    from actsearch.search.confirm import confirm, confirm_references
    from actsearch.store.view import StoreView

    if args.against is not None:  # before hours of training, not after: the search's own references
        check_reference(args.against, confirm_references(StoreView(args.storage).config(args.search)))
    outcome = confirm(args.search, top=args.top, seeds=args.seeds, first_seed=args.first_seed,
                      workers=args.workers, storage=args.storage, name=args.name, resume=args.resume,
                      address=args.address, backend=args.backend, device=args.device,
                      trial_timeout=args.trial_timeout,
                      task_options=parse_options(args.task_option), progress=search_display())
    print_confirmation(outcome, args.search, args.storage, args.format, args.against, wide=args.wide)
    return 0 if outcome.finished else stopping.exit_code()


def print_confirmation(outcome, search: str, storage: str | None, fmt: str = "table",
                       against: str | None = None, wide: bool = False) -> None:
    """The confirmation's leaderboard, then (as a table) one verdict line per candidate."""
    from actsearch.results.leaderboard import leaderboard
    from actsearch.results.verdicts import ALPHA, few_seeds_warning, verdicts

    print_leaderboard(outcome.name, storage, fmt=fmt, against=against, wide=wide)
    if fmt == "table":
        ranked = leaderboard(storage, outcome.name, against=against)
        found = verdicts(ranked)
        seeds = int(ranked["seeds"].max()) if len(ranked) else 0
        print(f"\nverdict (confirmed: above the best reference on the fresh seeds, Holm-corrected p below {ALPHA:g} "
              f"over the {len(found)} candidate(s), and converged):")
        for verdict in found:
            print(f"  {verdict.line()}")
        if few_seeds_warning(seeds):
            print(f"warning: {few_seeds_warning(seeds)}")
        sys.stdout.flush()
    state = ("finished" if outcome.finished else
             f"interrupted (resume with: actsearch confirm {search} --name {outcome.name} --resume)")
    print(f"confirmation {outcome.name!r} {state}: {outcome.trained} trained, {outcome.wall_time:.0f} s; "
          f"stored in {masked(outcome.url)}", file=sys.stderr)
