"""``actsearch search``: run a search and print its leaderboard.

Example::

    actsearch search --task mnist1d-mlp --space grammar --optimizer random \\
        --budget 12 --workers 2 --seeds 1
"""

from __future__ import annotations

import argparse
import sys

from actsearch import stopping
from actsearch.commands import print_leaderboard
from actsearch.commands._live import search_display
from actsearch.commands.confirm import add_options, print_confirmation
from actsearch.errors import ActsearchError
from actsearch.optimizers.registry import optimizers
from actsearch.registry import spaces
from actsearch.scoring import score_rule
from actsearch.search.config import CONFIRM_SEEDS, SearchConfig
from actsearch.search.config_file import load_config
from actsearch.search.option import Kind, options_of
from actsearch.search.ray.placement import DEFAULT_GPU_SHARE
from actsearch.store import DEFAULT_URL, Store, masked
from actsearch.tasks.registry import tasks


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "search",
        help="search a space for activation functions on a task",
        description="Score the references (relu, gelu, silu), your --candidates, then the optimiser's "
        "proposals on a task, on Ray Tune workers; results go to the store and a leaderboard is printed. "
        "With --resume, the search --name continues from its stored settings: only where and how long it "
        "runs may change (--budget up, --workers, --trial-timeout, --max-failures, --address, --device, "
        "--backend, the per-trial resources).",
    )
    p.add_argument("--config", default=None, metavar="FILE.toml",
                   help="settings from a TOML file (keys: these options' names; tables [task_options], "
                   "[space_options], [optimizer_options]); options given here override it. "
                   "'actsearch config NAME' writes a stored search as such a file")
    add_search_options(p)
    p.add_argument("--top", type=int, default=10, help="rows of the leaderboard (default: 10)")
    p.add_argument("--confirm", type=int, default=0, metavar="K",
                   help="then re-train the K best candidates and the references on fresh seeds "
                   "(see actsearch confirm; default: 0, no confirmation)")
    add_options(p, prefix="confirm-")
    p.set_defaults(func=run)


def _help_fields(declared) -> dict[str, str]:
    return {"default": declared.default, "tasks": ", ".join(tasks()), "spaces": ", ".join(spaces()),
            "optimizers": ", ".join(optimizers()), "gpu_share": f"{DEFAULT_GPU_SHARE:g}", "default_url": DEFAULT_URL}


def _word(declared, kind):
    """argparse's ``type``: one command-line word as a value of ``kind`` (a word that is none:
    argparse's one line); its range and rules are checked with the rest (:func:`config_fields`)."""
    def parse(text: str):
        try:
            return kind.convert(text, declared.flags[0])
        except ActsearchError as exc:  # argparse names the flag: "argument --seed: must be 0 or more, not -1"
            raise argparse.ArgumentTypeError(str(exc).removeprefix(declared.flags[0] + " ")) from None

    parse.__name__ = declared.name  # what argparse calls the value in its messages
    return parse


def add_search_options(parser: argparse.ArgumentParser, config_class: type = SearchConfig) -> None:
    """One flag per declared option of ``config_class`` (see :mod:`actsearch.search.option`);
    each defaults to ``None`` here, so that a resume can tell what was given."""
    for name, declared in options_of(config_class).items():
        opt = declared.option
        if not declared.flags:
            continue
        kwargs = {"dest": name, "default": None, "help": opt.help.format(**_help_fields(declared))}
        if opt.form == "on":
            kwargs.update(action="store_const", const=True)
        elif opt.form == "off":
            kwargs.update(action="store_const", const=False)
        else:
            # several words: each checked as one item of the list (a formula is checked when parsed)
            kind = getattr(opt.kind, "item", Kind()) if opt.form in ("words", "repeat") else opt.kind
            kwargs.update(type=_word(declared, kind), metavar=opt.metavar)
            if opt.form == "words":
                kwargs["nargs"] = "+"
            elif opt.form in ("repeat", "pairs"):
                kwargs["action"] = "append"
        parser.add_argument(*declared.flags, **kwargs)
        for alias in opt.hidden:
            parser.add_argument(alias, **{**kwargs, "help": argparse.SUPPRESS})


def config_fields(args: argparse.Namespace, config_class: type = SearchConfig) -> dict:
    """The SearchConfig fields the command line gave (None and absent flags left out),
    over those of ``--config FILE``."""
    out = load_config(args.config, config_class) if getattr(args, "config", None) else {}
    for name, declared in options_of(config_class).items():
        value = getattr(args, name, None)
        if value is None or not declared.flags:
            continue
        if declared.option.form == "pairs":
            # a KEY=VALUE given here changes that key of the file's table, not the whole table
            value = {**out.get(name, {}), **{k: v for pair in value for k, v in pair.items()}}
        out[name] = declared.check(value)
        if name == "task":
            out.pop("task_source", None)  # named on this command line: the user's own choice
    return out


def run(args: argparse.Namespace) -> int:
    from actsearch.search import run_search

    if args.confirm < 0:
        raise ActsearchError(f"--confirm must be 0 or more, not {args.confirm}")
    fields = config_fields(args)
    if args.confirm:  # refused before the search, not after it
        from actsearch.search.confirm import fresh_seeds

        args.confirm_seeds = CONFIRM_SEEDS if args.confirm_seeds is None else args.confirm_seeds
        if not args.resume:
            fresh_seeds(fields.get("seed", 0), fields.get("seeds", 1), args.confirm_first_seed, args.confirm_seeds)
    elif args.confirm_seeds is not None or args.confirm_first_seed is not None:
        raise ActsearchError("--confirm-seeds and --confirm-first-seed need --confirm K")

    display = search_display()
    try:
        outcome = run_search(progress=display, **fields)
    finally:
        getattr(display, "close", lambda: None)()
    print_leaderboard(outcome.name, args.storage, top=args.top)
    by = f" by {stopping.requested()}" if stopping.requested() else ""
    state = "finished" if outcome.finished else f"interrupted{by} (resume with --resume)"
    score = f"; score: {score_rule(outcome.metric, outcome.mode)}" if outcome.metric else ""
    rejected = f", {outcome.rejected} rejected before training" if outcome.rejected else ""
    print(f"search {outcome.name!r} {state}: {outcome.trained} trained, {outcome.reused} reused{rejected}, "
          f"{outcome.wall_time:.0f} s{score}; stored in {masked(outcome.url)}", file=sys.stderr)
    if not outcome.finished or stopping.requested():
        return stopping.exit_code()
    if args.confirm > 0:
        from actsearch.search.confirm import confirm

        print(f"\nconfirming the {args.confirm} best on {args.confirm_seeds} fresh seeds:", flush=True)
        name = f"{outcome.name}-confirm"
        again = args.resume and name in {s["name"] for s in Store(args.storage).searches()}
        checked = confirm(outcome.name, top=None if again else args.confirm,
                          seeds=None if again else args.confirm_seeds,
                          first_seed=None if again else args.confirm_first_seed, workers=args.workers,
                          storage=args.storage, name=name, resume=again, address=args.address,
                          device=args.device, progress=search_display())
        print_confirmation(checked, outcome.name, args.storage)
        return 0 if checked.finished else stopping.exit_code()
    return 0
