"""Replay benchmark: optimisers searching a precomputed table instead of training.

A *table* is a CSV with columns ``text, fingerprint, mean_accuracy,
acc_seed0..acc_seedK, status`` (one row per unique function; ``actsearch benchmark
build`` writes it).  :class:`TableSpace` restricts a search to the table's
functions: it samples among them and mutates/recombines with a base space's
operators (the grammar's), keeping only children that are rows.  Evaluating is a
lookup, so hundreds of repeated searches take minutes, and optimisers are compared
by how many evaluations they need to find a function in the table's top
``top_fraction`` (1%) by mean accuracy.

How a replay counts (the same rule for every optimiser, and the rule of
``actsearch search``, which never trains a fingerprint twice): an *evaluation* is
the first lookup of a distinct function; a proposal of a function already
evaluated in the same search is told its earlier result again and costs nothing
(counted apart as a free repeat).  :data:`MAX_SKIPS` consecutive repeats end the
search, as they end a real one.  Failed rows (``status`` not ``ok``) and
proposals missing from the table are evaluations with a failed result.

Optimisers: every name of the registry, with two replay-only names:

* ``random``: the optimiser the others are compared with, *without* replacement: a random permutation of the
  table's distinct functions (:class:`PermutationRandom`).  The registry's random
  search samples with replacement; under the rule above its repeats would cost
  nothing, which makes it the same distribution, but the permutation is exact.
* ``surrogate-shuffled``: the control, the surrogate with its feature vectors
  permuted across the table's functions (:class:`ShuffledFeatures`, a new
  permutation per repeat), which keeps the features' distribution but breaks the
  link between a function and its features.

Figures (:func:`summarize`, :func:`run_benchmark`): per repeat, the number of
evaluations until the first top-``top_fraction`` function; the median over
repeats with a percentile-bootstrap 95% interval (the repeats resampled with
replacement, :func:`bootstrap_median`), and the ratio of an optimiser's median to
random's with a bootstrap interval of that ratio (:func:`bootstrap_ratio`).
*Censoring*: a repeat that never reaches the target (the budget, by default every
distinct function of the table, ran out, or the search ended on repeats) counts as
``+inf``, above every observed count; a median or interval bound that lands there
is reported as "censored", never as a number.  ``best_at``: median over repeats
of the best accuracy found after 25, 50, 100 evaluations.

Example:
    >>> import numpy as np, actsearch
    >>> from actsearch.benchmarking import Table, replay
    >>> texts = ["relu(x)", "tanh(x)", "x*sigmoid(x)", "sin(x)", "abs(x)"]
    >>> table = Table.from_scores([actsearch.parse(t) for t in texts], [0.9, 0.7, 0.95, 0.5, 0.6])
    >>> traces = replay(table, "random", repeats=2, budget=5, seed=0)
    >>> len(traces), len(traces[0]), len(set(traces[0]))
    (2, 5, 5)
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from actsearch.dedup import MAX_SKIPS, Seen, Verdict
from actsearch.errors import ActsearchError
from actsearch.symbolic.expr import Candidate, parse
from actsearch.optimizers.base import INT, PLAIN, Optimizer
from actsearch.result import Result
from actsearch.scoring import converged, final_loss, holds_up_value, tail_mean
from actsearch.search_spaces.base import SearchSpace

__all__ = ["BenchmarkError", "Table", "TableSpace", "PermutationRandom", "ShuffledFeatures", "Run",
           "make_optimizer", "replay", "replay_runs", "evals_to_top", "bootstrap_median", "bootstrap_ratio",
           "summarize", "run_benchmark", "format_summary", "synthetic_scores", "CHECKPOINTS", "MAX_SKIPS",
           "REPLAY_OPTIMIZERS"]

CHECKPOINTS = (25, 50, 100)
#: names only the replay knows (besides the registry's)
REPLAY_OPTIMIZERS = ("random", "surrogate-shuffled")
BASE_COLUMNS = ("text", "fingerprint", "mean_accuracy", "status")


class BenchmarkError(ActsearchError):
    """A benchmark table is missing, malformed or unusable."""


@dataclass
class Row:
    """One function of a table.  ``accuracy`` is the value a replay ranks by (the
    score under the table's rule, lowered by :data:`~actsearch.scoring.NOT_CONVERGED_PENALTY`
    when the row did not converge); ``score`` the rule's score itself."""

    candidate: Candidate
    fingerprint: str
    accuracy: float | None  # None unless status is ok
    seeds: list[float] = field(default_factory=list)
    status: str = "ok"
    curves: list[list[float]] = field(default_factory=list)
    losses: list[list[float]] = field(default_factory=list)
    family: str = "grammar"
    shape: str = ""
    tree: str = ""
    score: float | None = None
    converged: bool | None = None


