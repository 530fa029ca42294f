"""The cost of a formula: weighted operation counts against counts written out by hand."""

from __future__ import annotations

import math

import pytest
import sympy

import actsearch
from actsearch.registry import preset
from actsearch.symbolic.cost import DIVISION, REAL_POWER, TRANSCENDENTAL, formula_cost
from actsearch.symbolic.dag import nodes


def cost(text: str) -> int:
    return formula_cost(actsearch.parse(text).expr)


# each count written out: (formula, its operations, the total)
HAND_COUNTS = [
    ("x", "nothing", 0),
    ("relu(x)", "relu", 1),
    ("-x", "negation", 1),
    ("x - 1", "subtraction", 1),
    ("x - tanh(x)", "tanh 8 + subtraction 1", 9),
    ("x*sigmoid(x)", "sigmoid 8 + multiply 1", 9),
    ("x**2*tanh(x)", "square 1 + tanh 8 + multiply 1", 10),
    ("x**5", "x2 = x*x, x4 = x2*x2, x4*x: 3", 3),
    ("x**8", "three squarings", 3),
    ("x**-2", "square 1 + division 4", 1 + DIVISION),
    ("2/x", "one division (the 2 folded in)", DIVISION),
    ("x/(1 + abs(x))", "abs 1 + add 1 + division 4", 6),
    ("x/(x**2 + 1)", "square 1 + add 1 + division 4", 6),
    ("max(x, 0) + min(x, 1)", "max 1 + min 1 + add 1", 3),
    ("x**a; a=1.5", "exp(a*log(x))", REAL_POWER),
    ("abs(x)**1.5", "abs 1 + exp(1.5*log(|x|))", 1 + REAL_POWER),
    ("gelu(x) + sin(x)*exp(x)", "gelu 12 + sin 8 + exp 8 + multiply 1 + add 1", 30),
    ("eps*x*exp(-x**2/2) + relu(x); eps=0.01",
     "square 1, times -1/2 1, exp 8, eps*x*e 2, relu 1, add 1", 14),
]


@pytest.mark.parametrize("text,why,expected", HAND_COUNTS, ids=[t for t, _, _ in HAND_COUNTS])
def test_cost_matches_the_count_written_out(text, why, expected):
    assert cost(text) == expected, why


def test_a_shared_sub_expression_is_counted_once():
    once = cost("tanh(x)")
    # tanh(x) three times, but computed once: 8 + square 1 + two adds
    assert cost("tanh(x)**2 + tanh(x) + sin(tanh(x))") == once + 1 + TRANSCENDENTAL + 2
    # the same tree written twice inside a larger one costs what one copy costs, plus the join
    inner = "exp(sin(x)*x**3)"
    assert cost(f"tanh({inner}) + {inner}*sin(x)") == cost(inner) + TRANSCENDENTAL + 2
    # against the tree count, which grows with every copy
    tree = sum(1 for _ in sympy.preorder_traversal(actsearch.parse(f"{inner} + tanh({inner})").expr))
    assert len(nodes(actsearch.parse(f"{inner} + tanh({inner})").expr)) < tree


def test_deep_nesting_is_linear():
    # within the parser's depth limit (60): each level a cube (2), a multiply, an add and a tanh
    text = "x"
    for _ in range(15):
        text = f"tanh(2*({text})**3 + x)"
    assert cost(text) == 15 * (2 + 1 + 1 + TRANSCENDENTAL)


@pytest.mark.parametrize("name", ["rational-gelu", "rational-leaky-relu", "polyrelu", "polynorm", "crrelu"])
def test_presets_give_finite_counts_above_the_simple_activations(name):
    value = formula_cost(preset(name).expr)
    assert isinstance(value, int) and math.isfinite(value)
    assert formula_cost(preset("relu").expr) < value < 200


def test_counts_order_the_families_sensibly():
    relu, silu, gelu = (formula_cost(preset(n).expr) for n in ("relu", "silu", "gelu"))
    assert relu < silu < gelu
    # a 5/4 rational does more work than a cubic polynomial of relu
    assert formula_cost(preset("rational-gelu").expr) > formula_cost(preset("polyrelu").expr)


@pytest.mark.parametrize("space", ["rational", "polynomial", "entropy", "grammar"])
def test_every_family_samples_have_finite_positive_costs(space):
    import numpy as np

    s = actsearch.space(space)
    rng = np.random.default_rng(0)
    values = [formula_cost(s.sample(rng).expr) for _ in range(20)]
    assert all(isinstance(v, int) and 0 < v < 500 for v in values)


def test_a_whole_power_written_as_a_float_costs_as_a_whole_power():
    from actsearch.symbolic.cost import formula_cost
    from actsearch.symbolic.expr import parse

    assert formula_cost(parse("x**2.0").expr) == formula_cost(parse("x**2").expr) == 1  # one multiplication
