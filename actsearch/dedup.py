"""The one rule for de-duplication and reuse: what a search does with a proposal.

The search driver (:mod:`actsearch.search.driver`), the store's reuse across
searches (:meth:`actsearch.store.Store.evaluated`) and the replay benchmark
(:mod:`actsearch.benchmarking.replay`) all decide with this module, so a replay
counts exactly as a real search does.

* A function is its fingerprint (its outputs on fixed probe points), whatever its text.
* **Within a search** a fingerprint is trained once.  A proposal of a function
  already recorded is a *repeat*: the optimiser is told the recorded result again,
  it costs nothing and does not count against the budget; one whose function is
  still training waits for that result.  :data:`MAX_SKIPS` repeats in a row end the
  search (the space is exhausted as far as the optimiser can tell).
* **Across searches** a result trained (not itself a copy) on the same task,
  epochs, seeds (first seed and count) and precision may be *copied* instead of
  trained: a completed run first, then one that produced NaN or diverged, then one
  stopped early (:data:`COPYABLE`).  Errors and timeouts are never copied: a worker
  that died or a time limit says nothing about the function.  A run stopped early
  stands in only where this run could be stopped early too (early stopping on, and
  not a reference or a candidate of the user's).
* Anything else is *trained*.

Example:
    >>> from actsearch.result import Result
    >>> seen = Seen()
    >>> seen.verdict("f1")
    <Verdict.TRAIN: 'train'>
    >>> seen.started("f1"); seen.verdict("f1")          # in flight: a repeat, it waits
    <Verdict.REPEAT: 'repeat'>
    >>> _ = seen.recorded("f1", Result(key="k", text="relu(x)", score=0.9))
    >>> seen.verdict("f2", {"f2": Result(key="k2", text="tanh(x)", status="pruned")}, early_stop=False)
    <Verdict.TRAIN: 'train'>
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Mapping

from .result import Result

__all__ = ["MAX_SKIPS", "COPYABLE", "Verdict", "Seen", "Training", "copyable", "better_copy", "may_stand_in"]

#: consecutive repeats after which a search ends (a small space is exhausted)
MAX_SKIPS = 200
#: statuses a later search may copy instead of training, most trusted first (lower is better)
COPYABLE = {"ok": 0, "nan": 1, "diverged": 1, "pruned": 2}


class Verdict(enum.Enum):
    """What to do with one proposal."""

    REPEAT = "repeat"  # seen in this search (recorded or in flight): tell it again, cost nothing
    COPY = "copy"      # trained before on the same training setup in the store: copy the result
    TRAIN = "train"    # new: train it


def copyable(status: str | None) -> bool:
    """Whether a stored run with ``status`` may stand in for training (errors, timeouts: never)."""
    return status in COPYABLE


def better_copy(status: str, than: str) -> bool:
    """Whether a run with ``status`` is a better copy than one with ``than`` (both copyable)."""
    return COPYABLE[status] < COPYABLE[than]


def may_stand_in(stored: Result, *, early_stop: bool, protected: bool) -> bool:
    """Whether the copyable ``stored`` result may replace training a candidate here: a
    run stopped early only where this one could be stopped early too."""
    if not copyable(stored.status):
        return False
    return stored.status != "pruned" or (early_stop and not protected)


@dataclass(frozen=True)
class Training:
    """What makes two runs of one function the same run: copies are taken only between equals."""

    task: str
    epochs: int
    seeds: int
    first_seed: int
    precision: str = "fp32"

    @classmethod
    def of(cls, record: Mapping[str, Any], default_first_seed: int = 0) -> "Training":
        """The training setup of a stored record (its user attributes); records written
        before ``first_seed`` and ``precision`` were stored trained from the search's
        seed (``default_first_seed``) in fp32."""
        first = record.get("first_seed")
        return cls(task=record.get("task"), epochs=record.get("epochs"), seeds=record.get("seeds"),
                   first_seed=default_first_seed if first is None else first,
                   precision=record.get("precision") or "fp32")


class Seen:
    """One search's memory of the functions it has met: results by fingerprint, the
    ones in flight (and the proposals waiting for them), and the repeats in a row.

    ``recorded``: results this search already holds (a resumed search's records).
    """

    def __init__(self, recorded: Mapping[str, Result] | None = None, max_skips: int = MAX_SKIPS):
        #: fingerprint -> the result this search recorded for it
        self.results: dict[str, Result] = dict(recorded or {})
        #: fingerprint in flight -> the proposals of it that wait for its result
        self.waiting: dict[str, list] = {}
        self.repeats = 0
        self.max_skips = max_skips

    def __len__(self) -> int:
        return len(self.results)

    def verdict(self, fp: str, known: Mapping[str, Result] | None = None, *, early_stop: bool = True,
                protected: bool = False) -> Verdict:
        """What to do with a proposal of fingerprint ``fp``; ``known``: fingerprint ->
        a copyable result of the same :class:`Training` from other searches."""
        if fp in self.results or fp in self.waiting:
            return Verdict.REPEAT
        stored = (known or {}).get(fp)
        if stored is not None and may_stand_in(stored, early_stop=early_stop, protected=protected):
            return Verdict.COPY
        return Verdict.TRAIN

    def prior(self, fp: str) -> Result | None:
        """The recorded result of ``fp`` (``None`` while it is in flight or unseen)."""
        return self.results.get(fp)

    def wait(self, fp: str, proposal) -> None:
        """``proposal`` repeats ``fp``, which is in flight: it is told ``fp``'s result when recorded."""
        self.waiting[fp].append(proposal)

    def repeated(self) -> bool:
        """Count one repeat; ``True`` when it is the :data:`MAX_SKIPS`-th in a row (the search ends)."""
        self.repeats += 1
        return self.repeats >= self.max_skips

    def started(self, fp: str) -> None:
        """``fp`` is being trained: later proposals of it wait for its result."""
        self.waiting.setdefault(fp, [])
        self.repeats = 0

    def recorded(self, fp: str, result: Result) -> list:
        """``fp``'s result (trained or copied); returns the proposals that waited for it."""
        self.results[fp] = result
        self.repeats = 0
        return self.waiting.pop(fp, [])
