"""Compiled activation kernels against eager PyTorch, and compile/cache time.

Usage::

    .venv/bin/python benchmarks/kernels.py                 # CPU: eager vs inductor
    .venv/bin/python benchmarks/kernels.py --sizes 1048576 --repeats 3
    python benchmarks/kernels.py --device cuda --dtypes float32,bfloat16   # GPU: eager, inductor, triton

For each candidate (rational 5/4, PolyReLU, CRReLU, a grammar candidate), size and
dtype it prints the median forward and forward+backward time of every backend, the
speed-up over eager, achieved GB/s (forward moves 2 tensors: reads x, writes y;
forward+backward 5: backward also reads x and the output gradient and writes the
input gradient) and, on a GPU, both as a fraction of the measured device-to-device
copy bandwidth.  Then the time to compile a candidate never seen before (first)
and the same candidate again from the disk cache in a fresh in-process state
(cached).

On a CPU the triton backend only runs through Triton's interpreter, so it is left
out of the timings; its compile time is measured with ``TRITON_INTERPRET=1`` (the
first compile then includes an interpreted check, slower than on a GPU).
CPU timings use ``--threads`` torch threads (default 1: on a machine shared with
other jobs, more threads than free cores makes eager timings erratic).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CANDIDATES = {
    "rational 5/4": "rational-gelu",
    "PolyReLU": "polyrelu",
    "CRReLU": "crrelu",
    "grammar": "tanh(x)*atan(x) + softplus(x)",
}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="1048576,16777216", help="comma-separated element counts ('' for compile times only)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--backends", default="eager,inductor,triton",
                   help="comma-separated backends to time and compile (triton is timed on a GPU only)")
    p.add_argument("--dtypes", default=None,
                   help="comma-separated: float32, bfloat16, float16 (default: both of the first two on a GPU, float32 on a CPU)")
    args = p.parse_args(argv)

    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    on_gpu = device.startswith("cuda")
    if not on_gpu:
        os.environ.setdefault("TRITON_INTERPRET", "1")  # only for the compile-time section
    os.environ.setdefault("ACTSEARCH_CACHE", tempfile.mkdtemp(prefix="actsearch-bench-"))
    torch.set_num_threads(args.threads)

    from actsearch.commands.bench_kernel import resolve_candidate
    from actsearch.compile._bench import copy_bandwidth

    names = args.dtypes or ("float32,bfloat16" if on_gpu else "float32")
    dtypes = [getattr(torch, d.strip()) for d in names.split(",") if d.strip()]
    wanted = [b.strip() for b in args.backends.split(",") if b.strip()]
    backends = ["eager"] + [b for b in ("inductor", "triton") if b in wanted and (b != "triton" or on_gpu)]
    copy_bw = copy_bandwidth(device) if on_gpu else None
    gpu = torch.cuda.get_device_name() if on_gpu else None
    print(f"# device {device}{' (' + gpu + ')' if gpu else ''}, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}, median of {args.repeats}, {time.strftime('%Y-%m-%d')}")
    if copy_bw:
        print(f"# device-to-device copy bandwidth {copy_bw / 1e9:.1f} GB/s")
    print("| candidate | elements | dtype | backend | fwd ms | fwd+bwd ms | fwd+bwd x eager | fwd GB/s | fwd+bwd GB/s |"
          + (" fwd % of copy | fwd+bwd % of copy |" if copy_bw else ""))
    print("|---|---:|---|---|---:|---:|---:|---:|---:|" + ("---:|---:|" if copy_bw else ""))
    for label, ref in CANDIDATES.items():
        c = resolve_candidate(ref)
        for n in [int(s) for s in args.sizes.split(",") if s.strip()]:
            for dtype in dtypes:
                _table_rows(label, c, n, dtype, backends, args.repeats, device, copy_bw)

    print()
    print("inductor cached: compile_candidate skips the check, plus the first forward+backward, where")
    print("torch.compile really compiles (from torch's own on-disk caches)")
    print()
    print("| backend | candidate | first compile s | cached (disk, fresh memo) ms |")
    print("|---|---|---:|---:|")
    _compile_times(on_gpu, [b for b in ("triton", "inductor") if b in wanted])
    return 0


def _table_rows(label, c, n, dtype, backends, repeats, device, copy_bw) -> None:
    from actsearch.compile._bench import bench

    shape = (n // 1024, 1024)
    rows = bench(c, backends, shape=shape, dtype=dtype, repeats=repeats, device=device)
    eager = rows[0].fwd_bwd_s
    for r in rows:
        if r.fwd_s is None:
            print(f"| {label} | {n} | {r.dtype} | {r.backend} | failed: {r.note} |")
            continue
        fwd_bw, fb_bw = r.bandwidth()
        line = (f"| {label} | {n} | {r.dtype} | {r.backend} | {r.fwd_s * 1e3:.3f} | {r.fwd_bwd_s * 1e3:.3f} | "
                f"{eager / r.fwd_bwd_s:.2f} | {fwd_bw / 1e9:.1f} | {fb_bw / 1e9:.1f} |")
        if copy_bw:
            line += "".join(f" {100 * f:.1f} |" for f in r.copy_fraction(copy_bw))
        print(line, flush=True)


def _compile_times(on_gpu: bool, backends) -> None:
    import torch

    comp = importlib.import_module("actsearch.compile")  # the function actsearch.compile shadows the name
    from actsearch.compile import _inductor
    from actsearch.commands.bench_kernel import resolve_candidate

    # a constant drawn per run makes a formula no cache (ours or torch's) has seen
    k = 1.0 + int.from_bytes(os.urandom(4), "little") / 2**32
    fresh = resolve_candidate(
        f"(a0 + a1*x + a2*x**2 + a3*x**3)/({k!r} + abs(b1*x)); a0=0.011, a1=0.93, a2=0.27, a3=0.031, b1=0.41"
    )
    for backend in backends:
        t0 = time.perf_counter()
        try:
            comp.compile_candidate(fresh, backend=backend)
        except Exception as exc:  # report, do not stop the benchmark
            print(f"| {backend} | rational 3/1 B | failed: {exc} | |")
            continue
        first = time.perf_counter() - t0
        hits = []
        for _ in range(5 if backend == "triton" else 2):
            comp.clear_memo()
            if backend == "inductor":  # as a fresh worker: no compiled function in memory
                _inductor._FNS.clear()
                torch._dynamo.reset()
            t0 = time.perf_counter()
            m = comp.compile_candidate(fresh, backend=backend)
            if backend == "inductor":  # inductor compiles at the first call: count it
                x = torch.randn(8, 129, requires_grad=True)
                m(x).sum().backward()
            hits.append(time.perf_counter() - t0)
        hits.sort()
        note = "" if on_gpu or backend != "triton" else " (first includes the interpreted check)"
        print(f"| {backend}{note} | rational 3/1 B | {first:.2f} | {hits[len(hits) // 2] * 1e3:.1f} |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
