"""The printers on sympy's printer machinery: exported torch source and Triton text
(one CodePrinter base), the eager closure builder (a sympy Printer), and the Triton
printer's bounded output (powers through temporaries, a size limit)."""

from __future__ import annotations

import math
import os
import time

import pytest
import sympy
import torch
from sympy.printing.codeprinter import CodePrinter
from sympy.printing.printer import Printer

import actsearch
from actsearch.symbolic.parser import X
from actsearch.symbolic.text import FunctionTablePrinter
from actsearch.symbolic.torch_eval import TorchBuilder, build_torch_fn
from actsearch.symbolic.torch_source import TorchSourcePrinter
from actsearch.compile import _codegen
from actsearch.compile._printer import KernelTooLarge, TritonPrinter
from actsearch.errors import CompileError
from actsearch.results.export import export_source, load


def _interp():
    if os.environ.get("TRITON_INTERPRET") != "1" and not torch.cuda.is_available():
        pytest.skip("needs a GPU or TRITON_INTERPRET=1 (set in conftest.py)")


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("ACTSEARCH_CACHE", str(tmp_path / "kernels"))


def test_printers_are_sympy_printers():
    assert issubclass(FunctionTablePrinter, CodePrinter)
    assert issubclass(TorchSourcePrinter, FunctionTablePrinter) and issubclass(TritonPrinter, FunctionTablePrinter)
    assert issubclass(TorchBuilder, Printer)
    # no per-function methods: functions come from the table
    for cls in (FunctionTablePrinter, TorchSourcePrinter, TritonPrinter, TorchBuilder):
        own = [m for m in vars(cls) if m.startswith("_print_")]
        assert not {"_print_relu", "_print_tanh", "_print_Max", "_print_Min", "_print_sign"} & set(own), cls


# -- precedence: tricky shapes, printed and run, against the formula written out ----------

# (formula, reference on a float)
TRICKY = [
    ("-x**2 + (x + 1)**3", lambda v: -v * v + (v + 1) ** 3),
    ("cos(4)*x - x/3", lambda v: math.cos(4) * v - v / 3),
    ("x*(x - cos(4))**2", lambda v: v * (v - math.cos(4)) ** 2),
    ("1/(x**2 + 2) - 1/sqrt(x**2 + 1) + (x**2 + 1)**(-1.5)",
     lambda v: 1 / (v * v + 2) - 1 / math.sqrt(v * v + 1) + (v * v + 1) ** -1.5),
    ("max(x, 0) + min(x, 1, 2*x)", lambda v: max(v, 0) + min(v, 1, 2 * v)),
    ("a*x/(b*c) - (x - a)/(x + b)**2; a=0.5, b=2, c=3", lambda v: 0.5 * v / 6 - (v - 0.5) / (v + 2) ** 2),
    ("-(x + 1)*tanh(x) + exp(-x)/2 - 3*x/(x**2 + 1)**3",
     lambda v: -(v + 1) * math.tanh(v) + math.exp(-v) / 2 - 3 * v / (v * v + 1) ** 3),
    ("relu(pi)*x/7 + exp(1)*x", lambda v: math.pi * v / 7 + math.e * v),
    ("2**x + abs(x)**1.5", lambda v: 2**v + abs(v) ** 1.5),
    ("silu(x - 1)*gelu(x + 1) + softsign(x*x)",
     lambda v: (v - 1) / (1 + math.exp(1 - v)) * (v + 1) * 0.5 * (1 + math.erf((v + 1) / math.sqrt(2)))
     + v * v / (1 + v * v)),
]
XS = [-2.75, -1.5, -0.5, 0.25, 1.0, 1.75, 2.5]


def _expected(ref):
    return [ref(v) for v in XS]


