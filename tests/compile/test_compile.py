"""actsearch.compile: generated Triton kernels (run by Triton's CPU interpreter),
inductor and eager, checked against the eager reference and float64."""

from __future__ import annotations

import importlib
import os

# triton builds tl.sigmoid & co. at import time: interpreter mode must be on first
os.environ.setdefault("TRITON_INTERPRET", "1")

import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import actsearch  # noqa: E402
compile_pkg = importlib.import_module("actsearch.compile")  # the function shadows the name
from actsearch import registry  # noqa: E402
from actsearch.compile import _cache, _codegen  # noqa: E402
from actsearch.compile import compile_candidate  # noqa: E402
from actsearch.errors import CompileError  # noqa: E402

RTOL = 1e-5

RATIONAL_A = (
    "(a0 + a1*x + a2*x**2 + a3*x**3 + a4*x**4 + a5*x**5)"
    "/(1 + abs(b1)*abs(x) + abs(b2)*abs(x)**2 + abs(b3)*abs(x)**3 + abs(b4)*abs(x)**4);"
    " a0=0.02, a1=0.5, a2=0.6, a3=0.2, a4=0.03, a5=0.001, b1=0.1, b2=0.8, b3=0.05, b4=0.02"
)
POLYNORM = "w0*rmsnorm(x**3) + w1*rmsnorm(x**2) + w2*rmsnorm(x) + b; w0=0.3, w1=0.4, w2=0.5, b=0.1"

FORMULAS = {
    "rational-A": RATIONAL_A,
    "rational-B": "(a0 + a1*x + a2*x**2 + a3*x**3)/(1 + abs(b1*x + b2*x**2)); a0=0.1, a1=0.9, a2=0.4, a3=0.05, b1=0.3, b2=0.6",
    "rational-C": "(a0 + a1*x + a2*x**2)/(0.1 + abs(b0 + b1*x + b2*x**2)); a0=0.2, a1=1.1, a2=0.3, b0=0.5, b1=0.2, b2=0.4",
    "rational-N": "(a0 + a1*x + a2*x**2)/(1 + b1*x + b2*x**2); a0=0.0, a1=1.0, a2=0.5, b1=0.1, b2=0.5",
    "polyrelu": "w0*relu(x)**3 + w1*relu(x)**2 + w2*relu(x) + b; w0=0.3, w1=0.3, w2=0.4, b=0.05",
    "polynorm": POLYNORM,
    "polynorm-mixed": "a*rmsnorm(tanh(x) + c*x) + x*rmsnorm(relu(x)); a=0.7, c=0.2",
    "crrelu": "relu(x) + eps*x*exp(-x**2/2); eps=0.01",
    "tanh-atan": "tanh(x)*atan(x) + x",
    "softplus-elu": "softplus(x) - elu(x) + 0.5*x",
    "selu-gelu-silu": "selu(x) + gelu(x)*silu(x)",
    "softsign-max-min": "softsign(x)*max(x, a*x) + min(x, sin(x)); a=0.2",
    "hyperbolic": "sinh(x)/cosh(x) + asinh(x)",
    "erf-abs-cos": "erf(x)*abs(x) + cos(x)",
    "sqrt-log": "sqrt(abs(x)) + log(abs(x) + c); c=0.5",
    "division": "x/(1 + x**2) + leaky_relu(x)*sigmoid(x)",
    "pow-param": "abs(x)**p + exp(-x**2); p=1.5",
    "max-three": "max(x, 0.1*x, sin(x))",
}


def _preset_and_space_candidates() -> list:
    """Every preset and three samples of every space."""
    out = [pytest.param(n, id=f"preset-{n}") for n in sorted(registry.presets())]
    for space in registry.spaces():
        out += [pytest.param((space, s), id=f"space-{space}-{s}") for s in range(3)]
    return out


def _resolve(ref):
    if isinstance(ref, tuple):
        space, seed = ref
        return registry.space(space).sample(np.random.default_rng(seed))
    return registry.preset(ref)


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("ACTSEARCH_CACHE", str(tmp_path / "kernels"))
    compile_pkg.clear_memo()  # tests patch the generator itself: nothing generated before may be reused
    return tmp_path / "kernels"


@pytest.fixture
def interp():
    from actsearch.compile._triton import interpreting

    if not interpreting() and not torch.cuda.is_available():
        pytest.skip("triton was imported before TRITON_INTERPRET=1 was set (set it in conftest.py)")


