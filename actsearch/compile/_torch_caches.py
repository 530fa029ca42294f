"""PyTorch's and Triton's own compiled-kernel caches, kept in private folders under actsearch's.

``torch.compile`` (the ``inductor`` backend, ``bench-kernel``) keeps compiled code,
shared libraries and pickled graphs in ``TORCHINDUCTOR_CACHE_DIR`` (by default
``$TMPDIR/torchinductor_$USER``, a name anyone on the machine can create first),
and Triton keeps its binaries in ``TRITON_CACHE_DIR``; both load what they find
there, so a file planted in either runs as whoever compiles next.  Before
actsearch compiles anything with them (the compile pipeline, ``bench-kernel``,
the ahead-of-time check), :func:`use_private_caches` points both variables at
folders with the kernel cache's rules (:func:`~actsearch.compile._cache.private_folder`:
created with mode 0700, refused when a symbolic link, owned by another user or
writable by others):

- a folder the user named in the variable is kept if it passes, else refused
  with one warning;
- otherwise ``torchinductor/`` and ``triton/`` inside the kernel cache folder
  (``$ACTSEARCH_CACHE`` or ``~/.cache/actsearch/kernels``), or, where that folder
  or these are refused, a fresh private temporary folder for this process.

Both libraries read the variables when they compile, not when they are imported,
so setting them here, before the first compile of the process, is enough; child
processes (Triton's, inductor's workers, the ahead-of-time workers) inherit them.

Example:
    >>> import os, tempfile
    >>> os.environ.pop("TORCHINDUCTOR_CACHE_DIR", None) and None
    >>> folders = use_private_caches(tempfile.mkdtemp())
    >>> sorted(folders) == ["TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR"]
    True
    >>> os.environ["TORCHINDUCTOR_CACHE_DIR"] == folders["TORCHINDUCTOR_CACHE_DIR"]
    True
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import warnings
from pathlib import Path

from ._cache import default_cache_dir, private_folder, untrusted

__all__ = ["use_private_caches", "CACHE_VARIABLES"]

#: variable -> the subfolder of the kernel cache that holds that cache
CACHE_VARIABLES = {"TORCHINDUCTOR_CACHE_DIR": "torchinductor", "TRITON_CACHE_DIR": "triton"}

#: (kernel cache folder, variable) -> the folder set, so each is checked once per process
_SET: dict[tuple[str, str], str] = {}
_TEMP: list[Path] = []


def use_private_caches(cache_dir: str | os.PathLike | None = None) -> dict[str, str]:
    """Point ``TORCHINDUCTOR_CACHE_DIR`` and ``TRITON_CACHE_DIR`` at private folders
    (see the module docstring); the folders set, by variable.

    ``cache_dir`` is the kernel cache folder (default :func:`default_cache_dir`).
    """
    base = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    out = {}
    for variable, sub in CACHE_VARIABLES.items():
        done = _SET.get((str(base), variable))
        if done is not None and os.environ.get(variable) == done:
            out[variable] = done
            continue
        out[variable] = os.environ[variable] = _SET[(str(base), variable)] = _choose(variable, base, sub)
    return out


def _choose(variable: str, base: Path, sub: str) -> str:
    given = os.environ.get(variable)
    if given:
        why = private_folder(Path(given).expanduser())
        if not why:
            return os.path.abspath(Path(given).expanduser())
        _warn(f"not using {variable}={given!r}: {why}")
    ours = base / sub
    why = _base_problem(base) or private_folder(ours)
    if not why:
        return str(ours.absolute())
    if not given:
        _warn(f"not using {str(ours)!r} for {variable}: {why}")
    return str(_temporary() / sub)


def _base_problem(base: Path) -> str:
    """Why the kernel cache folder cannot hold the others ('' when it can); created as
    :func:`~actsearch.compile._cache.open_cache` creates it (mode 0700)."""
    try:
        base.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        return f"the kernel cache folder cannot be created: {exc.strerror or exc}"
    why = untrusted(base) if base.is_dir() else "the kernel cache path is not a folder"
    return f"the kernel cache folder {str(base)!r}: {why}" if why else ""


def _temporary() -> Path:
    """A private folder for this process (mkdtemp: mode 0700), the same for every variable,
    removed when the process exits."""
    if not _TEMP:
        _TEMP.append(Path(tempfile.mkdtemp(prefix="actsearch-torch-caches-")))
        atexit.register(shutil.rmtree, _TEMP[0], ignore_errors=True)
    for sub in CACHE_VARIABLES.values():
        (_TEMP[0] / sub).mkdir(mode=0o700, exist_ok=True)
    return _TEMP[0]


def _warn(message: str) -> None:
    warnings.warn(f"actsearch: {message}; using a private folder instead", stacklevel=4)
