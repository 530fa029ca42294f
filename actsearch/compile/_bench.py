"""Timing compiled activations against eager: shared by ``actsearch bench-kernel``
and ``benchmarks/kernels.py``.

Bytes each pass must move (the floor any implementation pays): forward reads x and
writes y (2 tensors); forward+backward adds reading x and the output gradient and
writing the input gradient (5 tensors in all).  Achieved bytes/s is that count over
the measured median time, the same count for every backend.  On a GPU, the copy
bandwidth is measured with ``dst.copy_(src)`` on a 256 MiB buffer (read + write).

Example:
    >>> import torch, actsearch
    >>> c = actsearch.parse("relu(x)**2")
    >>> r = time_backend(c, "eager", shape=(4, 256), dtype=torch.float32, repeats=2, device="cpu")
    >>> sorted(r)
    ['backend', 'fwd_bwd_s', 'fwd_s']
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch

__all__ = ["time_backend", "copy_bandwidth", "pass_bytes", "BenchRow", "bench"]


def _sync(device: str) -> None:
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def _median_time(fn, repeats: int, device: str, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def pass_bytes(numel: int, dtype: torch.dtype) -> tuple[int, int]:
    """(forward, forward+backward) bytes that must move for ``numel`` elements."""
    size = torch.tensor([], dtype=dtype).element_size()
    return 2 * numel * size, 5 * numel * size


def time_backend(candidate, backend: str, *, shape, dtype, repeats: int, device: str, module=None) -> dict:
    """Median seconds of forward (no grad) and forward+backward for one backend."""
    from actsearch.compile import compile_candidate

    m = module if module is not None else compile_candidate(candidate, backend=backend)
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
        m(xg).backward(g)

    return {
        "backend": backend,
        "fwd_s": _median_time(fwd, repeats, device),
        "fwd_bwd_s": _median_time(fwd_bwd, repeats, device),
    }


def copy_bandwidth(device: str = "cuda", mib: int = 256, repeats: int = 20) -> float:
    """Device-to-device copy bandwidth in bytes/s (bytes read + bytes written)."""
    n = mib * 2**20 // 4
    src = torch.empty(n, dtype=torch.float32, device=device).normal_()
    dst = torch.empty_like(src)
    t = _median_time(lambda: dst.copy_(src), repeats, device, warmup=3)
    return 2 * n * 4 / t


@dataclass
class BenchRow:
    backend: str
    fwd_s: float | None
    fwd_bwd_s: float | None
    note: str = ""


def bench(candidate, backends, *, shape, dtype, repeats: int, device: str) -> list[BenchRow]:
    """Time each backend; a backend that fails becomes a row with a note."""
    from actsearch.errors import ActsearchError

    rows = []
    for b in backends:
        try:
            r = time_backend(candidate, b, shape=shape, dtype=dtype, repeats=repeats, device=device)
            rows.append(BenchRow(b, r["fwd_s"], r["fwd_bwd_s"]))
        except ActsearchError as exc:
            rows.append(BenchRow(b, None, None, str(exc)))
    return rows
