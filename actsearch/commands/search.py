"""``actsearch search``: run a search and print its leaderboard.

Example::

    actsearch search --task mnist1d-mlp --space grammar --optimizer random \\
        --budget 12 --workers 2 --seeds 1
"""

from __future__ import annotations

import argparse
import sys


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "search",
        help="search a space for activation functions on a task",
        description="Score the references (relu, gelu, silu), your --candidates, then the optimiser's "
        "proposals on a task, on Ray Tune workers; results go to the store and a leaderboard is printed.",
    )
    p.add_argument("--task", default="mnist1d-mlp",
                   help="built-in task (mnist1d-mlp, mnist1d-cnn, digits, cifar10-resnet, charlm) "
                   "or package.module:function (default: mnist1d-mlp)")
    p.add_argument("--task-option", action="append", default=[], metavar="KEY=VALUE",
                   help="task option, e.g. path=corpus.txt for charlm (repeatable)")
    p.add_argument("--space", default="grammar", help="search space (default: grammar)")
    p.add_argument("--optimizer", default="random", help="optimiser (default: random)")
    p.add_argument("--budget", type=int, default=12,
                   help="candidates to train, references included (default: 12)")
    p.add_argument("--workers", type=int, default=2, help="parallel trials / local Ray CPUs (default: 2)")
    p.add_argument("--seeds", type=int, default=1, help="training seeds per candidate (default: 1)")
    p.add_argument("--epochs", type=int, default=None, help="training epochs per seed (default: the task's)")
    p.add_argument("--candidates", nargs="+", default=[], metavar="FORMULA",
                   help="your own formulas, scored right after the references")
    p.add_argument("--storage", default=None, help="results database URL (default: sqlite:///results/actsearch.db)")
    p.add_argument("--name", default=None, help="search name (default: TASK-SPACE-OPTIMIZER-N)")
    p.add_argument("--resume", action="store_true", help="continue the search --name")
    p.add_argument("--no-early-stop", dest="early_stop", action="store_false",
                   help="train every candidate to the end (no ASHA)")
    p.add_argument("--address", default=None, help="join a Ray cluster (auto or ray://host:port)")
    p.add_argument("--seed", type=int, default=0, help="optimiser and first training seed (default: 0)")
    p.add_argument("--backend", default="auto", help="compile backend: auto, triton, inductor, eager")
    p.add_argument("--trial-timeout", type=float, default=None, metavar="SECONDS",
                   help="per-candidate time limit; a slower candidate is recorded as 'timeout' (default: none)")
    p.add_argument("--max-failures", type=int, default=2,
                   help="retries of a trial whose worker process died (default: 2)")
    p.add_argument("--top", type=int, default=10, help="rows of the leaderboard (default: 10)")
    p.set_defaults(func=run)


def _options(items: list[str]) -> dict:
    from actsearch.errors import ActsearchError

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ActsearchError(f"--task-option {item!r} is not KEY=VALUE")
        out[key] = value
    return out


def run(args: argparse.Namespace) -> int:
    from actsearch.runner import run_search, stderr_progress

    outcome = run_search(
        task=args.task, space=args.space, optimizer=args.optimizer, budget=args.budget,
        workers=args.workers, seeds=args.seeds, epochs=args.epochs, candidates=args.candidates,
        storage=args.storage, name=args.name, resume=args.resume, early_stop=args.early_stop,
        address=args.address, seed=args.seed, backend=args.backend,
        task_options=_options(args.task_option), progress=stderr_progress,
        trial_timeout=args.trial_timeout, max_failures=args.max_failures,
    )
    print(format_leaderboard(outcome.results, outcome.references, top=args.top))
    state = "finished" if outcome.finished else "interrupted (resume with --resume)"
    print(f"\nsearch {outcome.name!r} {state}: {outcome.trained} trained, {outcome.reused} reused, "
          f"{outcome.wall_time:.0f} s; stored in {outcome.url}", file=sys.stderr)
    return 0 if outcome.finished else 130


def format_leaderboard(results, references=("relu", "gelu", "silu"), top: int = 10) -> str:
    """Plain-text table: completed candidates by score, then early-stopped ones, then failures.

    ``ms`` is the activation's forward + backward time on a 64x256 float32 tensor.
    """
    refs = [r for r in results if r.extra.get("name") in references and r.status == "ok" and r.score is not None]
    best_ref = max((r.score for r in refs), default=None)
    done = sorted((r for r in results if r.status == "ok" and r.score is not None), key=lambda r: -r.score)
    pruned = sorted((r for r in results if r.status == "pruned" and r.score is not None), key=lambda r: -r.score)
    failed = [r for r in results if r not in done and r not in pruned]
    metric = next((r.metric for r in results if r.metric), "score")
    lines = [f"{'rank':>4}  {metric:>12}  {'±':>6}  {'gain':>7}  {'ms':>6}  {'status':<7}  candidate"]
    ranked = done + pruned
    shown = ranked[:top]
    for r in refs:  # the references always show, even below the cut
        if r not in shown:
            shown.append(r)
    for r in shown:
        rank = ranked.index(r) + 1
        gain = f"{r.score - best_ref:+.4f}" if best_ref is not None and r.status == "ok" else "-"
        label = r.extra.get("name") or ""
        label = f"  [{label}]" if label else ""
        ms = r.extra.get("kernel_ms")
        ms = f"{ms:.3f}" if isinstance(ms, (int, float)) and ms > 0 else "-"
        lines.append(f"{rank:>4}  {r.score:>12.4f}  {r.spread:>6.3f}  {gain:>7}  {ms:>6}  {r.status:<7}  "
                     f"{r.text}{label}")
    if failed:
        lines.append(f"\nfailed ({len(failed)}):")
        for r in failed:
            lines.append(f"  {r.status:<8} {r.text}: {r.message}")
    return "\n".join(lines)
