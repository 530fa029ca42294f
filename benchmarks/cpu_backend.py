"""Which compile backend makes a CPU search fastest: what ``--backend auto`` picks there.

    .venv/bin/python benchmarks/cpu_backend.py --repeats 3

Runs the ``make run`` search (mnist1d-mlp, grammar, random, budget 12, 2 workers,
1 seed) once per backend per repeat, alternating the backends so that load on the
machine falls on both alike, each time with a fresh store and fresh kernel and
inductor caches (a search meets new candidates).  Prints the search's wall time,
the Tuner's, and the share of worker time spent training, per run and as medians.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time


def _one(backend: str, args) -> dict:
    from actsearch.search import run_search

    with tempfile.TemporaryDirectory(prefix="actsearch-cpu-backend-") as tmp:
        for var in ("ACTSEARCH_CACHE", "TORCHINDUCTOR_CACHE_DIR"):
            os.environ[var] = os.path.join(tmp, var.lower())
        t0 = time.perf_counter()
        out = run_search(task=args.task, space="grammar", optimizer="random", budget=args.budget,
                         workers=args.workers, seeds=1, epochs=args.epochs, backend=backend, seed=args.seed,
                         storage=f"sqlite:///{tmp}/s.db", results_dir=os.path.join(tmp, "ray"))
        wall = time.perf_counter() - t0
    t = out.timings
    return {"wall": wall, "fit": t["fit"], "train_share": t["train"] / max(t["worker"], 1e-9),
            "ok": sum(r.status == "ok" for r in out.results)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backends", nargs="+", default=["eager", "inductor"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--task", default="mnist1d-mlp")
    ap.add_argument("--budget", type=int, default=12)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    print(f"# {args.task}, budget {args.budget}, {args.workers} workers, {os.cpu_count()} CPUs, "
          f"load avg {os.getloadavg()[0]:.1f}, {time.strftime('%Y-%m-%d')}")
    print("| repeat | backend | search s | Tuner s | training share of worker time | ok |")
    print("| --- | --- | --- | --- | --- | --- |")
    runs: dict[str, list[dict]] = {b: [] for b in args.backends}
    for i in range(args.repeats):
        order = args.backends if i % 2 == 0 else list(reversed(args.backends))
        for backend in order:
            r = _one(backend, args)
            runs[backend].append(r)
            print(f"| {i + 1} | {backend} | {r['wall']:.1f} | {r['fit']:.1f} | {r['train_share']:.0%} | {r['ok']} |",
                  flush=True)
    print()
    print("| backend | median search s | median Tuner s | median training share |")
    print("| --- | --- | --- | --- |")
    medians = {}
    for backend, rs in runs.items():
        medians[backend] = statistics.median(r["wall"] for r in rs)
        print(f"| {backend} | {medians[backend]:.1f} | {statistics.median(r['fit'] for r in rs):.1f} | "
              f"{statistics.median(r['train_share'] for r in rs):.0%} |")
    best = min(medians, key=medians.get)
    print(f"\nfastest: {best}" + "".join(f"; {b} takes {medians[b] / medians[best]:.2f}x as long"
                                        for b in medians if b != best))
    print(f"load avg after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
