"""``actsearch benchmark build`` and ``actsearch benchmark optimisers``.

    actsearch benchmark build [--out benchmarks/act_table.csv] [--epochs E] [--seeds 3]
                              [--workers W] [--limit N] [--task mnist1d-mlp]
    actsearch benchmark optimisers --table FILE [--repeats 500] [--budget N]
                              [--optimizers random,evolution,surrogate,surrogate-shuffled]
                              [--seed 0] [--top 0.01] [--bootstrap 5000] [--hits FILE]

``build`` trains every unique binary(unary(x), unary(x)) function of the grammar
space (de-duplicated by fingerprint) for ``--seeds`` seeds in a process pool (one
torch thread per worker) and appends one row per function as it finishes; rows
already in ``--out`` (by fingerprint) are skipped, so an interrupted build resumes.
``optimisers`` replays each optimiser against the table (see
:mod:`actsearch.benchmarking`: random without replacement, repeats free, the
shuffled-feature control, censoring) and prints a markdown table of medians with
bootstrap intervals and ratios to random; ``--hits`` also writes each repeat's
evaluations-to-top as JSON so the figures can be recomputed.
"""

from __future__ import annotations

import csv
import os
import sys
import time

from actsearch.errors import ActsearchError

__all__ = ["register", "run_build", "run_optimisers", "train_row"]


def register(subparsers) -> None:
    parser = subparsers.add_parser("benchmark", help="build the tabular benchmark; compare optimisers on it")
    sub = parser.add_subparsers(dest="benchmark_command", metavar="SUBCOMMAND", parser_class=type(parser))
    sub.required = True

    sample = sub.add_parser("sample", help="draw a stratified list of distinct functions to build a table from")
    sample.add_argument("--out", required=True, help="functions file to write (CSV: text, family, shape, tree)")
    sample.add_argument("--per-shape", default="1:300,2:500,3:500,4:750,5:650",
                        help="grammar functions per tree shape, SHAPE:N,... (default 1:300,2:500,3:500,4:750,5:650)")
    sample.add_argument("--families", default="",
                        help="also every structure of these finite families, comma-separated (e.g. "
                             "rational,polynomial,entropy: 146 functions at their published or fitted starts)")
    sample.add_argument("--exclude", default=None, help="leave out the functions of this functions file")
    sample.add_argument("--no-references", action="store_true", help="leave out relu, gelu and silu")
    sample.add_argument("--seed", type=int, default=0)
    sample.set_defaults(func=run_sample)

    build = sub.add_parser("build", help="train a list of functions (or every binary(unary(x), unary(x))); "
                                         "write a table")
    build.add_argument("--out", default="benchmarks/act_table.csv")
    build.add_argument("--functions", default=None,
                       help="functions file from 'benchmark sample' (default: every shape-1 grammar function)")
    build.add_argument("--task", default="mnist1d-mlp")
    build.add_argument("--epochs", type=int, default=10, help="training epochs per run (default 10)")
    build.add_argument("--seeds", type=int, default=3)
    build.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 1)))
    build.add_argument("--limit", type=int, default=None, help="only the first N functions")
    build.set_defaults(func=run_build)

    opt = sub.add_parser("optimisers", aliases=["optimizers"], help="replay optimisers against a table")
    opt.add_argument("--table", required=True)
    opt.add_argument("--repeats", type=int, default=500, help="searches per optimiser (default 500)")
    opt.add_argument("--budget", type=int, default=None,
                     help="evaluations per search (default: every distinct function of the table)")
    opt.add_argument("--optimizers", default="random,evolution,surrogate,surrogate-shuffled",
                     help="comma-separated; random is the baseline without replacement, surrogate-shuffled "
                          "the surrogate with permuted features; optuna works but is slow")
    opt.add_argument("--seed", type=int, default=0)
    opt.add_argument("--top", type=float, default=0.01, help="top fraction to reach (default 0.01)")
    opt.add_argument("--bootstrap", type=int, default=5000, help="bootstrap resamples (default 5000)")
    opt.add_argument("--hits", default=None, help="write each repeat's evaluations-to-top here (JSON)")
    opt.add_argument("--score", default=None,
                     help="how a row is scored: last (the last epoch) or tail:K (mean of each seed's last K "
                          "epochs); default: the search's rule where the table has curves, else last")
    opt.add_argument("--convergence", choices=("on", "off"), default=None,
                     help="rank rows whose final training loss is far above the references' last (default: on "
                          "where the table has training losses and the references' rows)")
    opt.add_argument("--no-references", action="store_true",
                     help="do not tell the references (relu, gelu, silu) first, as a real search does")
    opt.add_argument("--option", action="append", default=[], metavar="LABEL:KEY=VALUE",
                     help="an option of one optimiser of --optimizers, e.g. surrogate:model=gp; a label after "
                          "@ names a variant: --optimizers surrogate@outputs --option surrogate@outputs:features=outputs")
    opt.add_argument("--warm-start", default=None, metavar="TABLE",
                     help="also replay 'surrogate@warm': the surrogate started from a model of TABLE's scores "
                          "(another task's table)")
    opt.set_defaults(func=run_optimisers)


