"""The Task interface: train a model around an activation factory for a budget.

A task's :meth:`Task.train` returns a :class:`TrainResult`.  The activation factory
it is given is an :class:`ActivationFactory` during a search: calling it builds one
activation module, and its ``runtime`` says on which device and in which precision
to train (see :mod:`actsearch.devices`).  A plain callable (``torch.nn.ReLU``)
works too and means the CPU in float32.

Example:
    >>> import torch, actsearch
    >>> from actsearch.tasks import get_task
    >>> task = get_task("digits")
    >>> out = task.train(lambda: torch.nn.ReLU(), budget=1, seed=0)
    >>> out.status, 0.0 < out.score <= 1.0
    ('ok', True)
"""

from __future__ import annotations

import abc
import math
import numbers
import time
import traceback
import dataclasses
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable, Mapping

import torch
from torch import nn

from actsearch.devices import Runtime
from actsearch.errors import TaskError
from actsearch.scoring import SCORE_EPOCHS, tail_mean

__all__ = ["Task", "TrainLoop", "TrainResult", "ActivationFactory", "runtime_of", "learned_params", "Report",
           "MetricReport", "describe_failure", "error_result", "TRAIN_STATUSES"]

#: ``report(step, metrics)`` is called once per epoch (the runner forwards it to Ray Tune)
Report = Callable[[int, dict], None]

#: what one training run can end as (a search adds ``timeout`` and ``pruned``)
TRAIN_STATUSES = ("ok", "diverged", "nan", "error")

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


@dataclass
class TrainResult:
    """What one training run of one candidate on one seed returns.

    ``score`` is the value of ``metric`` (the task's ``mode`` says which way is better)
    and ``None`` unless ``status`` is ``ok``; ``curve`` is the metric per epoch, ``losses`` the mean training loss per epoch,
    ``learned_params`` one ``{name: value}`` per activation layer after training.
    """

    status: str = "ok"
    score: float | None = None
    metric: str = "val_accuracy"
    curve: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    learned_params: list[dict[str, float]] = field(default_factory=list)
    train_time: float = 0.0
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def coerce(cls, value: Any, metric: str = "score", where: str = "the task",
               reported: "MetricReport | None" = None) -> "TrainResult":
        """A :class:`TrainResult` from what a task returned, scored by ``metric``.

        ``value`` is a :class:`TrainResult` already, a number (the metric's final
        value) or a dict: the metric's key (or ``score``), optional ``status``, ``curve``,
        ``losses``, ``learned_params``, ``train_time``, ``message``, and any other keys.
        ``reported`` is what the task gave ``report()``: the metric's curve, and its
        last value when nothing else gives one (a built-in task's result of another
        metric is read from it too).  Anything else, or values of the wrong type,
        raise :class:`~actsearch.TaskError` naming what was wrong.
        """
        curve = list(reported.curve) if reported is not None else []
        if isinstance(value, cls):
            if value.metric == metric or value.status != "ok":
                return value
            if not curve:
                raise TaskError(_no_metric(where, metric, reported, value))
            return dataclasses.replace(value, metric=metric, curve=curve, score=curve[-1])
        if isinstance(value, numbers.Real) or (hasattr(value, "item") and getattr(value, "ndim", 1) == 0):
            value = {metric: value}
        if not isinstance(value, Mapping):
            raise TaskError(f"{where} returned {type(value).__name__}: a train function returns a number (its "
                            f"{metric!r}) or a dict with {metric!r}")
        score = value.get(metric, value.get("score"))
        status = value.get("status")
        if score is None and curve and status in (None, "ok"):
            score = curve[-1]
        if status is None:
            status = "ok" if score is not None else "error"
        if status not in TRAIN_STATUSES:
            raise TaskError(f"{where} returned status {status!r}; expected one of {', '.join(TRAIN_STATUSES)}")
        if status == "ok" and score is None:
            raise TaskError(_no_metric(where, metric, reported, value))
        out = cls(status=status, metric=metric, message=str(value.get("message") or ""))
        out.score = _number(score, metric, where, optional=status != "ok")
        if status == "error" and not out.message:
            out.message = _no_metric(where, metric, reported, value)
        out.curve = _numbers(value.get("curve"), "curve", where) if value.get("curve") is not None else curve
        out.losses = _numbers(value.get("losses"), "losses", where)
        out.train_time = _number(value.get("train_time", 0.0), "train_time", where, optional=True) or 0.0
        params = value.get("learned_params") or []
        if not isinstance(params, list) or not all(isinstance(p, Mapping) for p in params):
            raise TaskError(f"{where} returned learned_params that are not a list of dicts")
        out.learned_params = [{str(k): _number(v, f"learned_params[{k!r}]", where) for k, v in p.items()}
                              for p in params]
        if out.score is not None and not math.isfinite(out.score):
            out.status, out.score = "nan", None
            out.message = out.message or f"{where} returned a non-finite {metric}"
        return out


