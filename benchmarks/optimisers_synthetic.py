"""Replay benchmark of the optimisers on a *synthetic* table over the real grammar.

Every unique binary(unary(x), unary(x)) function of ``actsearch.space("grammar", shapes="1")``
gets the smooth synthetic accuracy of :func:`actsearch.benchmarking.synthetic_scores`
(closeness to GELU on [-3, 3] plus noise), then each optimiser searches it by lookup,
with the same rules as ``actsearch benchmark optimisers`` (random without
replacement, repeated proposals free, searches up to the whole table, medians with
bootstrap intervals, ratios to random; see :mod:`actsearch.benchmarking`).  This
checks the machinery and the optimisers' sample efficiency where the score is a
smooth function of the surrogate's own features (an easy case for it); the real
figures come from ``actsearch benchmark optimisers`` on the trained table.

    .venv/bin/python benchmarks/optimisers_synthetic.py --repeats 200
"""

from __future__ import annotations

import argparse
import sys
import time

import actsearch
from actsearch.benchmarking import Table, format_summary, run_benchmark, synthetic_scores


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=200)
    p.add_argument("--budget", type=int, default=None, help="evaluations per search (default: the whole table)")
    p.add_argument("--optimizers", default="random,evolution,surrogate,surrogate-shuffled")
    p.add_argument("--noise", type=float, default=0.005)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--bootstrap", type=int, default=5000)
    args = p.parse_args(argv)
    grammar = actsearch.space("grammar", shapes="1")
    members = list(grammar.enumerate())
    table = Table.from_scores(members, synthetic_scores(members, seed=0, noise=args.noise))
    start = time.perf_counter()
    summaries = run_benchmark(table, args.optimizers.split(","), repeats=args.repeats, budget=args.budget,
                              seed=args.seed, base=grammar, n_boot=args.bootstrap,
                              progress=lambda s: print(s["optimizer"], "done", file=sys.stderr, flush=True))
    print(format_summary(summaries, table))
    print(f"\ntotal {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
