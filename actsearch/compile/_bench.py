"""Timing compiled activations against eager: shared by ``actsearch bench-kernel``,
``benchmarks/kernels.py`` and GPU benchmark scripts.

Needs only torch (and triton for the triton backend): no Ray, no Optuna.

Bytes each pass must move (the floor any implementation pays): forward reads x and
writes y (2 tensors); forward+backward adds reading x and the output gradient and
writing the input gradient (5 tensors in all).  Achieved bytes/s is that count over
the measured median time, the same count for every backend.  On a GPU, the copy
bandwidth is measured with ``dst.copy_(src)`` on a 256 MiB buffer (read + write), and
:meth:`BenchRow.copy_fraction` says how close a backend comes to it; use tensors
well beyond the L2 cache (e.g. 16M elements) for that figure to mean DRAM traffic.
On CUDA each call is timed with CUDA events (launch gaps included: they are part
of what a training step pays).

Example:
    >>> import torch, actsearch
    >>> c = actsearch.parse("relu(x)**2")
    >>> r = time_backend(c, "eager", shape=(4, 256), dtype=torch.float32, repeats=2, device="cpu")
    >>> sorted(r)
    ['backend', 'fwd_bwd_s', 'fwd_s']
    >>> [row] = bench(c, ["eager"], shape=(4, 256), dtype=torch.bfloat16, repeats=2, device="cpu")
    >>> row.dtype, row.numel, row.fwd_bwd_bytes
    ('bfloat16', 1024, 10240)
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch

from ._compile import compile_candidate
from ._pipeline import summary

__all__ = ["median_time", "time_backend", "copy_bandwidth", "pass_bytes", "BenchRow", "bench"]


def _is_cuda(device) -> bool:
    return torch.device(device).type == "cuda"


def median_time(fn, repeats: int, device, warmup: int = 1) -> float:
    """Median seconds of ``fn()`` over ``repeats`` calls after ``warmup`` ones; on CUDA,
    timed with events between one synchronisation before and one after."""
    for _ in range(warmup):
        fn()
    if _is_cuda(device):
        torch.cuda.synchronize(device)
        pairs = []
        for _ in range(repeats):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            pairs.append((start, end))
        torch.cuda.synchronize(device)
        return statistics.median(s.elapsed_time(e) / 1e3 for s, e in pairs)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def pass_bytes(numel: int, dtype: torch.dtype) -> tuple[int, int]:
    """(forward, forward+backward) bytes that must move for ``numel`` elements."""
    size = torch.tensor([], dtype=dtype).element_size()
    return 2 * numel * size, 5 * numel * size


def time_backend(candidate, backend: str, *, shape, dtype, repeats: int, device, module=None) -> dict:
    """Median seconds of forward (no grad) and forward+backward for one backend on ``device``."""
    m = module if module is not None else compile_candidate(candidate, backend=backend, device=device)
    m = m.to(device)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=gen).to(device=device, dtype=dtype)
    g = torch.randn(shape, generator=gen).to(device=device, dtype=dtype)
    xg = x.clone().requires_grad_(True)

    def fwd():
        with torch.no_grad():
            m(x)

    def fwd_bwd():
        xg.grad = None
        for p in m.parameters():
            p.grad = None  # as zero_grad(set_to_none=True): no accumulation kernels
        m(xg).backward(g)

    return {
        "backend": backend,
        "fwd_s": median_time(fwd, repeats, device),
        "fwd_bwd_s": median_time(fwd_bwd, repeats, device),
    }


def copy_bandwidth(device="cuda", mib: int = 256, repeats: int = 20) -> float:
    """Device-to-device copy bandwidth in bytes/s (bytes read + bytes written)."""
    n = mib * 2**20 // 4
    src = torch.empty(n, dtype=torch.float32, device=device).normal_()
    dst = torch.empty_like(src)
    t = median_time(lambda: dst.copy_(src), repeats, device, warmup=3)
    return 2 * n * 4 / t


@dataclass
class BenchRow:
    """One backend at one dtype: median seconds, and the bytes each pass must move."""

    backend: str
    fwd_s: float | None
    fwd_bwd_s: float | None
    note: str = ""
    dtype: str = "float32"
    numel: int = 0

    @property
    def fwd_bytes(self) -> int:
        return pass_bytes(self.numel, getattr(torch, self.dtype))[0]

    @property
    def fwd_bwd_bytes(self) -> int:
        return pass_bytes(self.numel, getattr(torch, self.dtype))[1]

    def bandwidth(self) -> tuple[float, float] | None:
        """Achieved (forward, forward+backward) bytes/s, or ``None`` for a failed row."""
        if self.fwd_s is None or self.fwd_bwd_s is None:
            return None
        return self.fwd_bytes / self.fwd_s, self.fwd_bwd_bytes / self.fwd_bwd_s

    def copy_fraction(self, copy_bw: float) -> tuple[float, float] | None:
        """(forward, forward+backward) achieved bandwidth as a fraction of ``copy_bw``."""
        bw = self.bandwidth()
        return None if bw is None else (bw[0] / copy_bw, bw[1] / copy_bw)


def bench(candidate, backends, *, shape, dtype, repeats: int, device) -> list[BenchRow]:
    """Time each backend; a backend that fails becomes a row with a note."""
    numel = 1
    for s in shape:
        numel *= int(s)
    name = str(dtype).removeprefix("torch.")
    rows = []
    for b in backends:
        try:
            r = time_backend(candidate, b, shape=shape, dtype=dtype, repeats=repeats, device=device)
            rows.append(BenchRow(b, r["fwd_s"], r["fwd_bwd_s"], dtype=name, numel=numel))
        except Exception as exc:  # a row saying why, not the end of the benchmark
            rows.append(BenchRow(b, None, None, summary(exc), dtype=name, numel=numel))
    return rows
