"""Kernel generation grows linearly with the formula and stops at its bounds.

Derivatives are reverse mode over the formula's DAG (``compile/_straight.py``), so the
nested formulas that took 94 s at six levels (sympy ``diff`` then ``cse``) and the
forty-level one that raised ``RecursionError`` generate small kernels that match the
eager reference; past a bound, the candidate fails in one line naming it.  Times are
measured in ``benchmarks/kernel_generation.py`` (figures in ``benchmarks/NOTES.md``)."""

from __future__ import annotations

import importlib
import random
import sys
from pathlib import Path

import pytest
import sympy
import torch

import actsearch
from actsearch.compile import _codegen, _straight
from actsearch.compile._straight import GenerationLimit, Program
from actsearch.errors import CompileError
from actsearch.symbolic.parser import X, param_symbol

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from kernel_generation import formula  # noqa: E402  (the benchmark's formulas, not a copy)

compile_pkg = importlib.import_module("actsearch.compile")


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("ACTSEARCH_CACHE", str(tmp_path / "kernels"))
    compile_pkg.clear_memo()


@pytest.fixture
def interp():
    from actsearch.compile._triton import interpreting

    if not interpreting() and not torch.cuda.is_available():
        pytest.skip("triton was imported before TRITON_INTERPRET=1 was set (set it in conftest.py)")


# -- the straight-line program against sympy's own derivative ------------------------------


def _run(program: Program, atom, point: dict) -> float:
    """The value of ``atom`` after running ``program``'s assignments at ``point``."""
    values = dict(point)
    for temp, local in program.assignments:
        values[temp] = local.xreplace(values).evalf(30)
    return float(sympy.sympify(atom).xreplace(values).evalf(30))


A, B = param_symbol("a"), param_symbol("b")
EXPRESSIONS = [
    sympy.tanh(A * X**3 + sympy.tanh(B * X**3 + X) ** 3) ** 3,
    X * sympy.exp(-X**2 / 2) * sympy.sin(A * X) * sympy.cos(B + X) * sympy.atan(X),  # a long product
    (A + X) / (1 + sympy.Abs(B * X)) ** 2 + sympy.Max(X, A * X),
    sympy.log(1 + X**2) ** A + sympy.sqrt(2 + sympy.sin(X)),
]


@pytest.mark.parametrize("expr", EXPRESSIONS, ids=range(len(EXPRESSIONS)))
def test_reverse_mode_matches_sympy_diff(expr):
    rng = random.Random(3)
    program = Program("_t")
    value, grads = program.gradient(expr, [X, A, B])
    for _ in range(3):
        point = {X: rng.uniform(-2, 2), A: rng.uniform(0.3, 1.5), B: rng.uniform(0.3, 1.5)}
        want = float(expr.xreplace(point).evalf(30))
        assert _run(program, value, point) == pytest.approx(want, rel=1e-12)
        for w, atom in zip((X, A, B), grads):
            exact = float(sympy.diff(expr, w).xreplace(point).evalf(30))
            assert _run(program, atom, point) == pytest.approx(exact, rel=1e-10, abs=1e-12), w


def test_shared_nodes_are_computed_once():
    inner = sympy.tanh(X) ** 3
    program = Program("_t")
    program.value(sympy.sin(inner) + sympy.cos(inner) + inner)
    assert sum(1 for _, local in program.assignments if isinstance(local, sympy.tanh)) == 1


# -- linear growth, deep nesting -----------------------------------------------------------


def test_source_grows_linearly_with_nesting():
    sizes = {n: len(_codegen.generate_source(actsearch.parse(formula("cube", n)))) for n in (4, 8, 16, 32)}
    steps = [(sizes[2 * n] - sizes[n]) / n for n in (4, 8, 16)]
    # the characters each level adds stay the same (sympy diff + cse: exponential in n)
    assert max(steps) < 1.3 * min(steps), sizes


def test_nesting_the_issue_gave_compiles_and_matches_eager(interp):
    for family, n in (("cube", 8), ("linear", 40), ("linear", 60)):  # 60: the parser's deepest
        c = actsearch.parse(formula(family, n))
        m = actsearch.compile(c, backend="triton")  # checked against the eager module on the way
        assert m.backend == "triton"
        x = torch.linspace(-2, 2, 301, dtype=torch.float32, requires_grad=True)
        y = m(x)
        y.sum().backward()
        xr = x.detach().double().requires_grad_(True)
        want = c.module(torch.float64)(xr)
        want.sum().backward()
        torch.testing.assert_close(y.detach().double(), want.detach(), rtol=2e-5, atol=1e-6)
        torch.testing.assert_close(x.grad.double(), xr.grad, rtol=2e-4, atol=1e-5)


# -- the bounds: one line naming the candidate and the bound --------------------------------


def test_too_many_nodes_is_one_line_naming_the_candidate(monkeypatch):
    monkeypatch.setattr(_straight, "MAX_NODES", 30)
    c = actsearch.parse(formula("cube", 8))
    with pytest.raises(GenerationLimit) as info:
        _codegen.generate_source(c)
    message = str(info.value)
    assert c.text in message and "more than 30 distinct sub-expressions" in message and "\n" not in message
    assert isinstance(info.value, CompileError)


def test_generation_past_its_time_is_stopped(monkeypatch):
    monkeypatch.setattr(_straight, "GENERATION_SECONDS", 0.0)
    with pytest.raises(GenerationLimit, match="generation took more than 0 s"):
        _codegen.generate_source(actsearch.parse("tanh(x)*x"))


def test_a_candidate_over_the_bound_is_a_failed_trial_with_the_reason(monkeypatch, interp):
    from actsearch.search.trial.evaluate import evaluate
    from actsearch.search.trial.messages import TrialSpec

    monkeypatch.setattr(_straight, "MAX_NODES", 30)
    text = actsearch.parse(formula("cube", 8)).text
    result = evaluate(TrialSpec(text=text, task="digits", epochs=1, backend="triton", device="cpu"))
    assert result.status == "error"
    assert "more than 30 distinct sub-expressions" in result.message and "\n" not in result.message
    assert result.curves == [] and result.train_time == 0.0  # failed at compile, before any training