def _floats(text: str | None) -> list[float]:
    return [float(v) for v in (text or "").split()]


def _family(value: str | None, default: str) -> str:
    return default if value in (None, "", "reference") else value


def _score_rule(score: str) -> int | None:
    """Epochs of a ``tail:K`` rule; ``None`` for ``last``."""
    if score == "last":
        return None
    kind, _, k = score.partition(":")
    if kind == "tail" and k.isdigit() and int(k) >= 1:
        return int(k)
    raise BenchmarkError(f"score rule {score!r} is not 'last' or 'tail:K' (K epochs, 1 or more)")


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
    def load(cls, path: str, family: str = "grammar", score: str = "last", convergence: bool = False) -> "Table":
        """Read a CSV table; candidates are re-parsed from ``text`` (with the row's
        ``family`` column where there is one, else ``family``).

        ``score``: ``last`` (the mean over seeds of the last epoch, the table's
        ``mean_accuracy``) or ``tail:K`` (each seed's mean over its last K epochs,
        averaged; needs the ``curve_seedK`` columns).  ``convergence``: rank rows
        whose final training loss is far above the references' below every other
        (:func:`actsearch.scoring.converged`; needs ``loss_seedK`` and reference rows).
        """
        if not os.path.exists(path):
            raise BenchmarkError(f"benchmark table {path!r} does not exist")
        epochs = _score_rule(score)
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in BASE_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise BenchmarkError(f"benchmark table {path!r} lacks column {missing[0]!r}")
            seed_cols = [c for c in reader.fieldnames if c.startswith("acc_seed")]
            curve_cols = [c for c in reader.fieldnames if c.startswith("curve_seed")]
            loss_cols = [c for c in reader.fieldnames if c.startswith("loss_seed")]
            if epochs is not None and not curve_cols:
                raise BenchmarkError(f"benchmark table {path!r} has no curve_seed columns: score {score!r} "
                                     "needs per-epoch curves (only 'last' works on it)")
            if convergence and not loss_cols:
                raise BenchmarkError(f"benchmark table {path!r} has no loss_seed columns: the convergence "
                                     "rule needs training losses")
            rows = []
            for line, rec in enumerate(reader, start=2):
                try:
                    cand = parse(rec["text"], family=_family(rec.get("family"), family))
                    acc = float(rec["mean_accuracy"]) if rec["mean_accuracy"] not in ("", None) else None
                    curves = [_floats(rec[c]) for c in curve_cols]
                    losses = [_floats(rec[c]) for c in loss_cols]
                except (ActsearchError, ValueError) as exc:
                    raise BenchmarkError(f"benchmark table {path!r} line {line}: {exc}") from None
                status = rec["status"] or "ok"
                seeds = [float(rec[c]) for c in seed_cols if rec.get(c) not in ("", None)]
                if epochs is not None and status == "ok" and all(curves):
                    seeds = [tail_mean(c, epochs) for c in curves]
                    acc = sum(seeds) / len(seeds)
                ok = status == "ok" and acc is not None and math.isfinite(acc)
                rows.append(Row(cand, rec["fingerprint"] or cand.fingerprint(), acc if ok else None, seeds, status,
                                curves, losses, rec.get("family") or family, rec.get("shape") or "",
                                rec.get("tree") or "", acc if ok else None))
        table = cls(rows)
        if convergence:
            table = table.with_convergence()
        return table

    def with_convergence(self) -> "Table":
        """The table with rows that did not converge ranked below all others (a new Table).

        The references are the rows that compute relu, gelu and silu."""
        from actsearch.registry import references

        ref_fps = {c.fingerprint() for c in references()}
        ref_losses = [final_loss(r.losses) for r in self.rows if r.fingerprint in ref_fps]
        if not [v for v in ref_losses if math.isfinite(v)]:
            raise BenchmarkError("the convergence rule needs the references' rows (relu, gelu, silu) "
                                 "with training losses in the table")
        rows = []
        for r in self.rows:
            flag = converged(final_loss(r.losses), ref_losses) if r.score is not None else None
            value = None if r.score is None else holds_up_value(r.score, flag)
            rows.append(Row(**{**r.__dict__, "accuracy": value, "converged": flag}))
        return type(self)(rows)

    @classmethod
    def from_scores(cls, candidates: Iterable[Candidate], scores: Iterable[float | None]) -> "Table":
        """A table from parallel lists (``None`` score: a failed row)."""
        rows = [Row(c, c.fingerprint(), None if s is None else float(s), [], "ok" if s is not None else "error")
                for c, s in zip(candidates, scores)]
        return cls(rows)

    def threshold(self, top_fraction: float = 0.01, exclude: Iterable[str] = ()) -> float:
        """Mean accuracy of the ``ceil(top_fraction * n_ok)``-th best ok row (rows whose
        fingerprint is in ``exclude`` left out: the references a search is given)."""
        exclude = set(exclude)
        ok = self._ok_desc if not exclude else sorted(
            (r.accuracy for r in self.rows if r.accuracy is not None and r.fingerprint not in exclude), reverse=True)
        k = max(1, math.ceil(top_fraction * len(ok)))
        return ok[k - 1]

    def references(self) -> list[Candidate]:
        """The rows computing relu, gelu and silu (what a real search trains first)."""
        from actsearch.registry import references

        fps = {c.fingerprint() for c in references()}
        return [r.candidate for r in self.rows if r.fingerprint in fps]

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

    A table holds a sparse sample of a large space (3,000 of half a million
    functions): a mutation or crossover of the base space almost never lands on
    another row.  So ``mutate``/``crossover`` call the base space's and, when the
    child is not a row, take the row whose function is *closest* to the child's
    (outputs on N(0, 1) quantiles, :mod:`actsearch.surrogates.features`), the
    parents excluded: a local step in function space, as a mutation is in the full
    space.  Without a base space they are random rows, so evolution degenerates to
    random search.
    """

    name = "table"

    def __init__(self, table: Table, base: SearchSpace | None = None, max_tries: int = 10):
        self.table, self.base, self.max_tries = table, base, max_tries
        self._by_fp = {r.fingerprint: r.candidate for r in table.rows}
        self.members = [r.candidate for r in table.rows]
        self._fps = [r.fingerprint for r in table.rows]
        self._options = {"rows": len(table), "base": getattr(base, "name", None)}
        self._outputs: np.ndarray | None = None

    @property
    def finite(self) -> bool:
        return True

    def enumerate(self):
        return iter(self.members)

    def contains(self, candidate: Candidate) -> bool:
        return candidate.fingerprint() in self.table.by_fingerprint

    def sample(self, rng):
        return self.members[int(rng.integers(len(self.members)))]

    def _features(self):
        from actsearch.surrogates.features import FeatureExtractor

        return _SNAP_FEATURES.setdefault("outputs", FeatureExtractor(groups=("outputs",)))

    def _row_features(self) -> np.ndarray:
        if self._outputs is None:
            self._outputs = self._features().matrix(self.members)
        return self._outputs

    def _nearest_to(self, features: np.ndarray, exclude: set[str]) -> Candidate:
        dist = ((self._row_features() - features) ** 2).sum(axis=1)
        for i in np.argsort(dist, kind="stable"):
            if self._fps[i] not in exclude:
                return self.members[int(i)]
        return self.members[0]

    def nearest(self, candidate: Candidate, exclude: set[str]) -> Candidate:
        """The row whose function is closest to ``candidate``'s, leaving out ``exclude``."""
        return self._nearest_to(self._features()(candidate), exclude)

    def _owner(self, candidate: Candidate):
        """The base space that holds ``candidate`` (a union's member), if any."""
        spaces = getattr(self.base, "spaces", None)
        owner = spaces.get(candidate.family) if isinstance(spaces, dict) else self.base
        return owner if owner is not None and owner.contains(candidate) else None

    def _by_trees(self, parents: tuple[Candidate, ...], rng, crossover: bool) -> Candidate | None:
        """A grammar child made on trees and snapped to the nearest row from its values
        alone: no sympy candidate is built for a child that is not a row."""
        from actsearch.surrogates.features import GRID

        owner = self._owner(parents[0])
        if owner is None or not hasattr(owner, "mutate_tree"):
            return None
        trees = [owner.tree(p) for p in parents]
        if None in trees:
            return None
        child = owner.crossover_tree(trees[0], trees[1], rng) if crossover else owner.mutate_tree(trees[0], rng)
        if child is None:
            return None
        features = self._features().from_values(owner.values([child], GRID))[0]
        return self._nearest_to(features, {p.fingerprint() for p in parents})

    def _in_table(self, make, rng, parents: tuple[Candidate, ...]) -> Candidate:
        if self.base is None:
            return self.sample(rng)
        if len(parents) == 1 or (len(parents) == 2 and parents[0].family == parents[1].family):
            child = self._by_trees(parents, rng, crossover=len(parents) == 2)
            if child is not None:
                return child
        exclude = {p.fingerprint() for p in parents}
        for _ in range(self.max_tries):
            try:
                child = make()
            except ActsearchError:
                continue
            member = self._by_fp.get(child.fingerprint())
            if member is not None and child.fingerprint() not in exclude:
                return member
            if member is None:
                return self.nearest(child, exclude)
        return self.sample(rng)

    def mutate(self, candidate, rng):
        return self._in_table(lambda: self.base.mutate(candidate, rng), rng, (candidate,))

    def crossover(self, a, b, rng):
        return self._in_table(lambda: self.base.crossover(a, b, rng), rng, (a, b))


