"""What runs inside a Ray Tune trial: train one candidate on K seeds, report per epoch.

Kept free of Ray imports at module level except ``tune.report`` so the same function
runs without Ray in tests (``report`` injectable).
"""

from __future__ import annotations

import ctypes
import json
import math
import statistics
import threading
import time
from typing import Any, Callable

__all__ = ["evaluate", "trainable", "FAILED_SCORE", "screen", "kernel_ms"]

#: what Tune sees for a failed candidate (ASHA needs a number; the store keeps None)
FAILED_SCORE = -1e30

_TASKS: dict[str, Any] = {}

#: probe inputs of the pre-training screen, and the magnitude past which an output or
#: gradient counts as a pole/overflow (float32 training cannot recover from either)
_PROBE = (-10.0, 10.0, 2001)
_LIMIT = 1e8


class TrialTimeout(BaseException):
    """Raised inside the trial's thread at the deadline.  A BaseException so that a
    task's own ``except Exception`` (TrainLoop has one) does not swallow it."""


class _Deadline:
    """Raise :class:`TrialTimeout` in the calling thread after ``seconds``.

    Uses ``PyThreadState_SetAsyncExc``: the exception lands at the next Python
    bytecode of that thread, so it stops any training loop that returns to Python
    (every batch does), but not one blocked for ever inside a single C call.
    """

    def __init__(self, seconds: float | None):
        self.seconds = seconds
        self.thread = threading.get_ident()
        self.lock = threading.Lock()
        self.armed = False
        self.fired = False
        self.timer: threading.Timer | None = None

    def __enter__(self):
        if self.seconds:
            self.armed = True
            self.timer = threading.Timer(self.seconds, self._fire)
            self.timer.daemon = True
            self.timer.start()
        return self

    def _fire(self) -> None:
        with self.lock:
            if not self.armed:
                return
            self.fired = True
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self.thread), ctypes.py_object(TrialTimeout))

    def disarm(self) -> None:
        with self.lock:
            self.armed = False
        if self.timer is not None:
            self.timer.cancel()

    def __exit__(self, *exc):
        self.disarm()
        return False


def screen(candidate) -> str:
    """Why ``candidate`` should not be trained, or ``""``.

    Two checks, with the initial parameter values:

    * every denominator (a power with a negative exponent) is evaluated in float64 on
      20001 points of [-10, 10]; one that changes sign or comes within 1e-6 of zero
      there is a pole (rational version N, ``1/(x - c)``);
    * the eager module is evaluated on 2001 points of [-10, 10] with gradients; a
      non-finite output or gradient, or one above 1e8 in magnitude (an overflowing
      ``exp``/``pow``, a pole between grid points), rejects it.

    Example:
        >>> import actsearch
        >>> screen(actsearch.parse("exp(exp(x))"))
        'rejected before training: non-finite output at x=4.49'
        >>> screen(actsearch.parse("x/(1 + 0.3*x + 0.9*x**2 - 0.7*x**3)"))
        'rejected before training: a denominator crosses zero near x=1.904'
        >>> screen(actsearch.parse("x*tanh(x)"))
        ''
    """
    import torch

    from actsearch.compile import compile_candidate

    why = _pole(candidate)
    if why:
        return why
    module = compile_candidate(candidate, backend="eager")
    x = torch.linspace(*_PROBE, dtype=torch.float32).requires_grad_(True)
    at = x.detach()
    with torch.enable_grad():
        y = module(x)
        (grad,) = torch.autograd.grad(y.sum(), x, allow_unused=True)
    if grad is None:
        grad = torch.zeros_like(at)
    for what, values in (("output", y.detach()), ("gradient", grad)):
        bad = ~torch.isfinite(values)
        if bool(bad.any()):
            return f"rejected before training: non-finite {what} at x={float(at[bad.nonzero()[0, 0]]):.4g}"
        bad = values.abs() > _LIMIT
        if bool(bad.any()):
            return f"rejected before training: |{what}| > {_LIMIT:.0e} at x={float(at[bad.nonzero()[0, 0]]):.4g}"
    return ""


def _pole(candidate) -> str:
    import sympy
    import torch

    from actsearch._torch_eval import build_torch_fn
    from actsearch.expr import X

    x = torch.linspace(_PROBE[0], _PROBE[1], 20001, dtype=torch.float64)
    params = {k: torch.tensor(v, dtype=torch.float64) for k, v in candidate.params.items()}
    for node in sympy.preorder_traversal(candidate.expr):
        if not (isinstance(node, sympy.Pow) and node.exp.is_negative and node.base.has(X)):
            continue
        den = build_torch_fn(node.base)(x, params).expand_as(x)
        sign = torch.sign(den)
        flips = (sign[1:] * sign[:-1] < 0).nonzero()
        if len(flips):
            i = int(flips[0, 0])
            return f"rejected before training: a denominator crosses zero near x={float(x[i:i + 2].mean()):.4g}"
        small = (den.abs() < 1e-6).nonzero()
        if len(small):
            return f"rejected before training: a denominator is zero near x={float(x[int(small[0, 0])]):.4g}"
    return ""


def kernel_ms(module, shape=(64, 256), repeats: int = 20) -> float:
    """Median milliseconds of one forward + backward of ``module`` on a float32 tensor."""
    import torch

    x = torch.randn(*shape, dtype=torch.float32, requires_grad=True)
    times = []
    for i in range(repeats + 2):
        t0 = time.perf_counter()
        module(x).sum().backward()
        if i >= 2:  # the first calls pay for lazy initialisation
            times.append(time.perf_counter() - t0)
        x.grad = None
    return 1e3 * statistics.median(times)


def _failure(exc: BaseException) -> str:
    import torch

    message = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, (MemoryError, torch.OutOfMemoryError)) or "out of memory" in str(exc).lower():
        return f"out of memory ({message})"
    return message


