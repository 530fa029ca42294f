"""Canonical forms equal the written function on every real input (NaN where it is NaN).

The written text is evaluated here by an evaluator of its own (Python's ``ast`` over the
formula, torch float64 functions named in this file: neither our parser, sympy nor the
function table), and compared with the canonical candidate's eager module, at negative
points, zero and positive ones."""

from __future__ import annotations

import ast
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import actsearch
from actsearch.errors import ExpressionError

POINTS = torch.tensor([-3.0, -2.0, -1.5, -1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0], dtype=torch.float64)

#: the functions the written text may call, as this test evaluates them
TORCH = {
    "tanh": torch.tanh, "sin": torch.sin, "cos": torch.cos, "abs": torch.abs, "exp": torch.exp,
    "log": torch.log, "sqrt": torch.sqrt, "sigmoid": torch.sigmoid, "arctan": torch.atan,
    "relu": lambda z: torch.where(z < 0, torch.zeros_like(z), z), "softsign": F.softsign,
}


def written(text: str, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The written formula at ``x``, operation by operation as it reads; and where a
    value on the way was infinite (a division by zero, log(0): the function is undefined
    there, and what comes out depends on signed zeros and on how torch evaluates
    pow(-inf, 0.5))."""
    through_inf = torch.zeros_like(x, dtype=torch.bool)

    def ev(node):
        nonlocal through_inf
        out = value(node)
        through_inf = through_inf | torch.isinf(out)
        return out

    def value(node):
        if isinstance(node, ast.Constant):
            return torch.full_like(x, float(node.value))
        if isinstance(node, ast.Name):
            return x if node.id == "x" else torch.full_like(x, math.pi)
        if isinstance(node, ast.UnaryOp):
            v = ev(node.operand)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.BinOp):
            a, b = ev(node.left), ev(node.right)
            op = type(node.op)
            return {ast.Add: torch.add, ast.Sub: torch.sub, ast.Mult: torch.mul, ast.Div: torch.div,
                    ast.Pow: torch.pow}[op](a, b)
        if isinstance(node, ast.Call):
            return TORCH[node.func.id](*[ev(a) for a in node.args])
        raise AssertionError(f"unexpected {ast.dump(node)}")

    out = value(ast.parse(text, mode="eval").body)  # the result itself may be infinite
    return out, through_inf


def canonical(text: str, x: torch.Tensor) -> torch.Tensor:
    c = actsearch.parse(text)
    with torch.no_grad():
        return torch.broadcast_to(c.module(torch.float64)(x), x.shape)


def assert_same_function(text: str) -> None:
    """Equal where the written formula has a real value, NaN where it is NaN, not finite where
    it is infinite; where a value on the way was infinite, only NaN is compared (the sign of
    an infinity from a signed zero, and torch's pow(-inf, 0.5) against sqrt(-inf), are
    float artefacts at points where the function is undefined, not the function)."""
    (want, through_inf), got = written(text, POINTS), canonical(text, POINTS)
    shown = f"{text!r} -> {actsearch.parse(text).text!r}"
    keep = ~through_inf | torch.isnan(want)  # NaN stays NaN whatever came before it
    want, got = want[keep], got[keep]
    nan, inf = torch.isnan(want), torch.isinf(want)
    at = POINTS[keep]
    assert torch.equal(nan, torch.isnan(got) & ~inf), \
        f"{shown}: NaN at {at[nan].tolist()} written, at {at[torch.isnan(got)].tolist()} canonical"
    assert not torch.isfinite(got[inf]).any(), f"{shown}: finite where the written formula is infinite"
    real = torch.isfinite(want)
    torch.testing.assert_close(got[real], want[real], rtol=1e-9, atol=1e-9, msg=lambda m: f"{shown}: {m}")


# -- the issue's formulas, and their relatives ------------------------------------------------

SAME = [
    "exp(log(x))", "sqrt(x)**2", "sqrt(x)*sqrt(x)", "sqrt(-x)**2", "x**0.5*x**0.5", "(x**0.5)**2",
    "(x**(1/3))**3", "exp(2*log(x))", "log(exp(x))", "sqrt(x**2)", "abs(x)**2", "x**1.5/x**0.5 + x",
    "exp(x)**0.5", "(x**2)**0.5", "x**x*x**x", "sqrt(x)**0 + x", "x*(1 + x**2)/(1 + x**2)", "1/x/x",
]


@pytest.mark.parametrize("text", SAME)
def test_canonical_form_equals_the_written_function(text):
    assert_same_function(text)


@pytest.mark.parametrize("text", ["exp(log(x))", "sqrt(x)**2", "sqrt(x)*sqrt(x)", "sqrt(-x)**2"])
def test_the_issues_formulas_are_not_x(text):
    assert actsearch.parse(text).fingerprint() != actsearch.parse("-x" if "-x" in text else "x").fingerprint()


@pytest.mark.parametrize("text, cancelled", [
    ("x + log(x) - log(x)", "log(x)"),
    ("0*sqrt(x) + x", "sqrt(x)"),
    ("x**2/x", "a division by x"),
    ("x*tanh(x)/x", "a division by x"),
    ("x/(x*x)", "a division by x"),
    ("x**0.5/x**0.5 + x", "a division by x**0.5"),
])
def test_a_simplification_that_changes_the_function_is_refused_in_one_line(text, cancelled):
    with pytest.raises(ExpressionError) as info:
        actsearch.parse(text)
    message = str(info.value)
    assert f"simplifying cancels {cancelled}" in message and "\n" not in message


# -- random formulas ----------------------------------------------------------------------

_UNARY = ("tanh", "sin", "cos", "abs", "relu", "sigmoid", "arctan", "softsign", "log", "sqrt")
_BOUNDED = ("tanh", "sin", "log")  # exp only of these, or of -abs(...): no overflow in float64
_EXPONENTS = ("2", "3", "-1", "0.5", "1.5", "(1/3)", "-0.5", "0", "x")
_NUMBERS = ("0", "0.5", "1", "2", "3", "1.5")


def _formulas():
    leaves = st.one_of(st.sampled_from(["x", "-x", "2*x", "0.5*x"]), st.sampled_from(_NUMBERS))  # x half the time

    def extend(inner):
        return st.one_of(
            st.tuples(st.sampled_from(_UNARY), inner).map(lambda t: f"{t[0]}({t[1]})"),
            st.tuples(st.sampled_from(_BOUNDED), inner).map(lambda t: f"exp({t[0]}({t[1]}))"),
            inner.map(lambda a: f"exp(-abs({a}))"),
            st.tuples(inner, st.sampled_from(("+", "-", "*", "/")), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            st.tuples(inner, st.sampled_from(_EXPONENTS)).map(lambda t: f"({t[0]})**{t[1]}"),
        )

    return st.recursive(leaves, extend, max_leaves=6)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_formulas())
def test_random_formulas_keep_their_function_or_are_refused(text):
    try:
        actsearch.parse(text)
    except ExpressionError as exc:  # refused: reported in one line, never changed silently
        assert "\n" not in str(exc)
        return
    assert_same_function(text)
