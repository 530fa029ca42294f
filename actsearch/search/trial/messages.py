"""What crosses the trial boundary, as types: :class:`TrialSpec` (driver -> trial),
:class:`TrialProgress` (trial -> scheduler, after an epoch) and :class:`TrialEnded`
(trial -> driver: the :class:`~actsearch.result.Result`, its last word).

Ray Tune carries them as flat dicts of plain values (``to_config``, ``to_metrics``):
its schedulers read ``step`` and ``score`` there, and its loggers (``--logger``) write
each value as one column, so nested values (curves, the result) travel as JSON text.
Every dict a trial reports says what it is (``report``: ``progress`` or ``ended``);
:func:`read_report` turns it back into its type.

Example:
    >>> spec = TrialSpec(text="x*tanh(x)", task="digits", epochs=2, seeds=(0, 1))
    >>> TrialSpec.from_config(spec.to_config()) == spec
    True
    >>> ended = TrialEnded(Result(key="k", text="x*tanh(x)", score=0.5))
    >>> read_report(ended.to_metrics(spec.total_steps)) == ended
    True
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

from ...result import Result

__all__ = ["TrialSpec", "TrialProgress", "TrialEnded", "read_report", "FAILED_SCORE", "failed_score"]

#: what the scheduler sees for a failed candidate (ASHA needs a number; the store keeps None)
FAILED_SCORE = -1e30


def failed_score(mode: str = "max") -> float:
    """What the scheduler sees for a failed candidate in a search of ``mode``: the worst value."""
    return FAILED_SCORE if mode != "min" else -FAILED_SCORE


#: the key of a reported dict that says what it is, and its values
REPORT, PROGRESS, ENDED = "report", "progress", "ended"


@dataclass(frozen=True)
class TrialSpec:
    """One candidate to train: the formula, the task, and how to train it.

    Args:
        text: the candidate's canonical text.
        family, name: its search-space family and preset name (``""`` for none).
        task, task_options: the task as the user named it, and its options.
        epochs: epochs per seed.
        seeds: the training seeds, trained one after another.
        backend: compile backend (``auto`` resolves on the worker's device).
        device: ``cpu``, ``cuda`` or ``cuda:N`` as the worker sees it.
        precision: ``fp32`` or ``bf16``.
        report_steps: the steps (epochs over all seeds) after which the scheduler
            wants a :class:`TrialProgress`; ``None``: every epoch (others follow
            every few seconds, for the progress display).
        protected: never stopped early (references and the user's candidates).
        trial_timeout: seconds this trial may take in all.
        screen: reject poles and overflows before training.
        cpu_threads: torch threads of the worker.
        metric: the metric that is the score (``""``: the task's own).
        mode: ``max`` or ``min``: which way the metric is better (what the scheduler compares).
    """

    text: str
    family: str = "custom"
    name: str = ""
    task: str = "mnist1d-mlp"
    task_options: Mapping[str, Any] = field(default_factory=dict)
    epochs: int = 1
    seeds: tuple[int, ...] = (0,)
    backend: str = "auto"
    device: str = "cpu"
    precision: str = "fp32"
    report_steps: tuple[int, ...] | None = None
    protected: bool = False
    trial_timeout: float | None = None
    screen: bool = True
    cpu_threads: int = 1
    metric: str = ""
    mode: str = "max"

    def __post_init__(self):
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        object.__setattr__(self, "task_options", dict(self.task_options))
        if self.report_steps is not None:
            object.__setattr__(self, "report_steps", tuple(int(s) for s in self.report_steps))

    def __hash__(self) -> int:
        return hash((self.text, self.task, self.epochs, self.seeds))

    @property
    def total_steps(self) -> int:
        return self.epochs * len(self.seeds)

    def to_config(self) -> dict[str, Any]:
        """A plain dict (Ray Tune's trial config)."""
        out = asdict(self)
        out["seeds"] = list(self.seeds)
        out["report_steps"] = None if self.report_steps is None else list(self.report_steps)
        return out

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "TrialSpec":
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in config.items() if k in known})


@dataclass
class TrialProgress:
    """Where a trial stands after ``step`` epochs (over all its seeds so far).

    ``score`` is the mean, over the seeds that reached this epoch, of the task's
    score rule applied to the curve so far: what ASHA compares at a rung and what a
    trial stopped there is recorded with.
    """

    step: int
    score: float
    curves: list[list[float]]
    elapsed: float = 0.0
    setup_time: float = 0.0

    def to_metrics(self) -> dict[str, Any]:
        return {REPORT: PROGRESS, "step": self.step, "score": self.score, "curves": json.dumps(self.curves),
                "done": False, "elapsed": self.elapsed, "setup_time": self.setup_time}

    @classmethod
    def from_metrics(cls, metrics: Mapping[str, Any]) -> "TrialProgress":
        return cls(step=int(metrics.get("step", 0)), score=float(metrics["score"]),
                   curves=json.loads(metrics.get("curves", "[]")),
                   elapsed=float(metrics.get("elapsed", metrics.get("time_total_s", 0.0))),
                   setup_time=float(metrics.get("setup_time", 0.0)))


@dataclass
class TrialEnded:
    """A trial's last report: its :class:`~actsearch.result.Result`, and why no trial
    can run on the worker it ran on (``env_error``; ``""`` when one can): the task
    does not load there, the device is missing.  Such a result says nothing about the
    candidate, so the driver leaves it in flight for a resume."""

    result: Result
    env_error: str = ""

    def to_metrics(self, step: int, mode: str = "max") -> dict[str, Any]:
        """The dict Tune gets: the scheduler's score at ``step`` (the trial's last; the worst
        there is in a search of ``mode`` for a failure) and the result."""
        score = self.result.score if self.result.score is not None else failed_score(mode)
        out = {REPORT: ENDED, "step": step, "score": score, "done": True, "result": json.dumps(self.result.to_dict())}
        if self.env_error:
            out["env_error"] = self.env_error
        return out

    @classmethod
    def from_metrics(cls, metrics: Mapping[str, Any]) -> "TrialEnded":
        return cls(Result.from_dict(json.loads(metrics["result"])), metrics.get("env_error", ""))


def read_report(metrics: Mapping[str, Any] | None) -> TrialProgress | TrialEnded | None:
    """What a trial reported last, by the ``report`` tag of its dict; ``None`` for a
    trial that reported nothing of ours (its worker died before its first report)."""
    kind = (metrics or {}).get(REPORT)
    if kind == PROGRESS:
        return TrialProgress.from_metrics(metrics)
    if kind == ENDED:
        return TrialEnded.from_metrics(metrics)
    return None
