"""The one path every backend's modules take: generate, memo, disk cache, build, check.

For a backend that is not the reference itself:

1. the backend generates the candidate's source (once per process for each state
   of the function table: :func:`actsearch.symbolic.functions.revision`), and its
   content key is a hash of that source, the backend and the torch and Triton
   versions (:func:`~actsearch.compile._cache.content_key`; a backend with no source
   is keyed by the candidate's text and the backend's ``version``);
2. the in-process memo ``(cache folder, backend, content key)`` holds what was
   loaded and on which kinds of device it passed the check; else the disk cache
   (:mod:`actsearch.compile._cache`) gets the source, and the backend loads it;
3. ``backend.build`` makes the module;
4. unless this kernel passed the check on this kind of device before (memo, or a
   verified marker on disk), it is compared with the eager reference there
   (:mod:`actsearch.compile._check`) and the pass recorded.

Any change of a row's template, a helper or a printer changes the source, so the
key: a stale kernel is never served.  Before anything is generated, PyTorch's and
Triton's own caches are pointed at private folders
(:mod:`actsearch.compile._torch_caches`).

Every failure along the way is a :class:`~actsearch.errors.CompileError` naming
the candidate and the step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from actsearch.errors import CompileError
from actsearch.symbolic.functions import revision

from . import _check
from ._backends import Backend
from ._cache import KernelCache, content_key, default_cache_dir, open_cache
from ._torch_caches import use_private_caches

__all__ = ["build_checked", "clear_memo"]


@dataclass
class _Entry:
    source: str | None
    loaded: object
    checked: set[str] = field(default_factory=set)


_MEMO: dict[tuple[str, str, str], _Entry] = {}
#: (backend name, backend object, candidate key, table revision) -> the generated source
_SOURCES: dict[tuple[str, int, str, int], str | None] = {}


def clear_memo() -> None:
    """Forget what this process generated, loaded and checked (as a fresh worker starts)."""
    _MEMO.clear()
    _SOURCES.clear()


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
    use_private_caches(folder)
    source = _generated(backend, candidate)
    body = source if source is not None else f"{text}\0{name} {backend.version}"
    key = content_key(name, body)
    memo_key = (str(folder), name, key)
    cache: KernelCache | None = None
    entry = _MEMO.get(memo_key)
    if entry is None:
        cache = open_cache(folder)
        entry = _load(backend, candidate, cache, key, source)
    module = _step(f"{name} backend failed to build {text!r}", backend.build, candidate, entry.loaded, bound)
    kind = device.type
    if check is None and kind not in entry.checked:
        cache = cache or open_cache(folder)
        if cache.is_checked(key, name, body, kind):
            entry.checked.add(kind)
    if check or (check is None and kind not in entry.checked):
        _step(f"{name} module for {text!r} failed to run on {device}", _check_on, module, candidate, device)
        cache = cache or open_cache(folder)
        cache.mark_checked(key, name, body, kind)
        entry.checked.add(kind)
    _MEMO[memo_key] = entry  # check=False leaves it unchecked: a later default call still checks
    return module.to(target)


def _check_on(module, candidate, device: torch.device) -> None:
    _check.check_module(module.to(device), candidate, device)


def _generated(backend: Backend, candidate) -> str | None:
    """``backend.generate(candidate)``, once per process and state of the function table."""
    key = (backend.name, id(backend), candidate.key, revision())
    if key not in _SOURCES:
        _SOURCES[key] = _step(f"cannot generate a {backend.name} kernel for {candidate.text!r}", backend.generate,
                              candidate)
    return _SOURCES[key]


def _load(backend: Backend, candidate, cache: KernelCache, key: str, source: str | None) -> _Entry:
    if source is None:  # nothing to keep: the backend builds from the candidate alone
        return _Entry(None, None)
    if cache.load_text(key, backend.name) != source:  # missing, or not (any more) what this cache wrote
        cache.store(key, backend.name, source)
    path = cache.path(key, backend.name)
    loaded = _step(f"generated {backend.name} kernel for {candidate.text!r} does not import", backend.load,
                   candidate, source, path)
    return _Entry(source, loaded)
