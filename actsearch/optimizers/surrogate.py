"""``surrogate``: rank proposals with a model of score from cheap features, train only the best.

After AQuaSurF (Bingham & Miikkulainen 2023): every candidate has a feature vector
(outputs and derivatives on probe points, optionally the Fisher spectrum at
initialisation; :mod:`actsearch.surrogates.features`).  After ``n_initial`` random
candidates, each :meth:`ask` fits a regressor (:mod:`actsearch.surrogates.models`:
``knn``, ``gp`` or ``rf``) to everything told so far and returns the proposal with
the highest acquisition value (``ucb`` or ``ei``, :mod:`actsearch.surrogates.acquisition`).

Proposals: on a finite space with at most ``max_enumerate`` members, every member
not yet asked; otherwise ``pool_size`` candidates, half fresh samples and half
mutations (structural, then numeric parameters) of the ``n_parents`` best so far.

The model is fitted to the *ranks* of the scores (scaled to [0, 1]); failed results
rank below every success, so the model learns to avoid their region.  Nothing
already asked or told is proposed again (the pool leaves it out, and a fresh
sample that repeats is redrawn, :meth:`~actsearch.optimizers.base.Optimizer.propose_new`):
the acquisition's best would otherwise be the same candidate ask after ask.

Example:
    >>> import actsearch
    >>> from actsearch.optimizers.surrogate import SurrogateOptimizer
    >>> from actsearch.result import Result
    >>> space = actsearch.space("polynomial", kind="polyrelu")
    >>> opt = SurrogateOptimizer(space, seed=0, n_initial=2, pool_size=8, n_points=8)
    >>> for score in (0.5, 0.7):
    ...     c = opt.ask()
    ...     opt.tell(c, Result(key=c.key, text=c.text, score=score))
    >>> best = opt.ask()  # the pool's candidate with the highest upper confidence bound
    >>> space.contains(best), len(opt.history)
    (True, 2)
"""

from __future__ import annotations


import numpy as np

from actsearch.errors import ActsearchError
from actsearch.symbolic.expr import Candidate
from actsearch.result import Result
from actsearch.surrogates.acquisition import ACQUISITIONS, acquire
from actsearch.surrogates.features import FeatureExtractor
from actsearch.surrogates.models import MODELS, make_model

from .base import FINGERPRINTS, Optimizer, scored
from .evolution import perturb_params

__all__ = ["SurrogateOptimizer"]

#: features are pure functions of (settings, text): share them between optimiser instances
_SHARED_EXTRACTORS: dict[tuple, FeatureExtractor] = {}
_MAX_CACHED = 200_000


def _extractor(n_points: int, fisher: bool) -> FeatureExtractor:
    key = (n_points, fisher)
    fx = _SHARED_EXTRACTORS.get(key)
    if fx is None or len(fx._cache) > _MAX_CACHED:
        fx = _SHARED_EXTRACTORS[key] = FeatureExtractor(n_points=n_points, fisher=fisher)
    return fx


