"""Running generated Triton kernels: the autograd Function and the module.

Imported lazily (it imports triton): set ``TRITON_INTERPRET=1`` before the first
compile to run the kernels on a CPU through Triton's interpreter.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
import triton
import triton.language as tl

from actsearch.expr import CandidateModule

__all__ = ["TritonActivation", "interpreting", "KernelFunction"]

_BLOCK = 1024
#: longest row a row-wise kernel holds in one block; longer rows use the eager formula
MAX_ROW = 1 << 16
_KERNEL_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


def interpreting() -> bool:
    """True when triton was imported in interpreter mode (``TRITON_INTERPRET=1`` set
    before the import: triton builds ``tl.sigmoid`` and friends at import time)."""
    from triton.runtime.interpreter import InterpretedFunction

    return isinstance(tl.sigmoid, InterpretedFunction)


def _row_block(ncols: int) -> int:
    return max(16, triton.next_power_of_2(ncols))


class KernelFunction(torch.autograd.Function):
    """y = f(x; p) with the generated ``fwd``/``bwd`` kernels of one candidate.

    ``pvec`` holds the parameters as one float32 vector; its gradient is the sum
    of the per-program (or per-row) float32 partials the backward kernel writes.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, pvec: torch.Tensor, kernels, block: int):
        x = x.contiguous()
        y = torch.empty_like(x)
        if x.numel():
            grid, n_arg, blk = _launch_shape(kernels, x, block)
            with np.errstate(all="ignore"):  # the interpreter evaluates with numpy
                kernels.fwd[grid](x, pvec, y, n_arg, BLOCK=blk)
        ctx.save_for_backward(x, pvec)
        ctx.kernels, ctx.block = kernels, block
        return y

    @staticmethod
    def backward(ctx, gy: torch.Tensor):
        x, pvec = ctx.saved_tensors
        kernels = ctx.kernels
        gy = gy.contiguous()
        if gy.dtype != x.dtype:
            gy = gy.to(x.dtype)
        gx = torch.empty_like(x)
        grid, n_arg, blk = _launch_shape(kernels, x, ctx.block)
        nparams = kernels.NPARAMS
        partials = torch.zeros((max(grid[0], 1), max(nparams, 1)), dtype=torch.float32, device=x.device)
        if x.numel():
            with np.errstate(all="ignore"):
                kernels.bwd[grid](x, gy, pvec, gx, partials, n_arg, BLOCK=blk)
        gp = partials.sum(0)[:nparams] if nparams else None
        return gx, gp, None, None


def _launch_shape(kernels, x: torch.Tensor, block: int):
    if kernels.ROWWISE:
        ncols = x.shape[-1] if x.dim() else 1
        rows = x.numel() // max(ncols, 1)
        return (rows,), ncols, _row_block(ncols)
    n = x.numel()
    return (triton.cdiv(n, block),), n, block


class TritonActivation(CandidateModule):
    """A candidate computed by generated Triton kernels (forward and backward fused).

    Same parameters as ``candidate.module()`` (``params.<name>``), so state dicts
    interchange.  Inputs of any shape are made contiguous and flattened (row-wise
    candidates keep the last dimension as the row).  float32/bfloat16/float16 run
    in the kernels with float32 arithmetic; other dtypes (float64), CPU tensors
    when Triton is not interpreting, and row-wise candidates on rows longer than
    ``MAX_ROW`` (65536) use the eager formula.

    Shape: ``(*)`` -> ``(*)``, the same shape and dtype.

    Example:
        >>> import os; os.environ.setdefault("TRITON_INTERPRET", "1")  # doctest: +SKIP
        >>> import torch, actsearch
        >>> m = actsearch.compile(actsearch.parse("x*sigmoid(x)"), backend="triton")  # doctest: +SKIP
        >>> m(torch.randn(4, 8)).shape  # doctest: +SKIP
        torch.Size([4, 8])
    """

    backend = "triton"

    def __init__(self, candidate, kernels, block: int = _BLOCK):
        super().__init__(candidate)
        self._kernels = kernels
        self._block = block
        self._warned = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        usable = x.dtype in _KERNEL_DTYPES and (x.is_cuda or (x.device.type == "cpu" and interpreting()))
        if usable and self._kernels.ROWWISE and x.dim() and x.shape[-1] > MAX_ROW:
            if not self._warned:
                warnings.warn(f"rows longer than {MAX_ROW} use the eager formula, not the row-wise kernel", stacklevel=2)
                self._warned = True
            return super().forward(x)
        if not usable:
            if not self._warned and x.dtype in _KERNEL_DTYPES:
                warnings.warn(
                    f"triton kernel needs a CUDA tensor (or TRITON_INTERPRET=1); {x.device} input uses the eager formula",
                    stacklevel=2,
                )
                self._warned = True
            return super().forward(x)
        if self.params:
            pvec = torch.stack([p.reshape(()).to(device=x.device, dtype=torch.float32) for p in self.params.values()])
        else:
            pvec = torch.zeros(1, device=x.device, dtype=torch.float32)
        return KernelFunction.apply(x, pvec, self._kernels, self._block)

    def extra_repr(self) -> str:
        return super().extra_repr() + ", backend='triton'"
