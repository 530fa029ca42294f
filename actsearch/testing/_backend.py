"""``check_backend``: does a compile backend keep the contract actsearch's modules keep?

What a search and an export rely on, checked for every preset (or the
candidates given), each on a fresh temporary kernel cache:

1. ``compile_candidate`` builds an ``nn.Module``, a new one (with its own
   parameters) per call: one per layer;
2. its parameters are exactly ``params.<name>`` for the candidate's parameters,
   at the candidate's initial values, on the device asked for;
3. it keeps shape and dtype (float32 and bfloat16, 1-d to 3-d inputs, row-wise
   candidates normalising the last dimension) and gives every parameter a gradient;
4. forward, input gradient and parameter gradients agree with the eager
   reference, judged against float64 (:func:`actsearch.compile._check.check_module`);
5. state dicts interchange with ``candidate.module()`` both ways, and a loaded
   state is what the module computes with.

Example:
    >>> from actsearch.testing import check_backend
    >>> check_backend("eager", candidates=["relu", "crrelu"])
"""

from __future__ import annotations

import tempfile

import torch

import actsearch
from actsearch.compile import _backends, compile_candidate
from actsearch.compile._check import check_module
from actsearch.compile._pipeline import summary
from actsearch.devices import resolve_device
from actsearch.errors import CompileError

from ._common import Checker

__all__ = ["check_backend"]

_SHAPES = ((7,), (3, 5), (2, 3, 33))


def check_backend(backend, *, device=None, candidates=None) -> None:
    """Raise ``AssertionError`` naming the backend, candidate and check that fails.

    Args:
        backend: a registered backend's name or a :class:`actsearch.compile.Backend`.
        device: where to check (default: CUDA when torch sees one, else the CPU).
        candidates: preset names, formulas or candidates (default: every preset).

    Raises:
        AssertionError: a check failed.
        CompileError: unknown backend, or one that does not run on ``device``.
    """
    b = _backends.get_backend(backend)
    dev = resolve_device(device, error=CompileError)
    why = b.available(dev)
    if why:
        raise CompileError(f"backend {b.name!r} cannot be checked on {dev}: {why}")
    refs = sorted(actsearch.presets()) if candidates is None else list(candidates)
    with tempfile.TemporaryDirectory(prefix="actsearch-check-") as cache:
        for ref in refs:
            _check_one(b, _candidate(ref), dev, cache)


def _candidate(ref):
    if isinstance(ref, actsearch.Candidate):
        return ref
    return actsearch.preset(ref) if ref in actsearch.presets() else actsearch.parse(ref)


def _check_one(backend, c, dev, cache) -> None:
    chk = Checker(f"backend {backend.name!r} on {c.text!r}")
    try:
        m = compile_candidate(c, backend=backend, device=dev, check=False, cache_dir=cache)
        other = compile_candidate(c, backend=backend, device=dev, check=False, cache_dir=cache)
    except Exception as exc:  # a backend that cannot build is a failed check, named
        raise AssertionError(f"{chk.where}: does not build: {summary(exc)}") from exc
    chk.expect(isinstance(m, torch.nn.Module), f"built a {type(m).__name__}, not an nn.Module")
    _check_parameters(chk, c, m, other, dev)
    _check_shapes(chk, c, m, dev)
    try:
        check_module(m, c, dev)
    except CompileError as exc:
        chk.expect(False, str(exc))
    _check_state_dicts(chk, c, m, dev)


def _check_parameters(chk, c, m, other, dev) -> None:
    names = sorted(k for k, _ in m.named_parameters())
    chk.expect(names == sorted(f"params.{k}" for k in c.params),
               f"parameters {names}, expected params.<name> for {sorted(c.params)}")
    chk.expect(sorted(m.state_dict()) == sorted(c.module().state_dict()),
               f"state_dict keys {sorted(m.state_dict())} differ from candidate.module()'s")
    params, others = dict(m.named_parameters()), dict(other.named_parameters())
    for k, v in c.params.items():
        p = params[f"params.{k}"]
        chk.expect(p.device.type == dev.type, f"parameter {k} on {p.device}, expected {dev}")
        start = float(p.detach())
        chk.expect(start == float(torch.tensor(v, dtype=torch.float32)), f"parameter {k} starts at {start}, expected {v}")
        chk.expect(p is not others[f"params.{k}"], f"two modules share parameter {k}: layers would be tied")


def _check_shapes(chk, c, m, dev) -> None:
    gen = torch.Generator().manual_seed(0)
    for dtype in (torch.float32, torch.bfloat16):
        for shape in _SHAPES if dtype == torch.float32 else _SHAPES[1:2]:
            x = torch.randn(shape, generator=gen).to(device=dev, dtype=dtype).requires_grad_(True)
            for p in m.parameters():
                p.grad = None
            y = m(x)
            chk.expect(tuple(y.shape) == shape and y.dtype == dtype,
                       f"{dtype} input of shape {shape} gave {y.dtype} of shape {tuple(y.shape)}")
            y.float().sum().backward()
            chk.expect(x.grad is not None and x.grad.shape == x.shape and x.grad.dtype == dtype,
                       f"{dtype} input of shape {shape}: no input gradient of its shape and dtype")
            missing = [k for k, p in m.params.items() if p.grad is None]
            chk.expect(not missing, f"no gradient for parameters {missing}")
    for p in m.parameters():
        p.grad = None


def _check_state_dicts(chk, c, m, dev) -> None:
    if not c.params:
        return
    eager = c.module()
    with torch.no_grad():
        for p in eager.parameters():
            p.mul_(1.1).add_(0.01)  # learned values: near the initial ones, away from them
    m.load_state_dict(eager.state_dict())
    try:
        check_module(m, c, dev)  # compares at the module's values: the loaded ones
    except CompileError as exc:
        chk.expect(False, f"after load_state_dict from candidate.module(): {exc}")
    back = c.module()
    back.load_state_dict(m.state_dict())
    same = all(torch.equal(back.params[k].detach().cpu(), eager.params[k].detach()) for k in c.params)
    chk.expect(same, "candidate.module().load_state_dict(module.state_dict()) does not restore the values")
