"""The Ray Tune function trainable: one trial, trained in the supervisor's child process.

Tune runs :func:`trainable` in a Ray worker; it hands the trial to the worker's
:class:`~actsearch.search.trial.supervisor.Supervisor` and forwards what the trial
reports to Tune: a :class:`~actsearch.search.trial.messages.TrialProgress` after the
epochs the scheduler asked for, then the :class:`~actsearch.search.trial.messages.TrialEnded`.
The Ray worker itself never imports torch or trains.
"""

from __future__ import annotations

from ray import tune

from ..trial.messages import TrialEnded, TrialSpec
from ..trial.supervisor import run_trial

__all__ = ["trainable"]


def trainable(config: dict) -> None:
    """One trial of ``config`` (a :meth:`TrialSpec.to_config`), reported to Tune."""
    spec = TrialSpec.from_config(config)
    result, env_error = run_trial(spec, lambda progress: tune.report(progress.to_metrics()))
    tune.report(TrialEnded(result, env_error).to_metrics(spec.total_steps, spec.mode))
