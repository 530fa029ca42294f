"""Helpers shared by the built-in tasks: seeding, minibatches, accuracy."""

from __future__ import annotations

import torch

__all__ = ["seeded", "minibatches", "accuracy"]


def seeded(seed: int) -> torch.Generator:
    """Seed torch's global RNG (weight init) and return a generator for data order."""
    torch.manual_seed(seed)
    gen = torch.Generator()
    gen.manual_seed(seed + 1_000_003)
    return gen


def minibatches(x: torch.Tensor, y: torch.Tensor, batch_size: int, gen: torch.Generator):
    """``batches(epoch)`` for :class:`~actsearch.tasks.base.TrainLoop`: a fresh shuffle each epoch."""

    def batches(epoch: int):
        order = torch.randperm(len(y), generator=gen)
        for i in range(0, len(y), batch_size):
            idx = order[i:i + batch_size]
            yield x[idx], y[idx]

    return batches


def accuracy(model, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    correct = 0
    for i in range(0, len(y), batch_size):
        correct += int((model(x[i:i + batch_size]).argmax(-1) == y[i:i + batch_size]).sum())
    return correct / len(y)
