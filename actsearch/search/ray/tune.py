"""Running a search's trials on Ray Tune: the cluster, the resources, the scheduler.

:func:`ray_cluster` starts a private local Ray instance (``address=None``) or joins
a cluster (``host:port`` of its head, the normal form; ``auto``); :func:`plan_placement`
turns ``--device``, ``--workers``, ``--cpus-per-trial`` and ``--gpus-per-trial`` into
what each trial asks Ray for; :func:`run_trials` runs a
:class:`~actsearch.search.driver.Driver` through a Tune ``Searcher`` with ASHA
(references and the user's candidates are never stopped early).  Trials that ask
for a GPU (share) see the GPU Ray assigns them as ``cuda``.

Ray's own messages (its loggers, the cluster's error lines, Tune's tracebacks of a
lost worker) go to a file (``ray.log`` beside Tune's folder of the search), named in
one line when something went wrong; errors a user can cause (an address nobody
answers on, a cluster that wants its authentication token, a Ray Client address)
are one line each.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import socket
import sys
import threading
import time
from dataclasses import dataclass

from actsearch.devices import check_device_name
from actsearch.errors import ActsearchError

from ..driver import Driver
from ..trial.messages import TrialProgress

__all__ = ["Placement", "plan_placement", "ray_cluster", "run_trials", "check_reachable", "DEFAULT_GPU_SHARE",
           "asha_rungs", "ray_output", "LOGGERS", "check_loggers", "check_callbacks"]

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
    """Fail fast on a ``host:port`` nobody listens on (ray.init would retry for minutes),
    and on a Ray Client address (``ray://``)."""
    if address.startswith("ray://"):
        raise ActsearchError(f"--address {address!r}: Ray Client (ray://) addresses are not supported (Tune would "
                             "run the search's driver on the cluster, away from its store); run actsearch on a "
                             "machine of the cluster with --address HOST:PORT of the head (port 6379 by default)")
    host, sep, port = address.rpartition(":")
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
    # the result loggers (CSV/JSON/TensorBoard per trial) cost time and disk: only when asked (--logger)
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("TUNE_WARN_THRESHOLD_S", "1000")
    os.environ.setdefault("RAY_TRAIN_V2_ENABLED", "0")
    # local workers stay in the folder they started in (relative paths of the user's task)
    os.environ.setdefault("RAY_CHDIR_TO_TRIAL_DIR", "0")
    for name in ("ray", "ray.tune", "ray.train", "ray.air"):
        logging.getLogger(name).setLevel(logging.ERROR)


class _RayOutput:
    """Where Ray's messages go while a search runs (see :func:`ray_output`)."""

    def __init__(self, path: str):
        import ray._private.worker as ray_worker

        self.ray_worker = ray_worker
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.stream = open(path, "a", encoding="utf-8", errors="replace")
        self.stream.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} actsearch (pid {os.getpid()})\n")
        self.stream.flush()
        self.handler = logging.StreamHandler(self.stream)
        self.handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self.saved: dict[str, tuple] = {}
        self.printer = getattr(ray_worker, "print_to_stdstream", None)
        if self.printer is not None:
            ray_worker.print_to_stdstream = self.to_file
        self.install()

    def to_file(self, data, ignore_prefix=False) -> None:
        """The (raylet) lines the cluster pushes to this driver (a dead worker, a lost node)."""
        pid = data.get("pid", "")
        self.stream.writelines(f"({pid}) {line}\n" for line in data.get("lines", ()))
        self.stream.flush()

    def install(self) -> None:
        """Point Ray's loggers at the file (again: ray.init resets the ``ray`` logger)."""
        names = ["ray"] + sorted(n for n, lg in logging.root.manager.loggerDict.items()
                                 if n.startswith("ray.") and isinstance(lg, logging.Logger) and lg.handlers)
        for name in names:
            lg = logging.getLogger(name)
            if name not in self.saved:
                self.saved[name] = (lg.handlers[:], lg.propagate)
            lg.handlers = [self.handler] if name == "ray" else []
            lg.propagate = name != "ray"

    def close(self) -> None:
        if self.printer is not None:
            self.ray_worker.print_to_stdstream = self.printer
        for name, (handlers, propagate) in self.saved.items():
            lg = logging.getLogger(name)
            lg.handlers, lg.propagate = handlers, propagate
        self.handler.close()
        self.stream.close()