def _shape_for(c, n: int = 1025):
    return (n,) if c.elementwise else (25, n // 25)


def _forward_backward(module, x, g):
    module.zero_grad(set_to_none=True)
    x = x.clone().requires_grad_(True)
    y = module(x)
    y.backward(g)
    return y.detach(), x.grad, {k: p.grad.clone() for k, p in module.params.items()}


def _param_term_sums(c, x, g) -> dict[str, float]:
    """sum over elements of |g * dy/dp| in float64: the scale a summed gradient carries."""
    x64, g64 = x.double(), g.double()
    params = {k: torch.full_like(x64, v, requires_grad=True) for k, v in c.params.items()}
    if params:
        c.torch_fn()(x64, params).backward(g64)
    return {k: float(p.grad.abs().sum()) for k, p in params.items()}


def assert_matches_eager(c, module, x, g=None, rtol=RTOL):
    g = torch.randn(x.shape, generator=torch.Generator().manual_seed(1)) if g is None else g
    y, gx, gp = _forward_backward(module, x, g)
    ye, gxe, gpe = _forward_backward(c.module(), x, g)
    for what, got, want in (("output", y, ye), ("grad x", gx, gxe)):
        assert got.shape == want.shape and got.dtype == want.dtype, what
        atol = 1e-6 * max(1.0, float(want.abs().max()))
        bad = (got - want).abs() > rtol * want.abs() + atol
        assert not bad.any(), f"{what} of {c.text}: worst {float((got - want).abs().max()):.3g}"
    sums = _param_term_sums(c, x, g)
    for k in c.params:
        tol = rtol * sums[k] + 1e-7
        assert abs(float(gp[k]) - float(gpe[k])) <= tol, f"grad {k} of {c.text}: {float(gp[k])} vs {float(gpe[k])}"


def _x(shape, scale=2.0, seed=0):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed)) * scale


# -- the eager reference itself ---------------------------------------------------


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_reference_gradcheck_float64(name):
    c = actsearch.parse(FORMULAS[name])
    m = c.module(dtype=torch.float64)
    names = list(m.params)
    x = _x((3, 7), scale=1.5).double().requires_grad_(True)

    def f(x, *ps):
        return c.torch_fn()(x, dict(zip(names, ps)))

    ps = [p.detach().clone().requires_grad_(True) for p in m.params.values()]
    assert torch.autograd.gradcheck(f, (x, *ps), eps=1e-6, atol=1e-6, rtol=1e-5)


# -- triton (interpreted on CPU) ----------------------------------------------------


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_triton_matches_eager(name, interp):
    c = actsearch.parse(FORMULAS[name])
    m = compile_candidate(c, backend="triton")
    assert m.backend == "triton"
    assert_matches_eager(c, m, _x(_shape_for(c)))


@pytest.mark.parametrize("ref", _preset_and_space_candidates())
def test_triton_presets_and_space_samples(ref, interp):
    c = _resolve(ref)
    m = compile_candidate(c, backend="triton")
    assert_matches_eager(c, m, _x(_shape_for(c)))


@pytest.mark.parametrize("n", [1, 1023, 1025])
@pytest.mark.parametrize("name", ["rational-A", "polynorm"])
def test_triton_odd_sizes(name, n, interp):
    c = actsearch.parse(FORMULAS[name])
    m = compile_candidate(c, backend="triton")
    shape = (n,) if c.elementwise else (3, n)
    assert_matches_eager(c, m, _x(shape))


@pytest.mark.parametrize("name", ["rational-A", "polynorm"])
def test_triton_non_contiguous_input(name, interp):
    c = actsearch.parse(FORMULAS[name])
    m = compile_candidate(c, backend="triton")
    base = _x((33, 64))
    x = base[:, ::2]  # strided rows
    assert not x.is_contiguous()
    assert_matches_eager(c, m, x)
    xt = _x((40, 33)).t()  # transposed
    assert_matches_eager(c, m, xt)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("name", ["rational-A", "crrelu", "polynorm"])