def _no_metric(where: str, metric: str, reported: "MetricReport | None", value: Any) -> str:
    """Why a run has no score: the metric was neither reported nor returned (what was)."""
    seen = ", ".join(sorted(reported.keys)) if reported is not None and reported.keys else "nothing"
    if isinstance(value, Mapping):
        returned = "a dict with " + (", ".join(sorted(map(str, value))) or "no keys")
    else:
        returned = f"a result of {getattr(value, 'metric', 'another metric')!r}"
    return (f"{where} returned no score: neither report() nor its result gave {metric!r} (report() gave: {seen}; "
            f"it returned {returned})")


class MetricReport:
    """The ``report(step, metrics)`` a task is given: keeps the curve of ``metric`` and
    every key reported, then passes the report on to ``forward``.

    Example:
        >>> seen = MetricReport("val_loss")
        >>> seen(1, {"val_loss": 0.5, "acc": 0.8}); seen(2, {"acc": 0.9})
        >>> seen.curve, sorted(seen.keys)
        ([0.5], ['acc', 'val_loss'])
    """

    def __init__(self, metric: str, forward: Report | None = None):
        self.metric, self.forward = metric, forward
        self.curve: list[float] = []
        self.keys: set[str] = set()

    def __call__(self, step: int, metrics: dict) -> None:
        if isinstance(metrics, Mapping):
            self.keys.update(map(str, metrics))
            if metrics.get(self.metric) is not None:
                self.curve.append(_number(metrics[self.metric], self.metric, "report()"))
        elif metrics is not None:
            raise TaskError(f"report() takes (epoch, a dict of metrics), not {type(metrics).__name__}")
        if self.forward is not None:
            self.forward(step, metrics)


def _number(value: Any, what: str, where: str, optional: bool = False) -> float | None:
    if value is None and optional:
        return None
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:  # a numpy or torch scalar
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TaskError(f"{where} returned {what} {value!r} ({type(value).__name__}), not a number")
    try:
        return float(value)
    except OverflowError:  # an int such as 10**400
        raise TaskError(f"{where} returned {what} too large for a float") from None


def _numbers(values: Any, what: str, where: str) -> list[float]:
    if values is None:
        return []
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise TaskError(f"{where} returned {what} {values!r}, not a list of numbers")
    return [_number(v, what, where) for v in values]


class ActivationFactory:
    """Builds a fresh activation module per call, and says where to train.

    Args:
        build: ``build() -> nn.Module``.
        runtime: the device and precision of this run.

    Example:
        >>> import torch
        >>> make = ActivationFactory(torch.nn.ReLU)
        >>> make(), make.runtime.describe()
        (ReLU(), 'cpu fp32')
    """

    def __init__(self, build: Callable[[], nn.Module], runtime: Runtime | None = None):
        self.build = build
        self.runtime = runtime or Runtime()

    def __call__(self) -> nn.Module:
        return self.build()

    def __repr__(self) -> str:
        return f"ActivationFactory({self.build!r}, runtime={self.runtime!r})"


def runtime_of(act_factory: Any) -> Runtime:
    """The factory's :class:`~actsearch.devices.Runtime`; CPU float32 for a plain callable."""
    runtime = getattr(act_factory, "runtime", None)
    return runtime if isinstance(runtime, Runtime) else Runtime()