@contextlib.contextmanager
def ray_output(path: str | None):
    """Send Ray's own messages to the file ``path`` while the block runs: its Python
    loggers (Tune's traceback of a lost worker, warnings) and the error lines the
    cluster pushes to the driver (a dead worker or node).  ``None``: leave them be.
    Yields an object whose ``install()`` re-applies it after a ``ray.init``."""
    if not path:
        yield None
        return
    out = _RayOutput(path)
    try:
        yield out
    finally:
        out.close()


def _log_hint(path: str | None) -> str:
    return f" (Ray's own messages: {path})" if path else ""


@contextlib.contextmanager
def ray_cluster(address: str | None, *, num_cpus: int | None = None, device: str = "auto",
                runtime_env: dict | None = None, log_path: str | None = None):
    """Start a private local Ray instance (``address=None``) or join ``address``;
    yields the cluster's resources and shuts down what it started.

    A local instance never attaches to a ``ray start`` cluster running on the
    machine (``address="local"``).  ``device="cuda:N"`` shows the local instance
    GPU N alone.  ``runtime_env`` (:func:`actsearch.search.ray.shipping.runtime_env`) is
    the job's: what every worker gets.  Ray's own messages go to ``log_path``."""
    import ray

    _quiet_tune()
    with ray_output(log_path) as output:
        if ray.is_initialized():  # a caller's own Ray session (tests, notebooks): use it as it is
            yield ray.cluster_resources()
            return
        os.environ.setdefault("RAY_DEDUP_LOGS", "0")
        # local workers inherit this environment: let them import a user's --task module.
        paths = [os.getcwd()] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
        # ray.init keeps the handlers of its logger (the log file's): Ray's warnings go there too
        kwargs = dict(include_dashboard=False, log_to_driver=False, configure_logging=True,
                      logging_level=logging.WARNING if log_path else logging.ERROR)
        env = dict(runtime_env or {})
        if not address:
            env.pop("env_vars", None)  # local workers inherit this process's environment
        if env:
            kwargs["runtime_env"] = env
        saved_visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        try:
            if address:
                _check_auth(address, log_path=log_path)
                ray.init(address=address, **kwargs)
            else:
                pinned = device.startswith("cuda:")
                if pinned:
                    os.environ["CUDA_VISIBLE_DEVICES"] = _physical_gpu(int(device.split(":")[1]), saved_visible)
                ray.init(address="local", num_cpus=num_cpus, **kwargs)
        except ActsearchError:
            raise
        except Exception as exc:  # noqa: BLE001
            where = address or "a local Ray instance"
            raise ActsearchError(f"cannot start or join {where}: {type(exc).__name__}: {_first_line(exc)}"
                                 f"{_log_hint(log_path)}") from None
        finally:
            if saved_visible is None:
                os.environ.pop("CUDA_VISIBLE_DEVICES", None)
            else:
                os.environ["CUDA_VISIBLE_DEVICES"] = saved_visible
        if output is not None:
            output.install()
        try:
            yield ray.cluster_resources()
        finally:
            ray.shutdown()