def _task(name: str, options: dict):
    from actsearch.tasks import get_task

    key = json.dumps([name, options], sort_keys=True)
    if key not in _TASKS:  # a reused worker keeps its task and data in memory
        _TASKS[key] = get_task(name, **options)
    return _TASKS[key]


def evaluate(config: dict, report: Callable[[dict], None]) -> dict:
    """Train ``config["text"]`` on ``config["seeds"]`` seeds one after another.

    ``report(metrics)`` gets, after each epoch listed in ``config["report_steps"]``
    (default: every epoch) but the last, ``step`` (epochs done
    over all seeds so far), ``score`` (the metric at this epoch averaged over the seeds
    that reached it) and ``curves`` (JSON); it returns the final metrics dict, which
    has ``done`` and ``payload`` (JSON of the whole outcome) too.
    """
    import torch

    start = time.perf_counter()
    torch.set_num_threads(1)  # one core per worker: W workers on W cores do not oversubscribe
    epochs, seeds = int(config["epochs"]), [int(s) for s in config["seeds"]]
    total = epochs * len(seeds)
    report_steps = set(config.get("report_steps", range(1, total + 1)))
    curves: list[list[float]] = []
    seed_scores: list[float] = []
    learned: list = []
    status, message, train_time = "ok", "", 0.0
    setup, kms = 0.0, 0.0
    limit = config.get("trial_timeout") or None
    deadline = _Deadline(limit)
    try:
        with deadline:
            status, message, setup, kms, train_time = _run(
                config, report, start, total, report_steps, curves, seed_scores, learned, epochs, seeds)
            deadline.disarm()
    except TrialTimeout:
        status, message = "timeout", f"exceeded the per-candidate time limit of {limit:g} s"
    score = statistics.fmean(seed_scores) if status == "ok" and seed_scores else None
    if score is not None and not math.isfinite(score):
        status, message, score = "nan", "non-finite score", None
    payload = {
        "status": status, "score": score, "metric": getattr(_TASKS.get(json.dumps(
            [config["task"], config.get("task_options") or {}], sort_keys=True)), "metric", ""),
        "seed_scores": seed_scores,
        "spread": statistics.pstdev(seed_scores) if len(seed_scores) > 1 else 0.0,
        "curves": curves, "learned_params": learned, "message": message,
        "train_time": train_time, "setup_time": setup, "kernel_ms": kms,
        "wall_time": time.perf_counter() - start,
    }
    final = {"step": total, "score": score if score is not None else FAILED_SCORE,
             "curves": json.dumps(curves), "done": True, "payload": json.dumps(payload)}
    report(final)
    return final


def _run(config, report, start, total, report_steps, curves, seed_scores, learned, epochs, seeds):
    """Build, screen and train; returns (status, message, setup, kernel_ms, train_time)."""
    from actsearch.compile import compile_candidate
    from actsearch.expr import parse

    status, message, train_time, setup, kms = "ok", "", 0.0, 0.0, 0.0
    try:
        t0 = time.perf_counter()
        task = _task(config["task"], config.get("task_options") or {})
        cand = parse(config["text"], family=config.get("family", "custom"))
        backend = config.get("backend", "auto")
        module = compile_candidate(cand, backend=backend)  # compile (and check) once before timing
        if config.get("screen", True):
            message = screen(cand)
            if message:
                status = "nan"
        if status == "ok":
            kms = kernel_ms(module)
        setup = time.perf_counter() - t0
    except Exception as exc:  # noqa: BLE001 - a candidate that fails to build is a result
        status, message = "error", _failure(exc)
    if status == "ok":
        for i, seed in enumerate(seeds):
            curve: list[float] = []

            def on_epoch(epoch: int, metrics: dict, i=i, curve=curve) -> None:
                value = float(metrics[task.metric])
                curve.append(value)
                step = i * epochs + epoch
                if step >= total or step not in report_steps:
                    return  # reports cost ~15 ms each: only where the scheduler decides
                # the score's own rule (score_epochs) applied to every seed's curve cut at this epoch
                reached = [task.tail_score(c[:epoch]) for c in curves if len(c) >= epoch] + [task.tail_score(curve)]
                elapsed = time.perf_counter() - start
                report({"step": step, "score": statistics.fmean(reached),
                        "curves": json.dumps(curves + [curve]), "done": False,
                        "elapsed": elapsed, "setup_time": setup})

            try:
                out = task.train(lambda: compile_candidate(cand, backend=backend), epochs, seed, on_epoch)
            except Exception as exc:  # noqa: BLE001 - a user task that raises: a result, not a retry
                out = {"status": "error", "message": _failure(exc)}
            if out.get("status") == "error" and "out of memory" not in out.get("message", "").lower() \
                    and ("OutOfMemoryError" in out.get("message", "") or "MemoryError" in out.get("message", "")):
                out["message"] = f"out of memory ({out['message']})"
            run_curve = [float(v) for v in (out.get("curve") or curve)]
            curves.append(run_curve)
            if out.get("status") == "ok" and task.score_epochs > 1 and run_curve:
                # one rule for every task, a user's own included: the same one the rungs used
                out["score"] = task.tail_score(run_curve)
            train_time += float(out.get("train_time", 0.0))
            if i == 0:
                learned[:] = out.get("learned_params", [])
            if out.get("status") != "ok" or out.get("score") is None:
                status = out.get("status", "error")
                message = out.get("message", "") or f"seed {seed}: no score"
                break
            seed_scores.append(float(out["score"]))
    return status, message, setup, kms, train_time


def trainable(config: dict) -> None:
    """The Ray Tune function trainable."""
    from ray import tune

    evaluate(config, tune.report)
