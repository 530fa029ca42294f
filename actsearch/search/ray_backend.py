"""Running a search's trials on Ray Tune: the cluster, the resources, the scheduler.

:func:`ray_cluster` starts a private local Ray instance (``address=None``) or joins
a cluster; :func:`plan_placement` turns ``--device``, ``--workers``,
``--cpus-per-trial`` and ``--gpus-per-trial`` into what each trial asks Ray for;
:func:`run_trials` runs a :class:`~actsearch.search.driver.Driver` through a Tune
``Searcher`` with ASHA (references and the user's candidates are never stopped
early).  Trials that ask for a GPU (share) see the GPU Ray assigns them as ``cuda``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import socket
from dataclasses import dataclass

from actsearch.devices import check_device_name
from actsearch.errors import ActsearchError

from .driver import Driver
from .spec import TrialProgress

__all__ = ["Placement", "plan_placement", "ray_cluster", "run_trials", "check_reachable", "DEFAULT_GPU_SHARE",
           "asha_rungs"]

#: GPU share of one trial when ``--gpus-per-trial`` is not given and trials run on
#: CUDA: the built-in tasks are small, so four of them share a GPU
DEFAULT_GPU_SHARE = 0.25


@dataclass(frozen=True)
class Placement:
    """Where the trials run: the device they train on and the Ray resources of each."""

    device: str
    cpus_per_trial: float
    gpus_per_trial: float
    workers: int

    def describe(self) -> str:
        gpu = f", {self.gpus_per_trial:g} GPU" if self.gpus_per_trial else ""
        return f"{self.workers} parallel trial(s) on {self.device}, each {self.cpus_per_trial:g} CPU{gpu}"


def plan_placement(device: str, resources: dict[str, float], *, workers: int | None = None,
                   cpus_per_trial: float = 1.0, gpus_per_trial: float | None = None,
                   local: bool = True) -> Placement:
    """The placement of a search's trials on a cluster with ``resources``
    (``ray.cluster_resources()``: ``{"CPU": 16, "GPU": 1, ...}``).

    ``auto`` is ``cuda`` when the cluster has GPUs.  ``cuda:N`` is a GPU of this
    machine, so only a local search takes it (:func:`ray_cluster` shows Ray that
    GPU alone).  ``workers`` defaults to as many trials as the resources hold.

    Example:
        >>> plan_placement("auto", {"CPU": 16.0, "GPU": 1.0})
        Placement(device='cuda', cpus_per_trial=1.0, gpus_per_trial=0.25, workers=4)
        >>> plan_placement("auto", {"CPU": 2.0}).workers
        2
    """
    name = check_device_name(device)
    cpus, gpus = float(resources.get("CPU", 0)), float(resources.get("GPU", 0))
    if name == "auto":
        name = "cuda" if gpus > 0 else "cpu"
    if name.startswith("cuda:") and not local:
        raise ActsearchError(f"--device {name} names a GPU of this machine; on a Ray cluster use --device cuda "
                             "and Ray assigns each trial its GPU")
    on_gpu = name.startswith("cuda")
    share = (DEFAULT_GPU_SHARE if on_gpu else 0.0) if gpus_per_trial is None else float(gpus_per_trial)
    if on_gpu and share <= 0:
        raise ActsearchError("trials on cuda need --gpus-per-trial above 0: Ray hides the GPUs from trials "
                             "that ask for none")
    if share > 0 and gpus <= 0:
        raise ActsearchError(f"{'--device ' + name if on_gpu else '--gpus-per-trial'} asks for GPUs, but the "
                             f"Ray cluster has none ({cpus:g} CPUs)")
    fit = math.floor(cpus / cpus_per_trial + 1e-9)
    if share > 0:
        fit = min(fit, math.floor(gpus / share + 1e-9))
    if fit < 1:
        raise ActsearchError(f"one trial asks for {cpus_per_trial:g} CPU(s) and {share:g} GPU(s); the Ray "
                             f"cluster has {cpus:g} CPU(s) and {gpus:g} GPU(s)")
    # a local cuda:N search shows Ray that one GPU, which trials see as cuda
    return Placement(device="cuda" if on_gpu else "cpu", cpus_per_trial=float(cpus_per_trial),
                     gpus_per_trial=share, workers=fit if workers is None else int(workers))


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast on a ``host:port`` nobody listens on (ray.init would retry for minutes)."""
    target = address[len("ray://"):] if address.startswith("ray://") else address
    host, sep, port = target.rpartition(":")
    if address in ("auto", "local") or not sep:
        return
    if not port.isdigit():
        raise ActsearchError(f"Ray address {address!r} is not host:port")
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ActsearchError(f"cannot reach the Ray cluster at {address!r}: {reason}") from None


def _quiet_tune() -> None:
    # the result loggers (CSV/JSON/TensorBoard per trial) cost time and disk for nothing here
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("TUNE_WARN_THRESHOLD_S", "1000")
    os.environ.setdefault("RAY_TRAIN_V2_ENABLED", "0")
    for name in ("ray", "ray.tune", "ray.train", "ray.air"):
        logging.getLogger(name).setLevel(logging.ERROR)