_SNAP_FEATURES: dict = {}


class PermutationRandom(Optimizer):
    """Random search without replacement: the space's distinct functions in a random order.

    The order is ``default_rng(seed).permutation`` of the members (de-duplicated by
    fingerprint, in enumeration order); :meth:`ask` returns ``None`` once every
    member was asked.  Results do not change what it asks next.
    """

    name = "random"
    saved = {"asked": INT, "told": INT, "order": PLAIN}

    def __init__(self, space, seed: int = 0):
        super().__init__(space, seed)
        members, fps = [], set()
        for c in space.enumerate():
            if c.fingerprint() not in fps:
                fps.add(c.fingerprint())
                members.append(c)
        self.members = members
        self.order = [int(i) for i in self.rng.permutation(len(members))]
        self.asked = 0
        self.told = 0

    def ask(self) -> Candidate | None:
        if self.asked >= len(self.order):
            return None
        self.asked += 1
        return self.members[self.order[self.asked - 1]]

    def tell(self, candidate: Candidate, result: Result) -> None:
        self.told += 1


class ShuffledFeatures:
    """A surrogate's features, permuted across ``members``: member ``i`` gets the vector of member ``perm[i]``.

    Wraps a :class:`actsearch.surrogates.features.FeatureExtractor` (anything with
    ``__call__``, ``matrix`` and ``dim``).  Every member still has a distinct,
    realistic vector, but it is another function's, so a model fitted on them
    learns nothing about shape.  Candidates outside ``members`` (none, in a
    :class:`TableSpace`) keep their own features.
    """

    def __init__(self, inner, members: Sequence[Candidate], rng: np.random.Generator):
        self.inner = inner
        self.members = list(members)
        self.permutation = rng.permutation(len(self.members))
        self._by_text: dict[str, np.ndarray] = {}
        self._by_fp: dict[str, np.ndarray] = {}
        for m, j in zip(self.members, self.permutation):
            v = inner(self.members[int(j)])
            self._by_text[m.text] = v
            self._by_fp[m.fingerprint()] = v

    @property
    def dim(self) -> int:
        return self.inner.dim

    @property
    def key(self) -> str:
        """Not the inner key: a pool of shuffled features is never another's."""
        return f"{self.inner.key};shuffled={hash(tuple(self.permutation.tolist()))}"

    def __getattr__(self, name: str):  # groups, column_weights, vectorised...: the inner extractor's
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def __call__(self, candidate: Candidate) -> np.ndarray:
        v = self._by_text.get(candidate.text)
        if v is None:
            v = self._by_fp.get(candidate.fingerprint())
        return self.inner(candidate) if v is None else v

    def matrix(self, candidates) -> np.ndarray:
        if not candidates:
            return np.zeros((0, self.dim))
        return np.stack([self(c) for c in candidates])


