"""Candidate -> ``nn.Module`` with a fused forward/backward kernel.

Backends:

- ``triton``: Triton kernels generated from the sympy expression (forward, d/dx and
  d/dparam by symbolic differentiation, shared sub-expressions by ``sympy.cse``) in
  one ``torch.autograd.Function``.  Runs on CUDA tensors, or on CPU tensors when
  ``TRITON_INTERPRET=1`` was set before triton was imported.
- ``inductor``: ``torch.compile`` of the eager formula (the CPU default).
- ``eager``: the reference, ``candidate.module()``.
- ``auto``: ``triton`` when ``torch.cuda.is_available()`` and triton imports,
  else ``inductor``; if compiling or the check fails, ``eager`` with a warning
  saying why.  The choice is made when compiling, since a module does not know
  its device yet; a triton module given a CPU tensor falls back to the eager
  formula (with a warning) unless Triton is interpreting.

Every compiled module is checked against ``candidate.module()`` before first use
(see :mod:`actsearch.compile._check`).  Generated kernels are cached on disk (see
:mod:`actsearch.compile._cache`), keyed by ``candidate.key``, backend and code
generator version, and memoised in-process, so a candidate seen before costs an
import, not a compile, and is not checked again.

Example:
    >>> import torch, actsearch
    >>> m = actsearch.compile(actsearch.parse("relu(x) + eps*x*exp(-x**2/2); eps=0.01"), backend="eager")
    >>> sorted(m.state_dict())
    ['params.eps']
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from actsearch.errors import CompileError
from actsearch.expr import Candidate

from ._cache import KernelCache, import_source_file
from ._codegen import CODEGEN_VERSION, generate_source
from ._eager import EagerActivation

__all__ = ["compile_candidate", "BACKENDS", "resolve_backend", "CODEGEN_VERSION"]

BACKENDS = ("auto", "triton", "inductor", "eager")

#: (cache dir, key) -> (imported kernel module, its source) that passed its check here
_TRITON_MEMO: dict[tuple[str, str], tuple[object, str]] = {}
#: (cache dir, key) of inductor functions that passed their check in this process
_INDUCTOR_CHECKED: set[tuple[str, str]] = set()


def _triton_available() -> bool:
    try:
        import triton  # noqa: F401
    except Exception:
        return False
    return True


def resolve_backend(backend: str = "auto") -> str:
    """The concrete backend ``auto`` stands for on this machine (others unchanged)."""
    if backend not in BACKENDS:
        raise CompileError(f"unknown backend {backend!r}; choose one of: {', '.join(BACKENDS)}")
    if backend != "auto":
        return backend
    if torch.cuda.is_available() and _triton_available():
        return "triton"
    return "inductor"


def _check_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def compile_candidate(
    candidate: Candidate,
    backend: str = "auto",
    *,
    check: bool | None = None,
    cache_dir: str | Path | None = None,
):
    """Compile ``candidate`` to an ``nn.Module`` with the given backend.

    Args:
        candidate: a :class:`~actsearch.Candidate`.
        backend: ``"auto"``, ``"triton"``, ``"inductor"`` or ``"eager"``.
        check: compare with the eager reference before returning: ``None`` (default)
            when this kernel was not checked before (in this process or on disk),
            ``True`` always, ``False`` never.
        cache_dir: kernel cache directory (default ``$ACTSEARCH_CACHE`` or
            ``~/.cache/actsearch/kernels``).

    Raises:
        CompileError: unknown backend, a candidate the backend cannot compile, or a
            kernel that disagrees with the reference (message names the candidate
            and the worst difference).  Under ``auto`` these become a warning and the
            eager module.

    Example:
        >>> import actsearch
        >>> m = actsearch.compile(actsearch.parse("x*tanh(softplus(x))"), backend="eager")
        >>> m.backend
        'eager'
    """
    if not isinstance(candidate, Candidate):
        raise CompileError(f"expected a Candidate (from actsearch.parse), got {type(candidate).__name__}")
    chosen = resolve_backend(backend)
    cache = KernelCache(cache_dir)
    if chosen == "eager":
        return EagerActivation(candidate)
    try:
        if chosen == "triton":
            return _compile_triton(candidate, cache, check)
        return _compile_inductor(candidate, cache, check)
    except CompileError as exc:
        if backend != "auto":
            raise
        warnings.warn(f"actsearch.compile: {chosen} backend failed, using eager: {exc}", stacklevel=2)
        return EagerActivation(candidate)


def _summary(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def _compile_triton(candidate: Candidate, cache: KernelCache, check: bool | None):
    if not _triton_available():
        raise CompileError("the triton backend needs the triton package (pip install triton)")
    from ._check import check_module
    from ._triton import TritonActivation, interpreting

    if not torch.cuda.is_available() and not interpreting():
        raise CompileError(
            "the triton backend needs a CUDA device, or TRITON_INTERPRET=1 set before triton is first imported"
        )
    memo_key = (str(cache.directory), candidate.key)
    kernels, body = _TRITON_MEMO.get(memo_key, (None, ""))
    checked = kernels is not None
    if kernels is None:
        body = cache.load_text(candidate.key, "triton")
        if body is None:
            try:
                body = generate_source(candidate)
            except CompileError:
                raise
            except Exception as exc:  # sympy failures on exotic expressions
                raise CompileError(f"cannot generate a kernel for {candidate.text!r}: {_summary(exc)}") from exc
            cache.store(candidate.key, "triton", body)
        checked = cache.is_checked(candidate.key, "triton", body)
        name = f"actsearch_kernel_{candidate.key}_v{CODEGEN_VERSION}_{abs(hash(body)) % 10**8}"
        try:
            kernels = import_source_file(cache.path(candidate.key, "triton"), name)
        except Exception as exc:
            raise CompileError(f"generated kernel for {candidate.text!r} does not import: {_summary(exc)}") from exc
    module = TritonActivation(candidate, kernels)
    if check or (check is None and not checked):
        try:
            check_module(module, candidate, _check_device())
        except CompileError:
            raise
        except Exception as exc:
            raise CompileError(f"triton kernel for {candidate.text!r} failed to run: {_summary(exc)}") from exc
        cache.mark_checked(candidate.key, "triton", body)
    _TRITON_MEMO[memo_key] = (kernels, body)
    return module


_INDUCTOR_BODY = "# inductor: torch.compile of the eager formula passed the check\n"


def _compile_inductor(candidate: Candidate, cache: KernelCache, check: bool | None):
    from ._check import check_module
    from ._inductor import InductorActivation

    memo_key = (str(cache.directory), candidate.key)
    checked = memo_key in _INDUCTOR_CHECKED or (
        cache.load_text(candidate.key, "inductor") == _INDUCTOR_BODY
        and cache.is_checked(candidate.key, "inductor", _INDUCTOR_BODY)
    )
    try:
        module = InductorActivation(candidate)
    except Exception as exc:
        raise CompileError(f"torch.compile failed for {candidate.text!r}: {_summary(exc)}") from exc
    if check or (check is None and not checked):
        try:
            check_module(module, candidate, _check_device())
        except CompileError:
            raise
        except Exception as exc:  # inductor compiles lazily, at the check's first call
            raise CompileError(f"torch.compile failed for {candidate.text!r}: {_summary(exc)}") from exc
        cache.store(candidate.key, "inductor", _INDUCTOR_BODY)
        cache.mark_checked(candidate.key, "inductor", _INDUCTOR_BODY)
    _INDUCTOR_CHECKED.add(memo_key)
    return module
