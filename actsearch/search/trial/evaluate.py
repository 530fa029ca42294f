"""What runs inside a trial: train one candidate on K seeds, report after epochs.

:func:`evaluate` takes a :class:`~actsearch.search.trial.messages.TrialSpec` and returns the
:class:`~actsearch.result.Result`; it needs neither Ray nor Optuna, so the same
function runs in tests and in ``benchmarks/gpu.py`` on machines that have only torch
and triton.

On the worker, the spec's device is resolved (``cuda`` is the GPU Ray assigned to
the trial), the candidate is compiled for that device (``--backend auto``: Triton on
CUDA, eager on a CPU; the pre-use check runs on the device) and the task trains
there, data resident on the device, in the spec's precision.

In a search, the trial does not train in the Ray worker itself: the worker hands the
spec to a child process it can kill (:mod:`actsearch.search.trial.supervisor`), which
runs :func:`run_steps` there.  Run on its own, :func:`evaluate` stops a trial at
``trial_timeout`` with an exception raised in its thread (:class:`AsyncRaise`), which
a task blocked in C or one that swallows every exception can defeat; the supervisor's
kill cannot be defeated.

torch, the compiler and the tasks are imported inside the functions that use them:
the Ray worker imports this module (through the supervisor) and never trains, so it
stays without them.
"""

from __future__ import annotations

import ctypes
import json
import math
import statistics
import threading
import time
from typing import Any, Callable

from actsearch.result import Result

from .messages import TrialProgress, TrialSpec

__all__ = ["evaluate", "run_steps", "screen", "kernel_ms", "failed_result", "failure_message", "timeout_message",
           "preload", "rejected_before_training", "REJECTED", "AsyncRaise", "TrialTimeout", "TrialStopped"]

_TASKS: dict[str, Any] = {}

#: probe inputs of the pre-training screen, and the magnitude past which an output or
#: gradient counts as a pole/overflow (float32 training cannot recover from either)
_PROBE = (-10.0, 10.0, 2001)
_LIMIT = 1e8
#: how every message of :func:`screen` starts
REJECTED = "rejected before training"
#: seconds after which a trial reports its next epoch even where the scheduler does not
#: decide: the progress display and the store's intermediate values follow it that often
PROGRESS_EVERY = 2.0


class TrialTimeout(BaseException):
    """Raised inside the trial's thread at the deadline.  A BaseException so that a
    task's own ``except Exception`` (TrainLoop has one) does not swallow it."""


class TrialStopped(BaseException):
    """Raised inside a supervised trial's thread when the scheduler stopped the trial
    (nobody waits for its result any more)."""


class AsyncRaise:
    """Raise ``exc`` in the thread that made this object: on :meth:`fire`, or after
    ``seconds``; only while armed (inside ``with``).

    Uses ``PyThreadState_SetAsyncExc``: the exception lands at the next Python
    bytecode of that thread, so it stops any training loop that returns to Python
    (every batch does), but not one blocked for ever inside a single C call.  Leaving
    the ``with`` block clears an exception fired but not yet raised.
    """

    def __init__(self, exc: type[BaseException], seconds: float | None = None):
        self.exc, self.seconds = exc, seconds
        self.thread = threading.get_ident()
        self.lock = threading.Lock()
        self.armed = False
        self.timer: threading.Timer | None = None

    def __enter__(self):
        self.armed = True
        if self.seconds:
            self.timer = threading.Timer(self.seconds, self.fire)
            self.timer.daemon = True
            self.timer.start()
        return self

    def fire(self) -> None:
        with self.lock:
            if self.armed:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self.thread), ctypes.py_object(self.exc))

    def disarm(self) -> None:
        with self.lock:
            if self.armed:
                self.armed = False
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self.thread), None)  # a pending one
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

    why = _pole(candidate)
    if why:
        return why
    module = candidate.module()
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
            return f"{REJECTED}: non-finite {what} at x={float(at[bad.nonzero()[0, 0]]):.4g}"
        bad = values.abs() > _LIMIT
        if bool(bad.any()):
            return f"{REJECTED}: |{what}| > {_LIMIT:.0e} at x={float(at[bad.nonzero()[0, 0]]):.4g}"
    return ""