def make_optimizer(name: str, space, seed: int = 0, **options):
    """An optimiser by name: the replay's ``random`` and ``surrogate-shuffled``, else the registry's.

    Unknown names and options: one-line errors.
    """
    from actsearch.optimizers.registry import get_optimizer

    if name == "random":
        if options:
            raise BenchmarkError(f"optimizer 'random' has no option {next(iter(options))!r}")
        return PermutationRandom(space, seed=seed)
    if name == "surrogate-shuffled":
        opt = get_optimizer("surrogate", space, seed=seed, **options)
        if not getattr(space, "finite", False):
            raise BenchmarkError("surrogate-shuffled needs a finite space (a table) to permute features over")
        # its own stream: the optimiser's proposals stay those of seed `seed`
        opt.features = ShuffledFeatures(opt.features, list(space.enumerate()),
                                        np.random.default_rng([seed, 0x5EED]))
        return opt
    return get_optimizer(name, space, seed=seed, **options)


@dataclass
class Run:
    """One replayed search."""

    trace: list[float | None]  # one score (None: failed) per evaluation, i.e. per distinct function
    free_repeats: int = 0      # proposals of functions already evaluated (told again, not counted)
    ended: str = "budget"      # budget | target (stopped once the target was found) | repeats | exhausted
    candidates: list[Candidate] = field(default_factory=list)  # what each evaluation of ``trace`` trained


