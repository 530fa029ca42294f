"""Presets against their formulas written out independently in torch float64."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import actsearch
from actsearch import parse, registry
from actsearch.registry import PRESETS
from actsearch.registry import UnknownNameError

EXPECTED = {"relu", "gelu", "silu", "swish", "crrelu", "polyrelu", "polynorm", "rational-gelu", "rational-leaky-relu"}


def _eval(name, z):
    with torch.no_grad():
        return actsearch.preset(name).module(torch.float64)(z)


def _line():
    return torch.linspace(-4, 4, 801, dtype=torch.float64)


def test_every_preset_is_listed_named_and_round_trips():
    assert set(PRESETS) == EXPECTED == set(registry.presets())
    for name in PRESETS:
        c = actsearch.preset(name)
        assert c.name == name
        assert parse(c.text) == c
        assert registry.presets()[name] == PRESETS.load(name).description


def test_presets_function_keeps_its_name_after_a_preset_is_built():
    actsearch.preset("relu")
    assert callable(actsearch.presets) and "crrelu" in actsearch.presets()


def test_unknown_preset_names_the_choices():
    with pytest.raises(UnknownNameError) as info:
        actsearch.preset("relu6")
    assert "relu6" in str(info.value) and "crrelu" in str(info.value)


@pytest.mark.parametrize(
    "name, reference",
    [("relu", torch.relu), ("gelu", F.gelu), ("silu", F.silu), ("swish", lambda z: z * torch.sigmoid(z))],
)
def test_reference_activations(name, reference):
    z = _line()
    torch.testing.assert_close(_eval(name, z), reference(z), rtol=1e-12, atol=1e-12)


def test_swish_is_silu():
    assert actsearch.preset("swish").fingerprint() == actsearch.preset("silu").fingerprint()


def test_crrelu_formula():
    z = _line()
    expected = torch.clamp(z, min=0) + 0.01 * z * torch.exp(-z * z / 2)
    torch.testing.assert_close(_eval("crrelu", z), expected, rtol=0, atol=1e-14)
    c = actsearch.preset("crrelu")
    assert dict(c.params) == {"eps": 0.01} and c.family == "entropy"


def test_polyrelu_formula():
    z = _line()
    r = torch.clamp(z, min=0)
    expected = (r**3 + r**2 + r) / 3  # w = 1/3, b = 0
    torch.testing.assert_close(_eval("polyrelu", z), expected, rtol=1e-12, atol=1e-12)
    c = actsearch.preset("polyrelu")
    assert c.params["b"] == 0.0 and all(c.params[f"w{j}"] == pytest.approx(1 / 3) for j in range(3))


def test_polynorm_normalises_each_row_over_the_feature_dim():
    torch.manual_seed(0)
    z = torch.randn(8, 16, dtype=torch.float64) * torch.linspace(0.1, 5, 8, dtype=torch.float64)[:, None]

    def norm(t):
        return t / torch.sqrt((t * t).mean(dim=-1, keepdim=True) + 1e-6)

    expected = (norm(z**3) + norm(z**2) + norm(z)) / 3
    got = _eval("polynorm", z)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    # row-wise, not elementwise: one element changes its own row only
    bumped = z.clone()
    bumped[2, 5] += 1.0
    delta = (_eval("polynorm", bumped) - got).abs()
    assert (delta[2] > 1e-6).sum() > 8
    assert torch.all(delta[torch.arange(8) != 2] == 0)
    assert not actsearch.preset("polynorm").elementwise


def _rational_a(c, z):
    p = c.params
    P = sum(p[f"a{j}"] * z**j for j in range(6))
    Q = 1 + sum(abs(p[f"b{j}"]) * z.abs() ** j for j in range(1, 5))
    return P / Q


@pytest.mark.parametrize(
    "name, target, bound",
    [("rational-gelu", F.gelu, 1e-2), ("rational-leaky-relu", lambda z: F.leaky_relu(z, 0.01), 5e-2)],
)
def test_rational_presets_are_pau_a_fits(name, target, bound):
    c = actsearch.preset(name)
    assert set(c.params) == {f"a{j}" for j in range(6)} | {f"b{j}" for j in range(1, 5)}
    z = torch.linspace(-3, 3, 3001, dtype=torch.float64)
    got = _eval(name, z)
    torch.testing.assert_close(got, _rational_a(c, z), rtol=1e-12, atol=1e-12)  # the PAU A form
    err = (got - target(z)).abs().max().item()
    assert err < bound
    # a fit, not just a shape: closer (in RMS) than relu itself is to the target
    rms = (got - target(z)).square().mean().sqrt().item()
    assert rms < (torch.relu(z) - target(z)).square().mean().sqrt().item() / 2


def test_rational_gelu_fit_error_is_measured_small():
    z = torch.linspace(-3, 3, 3001, dtype=torch.float64)
    err = (_eval("rational-gelu", z) - F.gelu(z)).abs().max().item()
    rms = (_eval("rational-gelu", z) - F.gelu(z)).square().mean().sqrt().item()
    assert err < 5e-3 and rms < 2e-3


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_presets_run_in_float32_with_gradients(name):
    torch.manual_seed(1)
    m = actsearch.preset(name).module()
    x = torch.randn(8, 16, requires_grad=True)
    y = m(x)
    y.sum().backward()
    assert torch.isfinite(y).all() and torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in m.parameters())


def test_references_are_presets():
    names = [c.name for c in registry.references()]
    assert names == ["relu", "gelu", "silu"]
    assert math.isclose(actsearch.preset("crrelu").params["eps"], 0.01)