class Task(abc.ABC):
    """A scoring task.

    Subclasses set ``name``, ``metric`` and ``mode`` (``max``: higher is better, the
    default; ``min``), ``default_budget`` (the
    search's default number of epochs) and ``full_budget`` (epochs for a reference
    run), and implement :meth:`train`.

    ``score_epochs`` (the task option of that name, default
    :data:`actsearch.scoring.SCORE_EPOCHS`) is how many of the last epochs the score
    averages, each seed on its own (see :meth:`tail_score`): a function whose
    accuracy swings from epoch to epoch is not ranked by one lucky epoch.  1 scores
    the last epoch, as the published recipes do.
    """

    name: str = ""
    metric: str = "val_accuracy"
    mode: str = "max"
    default_budget: int = 10
    full_budget: int = 10
    score_epochs: int = SCORE_EPOCHS

    def __init__(self, **options: Any):
        self.options = dict(options)

    def with_metric(self, metric: str) -> "Task":
        """This task, scored by ``metric``.  A built-in task reports its own metric and
        ``train_loss`` whatever it is scored by (the search reads the one it names from
        the reports); a user's train function returns what the search names."""
        return self

    def tail_score(self, curve: list[float]) -> float:
        """The mean of the last :attr:`score_epochs` values of ``curve`` (all of them
        when the curve is shorter)."""
        return tail_mean(curve, self.score_epochs)

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
              seed: int = 0, report: Report | None = None) -> TrainResult:
        """Train for ``budget`` epochs on ``runtime_of(act_factory)``'s device and
        precision; the :class:`TrainResult`'s ``score`` is the mean of the last
        :attr:`score_epochs` epochs' ``metric`` (by default the last epoch's)."""

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
    ``(inputs, targets)`` already on the device; ``loss_fn(model, x, y)`` returns a
    scalar loss; ``evaluate(model)`` returns the metric value (higher is better).
    The model is moved to ``runtime.device``, and its forward pass and loss run under
    ``runtime.autocast()``.

    The divergence rule reads every batch's loss.  On a CPU it is read before the
    batch's optimiser step; on a GPU the losses of an epoch are read together at its
    end, so training does not wait for the device after every step (the status and
    epoch reported are the same; the rest of a failing epoch is wasted work).
    """

    def __init__(self, task: Task, model: nn.Module, acts: list[nn.Module], optimizer,
                 batches, loss_fn, evaluate, budget: int, report: Report | None, runtime: Runtime | None = None):
        self.task, self.model, self.acts, self.optimizer = task, model, acts, optimizer
        self.batches, self.loss_fn, self.evaluate = batches, loss_fn, evaluate
        self.budget, self.report = budget, report
        self.runtime = runtime or Runtime()

    def run(self) -> TrainResult:
        start = time.perf_counter()
        curve: list[float] = []
        losses: list[float] = []
        status, message = "ok", ""
        rt = self.runtime
        every_batch = rt.device.type == "cpu"  # reading a loss costs nothing there
        self._first: float | None = None
        try:
            self.model.to(rt.device)
            for epoch in range(self.budget):
                self.model.train()
                pending: list[tuple[torch.Tensor, int]] = []
                total, count = 0.0, 0
                for x, y in self.batches(epoch):
                    with rt.autocast():
                        loss = self.loss_fn(self.model, x, y)
                    pending.append((loss.detach().float(), len(y)))
                    if every_batch:
                        t, c = self._check(pending, epoch)
                        total, count = total + t, count + c
                    self.optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    self.optimizer.step()
                t, c = self._check(pending, epoch)
                total, count = total + t, count + c
                self.model.eval()
                with torch.no_grad(), rt.autocast():
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
            status, message = "error", describe_failure(exc)
        return TrainResult(
            status=status,
            score=self.task.tail_score(curve) if status == "ok" and curve else None,
            metric=self.task.metric,
            curve=curve,
            losses=losses,
            learned_params=learned_params(self.acts),
            train_time=time.perf_counter() - start,
            message=message,
        )

    def _check(self, pending: list[tuple[torch.Tensor, int]], epoch: int) -> tuple[float, int]:
        """Read the pending losses in order (one device sync), apply the divergence rule,
        and return their sum weighted by batch size and the number of samples."""
        if not pending:
            return 0.0, 0
        values = torch.stack([v for v, _ in pending]).tolist()
        sizes = [n for _, n in pending]
        pending.clear()
        total = 0.0
        for value, n in zip(values, sizes):
            if not math.isfinite(value):
                raise _Stop("nan", f"non-finite training loss at epoch {epoch + 1}")
            if self._first is None:
                self._first = value
            if value > _LOSS_LIMIT or value > _BLOWUP * max(self._first, 1e-3) + 1.0:
                raise _Stop("diverged", f"training loss exploded to {value:.3g} at epoch {epoch + 1}")
            total += value * n
        return total, sum(sizes)


def describe_failure(exc: BaseException, where: bool = True) -> str:
    """``Type: message`` of an exception a candidate's training raised, with the line
    it came from (``where``), marked ``out of memory (...)`` when it is one."""
    message = f"{type(exc).__name__}: {exc}"
    tb = traceback.extract_tb(exc.__traceback__) if where else None
    if tb:
        message += f" (at {tb[-1].name}:{tb[-1].lineno})"
    if isinstance(exc, (MemoryError, torch.OutOfMemoryError)) or "out of memory" in str(exc).lower():
        return f"out of memory ({message})"
    return message


def error_result(task: Task, exc: BaseException) -> TrainResult:
    """The result of a candidate whose model could not even be built."""
    return TrainResult(status="error", metric=task.metric, message=describe_failure(exc))


class _Stop(Exception):
    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status, self.message = status, message