@contextlib.contextmanager
def ray_cluster(address: str | None, *, num_cpus: int | None = None, device: str = "auto"):
    """Start a private local Ray instance (``address=None``) or join ``address``;
    yields the cluster's resources and shuts down what it started.

    A local instance never attaches to a ``ray start`` cluster running on the
    machine (``address="local"``).  ``device="cuda:N"`` shows the local instance
    GPU N alone."""
    import ray

    _quiet_tune()
    if ray.is_initialized():  # a caller's own Ray session (tests, notebooks): use it as it is
        yield ray.cluster_resources()
        return
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    # local workers inherit this environment: let them import a user's --task module.
    paths = [os.getcwd()] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    kwargs = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
                  configure_logging=True)
    saved_visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    try:
        if address:
            ray.init(address=address, **kwargs)
        else:
            pinned = device.startswith("cuda:")
            if pinned:
                os.environ["CUDA_VISIBLE_DEVICES"] = _physical_gpu(int(device.split(":")[1]), saved_visible)
            ray.init(address="local", num_cpus=num_cpus, **kwargs)
    except Exception as exc:  # noqa: BLE001
        where = address or "a local Ray instance"
        raise ActsearchError(f"cannot start or join {where}: {type(exc).__name__}: {_first_line(exc)}") from None
    finally:
        if saved_visible is None:
            os.environ.pop("CUDA_VISIBLE_DEVICES", None)
        else:
            os.environ["CUDA_VISIBLE_DEVICES"] = saved_visible
    try:
        yield ray.cluster_resources()
    finally:
        ray.shutdown()


def _physical_gpu(index: int, visible: str | None) -> str:
    """GPU ``index`` as this process counts them, in CUDA_VISIBLE_DEVICES' terms."""
    import torch

    count = torch.cuda.device_count()
    if index >= count:
        raise ActsearchError(f"--device cuda:{index} asked for, but torch sees {count} GPU(s) here")
    ids = [v for v in (visible or "").split(",") if v.strip()] if visible else [str(i) for i in range(count)]
    return ids[index]


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else ""


def asha_rungs(max_t: int) -> tuple[int, int, tuple[int, ...]]:
    """(grace period, reduction factor, rungs): the steps at which ASHA compares trials.

    The first rung sits at a fifth of the budget: epoch-1 accuracies are too noisy to judge.

    Example:
        >>> asha_rungs(10)
        (2, 3, (2, 6))
    """
    grace, rf = max(1, max_t // 5), 3
    rung, steps = grace, []
    while rung < max_t:
        steps.append(rung)
        rung *= rf
    return grace, rf, tuple(steps)


def run_trials(driver: Driver, placement: Placement, *, max_t: int, early_stop: bool, max_failures: int,
               results_dir: str, name: str) -> None:
    """Run the driver's trials on the Ray cluster this process is connected to, until
    the driver has nothing more to train (or Ctrl-C)."""
    from ray import tune
    from ray.tune.schedulers import FIFOScheduler

    from .worker import trainable

    if early_stop and max_t >= 3:
        grace, rf, steps = asha_rungs(max_t)
        scheduler = _protected_asha()(time_attr="step", max_t=max_t, grace_period=grace, reduction_factor=rf)
        driver.report_steps = steps
    else:
        scheduler = FIFOScheduler()
        driver.report_steps = ()
    resources = {"cpu": placement.cpus_per_trial, "gpu": placement.gpus_per_trial}
    tuner = tune.Tuner(
        tune.with_resources(trainable, resources),
        tune_config=tune.TuneConfig(search_alg=_searcher_class()(driver), scheduler=scheduler, num_samples=-1,
                                    max_concurrent_trials=placement.workers, metric="score", mode="max",
                                    reuse_actors=True),
        run_config=tune.RunConfig(name=_safe(name), storage_path=os.path.abspath(results_dir),
                                  failure_config=tune.FailureConfig(max_failures=max_failures),
                                  verbose=0, log_to_file=False),
    )
    tuner.fit()


def _decode(metrics: dict | None):
    """The trial's last report: a Result (it finished), a TrialProgress (the scheduler
    stopped it) or None (its worker died)."""
    import json

    from actsearch.result import Result

    if not metrics:
        return None
    if metrics.get("result"):
        return Result.from_dict(json.loads(metrics["result"]))
    if "score" in metrics and "curves" in metrics:
        return TrialProgress.from_metrics(metrics)
    return None


def _searcher_class():
    from ray.tune.search import Searcher

    class CandidateSearcher(Searcher):
        """Wraps the driver for Ray Tune (runs in the driver process)."""

        def __init__(self, driver: Driver):
            super().__init__(metric="score", mode="max")
            self.driver = driver

        def __getstate__(self):
            # Tune pickles its whole config for Tuner.restore, which actsearch never uses
            # (a search resumes from its store); the driver (store, watchers) stays out
            state = dict(self.__dict__)
            state["driver"] = None
            return state

        def suggest(self, trial_id):
            if self.driver.error is not None:
                return Searcher.FINISHED
            try:
                spec = self.driver.suggest(trial_id)
            except Exception as exc:  # noqa: BLE001 - re-raised by run_search after Tune stops
                self.driver.error = exc
                return Searcher.FINISHED
            return Searcher.FINISHED if spec is None else spec.to_config()

        def on_trial_complete(self, trial_id, result=None, error=False):
            try:
                outcome = _decode(result)
                if error and outcome is not None and not hasattr(outcome, "status"):
                    outcome = None  # a worker that died after a progress report: not a scheduler stop
                self.driver.complete(trial_id, outcome)
            except Exception as exc:  # noqa: BLE001
                self.driver.error = self.driver.error or exc

    return CandidateSearcher


def _protected_asha():
    from ray.tune.schedulers import ASHAScheduler, TrialScheduler

    class ProtectedASHA(ASHAScheduler):
        """ASHA that never stops references or the user's own candidates (it still
        records their scores at each rung, so they set the bar for the others)."""

        def on_trial_result(self, tune_controller, trial, result):
            action = super().on_trial_result(tune_controller, trial, result)
            if trial.config.get("protected") and not result.get("done"):
                return TrialScheduler.CONTINUE
            return action

    return ProtectedASHA


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
