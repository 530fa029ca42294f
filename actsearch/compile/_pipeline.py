"""The one path every backend's modules take: memo, disk cache, build, check.

For a backend that is not the reference itself:

1. the in-process memo ``(cache folder, backend, candidate.key)`` holds what was
   loaded and on which kinds of device it passed the check;
2. else the disk cache (:mod:`actsearch.compile._cache`) holds the generated
   source, verified before it is executed; else the backend generates it and the
   cache stores it; the backend loads it once;
3. ``backend.build`` makes the module;
4. unless this kernel passed the check on this kind of device before (memo, or a
   verified marker on disk), it is compared with the eager reference there
   (:mod:`actsearch.compile._check`) and the pass recorded.

Every failure along the way is a :class:`~actsearch.errors.CompileError` naming
the candidate and the step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from actsearch.errors import CompileError

from . import _check
from ._backends import Backend
from ._cache import KernelCache, default_cache_dir, open_cache

__all__ = ["build_checked", "clear_memo"]


@dataclass
class _Entry:
    source: str | None
    loaded: object
    checked: set[str] = field(default_factory=set)


_MEMO: dict[tuple[str, str, str], _Entry] = {}


def clear_memo() -> None:
    """Forget what this process loaded and checked (as a fresh worker starts)."""
    _MEMO.clear()


def summary(exc: BaseException) -> str:
    """``Type: first line`` of an exception, at most 300 characters."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def _step(what: str, fn, *args):
    try:
        return fn(*args)
    except CompileError:
        raise
    except Exception as exc:  # a backend's own failure, reported in one line
        raise CompileError(f"{what}: {summary(exc)}") from exc


def build_checked(backend: Backend, candidate, device: torch.device, bound: torch.device | None,
                  check: bool | None, cache_dir) -> torch.nn.Module:
    """A checked module of ``backend`` for ``candidate``: on ``bound``, else on the CPU."""
    name, text = backend.name, candidate.text
    target = bound if bound is not None else torch.device("cpu")
    if backend.reference:
        return _step(f"{name} backend failed to build {text!r}", backend.build, candidate, None, bound).to(target)
    folder = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    memo_key = (str(folder), name, candidate.key)
    cache: KernelCache | None = None
    entry = _MEMO.get(memo_key)
    if entry is None:
        cache = open_cache(folder)
        entry = _load(backend, candidate, cache)
    module = _step(f"{name} backend failed to build {text!r}", backend.build, candidate, entry.loaded, bound)
    body = entry.source if entry.source is not None else f"{name} {backend.version}"
    kind = device.type
    if check is None and kind not in entry.checked:
        cache = cache or open_cache(folder)
        if cache.is_checked(candidate.key, name, body, kind):
            entry.checked.add(kind)
    if check or (check is None and kind not in entry.checked):
        _step(f"{name} module for {text!r} failed to run on {device}", _check_on, module, candidate, device)
        cache = cache or open_cache(folder)
        cache.mark_checked(candidate.key, name, body, kind)
        entry.checked.add(kind)
    _MEMO[memo_key] = entry  # check=False leaves it unchecked: a later default call still checks
    return module.to(target)


def _check_on(module, candidate, device: torch.device) -> None:
    _check.check_module(module.to(device), candidate, device)


def _load(backend: Backend, candidate, cache: KernelCache) -> _Entry:
    text, key = candidate.text, candidate.key
    source = cache.load_text(key, backend.name)
    if source is None:
        source = _step(f"cannot generate a {backend.name} kernel for {text!r}", backend.generate, candidate)
        if source is None:  # nothing to keep: the backend builds from the candidate alone
            return _Entry(None, None)
        cache.store(key, backend.name, source)
    path = cache.path(key, backend.name)
    loaded = _step(f"generated {backend.name} kernel for {text!r} does not import", backend.load, candidate, source,
                   path)
    return _Entry(source, loaded)
