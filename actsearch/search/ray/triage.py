"""What went wrong on the Ray side of a trial, in one line: the workers' environment, or a lost node.

A trial whose worker could not load actsearch's trial code, or could not set up the
environment the search ships, says nothing about its candidate: no trial can run
there, so the search stops (:class:`WorkerEnvironmentError`) and the trials it
affected stay in flight for ``--resume``.  Any other failure of a worker (its node
died, it was killed) is Tune's to retry.  Ray reports these as exceptions of its own,
kept beside the trial; they are read by their text (:func:`ray_environment_failure`).
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from ray import cloudpickle

from actsearch.errors import ActsearchError

if TYPE_CHECKING:
    from ..driver import Driver

__all__ = ["WorkerEnvironmentError", "stop_for_environment", "ray_environment_failure", "first_line"]


class WorkerEnvironmentError(ActsearchError):
    """No trial can run on the Ray workers (the task or actsearch does not load there, a
    device is missing, the shipped environment failed): the search stops, and the trials
    it affected stay in flight for ``--resume``."""


def stop_for_environment(driver: Driver, why: str) -> None:
    """Stop ``driver``'s search: the Ray workers ``why`` (a phrase: "cannot load task ...")."""
    if driver.error is None:
        driver.error = WorkerEnvironmentError(f"the Ray workers {why}; the search stopped and lost nothing: "
                                              "--resume continues it")


def ray_environment_failure(trial) -> str:
    """Why the trial's Ray worker could not load actsearch's trial code or set up the
    shipped environment, with what to do about it; ``""`` for any other failure (a lost node)."""
    exc = _trial_error(trial)
    if exc is None:
        return ""
    text = f"{type(exc).__name__}: {exc}"
    if "RuntimeEnvSetupError" in text or "runtime environment" in text.lower() and "fail" in text.lower():
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        return (f"could not set up the environment the search ships (runtime_env): {lines[-1] if lines else text}"
                " (see --working-dir and --py-module)")
    if "failed to import on the worker" in text or re.search(r"\b(ModuleNotFoundError|ImportError)\b", text):
        found = re.findall(r"((?:ModuleNotFoundError|ImportError): [^\n]+)", text)
        return (f"cannot load actsearch's trial code: {found[-1] if found else first_line(exc)}"
                " (install actsearch, this version, and its dependencies on every node, or ship a copy with "
                "--py-module PATH/TO/actsearch)")
    return ""


def _trial_error(trial):
    """The trial's last error as Tune kept it beside the trial (the exception, else its text)."""
    try:
        if trial.pickled_error_file and os.path.exists(trial.pickled_error_file):
            with open(trial.pickled_error_file, "rb") as f:
                return cloudpickle.load(f)
        if trial.error_file and os.path.exists(trial.error_file):
            with open(trial.error_file) as f:
                return f.read()
    except Exception:  # noqa: BLE001 - no error kept: nothing to say
        pass
    return None


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (Ray's run to pages)."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else ""
