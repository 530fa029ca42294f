"""Replay benchmark: optimisers searching a precomputed table instead of training.

A *table* is a CSV with columns ``text, fingerprint, mean_accuracy,
acc_seed0..acc_seedK, status`` (one row per unique function; ``actsearch benchmark
build`` writes it).  :class:`TableSpace` restricts a search to the table's
functions: it samples among them and mutates/recombines with a base space's
operators (the grammar's), keeping only children that are rows.  Evaluating is a
lookup, so hundreds of repeated searches take seconds, and optimisers are compared
by how many evaluations they need:

* ``evals_to_top``: median over repeats of the number of evaluations until a
  function in the table's top ``top_fraction`` (1%) by mean accuracy is found
  (``None`` when fewer than half of the repeats got there within the budget);
* ``best_at``: median over repeats of the best accuracy found after 25, 50, 100
  evaluations.

Failed rows (``status`` not ``ok``) and proposals missing from the table are
evaluations with a failed result.

Example:
    >>> import numpy as np, actsearch
    >>> from actsearch.benchmarking import Table, replay
    >>> texts = ["relu(x)", "tanh(x)", "x*sigmoid(x)", "sin(x)", "abs(x)"]
    >>> table = Table.from_scores([actsearch.parse(t) for t in texts], [0.9, 0.7, 0.95, 0.5, 0.6])
    >>> traces = replay(table, "random", repeats=2, budget=5, seed=0)
    >>> len(traces), len(traces[0])
    (2, 5)
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from actsearch.errors import ActsearchError
from actsearch.expr import Candidate, parse
from actsearch.result import Result
from actsearch.search_spaces.base import SearchSpace

__all__ = ["BenchmarkError", "Table", "TableSpace", "make_optimizer", "replay", "summarize",
           "run_benchmark", "format_summary", "synthetic_scores", "CHECKPOINTS"]

CHECKPOINTS = (25, 50, 100)
BASE_COLUMNS = ("text", "fingerprint", "mean_accuracy", "status")


class BenchmarkError(ActsearchError):
    """A benchmark table is missing, malformed or unusable."""


@dataclass
class Row:
    candidate: Candidate
    fingerprint: str
    accuracy: float | None  # None unless status is ok
    seeds: list[float] = field(default_factory=list)
    status: str = "ok"


class Table:
    """Rows of (function, mean accuracy, per-seed accuracies, status), keyed by fingerprint."""

    def __init__(self, rows: Sequence[Row]):
        if not rows:
            raise BenchmarkError("benchmark table has no rows")
        self.rows = list(rows)
        self.by_fingerprint = {r.fingerprint: r for r in self.rows}
        ok = sorted((r.accuracy for r in self.rows if r.accuracy is not None), reverse=True)
        if not ok:
            raise BenchmarkError("benchmark table has no row with status 'ok'")
        self._ok_desc = ok

    def __len__(self) -> int:
        return len(self.rows)

    @classmethod
    def load(cls, path: str, family: str = "grammar") -> "Table":
        """Read a CSV table; candidates are re-parsed from ``text`` with ``family``."""
        if not os.path.exists(path):
            raise BenchmarkError(f"benchmark table {path!r} does not exist")
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in BASE_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise BenchmarkError(f"benchmark table {path!r} lacks column {missing[0]!r}")
            seed_cols = [c for c in reader.fieldnames if c.startswith("acc_seed")]
            rows = []
            for line, rec in enumerate(reader, start=2):
                try:
                    cand = parse(rec["text"], family=family)
                    acc = float(rec["mean_accuracy"]) if rec["mean_accuracy"] not in ("", None) else None
                except (ActsearchError, ValueError) as exc:
                    raise BenchmarkError(f"benchmark table {path!r} line {line}: {exc}") from None
                status = rec["status"] or "ok"
                seeds = [float(rec[c]) for c in seed_cols if rec.get(c) not in ("", None)]
                rows.append(Row(cand, rec["fingerprint"] or cand.fingerprint(),
                                acc if status == "ok" and acc is not None and math.isfinite(acc) else None,
                                seeds, status))
        return cls(rows)

    @classmethod
    def from_scores(cls, candidates: Iterable[Candidate], scores: Iterable[float | None]) -> "Table":
        """A table from parallel lists (``None`` score: a failed row)."""
        rows = [Row(c, c.fingerprint(), None if s is None else float(s), [], "ok" if s is not None else "error")
                for c, s in zip(candidates, scores)]
        return cls(rows)

    def threshold(self, top_fraction: float = 0.01) -> float:
        """Mean accuracy of the ``ceil(top_fraction * n_ok)``-th best ok row."""
        k = max(1, math.ceil(top_fraction * len(self._ok_desc)))
        return self._ok_desc[k - 1]

    @property
    def best(self) -> float:
        return self._ok_desc[0]

    def result(self, candidate: Candidate) -> Result:
        row = self.by_fingerprint.get(candidate.fingerprint())
        base = dict(key=candidate.key, text=candidate.text, family=candidate.family)
        if row is None:
            return Result(**base, status="error", message="not in the benchmark table")
        if row.accuracy is None:
            return Result(**base, status=row.status if row.status != "ok" else "error", message="failed in table")
        return Result(**base, score=row.accuracy, seed_scores=list(row.seeds))


class TableSpace(SearchSpace):
    """The functions of a table, searched with a base space's operators.

    ``mutate``/``crossover`` call the base space's and retry (up to ``max_tries``)
    until the child is a row; failing that they return a random row.  Without a
    base space they are random rows, so evolution degenerates to random search.
    """

    name = "table"

    def __init__(self, table: Table, base: SearchSpace | None = None, max_tries: int = 10):
        self.table, self.base, self.max_tries = table, base, max_tries
        by_fp = {r.fingerprint: r.candidate for r in table.rows}
        if base is not None and getattr(base, "finite", False):
            # the base's own candidates: it knows their trees, so it can mutate them
            for c in base.enumerate():
                if c.fingerprint() in by_fp:
                    by_fp[c.fingerprint()] = c
        self._by_fp = by_fp
        self.members = [by_fp[r.fingerprint] for r in table.rows]
        self._options = {"rows": len(table), "base": getattr(base, "name", None)}

    @property
    def finite(self) -> bool:
        return True

    def enumerate(self):
        return iter(self.members)

    def contains(self, candidate: Candidate) -> bool:
        return candidate.fingerprint() in self.table.by_fingerprint

    def sample(self, rng):
        return self.members[int(rng.integers(len(self.members)))]

    def _in_table(self, make, rng) -> Candidate:
        if self.base is not None:
            for _ in range(self.max_tries):
                try:
                    child = make()
                except ActsearchError:
                    continue
                member = self._by_fp.get(child.fingerprint())
                if member is not None:
                    return member
        return self.sample(rng)

    def mutate(self, candidate, rng):
        return self._in_table(lambda: self.base.mutate(candidate, rng), rng)

    def crossover(self, a, b, rng):
        return self._in_table(lambda: self.base.crossover(a, b, rng), rng)


def make_optimizer(name: str, space, seed: int = 0, **options):
    """An optimiser by registry name (unknown names and options: one-line errors)."""
    from actsearch.optimizers.registry import get_optimizer

    return get_optimizer(name, space, seed=seed, **options)


def replay(table: Table, optimizer: str, repeats: int = 50, budget: int = 100, seed: int = 0,
           base: SearchSpace | None = None, options: dict[str, Any] | None = None) -> list[list[float | None]]:
    """``repeats`` searches of ``budget`` lookups each; one score (None: failed) per evaluation.

    Repeat ``r`` uses seed ``seed + r``.
    """
    space = TableSpace(table, base)
    traces = []
    for r in range(repeats):
        opt = make_optimizer(optimizer, space, seed=seed + r, **(options or {}))
        trace: list[float | None] = []
        for _ in range(budget):
            cand = opt.ask()
            result = table.result(cand)
            opt.tell(cand, result)
            trace.append(result.score if result.ok else None)
        traces.append(trace)
    return traces


def _best_so_far(trace: Sequence[float | None], n: int) -> float | None:
    values = [s for s in trace[:n] if s is not None]
    return max(values) if values else None


def summarize(traces: Sequence[Sequence[float | None]], table: Table, top_fraction: float = 0.01,
              checkpoints: Sequence[int] = CHECKPOINTS) -> dict[str, Any]:
    """Median evaluations to the top fraction, fraction of repeats reaching it, median best at checkpoints.

    """
    threshold = table.threshold(top_fraction)
    hits = []
    for trace in traces:
        hit = next((i + 1 for i, s in enumerate(trace) if s is not None and s >= threshold), math.inf)
        hits.append(hit)
    median_hits = float(np.median(hits))
    best_at = {}
    for n in checkpoints:
        bests = [_best_so_far(t, n) for t in traces]
        bests = [-math.inf if b is None else b for b in bests]
        best_at[n] = float(np.median(bests))
    return {
        "evals_to_top": None if math.isinf(median_hits) else median_hits,
        "reached": float(np.mean([not math.isinf(h) for h in hits])),
        "best_at": best_at,
        "threshold": threshold,
        "repeats": len(traces),
    }


def run_benchmark(table: Table, optimizers: Sequence[str], repeats: int = 50, budget: int = 300,
                  seed: int = 0, base: SearchSpace | None = None, top_fraction: float = 0.01,
                  options: dict[str, dict[str, Any]] | None = None, progress=None) -> list[dict[str, Any]]:
    """One summary per optimiser (see :func:`summarize`), each with ``optimizer`` and ``seconds``."""
    import time

    out = []
    for name in optimizers:
        start = time.perf_counter()
        traces = replay(table, name, repeats=repeats, budget=budget, seed=seed, base=base,
                        options=(options or {}).get(name))
        summary = summarize(traces, table, top_fraction)
        summary.update(optimizer=name, seconds=time.perf_counter() - start, budget=budget)
        out.append(summary)
        if progress is not None:
            progress(summary)
    return out


def format_summary(summaries: Sequence[dict[str, Any]], table: Table, top_fraction: float = 0.01) -> str:
    """A markdown table of :func:`run_benchmark` output."""
    cps = sorted(summaries[0]["best_at"]) if summaries else list(CHECKPOINTS)
    n_ok = sum(r.accuracy is not None for r in table.rows)
    lines = [
        f"table: {len(table)} functions ({n_ok} ok), best {table.best:.4f}, "
        f"top {top_fraction:.0%} threshold {table.threshold(top_fraction):.4f}; "
        f"{summaries[0]['repeats'] if summaries else 0} repeats, budget {summaries[0]['budget'] if summaries else 0}",
        "",
        "| optimizer | median evals to top | reached | " + " | ".join(f"best@{n}" for n in cps) + " | seconds |",
        "| --- | ---: | ---: | " + " | ".join("---:" for _ in cps) + " | ---: |",
    ]
    for s in summaries:
        evals = f"{s['evals_to_top']:.1f}" if s["evals_to_top"] is not None else f">{s['budget']}"
        bests = " | ".join(f"{s['best_at'][n]:.4f}" for n in cps)
        lines.append(f"| {s['optimizer']} | {evals} | {s['reached']:.0%} | {bests} | {s['seconds']:.1f} |")
    return "\n".join(lines)


def synthetic_scores(candidates: Sequence[Candidate], seed: int = 0, noise: float = 0.005) -> list[float | None]:
    """A smooth synthetic accuracy for tests and the synthetic benchmark.

    ``0.95 - 0.1 * log1p(mse(f, gelu))`` with mse over 64 points of [-3, 3], plus
    Gaussian noise of standard deviation ``noise``; non-finite outputs give ``None``
    (a failed row).  It rewards GELU-like shapes, as real accuracy tables roughly do.
    """
    import torch

    rng = np.random.default_rng(seed)
    x = torch.linspace(-3, 3, 64, dtype=torch.float64)
    target = x * 0.5 * (1 + torch.erf(x / math.sqrt(2)))
    out: list[float | None] = []
    for c in candidates:
        with torch.no_grad():
            y = c.module(dtype=torch.float64)(x.reshape(1, -1)).reshape(-1)
        mse = float(((y - target) ** 2).mean())
        eps = float(rng.normal(0.0, noise))
        out.append(0.95 - 0.1 * math.log1p(mse) + eps if math.isfinite(mse) else None)
    return out
