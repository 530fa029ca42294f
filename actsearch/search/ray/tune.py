"""A search's trials on Ray Tune: the driver as a Tune ``Searcher``, ASHA, and what a lost worker means.

:func:`run_trials` runs a :class:`~actsearch.search.driver.Driver` through
:class:`CandidateSearcher` with :class:`ProtectedASHA` (references and the user's
candidates are never stopped early); each trial is
:func:`~actsearch.search.ray.trainable.trainable`.  A trial's last report
(:func:`~actsearch.search.trial.messages.read_report`) is its
:class:`~actsearch.search.trial.messages.TrialEnded` (it finished), its last
:class:`~actsearch.search.trial.messages.TrialProgress` (the scheduler stopped it) or
nothing (its worker died).  :class:`LostWorkers` says in one line when Tune retries
a trial whose worker was lost, and stops the search when the workers cannot run
trials at all (:mod:`~actsearch.search.ray.triage`).
"""

from __future__ import annotations

import os

from ray import tune
from ray.tune import Callback
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler
from ray.tune.search import Searcher

from actsearch import stopping
from actsearch.result import Result

from ..driver import Driver
from ..trial.messages import TrialEnded, TrialProgress, read_report
from .options import logger_callbacks
from .placement import Placement
from .ray_log import log_hint
from .trainable import trainable
from .triage import WorkerEnvironmentError, ray_environment_failure, stop_for_environment

__all__ = ["run_trials", "asha_rungs", "safe_name", "CandidateSearcher", "ProtectedASHA", "LostWorkers",
           "StopRequested"]


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


def safe_name(name: str) -> str:
    """``name`` as a folder name Tune accepts (the search's folder under the results folder)."""
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


def run_trials(driver: Driver, placement: Placement, *, max_t: int, early_stop: bool, max_failures: int,
               results_dir: str, name: str, loggers=(), callbacks=(), log_path: str | None = None) -> None:
    """Run the driver's trials on the Ray cluster this process is connected to, until
    the driver has nothing more to train (or Ctrl-C).

    ``loggers`` (names of :data:`~actsearch.search.ray.options.LOGGERS`) write each
    trial's reports under ``results_dir/name/``; ``callbacks`` are the user's Ray Tune
    callbacks."""
    if early_stop and max_t >= 3:
        grace, rf, steps = asha_rungs(max_t)
        scheduler = ProtectedASHA(time_attr="step", max_t=max_t, grace_period=grace, reduction_factor=rf)
        driver.report_steps = steps
    else:
        scheduler = FIFOScheduler()
        driver.report_steps = ()
    resources = {"cpu": placement.cpus_per_trial, "gpu": placement.gpus_per_trial}
    tuner = tune.Tuner(
        tune.with_resources(trainable, resources),
        tune_config=tune.TuneConfig(search_alg=CandidateSearcher(driver, log_path), scheduler=scheduler,
                                    num_samples=-1, max_concurrent_trials=placement.workers, metric="score",
                                    mode=driver.defaults.mode, reuse_actors=True),
        run_config=tune.RunConfig(name=safe_name(name), storage_path=os.path.abspath(results_dir),
                                  failure_config=tune.FailureConfig(max_failures=max_failures),
                                  stop=StopRequested(),
                                  callbacks=[LostWorkers(driver, log_path), *logger_callbacks(loggers),
                                             *(callbacks or ())],
                                  verbose=0, log_to_file=False),
    )
    tuner.fit()


class StopRequested(tune.Stopper):
    """Stops every trial once a signal asked the search to stop (:mod:`actsearch.stopping`):
    Tune's loop checks it at each step.  No trial is stopped on its own (that would
    record it), so the trials in flight stay in flight for a resume."""

    def __call__(self, trial_id, result) -> bool:
        return False

    def stop_all(self) -> bool:
        return stopping.requested() is not None