def test_triton_half_precision_inputs(name, dtype, interp):
    c = actsearch.parse(FORMULAS[name])
    m = compile_candidate(c, backend="triton")
    x = _x(_shape_for(c)).to(dtype)
    g = _x(x.shape, scale=1.0, seed=3).to(dtype)
    y, gx, gp = _forward_backward(m, x, g)
    assert y.dtype == dtype and gx.dtype == dtype
    # reference: eager float32 on the same (rounded) inputs; the kernel computes in
    # float32 and rounds once on store, so half an ulp of the dtype plus a floor
    ye, gxe, gpe = _forward_backward(c.module(), x.float(), g.float())
    ulp = torch.finfo(dtype).eps
    for got, want in ((y, ye), (gx, gxe)):
        bad = (got.float() - want).abs() > ulp * want.abs() + 1e-3 * float(want.abs().max())
        assert not bad.any()
    sums = _param_term_sums(c, x.float(), g.float())
    for k in c.params:  # accumulated in float32 whatever the input dtype
        assert gp[k].dtype == torch.float32
        assert abs(float(gp[k]) - float(gpe[k])) <= RTOL * sums[k] + 1e-7


@pytest.mark.parametrize(
    "formula, ref",
    [
        ("atan(x)", np.arctan),
        ("tanh(x)", np.tanh),
        ("softplus(x)", lambda v: np.logaddexp(0.0, v)),
        ("elu(x)", lambda v: np.where(v > 0, v, np.expm1(v))),
        ("sinh(x)", np.sinh),
        ("cosh(x)", np.cosh),
        ("asinh(x)", np.arcsinh),
    ],
)
def test_triton_special_functions_accuracy(formula, ref, interp):
    """Helpers built from exp/log/sqrt keep float32 accuracy against float64 numpy."""
    c = actsearch.parse(formula)
    m = compile_candidate(c, backend="triton", check=False)
    mags = np.concatenate([np.geomspace(1e-7, 80.0, 400), np.linspace(0.0, 12.0, 201)])
    v = np.concatenate([mags, -mags]).astype(np.float32)
    with torch.no_grad():
        got = m(torch.from_numpy(v)).double().numpy()
    want = ref(v.astype(np.float64))
    finite = np.isfinite(want) & (np.abs(want) < 3e38)
    rel = np.abs(got[finite] - want[finite]) / np.maximum(np.abs(want[finite]), 1e-30)
    assert rel.max() < 2e-6, f"{formula}: worst relative error {rel.max():.3g} at {v[finite][rel.argmax()]}"


