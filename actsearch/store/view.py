"""Read-only access to the results store for leaderboards, pictures and exports.

A view opens the store read-only (``Store(url, readonly=True)``): it never creates
a database (a missing SQLite file is a :class:`~actsearch.StoreError`, as is a
database that holds no actsearch search), never writes to one, and reads a WAL
store in a folder it cannot write.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import StoreError
from ..result import Result
from ..scoring import higher_is_better
from .database import DEFAULT_URL, Store
from .url import masked

__all__ = ["StoreView", "Entry", "open_view"]


@dataclass
class Entry:
    """One stored evaluation: the search it belongs to and its :class:`Result`."""

    search: str
    config: dict[str, Any]
    result: Result

    @property
    def trial(self) -> int | None:
        return self.result.trial

    @property
    def id(self) -> str:
        return f"{self.search}:{self.trial}"

    @property
    def task(self) -> str:
        task = self.result.task or self.config.get("task") or ""
        return task if isinstance(task, str) else str(task)


class StoreView:
    """The searches in the store at ``url`` (default: the store's default URL)."""

    def __init__(self, url: str | None = None):
        self.url = url or DEFAULT_URL
        self.store = Store(self.url, readonly=True)
        self._searches = self.store.searches()
        if not self._searches:
            raise StoreError(f"{masked(self.url)} holds no actsearch search")

    def names(self) -> list[str]:
        """Search names, oldest first."""
        return [s["name"] for s in self._searches]

    def latest(self) -> str:
        return self._searches[-1]["name"]

    def config(self, name: str) -> dict[str, Any]:
        return self.store.search(name).config

    def entries(self, names: list[str] | None = None) -> list[Entry]:
        """Every stored evaluation of the named searches (default: all), in order."""
        out = []
        for name in names if names is not None else self.names():
            search = self.store.search(name)  # StoreError for unknown names
            config = search.config
            out += [Entry(name, config, r) for r in search.results()]
        return out

    def entry(self, ref: str, search: str | None = None) -> Entry:
        """The evaluation ``SEARCH:NUMBER``, or the best one of a candidate key."""
        if ":" in ref:
            name, _, number = ref.rpartition(":")
            for e in self.entries([name]):
                if e.trial == int(number):
                    return e
            raise StoreError(f"search {name!r} has no trial {number}")
        names = [search] if search else None
        found = [e for e in self.entries(names) if e.result.key == ref]
        if not found:
            where = f"search {search!r}" if search else masked(self.url)
            raise StoreError(f"no candidate with key {ref!r} in {where}")
        scored = [e for e in found if e.result.ok]
        if not scored:
            return found[-1]
        # the best run: completed before pruned, then the best score (lowest in a --mode min search)
        return max(scored, key=lambda e: (e.result.status == "ok",
                                          higher_is_better(e.result.score, e.config.get("mode"))))


def open_view(url: str | None = None) -> StoreView:
    return StoreView(url)