def _search(opt, table: Table, budget: int, threshold: float | None, min_evals: int,
            given: Sequence[Candidate] = ()) -> Run:
    seen = Seen()  # the driver's rule (actsearch.dedup): a repeat is told again and costs nothing
    for cand in given:  # trained first by every search (the references): told, not counted
        result = table.result(cand)
        seen.recorded(cand.fingerprint(), result)
        opt.tell(cand, result)
    run = Run([])
    hit = False
    while len(run.trace) < budget:
        cand = opt.ask()
        if cand is None:
            run.ended = "exhausted"
            break
        fp = cand.fingerprint()
        if seen.verdict(fp) is Verdict.REPEAT:
            opt.tell(cand, seen.prior(fp))
            run.free_repeats += 1
            if seen.repeated():
                run.ended = "repeats"
                break
            continue
        result = table.result(cand)
        seen.recorded(fp, result)
        opt.tell(cand, result)
        score = result.score if result.ok else None
        run.trace.append(score)
        run.candidates.append(cand)
        hit = hit or (threshold is not None and score is not None and score >= threshold)
        if hit and len(run.trace) >= min_evals:
            run.ended = "target"
            break
    return run


def replay_runs(table: Table, optimizer: str, repeats: int = 200, budget: int | None = None, seed: int = 0,
                base: SearchSpace | None = None, options: dict[str, Any] | None = None,
                stop_at: float | None = None, min_evals: int = 0, given: Sequence[Candidate] = ()) -> list[Run]:
    """``repeats`` searches of up to ``budget`` evaluations each (default: every distinct function).

    Repeat ``r`` uses seed ``seed + r``.  With ``stop_at`` (a score threshold), a
    search stops at the first evaluation scoring ``>= stop_at`` once it has
    ``min_evals`` evaluations: the prefix, and so every figure taken from it, is
    the same as without stopping (optimisers are causal), only cheaper.  ``given``
    candidates are told first, as a real search tells its references, and not
    counted as evaluations.  ``optimizer`` may carry a label after ``@``
    (``surrogate@outputs``): the name before it is the optimiser's.
    """
    from threadpoolctl import threadpool_limits  # a dependency of scikit-learn

    space = TableSpace(table, base)
    if budget is None:
        budget = len(table.by_fingerprint)
    runs = []
    # one thread: the models fit tens of points, where extra OpenMP/BLAS threads only
    # spin (on a loaded 2-core machine the surrogate ran 8x slower with them)
    with threadpool_limits(limits=1):
        for r in range(repeats):
            opt = make_optimizer(optimizer.partition("@")[0], space, seed=seed + r, **(options or {}))
            runs.append(_search(opt, table, budget, stop_at, min_evals, given))
    return runs