class LostWorkers(Callback):
    """Says in one line when a trial's Ray worker was lost and Tune retries it, and
    stops the search when the worker could not even load actsearch's trial code."""

    def __init__(self, driver: Driver, log_path: str | None):
        self.driver, self.log_path = driver, log_path

    def __getstate__(self):  # pickled with Tune's config (see CandidateSearcher)
        return {"driver": None, "log_path": self.log_path}

    def on_trial_recover(self, iteration, trials, trial, **info):
        if self.driver is None or stopping.requested() or self._environment(trial):
            return
        text = (trial.config or {}).get("text", "a candidate")
        self.driver.events.warning(f"the Ray worker training {text} was lost (its node died or it was killed); "
                                   f"Tune retries the trial{log_hint(self.log_path)}")

    def on_trial_error(self, iteration, trials, trial, **info):
        if self.driver is not None:
            self._environment(trial)

    def _environment(self, trial) -> bool:
        why = ray_environment_failure(trial)
        if why:
            stop_for_environment(self.driver, why)
        return bool(why)


class CandidateSearcher(Searcher):
    """The driver as Ray Tune's searcher (runs in the driver process)."""

    def __init__(self, driver: Driver, log_path: str | None = None):
        super().__init__(metric="score", mode=driver.defaults.mode)  # the search's --mode: ASHA compares so
        self.driver, self.log_path = driver, log_path

    def __getstate__(self):
        # Tune pickles its whole config for Tuner.restore, which actsearch never uses
        # (a search resumes from its store); the driver (store, watchers) stays out
        state = dict(self.__dict__)
        state["driver"] = None
        return state

    def suggest(self, trial_id):
        if self.driver.error is not None or stopping.requested():
            return Searcher.FINISHED
        try:
            spec = self.driver.suggest(trial_id)
        except Exception as exc:  # noqa: BLE001 - re-raised by run_search after Tune stops
            self.driver.error = exc
            return Searcher.FINISHED
        return Searcher.FINISHED if spec is None else spec.to_config()

    def on_trial_result(self, trial_id, result):
        """An epoch report of a running trial: to the driver (the store's intermediate
        values, the progress display); a failure here costs the display, not the search."""
        try:
            report = read_report(result)
            if isinstance(report, TrialProgress):
                self.driver.progress(trial_id, report)
        except Exception as exc:  # noqa: BLE001 - the store failed for good: the next record says so
            self.driver.events.warning(f"could not record a running trial's progress: {type(exc).__name__}: {exc}")

    def on_trial_complete(self, trial_id, result=None, error=False):
        try:
            report = read_report(result)
            if isinstance(report, TrialEnded) and report.env_error:
                # the task builds here but not on the worker: its environment, not the
                # candidate; left unrecorded (in flight), so a resume trains it
                stop_for_environment(self.driver, report.env_error)
                return
            if error and not isinstance(report, TrialEnded):
                # its worker died, after a progress report or before any, on every try
                if isinstance(self.driver.error, WorkerEnvironmentError) or stopping.requested():
                    # the workers cannot run trials at all, or were stopped with the search (a
                    # signal to its process group): in flight for a resume
                    return
                outcome = Result(key="", text="", status="error",
                                 message="its Ray worker was lost on every try (node died or the worker was "
                                         f"killed){log_hint(self.log_path)}")
            elif isinstance(report, TrialEnded):
                outcome = report.result
            else:
                outcome = report  # its last progress (the scheduler stopped it), or nothing reported
            self.driver.complete(trial_id, outcome)
        except Exception as exc:  # noqa: BLE001
            self.driver.error = self.driver.error or exc


class ProtectedASHA(ASHAScheduler):
    """ASHA that never stops references or the user's own candidates (it still
    records their scores at each rung, so they set the bar for the others)."""

    def on_trial_result(self, tune_controller, trial, result):
        action = super().on_trial_result(tune_controller, trial, result)
        if trial.config.get("protected") and not result.get("done"):
            return TrialScheduler.CONTINUE
        return action