@pytest.mark.parametrize("formula, ref", TRICKY, ids=[t for t, _ in TRICKY])
def test_exported_source_precedence(formula, ref, tmp_path):
    path = tmp_path / "act.py"
    path.write_text(export_source(actsearch.parse(formula)))
    y = load(path, dtype=torch.float64)(torch.tensor(XS, dtype=torch.float64))
    assert y.tolist() == pytest.approx(_expected(ref), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("formula, ref", TRICKY, ids=[t for t, _ in TRICKY])
def test_eager_builder_precedence(formula, ref):
    c = actsearch.parse(formula)
    params = {k: torch.tensor(v, dtype=torch.float64) for k, v in c.params.items()}
    y = build_torch_fn(c.expr)(torch.tensor(XS, dtype=torch.float64), params)
    assert y.tolist() == pytest.approx(_expected(ref), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("formula, ref", TRICKY, ids=[t for t, _ in TRICKY])
def test_triton_precedence(formula, ref):
    _interp()
    m = actsearch.compile(actsearch.parse(formula), backend="triton", check=False)
    with torch.no_grad():
        y = m(torch.tensor(XS, dtype=torch.float32))
    want = _expected(ref)
    assert y.double().tolist() == pytest.approx(want, rel=2e-6, abs=2e-6 * max(abs(w) for w in want))


def test_source_text_of_selects_relations_and_folds():
    x = X
    pw = sympy.Piecewise((x, (x > 0) & (x < 1)), (2 * x, (x <= -1) | (x < -3)), (0, True))
    assert TorchSourcePrinter().doprint(pw) == (
        "torch.where((x > 0) & (x < 1), x, torch.where((x <= -1) | (x < -3), 2*x, torch.full_like(x, 0)))"
    )
    assert TritonPrinter({x: "x"}).doprint(pw) == (
        "tl.where((x > 0.0) & (x < 1.0), x, tl.where((x <= -1.0) | (x < -3.0), 2.0*x, 0.0))"
    )
    m3 = sympy.Max(x, 0, sympy.sin(x))
    assert TorchSourcePrinter().doprint(m3) == "torch.maximum(torch.maximum(torch.full_like(x, 0), x), torch.sin(x))"
    nan = "propagate_nan=tl.PropagateNan.ALL"
    assert TritonPrinter({x: "x"}).doprint(m3) == f"tl.maximum(tl.maximum(0.0, x, {nan}), tl.sin(x), {nan})"
    # the closure builder computes the same select
    xs = torch.tensor([-4.0, -2.0, -0.5, 0.5, 2.0], dtype=torch.float64)
    assert build_torch_fn(pw)(xs, {}).tolist() == [-8.0, -4.0, 0.0, 0.5, 0.0]


def test_unknown_nodes_are_clear_errors():
    with pytest.raises(actsearch.ExpressionError, match="cannot print gamma"):
        TorchSourcePrinter().doprint(sympy.gamma(X))
    with pytest.raises(CompileError, match="cannot print gamma"):
        TritonPrinter({X: "x"}).doprint(sympy.gamma(X))
    with pytest.raises(CompileError, match="unknown symbol 'y'"):
        TritonPrinter({X: "x"}).doprint(X + sympy.Symbol("y"))
    with pytest.raises(actsearch.ExpressionError, match="no torch implementation"):
        build_torch_fn(sympy.gamma(X))


# -- Triton output stays proportional to the expression -------------------------------------

NESTED = "tanh(tanh(tanh(tanh(x)**64)**64)**64)**64"  # 41 characters


def test_nested_powers_generate_small_source_fast():
    """Integer powers used to repeat their base's text: 3.4 MB for three levels of
    this candidate, 220 MB (and 7 GB of memory) for four."""
    for depth in (2, 3, 4):
        text = "x"
        for _ in range(depth):
            text = f"tanh({text})**64"
        source = _codegen.generate_source(actsearch.parse(text))
        assert len(source) < 20_000, (depth, len(source))  # its size, not a clock: no timed unit tests
    assert text == NESTED
    assert _codegen.kernel_size_ok(actsearch.parse(NESTED))


def _reference64(c, x):
    xr = x.double().clone().requires_grad_(True)
    y = c.module(torch.float64)(xr)
    y.sum().backward()
    return y.detach(), xr.grad


def test_nested_powers_kernel_matches_eager():
    _interp()
    # inputs where every level stays away from 0 and 1: tanh(t)**64 is ~1e-3..0.2 there
    for text, xs in ((NESTED, [2.6, 3.0, 3.5, 4.0, -3.2]), ("tanh(tanh(x)**3 + x)**5", [-1.5, -0.3, 0.2, 0.9, 2.0])):
        c = actsearch.parse(text)
        m = actsearch.compile(c, backend="triton")  # checked against the eager module on the way
        x = torch.tensor(xs * 8, dtype=torch.float32, requires_grad=True)
        y = m(x)
        y.sum().backward()
        want_y, want_dx = _reference64(c, x.detach())
        torch.testing.assert_close(y.detach().double(), want_y, rtol=2e-5, atol=1e-30)
        torch.testing.assert_close(x.grad.double(), want_dx, rtol=2e-4, atol=1e-30)


def test_oversized_kernel_is_refused_quickly_with_a_clear_error(monkeypatch):
    monkeypatch.setattr(_codegen, "MAX_SOURCE_CHARS", 2_000)  # relu(x): 960; this one: 2,860
    c = actsearch.parse("(a0 + a1*x + a2*x**2 + a3*x**3)/(1 + abs(b1*x + b2*x**2)); a0=0.1, a1=0.9, a2=0.4, a3=0.05, b1=0.3, b2=0.6")
    t0 = time.perf_counter()
    with pytest.raises(KernelTooLarge) as info:
        _codegen.generate_source(c)
    assert time.perf_counter() - t0 < 5.0
    message = str(info.value)
    assert c.text in message and "2,000 characters" in message
    assert info.value.size > 2_000 and isinstance(info.value, CompileError)
    assert not _codegen.kernel_size_ok(c)
    assert _codegen.kernel_size_ok(actsearch.parse("relu(x)"))


def test_printer_stops_as_soon_as_the_limit_is_passed():
    expr = sympy.Add(*[sympy.tanh(X + k) ** 7 for k in range(2000)])
    printer = TritonPrinter({X: "x"}, max_chars=5_000)
    with pytest.raises(KernelTooLarge):
        printer.doprint(expr)
    # stopped at the limit, not after printing it all (the size, not a clock: no timed unit tests)
    assert printer.size <= 5_000 + 200
