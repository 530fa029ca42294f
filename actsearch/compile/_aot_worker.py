"""Ahead-of-time compile worker: Triton sources in, resource usage out (JSON lines).

Run by :mod:`actsearch.compile._aot` as ``python -c <this file's text>`` in a fresh
process without ``TRITON_INTERPRET`` (under the interpreter ``triton.jit`` makes no
compilable kernels).  It needs only the standard library and triton, not
actsearch or torch, so any interpreter with a Triton install can run it: that is
how one checks the kernels against another Triton version.

Input on stdin: ``{"sources": {id: text}, "jobs": [{"id", "source", "kernel",
"arch", "dtype", "index", "block", "num_warps", "fp_fusion"}]}``.  For each job,
one line on stdout: the job's id with ``registers``, ``stack``, ``local`` (bytes,
from ``cuobjdump --dump-resource-usage``), ``spill_stores`` (bytes, from ptxas's
own report), ``atomics`` (the PTX has ``atom.`` or ``red.`` instructions) and
``error`` ('' when it compiled).

A stack frame is not always a spill: libdevice's sinf/cosf keep a 28-byte array
for the reduction of huge arguments in local memory, which the ptxas of Triton
3.6 leaves on the stack (32 bytes, 0 spilled) and that of 3.9 keeps in
registers.  So where cuobjdump shows stack or local bytes, the kernel is compiled
once more without Triton's cache, with ptxas's log (the same flags Triton uses),
and its "bytes spill stores" are the spills.

Signature rule (the generated kernels' convention): ``p_ptr``/``gp_ptr`` (the
parameters and their partial gradients) are ``*fp32``; every other ``*_ptr`` is
the data dtype; ``BLOCK`` is a constexpr; the remaining argument (``n`` or
``ncols``) is the index type.  Pointers are marked 16-byte aligned (torch's
allocations are, and the JIT specialises on it); the length is not (the variant
for sizes that are not multiples of 16: unvectorised masks, the most registers).
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import warnings

_FP32_POINTERS = ("p_ptr", "gp_ptr")
_SPILLS = re.compile(r"(\d+) bytes spill stores")
_USAGE = re.compile(r"REG:(\d+)\s+STACK:(\d+)\s+SHARED:\d+\s+LOCAL:(\d+)")
_ATOMIC = re.compile(r"^\s*(?:@!?%\w+\s+)?(?:atom|red)\.", re.MULTILINE)


def _summary(exc):
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    text = lines[-1] if lines else ""
    return f"{type(exc).__name__}: {text}"[:300]


def _signature(arg_names, dtype, index):
    sig = {}
    for name in arg_names:
        if name == "BLOCK":
            sig[name] = "constexpr"
        elif name in _FP32_POINTERS:
            sig[name] = "*fp32"
        elif name.endswith("_ptr"):
            sig[name] = "*" + dtype
        else:
            sig[name] = index
    return sig


def _tool(name):
    import triton

    path = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", name)
    return path if os.access(path, os.X_OK) else shutil.which(name)


def _import(text, folder, sid):
    import importlib.util

    path = os.path.join(folder, f"aot_kernel_{sid}.py")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    spec = importlib.util.spec_from_file_location(f"aot_kernel_{sid}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _compile(job, module, folder, cuobjdump):
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource
    from triton.compiler.compiler import make_backend

    fn = getattr(module, job["kernel"])
    target = GPUTarget("cuda", int(job["arch"]), 32)
    sig = _signature(fn.arg_names, job["dtype"], job["index"])
    aligned = make_backend(target).parse_attr("D")
    attrs = {(i,): aligned for i, kind in enumerate(sig.values()) if kind.startswith("*")}
    src = ASTSource(fn, sig, {"BLOCK": int(job["block"])}, attrs)
    options = {"num_warps": int(job["num_warps"]), "enable_fp_fusion": bool(job["fp_fusion"])}
    kernel = triton.compile(src, target=target, options=options)
    ptx = kernel.asm["ptx"]
    cubin = os.path.join(folder, f"job{job['id']}.cubin")
    with open(cubin, "wb") as fh:
        fh.write(kernel.asm["cubin"])
    out = subprocess.run([cuobjdump, "--dump-resource-usage", cubin], capture_output=True, text=True, check=True)
    usage = _USAGE.search(out.stdout)
    if usage is None:
        raise RuntimeError(f"no resource usage in cuobjdump's output: {out.stdout.strip()[:200]!r}")
    regs, stack, local = (int(v) for v in usage.groups())
    spills = _ptxas_spills(src, target, options) if stack or local else 0
    return {"registers": regs, "stack": stack, "local": local, "spill_stores": spills,
            "atomics": bool(_ATOMIC.search(ptx))}


def _ptxas_spills(src, target, options):
    """Spill stores by ptxas's own log: Triton's compile again, uncached, the log captured."""
    import contextlib
    import io

    import triton
    from triton import knobs

    saved = (knobs.compilation.always_compile, knobs.nvidia.dump_ptxas_log)
    knobs.compilation.always_compile, knobs.nvidia.dump_ptxas_log = True, True
    log = io.StringIO()
    try:
        with contextlib.redirect_stdout(log):  # Triton prints the log; our stdout carries results
            triton.compile(src, target=target, options=options)
    finally:
        knobs.compilation.always_compile, knobs.nvidia.dump_ptxas_log = saved
    found = _SPILLS.findall(log.getvalue())
    if not found:
        raise RuntimeError("stack in use, but no ptxas log to tell spills from a stack frame")
    return sum(int(v) for v in found)


def main():
    warnings.simplefilter("ignore")  # Triton's deprecation notes are not results
    request = json.load(sys.stdin)
    import triton

    folder = tempfile.mkdtemp(prefix="actsearch-aot-")
    cuobjdump = _tool("cuobjdump")
    modules, failed = {}, {}
    try:
        for job in request["jobs"]:
            result = {"id": job["id"], "registers": None, "stack": None, "local": None, "spill_stores": None,
                      "atomics": False,
                      "error": "", "triton": triton.__version__}
            sid = job["source"]
            try:
                if cuobjdump is None:
                    raise RuntimeError("cuobjdump not found (it ships in the triton wheel's backends/nvidia/bin)")
                if sid in failed:
                    raise RuntimeError(failed[sid])
                if sid not in modules:
                    try:
                        modules[sid] = _import(request["sources"][sid], folder, sid)
                    except Exception as exc:
                        failed[sid] = f"source does not import: {_summary(exc)}"
                        raise RuntimeError(failed[sid]) from None
                result.update(_compile(job, modules[sid], folder, cuobjdump))
            except Exception as exc:  # a result to report, not a reason to stop
                result["error"] = _summary(exc)
            print(json.dumps(result), flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