@pytest.mark.parametrize("name", ["rational-A", "polynorm", "tanh-atan"])
def test_triton_launch_issues_few_torch_ops(name, interp):
    """Around the two generated kernels a forward+backward issues one stack of the
    parameters and one sum of their partial gradients; nothing zero-filled, copied,
    or split parameter by parameter (each is a kernel launch on a GPU)."""
    from types import SimpleNamespace

    from torch.utils._python_dispatch import TorchDispatchMode

    from actsearch.compile._triton import KernelFunction

    c = actsearch.parse(FORMULAS[name])
    m = compile_candidate(c, backend="triton", device="cpu")
    inside = [False]  # the interpreter's own host copies are not the launcher's

    class Flagged:
        def __init__(self, kernel):
            self.kernel = kernel

        def __getitem__(self, grid):
            launch = self.kernel[grid]

            def run(*args, **kwargs):
                inside[0] = True
                try:
                    return launch(*args, **kwargs)
                finally:
                    inside[0] = False
            return run

    k = m._kernels
    kernels = SimpleNamespace(fwd=Flagged(k.fwd), bwd=Flagged(k.bwd), ROWWISE=k.ROWWISE, NPARAMS=k.NPARAMS)
    ops: list[str] = []

    class Count(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if not inside[0]:
                ops.append(func.overloadpacket.__name__)
            return func(*args, **(kwargs or {}))

    x = _x(_shape_for(c)).requires_grad_(True)
    g = _x(x.shape, seed=1)
    with Count():
        KernelFunction.apply(x, kernels, *m.params.values()).backward(g)
    writing = [op for op in ops if op not in ("detach", "view", "alias", "empty", "empty_like", "unbind")]
    want = ["stack", "sum"] if c.params else []
    assert sorted(writing) == want, ops
    assert all(p.grad is not None for p in m.params.values())


def test_triton_module_for_a_named_device_refuses_other_inputs(monkeypatch, interp):
    from actsearch.compile import _triton

    c = actsearch.parse(FORMULAS["crrelu"])
    bound = compile_candidate(c, backend="triton", device="cpu")
    free = compile_candidate(c, backend="triton")
    assert (bound.fallback, free.fallback) == ("error", "eager")
    monkeypatch.setattr(_triton, "_INTERPRETING", False)  # as on a CUDA machine: CPU tensors cannot run the kernel
    x = _x((50,))
    with pytest.raises(CompileError, match="runs on CUDA tensors, got a cpu tensor"):
        bound(x)
    with pytest.warns(UserWarning, match="cpu input uses the eager formula"):
        y = free(x)
    assert torch.equal(y, c.module()(x))


def test_check_runs_on_the_named_device_and_is_recorded_per_device(monkeypatch, _cache_dir, interp):
    from actsearch.compile import _check

    seen = []
    real = _check.check_module
    monkeypatch.setattr(_check, "check_module", lambda m, c, d: (seen.append(torch.device(d)), real(m, c, d)))
    c = actsearch.parse("w*softsign(x) - 2*x; w=0.5")
    m = compile_candidate(c, backend="triton", device="cpu")
    assert seen == [torch.device("cpu")]
    assert all(p.device.type == "cpu" for p in m.parameters())
    entry = _entry_path(_cache_dir, _codegen.generate_source(c))
    assert [f.name.split(".", 1)[1] for f in _cache_dir.glob(f"{entry.stem}.*ok")] == ["cpu.ok"]
    compile_candidate(c, backend="triton", device="cpu")
    assert len(seen) == 1  # checked once on this kind of device


def test_unchecked_compile_is_checked_by_the_next_default_compile(monkeypatch, interp):
    real = _codegen.generate_source
    monkeypatch.setattr(_codegen, "generate_source", lambda c: real(c).replace("y.to(y_ptr", "(y * 1.01).to(y_ptr"))
    c = actsearch.parse("w*softsign(x) - 3*x; w=0.5")
    compile_candidate(c, backend="triton", check=False)  # same process, nothing cleared
    with pytest.raises(CompileError, match="disagrees with the eager reference"):
        compile_candidate(c, backend="triton")


def test_bad_or_missing_device_is_a_one_line_error():
    with pytest.raises(CompileError, match="unknown device 'gpu0'"):
        compile_candidate(actsearch.parse("relu(x)"), device="gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(CompileError, match="torch sees no CUDA GPU"):
            compile_candidate(actsearch.parse("relu(x)"), backend="eager", device="cuda")


def test_triton_float64_input_uses_eager_formula(interp):
    c = actsearch.parse(FORMULAS["crrelu"])
    m = compile_candidate(c, backend="triton")
    x = _x((50,)).double()
    assert torch.equal(m(x), c.module()(x))


LOOPED_ROWWISE = [POLYNORM, FORMULAS["polynorm-mixed"],
                  "w*rmsnorm(log(abs(x))) + x*rmsnorm(x); w=0.5"]  # -inf on the padding lanes


@pytest.mark.slow
@pytest.mark.parametrize("ncols", [16, 17, 50])
@pytest.mark.parametrize("formula", LOOPED_ROWWISE)
def test_triton_looped_row_kernels_match_eager(formula, ncols, monkeypatch, interp):
    # rows longer than LOOP_ROW are walked in chunks of ROW_CHUNK: shrunk here so that a
    # row spans one, two (one partial) and four chunks
    from actsearch.compile import _launch, _triton

    monkeypatch.setattr(_launch, "LOOP_ROW", 8)
    monkeypatch.setattr(_launch, "ROW_CHUNK", 16)
    c = actsearch.parse(formula)
    m = compile_candidate(c, backend="triton")
    assert _triton.launch_config(True, (3, ncols))[0] == "_long"
    assert_matches_eager(c, m, _x((3, ncols)))


def test_triton_rows_past_one_block_take_the_looped_kernels(interp):
    from actsearch.compile import _launch, _triton

    c = actsearch.parse(POLYNORM)
    m = compile_candidate(c, backend="triton")
    ncols = _launch.LOOP_ROW + 452
    suffix, programs, n_arg, block, _ = _triton.launch_config(True, (2, ncols))
    assert (suffix, programs, n_arg, block) == ("_long", 2, ncols, _launch.ROW_CHUNK)
    assert_matches_eager(c, m, _x((2, ncols)))


def test_triton_rejects_nested_rmsnorm(interp):
    c = actsearch.parse("rmsnorm(rmsnorm(x) + x)")
    with pytest.raises(CompileError, match="nested"):
        compile_candidate(c, backend="triton")


def test_generated_source_holds_no_user_text(interp):
    c = actsearch.parse("zebra_weight*relu(x) + quux*x; zebra_weight=0.5, quux=0.25")
    src = _codegen.generate_source(c)
    assert "zebra" not in src and "quux" not in src
    compile(src, "<kernel>", "exec")  # valid Python


# -- inductor, eager, auto --------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["rational-A", "rational-N", "polyrelu", "polynorm", "crrelu", "tanh-atan", "softsign-max-min", "hyperbolic"],
)
@pytest.mark.slow
def test_inductor_matches_eager(name):
    c = actsearch.parse(FORMULAS[name])
    m = compile_candidate(c, backend="inductor")
    assert m.backend == "inductor"
    assert_matches_eager(c, m, _x(_shape_for(c)))


def test_inductor_candidates_get_their_own_code_objects():
    """Dynamo caches graphs per code object; shared code would hit its recompile
    limit after 8 candidates and silently run eager."""
    from actsearch.compile._inductor import _own_code

    a, b = actsearch.parse("relu(x)*2"), actsearch.parse("relu(x)*3")
    fa, fb = _own_code(a.torch_fn(), a.key), _own_code(b.torch_fn(), b.key)
    assert fa.__code__ is not fb.__code__
    x = _x((10,))
    assert torch.equal(fa(x, {}), a.torch_fn()(x, {})) and torch.equal(fb(x, {}), 3 * torch.relu(x))


@pytest.mark.parametrize("backend", ["triton", pytest.param("inductor", marks=pytest.mark.slow), "eager"])
def test_state_dicts_interchange(backend, interp):
    c = actsearch.parse(FORMULAS["polyrelu"])
    m = compile_candidate(c, backend=backend)
    eager = c.module()
    assert sorted(m.state_dict()) == sorted(eager.state_dict()) == ["params.b", "params.w0", "params.w1", "params.w2"]
    with torch.no_grad():
        for p in eager.parameters():
            p.mul_(1.5).add_(0.1)
    m.load_state_dict(eager.state_dict())
    x = _x((300,))
    torch.testing.assert_close(m(x), eager(x), rtol=1e-5, atol=1e-6)
    assert backend in repr(m) and "relu(x)" in repr(m)


def test_auto_is_eager_on_a_cpu_and_triton_on_cuda(monkeypatch):
    assert compile_pkg.resolve_backend("auto", "cpu") == "eager"
    assert compile_pkg.resolve_backend("auto", torch.device("cpu")) == "eager"
    assert compile_pkg.resolve_backend("inductor", "cpu") == "inductor"
    m = compile_candidate(actsearch.parse("x*sigmoid(x)*1.25"), device="cpu")
    assert m.backend == "eager"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # resolving only: nothing runs on it
    assert compile_pkg.resolve_backend("auto", "cuda") == "triton"
    assert compile_pkg.resolve_backend("auto") == "triton"  # no device: cuda when torch sees one


def test_auto_falls_back_to_eager_with_reason(monkeypatch):
    from actsearch.compile import _inductor

    def broken(candidate):
        raise RuntimeError("no C++ compiler")

    monkeypatch.setattr(_inductor, "compiled_fn", broken)
    # make auto choose inductor, as it chooses triton on a GPU
    from actsearch.compile import _compile

    real = compile_pkg.resolve_backend
    monkeypatch.setattr(_compile, "resolve_backend", lambda b, d=None: "inductor" if b == "auto" else real(b, d))
    c = actsearch.parse("x*sigmoid(x)*1.5")
    with pytest.warns(UserWarning, match="inductor backend failed.*no C\\+\\+ compiler"):
        m = compile_candidate(c, backend="auto")
    assert m.backend == "eager"
    with pytest.raises(CompileError, match="no C\\+\\+ compiler"):
        compile_candidate(c, backend="inductor")


def test_bad_backend_and_bad_candidate():
    with pytest.raises(CompileError, match="unknown backend 'cuda'"):
        compile_candidate(actsearch.parse("x"), backend="cuda")
    with pytest.raises(CompileError, match="expected a Candidate"):
        compile_candidate("x*sigmoid(x)")


def test_actsearch_compile_entry_point():
    m = actsearch.compile(actsearch.parse("relu(x)"), backend="eager")
    assert m.backend == "eager"


# -- the check ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "old, new, what",
    [
        ("y.to(y_ptr", "(y * 1.0001).to(y_ptr", "output"),
        ("gx.to(gx_ptr", "(gx * 1.0001).to(gx_ptr", "grad x"),
        ("g * dydp_0,", "g * dydp_0 * 1.001,", "grad a"),  # a sum: its tolerance scales with sum |terms|
    ],
)
def test_check_rejects_wrong_kernel(monkeypatch, old, new, what, interp):
    real = _codegen.generate_source

    def wrong(candidate):
        src = real(candidate)
        assert old in src
        return src.replace(old, new, 1)

    monkeypatch.setattr(_codegen, "generate_source", wrong)
    c = actsearch.parse("a*x + relu(x)*x; a=0.5")
    with pytest.raises(CompileError) as info:
        compile_candidate(c, backend="triton")
    msg = str(info.value)
    assert c.text in msg and f"worst {what}" in msg


