"""Launch configuration of the generated kernels: block size and warps.

One place for what the launcher (:mod:`actsearch.compile._triton`) passes and what
the ahead-of-time check (:mod:`actsearch.compile._aot`) compiles, so the check
looks at the binaries a GPU really runs.  Pure Python: no torch, no triton.

Elementwise kernels take blocks of :data:`BLOCK` elements with Triton's default 4
warps (8 elements per thread).  Row-wise kernels (PolyNorm) hold one whole row per
program, ``BLOCK = next_power_of_2(ncols)``; with 4 warps a 4096-wide row is 32
elements per thread and the backward spills registers (measured with
``cuobjdump`` on sm_90: 255 registers + 328 bytes of stack).  Keeping about 8
elements per thread (one warp per 256 elements, 4 to 32 warps) keeps every preset
under the register file: at 4096, 16 warps give 54 (forward) and 105 (backward)
registers and no spill.

Example:
    >>> row_block(1000), num_warps(row_block(1000), rowwise=True)
    (1024, 4)
    >>> row_block(4096), num_warps(4096, rowwise=True)
    (4096, 16)
    >>> num_warps(BLOCK, rowwise=False)
    4
"""

from __future__ import annotations

__all__ = ["BLOCK", "MAX_ROW", "row_block", "num_warps"]

#: elements per program of an elementwise kernel
BLOCK = 1024
#: longest row a row-wise kernel holds in one block; longer rows use the eager formula
MAX_ROW = 1 << 16
#: elements per thread a row-wise block aims at (what 1024 wide rows get with 4 warps)
_PER_THREAD = 8


def row_block(ncols: int) -> int:
    """Block of a row-wise kernel: the row length rounded up to a power of two (>= 16)."""
    return max(16, 1 << max(0, int(ncols) - 1).bit_length())


def num_warps(block: int, rowwise: bool) -> int:
    """Warps per program: Triton's default 4 elementwise; scaled with the row when row-wise."""
    if not rowwise:
        return 4
    return min(32, max(4, block // (32 * _PER_THREAD)))
