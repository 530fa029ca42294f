"""``actsearch delete NAME [--storage URL] [--yes] [--confirmations]``: remove a search.

Removes the search's study and every trial in it (a half-created one too, as a
driver killed while creating it leaves); its confirmation only with
``--confirmations``.  Refused while a driver runs the search (it holds the
search's lease), and for studies actsearch did not write.  Asks first unless
``--yes``; without a terminal to ask on, ``--yes`` is required.

Example::

    actsearch delete digits-grammar-random-3 --yes
"""

from __future__ import annotations

import sys

from actsearch.commands import add_storage_option
from actsearch.errors import ActsearchError, StoreError
from actsearch.store import Store, masked
from actsearch.store.lease import busy_message, lease_seconds


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "delete",
        help="remove a search from the results store",
        description="Remove a search and its recorded candidates from the store (its confirmation too with "
        "--confirmations). Refused while a driver is running the search.",
    )
    p.add_argument("name", metavar="NAME", help="the search to remove")
    add_storage_option(p)
    p.add_argument("--yes", action="store_true", help="do not ask before deleting")
    p.add_argument("--confirmations", action="store_true",
                   help="also remove the searches that confirm it (NAME-confirm, ...)")
    p.set_defaults(func=run)


def run(args) -> int:
    store = Store(args.storage)
    running = store.holder(args.name)
    if running is not None:  # asked before the question; delete() checks again atomically
        raise StoreError(busy_message(args.name, running, lease_seconds()))
    known = {s["name"]: s for s in store.searches()}
    size = f"{known[args.name]['n_trials']} recorded candidates" if args.name in known else "incomplete"
    confirms = store.confirmations(args.name)
    extra = f" and its confirmations {', '.join(confirms)}" if confirms and args.confirmations else ""
    if not args.yes:
        if not sys.stdin.isatty():
            raise ActsearchError(f"deleting search {args.name!r} needs --yes when there is no terminal to ask on")
        answer = input(f"delete search {args.name!r} ({size}){extra} from {masked(store.url)}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing deleted", file=sys.stderr)
            return 1
    removed = store.delete(args.name, confirmations=args.confirmations)
    print(f"deleted {', '.join(repr(n) for n in removed)} ({size}) from {masked(store.url)}")
    kept = [c for c in confirms if c not in removed]
    if kept:
        print(f"kept its confirmation {', '.join(repr(n) for n in kept)} (--confirmations deletes it too)")
    return 0