# -- check_inputs: the pre-use check's rule at any input (tests/compile/test_gpu.py runs it on CUDA)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("name", ["rational-A", "polynorm"])
def test_check_inputs_passes_kernels_on_strided_half_inputs(name, dtype, interp):
    from actsearch.compile._check import check_inputs

    c = actsearch.parse(FORMULAS[name])
    m = compile_candidate(c, backend="triton")
    seen = []
    m.register_forward_pre_hook(lambda mod, args: seen.append((args[0].is_contiguous(), args[0].dtype)))
    x = _x((5, 66)).to(dtype)[:, ::2]
    g = _x((5, 33), scale=1.0, seed=3).to(dtype)
    check_inputs(m, c, x, g)
    assert seen == [(False, dtype)]  # the module saw the strided half-precision input itself


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_check_inputs_rows_of_one_feature(dtype, interp):
    # rmsnorm over one feature: the input gradient is the difference of two ~1/|x| terms,
    # about 1e-6 of each, so float32 round-off on both sides; judged by the eager's own round-off
    from actsearch.compile._check import check_inputs

    c = actsearch.parse(POLYNORM)
    m = compile_candidate(c, backend="triton")
    for shape in [(1,), (6, 1), (40, 1)]:
        check_inputs(m, c, _x(shape).to(dtype), _x(shape, scale=1.0, seed=3).to(dtype))