def rejected_before_training(result) -> bool:
    """Whether ``result`` records a candidate the screen rejected: nothing was trained."""
    return result.status == "nan" and (result.message or "").startswith(REJECTED)


def _pole(candidate) -> str:
    import sympy
    import torch

    from actsearch.symbolic.torch_eval import build_torch_fn
    from actsearch.symbolic.expr import X

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
            return f"{REJECTED}: a denominator crosses zero near x={float(x[i:i + 2].mean()):.4g}"
        small = (den.abs() < 1e-6).nonzero()
        if len(small):
            return f"{REJECTED}: a denominator is zero near x={float(x[int(small[0, 0])]):.4g}"
    return ""


def kernel_ms(module, device="cpu", dtype=None, shape=None, repeats: int = 20) -> float:
    """Median milliseconds of one forward + backward of ``module`` on ``device``.

    The input is ``shape`` (default 64x256 on a CPU, 4096x1024 on a GPU, where a
    small tensor would time only the launch) in ``dtype`` (default float32); two
    warm-up calls pay for lazy initialisation, and a GPU is timed with CUDA events
    (:func:`actsearch.compile._bench.median_time`).
    """
    import torch

    from actsearch.compile._bench import median_time

    device = torch.device(device)
    shape = shape or ((64, 256) if device.type == "cpu" else (4096, 1024))
    module = module.to(device)
    x = torch.randn(*shape, device=device, dtype=dtype or torch.float32, requires_grad=True)

    def step():
        x.grad = None
        module(x).sum().backward()

    seconds = median_time(step, repeats, device, warmup=2)
    x.grad = None
    for p in module.parameters():
        p.grad = None
    return 1e3 * seconds


def preload() -> None:
    """Import what every trial needs (torch, sympy, the compiler, the tasks): a process
    that trains calls it once, so that no trial's time limit pays for the imports."""
    import torch  # noqa: F401

    from actsearch.compile import compile_candidate  # noqa: F401
    from actsearch.devices import Runtime  # noqa: F401
    from actsearch.symbolic.expr import parse  # noqa: F401
    from actsearch.tasks import ActivationFactory  # noqa: F401


def failure_message(exc: BaseException) -> str:
    """What a trial's exception is recorded as (the task's own frames, not ours)."""
    from actsearch.tasks.base import describe_failure

    return describe_failure(exc, where=False)


def _task_hint(task: str) -> str:
    # the driver built this task before handing the trial out: a worker that cannot is set up otherwise
    if ":" in task:
        return (" (it loads here, so the workers' environment differs: ship its folder with --working-dir "
                "DIR or its package with --py-module PATH)")
    return " (it loads here: install actsearch and the task's dependencies alike on every node)"


def _task(name: str, options: dict):
    from actsearch.tasks import get_task

    key = json.dumps([name, options], sort_keys=True)
    if key not in _TASKS:  # a reused worker keeps its task and data in memory
        _TASKS[key] = get_task(name, **options)
    return _TASKS[key]


