"""The compile entry point: the backend ``auto`` stands for, and eager when a chosen one fails.

:func:`compile_candidate` is what :func:`actsearch.compile` calls; the package's
docstring says what each backend does.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import torch

from actsearch.devices import resolve_device
from actsearch.errors import CompileError
from actsearch.symbolic.expr import Candidate

from ._backends import Backend, backend_names, get_backend, triton_importable
from ._pipeline import build_checked

__all__ = ["compile_candidate", "resolve_backend", "BACKENDS"]


class _BackendNames(Sequence):
    """``auto`` and the registered backends, read live (a backend registered later is in it)."""

    def __getitem__(self, i):
        return backend_names()[i]

    def __len__(self) -> int:
        return len(backend_names())

    def __repr__(self) -> str:
        return repr(backend_names())


BACKENDS = _BackendNames()

_WARNED: set[str] = set()


def resolve_backend(backend: str = "auto", device: str | torch.device | None = None) -> str:
    """The concrete backend ``backend`` stands for on ``device`` (others are returned unchanged).

    ``auto`` is ``triton`` on a CUDA device when triton imports, else ``eager``.

    Example:
        >>> resolve_backend("auto", "cpu")
        'eager'
        >>> resolve_backend("inductor", "cpu")
        'inductor'
    """
    if backend != "auto":
        return get_backend(backend).name
    dev = resolve_device(device, error=CompileError)
    if dev.type == "cuda" and triton_importable():
        return "triton"
    return "eager"


def compile_candidate(
    candidate: Candidate,
    backend: str | Backend = "auto",
    *,
    device: str | torch.device | None = None,
    check: bool | None = None,
    cache_dir: str | Path | None = None,
):
    """Compile ``candidate`` to an ``nn.Module`` with the given backend.

    Args:
        candidate: a :class:`~actsearch.Candidate`.
        backend: ``"auto"``, a registered backend's name (``"triton"``,
            ``"inductor"``, ``"eager"``, ...) or a :class:`Backend`.
        device: where the module runs (``"cpu"``, ``"cuda"``, ``"cuda:1"`` or a
            ``torch.device``).  ``None``: CUDA when torch sees one, else the CPU,
            and the module is returned on the CPU, free to be moved.
        check: compare with the eager reference on ``device`` before returning:
            ``None`` (default) when this kernel was not checked before on that kind
            of device (in this process or on disk), ``True`` always, ``False`` never.
        cache_dir: kernel cache folder (default ``$ACTSEARCH_CACHE`` or
            ``~/.cache/actsearch/kernels``).

    Raises:
        CompileError: unknown backend or device, a backend that does not run on
            ``device``, a candidate the backend cannot compile, an unusable cache
            folder, or a kernel that disagrees with the reference (the message
            names the candidate and the worst difference).  Under ``auto`` these
            become one warning and the eager module.

    Example:
        >>> import actsearch
        >>> m = actsearch.compile(actsearch.parse("x*tanh(softplus(x))"), backend="eager")
        >>> m.backend
        'eager'
        >>> compile_candidate(actsearch.parse("x*sigmoid(x)"), device="cpu").backend  # auto on a CPU
        'eager'
    """
    if not isinstance(candidate, Candidate):
        raise CompileError(f"expected a Candidate (from actsearch.parse), got {type(candidate).__name__}")
    dev = resolve_device(device, error=CompileError)
    bound = dev if device is not None else None
    chosen = get_backend(resolve_backend(backend, dev) if isinstance(backend, str) else backend)
    try:
        why = chosen.available(dev)
        if why:
            raise CompileError(why)
        return build_checked(chosen, candidate, dev, bound, check, cache_dir)
    except CompileError as exc:
        if backend != "auto":
            raise
        _warn_once(f"actsearch.compile: {chosen.name} backend failed, using eager: {exc}")
        return build_checked(get_backend("eager"), candidate, dev, bound, check, cache_dir)


def _warn_once(message: str) -> None:
    # one warning per reason and process, not one per layer of every model
    if message not in _WARNED:
        _WARNED.add(message)
        warnings.warn(message, stacklevel=3)
