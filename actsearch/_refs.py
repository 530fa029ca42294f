"""What users type to name a candidate -> the candidate (and its record, if stored).

A reference is, in the order tried:

1. a :class:`~actsearch.Candidate` (passed through);
2. a preset name (``crrelu``, ``rational-gelu``, ...);
3. a store reference: ``SEARCH:NUMBER`` (trial ``NUMBER`` of search ``SEARCH``) or a
   candidate key (16 hex digits, the best stored run of that candidate);
4. otherwise formula text for :func:`actsearch.parse`.

The grammar has no ``:``, and a 16-hex-digit word is not a formula (it has no ``x``),
so the forms cannot be confused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ._presets import PRESETS
from .expr import Candidate, parse
from .export import Provenance
from .registry import preset

__all__ = ["Reference", "resolve", "is_store_reference"]

_TRIAL_RE = re.compile(r"^(?P<search>[^:\s][^:]*):(?P<number>\d+)$")
_KEY_RE = re.compile(r"^[0-9a-f]{16}$")


@dataclass
class Reference:
    """A resolved reference: the candidate and, for stored ones, where it came from."""

    candidate: Candidate
    origin: str  # "candidate" | "preset" | "store" | "formula"
    provenance: Provenance
    record: Any = None  # the store's record of the run, when stored


def is_store_reference(text: str) -> bool:
    return bool(_TRIAL_RE.match(text) or _KEY_RE.match(text))


def resolve(ref: Any, *, storage: str | None = None, search: str | None = None) -> Reference:
    """Resolve ``ref`` (see the module docstring); raises an ``ActsearchError`` subclass."""
    if isinstance(ref, Candidate):
        return Reference(ref, "candidate", Provenance())
    text = str(ref).strip()
    if text in PRESETS:
        return Reference(preset(text), "preset", Provenance())
    if is_store_reference(text):
        from ._store_view import open_view

        return open_view(storage).reference(text, search=search)
    return Reference(parse(text), "formula", Provenance())
