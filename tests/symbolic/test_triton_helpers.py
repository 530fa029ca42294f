"""Named Triton helpers: rows declare what their templates call, the printer collects it
transitively, and a row may call another row's helpers (mish as x*tanh(softplus(x)) in
one row, copying nothing)."""

from __future__ import annotations

import re

import pytest
import sympy
import torch
import torch.nn.functional as F

import actsearch
from actsearch.symbolic import functions
from actsearch.symbolic.functions import FunctionSpec
from actsearch.symbolic.helpers import TritonHelper, collect, helper_names


def _defined(source: str) -> list[str]:
    """The helpers a generated module defines, in order."""
    return re.findall(r"^def (_\w+)\(", source, re.MULTILINE)


def _mish_prime(z):
    t = sympy.tanh(functions.softplus(z))
    return t + z * (1 - t**2) * functions.sigmoid(z)


@pytest.fixture
def mish():
    """mish in one row whose template calls tanh's and softplus's helpers."""
    spec = functions.register(FunctionSpec(
        "mish1", lambda z: z * torch.tanh(F.softplus(z)), "({0} * _tanh(_softplus({0})))",
        "({0} * torch.tanh(F.softplus({0})))", triton_needs=("_tanh", "_softplus"), derivative=_mish_prime,
        doc="x * tanh(softplus(x))"))
    yield spec
    functions.unregister("mish1")


def test_a_row_calls_another_rows_helpers_and_the_kernel_holds_each_once(mish, tmp_path, monkeypatch):
    from actsearch.compile._codegen import generate_source

    monkeypatch.setenv("ACTSEARCH_CACHE", str(tmp_path / "kernels"))
    c = actsearch.parse("mish1(x) + a*x; a=0.25")
    source = generate_source(c)
    defined = _defined(source)
    # its own needs, and _log1p because _softplus needs it: each once, a helper after what it calls
    assert sorted(defined) == ["_log1p", "_softplus", "_tanh"]
    assert defined.index("_log1p") < defined.index("_softplus")
    m = actsearch.compile(c, backend="triton")  # compiles, and passes the check against eager on the way
    x = torch.linspace(-6, 6, 301, dtype=torch.float32, requires_grad=True)
    y = m(x)
    y.sum().backward()
    # against torch's own mish, an independent implementation
    xr = x.detach().double().requires_grad_(True)
    want = F.mish(xr) + 0.25 * xr
    want.sum().backward()
    torch.testing.assert_close(y.detach().double(), want.detach(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(x.grad.double(), xr.grad, rtol=1e-4, atol=1e-5)


def test_a_kernel_carries_only_the_helpers_it_calls():
    from actsearch.compile._codegen import generate_source

    assert _defined(generate_source(actsearch.parse("relu(x)"))) == []
    assert _defined(generate_source(actsearch.parse("elu(x)*tanh(x)"))) == ["_expm1", "_tanh"]
    assert _defined(generate_source(actsearch.parse("abs(x)**p; p=1.5"))) == ["_pow", "_sign"]
    assert _defined(generate_source(actsearch.parse("x**1.5"))) == ["_pow", "_pow_c"]  # _pow_c needs _pow


def test_register_refuses_undeclared_and_unknown_helpers():
    with pytest.raises(ValueError, match="calls _tanh without declaring it in triton_needs"):
        functions.register(FunctionSpec("bad1", torch.tanh, "_tanh({0})", "torch.tanh({0})"))
    with pytest.raises(ValueError, match="needs Triton helper '_nowhere', which no row defines"):
        functions.register(FunctionSpec("bad2", torch.tanh, "_nowhere({0})", "torch.tanh({0})",
                                        triton_needs=("_nowhere",)))
    with pytest.raises(ValueError, match="'_tanh', which is already defined"):
        functions.register(FunctionSpec("bad3", torch.tanh, "_tanh({0})", "torch.tanh({0})", triton_needs=("_tanh",),
                                        triton_helpers=(TritonHelper("_tanh", "@triton.jit\ndef _tanh(z):\n"
                                                                                "    return z\n"),)))
    assert "bad1" not in functions.FUNCTIONS and "bad2" not in functions.FUNCTIONS and "bad3" not in functions.FUNCTIONS


def test_helpers_declare_what_they_call():
    with pytest.raises(ValueError, match="calls _expm1 without declaring it in needs"):
        TritonHelper("_h", "@triton.jit\ndef _h(z):\n    return _expm1(z)\n")
    with pytest.raises(ValueError, match="does not define _h2"):
        TritonHelper("_h2", "@triton.jit\ndef _other(z):\n    return z\n")


def test_a_row_with_its_own_helper_that_needs_another_rows(tmp_path, monkeypatch):
    from actsearch.compile._codegen import generate_source

    own = TritonHelper("_mish2", "@triton.jit\ndef _mish2(z):\n    return z * _tanh(_softplus(z))\n",
                       needs=("_tanh", "_softplus"))
    functions.register(FunctionSpec("mish2", lambda z: z * torch.tanh(F.softplus(z)), "_mish2({0})",
                                    "({0} * torch.tanh(F.softplus({0})))", triton_helpers=(own,),
                                    triton_needs=("_mish2",), derivative=_mish_prime,
                                    doc="mish through a helper of its own"))
    try:
        assert "_mish2" in helper_names()
        assert [h.name for h in collect(["_mish2"])] == ["_log1p", "_softplus", "_tanh", "_mish2"]
        assert sorted(_defined(generate_source(actsearch.parse("mish2(x)")))) == ["_log1p", "_mish2", "_softplus",
                                                                                 "_tanh"]
        with pytest.raises(ValueError, match="row 'mish2' still needs its Triton helpers"):
            functions.unregister("tanh")
    finally:
        functions.unregister("mish2")
    assert "_mish2" not in helper_names()
