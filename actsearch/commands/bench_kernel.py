"""``actsearch bench-kernel EXPR|PRESET``: time each backend's forward and forward+backward,
or (``--aot``) compile the Triton kernels for real GPUs and report registers and spills.

Example::

    actsearch bench-kernel rational-gelu --size 1000000 --repeats 5
    actsearch bench-kernel "x*sigmoid(x)" --backend inductor --dtype bfloat16
    actsearch bench-kernel polynorm --aot                 # no GPU needed
"""

from __future__ import annotations

import argparse
import sys

_DTYPES = ("float32", "bfloat16", "float16")
_CHOICES = ("all", "triton", "inductor", "eager")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "bench-kernel",
        help="time a candidate's compiled kernels against eager PyTorch, or check them ahead of time (--aot)",
        description="Median forward and forward+backward time of each backend side by side, the speed-up "
        "over eager, achieved bytes/s (2 tensors moved forward, 5 forward+backward) and, on a GPU, the "
        "fraction of the measured device-to-device copy bandwidth.  On a CPU the triton backend runs only "
        "through TRITON_INTERPRET=1 (very slow), so it is skipped unless asked for by name.  With --aot, "
        "nothing is timed: the Triton kernels are compiled for sm_80 and sm_90, fp32 and bf16, 32- and "
        "64-bit lengths (no GPU needed) and each kernel's registers, spills and atomics are printed; the "
        "exit code is 1 when a kernel spills, uses atomics or does not compile.",
    )
    p.add_argument("ref", metavar="EXPR|PRESET", help="a preset name (e.g. crrelu) or a formula (e.g. 'x*sigmoid(x)')")
    p.add_argument("--backend", choices=_CHOICES, default="all", help="which backend to time (default: all)")
    p.add_argument("--size", type=_positive, default=1 << 20, help="number of elements (default 1048576)")
    p.add_argument("--features", type=_positive, default=1024,
                   help="row length, the dim row-wise candidates normalise (default 1024; --aot adds it to 1024, 2048 and 4096)")
    p.add_argument("--dtype", choices=_DTYPES, default="float32")
    p.add_argument("--repeats", type=_positive, default=10, help="timed repeats; the median is shown (default 10)")
    p.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    p.add_argument("--threads", type=_positive, default=None, help="CPU threads for torch (default: torch's choice)")
    p.add_argument("--aot", action="store_true", help="compile for sm_80/sm_90 ahead of time and report registers/spills")
    p.add_argument("--python", default=None, help="with --aot: the interpreter (and so the Triton) that compiles")
    p.set_defaults(func=run)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def resolve_candidate(ref: str):
    """A preset name, a stored run (``SEARCH:NUMBER`` or key) or formula text."""
    from actsearch.results.names import resolve

    return resolve(ref).candidate


def run(args) -> int:
    candidate = resolve_candidate(args.ref)
    if args.aot:
        return _run_aot(candidate, args)
    return _run_timing(candidate, args)


def _run_aot(candidate, args) -> int:
    from actsearch.compile import _aot

    rows = sorted({*_aot.ROWS, args.features})
    reports = _aot.aot_compile(candidate, rows=rows, python=args.python)
    print(f"candidate: {candidate.text}")
    versions = sorted({r.triton for r in reports if r.triton})
    print(f"ahead-of-time compile with Triton {', '.join(versions) or '?'}"
          + ("" if candidate.elementwise else f"; row-wise: rows of {', '.join(map(str, rows))}"))
    print(_aot.format_table(reports))
    problem = _aot.first_problem(reports)
    if problem:
        print(f"actsearch bench-kernel --aot: {problem}", file=sys.stderr)
        return 1
    return 0


def _run_timing(candidate, args) -> int:
    import torch

    from actsearch.compile._backends import triton_importable
    from actsearch.compile._bench import bench, copy_bandwidth
    from actsearch.devices import resolve_device

    if args.threads:
        torch.set_num_threads(args.threads)
    device = str(resolve_device(args.device))
    dtype = getattr(torch, args.dtype)
    cols = min(args.features, args.size)
    shape = (max(1, args.size // cols), cols)
    numel = shape[0] * shape[1]
    wanted = ["eager", "inductor", "triton"] if args.backend == "all" else [args.backend]
    notes = []
    on_gpu = device.startswith("cuda")
    if "triton" in wanted and not on_gpu:
        if args.backend != "triton" or not triton_importable() or not _interpreting():
            wanted.remove("triton")
            notes.append(
                "triton skipped: on a CPU it runs only through TRITON_INTERPRET=1, far too slow to time; "
                "ask for it with --backend triton under TRITON_INTERPRET=1 to time the interpreter anyway"
            )
        else:
            notes.append("triton timed through Triton's CPU interpreter: says nothing about GPU speed")
    if "eager" not in wanted:
        wanted.insert(0, "eager")  # every ratio is to eager
    rows = bench(candidate, wanted, shape=shape, dtype=dtype, repeats=args.repeats, device=device)
    copy_bw = copy_bandwidth(device) if on_gpu else None

    print(f"candidate: {candidate.text}")
    print(f"shape {shape[0]}x{shape[1]} ({numel} elements), {args.dtype}, {device}, median of {args.repeats}")
    eager = next(r for r in rows if r.backend == "eager")
    head = f"{'backend':<10}{'fwd ms':>10}{'fwd+bwd ms':>12}{'fwd x':>8}{'f+b x':>8}{'fwd GB/s':>10}{'f+b GB/s':>10}"
    if copy_bw:
        head += f"{'fwd %copy':>11}{'f+b %copy':>11}"
    print(head)
    for r in rows:
        if r.fwd_s is None:
            print(f"{r.backend:<10}  failed: {r.note}")
            continue
        fwd_bw, fb_bw = r.bandwidth()
        line = (
            f"{r.backend:<10}{r.fwd_s * 1e3:>10.3f}{r.fwd_bwd_s * 1e3:>12.3f}"
            f"{_ratio(eager.fwd_s, r.fwd_s):>8}{_ratio(eager.fwd_bwd_s, r.fwd_bwd_s):>8}"
            f"{fwd_bw / 1e9:>10.2f}{fb_bw / 1e9:>10.2f}"
        )
        if copy_bw:
            line += "".join(f"{100 * f:>10.1f}%" for f in r.copy_fraction(copy_bw))
        print(line)
    if copy_bw:
        print(f"device-to-device copy bandwidth: {copy_bw / 1e9:.1f} GB/s ({torch.cuda.get_device_name()})")
    print("x: speed-up over eager (eager time / backend time); bytes: 2 tensors forward, 5 forward+backward")
    for n in notes:
        print(f"note: {n}")
    return 0


def _ratio(base: float | None, t: float) -> str:
    return f"{base / t:.2f}" if base else "-"


def _interpreting() -> bool:
    from actsearch.compile._triton import interpreting

    return interpreting()