class _Run:
    """The state of one trial while it trains: filled in by :meth:`build` and :meth:`train`."""

    def __init__(self, spec: TrialSpec, report: Callable[[TrialProgress], None] | None):
        self.spec, self.report = spec, report
        self.start = self.last_report = time.perf_counter()
        self.status, self.message = "ok", ""
        #: why no trial of this spec can run here ("" if one can): the task does not load, the
        #: device is missing; this worker's environment, not the candidate
        self.env_error = ""
        self.curves: list[list[float]] = []
        self.loss_curves: list[list[float]] = []
        self.seed_scores: list[float] = []
        self.learned: list[dict[str, float]] = []
        self.train_time = self.setup = 0.0
        self.kernel_ms: float | None = None
        self.task = self.candidate = self.runtime = None
        self.backend = ""
        self.metric = ""

    def build(self) -> None:
        """Resolve the device, load the task, compile (and check) and screen the candidate."""
        import torch

        from actsearch.compile import compile_candidate
        from actsearch.devices import Runtime, resolve_device
        from actsearch.symbolic.expr import parse

        t0 = time.perf_counter()
        spec = self.spec
        # a worker's share of the CPUs: W workers on W cores do not oversubscribe
        torch.set_num_threads(max(1, spec.cpu_threads))
        try:
            try:
                self.runtime = Runtime(resolve_device(spec.device), spec.precision)
            except Exception as exc:  # noqa: BLE001 - the device the search asked for is not here
                self.env_error = f"cannot use device {spec.device!r}: {failure_message(exc)}"
                raise
            try:
                self.task = _task(spec.task, dict(spec.task_options))
            except Exception as exc:  # noqa: BLE001 - it was built on the driver: this worker's environment
                self.env_error = f"cannot load task {spec.task!r}: {failure_message(exc)}{_task_hint(spec.task)}"
                raise
            # the search's metric: the task's own unless --metric named another it reports
            self.metric = spec.metric or self.task.metric
            with_metric = getattr(self.task, "with_metric", None)  # a duck-typed task scores its own metric
            self.task = with_metric(self.metric) if with_metric else self.task
            self.candidate = parse(spec.text, family=spec.family, name=spec.name or None)
            module = compile_candidate(self.candidate, backend=spec.backend, device=self.runtime.device)
            self.backend = getattr(module, "backend", spec.backend)
            if spec.screen:
                self.message = screen(self.candidate)
                if self.message:
                    self.status = "nan"
            if self.status == "ok":
                self.kernel_ms = kernel_ms(module, self.runtime.device, self.runtime.dtype)
        except Exception as exc:  # noqa: BLE001 - a candidate that fails to build is a result
            self.status, self.message = "error", failure_message(exc)
        self.setup = time.perf_counter() - t0

    def train(self) -> None:
        """Train on each seed in turn; stop at the first seed that does not finish ok."""
        from actsearch.compile import compile_candidate
        from actsearch.tasks import ActivationFactory, TrainResult
        from actsearch.tasks.base import MetricReport

        spec, task = self.spec, self.task
        factory = ActivationFactory(
            lambda: compile_candidate(self.candidate, backend=spec.backend, device=self.runtime.device),
            self.runtime)
        report_steps = set(range(1, spec.total_steps + 1) if spec.report_steps is None else spec.report_steps)
        for i, seed in enumerate(spec.seeds):
            reported = MetricReport(self.metric)

            def on_epoch(epoch: int, metrics: dict, i=i, curve=reported.curve) -> None:
                step = i * spec.epochs + epoch
                due = step in report_steps or time.perf_counter() - self.last_report >= PROGRESS_EVERY
                if (self.report is None or step >= spec.total_steps or not due
                        or not isinstance(metrics, dict) or metrics.get(self.metric) is None):
                    return  # reports cost ~15 ms each: where the scheduler decides, and for the display
                # the score's own rule (score_epochs) applied to every seed's curve cut at this epoch
                reached = [task.tail_score(c[:epoch]) for c in self.curves if len(c) >= epoch]
                reached.append(task.tail_score(curve))
                self.report(TrialProgress(step=step, score=statistics.fmean(reached), curves=self.curves + [curve],
                                          elapsed=time.perf_counter() - self.start, setup_time=self.setup))
                self.last_report = time.perf_counter()

            reported.forward = on_epoch
            try:
                out = TrainResult.coerce(task.train(factory, spec.epochs, seed, reported), metric=self.metric,
                                         where=f"task {spec.task!r}", reported=reported)
            except Exception as exc:  # noqa: BLE001 - a user task that raises: a result, not a retry
                out = TrainResult(status="error", message=failure_message(exc))
            run_curve = out.curve or reported.curve
            self.curves.append(run_curve)
            self.loss_curves.append(list(out.losses))
            if out.status == "ok" and task.score_epochs > 1 and run_curve:
                # one rule for every task, a user's own included: the same one the rungs used
                out.score = task.tail_score(run_curve)
            self.train_time += out.train_time
            if i == 0:
                self.learned = out.learned_params
            if out.status != "ok" or out.score is None:
                self.status = out.status if out.status != "ok" else "error"
                self.message = out.message or f"seed {seed}: no score"
                return
            self.seed_scores.append(out.score)

    def result(self):
        spec = self.spec
        score = statistics.fmean(self.seed_scores) if self.status == "ok" and self.seed_scores else None
        if score is not None and not math.isfinite(score):
            self.status, self.message, score = "nan", "non-finite score", None
        cand = self.candidate
        return Result(
            key=cand.key if cand else "", text=cand.text if cand else spec.text, family=spec.family,
            name=spec.name, status=self.status, score=score, metric=self.metric,
            seed_scores=self.seed_scores if self.status == "ok" else [],
            spread=statistics.pstdev(self.seed_scores) if self.status == "ok" and len(self.seed_scores) > 1 else 0.0,
            curves=self.curves, loss_curves=self.loss_curves, learned_params=self.learned, message=self.message,
            fingerprint=cand.fingerprint() if cand else "", task=getattr(self.task, "spec", spec.task),
            epochs=spec.epochs, seeds=len(spec.seeds), first_seed=spec.seeds[0] if spec.seeds else None,
            precision=spec.precision, device=self.runtime.describe() if self.runtime else spec.device,
            backend=self.backend, wall_time=time.perf_counter() - self.start, train_time=self.train_time,
            kernel_ms=self.kernel_ms,
        )


