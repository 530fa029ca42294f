"""MNIST-1D tasks (Greydanus 2020): the authors' MLP and CNN around a candidate.

The data (5000 samples, 4000 train / 1000 test, 40 features) is generated offline by
``mnist1d.data.make_dataset`` with the package's default arguments and cached as
``mnist1d.npz``.  The task option ``data_seed`` generates another sample of the same
distribution (``mnist1d-seed<N>.npz``): new training and test sets, for checking a
winner on data that played no part in picking it
(``actsearch confirm NAME --task-option data_seed=1``).  Training follows the authors' recipe: Adam, lr 1e-2, batch 100;
their 6000 steps are 150 epochs (``full_budget``).  The published test accuracies
are about 68% (MLP) and 94% (CNN).

Example:
    >>> import torch
    >>> from actsearch.tasks import get_task
    >>> out = get_task("mnist1d-mlp").train(torch.nn.ReLU, budget=1, seed=0)
    >>> out.status, len(out.curve)
    ('ok', 1)
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ._common import act_children, train_classifier
from ._data import cached_arrays
from .base import Task

__all__ = ["MNIST1DMLP", "MNIST1DCNN", "MLP", "CNN", "load_mnist1d"]


def _build(data_seed: int | None = None) -> dict[str, np.ndarray]:
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    if data_seed is not None:
        args.seed = int(data_seed)
    data = make_dataset(args)  # offline: never downloads
    return {
        "x": data["x"].astype(np.float32), "y": data["y"].astype(np.int64),
        "x_test": data["x_test"].astype(np.float32), "y_test": data["y_test"].astype(np.int64),
    }


def load_mnist1d(data_seed: int | None = None) -> dict[str, torch.Tensor]:
    """``x (4000, 40)``, ``y (4000,)``, ``x_test (1000, 40)``, ``y_test (1000,)``: the
    package's dataset, or with ``data_seed`` another sample generated the same way."""
    name = "mnist1d" if data_seed is None else f"mnist1d-seed{int(data_seed)}"
    return {k: torch.from_numpy(v) for k, v in cached_arrays(name, lambda: _build(data_seed)).items()}


class MLP(nn.Module):
    """The MNIST-1D authors' MLP: 40 -> 100 -> 100 (residual) -> 10.

    Shape: ``(N, 40) -> (N, 10)``.
    """

    def __init__(self, act_factory, input_size: int = 40, hidden: int = 100, classes: int = 10):
        super().__init__()
        self.linear1 = nn.Linear(input_size, hidden)
        self.linear2 = nn.Linear(hidden, hidden)
        self.linear3 = nn.Linear(hidden, classes)
        self.act1, self.act2 = act_factory(), act_factory()

    def forward(self, x):
        h = self.act1(self.linear1(x))
        h = h + self.act2(self.linear2(h))
        return self.linear3(h)


class CNN(nn.Module):
    """The MNIST-1D authors' CNN: three Conv1d layers of 25 channels, then linear.

    Shape: ``(N, 40) -> (N, 10)``.
    """

    def __init__(self, act_factory, channels: int = 25, classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv1d(1, channels, 5, stride=2, padding=1)
        self.conv2 = nn.Conv1d(channels, channels, 3, stride=2, padding=1)
        self.conv3 = nn.Conv1d(channels, channels, 3, stride=2, padding=1)
        self.linear = nn.Linear(channels * 5, classes)
        self.act1, self.act2, self.act3 = act_factory(), act_factory(), act_factory()

    def forward(self, x):
        h = x.view(-1, 1, x.shape[-1])
        h = self.act1(self.conv1(h))
        h = self.act2(self.conv2(h))
        h = self.act3(self.conv3(h))
        return self.linear(h.flatten(1))


class _MNIST1DTask(Task):
    metric = "val_accuracy"
    full_budget = 150
    model_cls: type = MLP

    def __init__(self, lr: float = 1e-2, batch_size: int = 100, data_seed: int | None = None):
        super().__init__()
        self.lr, self.batch_size = float(lr), int(batch_size)
        self.data_seed = None if data_seed in (None, "") else int(data_seed)
        if self.data_seed is not None and not 0 <= self.data_seed < 2**32:
            raise ValueError(f"data_seed must be between 0 and 2**32 - 1, not {self.data_seed}")
        self._keep_options(lr=self.lr, batch_size=self.batch_size, data_seed=self.data_seed)

    def train(self, act_factory, budget=None, seed=0, report=None):
        return train_classifier(
            self, lambda: self.model_cls(act_factory), act_children, load_mnist1d(self.data_seed),
            lr=self.lr, batch_size=self.batch_size, budget=budget, seed=seed, report=report,
            act_factory=act_factory,
        )


class MNIST1DMLP(_MNIST1DTask):
    """``mnist1d-mlp``: the default task."""

    name = "mnist1d-mlp"
    default_budget = 60
    model_cls = MLP


class MNIST1DCNN(_MNIST1DTask):
    """``mnist1d-cnn``."""

    name = "mnist1d-cnn"
    default_budget = 30
    model_cls = CNN
