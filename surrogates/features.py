"""Cheap features of a candidate that a surrogate model regresses accuracy on.

Two kinds, after AQuaSurF (Bingham & Miikkulainen 2023):

* **shape**: the candidate's outputs and first derivatives on fixed probe points,
  computed with its eager module in float64 and ``torch.autograd``;
* **Fisher spectrum** (optional): the largest eigenvalues of the empirical Fisher
  information of a tiny MLP using the candidate, at initialisation, on a fixed batch.

Every value passes through ``asinh`` (near-linear for small values, logarithmic for
large ones, so one exploding candidate does not flatten everyone else's distances)
and is clipped to ``[-clip, clip]``; NaN becomes ``-clip``, ``+-inf`` becomes ``+-clip``.

Example:
    >>> import actsearch
    >>> from actsearch.surrogates.features import FeatureExtractor
    >>> fx = FeatureExtractor(n_points=16)
    >>> fx(actsearch.parse("relu(x)")).shape
    (32,)
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from actsearch.symbolic.expr import Candidate

__all__ = ["FeatureExtractor", "probe_points", "shape_features", "fisher_spectrum"]

#: probe interval: where pre-activations of a normalised network mostly live, plus tails
PROBE_RANGE = (-5.0, 5.0)
DEFAULT_CLIP = 8.0


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
        n_points: probe points for the shape features.
        fisher: append :func:`fisher_spectrum` (about 30x slower per candidate).
        fisher_k: eigenvalues kept.
        clip: squashing bound.

    Example:
        >>> import actsearch
        >>> fx = FeatureExtractor(n_points=8, fisher=True, fisher_k=4)
        >>> fx.dim, fx(actsearch.parse("tanh(x)")).shape
        (20, (20,))
    """

    def __init__(self, n_points: int = 48, fisher: bool = False, fisher_k: int = 8, clip: float = DEFAULT_CLIP):
        self.n_points, self.fisher, self.fisher_k, self.clip = n_points, fisher, fisher_k, clip
        self._cache: dict[str, np.ndarray] = {}

    @property
    def dim(self) -> int:
        return 2 * self.n_points + (self.fisher_k if self.fisher else 0)

    def __call__(self, candidate: Candidate) -> np.ndarray:
        cached = self._cache.get(candidate.text)
        if cached is None:
            parts = [shape_features(candidate, self.n_points, self.clip)]
            if self.fisher:
                parts.append(fisher_spectrum(candidate, k=self.fisher_k, clip=self.clip))
            cached = np.concatenate(parts)
            cached.setflags(write=False)
            self._cache[candidate.text] = cached
        return cached

    def matrix(self, candidates) -> np.ndarray:
        """Stacked features, shape ``(len(candidates), dim)``."""
        if not candidates:
            return np.zeros((0, self.dim))
        return np.stack([self(c) for c in candidates])

    def __repr__(self) -> str:
        return f"FeatureExtractor(n_points={self.n_points}, fisher={self.fisher}, clip={self.clip})"

