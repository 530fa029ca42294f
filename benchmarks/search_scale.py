"""The search-scale figures: space size, feature cost, the score rule, and optimiser replays.

Parts (``--part``, repeatable; every figure in benchmarks/NOTES.md, "Search at scale"):

* ``space``: the grammar catalog built from scratch (no disk cache): trees and
  distinct functions per shape, seconds; then loaded from the cache.
* ``features``: seconds per function to featurise the whole catalog at once, and
  one candidate at a time (the path of a function outside the catalog).
* ``score``: which tail mean holds up: for K = 1..E, how well one seed's K-epoch
  score ranks the functions as the *other* seeds' final accuracy (mean of their
  last 3 epochs) does (Spearman, averaged over the seeds), on a table with curves.
* ``replay``: the optimisers replayed on ``--table`` (``actsearch benchmark
  optimisers`` with labelled variants: feature ablations, evolution settings).
* ``warm``: the surrogate on ``--table2`` started cold and warm (a model of
  ``--table``'s scores).

Example (a small smoke run; the NOTES command uses the committed tables)::

    python benchmarks/search_scale.py --part score --table benchmarks/tables/mnist1d-mlp.csv
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

#: the replay variants: label -> options (the label's name before @ is the optimiser)
VARIANTS = {
    "random": {},
    "evolution": {},
    "surrogate": {},
    "surrogate-shuffled": {},
    "surrogate@outputs": {"features": "outputs"},
    "surrogate@outputs+slopes": {"features": "outputs,slopes"},
    "surrogate@signal": {"features": "signal"},
    "surrogate@outputs+signal": {"features": "outputs,signal"},
    "surrogate-shuffled@signal": {"features": "signal"},
    "surrogate@rf": {"model": "rf"},
    "evolution@p10s5": {"population_size": 10, "sample_size": 5},
    "evolution@p10s3": {"population_size": 10, "sample_size": 3},
    "evolution@p40s10": {"population_size": 40, "sample_size": 10},
    "evolution@nox": {"crossover_prob": 0.0},
}


def part_space(out: list[str]) -> None:
    import os

    import actsearch
    from actsearch.search_spaces._catalog import SHAPE_FORMS, Catalog

    g = actsearch.space("grammar")
    with tempfile.TemporaryDirectory() as tmp:
        old = os.environ.get("ACTSEARCH_DATA")
        os.environ["ACTSEARCH_DATA"] = tmp
        try:
            start = time.perf_counter()
            cat = Catalog.build(g.unary, g.binary, g.shapes)
            built = time.perf_counter() - start
            start = time.perf_counter()
            again = Catalog.build(g.unary, g.binary, g.shapes)
            loaded = time.perf_counter() - start
        finally:
            if old is None:
                os.environ.pop("ACTSEARCH_DATA", None)
            else:
                os.environ["ACTSEARCH_DATA"] = old
    assert again.stats.get("cached") and len(again) == len(cat)
    out += ["| shape | form | trees | distinct functions |", "| --- | --- | ---: | ---: |"]
    for shape, (trees, unique) in cat.stats["per_shape"].items():
        out.append(f"| {shape} | `{SHAPE_FORMS[shape]}` | {trees:,} | {unique:,} |")
    out.append(f"| all | {len(g.unary)} unary x {len(g.binary)} binary | {cat.stats['trees']:,} | {len(cat):,} |")
    out.append("")
    out.append(f"Built from scratch in {built:.1f} s (finite and non-constant on the probe points: "
               f"{cat.stats['usable']:,} trees); loaded from the disk cache in {loaded:.2f} s.")


def part_features(out: list[str]) -> None:
    import actsearch
    from actsearch.surrogates.features import FeatureExtractor
    from actsearch.surrogates.pool import catalog_features

    g = actsearch.space("grammar")
    cat = g.catalog()
    fx = FeatureExtractor()
    start = time.perf_counter()
    feats = catalog_features(cat, fx, cache=False)
    whole = time.perf_counter() - start
    rng = np.random.default_rng(0)
    picks = rng.choice(len(cat), 200, replace=False)
    cands = [g.build_member(int(i)) for i in picks]
    fresh = FeatureExtractor()
    start = time.perf_counter()
    one = fresh.matrix(cands)
    single = (time.perf_counter() - start) / len(cands)
    gap = float(np.abs(one - feats[picks]).max())
    start = time.perf_counter()
    catalog_features(cat, fx)  # from the cache (written by the search that needed it, or now)
    cached = time.perf_counter() - start
    out.append(f"Features ({fx.dim} numbers: {', '.join(fx.groups)}) of all {len(cat):,} functions at once: "
               f"{whole:.1f} s, {1e6 * whole / len(cat):.0f} us a function; one candidate at a time: "
               f"{1e3 * single:.1f} ms a function ({single / (whole / len(cat)):.0f}x); both paths agree within "
               f"{gap:.1e} (float16 cache). Cached: {cached:.2f} s to load.")


def part_score(out: list[str], table: str) -> None:
    import csv

    from scipy.stats import spearmanr

    with open(table, newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["status"] == "ok"]
    seeds = sum(1 for c in rows[0] if c.startswith("curve_seed"))
    curves = np.array([[[float(v) for v in r[f"curve_seed{s}"].split()] for s in range(seeds)] for r in rows])
    epochs = curves.shape[2]
    final = curves[:, :, -3:].mean(axis=2)
    out += [f"{len(rows)} functions that trained to the end, {seeds} seeds, {epochs} epochs. "
            "Spearman correlation of one seed's score with the other seeds' final accuracy "
            "(mean of their last 3 epochs), averaged over the seeds:", "",
            "| score | rho vs other seeds' final | rho vs other seeds' same score |", "| --- | ---: | ---: |"]
    for k in [k for k in (1, 2, 3, 4, 5, 6, 8, 10, 12, 15) if k <= epochs]:
        score = curves[:, :, -k:].mean(axis=2)
        rho_final = np.mean([spearmanr(score[:, s], np.delete(final, s, axis=1).mean(axis=1))[0]
                             for s in range(seeds)])
        rho_same = np.mean([spearmanr(score[:, s], np.delete(score, s, axis=1).mean(axis=1))[0]
                            for s in range(seeds)])
        out.append(f"| {'last epoch' if k == 1 else f'mean of last {k}'} | {rho_final:.4f} | {rho_same:.4f} |")


def _replay(table_path: str, names: list[str], options: dict, repeats: int, seed: int, top: float):
    import actsearch
    from actsearch.benchmarking import Table, format_summary, run_benchmark
    from actsearch.scoring import SCORE_EPOCHS

    table = Table.load(table_path, score=f"tail:{SCORE_EPOCHS}", convergence=True)
    families = {r.candidate.family for r in table.rows} - {"grammar", "custom"}
    base = actsearch.space("all") if families else actsearch.space("grammar")
    given = table.references()
    summaries = run_benchmark(table, names, repeats=repeats, seed=seed, base=base, top_fraction=top,
                              options=options, given=given,
                              progress=lambda s: print(f"  {s['optimizer']}: {s['seconds']:.0f} s", file=sys.stderr,
                                                       flush=True))
    return table, summaries, format_summary(summaries, table, top, given=given)


def part_replay(out: list[str], table: str, names: list[str], repeats: int, seed: int, top: float,
                hits: str | None) -> None:
    options = {n: VARIANTS.get(n, {}) for n in names}
    _, summaries, text = _replay(table, names, options, repeats, seed, top)
    out.append(text)
    if hits:
        with open(hits, "w") as fh:
            json.dump({s["optimizer"]: [None if math.isinf(h) else int(h) for h in s["hits"]] for s in summaries}, fh)


def part_warm(out: list[str], table: str, table2: str, repeats: int, seed: int, top: float) -> None:
    from actsearch.search.warm_start import load_prior

    prior = load_prior(table)
    names = ["random", "surrogate", "surrogate@warm"]
    _, _, text = _replay(table2, names, {"surrogate@warm": {"prior": prior}}, repeats, seed, top)
    out.append(f"Warm start: the surrogate on {Path(table2).name} with a prior from {Path(table).name} "
               f"({len(prior)} functions).")
    out.append("")
    out.append(text)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--part", action="append", choices=("space", "features", "score", "replay", "warm"), required=True)
    p.add_argument("--table", default=str(ROOT / "benchmarks" / "tables" / "mnist1d-mlp.csv"))
    p.add_argument("--table2", default=str(ROOT / "benchmarks" / "tables" / "mnist1d-cnn.csv"))
    p.add_argument("--optimizers", default="random,evolution,surrogate,surrogate-shuffled",
                   help=f"labels among: {', '.join(VARIANTS)}")
    p.add_argument("--repeats", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--top", type=float, default=0.01)
    p.add_argument("--hits", default=None, help="write each repeat's evaluations-to-top (JSON)")
    p.add_argument("--out", default=None, help="also write the markdown here")
    args = p.parse_args(argv)
    out: list[str] = []
    for part in args.part:
        start = time.perf_counter()
        out.append(f"### {part}")
        out.append("")
        if part == "space":
            part_space(out)
        elif part == "features":
            part_features(out)
        elif part == "score":
            part_score(out, args.table)
        elif part == "replay":
            part_replay(out, args.table, [n.strip() for n in args.optimizers.split(",") if n.strip()],
                        args.repeats, args.seed, args.top, args.hits)
        else:
            part_warm(out, args.table, args.table2, args.repeats, args.seed, args.top)
        out += ["", f"({part}: {time.perf_counter() - start:.0f} s)", ""]
    text = "\n".join(out)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