def _positive(name: str, value) -> None:
    if value is not None and value < 1:
        raise ActsearchError(f"--{name} must be >= 1, got {value}")


# -- build -----------------------------------------------------------------------

def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)


def _numbers_text(values) -> str:
    return " ".join(f"{v:.5g}" for v in values)


def train_row(text: str, fingerprint: str, task_name: str, epochs: int, seeds: int, family: str = "grammar",
              extra: dict | None = None) -> dict:
    """Train ``text`` (eager module) for ``epochs`` on ``seeds`` seeds; one table row.

    The row keeps each seed's last-epoch accuracy (``acc_seedK``), its whole
    validation curve (``curve_seedK``) and its training losses per epoch
    (``loss_seedK``, space-separated), so any scoring rule can be replayed later."""
    from actsearch.symbolic.expr import parse
    from actsearch.tasks import get_task

    cand = parse(text, family=family)
    task = get_task(task_name)
    start = time.perf_counter()
    accs, status, messages = [], "ok", []
    row = {"text": text, "fingerprint": fingerprint, "family": family, **(extra or {})}
    for seed in range(seeds):
        out = task.train(lambda: cand.module(), budget=epochs, seed=seed)
        if out.status != "ok" or out.score is None:
            status = out.status if out.status != "ok" else "error"
            accs.append(None)
            messages.append(f"seed {seed}: {out.message}")
        else:
            accs.append(float(out.curve[-1]))
        row[f"curve_seed{seed}"] = _numbers_text(out.curve)
        row[f"loss_seed{seed}"] = _numbers_text(out.losses)
    ok = [a for a in accs if a is not None]
    row.update({"mean_accuracy": f"{sum(ok) / len(ok):.6f}" if status == "ok" else "",
                "status": status, "seconds": f"{time.perf_counter() - start:.1f}",
                "message": "; ".join(messages)[:300]})
    for i, a in enumerate(accs):
        row[f"acc_seed{i}"] = "" if a is None else f"{a:.6f}"
    return row


def build_columns(seeds: int, with_curves: bool) -> list[str]:
    if not with_curves:  # the first table's layout
        return ["text", "fingerprint", "mean_accuracy"] + [f"acc_seed{i}" for i in range(seeds)] + [
            "status", "seconds"]
    return (["text", "family", "shape", "tree", "fingerprint", "status", "mean_accuracy"]
            + [f"acc_seed{i}" for i in range(seeds)] + [f"curve_seed{i}" for i in range(seeds)]
            + [f"loss_seed{i}" for i in range(seeds)] + ["seconds", "message"])


# -- sample ----------------------------------------------------------------------

def _per_shape(text: str) -> dict[int, int]:
    out = {}
    for part in (p for p in text.replace(" ", "").split(",") if p):
        shape, sep, n = part.partition(":")
        try:
            out[int(shape)] = int(n)
        except ValueError:
            raise ActsearchError(f"--per-shape takes SHAPE:N,..., not {part!r}") from None
        if out[int(shape)] < 0:
            raise ActsearchError(f"--per-shape: a negative count in {part!r}")
    return out


