"""Compiled Triton kernels on CUDA against the float64 eager reference (``gpu`` marker).

Skipped without CUDA and under Triton's interpreter (``tests/conftest.py``), so an
ordinary ``make test`` skips them; ``benchmarks/gpu_check.py`` runs them on a GPU
machine with ``ACTSEARCH_GPU_TESTS=1`` and ``TRITON_INTERPRET`` unset, so the kernels
are the binaries a GPU really runs.

Every preset and three samples of every space (the set ``tests/test_aot.py``
compiles ahead of time), plus a row-wise candidate that strains registers in the
looped row kernels; each in float32 and bfloat16, at rows of 1, 1023, 2048, 2049 and
4096 (past 2048 row-wise candidates take the looped ``fwd_long``/``bwd_long``), odd
shapes, and non-contiguous inputs (strided and transposed).  Outputs, the input
gradient and every parameter gradient are compared with the pre-use check's rule
(:func:`actsearch.compile._check.check_inputs`, its tolerances).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import actsearch
from actsearch import registry
from actsearch.compile import compile_candidate
from actsearch.compile._check import check_inputs
from actsearch.errors import CompileError

#: row-wise, with the register pressure that made long one-block rows spill (compile/_launch.py)
MIXED_ROWWISE = ("a*rmsnorm(tanh(x) + c*x) + x*rmsnorm(relu(x)) + sin(rmsnorm(log(abs(x) + 1))); "
                 "a=0.7, c=0.2")
SAMPLES_PER_SPACE = 3
#: contiguous shapes: rows (the last dimension) of 1, 1023, 2048, 2049, 4096 and odd ones
SHAPES = [(1,), (6, 1), (4, 1023), (2, 2048), (3, 2049), (2, 4096), (3, 7, 13)]


def _candidates() -> list:
    out = [pytest.param(("preset", n), id=f"preset-{n}") for n in sorted(registry.presets())]
    for space in registry.spaces():
        out += [pytest.param(("space", (space, s)), id=f"space-{space}-{s}") for s in range(SAMPLES_PER_SPACE)]
    return out + [pytest.param(("text", MIXED_ROWWISE), id="rowwise-mixed")]


def _resolve(ref):
    kind, what = ref
    if kind == "preset":
        return registry.preset(what)
    if kind == "space":
        space, seed = what
        return registry.space(space).sample(np.random.default_rng(seed))
    return actsearch.parse(what)


def _inputs(dtype, device):
    """(label, x, g): the contiguous shapes, then a strided and a transposed input."""
    gen = torch.Generator().manual_seed(0)

    def rand(shape, scale=1.0):
        return (torch.randn(shape, generator=gen) * scale).to(device=device, dtype=dtype)

    for shape in SHAPES:
        yield f"{tuple(shape)}", rand(shape, 2.0), rand(shape)
    strided = rand((4, 2 * 2049), 2.0)[:, ::2]
    yield "(4, 2049) strided", strided, rand(strided.shape)
    transposed = rand((1023, 3), 2.0).t()
    yield "(3, 1023) transposed", transposed, rand(transposed.shape)


@pytest.fixture
def compiled():
    from actsearch.compile._triton import interpreting

    assert not interpreting(), "triton was imported in interpreter mode: the gpu tests need compiled kernels"


def test_the_matrix_covers_what_the_gpu_check_promises():
    # not a gpu test: runs everywhere. A parameter-free and a 10-parameter candidate, a row-wise
    # one, rows past one block
    cands = [_resolve(p.values[0]) for p in _candidates()]
    counts = {len(c.params) for c in cands}
    assert 0 in counts and 10 in counts
    assert any(not c.elementwise for c in cands)
    from actsearch.compile._launch import LOOP_ROW

    rows = {s[-1] for s in SHAPES}
    assert {1, 1023, 2048, 2049, 4096} <= rows and max(rows) > LOOP_ROW
    assert len(list(_inputs(torch.float32, "cpu"))) == len(SHAPES) + 2


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
@pytest.mark.parametrize("ref", _candidates())
def test_kernels_match_float64_reference_on_cuda(ref, dtype, compiled, tmp_path, monkeypatch):
    from actsearch.compile._triton import launch_config

    monkeypatch.setenv("ACTSEARCH_CACHE", str(tmp_path / "kernels"))  # compiled and checked here, not read back
    c = _resolve(ref)
    m = compile_candidate(c, backend="triton", device="cuda")  # the pre-use check runs on the GPU too
    assert m.backend == "triton"
    failures = []
    for label, x, g in _inputs(dtype, "cuda"):
        if not c.elementwise and x.shape[-1] > 2048:
            assert launch_config(True, x.shape)[0] == "_long"  # the looped row kernels
        try:
            check_inputs(m, c, x, g)
        except CompileError as exc:
            failures.append(f"{label}: {exc}")
    torch.cuda.synchronize()
    assert not failures, f"{c.text} in {dtype}:\n" + "\n".join(failures)
