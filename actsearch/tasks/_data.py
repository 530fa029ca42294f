"""Dataset cache: a folder (``$ACTSEARCH_DATA`` or ``~/.cache/actsearch/data``) of
``.npz`` files written atomically, plus an in-process memo so a Ray worker that runs
many trials loads each dataset once."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

__all__ = ["cache_dir", "cached_arrays"]

_MEMO: dict[str, dict[str, np.ndarray]] = {}


def cache_dir() -> Path:
    root = os.environ.get("ACTSEARCH_DATA") or os.path.join(Path.home(), ".cache", "actsearch", "data")
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _atomic_savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    # write-then-rename: concurrent workers never read a half-written file
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp.npz")
    os.close(fd)
    try:
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def cached_arrays(name: str, build: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The arrays cached as ``<cache>/<name>.npz``, built by ``build()`` on first use."""
    path = cache_dir() / f"{name}.npz"
    memo_key = str(path)
    if memo_key in _MEMO:
        return _MEMO[memo_key]
    if not path.exists():
        _atomic_savez(path, build())
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    _MEMO[memo_key] = arrays
    return arrays
