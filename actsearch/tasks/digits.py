"""``digits``: scikit-learn's bundled 8x8 digits (1797 images) with a small CNN.

The split is fixed (seeded shuffle, 1437 train / 360 validation); pixels are scaled
to [0, 1].  Adam, lr 3e-3, batch 64.

Example:
    >>> import torch
    >>> from actsearch.tasks import get_task
    >>> get_task("digits").train(torch.nn.ReLU, budget=1, seed=0).status
    'ok'
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ._common import act_children, train_classifier
from ._data import cached_arrays
from .base import Task

__all__ = ["DigitsCNN", "SmallCNN", "load_digits"]


def _build() -> dict[str, np.ndarray]:
    from sklearn.datasets import load_digits as sk_load

    data = sk_load()
    x = (data.images / 16.0).astype(np.float32)[:, None]
    y = data.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(y))
    x, y = x[order], y[order]
    split = int(0.8 * len(y))
    return {"x": x[:split], "y": y[:split], "x_test": x[split:], "y_test": y[split:]}


def load_digits() -> dict[str, torch.Tensor]:
    """``x (1437, 1, 8, 8)``, ``y``, ``x_test (360, 1, 8, 8)``, ``y_test``."""
    return {k: torch.from_numpy(v) for k, v in cached_arrays("digits", _build).items()}


class SmallCNN(nn.Module):
    """conv3x3(16) -> act -> conv3x3(32, stride 2) -> act -> linear(64) -> act -> linear(10).

    Shape: ``(N, 1, 8, 8) -> (N, 10)``.
    """

    def __init__(self, act_factory, classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.fc1 = nn.Linear(32 * 4 * 4, 64)
        self.fc2 = nn.Linear(64, classes)
        self.act1, self.act2, self.act3 = act_factory(), act_factory(), act_factory()

    def forward(self, x):
        h = self.act1(self.conv1(x))
        h = self.act2(self.conv2(h))
        h = self.act3(self.fc1(h.flatten(1)))
        return self.fc2(h)


class DigitsCNN(Task):
    name = "digits"
    metric = "val_accuracy"
    default_budget = 5
    full_budget = 20

    def __init__(self, lr: float = 3e-3, batch_size: int = 64):
        super().__init__()
        self.lr, self.batch_size = float(lr), int(batch_size)
        self._keep_options(lr=self.lr, batch_size=self.batch_size)

    def train(self, act_factory, budget=None, seed=0, report=None):
        return train_classifier(
            self, lambda: SmallCNN(act_factory), act_children, load_digits(),
            lr=self.lr, batch_size=self.batch_size, budget=budget, seed=seed, report=report,
            act_factory=act_factory,
        )
