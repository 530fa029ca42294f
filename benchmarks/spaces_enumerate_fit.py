"""Grammar enumeration (shape 1) and rational least-squares fits: counts, errors, times.

Run: .venv/bin/python benchmarks/spaces_enumerate_fit.py

Each figure is measured with this process's caches cleared before each repeat (the
grammar's catalog on disk, ``$ACTSEARCH_DATA/spaces``, is kept: ``search_scale.py
--part space`` times building it); times are medians of ``REPEATS`` runs.
"""

from __future__ import annotations

import argparse
import statistics
import time

import actsearch
from actsearch.search_spaces import grammar
from actsearch.search_spaces._fit import TARGETS, VERSIONS, fit_rational
from actsearch.search_spaces.rational import fit_error, fitted_rational

REPEATS = 3


def _median_time(fn):
    times, out = [], None
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    global REPEATS
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=REPEATS, help="cold runs per figure (median)")
    ap.add_argument("--targets", nargs="+", default=list(TARGETS), choices=list(TARGETS))
    args = ap.parse_args()
    REPEATS = args.repeats
    print("## grammar enumerate() of shape 1")
    print("| binary ops | trees | distinct functions | median time (s) |")
    print("| --- | --- | --- | --- |")
    for binary in ("safe", "all"):
        space = actsearch.space("grammar", binary=binary, shapes="1")

        def run():
            grammar._catalog.cache_clear()
            return list(space.enumerate())

        seconds, cands = _median_time(run)
        trees = len(space.unary) ** 2 * len(space.binary)
        print(f"| {binary} ({', '.join(space.binary)}) | {trees} | {len(cands)} | {seconds:.2f} |")

    print()
    print("## rational fits on [-3, 3], degrees 5/4 (max |error| in the evaluated form)")
    print("| target | " + " | ".join(VERSIONS) + " |")
    print("| --- |" + " --- |" * len(VERSIONS))
    fit_times = []
    for target in args.targets:
        row = []
        for version in VERSIONS:
            def run():
                fit_rational.cache_clear()
                fitted_rational.cache_clear()
                return fitted_rational(target, version, 5, 4)

            seconds, cand = _median_time(run)
            fit_times.append(seconds)
            row.append(f"{fit_error(cand, target):.2e}")
        print(f"| {target} | " + " | ".join(row) + " |")
    print()
    print(f"fit + verify time per (target, version): median {statistics.median(fit_times):.3f} s, "
          f"max {max(fit_times):.3f} s over {len(fit_times)} fits")


if __name__ == "__main__":
    main()
