"""The outcome of scoring one candidate: what tasks return and optimisers are told."""

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
    """Scores of one candidate on one task.

    ``score`` is always higher-is-better (accuracy; tasks whose metric is a loss
    report its negation) and ``None`` unless ``status`` is ``ok`` or ``pruned``.
    """

    key: str
    text: str
    family: str = "custom"
    status: str = "ok"
    score: float | None = None
    metric: str = "val_accuracy"
    seed_scores: list[float] = field(default_factory=list)
    spread: float = 0.0
    curves: list[list[float]] = field(default_factory=list)
    learned_params: list[dict[str, float]] = field(default_factory=list)
    wall_time: float = 0.0
    message: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "pruned") and self.score is not None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Result":
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})
