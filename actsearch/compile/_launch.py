"""Launch configuration of the generated kernels: block size and warps.

One place for what the launcher (:mod:`actsearch.compile._triton`) passes and what
the ahead-of-time check (:mod:`actsearch.compile._aot`) compiles, so the check
looks at the binaries a GPU really runs.  Pure Python: no torch, no triton.

Elementwise kernels take blocks of :data:`BLOCK` elements.  Row-wise kernels
(PolyNorm) run one program per row: up to :data:`LOOP_ROW` elements the whole
row is one block (``fwd``/``bwd``, ``BLOCK = next_power_of_2(ncols)``); longer
rows are walked in chunks of :data:`ROW_CHUNK` (``fwd_long``/``bwd_long``).
Both get one warp per 128 elements of the block (4 elements per thread: one
128-bit load of float32), 4 to 32 warps.  Measured with the ahead-of-time check
(sm_80 and sm_90, fp32 and bf16, every preset and 20 samples of every space):
with Triton's default 4 warps, 8 elements per thread, five sin/cos candidates'
backward kernels spill 8 bytes on sm_80 and a 4096-wide PolyNorm backward spills
328 bytes at 255 registers; at 4 elements per thread none spills (at most 62
registers elementwise, 61 row-wise).  A one-block row is capped at 2048: at 4096
its 32 warps leave each thread 64 registers (65536 per program), and a mixed
row-wise candidate (``a*rmsnorm(tanh(x) + c*x) + x*rmsnorm(relu(x)) +
sin(rmsnorm(log(abs(x)+1)))``) spilled there on sm_80; past 4096 even PolyNorm's
one-block backward spills (sm_90: 96 bytes at 8192, 824 at 16384, 5696 at 65536).
The looped kernels' registers do not grow with the row: chunks of 1024 at 8
warps (a cap of 255 registers) give PolyNorm at most 80 with Triton 3.9 and 3.6;
chunks of 2048 at 16 warps (a cap of 128) spilled 16 bytes of the mixed
candidate's backward on sm_80.  What still shows as 4 spilled bytes in a looped
kernel with ``sin``/``cos`` (at 58-86 registers, far below the cap) is
libdevice's scratch array for huge arguments, not register pressure.

Example:
    >>> row_block(1000), num_warps(row_block(1000))
    (1024, 8)
    >>> num_warps(4096), num_warps(65536)
    (32, 32)
    >>> row_launch(2048), row_launch(2049)
    (('', 2048), ('_long', 1024))
"""

from __future__ import annotations

__all__ = ["BLOCK", "LOOP_ROW", "ROW_CHUNK", "FP_FUSION", "row_block", "row_launch", "num_warps"]

#: elements per program of an elementwise kernel
BLOCK = 1024
#: longest row a row-wise kernel holds in one block; longer rows take the looped kernels
LOOP_ROW = 2048
#: elements per iteration of the looped row-wise kernels
ROW_CHUNK = 1024
#: fused multiply-add contraction, pinned: Triton's default changes in 3.10 (3.9 warns
#: when it is left unset), and results should not depend on the Triton version
FP_FUSION = True
#: elements per thread a block aims at
_PER_THREAD = 4


def row_block(ncols: int) -> int:
    """Block of a row-wise kernel: the row length rounded up to a power of two (>= 16)."""
    return max(16, 1 << max(0, int(ncols) - 1).bit_length())


def num_warps(block: int) -> int:
    """Warps per program for a block: one per 128 elements, 4 to 32."""
    return min(32, max(4, block // (32 * _PER_THREAD)))


def row_launch(ncols: int) -> tuple[str, int]:
    """``(kernel suffix, BLOCK)`` of a row-wise kernel for rows of ``ncols``:
    ``''`` and the rounded-up row up to :data:`LOOP_ROW`, else ``'_long'`` and
    :data:`ROW_CHUNK`."""
    if int(ncols) > LOOP_ROW:
        return "_long", ROW_CHUNK
    return "", row_block(ncols)
