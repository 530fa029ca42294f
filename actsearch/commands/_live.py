"""How ``actsearch search`` and ``confirm`` show a running search.

On a terminal, :class:`LiveDisplay` keeps a live panel at the bottom (rich): trials
done / running / queued (and copied from earlier searches), a bar, each running
trial with its seed, epoch and latest metric, the best so far, elapsed time and ETA,
with one line per recorded candidate scrolling above it.  Elsewhere (CI, a log file,
a pipe), :class:`PlainDisplay` writes plain lines, each with the time of day: the
start-up steps, each candidate as it starts and as it is recorded, and a heartbeat
line every :data:`HEARTBEAT` seconds that says where the search stands.

Example:
    >>> import io
    >>> out = io.StringIO()
    >>> display = search_display(out)        # not a terminal: plain lines
    >>> type(display).__name__
    'PlainDisplay'
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

from actsearch.search.events import LineEvents, SearchEvents, Snapshot, format_seconds

__all__ = ["search_display", "LiveDisplay", "PlainDisplay", "format_seconds", "HEARTBEAT"]

#: seconds between two heartbeat lines of the plain display
HEARTBEAT = 30.0
#: running trials listed by name (the others counted)
_SHOWN = 6


def _running(snapshot: Snapshot, now: float | None = None) -> list[str]:
    """One description per running trial, the first :data:`_SHOWN` of them."""
    lines = [r.describe(now) for r in snapshot.running[:_SHOWN]]
    if len(snapshot.running) > _SHOWN:
        lines.append(f"... and {len(snapshot.running) - _SHOWN} more")
    return lines


class PlainDisplay(LineEvents):
    """Plain lines with the time of day, for output that is not a terminal; a heartbeat
    line every ``heartbeat`` seconds while the search runs."""

    def __init__(self, stream: TextIO, heartbeat: float = HEARTBEAT):
        self.stream = stream
        self.heartbeat = heartbeat
        self.snapshot: Snapshot | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        super().__init__(self._write)

    def _write(self, line: str) -> None:
        with self._lock:
            print(f"{time.strftime('%H:%M:%S')} {line}", file=self.stream, flush=True)

    def note(self, message: str) -> None:
        self._write(f"{message} ...")

    def warning(self, message: str) -> None:
        self._write(f"warning: {message}")

    def search_started(self, snapshot: Snapshot, placement: str) -> None:
        self.snapshot = snapshot
        copied = f", {snapshot.copied} copied" if snapshot.copied else ""
        self._write(f"search {snapshot.name!r}: {snapshot.budget} candidates to train, {snapshot.done} trained"
                    f"{copied}; {placement}")
        if self._thread is None and self.heartbeat > 0:
            self._thread = threading.Thread(target=self._beat, name="actsearch-heartbeat", daemon=True)
            self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat):
            snapshot = self.snapshot
            if snapshot is None:
                continue
            running = _running(snapshot)
            self._write(f"... {snapshot.counts()}" + (f"; running: {'; '.join(running)}" if running else ""))

    def trial_started(self, snapshot: Snapshot, text: str) -> None:
        self.snapshot = snapshot
        self._write(f"  started  {text}")

    def trial_progress(self, snapshot: Snapshot, text: str) -> None:
        self.snapshot = snapshot  # shown by the next heartbeat

    def trial_recorded(self, snapshot: Snapshot, result, note: str = "") -> None:
        self.snapshot = snapshot
        super().trial_recorded(snapshot, result, note)

    def search_finished(self, snapshot: Snapshot, finished: bool) -> None:
        self.close()
        self.snapshot = snapshot
        self._write(f"{'finished' if finished else 'stopped'}: {snapshot.counts()}")

    def close(self) -> None:
        """Stop the heartbeat."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


def _one_line(text: str):
    """A formula cut to the panel's width (long rational formulas would fill it)."""
    from rich.text import Text

    return Text(text, no_wrap=True, overflow="ellipsis")


class LiveDisplay(SearchEvents):
    """A live rich panel on a terminal; recorded candidates print above it."""

    def __init__(self, stream: TextIO):
        from rich.console import Console

        self.console = Console(file=stream, highlight=False)
        self.lines = LineEvents(self._print)
        self.snapshot: Snapshot | None = None
        self.placement = ""
        self.status = "starting"
        self.live = None
        self._lock = threading.Lock()

    def _print(self, line: str) -> None:
        from rich.text import Text

        self.console.print(Text(line))

    def __rich__(self):
        # rendered on every refresh (4 per second), so elapsed time, ETA and trial ages keep moving
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        s = self.snapshot
        if s is None:
            return Text(f"{self.status} ...", style="dim")
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column()
        grid.add_row("search", Text(f"{s.name}  ({self.placement})"))
        grid.add_row("progress", ProgressBar(total=max(s.budget, 1), completed=s.done, width=40))
        grid.add_row("", Text(s.counts()))
        best = f"{s.best:.4f}  {s.best_text}" if s.best is not None else "-"
        grid.add_row("best", _one_line(best))
        running = _running(s)
        grid.add_row("running", Group(*(_one_line(t) for t in running)) if running else Text("-"))
        return grid

    def _start_live(self) -> None:
        from rich.live import Live

        if self.live is None:
            self.live = Live(self, console=self.console, refresh_per_second=4, transient=False)
            self.live.start()

    def note(self, message: str) -> None:
        with self._lock:
            self.status = message
            self._start_live()

    def warning(self, message: str) -> None:
        from rich.text import Text

        with self._lock:
            self.console.print(Text(f"warning: {message}", style="yellow"))

    def search_started(self, snapshot: Snapshot, placement: str) -> None:
        with self._lock:
            self.snapshot, self.placement = snapshot, placement
            self._start_live()

    def trial_started(self, snapshot: Snapshot, text: str) -> None:
        with self._lock:
            self.snapshot = snapshot

    def trial_progress(self, snapshot: Snapshot, text: str) -> None:
        with self._lock:
            self.snapshot = snapshot

    def trial_recorded(self, snapshot: Snapshot, result, note: str = "") -> None:
        with self._lock:
            self.snapshot = snapshot
            self.lines.trial_recorded(snapshot, result, note)

    def search_finished(self, snapshot: Snapshot, finished: bool) -> None:
        with self._lock:
            self.snapshot = snapshot
            if self.live is not None:
                self.live.refresh()
                self.live.stop()
                self.live = None

    def close(self) -> None:
        """Stop the panel (a search that failed before finishing)."""
        with self._lock:
            if self.live is not None:
                self.live.stop()
                self.live = None


def search_display(stream: TextIO | None = None) -> SearchEvents:
    """The live panel when ``stream`` (default stderr) is a terminal, plain lines otherwise."""
    stream = stream or sys.stderr
    isatty = getattr(stream, "isatty", None)
    if isatty is not None and isatty():
        return LiveDisplay(stream)
    return PlainDisplay(stream)
