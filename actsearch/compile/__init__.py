"""Candidate -> ``nn.Module`` with a fused forward/backward kernel.

Backends: ``triton`` (generated kernels), ``inductor`` (torch.compile), ``eager``
(the reference, ``candidate.module()``), ``auto``.
"""

from __future__ import annotations

from actsearch.errors import CompileError

__all__ = ["compile_candidate", "BACKENDS"]

BACKENDS = ("auto", "triton", "inductor", "eager")


def compile_candidate(candidate, backend: str = "auto", **options):
    """Placeholder until the compiler lands: every backend gives the eager module."""
    if backend not in BACKENDS:
        raise CompileError(f"unknown backend {backend!r}; choose one of: {', '.join(BACKENDS)}")
    return candidate.module()
