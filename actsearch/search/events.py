"""What a running search tells its watchers: :class:`SearchEvents`.

The driver calls these methods as the search moves; a progress display, a logger or
a test implements the ones it needs (the base class does nothing).  A plain
``callable(line)`` given as ``progress`` to :func:`~actsearch.search.run_search` is
wrapped in :class:`LineEvents`: one line per recorded candidate.

Example:
    >>> lines = []
    >>> events = as_events(lines.append)
    >>> isinstance(events, SearchEvents)
    True
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

__all__ = ["SearchEvents", "LineEvents", "Snapshot", "as_events"]


@dataclass
class Snapshot:
    """Where the search stands: what a progress display shows.

    ``done`` candidates are recorded (``trained`` of them trained by this search,
    the others copied from earlier searches); ``running`` are the texts in flight;
    ``budget`` is the search's; ``best`` the best completed score and its formula.
    """

    name: str
    budget: int
    done: int
    trained: int
    running: list[str] = field(default_factory=list)
    best: float | None = None
    best_text: str = ""
    started: float = field(default_factory=time.monotonic)
    first_done: int = 0

    @property
    def queued(self) -> int:
        return max(0, self.budget - self.done - len(self.running))

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def eta(self) -> float | None:
        """Seconds left at the rate of this session's records; ``None`` before the first."""
        done_here = self.done - self.first_done
        if done_here <= 0:
            return None
        left = max(0, self.budget - self.done)
        return self.elapsed / done_here * left


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

    def trial_recorded(self, snapshot: Snapshot, result, note: str = "") -> None:
        """A candidate's :class:`~actsearch.result.Result` was recorded (``note``: e.g. reused)."""

    def search_finished(self, snapshot: Snapshot, finished: bool) -> None:
        """The search stopped: ``finished`` or interrupted."""


class LineEvents(SearchEvents):
    """One line per recorded candidate, to ``write(line)``."""

    def __init__(self, write: Callable[[str], None]):
        self.write = write

    def trial_recorded(self, snapshot: Snapshot, result, note: str = "") -> None:
        score = f"{result.score:.4f}" if result.score is not None else "-"
        best = f"{snapshot.best:.4f}" if snapshot.best is not None else "-"
        why = f" ({result.message})" if result.status != "ok" and result.message else ""
        extra = f" [{note}]" if note else ""
        self.write(f"[{snapshot.trained}/{snapshot.budget}] {result.status:<8} {score:>8}  best {best}  "
                   f"{result.text}{why}{extra}")


def as_events(progress) -> SearchEvents:
    """``progress`` as :class:`SearchEvents`: itself, a line writer wrapped, or silence."""
    if progress is None:
        return SearchEvents()
    if isinstance(progress, SearchEvents):
        return progress
    return LineEvents(progress)
