"""What crosses the trial boundary: :class:`TrialSpec` (driver -> worker) and
:class:`TrialProgress` (worker -> scheduler, after an epoch).

The worker sends back a :class:`~actsearch.result.Result` when it finishes.  Ray
Tune carries these as plain dicts (``to_config``/``to_metrics``); nothing else
crosses.

Example:
    >>> spec = TrialSpec(text="x*tanh(x)", task="digits", epochs=2, seeds=(0, 1))
    >>> TrialSpec.from_config(spec.to_config()) == spec
    True
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

__all__ = ["TrialSpec", "TrialProgress", "FAILED_SCORE"]

#: what the scheduler sees for a failed candidate (ASHA needs a number; the store keeps None)
FAILED_SCORE = -1e30


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
            wants a :class:`TrialProgress`; ``None``: every epoch.
        protected: never stopped early (references and the user's candidates).
        trial_timeout: seconds this trial may take in all.
        screen: reject poles and overflows before training.
        cpu_threads: torch threads of the worker.
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
        return {"step": self.step, "score": self.score, "curves": json.dumps(self.curves), "done": False,
                "elapsed": self.elapsed, "setup_time": self.setup_time}

    @classmethod
    def from_metrics(cls, metrics: Mapping[str, Any]) -> "TrialProgress":
        return cls(step=int(metrics.get("step", 0)), score=float(metrics["score"]),
                   curves=json.loads(metrics.get("curves", "[]")),
                   elapsed=float(metrics.get("elapsed", metrics.get("time_total_s", 0.0))),
                   setup_time=float(metrics.get("setup_time", 0.0)))