@pytest.mark.parametrize(
    "old, new, what, rejected",
    [
        ("y.to(y_ptr", "(y * 1.0005).to(y_ptr", "output", False),  # below bfloat16's rounding
        ("y.to(y_ptr", "(y * 1.02).to(y_ptr", "output", True),
        ("gx.to(gx_ptr", "(gx * 1.02).to(gx_ptr", "grad x", True),
        ("g * dydp_0,", "g * dydp_0 * 1.001,", "grad a", True),  # float32 sums keep rtol in bfloat16 too
    ],
)
def test_check_inputs_bfloat16_tolerance(monkeypatch, old, new, what, rejected, interp):
    from actsearch.compile._check import check_inputs

    real = _codegen.generate_source
    monkeypatch.setattr(_codegen, "generate_source", lambda cand: real(cand).replace(old, new, 1))
    c = actsearch.parse("a*x + relu(x)*x; a=0.5")
    m = compile_candidate(c, backend="triton", check=False)
    x, g = _x((7, 33)).bfloat16(), _x((7, 33), scale=1.0, seed=3).bfloat16()
    if not rejected:
        check_inputs(m, c, x, g)
        return
    with pytest.raises(CompileError, match=f"worst {what}"):
        check_inputs(m, c, x, g)


# -- the disk cache -------------------------------------------------------------------


def _count_generation(monkeypatch) -> list:
    calls = []
    real = _codegen.generate_source

    def counting(candidate):
        calls.append(candidate.key)
        return real(candidate)

    monkeypatch.setattr(_codegen, "generate_source", counting)
    return calls


def test_cache_hit_skips_the_check(monkeypatch, _cache_dir, interp):
    c = actsearch.parse("w*softsign(x) + x; w=0.75")
    entry = _entry_path(_cache_dir, _codegen.generate_source(c))
    calls = _count_generation(monkeypatch)
    compile_candidate(c, backend="triton")
    assert calls == [c.key]
    assert entry.exists()
    compile_candidate(c, backend="triton")
    assert calls == [c.key]  # generated once per process

    compile_pkg.clear_memo()  # as a fresh worker process would start
    from actsearch.compile import _check

    def no_check(*a, **k):
        raise AssertionError("a checked cache entry was checked again")

    monkeypatch.setattr(_check, "check_module", no_check)
    t0 = time.perf_counter()
    m = compile_candidate(c, backend="triton")
    elapsed = time.perf_counter() - t0
    assert calls == [c.key, c.key]  # generated again: the source is the key
    assert elapsed < 0.5, f"cache hit took {elapsed * 1e3:.0f} ms"  # target 50 ms; CI machines are loaded
    assert_matches_eager(c, m, _x((200,)))


