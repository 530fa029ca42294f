"""The function table (actsearch.symbolic.functions): one row per function, read by every consumer.

A throwaway row registered by a fixture must parse, evaluate eagerly, print to a
Triton kernel and to exported source, and join the grammar, with no other file
touched.  Canonical texts, keys and fingerprints of every existing expression
stay what they were before the table.
"""

from __future__ import annotations

import csv
import math
import re
import os
from pathlib import Path

import numpy as np
import pytest
import sympy
import torch

import actsearch
from actsearch.symbolic import functions
from actsearch.symbolic.parser import X
from actsearch.symbolic.torch_eval import build_torch_fn
from actsearch.symbolic.torch_source import TorchSourcePrinter
from actsearch.errors import ExpressionError
from actsearch.results.export import export_source, load
from actsearch.symbolic.functions import FUNCTIONS, FunctionSpec

ROOT = Path(__file__).resolve().parents[2]

# -- canonical text, key and fingerprint are unchanged --------------------------------

# recorded before the function table replaced the per-module copies; the rational
# presets are least-squares fits computed at run time
PRESETS = {
    "crrelu": ("eps*x*exp(-x**2/2) + relu(x); eps=0.01", "5c94c2238170c290"),
    "gelu": ("gelu(x)", "c32b599032176e4c"),
    "polynorm": (
        "b + w0*rmsnorm(x**3) + w1*rmsnorm(x**2) + w2*rmsnorm(x); "
        "b=0.0, w0=0.3333333333333333, w1=0.3333333333333333, w2=0.3333333333333333",
        "3b66fd6bd8acaf1e",
    ),
    "polyrelu": (
        "b + w0*relu(x)**3 + w1*relu(x)**2 + w2*relu(x); "
        "b=0.0, w0=0.3333333333333333, w1=0.3333333333333333, w2=0.3333333333333333",
        "7220c59ee8170954",
    ),
    "rational-gelu": (
        "(a0 + a1*x + a2*x**2 + a3*x**3 + a4*x**4 + a5*x**5)/(x**4*abs(b4) + x**2*abs(b2) + "
        "x**2*abs(b3)*abs(x) + abs(b1)*abs(x) + 1); a0=-0.0012903053, a1=0.50895915, a2=0.41698137, "
        "a3=0.13312084, a4=0.026160546, a5=0.0032162826, b1=0.074152084, b2=0.17615133, b3=0.041546747, "
        "b4=9.8009619e-09",
        "b0c806772686932a",
    ),
    "rational-leaky-relu": (
        "(a0 + a1*x + a2*x**2 + a3*x**3 + a4*x**4 + a5*x**5)/(x**4*abs(b4) + x**2*abs(b2) + "
        "x**2*abs(b3)*abs(x) + abs(b1)*abs(x) + 1); a0=0.029797416, a1=0.61846225, a2=2.3209677, "
        "a3=3.0445984, a4=1.4796285, a5=0.24965829, b1=1.1411728, b2=4.3822688, b3=0.86819481, "
        "b4=0.34529086",
        "fa1bef9f526eae01",
    ),
    "relu": ("relu(x)", "71871f9d4ae9b254"),
    "silu": ("silu(x)", "8c58273a62128a93"),
    "swish": ("silu(x)", "8c58273a62128a93"),
}


