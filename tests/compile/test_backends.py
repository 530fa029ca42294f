"""Compile backends as an extension point: every registered backend passes the
conformance check users can run on their own (actsearch.testing.check_backend),
and the check catches backends that break the contract."""

from __future__ import annotations

import importlib

import pytest
import torch

import actsearch
from actsearch.compile import Backend, register_backend, unregister_backend
from actsearch.compile._backends import backend_names
from actsearch.errors import CompileError
from actsearch.testing import check_backend

compile_pkg = importlib.import_module("actsearch.compile")  # the function shadows the name


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("ACTSEARCH_CACHE", str(tmp_path / "kernels"))


#: torch.compile on 2 cores costs ~6 s per preset, cold (each new shape and dtype compiles):
#: inductor is checked on one elementwise, one rational and one row-wise preset
_SUBSET = {"inductor": ["crrelu", "rational-gelu", "polynorm"]}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "inductor" else n  # torch.compile
                                  for n in backend_names() if n != "auto"])
def test_every_registered_backend_conforms(name):
    # triton runs through Triton's interpreter here (tests/conftest.py), on CUDA where there is one
    check_backend(name, candidates=_SUBSET.get(name))


class _Broken(Backend):
    """The eager module with one flaw, chosen by ``flaw``."""

    def __init__(self, flaw: str):
        self.name = f"broken-{flaw}"
        self.flaw = flaw
        self._shared = None

    def build(self, candidate, loaded, device):
        m = candidate.module()
        if self.flaw == "renamed":
            m.register_parameter("extra", torch.nn.Parameter(torch.zeros(())))
        elif self.flaw == "wrong":
            fn = m._fn
            m._fn = lambda x, values: 1.001 * fn(x, values)
        elif self.flaw == "shared":
            self._shared = self._shared or m
            return self._shared
        elif self.flaw == "detached":
            fn = m._fn
            m._fn = lambda x, values: fn(x, {k: v.detach() for k, v in values.items()})
        elif self.flaw == "float32-out":
            fn = m._fn
            m._fn = lambda x, values: fn(x.float(), {k: v.float() for k, v in values.items()})
        elif self.flaw == "ignores-loaded-values":  # gradients flow, but the values are the initial ones
            fn, init = m._fn, {k: p.detach().clone() for k, p in m.params.items()}
            m._fn = lambda x, values: fn(x, {k: v + (init[k] - v.detach()) for k, v in values.items()})
        return m


@pytest.mark.parametrize("flaw, message", [
    ("renamed", r"parameters \['extra', 'params.eps'\], expected params.<name>"),
    ("wrong", "disagrees with the eager reference"),
    ("shared", "two modules share parameter eps"),
    ("detached", "no gradient for parameters"),
    ("float32-out", "torch.bfloat16 input of shape .* gave torch.float32"),
    ("ignores-loaded-values", "after load_state_dict from candidate.module"),
])
def test_check_backend_catches_a_broken_backend(flaw, message):
    with pytest.raises(AssertionError, match=message) as info:
        check_backend(_Broken(flaw), candidates=["crrelu"], device="cpu")
    assert f"backend 'broken-{flaw}' on " in str(info.value) and "\n" not in str(info.value)


def test_register_a_backend_by_name():
    class Plain(Backend):
        name = "plain-for-test"

        def build(self, candidate, loaded, device):
            return candidate.module()

    register_backend(Plain())
    try:
        assert "plain-for-test" in compile_pkg.BACKENDS  # the live list the CLI validates against
        m = actsearch.compile(actsearch.parse("x*tanh(x)"), backend="plain-for-test", device="cpu")
        assert sorted(m.state_dict()) == []
        with pytest.raises(CompileError, match="already registered"):
            register_backend(Plain())
        check_backend("plain-for-test", candidates=["silu", "polyrelu"], device="cpu")
    finally:
        unregister_backend("plain-for-test")
    assert "plain-for-test" not in compile_pkg.BACKENDS
    with pytest.raises(CompileError, match="unknown backend 'plain-for-test'"):
        actsearch.compile(actsearch.parse("x"), backend="plain-for-test")


def test_bad_registrations_are_one_line_errors():
    with pytest.raises(CompileError, match="Backend instance"):
        register_backend(object())
    with pytest.raises(CompileError, match="other than 'auto'"):
        register_backend(type("Auto", (Backend,), {"name": "auto"})())
    with pytest.raises(CompileError, match="built in"):
        unregister_backend("eager")


def test_unavailable_backend_is_refused_with_its_reason():
    class Nowhere(Backend):
        name = "nowhere"

        def available(self, device):
            return "needs hardware this machine lacks"

        def build(self, candidate, loaded, device):  # pragma: no cover - never reached
            raise AssertionError

    with pytest.raises(CompileError, match="needs hardware this machine lacks"):
        actsearch.compile(actsearch.parse("relu(x)"), backend=Nowhere())
    with pytest.raises(CompileError, match="cannot be checked on cpu: needs hardware"):
        check_backend(Nowhere(), device="cpu")
