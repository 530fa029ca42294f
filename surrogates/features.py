"""Cheap features of a candidate that a surrogate model regresses accuracy on.

Feature groups, after AQuaSurF (Bingham & Miikkulainen 2023), each computed from
the function's float64 values on :data:`GRID` (501 points on ``[-5, 5]``), so the
same numbers come from one candidate's eager module or from a whole grammar
catalog evaluated at once (:meth:`FeatureExtractor.from_values`):

* ``outputs``: the function at ``n_points`` quantiles of N(0, 1) (where a
  normalised network's pre-activations live, as AQuaSurF's 1000 N(0, 1) samples)
  plus the tails +-3, +-4, +-5;
* ``slopes``: its derivative (central differences on the grid) at 16 quantiles;
* ``signal``: mean-field signal propagation through a deep random network at
  initialisation (:mod:`actsearch.surrogates.signal`): a cheap stand-in for
  AQuaSurF's Fisher spectrum.

Per-candidate groups (seconds for many, not vectorised): ``shape`` (outputs and
autograd slopes on evenly spaced points, the first release's features) and
``fisher`` (the largest eigenvalues of the empirical Fisher of a tiny MLP at
initialisation).

The default groups are ``outputs`` and ``signal``: replayed on the 3,023-function
table, the surrogate needs 17 trainings (median) to the top 1% with them, 26 with
``slopes`` added, 30 with ``outputs`` alone (benchmarks/NOTES.md, "Search at scale").

Outputs and slopes pass through ``asinh`` (near-linear for small values,
logarithmic for large ones, so one exploding candidate does not flatten everyone
else's distances) and are clipped to ``[-clip, clip]``; NaN becomes ``-clip``,
``+-inf`` becomes ``+-clip``.

Example:
    >>> import actsearch
    >>> from actsearch.surrogates.features import FeatureExtractor
    >>> fx = FeatureExtractor()
    >>> fx(actsearch.parse("relu(x)")).shape == (fx.dim,), fx.dim
    (True, 78)
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from actsearch.symbolic.expr import Candidate

__all__ = ["FeatureExtractor", "probe_points", "shape_features", "fisher_spectrum", "GRID", "grid_values",
           "GROUPS", "DEFAULT_GROUPS", "quantile_points"]

#: probe interval: where pre-activations of a normalised network mostly live, plus tails
PROBE_RANGE = (-5.0, 5.0)
DEFAULT_CLIP = 8.0
#: where every grid group reads a function: 501 points, step 0.02
GRID = np.linspace(*PROBE_RANGE, 501)
#: groups computed from values on GRID (vectorised), and the per-candidate ones
GRID_GROUPS = ("outputs", "slopes", "signal")
GROUPS = GRID_GROUPS + ("shape", "fisher")
DEFAULT_GROUPS = ("outputs", "signal")  # slopes left out: they cost the surrogate trainings (NOTES, "Search at scale")
_TAILS = np.array([-5.0, -4.0, -3.0, 3.0, 4.0, 5.0])
_SLOPE_POINTS = 16


def quantile_points(n: int) -> np.ndarray:
    """The ``(k + 1/2) / n`` quantiles of N(0, 1), ascending."""
    from scipy.special import ndtri

    return ndtri((np.arange(n) + 0.5) / n)


def grid_values(candidate: Candidate) -> np.ndarray:
    """``candidate`` on :data:`GRID` in float64 (a row-wise one sees the grid as one row);
    non-finite values are kept."""
    x = torch.as_tensor(GRID, dtype=torch.float64).reshape(1, -1)
    params = {k: torch.tensor(v, dtype=torch.float64) for k, v in candidate.params.items()}
    with torch.no_grad(), np.errstate(all="ignore"):
        try:
            y = torch.broadcast_to(candidate.torch_fn()(x, params), x.shape).reshape(-1).numpy()
        except (RuntimeError, ValueError, ZeroDivisionError, OverflowError):
            y = np.full(len(GRID), np.nan)
    return np.array(y, dtype=np.float64)


def probe_points(n_points: int = 48) -> torch.Tensor:
    """Fixed float64 probe points: ``n_points`` evenly spaced on ``PROBE_RANGE``."""
    return torch.linspace(*PROBE_RANGE, n_points, dtype=torch.float64)


def _squash(values: np.ndarray, clip: float) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    with np.errstate(all="ignore"):
        out = np.arcsinh(values)
    out = np.where(np.isnan(out), -clip, out)
    return np.clip(out, -clip, clip)


def shape_features(candidate: Candidate, n_points: int = 48, clip: float = DEFAULT_CLIP) -> np.ndarray:
    """Outputs then first derivatives on :func:`probe_points`, squashed: shape ``(2 * n_points,)``.

    Derivatives come from autograd through the eager module (so ``relu`` has slope
    0 at 0, as in training).  Row-wise candidates see the probe points as one row.
    """
    x = probe_points(n_points).reshape(1, -1).requires_grad_(True)
    module = candidate.module(dtype=torch.float64)
    with np.errstate(all="ignore"):
        try:
            y = module(x)
            (dy,) = torch.autograd.grad(y.sum(), x, allow_unused=True)
            dy = torch.zeros_like(x) if dy is None else dy
            y_np, dy_np = y.detach().reshape(-1).numpy(), dy.detach().reshape(-1).numpy()
        except (RuntimeError, ValueError, ZeroDivisionError, OverflowError):
            # a candidate that cannot even be evaluated sits at the worst corner
            y_np = dy_np = np.full(n_points, np.nan)
    return np.concatenate([_squash(y_np, clip), _squash(dy_np, clip)])


class _TinyMLP(nn.Module):
    def __init__(self, act_factory, width: int, n_in: int, n_out: int):
        super().__init__()
        self.l1, self.l2, self.l3 = nn.Linear(n_in, width), nn.Linear(width, width), nn.Linear(width, n_out)
        self.a1, self.a2 = act_factory(), act_factory()

    def forward(self, x):
        return self.l3(self.a2(self.l2(self.a1(self.l1(x)))))


def fisher_spectrum(candidate: Candidate, k: int = 8, batch: int = 32, width: int = 16,
                    seed: int = 0, clip: float = DEFAULT_CLIP) -> np.ndarray:
    """The ``k`` largest eigenvalues of the empirical Fisher at initialisation, squashed.

    The network is ``Linear(16, width) -> act -> Linear(width, width) -> act ->
    Linear(width, 4)`` with weights from ``torch.manual_seed(seed)``; the batch is
    ``batch`` standard-normal inputs with random labels (same seed).  With per-sample
    log-likelihood gradients ``G`` (shape ``(batch, n_params)``), the empirical
    Fisher is ``G^T G / batch``; its non-zero eigenvalues equal those of the small
    Gram matrix ``G G^T / batch``, which is what we diagonalise.  Returns
    ``log10(eigenvalue + 1e-12)`` for the top ``k``, descending, squashed.
    """
    gen = torch.Generator().manual_seed(seed)
    n_in, n_out = 16, 4
    x = torch.randn(batch, n_in, generator=gen, dtype=torch.float64)
    labels = torch.randint(0, n_out, (batch,), generator=gen)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = _TinyMLP(lambda: candidate.module(dtype=torch.float64), width, n_in, n_out).double()
    params = [p for p in net.parameters() if p.requires_grad]
    rows = []
    with np.errstate(all="ignore"):
        try:
            for i in range(batch):
                logp = torch.log_softmax(net(x[i : i + 1]), dim=-1)[0, labels[i]]
                grads = torch.autograd.grad(logp, params, allow_unused=True)
                rows.append(torch.cat([
                    (g if g is not None else torch.zeros_like(p)).reshape(-1) for g, p in zip(grads, params)
                ]))
            g = torch.stack(rows)
            gram = (g @ g.T) / batch
            if not torch.isfinite(gram).all():
                raise ValueError("non-finite Fisher")
            eig = torch.linalg.eigvalsh(gram).flip(0)[:k].clamp_min(0.0).numpy()
            values = np.log10(eig + 1e-12)
        except (RuntimeError, ValueError, ZeroDivisionError, OverflowError):
            values = np.full(k, np.nan)
    return _squash(values, clip)


class FeatureExtractor:
    """Candidate -> feature vector, cached by canonical text.

    Args:
        groups: feature groups, in order (see the module docstring); default
            ``("outputs", "slopes", "signal")``.
        n_points: points of the ``outputs`` group (N(0, 1) quantiles) and of ``shape``.
        fisher: add the ``fisher`` group (about 30x slower per candidate).
        fisher_k: eigenvalues kept.
        clip: squashing bound.

    :meth:`from_values` computes the grid groups for many functions at once from
    their values on :data:`GRID` (what a grammar catalog gives); ``__call__`` gives
    the same numbers for one candidate.

    Example:
        >>> import actsearch
        >>> fx = FeatureExtractor(groups=("shape",), n_points=8, fisher=True, fisher_k=4)
        >>> fx.dim, fx(actsearch.parse("tanh(x)")).shape
        (20, (20,))
    """

    def __init__(self, groups=DEFAULT_GROUPS, n_points: int = 48, fisher: bool = False, fisher_k: int = 8,
                 clip: float = DEFAULT_CLIP):
        groups = tuple(groups) + (("fisher",) if fisher and "fisher" not in groups else ())
        unknown = [g for g in groups if g not in GROUPS]
        if unknown or not groups:
            from actsearch.errors import ActsearchError

            raise ActsearchError(f"unknown feature group {unknown[0] if unknown else '(none)'!r}; "
                                 f"choose from: {', '.join(GROUPS)}")
        self.groups, self.n_points, self.fisher_k, self.clip = groups, n_points, fisher_k, clip
        self.fisher = "fisher" in groups
        self._outputs_at = np.sort(np.concatenate([quantile_points(n_points), _TAILS]))
        self._slopes_at = quantile_points(_SLOPE_POINTS)
        self._cache: dict[str, np.ndarray] = {}

    def _size(self, group: str) -> int:
        from .signal import LAYERS

        return {"outputs": len(self._outputs_at), "slopes": _SLOPE_POINTS, "signal": 4 * LAYERS,
                "shape": 2 * self.n_points, "fisher": self.fisher_k}[group]

    @property
    def dim(self) -> int:
        return sum(self._size(g) for g in self.groups)

    def spans(self) -> dict[str, slice]:
        """Where each group sits in a feature vector."""
        out, start = {}, 0
        for g in self.groups:
            out[g] = slice(start, start + self._size(g))
            start += self._size(g)
        return out

    def column_weights(self) -> np.ndarray:
        """Per-column weights that give every group the same say in a distance
        (``1 / sqrt(group size)``), whatever its size."""
        return np.concatenate([np.full(self._size(g), 1.0 / np.sqrt(self._size(g))) for g in self.groups])

    @property
    def vectorised(self) -> bool:
        """Every group comes from values on :data:`GRID` (so :meth:`from_values` works)."""
        return all(g in GRID_GROUPS for g in self.groups)

    def from_values(self, values: np.ndarray) -> np.ndarray:
        """Grid groups of functions given by their values on :data:`GRID`, ``(n, dim)``."""
        from .signal import interpolate, signal_features

        if not self.vectorised:
            raise ValueError(f"groups {', '.join(g for g in self.groups if g not in GRID_GROUPS)} "
                             "are computed per candidate, not from grid values")
        values = np.asarray(values, dtype=np.float64)
        finite = np.isfinite(values).all(axis=1)
        clean = np.where(np.isfinite(values), values, 0.0)
        parts = []
        for group in self.groups:
            if group == "outputs":
                at = np.broadcast_to(self._outputs_at, (len(values), len(self._outputs_at)))
                part = _squash(interpolate(clean, GRID, at), self.clip)
            elif group == "slopes":
                slopes = np.gradient(clean, GRID, axis=1)
                at = np.broadcast_to(self._slopes_at, (len(values), _SLOPE_POINTS))
                part = _squash(interpolate(slopes, GRID, at), self.clip)
            else:
                part = signal_features(clean, GRID)
            # a function that is not finite on the grid sits at the worst corner
            parts.append(np.where(finite[:, None], part, -self.clip))
        return np.concatenate(parts, axis=1)

    def __call__(self, candidate: Candidate) -> np.ndarray:
        cached = self._cache.get(candidate.text)
        if cached is None:
            parts, grid_part = [], None
            for group in self.groups:
                if group in GRID_GROUPS:
                    if grid_part is None:
                        grid_only = self._grid_only()
                        grid_part = dict(zip(grid_only.groups, np.split(
                            grid_only.from_values(grid_values(candidate)[None, :])[0],
                            np.cumsum([grid_only._size(g) for g in grid_only.groups])[:-1])))
                    parts.append(grid_part[group])
                elif group == "shape":
                    parts.append(shape_features(candidate, self.n_points, self.clip))
                else:
                    parts.append(fisher_spectrum(candidate, k=self.fisher_k, clip=self.clip))
            cached = np.concatenate(parts)
            cached.setflags(write=False)
            self._cache[candidate.text] = cached
        return cached

    def _grid_only(self) -> "FeatureExtractor":
        """This extractor's grid groups alone (itself when it has no other)."""
        if self.vectorised:
            return self
        if getattr(self, "_grid", None) is None:
            self._grid = FeatureExtractor([g for g in self.groups if g in GRID_GROUPS], self.n_points, clip=self.clip)
        return self._grid

    def matrix(self, candidates) -> np.ndarray:
        """Stacked features, shape ``(len(candidates), dim)``."""
        if not candidates:
            return np.zeros((0, self.dim))
        return np.stack([self(c) for c in candidates])

    @property
    def key(self) -> str:
        """What the features depend on (a cache of them is valid for one key)."""
        return f"{','.join(self.groups)};n={self.n_points};k={self.fisher_k};clip={self.clip};v1"

    def __repr__(self) -> str:
        return f"FeatureExtractor(groups={self.groups}, n_points={self.n_points}, clip={self.clip})"
