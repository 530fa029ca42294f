"""Compile backends: the interface, the built-in ones and the one table of them.

A backend turns a candidate into an ``nn.Module`` with the candidate's parameters
(``params.<name>``).  :func:`actsearch.compile.compile_candidate` drives every
backend through the same steps (:mod:`actsearch.compile._pipeline`): look the
candidate up in the in-process memo, else in the disk cache, else ``generate`` and
store; ``load`` what was stored once per process; ``build`` a module; check it
against the eager reference unless that was done before on this kind of device.

Add your own by subclassing :class:`Backend` and registering an instance; check it
with :func:`actsearch.testing.check_backend`:

    >>> import actsearch
    >>> from actsearch.compile import Backend, register_backend
    >>> class Plain(Backend):
    ...     name = "plain"
    ...     def build(self, candidate, loaded, device):
    ...         return candidate.module()
    >>> register_backend(Plain())
    >>> actsearch.compile(actsearch.parse("relu(x)"), backend="plain").candidate.text
    'relu(x)'
    >>> unregister_backend("plain")
"""

from __future__ import annotations

from pathlib import Path

import torch

from actsearch.errors import CompileError
from actsearch.registry import Registry

from . import _codegen
from ._cache import import_verified_source
from ._eager import EagerActivation
from ._inductor import InductorActivation

__all__ = ["Backend", "register_backend", "unregister_backend", "get_backend", "backend_names",
           "triton_importable"]


class Backend:
    """One way to compile a candidate.  Override ``build``; the rest is optional.

    Attributes:
        name: what ``backend=`` selects it by.
        version: for a backend that generates no source, part of the content key
            (with the candidate's text and the torch and Triton versions) that marks a
            passed check on disk; change it when the same candidate would compile
            differently.  A generated source is its own key.
        reference: the module *is* the eager reference: nothing to cache or check.
    """

    name: str = ""
    version: str = ""
    reference: bool = False

    def available(self, device: torch.device) -> str:
        """``''`` when modules of this backend run on ``device``, else why they do not."""
        return ""

    def generate(self, candidate) -> str | None:
        """Source text to keep in the disk cache, or ``None``; called once per process and
        state of the function table (its hash is the cache key: keep it deterministic)."""
        return None

    def load(self, candidate, source: str, filename: Path):
        """What ``build`` needs from the verified cached ``source``; called once per process."""
        return None

    def build(self, candidate, loaded, device: torch.device | None):
        """A fresh module for ``candidate``; ``device`` is the caller's, or ``None`` if not named."""
        raise NotImplementedError


class EagerBackend(Backend):
    name = "eager"
    reference = True

    def build(self, candidate, loaded, device):
        return EagerActivation(candidate)


class InductorBackend(Backend):
    name = "inductor"
    version = f"torch {torch.__version__}"

    def build(self, candidate, loaded, device):
        return InductorActivation(candidate)


def triton_importable() -> bool:
    try:
        import triton  # noqa: F401
    except Exception:
        return False
    return True


class TritonBackend(Backend):
    name = "triton"

    def available(self, device):
        if not triton_importable():
            return "the triton backend needs the triton package (pip install triton)"
        from ._triton import interpreting

        if device.type == "cuda" or (device.type == "cpu" and interpreting()):
            return ""
        return (f"the triton backend runs on CUDA devices, not {device.type} "
                "(on a CPU only with TRITON_INTERPRET=1 set before triton is first imported)")

    def generate(self, candidate):
        return _codegen.generate_source(candidate)

    def load(self, candidate, source, filename):
        import hashlib

        digest = hashlib.sha256(source.encode()).hexdigest()[:16]
        return import_verified_source(source, filename, f"actsearch_kernel_{candidate.key}_{digest}")

    def build(self, candidate, kernels, device):
        from ._triton import TritonActivation

        return TritonActivation(candidate, kernels, fallback="eager" if device is None else "error")


#: name -> backend, in registration order; ``auto`` is not a backend but a choice among them
BACKEND_TABLE = Registry("backend", {b.name: b for b in (TritonBackend(), InductorBackend(), EagerBackend())},
                         call=False, sort=False, error=CompileError, first=("auto",))


def register_backend(backend: Backend, *, replace: bool = False) -> None:
    """Make ``backend`` selectable as ``compile_candidate(..., backend=backend.name)``."""
    if not isinstance(backend, Backend):
        raise CompileError(f"a backend must be an actsearch.compile.Backend instance, got {type(backend).__name__}")
    BACKEND_TABLE.register(backend.name, backend, replace=replace)


def unregister_backend(name: str) -> None:
    """Remove a backend added with :func:`register_backend` (built-ins stay)."""
    BACKEND_TABLE.unregister(name)


def backend_names() -> tuple[str, ...]:
    """``auto`` and every registered backend, as ``backend=`` accepts them."""
    return tuple(BACKEND_TABLE.choices())


def get_backend(name: str | Backend) -> Backend:
    if isinstance(name, Backend):
        return name
    return BACKEND_TABLE.get(name)
