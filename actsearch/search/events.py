"""What a running search tells its watchers: :class:`SearchEvents`.

The driver calls these methods as the search moves; a progress display, a logger or
a test implements the ones it needs (the base class does nothing).  A plain
``callable(line)`` given as ``progress`` to :func:`~actsearch.search.run_search` is
wrapped in :class:`LineEvents`: one line per recorded candidate.

Counting: ``done`` are the candidates this search trained and recorded, the ones the
budget counts; ``copied`` are results reused from earlier searches (no training,
outside the budget).  The ETA (:meth:`Snapshot.eta`) comes from measured trial
durations (trials stopped early included) and from how far each running trial has
got; while trials run it is never zero.

Example:
    >>> lines = []
    >>> events = as_events(lines.append)
    >>> isinstance(events, SearchEvents)
    True
    >>> s = Snapshot("demo", budget=4, done=2, durations=[10.0, 14.0], workers=2, started=0.0,
    ...              running=[Running("x*tanh(x)", started=0.0, steps=4, epochs=4, step=1, reported=3.0)])
    >>> s.queued, round(s.eta(now=5.0), 1)   # 1 queued trial of 12 s, 7 s left of the running one
    (1, 9.5)
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Callable

__all__ = ["SearchEvents", "LineEvents", "Snapshot", "Running", "as_events", "format_seconds"]


def format_seconds(seconds: float | None) -> str:
    """``0:01:05`` for 65 s; ``-`` when unknown.

    Example:
        >>> format_seconds(3725.2), format_seconds(None)
        ('1:02:05', '-')
    """
    if seconds is None:
        return "-"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


@dataclass
class Running:
    """A trial in flight: its formula, when it started (``time.monotonic``), and where it
    stood at its last report (``step`` epochs over all ``steps``, ``value`` of ``metric``
    at that epoch, reported at ``reported``)."""

    text: str
    started: float
    steps: int = 0
    epochs: int = 0
    step: int = 0
    value: float | None = None
    metric: str = ""
    reported: float | None = None

    def describe(self, now: float | None = None) -> str:
        """``seed 2/3 epoch 4/10  val_accuracy 0.6120  0:00:42  x*tanh(x)``: where it stands
        first, so a long formula cut at the line's end keeps it."""
        now = time.monotonic() if now is None else now
        parts = []
        if self.step and self.epochs:
            seed, epoch = divmod(self.step - 1, self.epochs)
            seeds = max(1, self.steps // self.epochs)
            where = f"epoch {epoch + 1}/{self.epochs}"
            parts.append(f"seed {seed + 1}/{seeds} {where}" if seeds > 1 else where)
            if self.value is not None:
                parts.append(f"{self.metric or 'metric'} {self.value:.4f}")
        else:
            parts.append("starting")
        parts += [format_seconds(now - self.started), self.text]
        return "  ".join(parts)

    def remaining(self, now: float, typical: float | None) -> float | None:
        """Seconds this trial still needs: from its own pace once it reported, else from
        ``typical`` (the measured mean); at least one epoch's time while it runs."""
        if self.step and self.reported is not None and self.steps:
            total = (self.reported - self.started) * self.steps / self.step
        elif typical is not None:
            total = typical
        else:
            return None
        return max(total - (now - self.started), total / max(self.steps, 1))


@dataclass
class Snapshot:
    """Where the search stands: what a progress display shows.

    ``done``: candidates this search trained and recorded (what ``budget`` counts);
    ``copied``: results reused from earlier searches; ``running``: the trials in flight
    (:class:`Running`); ``best`` the best completed score and its formula;
    ``durations``: measured seconds of the trials that ended (stopped early included);
    ``workers``: trials run at a time.
    """

    name: str
    budget: int
    done: int
    copied: int = 0
    running: list[Running] = field(default_factory=list)
    best: float | None = None
    best_text: str = ""
    started: float = field(default_factory=time.monotonic)
    first_done: int = 0
    durations: list[float] = field(default_factory=list)
    workers: int | None = None

    @property
    def trained(self) -> int:
        return self.done

    @property
    def queued(self) -> int:
        return max(0, self.budget - self.done - len(self.running))

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def eta(self, now: float | None = None) -> float | None:
        """Seconds left (module docstring); ``None`` while nothing tells how long a trial takes."""
        now = time.monotonic() if now is None else now
        if not self.running and not self.queued:
            return 0.0
        typical = statistics.fmean(self.durations) if self.durations else None
        left = [r.remaining(now, typical) for r in self.running]
        if typical is None:  # no trial ended yet: the running ones' own pace
            paced = [r.remaining(now, None) + (now - r.started) for r in self.running if r.step]
            typical = statistics.fmean(paced) if paced else None
            left = [r.remaining(now, typical) for r in self.running]
        if typical is None or any(v is None for v in left):
            return None
        slots = max(self.workers or 1, len(self.running), 1)
        return max(max(left, default=0.0), (sum(left) + self.queued * typical) / slots)

    def counts(self) -> str:
        """``3/12 done, 2 running, 7 queued, 3 copied; 0:01:10 elapsed, ETA 0:04:00``."""
        copied = f", {self.copied} copied" if self.copied else ""
        eta = self.eta()
        return (f"{self.done}/{self.budget} done, {len(self.running)} running, {self.queued} queued{copied}; "
                f"{format_seconds(self.elapsed)} elapsed, ETA {format_seconds(eta) if eta is not None else '-'}")


class SearchEvents:
    """Callbacks of a running search; override what you need."""

    def note(self, message: str) -> None:
        """A step of the search's start-up (Ray starting, a cluster joined, ...)."""

    def warning(self, message: str) -> None:
        """Something went wrong that the search survives (a lost worker, retried)."""

    def search_started(self, snapshot: Snapshot, placement: str) -> None:
        """Ray is up, the store open, the queue ready; ``placement`` says where trials run."""

    def trial_started(self, snapshot: Snapshot, text: str) -> None:
        """A candidate was handed to a worker."""

    def trial_progress(self, snapshot: Snapshot, text: str) -> None:
        """A running candidate reported an epoch (``snapshot.running`` says where it stands)."""

    def trial_recorded(self, snapshot: Snapshot, result, note: str = "") -> None:
        """A candidate's :class:`~actsearch.result.Result` was recorded (``note``: e.g. reused)."""

    def search_finished(self, snapshot: Snapshot, finished: bool) -> None:
        """The search stopped: ``finished`` or interrupted."""


class LineEvents(SearchEvents):
    """One line per recorded candidate, to ``write(line)``: ``[done/budget]`` for the
    ones trained here, ``[copied]`` for results reused from an earlier search."""

    def __init__(self, write: Callable[[str], None]):
        self.write = write

    def trial_recorded(self, snapshot: Snapshot, result, note: str = "") -> None:
        score = f"{result.score:.4f}" if result.score is not None else "-"
        best = f"{snapshot.best:.4f}" if snapshot.best is not None else "-"
        why = f" ({result.message})" if result.status != "ok" and result.message else ""
        if result.reused_from:
            counter, extra = "[copied]", f" [from {result.reused_from}; not trained here]"
        else:
            counter, extra = f"[{snapshot.done}/{snapshot.budget}]", f" [{note}]" if note else ""
        self.write(f"{counter} {result.status:<8} {score:>8}  best {best}  {result.text}{why}{extra}")


def as_events(progress) -> SearchEvents:
    """``progress`` as :class:`SearchEvents`: itself, a line writer wrapped, or silence."""
    if progress is None:
        return SearchEvents()
    if isinstance(progress, SearchEvents):
        return progress
    return LineEvents(progress)