def test_corrupted_cache_entry_is_rebuilt(monkeypatch, _cache_dir, interp):
    c = actsearch.parse("w*softsign(x) - x; w=0.5")
    entry = _entry_path(_cache_dir, _codegen.generate_source(c))
    calls = _count_generation(monkeypatch)
    compile_candidate(c, backend="triton")
    text = entry.read_text()
    entry.write_text(text.replace("tl.sigmoid", "tl.exp").replace("/ (", "* ("))  # a wrong but valid kernel
    compile_pkg.clear_memo()
    m = compile_candidate(c, backend="triton")
    assert len(calls) == 2  # the bad file was not trusted
    assert entry.read_text() == text
    assert_matches_eager(c, m, _x((200,)))

    entry.write_text("")  # a truncated file
    compile_pkg.clear_memo()
    compile_candidate(c, backend="triton")
    assert len(calls) == 3 and entry.read_text() == text


def test_cache_writes_are_atomic_under_concurrency(tmp_path):
    cache = _cache.open_cache(tmp_path / "c")
    bodies = [f"# body {i}\n" + "x = 1\n" * 2000 for i in range(4)]
    seen, stop = [], threading.Event()

    def reader():
        while not stop.is_set():
            seen.append(cache.load_text("k" * 16, "triton"))

    def writer(body):
        for _ in range(30):
            cache.store("k" * 16, "triton", body)

    r = threading.Thread(target=reader)
    r.start()
    ws = [threading.Thread(target=writer, args=(b,)) for b in bodies]
    for w in ws:
        w.start()
    for w in ws:
        w.join()
    stop.set()
    r.join()
    assert all(s is None or s in bodies for s in seen)
    assert cache.load_text("k" * 16, "triton") in bodies
    assert not list((tmp_path / "c").glob(".tmp-*"))


def test_cache_dir_option_and_env(tmp_path, monkeypatch):
    monkeypatch.setenv("ACTSEARCH_CACHE", str(tmp_path / "env"))
    assert _cache.default_cache_dir() == tmp_path / "env"
    monkeypatch.delenv("ACTSEARCH_CACHE")
    assert _cache.default_cache_dir() == Path.home() / ".cache" / "actsearch" / "kernels"



# -- the cache executes only what it wrote ------------------------------------------------


def _entry_path(folder: Path, source: str, backend: str = "triton") -> Path:
    # spelled out here, not asked of the cache: the layout an attacker would target
    import hashlib
    from importlib.metadata import version

    versions = f"torch {version('torch')}; triton {version('triton')}"
    return folder / f"k{hashlib.sha256(chr(0).join((backend, versions, source)).encode()).hexdigest()[:32]}_{backend}.py"


def _plant(path: Path, body: str) -> None:
    """Write ``body`` with the plain sha256 header a checksum-only cache accepted."""
    import hashlib

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# actsearch-cache sha256={hashlib.sha256(body.encode()).hexdigest()}\n{body}")


def test_planted_cache_entry_is_never_executed(_cache_dir, tmp_path, interp):
    c = actsearch.parse("w*softsign(x) + 2*x; w=0.5")
    ran = tmp_path / "planted-code-ran"
    entry = _entry_path(_cache_dir, _codegen.generate_source(c))
    _plant(entry, f"open({str(ran)!r}, 'w').write('pwned')\n" + _codegen.generate_source(c))
    m = compile_candidate(c, backend="triton")
    assert not ran.exists(), "the cache imported a file it did not write"
    assert "pwned" not in entry.read_text()  # replaced by the real kernel
    assert_matches_eager(c, m, _x((200,)))


