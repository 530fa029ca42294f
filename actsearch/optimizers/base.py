"""The ask/tell interface every optimiser implements, and what the base class does for it.

An optimiser only proposes: :meth:`Optimizer.ask` returns a candidate and
:meth:`Optimizer.tell` reports its result.  The search driver owns de-duplication
(it never trains a fingerprint twice, and tells the optimiser the recorded result
of each of its own proposals, repeats included).  The base class does the rest:

* state: ``state_dict()`` / ``load_state_dict()`` save and restore the seed, the
  random generator and every attribute a subclass declares in :attr:`Optimizer.saved`
  (with a :class:`Saved` codec each), so a resumed search continues exactly;
* proposing something new: :meth:`Optimizer.propose_new` redraws a proposal whose
  fingerprint the optimiser already asked or was told about (optimisers whose next
  proposal depends on what they were told would otherwise ask the same candidate
  again and make no progress).

Example:
    >>> import actsearch
    >>> from actsearch.optimizers.base import Optimizer, INT
    >>> class Counting(Optimizer):
    ...     name = "counting"
    ...     saved = {"told": INT}
    ...     def __init__(self, space, seed=0):
    ...         super().__init__(space, seed)
    ...         self.told = 0
    ...     def ask(self):
    ...         return self.space.sample(self.rng)
    ...     def tell(self, candidate, result):
    ...         self.told += 1
    >>> a = Counting(actsearch.space("grammar"), seed=1)
    >>> c = a.ask(); a.tell(c, None)
    >>> b = Counting(actsearch.space("grammar"), seed=1)
    >>> b.load_state_dict(a.state_dict())
    >>> b.told, b.ask() == a.ask()
    (1, True)
"""

from __future__ import annotations

import abc
import json
from dataclasses import dataclass
from typing import Any, Callable, Container, Mapping

import numpy as np

from actsearch.errors import ActsearchError
from actsearch.symbolic.expr import Candidate, parse
from actsearch.result import Result

__all__ = ["Optimizer", "Saved", "PLAIN", "INT", "FINGERPRINTS", "SAME", "scored"]


def _json(value: Any) -> Any:
    return json.loads(json.dumps(value))


@dataclass(frozen=True)
class Saved:
    """How one attribute is saved: ``encode(value) -> JSON``, ``decode(JSON) -> value``.

    ``match=True``: the attribute is not restored but must equal the saved value
    (``encode`` of the fresh optimiser's own value); a state made with other
    options is refused with an error naming the attribute.
    """

    encode: Callable[[Any], Any] = _json
    decode: Callable[[Any], Any] = _json
    match: bool = False


#: JSON values (numbers, strings, lists, dicts), copied
PLAIN = Saved()
#: a counter
INT = Saved(int, int)
#: a set of fingerprints, saved sorted
FINGERPRINTS = Saved(sorted, set)
#: must be the same as when saved (e.g. a template chosen from the seed and options)
SAME = Saved(match=True)


def scored(label: str) -> Saved:
    """A list of ``(candidate, value or None)`` pairs, saved as ``{"text", "family", label}`` rows."""

    def encode(pairs):
        return [{"text": c.text, "family": c.family, label: v} for c, v in pairs]

    def decode(rows):
        return [(parse(r["text"], family=r["family"]), None if r[label] is None else float(r[label])) for r in rows]

    return Saved(encode, decode)


class Optimizer(abc.ABC):
    """Proposes candidates from a search space and learns from their results.

    Constructor arguments are stored as given; all randomness comes from
    ``self.rng = numpy.random.default_rng(seed)`` so the same seed gives the same
    proposals for the same sequence of results.  ``state_dict()`` is
    JSON-serialisable and ``load_state_dict()`` makes a fresh optimiser (made with
    the same arguments) continue exactly where the saved one stopped (used by
    ``actsearch search --resume``): declare what to save in :attr:`saved`.
    """

    name: str = ""
    #: whether results change what it proposes (False: an ``--objective`` needs nothing of it)
    learns: bool = True
    #: attribute -> :class:`Saved`: what :meth:`state_dict` keeps besides the seed and the generator
    saved: Mapping[str, Saved] = {}

    def __init__(self, space, seed: int = 0):
        self.space = space
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    @abc.abstractmethod
    def ask(self) -> Candidate | None:
        """The next candidate to evaluate (``None``: nothing left to propose)."""

    @abc.abstractmethod
    def tell(self, candidate: Candidate, result: Result) -> None:
        """Report the result of a candidate returned by :meth:`ask` (or enqueued, or a repeat)."""

    # -- state -------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable state: name, seed, the generator's state and :attr:`saved`."""
        state = {"name": self.name, "seed": self.seed, "rng": self.rng.bit_generator.state}
        for attr, how in self.saved.items():
            state[attr] = how.encode(getattr(self, attr))
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state produced by :meth:`state_dict` (then :meth:`_restored` runs)."""
        for attr, how in self.saved.items():
            if not how.match:
                continue
            mine = how.encode(getattr(self, attr))
            if state.get(attr) != mine:
                raise ActsearchError(f"{self.name} optimizer: saved state was made with another {attr} "
                                     f"({state.get(attr)!r}, now {mine!r}); use the same seed and options")
        for attr, how in self.saved.items():
            if not how.match:
                setattr(self, attr, how.decode(state[attr]))
        self._restored()
        if "rng" in state:
            self.rng.bit_generator.state = state["rng"]

    def _restored(self) -> None:
        """Rebuild what is derived from the restored attributes (nothing by default)."""

    # -- proposing something new -------------------------------------------------
    def propose_new(self, propose: Callable[[], Candidate], avoid: Container[str], tries: int,
                    dropped: Callable[[Candidate], None] | None = None) -> Candidate:
        """``propose()`` again while its fingerprint is in ``avoid``, up to ``tries``
        proposals in all; the last one is returned even if it repeats.  ``dropped(c)``
        is called for every proposal given up (e.g. to close an Optuna trial)."""
        for attempt in range(tries):
            cand = propose()
            if cand.fingerprint() not in avoid or attempt == tries - 1:
                return cand
            if dropped is not None:
                dropped(cand)
        raise ValueError(f"tries must be >= 1, got {tries}")
