"""Helpers shared by the built-in tasks: seeding, minibatches, accuracy, classifier training."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .base import Report, Task, TrainLoop, TrainResult, error_result, runtime_of

__all__ = ["seeded", "minibatches", "accuracy", "act_children", "train_classifier", "to_device"]


def seeded(seed: int) -> torch.Generator:
    """Seed torch's global RNG (weight init) and return a generator for data order."""
    torch.manual_seed(seed)
    gen = torch.Generator()
    gen.manual_seed(seed + 1_000_003)
    return gen


def to_device(data: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """The whole data set moved to ``device`` once, so batches never cross the bus."""
    return {k: v.to(device) for k, v in data.items()}


def minibatches(x: torch.Tensor, y: torch.Tensor, batch_size: int, gen: torch.Generator):
    """``batches(epoch)`` for :class:`~actsearch.tasks.base.TrainLoop`: a fresh shuffle each epoch.

    The order is drawn on the CPU from ``gen`` (the same order on every device) and
    moved to the data's device once per epoch."""

    def batches(epoch: int):
        order = torch.randperm(len(y), generator=gen).to(y.device)
        for i in range(0, len(y), batch_size):
            idx = order[i:i + batch_size]
            yield x[idx], y[idx]

    return batches


def accuracy(model, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    correct = 0
    for i in range(0, len(y), batch_size):
        correct += int((model(x[i:i + batch_size]).argmax(-1) == y[i:i + batch_size]).sum())
    return correct / len(y)


def act_children(model: nn.Module) -> list[nn.Module]:
    """The model's activation modules: its children named ``act...``, in order."""
    return [m for n, m in model.named_children() if n.startswith("act")]


def train_classifier(
    task: Task,
    build_model: Callable[[], nn.Module],
    activations: Callable[[nn.Module], list[nn.Module]],
    data: dict[str, torch.Tensor],
    *,
    lr: float,
    batch_size: int,
    budget: int | None,
    seed: int,
    report: Report | None,
    eval_batch_size: int = 1000,
    act_factory=None,
) -> TrainResult:
    """Adam on cross-entropy over ``data`` (x, y, x_test, y_test); test accuracy per epoch.

    Model and data live on ``runtime_of(act_factory)``'s device for the whole run."""
    runtime = runtime_of(act_factory)
    gen = seeded(seed)  # before the model is built: it seeds the weight init
    try:
        model = build_model().to(runtime.device)
    except Exception as exc:  # noqa: BLE001 - a candidate that cannot be built is a result
        return error_result(task, exc)
    data = to_device(data, runtime.device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    return TrainLoop(
        task, model, activations(model), opt,
        batches=minibatches(data["x"], data["y"], batch_size, gen),
        loss_fn=lambda m, x, y: nn.functional.cross_entropy(m(x), y),
        evaluate=lambda m: accuracy(m, data["x_test"], data["y_test"], batch_size=eval_batch_size),
        budget=int(budget or task.default_budget), report=report, runtime=runtime,
    ).run()