def replay(table: Table, optimizer: str, repeats: int = 200, budget: int | None = None, seed: int = 0,
           base: SearchSpace | None = None, options: dict[str, Any] | None = None) -> list[list[float | None]]:
    """The traces of :func:`replay_runs` (no early stop): one score (None: failed) per evaluation."""
    return [r.trace for r in replay_runs(table, optimizer, repeats, budget, seed, base, options)]


def evals_to_top(trace: Sequence[float | None], threshold: float) -> float:
    """1-based index of the first score ``>= threshold``; ``inf`` (censored) if none."""
    return next((float(i + 1) for i, s in enumerate(trace) if s is not None and s >= threshold), math.inf)


def _best_so_far(trace: Sequence[float | None], n: int) -> float | None:
    values = [s for s in trace[:n] if s is not None]
    return max(values) if values else None


def _percentile_interval(stats: np.ndarray, level: float) -> tuple[float, float]:
    # order statistics (no interpolation), so a bound that lands among censored (inf) values is inf
    tail = 100 * (1 - level) / 2
    return float(np.percentile(stats, tail, method="lower")), float(np.percentile(stats, 100 - tail, method="higher"))


def _boot_medians(values: Sequence[float], n_boot: int, rng: np.random.Generator) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        raise BenchmarkError("bootstrap of no values")
    out = np.empty(n_boot)
    chunk = max(1, 2_000_000 // v.size)  # bounded memory for large samples
    for s in range(0, n_boot, chunk):
        k = min(chunk, n_boot - s)
        out[s:s + k] = np.median(v[rng.integers(0, v.size, size=(k, v.size))], axis=1)
    return out


def bootstrap_median(values: Sequence[float], n_boot: int = 5000, seed: int = 0,
                     level: float = 0.95) -> tuple[float, float, float]:
    """``(median, low, high)``: the sample median and its percentile-bootstrap interval.

    The values are resampled with replacement ``n_boot`` times (``default_rng(seed)``);
    the bounds are the ``(1 - level) / 2`` and ``(1 + level) / 2`` order statistics of
    the resampled medians.  ``inf`` values (censored) sort above everything.
    """
    meds = _boot_medians(values, n_boot, np.random.default_rng(seed))
    return (float(np.median(np.asarray(values, dtype=float))), *_percentile_interval(meds, level))


def _ratio(a, b):
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.asarray(a, dtype=float) / np.asarray(b, dtype=float)
    return np.where(np.isnan(r), np.inf, r)  # inf/inf: undetermined, sorts last


def bootstrap_ratio(values: Sequence[float], reference: Sequence[float], n_boot: int = 5000, seed: int = 0,
                    level: float = 0.95) -> tuple[float, float, float]:
    """``(median(values) / median(reference), low, high)`` with a percentile-bootstrap interval.

    The two samples are independent searches, so each is resampled on its own
    (one ``default_rng(seed)`` stream, ``values`` first); the interval is that of
    the ``n_boot`` ratios of resampled medians.  A ratio of two censored medians
    is undetermined and sorts last (as ``inf``).
    """
    rng = np.random.default_rng(seed)
    num, den = _boot_medians(values, n_boot, rng), _boot_medians(reference, n_boot, rng)
    point = _ratio(np.median(np.asarray(values, dtype=float)), np.median(np.asarray(reference, dtype=float)))
    return (float(point), *_percentile_interval(_ratio(num, den), level))


def summarize(traces: Sequence[Sequence[float | None]] | Sequence[Run], table: Table, top_fraction: float = 0.01,
              checkpoints: Sequence[int] = CHECKPOINTS, n_boot: int = 5000, seed: int = 0,
              given: Sequence[Candidate] = ()) -> dict[str, Any]:
    """Evaluations to the top fraction per repeat (``hits``), their median with a bootstrap
    interval, the fraction of repeats reaching it, median best at checkpoints, free repeats.

    ``evals_to_top`` is ``None`` when the median is censored (half the repeats or
    more never got there); ``evals_ci`` bounds may be ``inf`` (censored).
    """
    runs = [t if isinstance(t, Run) else Run(list(t)) for t in traces]
    threshold = table.threshold(top_fraction, exclude=[c.fingerprint() for c in given])
    hits = [evals_to_top(r.trace, threshold) for r in runs]
    median, low, high = bootstrap_median(hits, n_boot=n_boot, seed=seed)
    best_at = {}
    for n in checkpoints:
        bests = [_best_so_far(r.trace, n) for r in runs]
        bests = [-math.inf if b is None else b for b in bests]
        best_at[n] = float(np.median(bests))
    return {
        "evals_to_top": None if math.isinf(median) else median,
        "evals_ci": (low, high),
        "hits": hits,
        "reached": float(np.mean([not math.isinf(h) for h in hits])),
        "best_at": best_at,
        "threshold": threshold,
        "repeats": len(runs),
        "free_repeats": float(np.mean([r.free_repeats for r in runs])),
        "ended_on_repeats": sum(r.ended in ("repeats", "exhausted") for r in runs),
    }


def run_benchmark(table: Table, optimizers: Sequence[str], repeats: int = 200, budget: int | None = None,
                  seed: int = 0, base: SearchSpace | None = None, top_fraction: float = 0.01,
                  options: dict[str, dict[str, Any]] | None = None, progress=None,
                  checkpoints: Sequence[int] = CHECKPOINTS, n_boot: int = 5000,
                  reference: str = "random", given: Sequence[Candidate] = ()) -> list[dict[str, Any]]:
    """One summary per optimiser (see :func:`summarize`), each with ``optimizer``, ``seconds``,
    ``budget`` and, when ``reference`` is among ``optimizers``, ``ratio`` = ``(median / the
    reference's median, low, high)`` (:func:`bootstrap_ratio`).

    Each search stops once it has found the target and made ``max(checkpoints)``
    evaluations (the figures are unchanged by that, see :func:`replay_runs`).
    Bootstrap streams are seeded from ``seed``.  ``given`` (the references, as a
    real search trains them first) are told to every optimiser before it asks and
    are neither evaluations nor targets: the top fraction is taken among the
    other rows.
    """
    import time

    if budget is None:
        budget = len(table.by_fingerprint)
    threshold = table.threshold(top_fraction, exclude=[c.fingerprint() for c in given])
    out = []
    for k, name in enumerate(optimizers):
        start = time.perf_counter()
        runs = replay_runs(table, name, repeats=repeats, budget=budget, seed=seed, base=base,
                           options=(options or {}).get(name), stop_at=threshold,
                           min_evals=max(checkpoints, default=0), given=given)
        summary = summarize(runs, table, top_fraction, checkpoints, n_boot=n_boot, seed=seed + 1000 * k,
                            given=given)
        summary.update(optimizer=name, seconds=time.perf_counter() - start, budget=budget)
        out.append(summary)
        if progress is not None:
            progress(summary)
    ref = next((s for s in out if s["optimizer"] == reference), None)
    for k, s in enumerate(out):
        if ref is not None:
            s["ratio"] = bootstrap_ratio(s["hits"], ref["hits"], n_boot=n_boot, seed=seed + 1000 * k + 1)
        s["reference"] = reference if ref is not None else None
    return out


def _count(v: float) -> str:
    return "censored" if math.isinf(v) else f"{v:g}"


def _interval(point: float, low: float, high: float) -> str:
    def f(v: float) -> str:
        return "censored" if math.isinf(v) else f"{v:.2f}"
    return f"{f(point)} [{f(low)}, {f(high)}]"


def format_summary(summaries: Sequence[dict[str, Any]], table: Table, top_fraction: float = 0.01,
                   given: Sequence[Candidate] = ()) -> str:
    """A markdown table of :func:`run_benchmark` output."""
    cps = sorted(summaries[0]["best_at"]) if summaries else list(CHECKPOINTS)
    n_ok = sum(r.accuracy is not None for r in table.rows)
    first = summaries[0] if summaries else {}
    ref = first.get("reference")
    excluded = {c.fingerprint() for c in given}
    thr = table.threshold(top_fraction, exclude=excluded)
    n_top = sum(r.accuracy is not None and r.accuracy >= thr and r.fingerprint not in excluded for r in table.rows)
    lines = [
        f"table: {len(table)} functions ({n_ok} ok), best {table.best:.4f}, "
        f"top {top_fraction:.0%} threshold {thr:.4f} ({n_top} functions); "
        f"{first.get('repeats', 0)} repeats, budget {first.get('budget', 0)} evaluations; "
        f"medians with bootstrap 95% intervals" + (f"; {len(given)} references told first, not counted" if given else ""),
        "",
        "| optimizer | median evals to top [95% CI] | reached | "
        + (f"ratio to {ref} [95% CI] | " if ref else "")
        + "free repeats | " + " | ".join(f"best@{n}" for n in cps) + " | seconds |",
        "| --- | ---: | ---: | " + ("---: | " if ref else "") + "---: | "
        + " | ".join("---:" for _ in cps) + " | ---: |",
    ]
    for s in summaries:
        med = math.inf if s["evals_to_top"] is None else s["evals_to_top"]
        low, high = s["evals_ci"]
        evals = f"{_count(med)} [{_count(low)}, {_count(high)}]"
        ratio = f"{_interval(*s['ratio'])} | " if ref else ""
        bests = " | ".join(f"{s['best_at'][n]:.4f}" for n in cps)
        lines.append(f"| {s['optimizer']} | {evals} | {s['reached']:.0%} | {ratio}{s['free_repeats']:.1f} | "
                     f"{bests} | {s['seconds']:.1f} |")
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
