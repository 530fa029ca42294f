"""The Task interface: train a model around an activation factory for a budget.

Example:
    >>> import torch, actsearch
    >>> from actsearch.tasks import get_task
    >>> task = get_task("digits")
    >>> out = task.train(lambda: torch.nn.ReLU(), budget=1, seed=0)
    >>> out["status"], 0.0 < out["score"] <= 1.0
    ('ok', True)
"""

from __future__ import annotations

import abc
import math
import time
import traceback
from typing import Any, Callable, Iterable

import torch
from torch import nn

__all__ = ["Task", "TrainLoop", "learned_params", "Report", "error_result"]

#: ``report(step, metrics)`` is called once per epoch (the runner forwards it to Ray Tune)
Report = Callable[[int, dict], None]

#: loss above this, or above ``_BLOWUP`` times the first epoch's loss, counts as diverged
_LOSS_LIMIT = 1e4
_BLOWUP = 10.0


def learned_params(acts: Iterable[nn.Module]) -> list[dict[str, float]]:
    """One ``{name: value}`` dict per activation module, scalars only, in layer order."""
    out = []
    for act in acts:
        values = {}
        for name, p in act.named_parameters():
            if p.numel() == 1:
                values[name.split(".")[-1] if name.startswith("params.") else name] = float(p.detach())
        out.append(values)
    return out


class Task(abc.ABC):
    """A scoring task.

    Subclasses set ``name``, ``metric`` (higher is better), ``default_budget`` (the
    search's default number of epochs) and ``full_budget`` (epochs for a reference
    run), and implement :meth:`train`.

    ``score_epochs`` (the task option of that name, default 1) is how many of the
    last epochs the score averages: 1 scores the last epoch, as the published
    recipes do; more smooths out activations whose accuracy swings from epoch to
    epoch (see :meth:`tail_score`).
    """

    name: str = ""
    metric: str = "val_accuracy"
    default_budget: int = 10
    full_budget: int = 10
    score_epochs: int = 1

    def __init__(self, **options: Any):
        self.options = dict(options)

    def tail_score(self, curve: list[float]) -> float:
        """The mean of the last :attr:`score_epochs` values of ``curve`` (all of them
        when the curve is shorter)."""
        tail = curve[-max(1, int(self.score_epochs)):]
        return sum(tail) / len(tail)

    def _keep_options(self, **values: Any) -> None:
        """Add the settings that differ from ``__init__``'s defaults to :attr:`options`:
        they enter :attr:`spec`, so a result trained with other settings (another
        learning rate, another data sample) is never reused for this task."""
        import inspect

        params = inspect.signature(type(self).__init__).parameters
        for key, value in values.items():
            default = params[key].default if key in params else inspect.Parameter.empty
            if value != default:
                self.options[key] = value

    @abc.abstractmethod
    def train(self, act_factory: Callable[[], nn.Module], budget: int | None = None,
              seed: int = 0, report: Report | None = None) -> dict:
        """Train for ``budget`` epochs and return a dict with at least ``status``,
        ``score`` (the mean of the last :attr:`score_epochs` epochs' ``metric``, by default
        the last epoch's; ``None`` unless ok), ``curve`` (metric per
        epoch), ``losses`` (train loss per epoch), ``learned_params`` (per layer),
        ``train_time`` (seconds) and ``message``."""

    @property
    def spec(self) -> str:
        """Name plus options: what results are matched on for de-duplication."""
        if not self.options:
            return self.name
        opts = ",".join(f"{k}={self.options[k]}" for k in sorted(self.options))
        return f"{self.name}({opts})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r})"


class TrainLoop:
    """Shared epoch loop: minibatch training with divergence/NaN detection.

    ``model`` holds the activation modules in ``acts``; ``batches(epoch)`` yields
    ``(inputs, targets)``; ``loss_fn(model, x, y)`` returns a scalar loss;
    ``evaluate(model)`` returns the metric value (higher is better).
    """

    def __init__(self, task: Task, model: nn.Module, acts: list[nn.Module], optimizer,
                 batches, loss_fn, evaluate, budget: int, report: Report | None):
        self.task, self.model, self.acts, self.optimizer = task, model, acts, optimizer
        self.batches, self.loss_fn, self.evaluate = batches, loss_fn, evaluate
        self.budget, self.report = budget, report

    def run(self) -> dict:
        start = time.perf_counter()
        curve: list[float] = []
        losses: list[float] = []
        status, message = "ok", ""
        first_loss = None
        try:
            for epoch in range(self.budget):
                self.model.train()
                total, count = 0.0, 0
                for x, y in self.batches(epoch):
                    loss = self.loss_fn(self.model, x, y)
                    value = float(loss.detach())
                    if not math.isfinite(value):
                        raise _Stop("nan", f"non-finite training loss at epoch {epoch + 1}")
                    if first_loss is None:
                        first_loss = value
                    if value > _LOSS_LIMIT or value > _BLOWUP * max(first_loss, 1e-3) + 1.0:
                        raise _Stop("diverged", f"training loss exploded to {value:.3g} at epoch {epoch + 1}")
                    self.optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    self.optimizer.step()
                    total += value * len(y)
                    count += len(y)
                self.model.eval()
                with torch.no_grad():
                    metric = float(self.evaluate(self.model))
                if not math.isfinite(metric):
                    raise _Stop("nan", f"non-finite validation {self.task.metric} at epoch {epoch + 1}")
                curve.append(metric)
                losses.append(total / max(count, 1))
                if self.report is not None:
                    self.report(epoch + 1, {self.task.metric: metric, "train_loss": losses[-1]})
        except _Stop as stop:
            status, message = stop.status, stop.message
        except Exception as exc:  # noqa: BLE001 - a crashing candidate is a result, not a crash
            status, message = "error", _describe(exc)
        return {
            "status": status,
            "score": self.task.tail_score(curve) if status == "ok" and curve else None,
            "metric": self.task.metric,
            "curve": curve,
            "losses": losses,
            "learned_params": learned_params(self.acts),
            "train_time": time.perf_counter() - start,
            "message": message,
        }


def _describe(exc: BaseException) -> str:
    message = f"{type(exc).__name__}: {exc}"
    tb = traceback.extract_tb(exc.__traceback__)
    if tb:
        message += f" (at {tb[-1].name}:{tb[-1].lineno})"
    return message


def error_result(task: Task, exc: BaseException) -> dict:
    """The result of a candidate whose model could not even be built."""
    return {"status": "error", "score": None, "metric": task.metric, "curve": [], "losses": [],
            "learned_params": [], "train_time": 0.0, "message": _describe(exc)}


class _Stop(Exception):
    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status, self.message = status, message