def evaluate(spec: TrialSpec, report: Callable[[TrialProgress], None] | None = None):
    """Train ``spec``'s candidate on its seeds one after another; the
    :class:`~actsearch.result.Result` (status ``timeout`` past ``spec.trial_timeout``).

    ``report`` gets a :class:`TrialProgress` after each epoch listed in
    ``spec.report_steps`` (default: every epoch) but the last, and after any other
    epoch that ends :data:`PROGRESS_EVERY` seconds or more after the last report.
    """
    return run_steps(spec, report)[0]


def run_steps(spec: TrialSpec, report: Callable[[TrialProgress], None] | None = None):
    """:func:`evaluate`, plus why no trial can run here (``""`` if one can): the task
    does not load, the device is missing."""
    run = _Run(spec, report)
    deadline = AsyncRaise(TrialTimeout, spec.trial_timeout)
    try:
        with deadline:
            run.build()
            if run.status == "ok":
                run.train()
            deadline.disarm()
    except TrialTimeout:
        run.status, run.message = "timeout", timeout_message(spec)
    return run.result(), run.env_error


def timeout_message(spec: TrialSpec) -> str:
    return f"exceeded the per-candidate time limit of {spec.trial_timeout:g} s"


def failed_result(spec: TrialSpec, status: str, message: str, progress: TrialProgress | None = None,
                  elapsed: float = 0.0):
    """The :class:`~actsearch.result.Result` of a trial that ended without one of its
    own (killed at its deadline, its process died): ``status`` and ``message``, with
    the learning curves of its last ``progress`` report."""
    from actsearch.symbolic.expr import parse

    run = _Run(spec, None)
    run.start -= elapsed
    run.status, run.message = status, message
    try:
        run.candidate = parse(spec.text, family=spec.family, name=spec.name or None)
    except Exception:  # noqa: BLE001 - the driver knows the candidate anyway
        pass
    if progress is not None:
        run.curves = [list(c) for c in progress.curves]
        run.train_time = max(0.0, progress.elapsed - progress.setup_time)
    return run.result()