def test_act_table_texts_and_fingerprints_are_unchanged():
    """The 904 grammar functions of benchmarks/act_table.csv: their texts were printed
    by the canonical printer before the table, their fingerprints by the evaluator."""
    with open(ROOT / "benchmarks" / "act_table.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 904
    changed = [(r["text"], c.text) for r in rows if (c := actsearch.parse(r["text"])).text != r["text"]]
    assert not changed, changed[:5]
    moved = [r["text"] for r in rows if actsearch.parse(r["text"]).fingerprint() != r["fingerprint"]]
    assert not moved, moved[:5]


def test_presets_texts_keys_and_fingerprints_are_unchanged():
    assert set(actsearch.presets()) == set(PRESETS)
    for name, (text, fingerprint) in PRESETS.items():
        c = actsearch.preset(name)
        assert c.text == text, name
        assert actsearch.parse(text).text == text, name
        assert c.fingerprint() == fingerprint, name


# -- the table's rows -----------------------------------------------------------------


def _call(spec: FunctionSpec) -> sympy.Expr:
    args = (X, 2 * X) if spec.arity == -1 else (X,) * max(spec.arity, 1)
    return spec.sympy_fn(*args)


PUBLIC = [s for s in functions.table() if s.public]


@pytest.mark.parametrize("spec", PUBLIC, ids=lambda s: s.name)
def test_every_name_parses_and_prints_back(spec):
    text = f"{spec.name}(x, 2*x)" if spec.arity == -1 else f"{spec.name}(x)"
    c = actsearch.parse(text)
    assert actsearch.parse(c.text) == c
    for alias in spec.aliases:
        assert actsearch.parse(text.replace(spec.name, alias, 1)).text == c.text
    if spec.node is not None:  # printed from the row, not from a per-function method
        assert spec.name in c.text
        source = TorchSourcePrinter().doprint(_call(spec))
        assert source.startswith(spec.source.split("{")[0].rstrip("("))


def test_private_rows_are_printable_but_not_parseable():
    for spec in functions.table():
        if not spec.public:
            assert spec.name not in FUNCTIONS
            with pytest.raises(ExpressionError, match="unknown function"):
                actsearch.parse(f"{spec.name}(x)")
    # and a parameter may take their names
    assert actsearch.parse("sign*x; sign=2").params == {"sign": 2.0}


_POINTS = [-2.5, -1.3, -0.4, 0.35, 1.1, 2.7]  # away from the kinks at 0


@pytest.mark.parametrize("spec", [s for s in functions.table() if s.derivative], ids=lambda s: s.name)
def test_row_derivatives_match_finite_differences(spec):
    z = torch.tensor([abs(p) for p in _POINTS] if spec.partial else _POINTS, dtype=torch.float64)  # log, sqrt: > 0
    h = 1e-6
    numeric = (spec.torch_fn(z + h) - spec.torch_fn(z - h)) / (2 * h)
    symbolic = build_torch_fn(sympy.diff(spec.sympy_fn(X), X))(z, {})
    torch.testing.assert_close(symbolic, numeric, rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("spec", [s for s in functions.table() if s.numpy], ids=lambda s: s.name)
def test_row_numpy_forms_match_torch(spec):
    z = np.linspace(-4.0, 4.0, 81)
    want = spec.torch_fn(torch.from_numpy(z)).numpy()
    np.testing.assert_allclose(spec.numpy(z), want, rtol=1e-12, atol=1e-14)


def test_fit_targets_come_from_the_table():
    from actsearch.search_spaces import _fit

    assert list(_fit.TARGETS) == ["leaky_relu", "relu", "gelu", "swish", "tanh", "sigmoid", "identity"]
    z = torch.linspace(-3, 3, 13, dtype=torch.float64)
    for name in _fit.TARGETS:
        np.testing.assert_allclose(_fit.target_numpy(name, z.numpy()), _fit.target_torch(name, z).numpy(),
                                   rtol=1e-12, atol=1e-14)


def test_register_refuses_a_taken_name():
    with pytest.raises(ValueError, match="already"):
        functions.register(FunctionSpec("relu", torch.relu, "x", "x"))
    with pytest.raises(ValueError, match="already"):
        functions.register(FunctionSpec("swish", torch.relu, "x", "x"))
    with pytest.raises(KeyError):
        functions.unregister("no_such_function")


# -- a new function is one row -----------------------------------------------------------


def _bent(v: float) -> float:
    return (math.sqrt(v * v + 1.0) - 1.0) / 2.0 + v


def _bent_prime(v: float) -> float:
    return v / (2.0 * math.sqrt(v * v + 1.0)) + 1.0


@pytest.fixture
def bent():
    """The bent identity, registered for one test and removed afterwards."""
    spec = functions.register(
        FunctionSpec(
            "bent",
            lambda z: (torch.sqrt(z * z + 1) - 1) / 2 + z,
            triton="((tl.sqrt({0} * {0} + 1.0) - 1.0) * 0.5 + {0})",
            source="((torch.sqrt({0} * {0} + 1) - 1) / 2 + {0})",
            value=lambda z: (sympy.sqrt(z**2 + 1) - 1) / 2 + z,
            derivative=lambda z: z / (2 * sympy.sqrt(z**2 + 1)) + 1,
            grammar="bent",
            doc="bent identity",
        )
    )
    yield spec
    functions.unregister("bent")


# a compound argument, used three times by both templates: printed through a temporary
BENT = "a*bent(x - c) + x; a=0.5, c=0.25"
_XS = [-3.0, -1.2, -0.3, 0.0, 0.4, 1.7, 2.9]


def _bent_reference(xs, a=0.5, c=0.25):
    """f, df/dx, df/da, df/dc of BENT, written out."""
    y = [a * _bent(v - c) + v for v in xs]
    dx = [a * _bent_prime(v - c) + 1.0 for v in xs]
    da = [_bent(v - c) for v in xs]
    dc = [-a * _bent_prime(v - c) for v in xs]
    return y, dx, da, dc


def _forward_backward(module, xs, dtype):
    x = torch.tensor(xs, dtype=dtype, requires_grad=True)
    y = module(x)
    y.sum().backward()
    return y.detach().double().tolist(), x.grad.double().tolist(), {k: float(p.grad) for k, p in module.params.items()}


def test_new_row_parses_and_evaluates_eagerly(bent):
    c = actsearch.parse(BENT)
    assert "bent(" in c.text and actsearch.parse(c.text) == c
    assert c.fingerprint() == actsearch.parse("x + a*bent(x - c); c=0.25, a=0.5").fingerprint()
    y, dx, grads = _forward_backward(c.module(torch.float64), _XS, torch.float64)
    ry, rdx, rda, rdc = _bent_reference(_XS)
    assert y == pytest.approx(ry, rel=1e-12, abs=1e-14)
    assert dx == pytest.approx(rdx, rel=1e-12, abs=1e-14)
    assert grads["a"] == pytest.approx(sum(rda), rel=1e-12)
    assert grads["c"] == pytest.approx(sum(rdc), rel=1e-12)
    # the row's derivative is the node's fdiff
    assert build_torch_fn(sympy.diff(c.expr, X).subs({s: v for s, v in zip(c.param_symbols.values(), (0.5, 0.25))}))(
        torch.tensor(_XS, dtype=torch.float64), {}
    ).tolist() == pytest.approx(rdx, rel=1e-12)


def test_new_row_joins_the_grammar(bent):
    from actsearch.search_spaces.grammar import UNARY

    assert list(UNARY)[-1] == "bent"
    space = actsearch.space("grammar", unary="identity,bent", binary="add,mul", shapes=1)
    texts = [cand.text for cand in space.enumerate()]
    assert "x*bent(x)" in texts and "x + bent(x)" in texts
    assert space.tree(actsearch.parse("x*bent(x)", family="grammar")) == ("b", "mul", ("u", "identity", "x"), ("u", "bent", "x"))


def test_new_row_prints_to_export_source(bent, tmp_path):
    c = actsearch.parse(BENT)
    text = export_source(c)
    assert "_t0 = " in text and "torch.sqrt(_t0 * _t0 + 1)" in text  # the argument printed once
    path = tmp_path / "bent_act.py"
    path.write_text(text)
    act = load(path, dtype=torch.float64)
    y, dx, grads = _forward_backward(act, _XS, torch.float64)
    ry, rdx, rda, rdc = _bent_reference(_XS)
    assert y == pytest.approx(ry, rel=1e-12, abs=1e-14)
    assert dx == pytest.approx(rdx, rel=1e-12, abs=1e-14)
    assert grads["a"] == pytest.approx(sum(rda), rel=1e-12) and grads["c"] == pytest.approx(sum(rdc), rel=1e-12)


def test_new_row_prints_to_triton(bent, tmp_path, monkeypatch):
    from actsearch.compile._codegen import generate_source

    if os.environ.get("TRITON_INTERPRET") != "1" and not torch.cuda.is_available():
        pytest.skip("needs a GPU or TRITON_INTERPRET=1 (set in conftest.py)")
    monkeypatch.setenv("ACTSEARCH_CACHE", str(tmp_path / "kernels"))
    c = actsearch.parse(BENT)
    source = generate_source(c)
    assert "bent" not in source  # no user text, only the row's template
    assert re.search(r"tl\.sqrt\((_\w+) \* \1 \+ 1\.0\)", source)  # x - c through a name, not three copies
    m = actsearch.compile(c, backend="triton")  # checked against the eager module on the way
    assert m.backend == "triton"
    xs = _XS * 40
    y, dx, grads = _forward_backward(m, xs, torch.float32)
    ry, rdx, rda, rdc = _bent_reference(xs)
    assert y == pytest.approx(ry, rel=1e-5, abs=1e-6)
    assert dx == pytest.approx(rdx, rel=1e-5, abs=1e-6)
    assert grads["a"] == pytest.approx(sum(rda), rel=1e-5) and grads["c"] == pytest.approx(sum(rdc), rel=1e-5)


def test_removed_row_is_gone_everywhere():
    from actsearch.search_spaces.grammar import UNARY

    # (runs after the fixture's teardown in the tests above)
    assert "bent" not in FUNCTIONS and "bent" not in UNARY
    with pytest.raises(ExpressionError, match="unknown function 'bent'"):
        actsearch.parse("bent(x)")
