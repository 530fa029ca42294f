"""The outcome of scoring one candidate in a search: what the store records and
optimisers are told.

Example:
    >>> r = Result(key="k", text="relu(x)", score=0.9, seed_scores=[0.9], fingerprint="f")
    >>> r.ok, Result.from_dict(r.to_dict()) == r
    (True, True)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Result", "STATUSES"]

#: ok: trained to the end; diverged: loss blew up; nan: NaN/Inf outputs or loss;
#: error: an exception (message holds it); timeout: over the per-candidate limit;
#: pruned: stopped early by the scheduler (score is the last reported value)
STATUSES = ("ok", "diverged", "nan", "error", "timeout", "pruned")


@dataclass
class Result:
    """Scores of one candidate on one task, over the seeds of one search.

    ``score`` is always higher-is-better (accuracy; tasks whose metric is a loss
    report its negation) and ``None`` unless ``status`` is ``ok`` or ``pruned``.
    ``curves`` hold the metric per epoch and ``loss_curves`` the mean training loss
    per epoch, one list per seed.

    What was trained and how: ``fingerprint`` (the function's probe hash, for
    de-duplication), ``task`` (task spec), ``epochs``, ``seeds`` (how many) from
    ``first_seed`` (``None`` on records older than the field: their search's
    ``--seed``), ``precision``.  Where and how fast: ``device``, ``backend`` (the one
    that trained, ``auto`` resolved), ``train_time`` and ``wall_time`` (seconds),
    ``kernel_ms`` (median ms of one forward + backward of the compiled activation on
    the trial's device; ``None`` when not measured).  ``reused_from`` names the
    search a result was copied from instead of training again; ``trial`` is its
    number in the store (set when read back).
    """

    key: str
    text: str
    family: str = "custom"
    name: str = ""
    status: str = "ok"
    score: float | None = None
    metric: str = "val_accuracy"
    seed_scores: list[float] = field(default_factory=list)
    spread: float = 0.0
    curves: list[list[float]] = field(default_factory=list)
    loss_curves: list[list[float]] = field(default_factory=list)
    learned_params: list[dict[str, float]] = field(default_factory=list)
    message: str = ""
    fingerprint: str = ""
    task: str = ""
    epochs: int | None = None
    seeds: int | None = None
    first_seed: int | None = None
    precision: str = "fp32"
    device: str = ""
    backend: str = ""
    wall_time: float = 0.0
    train_time: float = 0.0
    kernel_ms: float | None = None
    reused_from: str = ""
    trial: int | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "pruned") and self.score is not None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Result":
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})
