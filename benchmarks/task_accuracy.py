"""Full-budget ReLU accuracy of the MNIST-1D tasks, against the published figures.

    .venv/bin/python benchmarks/task_accuracy.py --seeds 3

Prints a markdown table: final and best-epoch test accuracy (median over seeds) and
wall time per run on one thread.  MNIST-1D's authors publish about 68% (MLP) and
94% (CNN).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from actsearch.tasks import get_task

PUBLISHED = {"mnist1d-mlp": 0.68, "mnist1d-cnn": 0.94}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--tasks", nargs="+", default=list(PUBLISHED))
    ap.add_argument("--epochs", type=int, default=None, help="epochs per run (default: each task's full budget)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    print("| task | epochs | final acc (median) | best-epoch acc (median) | per seed (final) | published | s per run (median) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name in args.tasks:
        task = get_task(name)
        task.train(torch.nn.ReLU, budget=1, seed=0)  # data generation/cache outside the timing
        finals, bests, times = [], [], []
        epochs = args.epochs or task.full_budget
        for seed in range(args.seeds):
            t0 = time.perf_counter()
            out = task.train(torch.nn.ReLU, budget=epochs, seed=seed)
            times.append(time.perf_counter() - t0)
            finals.append(out.score)
            bests.append(max(out.curve))
        print(f"| {name} | {epochs} | {statistics.median(finals):.3f} | {statistics.median(bests):.3f} | "
              f"{', '.join(f'{v:.3f}' for v in finals)} | {PUBLISHED.get(name, float('nan')):.2f} | "
              f"{statistics.median(times):.1f} |", flush=True)
    # the search's default (shorter) budget, for comparison
    for name in args.tasks:
        task = get_task(name)
        t0 = time.perf_counter()
        epochs = args.epochs or task.default_budget
        out = task.train(torch.nn.ReLU, budget=epochs, seed=0)
        print(f"| {name} (search default) | {epochs} | {out.score:.3f} | {max(out.curve):.3f} | "
              f"seed 0 | - | {time.perf_counter() - t0:.1f} |", flush=True)


if __name__ == "__main__":
    main()