class SurrogateOptimizer(Optimizer):
    """Surrogate-model-based search (model + acquisition over a proposal pool).

    Args:
        space: the search space.
        seed: seeds the samples, the pool and the model.
        model: ``knn`` (default, as AQuaSurF), ``gp`` or ``rf``.
        acquisition: ``ucb`` (default) or ``ei``.
        kappa: UCB exploration weight; xi: EI margin.
        n_initial: random candidates before the model is used (at least 2).
        pool_size: proposals per ask on infinite (or very large) spaces.
        n_parents: best candidates the pool mutates.
        max_enumerate: a finite space up to this size is ranked in full.
        fisher: add the Fisher-spectrum features (slower per new candidate).
        n_points: probe points of the shape features.
        param_sigma: relative noise of numeric-parameter mutation in the pool.
        max_tries: redraws allowed to avoid an already-asked fingerprint while sampling.
    """

    name = "surrogate"
    saved = {"history": scored("score"), "seen": FINGERPRINTS}

    def __init__(self, space, seed: int = 0, model: str = "knn", acquisition: str = "ucb",
                 kappa: float = 0.3, xi: float = 0.0, n_initial: int = 8, pool_size: int = 256,
                 n_parents: int = 5, max_enumerate: int = 5000, fisher: bool = False,
                 n_points: int = 48, param_sigma: float = 0.2, max_tries: int = 20):
        super().__init__(space, seed)
        if model not in MODELS:
            raise ActsearchError(f"surrogate: unknown model {model!r}; choose one of: {', '.join(sorted(MODELS))}")
        if acquisition not in ACQUISITIONS:
            raise ActsearchError(
                f"surrogate: unknown acquisition {acquisition!r}; choose one of: {', '.join(ACQUISITIONS)}")
        for label, value, low in (("n_initial", n_initial, 2), ("pool_size", pool_size, 1),
                                  ("n_parents", n_parents, 1), ("max_tries", max_tries, 1),
                                  ("n_points", n_points, 2)):
            if int(value) < low:
                raise ActsearchError(f"surrogate: {label} must be >= {low}, got {value}")
        self.model, self.acquisition = model, acquisition
        self.kappa, self.xi = float(kappa), float(xi)
        self.n_initial, self.pool_size, self.n_parents = int(n_initial), int(pool_size), int(n_parents)
        self.max_enumerate, self.param_sigma, self.max_tries = int(max_enumerate), float(param_sigma), int(max_tries)
        self.features = _extractor(int(n_points), bool(fisher))
        #: (candidate, score or None for a failure) in the order told
        self.history: list[tuple[Candidate, float | None]] = []
        self.seen: set[str] = set()
        self._members: list[Candidate] | None = None  # finite space, enumerated once

    # -- ask/tell ----------------------------------------------------------------
    def ask(self) -> Candidate:
        ok = [s for _, s in self.history if s is not None]
        if len(self.history) < self.n_initial or not ok:
            cand = self._fresh_sample()
        else:
            pool = self._pool()
            cand = self._best_of(pool) if pool else self._fresh_sample()
        self.seen.add(cand.fingerprint())
        return cand

    def tell(self, candidate: Candidate, result: Result) -> None:
        self.history.append((candidate, float(result.score) if result.ok else None))
        self.seen.add(candidate.fingerprint())

    # -- internals ---------------------------------------------------------------
    def _fresh_sample(self) -> Candidate:
        return self.propose_new(lambda: self.space.sample(self.rng), self.seen, self.max_tries)

    def _enumerated(self) -> list[Candidate] | None:
        if not getattr(self.space, "finite", False):
            return None
        if self._members is None:
            members = []
            for c in self.space.enumerate():
                members.append(c)
                if len(members) > self.max_enumerate:
                    members = []
                    break
            self._members = members
        return self._members or None

    def _pool(self) -> list[Candidate]:
        members = self._enumerated()
        if members is not None:
            return [c for c in members if c.fingerprint() not in self.seen]
        ranked = sorted((s, i) for i, (_, s) in enumerate(self.history) if s is not None)
        parents = [self.history[i][0] for _, i in reversed(ranked[-self.n_parents:])]
        pool, fps = [], set(self.seen)
        n_mut = self.pool_size // 2
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

    def _training_set(self) -> tuple[np.ndarray, np.ndarray]:
        """Features and rank-transformed scores in [0, 1] (failures tie at the bottom).

        Ranks, not raw scores: a loss-like metric can span orders of magnitude and one
        outlier would otherwise set every uncertainty's scale.
        """
        ok = np.array([s for _, s in self.history if s is not None])
        low = ok.min() - 1.0
        raw = np.array([low if s is None else s for _, s in self.history])
        _, inverse = np.unique(raw, return_inverse=True)
        y = inverse / max(inverse.max(), 1)
        return self.features.matrix([c for c, _ in self.history]), y

    def _best_of(self, pool: list[Candidate]) -> Candidate:
        X, y = self._training_set()
        model = make_model(self.model, seed=int(self.rng.integers(2**31 - 1)))
        model.fit(X, y)
        mean, std = model.predict(self.features.matrix(pool))
        best = float(y.max())
        value = acquire(self.acquisition, mean, std, best=best, kappa=self.kappa, xi=self.xi)
        value = np.where(np.isfinite(value), value, -np.inf)
        return pool[int(np.argmax(value))]