def test_planted_checked_marker_does_not_skip_the_check(monkeypatch, _cache_dir, interp):
    import hashlib

    real = _codegen.generate_source
    monkeypatch.setattr(_codegen, "generate_source", lambda c: real(c).replace("y.to(y_ptr", "(y * 1.01).to(y_ptr"))
    c = actsearch.parse("w*softsign(x) + 3*x; w=0.5")
    compile_candidate(c, backend="triton", check=False)  # a wrong kernel the cache did write, never checked
    entry = _entry_path(_cache_dir, _codegen.generate_source(c))
    body = entry.read_text().partition("\n")[2]
    forged = hashlib.sha256(body.encode()).hexdigest()
    for suffix in (".ok", ".cpu.ok", ".cuda.ok"):  # what a checksum-only marker would hold
        entry.with_suffix(suffix).write_text(forged)
    compile_pkg.clear_memo()
    with pytest.raises(CompileError, match="disagrees with the eager reference"):
        compile_candidate(c, backend="triton")

    # nor does a genuine marker copied from another candidate's entry
    monkeypatch.setattr(_codegen, "generate_source", real)
    other = actsearch.parse("w*softsign(x) + 4*x; w=0.5")
    compile_candidate(other, backend="triton")
    for marker in _cache_dir.glob(f"{_entry_path(_cache_dir, real(other)).stem}.*ok"):
        entry.with_suffix(marker.name[len(entry.stem):]).write_bytes(marker.read_bytes())
    monkeypatch.setattr(_codegen, "generate_source", lambda c: real(c).replace("y.to(y_ptr", "(y * 1.01).to(y_ptr"))
    compile_pkg.clear_memo()
    with pytest.raises(CompileError, match="disagrees with the eager reference"):
        compile_candidate(c, backend="triton")


@pytest.mark.parametrize("flaw", ["group-writable", "world-writable", "owned by another user", "secret readable"])
def test_untrusted_cache_folder_is_refused(flaw, monkeypatch, _cache_dir, interp):
    c = actsearch.parse("w*softsign(x) + 5*x; w=0.5")
    compile_candidate(c, backend="triton")  # creates the folder and its secret
    compile_pkg.clear_memo()
    for f in _cache_dir.glob("k*"):
        f.unlink()
    if flaw == "group-writable":
        _cache_dir.chmod(0o770)
    elif flaw == "world-writable":
        _cache_dir.chmod(0o777)
    elif flaw == "owned by another user":
        monkeypatch.setattr(_cache, "_current_uid", lambda: os.stat(_cache_dir).st_uid + 1)
    else:
        (_cache_dir / ".secret").chmod(0o644)
    with pytest.warns(UserWarning, match="not using the kernel cache.*private temporary cache"):
        m = compile_candidate(c, backend="triton")
    assert not list(_cache_dir.glob("k*")), "wrote into a folder other users can plant files in"
    assert_matches_eager(c, m, _x((200,)))


def test_new_cache_folder_and_secret_are_private(_cache_dir, interp):
    compile_candidate(actsearch.parse("w*softsign(x) + 6*x; w=0.5"), backend="triton")
    assert _cache_dir.stat().st_mode & 0o777 == 0o700
    assert (_cache_dir / ".secret").stat().st_mode & 0o777 == 0o600


def test_cache_path_that_is_a_file(monkeypatch, tmp_path, interp):
    path = tmp_path / "not-a-folder"
    path.write_text("")
    monkeypatch.setenv("ACTSEARCH_CACHE", str(path))
    with pytest.raises(CompileError, match="is a file, not a folder") as info:
        compile_candidate(actsearch.parse("w*softsign(x) + 7*x; w=0.5"), backend="triton")
    assert "\n" not in str(info.value)
    # auto (triton, as on a GPU): eager, and one warning however many layers compile
    from actsearch.compile import _compile

    monkeypatch.setattr(_compile, "resolve_backend", lambda b, d=None: "triton" if b == "auto" else b)
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mods = [compile_candidate(actsearch.parse(f"w*softsign(x) + {k}*x; w=0.5")) for k in (8, 9, 10)]
    assert [m.backend for m in mods] == ["eager"] * 3
    msgs = [str(w.message) for w in caught if "is a file, not a folder" in str(w.message)]
    assert len(msgs) == 1 and "using eager" in msgs[0]

# -- bench-kernel -----------------------------------------------------------------------


def test_bench_kernel_command(capsys):
    from actsearch.cli import main

    assert main(["bench-kernel", "relu(x) + eps*x*exp(-x**2/2); eps=0.01", "--backend", "eager",
                 "--size", "4096", "--repeats", "2", "--features", "64"]) == 0
    out = capsys.readouterr().out
    assert "64x64 (4096 elements)" in out
    row = next(line for line in out.splitlines() if line.startswith("eager"))
    assert row.split()[3] == "1.00"  # eager against itself


def test_bench_kernel_bad_formula_exits_2(capsys):
    from actsearch.cli import main

    assert main(["bench-kernel", "x +* 2"]) == 2
    assert "error" in capsys.readouterr().err
