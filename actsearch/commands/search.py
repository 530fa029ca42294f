"""``actsearch search``: run a search and print its leaderboard.

Example::

    actsearch search --task mnist1d-mlp --space grammar --optimizer random \\
        --budget 12 --workers 2 --seeds 1
"""

from __future__ import annotations

import argparse
import sys

from actsearch import stopping
from actsearch.commands import add_storage_option, parse_options, print_leaderboard
from actsearch.commands._live import search_display
from actsearch.commands.confirm import add_options, print_confirmation
from actsearch.devices import PRECISIONS
from actsearch.errors import ActsearchError
from actsearch.optimizers.registry import optimizers
from actsearch.registry import spaces
from actsearch.search.config import CONFIRM_SEEDS
from actsearch.search.config_file import load_config
from actsearch.search.ray.placement import DEFAULT_GPU_SHARE
from actsearch.store import Store, masked
from actsearch.tasks.registry import DEFAULT_TASK, tasks


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "search",
        help="search a space for activation functions on a task",
        description="Score the references (relu, gelu, silu), your --candidates, then the optimiser's "
        "proposals on a task, on Ray Tune workers; results go to the store and a leaderboard is printed. "
        "With --resume, the search --name continues from its stored settings: only --budget (up), "
        "--workers, --trial-timeout, --max-failures, --address, --device, --backend and the per-trial "
        "resources may change.",
    )
    # every option defaults to None here, so that a resume can tell what was given
    p.add_argument("--config", default=None, metavar="FILE.toml",
                   help="settings from a TOML file (keys: these options' names; tables [task_options], "
                   "[space_options], [optimizer_options]); options given here override it. "
                   "'actsearch config NAME' writes a stored search as such a file")
    p.add_argument("--task", default=None,
                   help=f"built-in task ({', '.join(tasks())}) or package.module:function (default: {DEFAULT_TASK})")
    p.add_argument("--task-option", action="append", default=None, metavar="KEY=VALUE",
                   help="task option, e.g. path=corpus.txt for charlm (repeatable)")
    p.add_argument("--space", default=None,
                   help=f"search space: {', '.join(spaces())} (default: grammar; see actsearch spaces)")
    p.add_argument("--space-option", action="append", default=None, metavar="KEY=VALUE",
                   help="search space option, e.g. version=B or degrees=5,4 for rational (repeatable)")
    p.add_argument("--optimizer", default=None,
                   help=f"optimiser: {', '.join(optimizers())} (default: random)")
    p.add_argument("--optimizer-option", action="append", default=None, metavar="KEY=VALUE",
                   help="optimiser option, e.g. model=gp for surrogate (repeatable)")
    p.add_argument("--budget", type=int, default=None,
                   help="candidates to train, references included (default: 12)")
    p.add_argument("--workers", type=int, default=None,
                   help="parallel trials (default: as many as the cluster's CPUs/GPUs allow per trial)")
    p.add_argument("--seeds", type=int, default=None, help="training seeds per candidate (default: 1)")
    p.add_argument("--epochs", type=int, default=None, help="training epochs per seed (default: the task's)")
    p.add_argument("--candidates", nargs="+", default=None, metavar="FORMULA",
                   help="your own formulas, scored right after the references")
    add_storage_option(p)
    p.add_argument("--name", default=None, help="search name (default: TASK-SPACE-OPTIMIZER-N)")
    p.add_argument("--resume", action="store_true", help="continue the search --name")
    p.add_argument("--no-early-stop", dest="early_stop", action="store_const", const=False, default=None,
                   help="train every candidate to the end (no ASHA)")
    p.add_argument("--address", default=None,
                   help="join a Ray cluster (host:port of its head, or auto) instead of a private local one")
    p.add_argument("--seed", type=int, default=None, help="optimiser and first training seed (default: 0)")
    p.add_argument("--backend", default=None,
                   help="compile backend: auto (triton on CUDA, eager on a CPU), triton, inductor, eager")
    p.add_argument("--device", default=None, metavar="DEVICE",
                   help="where trials train: auto (cuda when the cluster has GPUs), cpu, cuda or cuda:N "
                   "(default: auto)")
    p.add_argument("--precision", default=None, choices=PRECISIONS,
                   help="fp32, or bf16 (autocast; the kernels take bf16 in and compute in fp32) (default: fp32)")
    p.add_argument("--gpus-per-trial", type=float, default=None, metavar="G",
                   help="GPUs each trial reserves; a fraction lets several trials share one GPU "
                   f"(default: {DEFAULT_GPU_SHARE:g} on CUDA, 0 on a CPU)")
    p.add_argument("--cpus-per-trial", type=float, default=None, metavar="C",
                   help="CPUs each trial reserves, and its torch threads (default: 1)")
    p.add_argument("--working-dir", default=None, metavar="DIR",
                   help="folder shipped to every node of a cluster (default: the current folder for a "
                   "--task module:function)")
    p.add_argument("--py-module", dest="py_modules", action="append", default=None, metavar="PATH",
                   help="local package or module shipped to every node (repeatable)")
    p.add_argument("--logger", dest="loggers", action="append", default=None, metavar="NAME",
                   help="per-trial experiment logger: csv, json or tensorboard (repeatable)")
    p.add_argument("--trial-timeout", type=float, default=None, metavar="SECONDS",
                   help="per-candidate time limit; a slower candidate is recorded as 'timeout' (default: none)")
    p.add_argument("--max-failures", type=int, default=None,
                   help="retries of a trial whose worker process died (default: 2)")
    p.add_argument("--top", type=int, default=10, help="rows of the leaderboard (default: 10)")
    p.add_argument("--confirm", type=int, default=0, metavar="K",
                   help="then re-train the K best candidates and the references on fresh seeds "
                   "(see actsearch confirm; default: 0, no confirmation)")
    add_options(p, prefix="confirm-")
    p.set_defaults(func=run)


#: command-line option -> SearchConfig field, for options whose names differ
_RENAMED = {"task_option": "task_options", "space_option": "space_options", "optimizer_option": "optimizer_options"}
_NOT_CONFIG = {"func", "command", "top", "confirm", "confirm_seeds", "confirm_first_seed", "config"}


def config_fields(args: argparse.Namespace) -> dict:
    """The SearchConfig fields the command line gave (None and absent flags left out),
    over those of ``--config FILE``."""
    out = load_config(args.config) if args.config else {}
    for key, value in vars(args).items():
        if key in _NOT_CONFIG or value is None or (key == "resume" and not value):
            continue
        if key in ("task_option", "space_option", "optimizer_option"):
            # a KEY=VALUE given here changes that key of the file's table, not the whole table
            value = {**out.get(_RENAMED[key], {}), **parse_options(value, flag="--" + key.replace("_", "-"))}
        out[_RENAMED.get(key, key)] = value
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
    print(f"search {outcome.name!r} {state}: {outcome.trained} trained, {outcome.reused} reused, "
          f"{outcome.wall_time:.0f} s; stored in {masked(outcome.url)}", file=sys.stderr)
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