def run_sample(args) -> int:
    import numpy as np

    import actsearch
    from actsearch.registry import references
    from actsearch.search_spaces._catalog import SHAPE_FORMS, tree_text

    wanted = _per_shape(args.per_shape)
    bad = [s for s in wanted if s not in SHAPE_FORMS]
    if bad:
        raise ActsearchError(f"--per-shape: no tree shape {bad[0]}; shapes are {', '.join(map(str, SHAPE_FORMS))}")
    space = actsearch.space("grammar", shapes=sorted(wanted))
    catalog = space.catalog(progress=lambda m: print(m, file=sys.stderr, flush=True))
    rng = np.random.default_rng(args.seed)
    rows, fps = [], set()
    if args.exclude:
        for rec in _read_functions(args.exclude):
            fps.add(actsearch.parse(rec["text"], family=rec.get("family") or "grammar").fingerprint())
    for cand in ([] if args.no_references else references()):
        if cand.fingerprint() not in fps:
            fps.add(cand.fingerprint())
            rows.append({"text": cand.text, "family": "reference", "shape": "", "tree": ""})
    picked = []
    for family in (f for f in args.families.replace(" ", "").split(",") if f):
        fam = actsearch.space(family)
        if not fam.finite:
            raise ActsearchError(f"--families: {family} is not finite with its default options")
        for cand in fam.enumerate():
            if cand.fingerprint() not in fps:
                fps.add(cand.fingerprint())
                picked.append({"text": cand.text, "family": family, "shape": "", "tree": ""})
    for shape, n in sorted(wanted.items()):
        members = np.flatnonzero(catalog.codes[:, 0] == shape)
        order = rng.permutation(members)
        got = 0
        for i in order:
            if got >= n:
                break
            tree = catalog.tree(int(i))
            try:
                cand = space.build(tree)
            except ActsearchError:
                continue
            if cand.fingerprint() in fps:
                continue
            fps.add(cand.fingerprint())
            picked.append({"text": cand.text, "family": "grammar", "shape": shape, "tree": tree_text(tree)})
            got += 1
        if got < n:
            print(f"benchmark sample: shape {shape} gave {got} of {n} functions", file=sys.stderr)
    rows += [picked[i] for i in rng.permutation(len(picked))]
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["text", "family", "shape", "tree"])
        writer.writeheader()
        writer.writerows(rows)
    print(f"benchmark sample: wrote {len(rows)} functions to {args.out}")
    return 0


def _read_functions(path: str) -> list[dict]:
    if not os.path.exists(path):
        raise ActsearchError(f"functions file {path!r} does not exist")
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        if "text" not in (reader.fieldnames or []):
            raise ActsearchError(f"functions file {path!r} has no 'text' column")
        return list(reader)


def _functions(args) -> list[dict]:
    import actsearch

    if args.functions is None:
        return [{"text": c.text, "family": "grammar"} for c in actsearch.space("grammar", shapes=1).enumerate()]
    return _read_functions(args.functions)


