"""``check_task``: does a scoring task keep the contract a search's workers rely on?

A worker builds the task from its name and options, calls
``task.train(act_factory, budget, seed, report)`` once per seed and records the
:class:`~actsearch.tasks.TrainResult`.  Checked, for a ``budget``-epoch run with
a learnable activation (CRReLU, ``eps = 0.01``) on the CPU:

1. the task has a ``name``, a ``metric``, whole budgets and a ``spec`` naming it;
2. ``train`` builds its activations with ``act_factory`` and returns a
   ``TrainResult`` with status ``ok``, a finite score equal to the task's
   ``tail_score`` of the curve, one finite curve value per epoch, and the metric;
3. ``report(epoch, metrics)`` is called once per epoch, in order, with the curve's
   value under the task's metric name (what ASHA stops trials on);
4. the activation's parameters are trained: one ``learned_params`` entry per
   activation built, with values that moved (tasks that report none are not checked);
5. the same seed gives the same curve (``deterministic=False`` skips it);
6. an activation that outputs NaN gives a failed result (``nan``, ``diverged`` or
   ``error``, no score), not an exception.

Example:
    >>> from actsearch.testing import check_task
    >>> check_task("digits")  # about a second per epoch on a CPU
"""

from __future__ import annotations

import math

import torch

import actsearch
from actsearch.tasks import ActivationFactory, Task, TrainResult, get_task

from ._common import Checker

__all__ = ["check_task"]

_FAILED = ("nan", "diverged", "error")


class _NaNActivation(torch.nn.Module):
    def forward(self, x):
        return x * float("nan")


def check_task(task, *, budget: int = 1, seed: int = 0, deterministic: bool = True) -> None:
    """Raise ``AssertionError`` naming the task and the check that fails.

    Args:
        task: a :class:`~actsearch.tasks.Task`, or a name :func:`~actsearch.tasks.get_task` accepts.
        budget: epochs of each training run (keep it small: the task trains 2-3 times).
        seed: the seed of the runs.
        deterministic: check that the same seed gives the same curve.
    """
    if isinstance(task, str):
        task = get_task(task)
    chk = Checker(f"task {getattr(task, 'name', '') or type(task).__name__!r}")
    chk.expect(isinstance(task, Task), f"is a {type(task).__name__}, not an actsearch.tasks.Task")
    _check_attributes(chk, task)
    first, layers = _train(chk, task, budget, seed)
    _check_result(chk, task, first, budget, layers)
    if deterministic:
        again, _ = _train(chk, task, budget, seed)
        chk.expect(again.curve == first.curve, f"seed {seed} gave curve {again.curve}, then {first.curve}")
    _check_failure(chk, task, seed)


def _check_attributes(chk: Checker, task) -> None:
    chk.expect(isinstance(task.name, str) and bool(task.name), f"has no name (got {task.name!r})")
    chk.expect(isinstance(task.metric, str) and bool(task.metric), f"has no metric name (got {task.metric!r})")
    for attr in ("default_budget", "full_budget", "score_epochs"):
        value = getattr(task, attr, None)
        chk.expect(isinstance(value, int) and value >= 1, f"{attr} is {value!r}, not a whole number >= 1")
    chk.expect(isinstance(task.options, dict), f"options is a {type(task.options).__name__}, not a dict")
    chk.expect(isinstance(task.spec, str) and task.spec.startswith(task.name), f"spec {task.spec!r} does not name it")


def _train(chk: Checker, task, budget: int, seed: int):
    crrelu = actsearch.preset("crrelu")
    built: list[torch.nn.Module] = []

    def build():
        built.append(crrelu.module())
        return built[-1]

    reports: list[tuple[int, dict]] = []
    out = chk.call("train()", task.train, ActivationFactory(build), budget, seed,
                   lambda step, metrics: reports.append((step, dict(metrics))))
    chk.expect(isinstance(out, TrainResult), f"train() returned a {type(out).__name__}, not a TrainResult")
    chk.expect(out.status == "ok", f"train() with CRReLU ended {out.status!r}: {out.message}")
    chk.expect(bool(built), "train() never called act_factory: the candidate is not in the model")
    steps = [s for s, _ in reports]
    chk.expect(steps == list(range(1, budget + 1)), f"report() was called for epochs {steps}, not 1..{budget}")
    for (step, metrics), value in zip(reports, out.curve):
        chk.expect(metrics.get(task.metric) == value,
                   f"report() at epoch {step} gave {task.metric}={metrics.get(task.metric)!r}, the curve {value!r}")
    return out, built


def _check_result(chk: Checker, task, out, budget: int, layers) -> None:
    chk.expect(out.metric == task.metric, f"the result's metric is {out.metric!r}, not {task.metric!r}")
    chk.expect(len(out.curve) == budget and all(math.isfinite(v) for v in out.curve),
               f"curve {out.curve} is not {budget} finite value(s)")
    chk.expect(out.score is not None and math.isfinite(out.score), f"score {out.score!r} is not a finite number")
    chk.expect(out.score == task.tail_score(out.curve),
               f"score {out.score} is not the tail score {task.tail_score(out.curve)} of the curve")
    if not out.learned_params:
        return
    chk.expect(len(out.learned_params) == len(layers),
               f"{len(out.learned_params)} learned_params entries for {len(layers)} activation(s) built")
    moved = any(abs(layer.get("eps", 0.01) - 0.01) > 0 for layer in out.learned_params)
    chk.expect(moved, "the activation's parameter eps stayed at 0.01 in every layer: it is not trained")


def _check_failure(chk: Checker, task, seed: int) -> None:
    out = chk.call("train() with an activation that outputs NaN", task.train, ActivationFactory(_NaNActivation),
                   1, seed, None)
    chk.expect(out.status in _FAILED and out.score is None,
               f"an activation that outputs NaN ended {out.status!r} with score {out.score!r}, "
               f"not one of {', '.join(_FAILED)} without a score")
