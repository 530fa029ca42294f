"""``surrogate``: rank proposals with a model of score from cheap features, train only the best.

After AQuaSurF (Bingham & Miikkulainen 2023): every candidate has a feature vector
(its outputs and slopes on N(0, 1) quantiles and signal-propagation statistics of a
deep random network at initialisation; :mod:`actsearch.surrogates.features`).  After
``n_initial`` random candidates, each :meth:`ask` fits a regressor
(:mod:`actsearch.surrogates.models`: ``knn``, ``gp`` or ``rf``) to everything told
so far and returns the proposal with the highest acquisition value (``ucb`` or
``ei``, :mod:`actsearch.surrogates.acquisition`).

Proposals: on a finite space, *every* member not yet asked
(:mod:`actsearch.surrogates.pool`: the grammar's whole catalog of distinct functions,
featurised once and cached on disk, plus the fitted starts of the other families);
on an infinite space, ``pool_size`` candidates, half fresh samples and half
mutations (structural, then numeric parameters) of the ``n_parents`` best so far.

The model is fitted to the *ranks* of the scores (scaled to [0, 1]); failed results
rank below every success, so the model learns to avoid their region.  Nothing
already asked or told is proposed again.

Warm start (``prior``): scores of other candidates on another task (a benchmark
table or a stored search: ``actsearch search --warm-start``).  A model fitted on
them ranks the proposals from the first ask on, instead of random samples; as
this task's own results come in, their model takes over (the prior's weight is
``prior_weight / (prior_weight + n_told)``).

``objective="pareto"`` (``actsearch search --objective pareto``) keeps the front of
score against cost rather than the top: each ask after the random start draws a
weight from the optimiser's generator and ranks by the scalarisation of
:mod:`actsearch.optimizers._pareto` (acquisition value against the formula's cost).

Example:
    >>> import actsearch
    >>> from actsearch.optimizers.surrogate import SurrogateOptimizer
    >>> from actsearch.result import Result
    >>> space = actsearch.space("polynomial", kind="polyrelu", jitter=0.1)
    >>> opt = SurrogateOptimizer(space, seed=0, n_initial=2, pool_size=8)
    >>> for score in (0.5, 0.7):
    ...     c = opt.ask()
    ...     opt.tell(c, Result(key=c.key, text=c.text, score=score))
    >>> best = opt.ask()  # the pool's candidate with the highest upper confidence bound
    >>> space.contains(best), len(opt.history)
    (True, 2)
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from actsearch.errors import ActsearchError
from actsearch.symbolic.expr import Candidate
from actsearch.result import Result
from actsearch.surrogates.acquisition import ACQUISITIONS, acquire
from actsearch.surrogates.features import DEFAULT_GROUPS, GROUPS, FeatureExtractor
from actsearch.surrogates.models import MODELS, make_model
from actsearch.surrogates.pool import candidate_pool

from ._pareto import Costs, check_objective, scalarised
from .base import FINGERPRINTS, Optimizer, scored
from .evolution import perturb_params

__all__ = ["SurrogateOptimizer", "rank_scores"]

#: features are pure functions of (settings, text): share them between optimiser instances
_SHARED_EXTRACTORS: dict[tuple, FeatureExtractor] = {}
_SHARED_POOLS: dict[tuple, object] = {}
_MAX_CACHED = 200_000


def _extractor(groups: tuple[str, ...], n_points: int) -> FeatureExtractor:
    key = (groups, n_points)
    fx = _SHARED_EXTRACTORS.get(key)
    if fx is None or len(fx._cache) > _MAX_CACHED:
        fx = _SHARED_EXTRACTORS[key] = FeatureExtractor(groups=groups, n_points=n_points)
    return fx


def _groups(features, fisher: bool) -> tuple[str, ...]:
    if isinstance(features, str):
        features = [g for g in features.replace(" ", "").split(",") if g]
    groups = tuple(features) + (("fisher",) if fisher and "fisher" not in features else ())
    bad = [g for g in groups if g not in GROUPS]
    if bad or not groups:
        raise ActsearchError(f"surrogate: unknown feature group {bad[0] if bad else '(none)'!r}; "
                             f"choose from: {', '.join(GROUPS)}")
    return groups


def rank_scores(scores: Sequence[float | None]) -> np.ndarray:
    """Scores as ranks scaled to [0, 1] (ties share a rank); ``None`` (a failure) ranks lowest."""
    ok = [s for s in scores if s is not None]
    low = (min(ok) if ok else 0.0) - 1.0
    raw = np.array([low if s is None else s for s in scores], dtype=float)
    _, inverse = np.unique(raw, return_inverse=True)
    return inverse / max(inverse.max(), 1) if len(raw) else raw


class SurrogateOptimizer(Optimizer):
    """Surrogate-model-based search (model + acquisition over a proposal pool).

    Args:
        space: the search space.
        seed: seeds the samples, the pool and the model.
        model: ``knn`` (default, as AQuaSurF), ``gp`` or ``rf``.
        acquisition: ``ucb`` (default) or ``ei``.
        kappa: UCB exploration weight; xi: EI margin.
        n_initial: random candidates before the model is used (at least 2).
        pool_size: proposals per ask on infinite spaces.
        n_parents: best candidates the pool mutates (infinite spaces).
        features: feature groups, comma-separated (default outputs,signal; also slopes, shape, fisher).
        fisher: add the Fisher-spectrum group (per candidate: infinite spaces only).
        n_points: N(0, 1) quantiles of the ``outputs`` group.
        param_sigma: relative noise of numeric-parameter mutation in the pool.
        max_tries: redraws allowed to avoid an already-asked fingerprint while sampling.
        prior: ``(candidate, score or None)`` pairs from another task (warm start).
        prior_weight: how many of this task's results the prior counts as.
        max_enumerate: a finite space without a catalog is ranked in full up to this size.
        objective: ``score`` (default), or ``pareto``: each ask draws a weight ``w`` and ranks by ``w *
            z(acquisition) - (1 - w) * z(cost)`` (the formula's operation count), over the
            ``shortlist`` members of a finite space the acquisition ranks best.
        shortlist: members of a finite space whose cost is weighed under ``pareto``.
    """

    name = "surrogate"
    saved = {"history": scored("score"), "seen": FINGERPRINTS}

    def __init__(self, space, seed: int = 0, model: str = "knn", acquisition: str = "ucb",
                 kappa: float = 0.3, xi: float = 0.0, n_initial: int = 8, pool_size: int = 256,
                 n_parents: int = 5, features=DEFAULT_GROUPS, fisher: bool = False, n_points: int = 48,
                 param_sigma: float = 0.2, max_tries: int = 20, prior=None, prior_weight: float = 10.0,
                 max_enumerate: int = 5000, objective: str = "score", shortlist: int = 512):
        super().__init__(space, seed)
        self.objective = check_objective("surrogate", objective)
        if model not in MODELS:
            raise ActsearchError(f"surrogate: unknown model {model!r}; choose one of: {', '.join(sorted(MODELS))}")
        if acquisition not in ACQUISITIONS:
            raise ActsearchError(
                f"surrogate: unknown acquisition {acquisition!r}; choose one of: {', '.join(ACQUISITIONS)}")
        for label, value, low in (("n_initial", n_initial, 2), ("pool_size", pool_size, 1),
                                  ("n_parents", n_parents, 1), ("max_tries", max_tries, 1),
                                  ("n_points", n_points, 2), ("max_enumerate", max_enumerate, 1),
                                  ("shortlist", shortlist, 1)):
            if int(value) < low:
                raise ActsearchError(f"surrogate: {label} must be >= {low}, got {value}")
        if float(prior_weight) < 0:
            raise ActsearchError(f"surrogate: prior_weight must be >= 0, got {prior_weight}")
        self.model, self.acquisition = model, acquisition
        self.kappa, self.xi = float(kappa), float(xi)
        self.n_initial, self.pool_size, self.n_parents = int(n_initial), int(pool_size), int(n_parents)
        self.param_sigma, self.max_tries = float(param_sigma), int(max_tries)
        self.max_enumerate, self.shortlist = int(max_enumerate), int(shortlist)
        self._costs = Costs()
        self._member_cost: dict[int, float] = {}
        self.features = _extractor(_groups(features, bool(fisher)), int(n_points))
        self.prior = [(c, None if s is None else float(s)) for c, s in (prior or [])]
        self.prior_weight = float(prior_weight)
        #: (candidate, score or None for a failure) in the order told
        self.history: list[tuple[Candidate, float | None]] = []
        self.seen: set[str] = set()
        self._pool = None
        self._pool_ready = False
        self._asked: set[int] = set()
        self._prior_rank: np.ndarray | None = None
        self._weighted: tuple | None = None

    # -- ask/tell ----------------------------------------------------------------
    def ask(self) -> Candidate:
        ok = [s for _, s in self.history if s is not None]
        warm = bool(self.prior) and self.prior_weight > 0
        if not warm and (len(self.history) < self.n_initial or not ok):
            cand = self._fresh_sample()
        else:
            pool = self.pool()
            if pool is not None:
                cand = self._best_member(pool)
            else:
                proposals = self._proposals()
                cand = self._best_of(proposals) if proposals else self._fresh_sample()
        self._note_asked(cand)
        return cand

    def tell(self, candidate: Candidate, result: Result) -> None:
        self.history.append((candidate, float(result.score) if result.ok else None))
        self._note_asked(candidate)

    def _restored(self) -> None:
        self._asked = set()
        for c, _ in self.history:
            self._note_asked(c)

    def _note_asked(self, candidate: Candidate) -> None:
        self.seen.add(candidate.fingerprint())
        if self._pool is not None:
            i = self._pool.index(candidate)
            if i is not None:
                self._asked.add(i)

    # -- the pool of a finite space ------------------------------------------------
    def pool(self):
        """Every member of a finite space with features (built once; ``None`` for infinite spaces)."""
        if not self._pool_ready:
            key = (id(self.space), self.features.key)
            cached = _SHARED_POOLS.get(key)
            if cached is not None and cached[0] is self.space:
                self._pool = cached[1]
            else:
                self._pool = candidate_pool(self.space, self.features, max_members=self.max_enumerate)
                _SHARED_POOLS.clear()  # one space's pool at a time: they can be large
                _SHARED_POOLS[key] = (self.space, self._pool)
            self._pool_ready = True
            for c, _ in self.history:
                self._note_asked(c)
        return self._pool

    def _weights(self) -> np.ndarray:
        return self.features.column_weights()

    def _pool_matrix(self, pool) -> np.ndarray:
        """The pool's features weighted per group (float32, computed once per pool)."""
        key = (id(pool), self.features.key)
        if self._weighted is None or self._weighted[0] != key:
            self._weighted = (key, (pool.features * self._weights().astype(np.float32)).astype(np.float32))
        return self._weighted[1]

    def _told_features(self, pool) -> np.ndarray:
        rows = []
        for c, _ in self.history:
            i = pool.index(c) if pool is not None else None
            rows.append(pool.features[i] if i is not None else self.features(c))
        return np.asarray(rows, dtype=np.float64).reshape(len(rows), self.features.dim) * self._weights()

    def _prior_ranks(self, pool) -> np.ndarray | None:
        """The prior model's ranks of every pool member (fitted once)."""
        if not self.prior:
            return None
        if self._prior_rank is None:
            X = self.features.matrix([c for c, _ in self.prior]) * self._weights()
            y = rank_scores([s for _, s in self.prior])
            model = make_model(self.model, seed=int(self.rng.integers(2**31 - 1))).fit(X, y)
            mean, _ = model.predict(self._pool_matrix(pool))
            self._prior_rank = mean
        return self._prior_rank

    def _best_member(self, pool) -> Candidate:
        n = len(self.history)
        value = np.zeros(len(pool))
        ok = [s for _, s in self.history if s is not None]
        if n >= 2 and ok:
            X = self._told_features(pool)
            y = rank_scores([s for _, s in self.history])
            model = make_model(self.model, seed=int(self.rng.integers(2**31 - 1))).fit(X, y)
            mean, std = model.predict(self._pool_matrix(pool))
            value = acquire(self.acquisition, mean, std, best=float(y.max()), kappa=self.kappa, xi=self.xi)
        prior = self._prior_ranks(pool)
        if prior is not None and self.prior_weight > 0:
            w = self.prior_weight / (self.prior_weight + (n if ok else 0))
            value = w * prior + (1.0 - w) * value
        value = np.where(np.isfinite(value), value, -np.inf)
        if self._asked:
            value[np.fromiter(self._asked, dtype=np.int64)] = -np.inf
        order = np.argsort(-value, kind="stable")
        if self.objective == "pareto":
            order = self._pareto_order(pool, order[: self.shortlist], value)
        for i in order[: 10 * self.max_tries]:
            if not np.isfinite(value[i]):
                break
            cand = pool.candidate(int(i))
            self._asked.add(int(i))
            if cand is not None and cand.fingerprint() not in self.seen:
                return cand
        return self._fresh_sample()

    def _pareto_order(self, pool, short: np.ndarray, value: np.ndarray) -> np.ndarray:
        """``short`` (pool indices) reordered by this ask's scalarisation of value and cost
        (each member's cost computed once: building a member's formula is the slow part)."""
        short = short[np.isfinite(value[short])]
        for i in short:
            if int(i) not in self._member_cost:
                member = pool.candidate(int(i))
                self._member_cost[int(i)] = np.nan if member is None else self._costs([member])[0]
        cost = np.array([self._member_cost[int(i)] for i in short])
        short, cost = short[np.isfinite(cost)], cost[np.isfinite(cost)]
        w = float(self.rng.random())
        return short[np.argsort(-scalarised(value[short], cost, w), kind="stable")]

    # -- infinite spaces: a pool of samples and mutations -----------------------------
    def _fresh_sample(self) -> Candidate:
        return self.propose_new(lambda: self.space.sample(self.rng), self.seen, self.max_tries)

    def _proposals(self) -> list[Candidate]:
        ranked = sorted((s, i) for i, (_, s) in enumerate(self.history) if s is not None)
        parents = [self.history[i][0] for _, i in reversed(ranked[-self.n_parents:])]
        pool, fps = [], set(self.seen)
        n_mut = self.pool_size // 2 if parents else 0
        for k in range(self.pool_size):
            if k < n_mut:
                child = self.space.mutate(parents[k % len(parents)], self.rng)
                if child.params and self.rng.random() < 0.5:
                    tuned = perturb_params(child, self.rng, self.param_sigma)
                    child = tuned if self.space.contains(tuned) else child
            else:
                child = self.space.sample(self.rng)
            fp = child.fingerprint()
            if fp not in fps:
                fps.add(fp)
                pool.append(child)
        return pool

    def _best_of(self, proposals: list[Candidate]) -> Candidate:
        n = len(self.history)
        Xp = self.features.matrix(proposals) * self._weights()
        value = np.zeros(len(proposals))
        if n >= 2 and any(s is not None for _, s in self.history):
            X = self._told_features(None)
            y = rank_scores([s for _, s in self.history])
            model = make_model(self.model, seed=int(self.rng.integers(2**31 - 1))).fit(X, y)
            mean, std = model.predict(Xp)
            value = acquire(self.acquisition, mean, std, best=float(y.max()), kappa=self.kappa, xi=self.xi)
        if self.prior and self.prior_weight > 0:
            Xq = self.features.matrix([c for c, _ in self.prior]) * self._weights()
            prior_model = make_model(self.model, seed=0).fit(Xq, rank_scores([s for _, s in self.prior]))
            w = self.prior_weight / (self.prior_weight + n)
            value = w * prior_model.predict(Xp)[0] + (1.0 - w) * value
        value = np.where(np.isfinite(value), value, -np.inf)
        if self.objective == "pareto":
            value = scalarised(value, self._costs(proposals), float(self.rng.random()))
        return proposals[int(np.argmax(value))]
