"""Ahead-of-time GPU compile check: every preset and samples of every search space
compile with Triton for sm_80 and sm_90, fp32 and bf16, i32 and i64 lengths, without
register spills, atomics or compile errors (no GPU needed: Triton compiles for a
target it does not run on; registers and spills come from cuobjdump)."""

from __future__ import annotations

import numpy as np
import pytest

import actsearch
from actsearch.compile import _aot
from actsearch.compile import _launch
from actsearch.compile._launch import BLOCK, num_warps, row_launch

SAMPLES_PER_SPACE = 3


def _candidates() -> dict[str, actsearch.Candidate]:
    out = {f"preset-{n}": actsearch.preset(n) for n in sorted(actsearch.presets())}
    for space in actsearch.spaces():
        for seed in range(SAMPLES_PER_SPACE):
            out[f"space-{space}-{seed}"] = actsearch.space(space).sample(np.random.default_rng(seed))
    return out


CANDIDATES = _candidates()


@pytest.fixture(scope="module")
def reports() -> dict[str, list[_aot.KernelReport]]:
    # one batch: identical sources are compiled once, and the workers run in parallel
    names = list(CANDIDATES)
    return dict(zip(names, _aot.aot_compile_many([CANDIDATES[n] for n in names])))


@pytest.mark.subprocess  # the kernels compile in worker processes
@pytest.mark.parametrize("name", list(CANDIDATES))
def test_kernels_compile_for_gpus_without_spills_or_atomics(name, reports):
    c, got = CANDIDATES[name], reports[name]
    assert _aot.first_problem(got) == "", f"{c.text}\n{_aot.format_table(got)}"
    launches = {row_launch(r) for r in _aot.ROWS} if not c.elementwise else {("", BLOCK)}
    if not c.elementwise:  # both the one-block and the looped row kernels
        assert {suffix for suffix, _ in launches} == {"", "_long"}
    combos = {(r.kernel, r.arch, r.dtype, r.index, r.block) for r in got}
    assert combos == {(k + suffix, a, d, i, b) for k in ("fwd", "bwd") for a in (80, 90) for d in ("fp32", "bf16")
                      for i in ("i32", "i64") for suffix, b in launches}
    assert all(r.registers and r.registers <= 255 for r in got)
    assert all(r.num_warps == num_warps(r.block) for r in got)  # what the launcher uses


@pytest.mark.subprocess  # the kernels compile in worker processes
def test_a_spilling_kernel_is_reported(monkeypatch):
    # PolyNorm's one-block backward at 16384-wide rows holds 16 values per thread even
    # with 32 warps (the launcher gives such rows the looped kernels instead)
    monkeypatch.setattr(_launch, "LOOP_ROW", 1 << 20)
    [got] = _aot.aot_compile_many([actsearch.preset("polynorm")], rows=(16384,), archs=(90,), dtypes=("fp32",),
                                  index_types=("i32",), kernels=("bwd",))
    [r] = got
    assert r.num_warps == 32 and r.block == 16384
    assert r.spill_bytes and r.spill_bytes > 0
    assert "spills" in _aot.first_problem(got) and "bwd sm_90 fp32 i32 BLOCK=16384" in _aot.first_problem(got)


_ATOMIC_SOURCE = """
import triton
import triton.language as tl


@triton.jit
def fwd(x_ptr, p_ptr, y_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    tl.atomic_add(p_ptr, tl.sum(x, axis=0))
    tl.store(y_ptr + offs, x.to(y_ptr.dtype.element_ty), mask=mask)


@triton.jit
def bwd(x_ptr, g_ptr, p_ptr, gx_ptr, gp_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs, mask=offs < n, other=0.0)
    tl.store(gx_ptr + offs, tl.not_a_function(x), mask=offs < n)
"""


@pytest.mark.subprocess  # the kernels compile in worker processes
def test_atomics_and_compile_errors_are_reported_not_raised():
    [got] = _aot.aot_compile_sources([(_ATOMIC_SOURCE, False)], archs=(90,), dtypes=("bf16",), index_types=("i64",))
    fwd, bwd = got
    assert fwd.atomics and not fwd.error and fwd.problem == "uses atomic instructions"
    assert bwd.error and "not_a_function" in bwd.error and "\n" not in bwd.error
    assert _aot.first_problem(got).endswith("(and 1 more)")


@pytest.mark.subprocess  # the kernels compile in worker processes
def test_bench_kernel_aot_prints_the_table(capsys):
    from actsearch.cli import main

    assert main(["bench-kernel", "relu(x)", "--aot"]) == 0
    out = capsys.readouterr().out
    assert "sm_80" in out and "sm_90" in out and "bf16" in out and "i64" in out
    assert out.count(" ok") == 16  # fwd/bwd x 2 archs x 2 dtypes x 2 index types


def test_bench_kernel_aot_exits_nonzero_on_a_problem(capsys, monkeypatch):
    from actsearch.cli import main

    spilled = _aot.KernelReport("bwd", 90, "fp32", "i32", 4096, 32, registers=255, spill_bytes=328)
    monkeypatch.setattr(_aot, "aot_compile", lambda c, **kw: [spilled])
    assert main(["bench-kernel", "polynorm", "--aot"]) == 1
    captured = capsys.readouterr()
    assert "spills 328 bytes" in captured.out
    [line] = captured.err.strip().splitlines()
    assert "bwd sm_90 fp32 i32 BLOCK=4096 warps=32: spills 328 bytes" in line