@contextlib.contextmanager
def _stderr_to(path: str | None):
    """File descriptor 2 (what Ray's C++ core prints) to ``path`` for a moment."""
    if not path:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.dup2(fd, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(fd)


def _check_auth(address: str, timeout: float = 15.0, log_path: str | None = None) -> None:
    """Ask the cluster's GCS whether it lets this process in (a fraction of a second),
    before ray.init would retry for half a minute and print each attempt.  A cluster
    on this machine that wants the token kept here (``~/.ray/auth_token``) gets it;
    any other refusal is one line."""
    if address in ("auto", "local"):
        return  # Ray finds a local cluster and its token itself
    with _stderr_to(log_path):  # each refused attempt is a line of Ray's C++ log
        if not _gcs_refusal(address, timeout):
            return
        if (_local_host(address.rpartition(":")[0]) and os.environ.get("RAY_AUTH_MODE") is None
                and _enable_local_token() and not _gcs_refusal(address, timeout)):
            return
    raise ActsearchError(f"the Ray cluster at {address!r} refused this connection: its authentication token is "
                         "missing or wrong (Ray token authentication); set RAY_AUTH_TOKEN, or RAY_AUTH_TOKEN_PATH "
                         "to a file, holding the cluster's token (`ray get-auth-token` on its head)")


def _gcs_refusal(address: str, timeout: float) -> str:
    """Why the GCS at ``address`` refuses this process for want of a token, or ``""``
    (it lets it in, or it failed otherwise: ray.init reports that)."""
    try:
        from ray._raylet import GcsClient
        from ray.exceptions import AuthenticationError
    except ImportError:
        return ""
    out: list[str] = []

    def probe() -> None:
        try:
            GcsClient(address=address)
        except AuthenticationError as exc:
            out.append(str(exc).split(".")[0] or "authentication failed")
        except Exception:  # noqa: BLE001 - not ours to report: ray.init says it in its words
            pass

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return out[0] if out else ""


def _local_host(host: str) -> bool:
    if host in ("", "localhost", "127.0.0.1", "::1") or host.startswith("127."):
        return True
    try:
        return host in {socket.gethostname(), socket.getfqdn(), socket.gethostbyname(socket.gethostname())}
    except OSError:
        return False


def _enable_local_token() -> bool:
    """Use this machine's Ray token (as ``ray.init()`` does for a cluster it finds here)."""
    try:
        from ray._private.authentication.authentication_token_setup import _enable_token_auth
        from ray._raylet import AuthenticationTokenLoader
    except ImportError:
        return False
    if not AuthenticationTokenLoader.instance().has_token(ignore_auth_mode=True):
        return False
    _enable_token_auth()
    AuthenticationTokenLoader.instance().reset_cache()
    return True


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


#: ``--logger`` names -> Tune's per-trial logger callbacks (``module:Class``)
LOGGERS = {"csv": "ray.tune.logger:CSVLoggerCallback", "json": "ray.tune.logger:JsonLoggerCallback",
           "tensorboard": "ray.tune.logger:TBXLoggerCallback"}


def check_loggers(names) -> None:
    """Refuse an unknown ``--logger`` name, or tensorboard without ``tensorboardX``."""
    import importlib.util

    for name in names or ():
        if name not in LOGGERS:
            raise ActsearchError(f"unknown logger {name!r}; choose from: {', '.join(LOGGERS)}")
        if name == "tensorboard" and importlib.util.find_spec("tensorboardX") is None:
            raise ActsearchError("--logger tensorboard needs the tensorboardX package (pip install tensorboardX)")


def check_callbacks(callbacks) -> None:
    """Refuse anything but Ray Tune ``Callback`` objects."""
    if not callbacks:
        return
    from ray.tune import Callback

    for cb in callbacks:
        if not isinstance(cb, Callback):
            raise ActsearchError(f"callbacks must be Ray Tune Callback objects (ray.tune.Callback), "
                                 f"not {type(cb).__name__}")


def _logger_callbacks(names) -> list:
    import importlib

    out = []
    for name in dict.fromkeys(names or ()):
        module, _, cls = LOGGERS[name].partition(":")
        out.append(getattr(importlib.import_module(module), cls)())
    return out


def run_trials(driver: Driver, placement: Placement, *, max_t: int, early_stop: bool, max_failures: int,
               results_dir: str, name: str, loggers=(), callbacks=(), log_path: str | None = None) -> None:
    """Run the driver's trials on the Ray cluster this process is connected to, until
    the driver has nothing more to train (or Ctrl-C).

    ``loggers`` (names of :data:`LOGGERS`) write each trial's reports under
    ``results_dir/name/``; ``callbacks`` are the user's Ray Tune callbacks."""
    from ray import tune
    from ray.tune.schedulers import FIFOScheduler

    from ..trial.evaluate import trainable

    if early_stop and max_t >= 3:
        grace, rf, steps = asha_rungs(max_t)
        scheduler = _protected_asha()(time_attr="step", max_t=max_t, grace_period=grace, reduction_factor=rf)
        driver.report_steps = steps
    else:
        scheduler = FIFOScheduler()
        driver.report_steps = ()
    resources = {"cpu": placement.cpus_per_trial, "gpu": placement.gpus_per_trial}
    watch = _watcher_class()(driver, log_path)
    tuner = tune.Tuner(
        tune.with_resources(trainable, resources),
        tune_config=tune.TuneConfig(search_alg=_searcher_class()(driver, log_path), scheduler=scheduler,
                                    num_samples=-1, max_concurrent_trials=placement.workers, metric="score",
                                    mode="max", reuse_actors=True),
        run_config=tune.RunConfig(name=_safe(name), storage_path=os.path.abspath(results_dir),
                                  failure_config=tune.FailureConfig(max_failures=max_failures),
                                  callbacks=[watch, *_logger_callbacks(loggers), *(callbacks or ())],
                                  verbose=0, log_to_file=False),
    )
    tuner.fit()


class WorkerEnvironmentError(ActsearchError):
    """No trial can run on the Ray workers (the task or actsearch does not load there, a
    device is missing, the shipped environment failed): the search stops, and the trials
    it affected stay in flight for ``--resume``."""


def _stop_for_environment(driver: Driver, why: str, hint: str = "") -> None:
    if driver.error is None:
        driver.error = WorkerEnvironmentError(f"the Ray workers {why}{hint}; the search stopped and lost nothing: "
                                              "--resume continues it")


def _ray_environment_failure(trial) -> tuple[str, str]:
    """``(why, hint)`` when the trial's Ray worker could not load actsearch's trial code
    or set up the shipped environment; ``("", "")`` for any other failure (a lost node)."""
    import re

    exc = _trial_error(trial)
    if exc is None:
        return "", ""
    text = f"{type(exc).__name__}: {exc}"
    if "RuntimeEnvSetupError" in text or "runtime environment" in text.lower() and "fail" in text.lower():
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        return (f"could not set up the environment the search ships (runtime_env): {lines[-1] if lines else text}",
                " (see --working-dir and --py-module)")
    if "failed to import on the worker" in text or re.search(r"\b(ModuleNotFoundError|ImportError)\b", text):
        found = re.findall(r"((?:ModuleNotFoundError|ImportError): [^\n]+)", text)
        return (f"cannot load actsearch's trial code: {found[-1] if found else _first_line(exc)}",
                " (install actsearch, this version, and its dependencies on every node, or ship a copy with "
                "--py-module PATH/TO/actsearch)")
    return "", ""


def _trial_error(trial):
    """The trial's last error as Tune kept it beside the trial (the exception, else its text)."""
    try:
        if trial.pickled_error_file and os.path.exists(trial.pickled_error_file):
            from ray import cloudpickle

            with open(trial.pickled_error_file, "rb") as f:
                return cloudpickle.load(f)
        if trial.error_file and os.path.exists(trial.error_file):
            with open(trial.error_file) as f:
                return f.read()
    except Exception:  # noqa: BLE001 - no error kept: nothing to say
        pass
    return None


def _watcher_class():
    from ray.tune import Callback

    class LostWorkers(Callback):
        """Says in one line when a trial's Ray worker was lost and Tune retries it, and
        stops the search when the worker could not even load actsearch's trial code."""

        def __init__(self, driver: Driver, log_path: str | None):
            self.driver, self.log_path = driver, log_path

        def __getstate__(self):  # pickled with Tune's config (see CandidateSearcher)
            return {"driver": None, "log_path": self.log_path}

        def on_trial_recover(self, iteration, trials, trial, **info):
            if self.driver is None or self._environment(trial):
                return
            text = (trial.config or {}).get("text", "a candidate")
            self.driver.events.warning(f"the Ray worker training {text} was lost (its node died or it was killed); "
                                    f"Tune retries the trial{_log_hint(self.log_path)}")

        def on_trial_error(self, iteration, trials, trial, **info):
            if self.driver is not None:
                self._environment(trial)

        def _environment(self, trial) -> bool:
            why, hint = _ray_environment_failure(trial)
            if why:
                _stop_for_environment(self.driver, why, hint)
            return bool(why)

    return LostWorkers


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

    from actsearch.result import Result

    class CandidateSearcher(Searcher):
        """Wraps the driver for Ray Tune (runs in the driver process)."""

        def __init__(self, driver: Driver, log_path: str | None = None):
            super().__init__(metric="score", mode="max")
            self.driver, self.log_path = driver, log_path

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
                if result and result.get("env_error"):
                    # the task builds here but not on the worker: its environment, not the
                    # candidate; left unrecorded (in flight), so a resume trains it
                    self._environment_failed(result["env_error"])
                    return
                outcome = _decode(result)
                if error and outcome is not None and not hasattr(outcome, "status"):
                    outcome = None  # a worker that died after a progress report: not a scheduler stop
                if error and outcome is None:
                    if isinstance(self.driver.error, WorkerEnvironmentError):
                        return  # the workers cannot run trials at all: in flight for a resume
                    outcome = Result(key="", text="", status="error",
                                     message="its Ray worker was lost on every try (node died or the worker was "
                                             f"killed){_log_hint(self.log_path)}")
                self.driver.complete(trial_id, outcome)
            except Exception as exc:  # noqa: BLE001
                self.driver.error = self.driver.error or exc

        def _environment_failed(self, why: str) -> None:
            task = self.driver.defaults.task
            hint = ""
            if why.startswith("cannot load task"):
                hint = (" (it loads here, so the workers' environment differs: ship its folder with --working-dir "
                        "DIR or its package with --py-module PATH)" if ":" in task else
                        " (it loads here: install actsearch and the task's dependencies alike on every node)")
            _stop_for_environment(self.driver, why, hint)

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
