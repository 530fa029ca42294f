"""Ahead-of-time GPU compile check: build a candidate's kernels for real GPUs anywhere.

Triton compiles for a GPU without one.  For each candidate this compiles the
generated ``fwd`` and ``bwd`` kernels (:func:`~actsearch.compile._codegen.generate_source`)
with Triton's own compiler for each architecture (sm_80, sm_90), data dtype
(``fp32``, ``bf16``: bf16 in and out, float32 arithmetic) and index type of the
``n``/``ncols`` argument (``i32``, what the JIT passes below 2**31 elements, and
``i64`` above), with the block and ``num_warps`` the launcher really uses
(:mod:`actsearch.compile._launch`; row-wise kernels at each row length in
``rows``: ``fwd``/``bwd`` for rows one block holds, ``fwd_long``/``bwd_long``
for longer ones), and reports per kernel: registers and stack bytes (``STACK`` + ``LOCAL``
from ``cuobjdump --dump-resource-usage``), spilled bytes (ptxas's "spill stores",
asked for where the stack is in use: libdevice's sin/cos keep a scratch array
there without spilling anything), whether the PTX has atomics (``atom.`` or
``red.``: the kernels promise deterministic reductions) and compile errors.  A
kernel fails the check on spills, atomics or errors.

The compiles run in fresh worker processes (:mod:`actsearch.compile._aot_worker`,
without ``TRITON_INTERPRET``), in parallel; ``python=`` runs them with another
interpreter, e.g. a venv with another Triton version.  Triton's own on-disk cache
(``TRITON_CACHE_DIR``) keys each binary by source, options and compiler versions,
so a repeated check only pays for what changed.

Example:
    >>> import actsearch
    >>> [r] = aot_compile(actsearch.preset("relu"), archs=(90,), dtypes=("fp32",), index_types=("i32",),
    ...                   kernels=("fwd",))  # doctest: +SKIP
    >>> r.arch, r.registers > 0, r.problem  # doctest: +SKIP
    (90, True, '')
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from . import _codegen
from ._launch import BLOCK, FP_FUSION, num_warps, row_launch
from ._pipeline import summary
from ._torch_caches import use_private_caches

__all__ = ["KernelReport", "aot_compile", "aot_compile_many", "aot_compile_sources", "format_table", "first_problem",
           "ARCHS", "DTYPES", "INDEX_TYPES", "ROWS"]

ARCHS = (80, 90)
DTYPES = ("fp32", "bf16")
INDEX_TYPES = ("i32", "i64")
#: row lengths row-wise kernels are compiled for: one block holds a row up to
#: 2048 (the row rounded up); longer rows take the looped kernels, whose block
#: (and so their binary) is the same for any length
ROWS = (1024, 2048, 4096)
KERNELS = ("fwd", "bwd")
_WORKER = Path(__file__).with_name("_aot_worker.py")


@dataclass(frozen=True)
class KernelReport:
    """One kernel compiled for one architecture, dtype, index type and block."""

    kernel: str
    arch: int
    dtype: str
    index: str
    block: int
    num_warps: int
    registers: int | None = None
    spill_bytes: int | None = None
    stack_bytes: int | None = None
    atomics: bool = False
    error: str = ""
    triton: str = ""

    @property
    def problem(self) -> str:
        """Why this kernel fails the check ('' when it passes)."""
        if self.error:
            return f"compile error: {self.error}"
        if self.spill_bytes:
            return f"spills {self.spill_bytes} bytes to local memory"
        if self.atomics:
            return "uses atomic instructions"
        return ""

    @property
    def label(self) -> str:
        return f"{self.kernel} sm_{self.arch} {self.dtype} {self.index} BLOCK={self.block} warps={self.num_warps}"


def _jobs_for(rowwise: bool, archs, dtypes, index_types, rows, kernels) -> list[dict]:
    launches = sorted({row_launch(r) for r in rows}) if rowwise else [("", BLOCK)]
    return [
        {"kernel": k + suffix, "arch": int(a), "dtype": d, "index": i, "block": b, "num_warps": num_warps(b),
         "fp_fusion": FP_FUSION}
        for k in kernels for a in archs for d in dtypes for i in index_types for suffix, b in launches
    ]


def aot_compile(candidate, **options) -> list[KernelReport]:
    """:func:`aot_compile_many` for one candidate."""
    return aot_compile_many([candidate], **options)[0]


def aot_compile_many(candidates, **options) -> list[list[KernelReport]]:
    """Compile every candidate's kernels for every combination; one list of reports per candidate.

    Candidates with the same generated source (parameters are loaded at run time,
    so e.g. two samples differing only in initial values) are compiled once.  A
    candidate whose source cannot be generated gets one report with the error.
    ``options`` are those of :func:`aot_compile_sources`.
    """
    sources, failed = [], {}
    for i, c in enumerate(candidates):
        try:
            sources.append((_codegen.generate_source(c), not c.elementwise))
        except Exception as exc:  # reported per candidate, like a compile error
            failed[i] = [KernelReport("source", 0, "-", "-", 0, 0, error=summary(exc))]
            sources.append(None)
    compiled = iter(aot_compile_sources([s for s in sources if s is not None], **options))
    return [failed[i] if s is None else next(compiled) for i, s in enumerate(sources)]


def aot_compile_sources(sources, *, archs=ARCHS, dtypes=DTYPES, index_types=INDEX_TYPES, rows=ROWS,
                        kernels=KERNELS, workers: int | None = None, python: str | None = None,
                        timeout: float = 600.0) -> list[list[KernelReport]]:
    """Compile generated kernel modules given as ``(source text, rowwise)`` pairs.

    Args:
        archs, dtypes, index_types: the combinations compiled (see the module doc).
        rows: row lengths for row-wise sources (each gives a kernel, block and num_warps).
        kernels: which kernels of each source (default ``fwd`` and ``bwd``; a long
            row's are their ``_long`` forms).
        workers: parallel worker processes (default: the CPU count, at most 8).
        python: interpreter that runs the workers (default: this one).
        timeout: seconds each worker may run; jobs left then are reported as errors.
    """
    texts: dict[str, str] = {}
    plans = []
    for text, rowwise in sources:
        sid = hashlib.sha256(text.encode()).hexdigest()[:16]
        texts[sid] = text
        plans.append([dict(job, source=sid) for job in _jobs_for(rowwise, archs, dtypes, index_types, rows, kernels)])
    unique = {_job_key(job): job for plan in plans for job in plan}
    results = _run_workers(list(unique.values()), texts, workers, python, timeout)
    return [[_report(job, results[_job_key(job)]) for job in plan] for plan in plans]


def _job_key(job: dict) -> tuple:
    return tuple(job[k] for k in ("source", "kernel", "arch", "dtype", "index", "block", "num_warps", "fp_fusion"))


def _report(job: dict, r: dict) -> KernelReport:
    stack = None if r.get("stack") is None else int(r["stack"]) + int(r["local"])
    return KernelReport(job["kernel"], job["arch"], job["dtype"], job["index"], job["block"], job["num_warps"],
                        r.get("registers"), r.get("spill_stores"), stack, bool(r.get("atomics")), r.get("error", ""),
                        r.get("triton", ""))


def _run_workers(jobs: list[dict], sources: dict[str, str], workers, python, timeout) -> dict[tuple, dict]:
    if not jobs:
        return {}
    n = max(1, min(workers or min(os.cpu_count() or 1, 8), len(jobs)))
    for i, job in enumerate(jobs):
        job["id"] = i
    shares = [jobs[k::n] for k in range(n)]
    use_private_caches()  # the workers' Triton compiles into (and reads) a private TRITON_CACHE_DIR
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}  # the interpreter cannot compile
    code = _WORKER.read_text(encoding="utf-8")
    lines: list[list[str]] = [[] for _ in shares]
    failures: list[str] = ["" for _ in shares]

    def run(k: int) -> None:
        request = json.dumps({"sources": {j["source"]: sources[j["source"]] for j in shares[k]}, "jobs": shares[k]})
        with tempfile.TemporaryDirectory(prefix="actsearch-aot-") as cwd:  # nothing on sys.path[0]
            try:
                proc = subprocess.run([python or sys.executable, "-c", code], input=request, capture_output=True,
                                      text=True, env=env, cwd=cwd, timeout=timeout)
            except subprocess.TimeoutExpired as exc:
                out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
                lines[k] = out.splitlines()
                failures[k] = f"worker timed out after {timeout:.0f} s"
                return
            except OSError as exc:
                failures[k] = f"cannot start {python or sys.executable}: {exc.strerror or exc}"
                return
        lines[k] = proc.stdout.splitlines()
        if proc.returncode:
            tail = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
            failures[k] = f"worker exited with code {proc.returncode}: {tail[-1] if tail else ''}"[:300]

    threads = [threading.Thread(target=run, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    by_id = {}
    for k, share in enumerate(shares):
        done = {}
        for line in lines[k]:
            try:
                r = json.loads(line)
                done[r["id"]] = r
            except (ValueError, KeyError, TypeError):
                continue
        for job in share:
            by_id[_job_key(job)] = done.get(job["id"], {"error": failures[k] or "no result from the worker"})
    return by_id


def first_problem(reports: list[KernelReport]) -> str:
    """One line naming the first failing kernel and how many more fail ('' when none)."""
    bad = [r for r in reports if r.problem]
    if not bad:
        return ""
    more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
    return f"{bad[0].label}: {bad[0].problem}{more}"


def format_table(reports: list[KernelReport]) -> str:
    """A fixed-width table of the reports, one line per kernel."""
    head = f"{'kernel':<10}{'arch':<7}{'dtype':<6}{'index':<6}{'block':>6}{'warps':>6}{'regs':>6}{'stack B':>8}" \
           f"{'spill B':>8}{'atomics':>8}  status"
    rows = [head]
    for r in reports:
        regs = "-" if r.registers is None else str(r.registers)
        spill = "-" if r.spill_bytes is None else str(r.spill_bytes)
        stack = "-" if r.stack_bytes is None else str(r.stack_bytes)
        arch = f"sm_{r.arch}" if r.arch else "-"
        status = r.problem or "ok"
        rows.append(f"{r.kernel:<10}{arch:<7}{r.dtype:<6}{r.index:<6}{r.block:>6}{r.num_warps:>6}{regs:>6}{stack:>8}"
                    f"{spill:>8}{'yes' if r.atomics else 'no':>8}  {status}")
    return "\n".join(rows)
