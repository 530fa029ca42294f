"""Fronts of score against cost found by replayed searches: ``--objective pareto`` against ``score`` and random.

Each optimiser is replayed ``--repeats`` times on a table of trained functions
(``actsearch.benchmarking``: the driver's de-duplication, the references told first),
and after ``--budgets`` trainings (25 and 50) the front of what it trained is
measured by its hypervolume (:func:`actsearch.results.front.hypervolume`), the
references (trained by every real search) included.  Score: the table's tail mean
(the search's score); a function that did not converge is not on any front (as
``leaderboard --front``); cost: :func:`actsearch.symbolic.cost.formula_cost`.

Reference point: (the table's median score, the table's highest cost), so a
function scoring below the median adds nothing.  Hypervolume is shown as a fraction
of the whole table's front (what a search that trained every function would get).
Medians over the repeats, with 95% percentile-bootstrap intervals.

    python benchmarks/pareto_front.py --repeats 100
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

#: label -> (optimiser, options)
VARIANTS = {
    "random": ("random", {}),
    "surrogate": ("surrogate", {}),
    "surrogate@pareto": ("surrogate", {"objective": "pareto"}),
    "surrogate@pareto-s64": ("surrogate", {"objective": "pareto", "shortlist": 64}),
    "surrogate@pareto-s128": ("surrogate", {"objective": "pareto", "shortlist": 128}),
    "evolution": ("evolution", {}),
    "evolution@pareto": ("evolution", {"objective": "pareto"}),
}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--table", default=str(ROOT / "benchmarks" / "tables" / "mnist1d-mlp.csv"))
    p.add_argument("--optimizers", default="random,surrogate,surrogate@pareto",
                   help=f"labels among: {', '.join(VARIANTS)}")
    p.add_argument("--repeats", type=int, default=100)
    p.add_argument("--budgets", default="25,50")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    import actsearch
    from actsearch.benchmarking import Table
    from actsearch.benchmarking.replay import bootstrap_median, replay_runs
    from actsearch.results.front import front_mask, hypervolume
    from actsearch.scoring import SCORE_EPOCHS
    from actsearch.symbolic.cost import formula_cost

    budgets = sorted(int(b) for b in args.budgets.split(","))
    labels = [n.strip() for n in args.optimizers.split(",") if n.strip()]
    unknown = [n for n in labels if n not in VARIANTS]
    if unknown:
        p.error(f"unknown optimizer label {unknown[0]!r}; choose among: {', '.join(VARIANTS)}")

    table = Table.load(args.table, score=f"tail:{SCORE_EPOCHS}", convergence=True)
    families = {r.candidate.family for r in table.rows} - {"grammar", "custom"}
    base = actsearch.space("all") if families else actsearch.space("grammar")
    given = table.references()
    # each function's point: (score, cost), or None when it failed or did not converge
    point = {}
    for r in table.rows:
        ok = r.score is not None and math.isfinite(r.score) and r.converged is not False
        point[r.fingerprint] = (float(r.score), float(formula_cost(r.candidate.expr))) if ok else None
    points = [v for v in point.values() if v is not None]
    reference = (float(np.median([s for s, _ in points])), max(c for _, c in points))
    whole = hypervolume([s for s, _ in points], [c for _, c in points], reference)
    table_front = int(front_mask([s for s, _ in points], [c for _, c in points]).sum())

    def measured(candidates) -> tuple[float, int]:
        pts = [point.get(c.fingerprint()) for c in [*given, *candidates]]
        pts = [v for v in pts if v is not None]
        if not pts:
            return 0.0, 0
        s, c = [v[0] for v in pts], [v[1] for v in pts]
        return hypervolume(s, c, reference) / whole, int(front_mask(s, c).sum())

    lines = [f"Table {Path(args.table).name}: {len(table.rows):,} functions, {len(points):,} completed and "
             f"converged; reference point (median score {reference[0]:.4f}, highest cost {reference[1]:.0f}); "
             f"the whole table's front: {table_front} functions, hypervolume {whole:.3f} (= 1 below). "
             f"{args.repeats} replays each, the references (relu, gelu, silu) told first and counted on every front.",
             "", "| optimiser | " + " | ".join(f"hypervolume after {b}" for b in budgets)
             + f" | front size after {budgets[-1]} | median cost of what it trained |",
             "| --- | " + " | ".join("---:" for _ in budgets) + " | ---: | ---: |"]
    for label in labels:
        _, options = VARIANTS[label]  # replay_runs reads the optimiser's name before the @
        start = time.perf_counter()
        runs = replay_runs(table, label, repeats=args.repeats, budget=budgets[-1], seed=args.seed, base=base,
                           options=options, given=given)
        cells = []
        for b in budgets:
            hv = [measured(r.candidates[:b])[0] for r in runs]
            med, low, high = bootstrap_median(hv, seed=args.seed)
            cells.append(f"{med:.3f} [{low:.3f}, {high:.3f}]")
        sizes = [measured(r.candidates)[1] for r in runs]
        costs = [formula_cost(c.expr) for r in runs for c in r.candidates]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {np.median(sizes):.0f} | {np.median(costs):.0f} |")
        print(f"  {label}: {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
