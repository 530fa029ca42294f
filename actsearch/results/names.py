"""What users type to name a candidate -> the candidate (and its record, if stored).

A name is, in the order tried:

1. a :class:`~actsearch.Candidate` (passed through);
2. a preset name (``crrelu``, ``rational-gelu``, ...);
3. a stored run: its id ``SEARCH:NUMBER`` (trial ``NUMBER`` of search ``SEARCH``) or
   a candidate key (16 hex digits, the best stored run of that candidate);
4. otherwise formula text for :func:`actsearch.parse`.

The grammar has no ``:``, and a 16-hex-digit word is not a formula (it has no ``x``),
so the forms cannot be confused.  This module sits above the read-only store view
(:mod:`actsearch.store.view`) and below the exporter (:mod:`actsearch.results.export`).

Example:
    >>> from actsearch.results.names import resolve, is_stored_id
    >>> found = resolve("crrelu")
    >>> found.origin, found.candidate.name, found.record is None
    ('preset', 'crrelu', True)
    >>> is_stored_id("my-search:12"), is_stored_id("relu(x)")
    (True, False)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..store.view import open_view
from ..registry import PRESETS, preset
from ..symbolic.expr import Candidate, parse

__all__ = ["Provenance", "Resolved", "resolve", "is_stored_id"]

_TRIAL_RE = re.compile(r"^(?P<search>[^:\s][^:]*):(?P<number>\d+)$")
_KEY_RE = re.compile(r"^[0-9a-f]{16}$")


@dataclass
class Provenance:
    """Where a candidate came from (an export writes it into the file's docstring).

    ``learned`` holds the parameter values learned in the best run, one mapping per
    activation layer in model order (empty when unknown).
    """

    search: str | None = None
    trial: int | None = None
    task: str | None = None
    metric: str | None = None
    score: float | None = None
    spread: float | None = None
    seeds: int | None = None
    learned: list[dict[str, float]] = field(default_factory=list)


@dataclass
class Resolved:
    """A resolved name: the candidate and, for stored ones, where it came from."""

    candidate: Candidate
    origin: str  # "candidate" | "preset" | "store" | "formula"
    provenance: Provenance
    record: Any = None  # the store's Entry of the run, when stored


def is_stored_id(text: str) -> bool:
    """True for ``SEARCH:NUMBER`` and for a 16-hex-digit candidate key."""
    return bool(_TRIAL_RE.match(text) or _KEY_RE.match(text))


def resolve(ref: Any, *, storage: str | None = None, search: str | None = None) -> Resolved:
    """Resolve ``ref`` (see the module docstring); raises an ``ActsearchError`` subclass."""
    if isinstance(ref, Candidate):
        return Resolved(ref, "candidate", Provenance())
    text = str(ref).strip()
    if text in PRESETS:
        return Resolved(preset(text), "preset", Provenance())
    if is_stored_id(text):
        return _stored(open_view(storage).entry(text, search=search))
    return Resolved(parse(text), "formula", Provenance())


def _stored(e) -> Resolved:
    """A stored run (a :class:`~actsearch.store.view.Entry`) with its provenance."""
    r = e.result
    candidate = parse(r.text, family=r.family, name=r.name or None)
    provenance = Provenance(
        search=e.search,
        trial=e.trial,
        task=e.task or None,
        metric=r.metric or None,
        score=r.score if r.ok else None,
        spread=r.spread if r.ok else None,
        seeds=len(r.seed_scores) or None,
        learned=[{k: float(v) for k, v in layer.items() if k in candidate.params} for layer in r.learned_params],
    )
    return Resolved(candidate, "store", provenance, record=e)
