"""Search throughput on Ray Tune: candidates per minute and where worker time goes.

    .venv/bin/python benchmarks/throughput.py --budget 10 --workers 1 2

For each worker count, runs a fresh search (its own temporary store, so nothing is
reused) of ``--budget`` candidates (the references, then random grammar samples) on
the default task at its default epochs, and reports:

* candidates per minute: budget / the Tuner's wall time (Ray start excluded, shown apart);
* train share: time inside the tasks' training loops / (workers x Tuner wall time),
  i.e. how much of the worker slots Tune gave us was spent training;
* trial share: time inside the trial function (task/data set-up and compile included)
  / (workers x Tuner wall time); the rest is Ray Tune's per-trial overhead.

``--no-early-stop`` is the default here so every candidate trains the same number of
epochs; ``--early-stop`` measures a search as ``make run`` does it.  A plain loop with
no Ray (same candidates, one process) gives the reference rate.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import torch


def _no_ray(task_name, epochs, budget, seed, backend):
    import actsearch
    from actsearch.compile import compile_candidate
    from actsearch.registry import REFERENCES, preset
    from actsearch.tasks import get_task

    torch.set_num_threads(1)
    task = get_task(task_name)
    space = actsearch.space("grammar")
    rng = np.random.default_rng(seed)
    cands = [preset(r) for r in REFERENCES]
    seen = {c.fingerprint() for c in cands}
    while len(cands) < budget:
        c = space.sample(rng)
        if c.fingerprint() not in seen:
            seen.add(c.fingerprint())
            cands.append(c)
    task.train(torch.nn.ReLU, budget=1)  # data in memory, as in a warm worker
    t0 = time.perf_counter()
    train = 0.0
    for c in cands[:budget]:
        out = task.train(lambda c=c: compile_candidate(c, backend=backend), budget=epochs, seed=0)
        train += out.train_time
    wall = time.perf_counter() - t0
    return wall, train


def _fresh_caches(root: str) -> None:
    # every setting compiles its candidates cold, as a search meets new candidates
    for var in ("ACTSEARCH_CACHE", "TORCHINDUCTOR_CACHE_DIR"):
        os.environ[var] = tempfile.mkdtemp(prefix=var.lower() + "-", dir=root)


def main() -> None:
    from actsearch.search import run_search
    from actsearch.tasks import get_task

    ap = argparse.ArgumentParser()
    ap.add_argument("--task", default="mnist1d-mlp")
    ap.add_argument("--budget", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--early-stop", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--backend", default="auto", help="compile backend (auto = eager on a CPU)")
    args = ap.parse_args()
    epochs = args.epochs or get_task(args.task).default_budget
    print(f"task {args.task}, {epochs} epochs, budget {args.budget} candidates, "
          f"early stop {'on' if args.early_stop else 'off'}, backend {args.backend}, load avg {os.getloadavg()[0]:.1f}")
    print(f"torch threads per worker 1, {os.cpu_count()} CPUs")
    print("| setting | Ray start s | Tuner wall s | candidates/min | train share | trial share |")
    print("| --- | --- | --- | --- | --- | --- |")
    root = tempfile.mkdtemp(prefix="actsearch-bench-")
    _fresh_caches(root)
    wall, train = _no_ray(args.task, epochs, args.budget, args.seed, args.backend)
    print(f"| no Ray, 1 process | - | {wall:.1f} | {args.budget / wall * 60:.1f} | {train / wall:.0%} | - |",
          flush=True)
    for w in args.workers:
        _fresh_caches(root)
        with tempfile.TemporaryDirectory() as tmp:
            out = run_search(task=args.task, space="grammar", optimizer="random", budget=args.budget,
                             workers=w, epochs=epochs, storage=f"sqlite:///{tmp}/b.db", seed=args.seed,
                             early_stop=args.early_stop, backend=args.backend, results_dir=os.path.join(tmp, "ray"))
        t = out.timings
        slots = w * t["fit"]
        print(f"| Ray Tune, {w} worker{'s' if w > 1 else ''} | {t['ray_start']:.1f} | {t['fit']:.1f} | "
              f"{out.trained / t['fit'] * 60:.1f} | {t['train'] / slots:.0%} | {t['worker'] / slots:.0%} |",
              flush=True)
    print(f"load avg after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
