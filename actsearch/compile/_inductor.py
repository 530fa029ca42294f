"""The inductor backend: ``torch.compile`` of the eager formula.

The compiled function takes the input and the parameters as arguments, so one
compilation per candidate serves every module built from it (one per layer).
"""

from __future__ import annotations

import types

import torch

from actsearch.symbolic.module import CandidateModule

from ._torch_caches import use_private_caches

__all__ = ["InductorActivation", "compiled_fn"]

_FNS: dict[str, object] = {}


def _own_code(fn, key: str):
    # Dynamo keeps compiled graphs (and its recompile limit) per code object, and
    # every candidate's evaluator shares one; a renamed copy gives each its own.
    code = fn.__code__.replace(co_name=f"actsearch_{key}")
    return types.FunctionType(code, fn.__globals__, code.co_name, fn.__defaults__, fn.__closure__)


def compiled_fn(candidate):
    """``torch.compile`` of ``candidate.torch_fn()``, memoised per candidate key."""
    fn = _FNS.get(candidate.key)
    if fn is None:
        use_private_caches()  # torch's cache folder, before torch.compile first reads it
        fn = torch.compile(_own_code(candidate.torch_fn(), candidate.key), backend="inductor")
        _FNS[candidate.key] = fn
    return fn


class InductorActivation(CandidateModule):
    """A candidate computed by ``torch.compile`` (inductor) of its eager formula.

    Same parameters as ``candidate.module()`` (``params.<name>``).  Compilation
    happens at the first call with a new input shape or dtype (torch.compile's
    own guards); shapes that keep changing become dynamic after the second.

    Shape: ``(*)`` -> ``(*)``.

    Example:
        >>> import torch, actsearch
        >>> m = actsearch.compile(actsearch.parse("relu(x)**2"), backend="inductor", check=False)
        >>> m.extra_repr()
        "'relu(x)**2', backend='inductor'"
        >>> m(torch.tensor([-1.0, 2.0]))
        tensor([0., 4.])
    """

    backend = "inductor"

    def __init__(self, candidate):
        super().__init__(candidate)
        self._compiled = compiled_fn(candidate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values = {k: p.to(x.dtype) if p.dtype != x.dtype else p for k, p in self.params.items()}
        return self._compiled(x, values)

    def extra_repr(self) -> str:
        return super().extra_repr() + ", backend='inductor'"
