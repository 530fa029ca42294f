"""Regressors from candidate features to score, each giving a mean and an uncertainty.

All share one interface: ``fit(X, y)`` then ``predict(X) -> (mean, std)``, both
shape ``(n,)``.  ``std`` is what the acquisition rule explores with:

* ``knn``: k-nearest neighbours (AQuaSurF's choice), mean of the neighbours'
  scores weighted by inverse distance; std is the neighbours' (unweighted) spread
  plus a term growing with the distance to them, so far-away candidates look uncertain.
* ``gp``: scikit-learn's GaussianProcessRegressor, Matern(nu=2.5) + white noise,
  normalised targets; std is the posterior standard deviation.
* ``rf``: a random forest; std is the spread of the individual trees' predictions.

Example:
    >>> import numpy as np
    >>> from actsearch.surrogates.models import make_model
    >>> X = np.linspace(0, 1, 20).reshape(-1, 1); y = X[:, 0] ** 2
    >>> mean, std = make_model("rf", seed=0).fit(X, y).predict(np.array([[0.5]]))
    >>> mean.shape, bool(std[0] >= 0)
    ((1,), True)
"""

from __future__ import annotations

import abc
import warnings

import numpy as np

from actsearch.registry import unknown_name

__all__ = ["SurrogateModel", "KNNModel", "GPModel", "ForestModel", "make_model", "MODELS"]


class SurrogateModel(abc.ABC):
    """``fit(X, y) -> self``; ``predict(X) -> (mean, std)``."""

    name = ""

    @abc.abstractmethod
    def fit(self, X: np.ndarray, y: np.ndarray) -> "SurrogateModel":
        """Fit on features ``X`` (n, d) and scores ``y`` (n,)."""

    @abc.abstractmethod
    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Predicted mean and standard deviation, each shape ``(len(X),)``."""


class KNNModel(SurrogateModel):
    """k-nearest-neighbour regression with a distance-aware uncertainty.

    ``std = spread(neighbour scores) + distance_scale * mean_distance / median_train_distance * std(y)``,
    the second term making unexplored regions of feature space look uncertain.
    """

    name = "knn"

    def __init__(self, k: int = 5, distance_scale: float = 0.5, seed: int = 0):
        self.k, self.distance_scale = k, distance_scale

    def fit(self, X, y):
        self._X, self._y = np.asarray(X, np.float64), np.asarray(y, float)
        self._k = min(self.k, len(self._y))
        if len(self._y) > 1:
            d = np.sqrt(_squared_distances(self._X, self._X))
            np.fill_diagonal(d, np.inf)
            self._scale = float(np.median(d.min(axis=1))) or 1.0
        else:
            self._scale = 1.0
        self._ystd = float(np.std(self._y)) if len(self._y) > 1 else 1.0
        return self

    def predict(self, X):
        X = np.asarray(X)
        mean, std = np.empty(len(X)), np.empty(len(X))
        for s in range(0, len(X), _CHUNK):  # bounded memory over a catalog of half a million
            d2 = _squared_distances(X[s:s + _CHUNK], self._X)
            idx = np.argpartition(d2, self._k - 1, axis=1)[:, : self._k] if self._k < d2.shape[1] else \
                np.broadcast_to(np.arange(d2.shape[1]), d2.shape)
            dist = np.sqrt(np.take_along_axis(d2, idx, axis=1))
            w = 1.0 / (dist + 1e-9)
            ys = self._y[idx]
            mean[s:s + _CHUNK] = (w * ys).sum(1) / w.sum(1)
            std[s:s + _CHUNK] = ys.std(1) + self.distance_scale * dist.mean(1) / self._scale * self._ystd
        return mean, std


_CHUNK = 65536


def _squared_distances(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``|a - b|^2`` for every row pair (float64 for the small side), clipped at 0."""
    A = np.asarray(A, dtype=np.float64)
    d2 = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2.0 * (A @ B.T)
    return np.maximum(d2, 0.0)


class GPModel(SurrogateModel):
    """Gaussian process with a Matern kernel plus white noise on normalised targets."""

    name = "gp"

    def __init__(self, seed: int = 0, restarts: int = 1):
        self.seed, self.restarts = seed, restarts

    def fit(self, X, y):
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

        X = np.asarray(X, float)
        kernel = ConstantKernel(1.0, (1e-3, 1e3)) * Matern(
            length_scale=np.sqrt(X.shape[1]), length_scale_bounds=(1e-2, 1e4), nu=2.5
        ) + WhiteKernel(0.1, (1e-6, 1.0))
        self._gp = GaussianProcessRegressor(
            kernel=kernel, normalize_y=True, n_restarts_optimizer=self.restarts, random_state=self.seed
        )
        with warnings.catch_warnings():  # bound warnings on tiny data sets are expected
            warnings.simplefilter("ignore")
            self._gp.fit(X, np.asarray(y, float))
        return self

    def predict(self, X):
        mean, std = self._gp.predict(np.asarray(X, float), return_std=True)
        return mean, std


class ForestModel(SurrogateModel):
    """Random forest; uncertainty is the standard deviation across trees."""

    name = "rf"

    def __init__(self, n_estimators: int = 50, seed: int = 0):
        self.n_estimators, self.seed = n_estimators, seed

    def fit(self, X, y):
        from sklearn.ensemble import RandomForestRegressor

        self._rf = RandomForestRegressor(
            n_estimators=self.n_estimators, min_samples_leaf=1, max_features=0.5,
            random_state=self.seed, n_jobs=1,
        ).fit(np.asarray(X, float), np.asarray(y, float))
        return self

    def predict(self, X):
        X = np.asarray(X, float)
        per_tree = np.stack([t.predict(X) for t in self._rf.estimators_])
        return per_tree.mean(0), per_tree.std(0)


MODELS = {"knn": KNNModel, "gp": GPModel, "rf": ForestModel}


def make_model(name: str, seed: int = 0, **options) -> SurrogateModel:
    """A fresh model by name (``knn``, ``gp``, ``rf``)."""
    cls = MODELS.get(name)
    if cls is None:
        raise unknown_name("surrogate model", name, sorted(MODELS))
    return cls(seed=seed, **options)
