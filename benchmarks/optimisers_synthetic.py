"""Replay benchmark of the optimisers on a *synthetic* table over the real grammar.

Every unique binary(unary(x), unary(x)) function of ``actsearch.space("grammar")``
gets the smooth synthetic accuracy of :func:`actsearch.benchmarking.synthetic_scores`
(closeness to GELU on [-3, 3] plus noise), then each optimiser searches it by lookup.
This checks the machinery and the optimisers' sample efficiency before the real
(trained) table exists; the real figures come from ``actsearch benchmark optimisers``.

    .venv/bin/python benchmarks/optimisers_synthetic.py --repeats 50 --budget 300
"""

from __future__ import annotations

import argparse
import sys
import time

import actsearch
from actsearch.benchmarking import Table, format_summary, run_benchmark, synthetic_scores


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=50)
    p.add_argument("--budget", type=int, default=300)
    p.add_argument("--optimizers", default="random,evolution,surrogate,optuna")
    p.add_argument("--noise", type=float, default=0.005)
    args = p.parse_args(argv)
    grammar = actsearch.space("grammar")
    members = list(grammar.enumerate())
    table = Table.from_scores(members, synthetic_scores(members, seed=0, noise=args.noise))
    start = time.perf_counter()
    summaries = run_benchmark(table, args.optimizers.split(","), repeats=args.repeats, budget=args.budget,
                              base=grammar, progress=lambda s: print(s["optimizer"], "done", file=sys.stderr))
    print(format_summary(summaries, table))
    print(f"\ntotal {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
