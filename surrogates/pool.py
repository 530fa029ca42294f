"""Every candidate of a finite space with its features, to rank all of them at once.

A surrogate that can score every member of a space never needs a proposal pool:
it fits its model to what it has been told and takes the best-ranked member it
has not asked yet.  :func:`candidate_pool` builds the pool of a space:

* the grammar (or anything with a ``catalog()``): the catalog's hundreds of
  thousands of distinct functions, featurised at once from their values on the
  feature grid and cached on disk beside the catalog (float16, a few hundred
  bytes a function); members become candidates only when asked for;
* a finite family (rational, polynomial, entropy without jitter; a benchmark
  table): its enumerated candidates, featurised one by one;
* a union of spaces: its members' pools, one after the other.

Infinite spaces have no pool (``None``).

Example:
    >>> import actsearch
    >>> from actsearch.surrogates.features import FeatureExtractor
    >>> from actsearch.surrogates.pool import candidate_pool
    >>> pool = candidate_pool(actsearch.space("entropy"), FeatureExtractor())
    >>> len(pool), pool.features.shape[1], pool.index(pool.candidate(3))
    (10, 78, 3)
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from typing import Callable, Sequence

import numpy as np

from actsearch.symbolic.expr import Candidate

from .features import GRID, FeatureExtractor

__all__ = ["CandidatePool", "candidate_pool", "catalog_features"]

_CHUNK = 20_000


class CandidatePool:
    """Members ``0..n-1`` with features ``(n, dim)``; ``candidate(i)`` builds member ``i``
    (``None`` if it cannot be built), ``index(candidate)`` finds a candidate's member
    (``None`` if it is not one)."""

    def __init__(self, features: np.ndarray, build: Callable[[int], Candidate | None],
                 locate: Callable[[Candidate], int | None], label: str = ""):
        self.features, self._build, self._locate, self.label = features, build, locate, label

    def __len__(self) -> int:
        return len(self.features)

    def __repr__(self) -> str:
        return f"CandidatePool({self.label or 'members'}: {len(self)})"

    def candidate(self, i: int) -> Candidate | None:
        return self._build(int(i))

    def index(self, candidate: Candidate) -> int | None:
        return self._locate(candidate)

    @classmethod
    def of_candidates(cls, members: Sequence[Candidate], extractor: FeatureExtractor,
                      label: str = "") -> "CandidatePool":
        members = list(members)
        by_fp = {}
        for i, c in enumerate(members):
            by_fp.setdefault(c.fingerprint(), i)
        features = extractor.matrix(members).astype(np.float32) if members else \
            np.zeros((0, extractor.dim), np.float32)
        return cls(features, lambda i: members[i], lambda c: by_fp.get(c.fingerprint()), label)

    @classmethod
    def concat(cls, pools: Sequence["CandidatePool"], label: str = "") -> "CandidatePool":
        offsets = np.cumsum([0] + [len(p) for p in pools])

        def build(i):
            k = int(np.searchsorted(offsets, i, side="right") - 1)
            return pools[k].candidate(i - offsets[k])

        def locate(c):
            for k, p in enumerate(pools):
                j = p.index(c)
                if j is not None:
                    return int(offsets[k] + j)
            return None

        return cls(np.concatenate([p.features for p in pools]), build, locate, label)


def catalog_features(catalog, extractor: FeatureExtractor, progress=None, cache: bool = True) -> np.ndarray:
    """Features of every catalog member, ``(len(catalog), dim)`` float32, cached on disk."""
    from actsearch.search_spaces._catalog import catalog_dir

    if not extractor.vectorised:
        from actsearch.errors import ActsearchError

        raise ActsearchError(f"feature groups {', '.join(extractor.groups)} are computed per candidate; a catalog "
                             f"of {len(catalog):,} functions needs groups computed from grid values "
                             "(outputs, slopes, signal)")
    key = hashlib.sha256(f"{catalog.digest(catalog.unary, catalog.binary, catalog.shapes)}|{extractor.key}|"
                         f"{GRID[0]},{GRID[-1]},{len(GRID)}".encode()).hexdigest()[:16]
    path = catalog_dir() / f"features-{key}.npy"
    if cache:
        try:
            stored = np.load(path, allow_pickle=False)
            if stored.shape == (len(catalog), extractor.dim):
                return stored.astype(np.float32)
        except (OSError, ValueError):
            pass
    out = np.empty((len(catalog), extractor.dim), dtype=np.float16)
    for start in range(0, len(catalog), _CHUNK):
        index = np.arange(start, min(start + _CHUNK, len(catalog)))
        out[index] = extractor.from_values(catalog.values(GRID, index))
        if progress is not None:
            progress(f"features: {index[-1] + 1:,}/{len(catalog):,} functions")
    if cache:
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".npy")
            with os.fdopen(fd, "wb") as fh:
                np.save(fh, out, allow_pickle=False)
            os.replace(tmp, path)
        except OSError:
            pass  # an unwritable cache costs the next search this time again
    return out.astype(np.float32)


def candidate_pool(space, extractor: FeatureExtractor, progress=None, max_members: int = 5000) -> CandidatePool | None:
    """The pool of ``space`` (see the module docstring), or ``None`` for an infinite space
    (or a finite one of more than ``max_members`` members without a catalog)."""
    members = getattr(space, "members", None)
    if callable(members):  # a union: its spaces' pools
        pools = [candidate_pool(m, extractor, progress, max_members) for m in members()]
        if any(p is None for p in pools):
            return None
        return CandidatePool.concat(pools, label=space.name)
    if hasattr(space, "catalog") and extractor.vectorised:
        catalog = space.catalog(progress) if progress else space.catalog()
        features = catalog_features(catalog, extractor, progress)
        return CandidatePool(features, lambda i: space.build_member(i), space.member_index, label=space.name)
    if not getattr(space, "finite", False):
        return None
    listed = []
    for c in space.enumerate():
        listed.append(c)
        if len(listed) > max_members:
            return None
    return CandidatePool.of_candidates(listed, extractor, label=space.name)
