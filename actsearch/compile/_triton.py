"""Running generated Triton kernels: the autograd Function and the module.

Imported lazily (it imports triton): set ``TRITON_INTERPRET=1`` before the first
compile to run the kernels on a CPU through Triton's interpreter.

Per forward+backward the launcher issues, besides the two generated kernels,
one ``stack`` of the parameters (forward), one ``sum`` of the per-program
parameter-gradient partials (backward) and views: the partials are written in
full by the kernel (``empty``, not ``zeros``), the parameters enter the autograd
Function one by one (no ``stack`` backward, no per-parameter ``select``), and a
candidate without parameters passes a cached placeholder.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
import triton
import triton.language as tl

from actsearch.errors import CompileError
from actsearch.symbolic.module import CandidateModule

from ._launch import BLOCK, FP_FUSION, num_warps, row_launch

__all__ = ["TritonActivation", "interpreting", "KernelFunction", "launch_config"]

_KERNEL_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


def interpreting() -> bool:
    """True when triton was imported in interpreter mode (``TRITON_INTERPRET=1`` set
    before the import: triton builds ``tl.sigmoid`` and friends at import time)."""
    from triton.runtime.interpreter import InterpretedFunction

    return isinstance(tl.sigmoid, InterpretedFunction)


_INTERPRETING = interpreting()  # fixed once triton is imported
#: device -> a float32 placeholder for the parameter pointers of parameter-free kernels
_PLACEHOLDER: dict[torch.device, torch.Tensor] = {}


def _placeholder(device: torch.device) -> torch.Tensor:
    t = _PLACEHOLDER.get(device)
    if t is None:
        t = _PLACEHOLDER[device] = torch.zeros(1, dtype=torch.float32, device=device)
    return t


def launch_config(rowwise: bool, shape) -> tuple[str, int, int, int, int]:
    """``(kernel suffix, programs, n or ncols argument, BLOCK, num_warps)`` for an
    input of ``shape`` (the suffix picks ``fwd``/``bwd`` or ``fwd_long``/``bwd_long``)."""
    numel = 1
    for s in shape:
        numel *= int(s)
    if rowwise:
        ncols = int(shape[-1]) if len(shape) else 1
        suffix, block = row_launch(ncols)
        return suffix, numel // max(ncols, 1), ncols, block, num_warps(block)
    return "", triton.cdiv(numel, BLOCK), numel, BLOCK, num_warps(BLOCK)


def _pack(params: tuple[torch.Tensor, ...], device: torch.device) -> torch.Tensor:
    if not params:
        return _placeholder(device)
    if all(p.dtype == torch.float32 and p.device == device for p in params):
        return torch.stack(params)
    return torch.stack([p.to(device=device, dtype=torch.float32) for p in params])


class KernelFunction(torch.autograd.Function):
    """y = f(x; p_1..p_K) with the generated ``fwd``/``bwd`` kernels of one candidate.

    The parameters (0-d tensors) are packed into one float32 vector for the
    kernels; their gradients are the sums of the per-program (or per-row) float32
    partials the backward kernel writes, summed in one reduction (deterministic,
    no atomics).

    Call as ``KernelFunction.apply(x, kernels, *params)``.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, kernels, *params: torch.Tensor):
        x = x.contiguous()
        pvec = _pack(params, x.device)
        y = torch.empty_like(x)
        suffix, programs, n_arg, block, warps = launch_config(kernels.ROWWISE, x.shape)
        if programs:
            with np.errstate(all="ignore"):  # the interpreter evaluates with numpy
                getattr(kernels, "fwd" + suffix)[(programs,)](x, pvec, y, n_arg, BLOCK=block, num_warps=warps,
                                                              enable_fp_fusion=FP_FUSION)
        ctx.save_for_backward(x, pvec)
        ctx.kernels = kernels
        ctx.nparams = len(params)
        return y

    @staticmethod
    def backward(ctx, gy: torch.Tensor):
        x, pvec = ctx.saved_tensors
        kernels, nparams = ctx.kernels, ctx.nparams
        gy = gy.contiguous()
        if gy.dtype != x.dtype:
            gy = gy.to(x.dtype)
        gx = torch.empty_like(x)
        suffix, programs, n_arg, block, warps = launch_config(kernels.ROWWISE, x.shape)
        if not nparams:
            partials = pvec  # not written: the kernel has no parameter to reduce
        elif programs:
            partials = torch.empty((programs, nparams), dtype=torch.float32, device=x.device)  # written in full
        else:
            partials = torch.zeros((1, nparams), dtype=torch.float32, device=x.device)
        if programs:
            with np.errstate(all="ignore"):
                getattr(kernels, "bwd" + suffix)[(programs,)](x, gy, pvec, gx, partials, n_arg, BLOCK=block,
                                                              num_warps=warps, enable_fp_fusion=FP_FUSION)
        if not nparams:
            return gx, None
        return (gx, None, *partials.sum(0).unbind(0))


class TritonActivation(CandidateModule):
    """A candidate computed by generated Triton kernels (forward and backward fused).

    Same parameters as ``candidate.module()`` (``params.<name>``), so state dicts
    interchange.  Inputs of any shape are made contiguous and flattened (row-wise
    candidates keep the last dimension as the row).  float32/bfloat16/float16 run
    in the kernels with float32 arithmetic (rows of any length: long ones take the
    looped row kernels); float64 inputs use the eager formula.

    The kernels run on CUDA tensors (CPU tensors too when Triton is interpreting).
    What an input elsewhere gets is ``fallback``:

    - ``"eager"`` (``compile_candidate`` without ``device``: direct library use):
      the eager formula, with one warning;
    - ``"error"`` (``compile_candidate(..., device=...)``, as a search compiles):
      :class:`~actsearch.errors.CompileError`, so a search never trains a candidate
      on the slow eager path while believing it runs the kernel.

    Shape: ``(*)`` -> ``(*)``, the same shape and dtype.

    Example:
        >>> import os; os.environ.setdefault("TRITON_INTERPRET", "1")  # doctest: +SKIP
        >>> import torch, actsearch
        >>> m = actsearch.compile(actsearch.parse("x*sigmoid(x)"), backend="triton")  # doctest: +SKIP
        >>> m(torch.randn(4, 8)).shape  # doctest: +SKIP
        torch.Size([4, 8])
    """

    backend = "triton"

    def __init__(self, candidate, kernels, fallback: str = "eager"):
        super().__init__(candidate)
        if fallback not in ("eager", "error"):
            raise CompileError(f"fallback must be 'eager' or 'error', got {fallback!r}")
        self._kernels = kernels
        self.fallback = fallback
        self._warned = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        on_kernel_device = x.is_cuda or (_INTERPRETING and x.device.type == "cpu")
        if x.dtype not in _KERNEL_DTYPES:
            return super().forward(x)
        if not on_kernel_device:
            if self.fallback == "error":
                raise CompileError(
                    f"triton kernel for {self.candidate.text!r} runs on CUDA tensors, got a {x.device} tensor "
                    "(move the input to the GPU, or compile with device='cpu' for the eager formula)"
                )
            self._warn_once(f"triton kernel needs a CUDA tensor (or TRITON_INTERPRET=1); {x.device} input uses "
                            "the eager formula")
            return super().forward(x)
        return KernelFunction.apply(x, self._kernels, *self.params.values())

    def _warn_once(self, message: str) -> None:
        if not self._warned:
            warnings.warn(message, stacklevel=3)
            self._warned = True

    def extra_repr(self) -> str:
        return super().extra_repr() + ", backend='triton'"