def run_build(args) -> int:
    import concurrent.futures as cf
    import multiprocessing as mp

    import actsearch

    for name in ("epochs", "seeds", "workers", "limit"):
        _positive(name, getattr(args, name))
    with_curves = args.functions is not None
    columns = build_columns(args.seeds, with_curves)
    done: set[str] = set()
    if os.path.exists(args.out) and os.path.getsize(args.out) > 0:
        with open(args.out, newline="") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames != columns:
                raise ActsearchError(f"{args.out} has columns {reader.fieldnames}, expected {columns} "
                                     "(same --seeds as the run that started it, or another --out)")
            done = {r["fingerprint"] for r in reader}
    todo = []
    for rec in _functions(args)[: args.limit]:
        cand = actsearch.parse(rec["text"], family=rec.get("family") or "grammar")
        if cand.fingerprint() not in done:
            todo.append((cand, rec))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    new_file = not done and not (os.path.exists(args.out) and os.path.getsize(args.out) > 0)
    print(f"benchmark build: {len(done)} rows present, {len(todo)} to train "
          f"({args.seeds} seeds x {args.epochs} epochs on {args.task}, {args.workers} workers)", flush=True)
    start = time.perf_counter()
    with open(args.out, "a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        if new_file:
            writer.writeheader()
            fh.flush()
        ctx = mp.get_context("spawn")
        with cf.ProcessPoolExecutor(max_workers=args.workers, mp_context=ctx, initializer=_init_worker) as pool:
            futures = [pool.submit(train_row, c.text, c.fingerprint(), args.task, args.epochs, args.seeds,
                                   rec.get("family") or "grammar",
                                   {"shape": rec.get("shape", ""), "tree": rec.get("tree", "")})
                       for c, rec in todo]
            for n, fut in enumerate(cf.as_completed(futures), start=1):
                row = fut.result()
                writer.writerow(row)
                fh.flush()
                elapsed = time.perf_counter() - start
                eta = elapsed / n * (len(todo) - n)
                print(f"[{n}/{len(todo)} {elapsed / 60:.0f} min, ETA {eta / 60:.0f} min] {row['status']:8} "
                      f"{row['mean_accuracy'] or '-':>8}  {row['text']}", flush=True)
    print(f"benchmark build: wrote {len(todo)} rows to {args.out} in {time.perf_counter() - start:.0f} s")
    return 0


# -- optimisers ------------------------------------------------------------------

def _replay_options(items: list[str], labels: list[str]) -> dict[str, dict]:
    from actsearch.commands import parse_options

    out: dict[str, dict] = {}
    for item in items:
        label, sep, rest = item.partition(":")
        if not sep or "=" not in rest:
            raise ActsearchError(f"--option takes LABEL:KEY=VALUE, not {item!r}")
        if label not in labels:
            raise ActsearchError(f"--option {item!r}: {label!r} is not one of --optimizers ({', '.join(labels)})")
        out.setdefault(label, {}).update(parse_options([rest], flag="--option"))
    return out


def _table_defaults(path: str, score: str | None, convergence: str | None) -> tuple[str, bool]:
    from actsearch.scoring import SCORE_EPOCHS

    if not os.path.exists(path):
        raise ActsearchError(f"benchmark table {path!r} does not exist")
    with open(path, newline="") as fh:
        columns = csv.DictReader(fh).fieldnames or []
    has_curves = any(c.startswith("curve_seed") for c in columns)
    has_losses = any(c.startswith("loss_seed") for c in columns)
    return (score or (f"tail:{SCORE_EPOCHS}" if has_curves else "last"),
            has_losses if convergence is None else convergence == "on")


def run_optimisers(args) -> int:
    import json
    import math

    import actsearch
    from actsearch.benchmarking import BenchmarkError, Table, format_summary, run_benchmark

    _positive("repeats", args.repeats)
    _positive("budget", args.budget)
    _positive("bootstrap", args.bootstrap)
    if not 0 < args.top < 1:
        raise ActsearchError(f"--top must be in (0, 1), got {args.top}")
    names = [n.strip() for n in args.optimizers.split(",") if n.strip()]
    score, convergence = _table_defaults(args.table, args.score, args.convergence)
    try:
        table = Table.load(args.table, score=score, convergence=convergence)
    except BenchmarkError as exc:
        if args.convergence is not None or "references" not in str(exc):
            raise
        table, convergence = Table.load(args.table, score=score), False  # no reference rows to compare with
    options = _replay_options(args.option, names)
    if args.warm_start:
        from actsearch.search.warm_start import load_prior

        names.append("surrogate@warm")
        options["surrogate@warm"] = {**options.get("surrogate", {}), "prior": load_prior(args.warm_start)}
    families = {r.candidate.family for r in table.rows} - {"grammar", "custom"}
    base = actsearch.space("all") if families else actsearch.space("grammar")
    given = [] if args.no_references else table.references()
    print(f"scores: {score}; convergence rule {'on' if convergence else 'off'}; "
          f"{len(given)} references told first", file=sys.stderr)
    start = time.perf_counter()
    summaries = run_benchmark(
        table, names, repeats=args.repeats, budget=args.budget, seed=args.seed, base=base, top_fraction=args.top,
        n_boot=args.bootstrap, options=options, given=given,
        progress=lambda s: print(f"{s['optimizer']}: done in {s['seconds']:.0f} s", file=sys.stderr, flush=True),
    )
    print(format_summary(summaries, table, args.top, given=given))
    print(f"\ntotal {time.perf_counter() - start:.0f} s")
    if args.hits:
        with open(args.hits, "w") as fh:  # inf (never reached) written as null
            json.dump({s["optimizer"]: [None if math.isinf(h) else int(h) for h in s["hits"]] for s in summaries},
                      fh)
    return 0
