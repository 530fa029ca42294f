"""The eager ``nn.Module`` of a candidate: :class:`CandidateModule`.

``Candidate.module()`` builds one; it is the numerical reference every compiled
kernel is checked against, and the base class of the compiled modules.  This
module needs only torch and a candidate's ``params`` and ``torch_fn()``: the
symbolic core (:mod:`actsearch.symbolic.expr`) sits above it, nothing else.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["CandidateModule"]


class CandidateModule(nn.Module):
    """Eager PyTorch module computing a candidate, parameters as ``nn.Parameter``.

    Shape: any ``(*, F)`` input; output has the same shape.  Elementwise candidates
    act on each element; row-wise ones (``rmsnorm``) normalise over the last dim.

    Example:
        >>> import torch, actsearch
        >>> m = actsearch.parse("a*x + relu(x); a=0.1").module()
        >>> m(torch.ones(2, 3)).shape
        torch.Size([2, 3])
    """

    def __init__(self, candidate, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.candidate = candidate
        self.params = nn.ParameterDict(
            {k: nn.Parameter(torch.tensor(v, dtype=dtype)) for k, v in candidate.params.items()}
        )
        self._fn = candidate.torch_fn()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values = {k: p.to(x.dtype) if p.dtype != x.dtype else p for k, p in self.params.items()}
        return self._fn(x, values)

    def extra_repr(self) -> str:
        values = ", ".join(f"{k}={p.detach().item():.4g}" for k, p in self.params.items())
        formula = self.candidate.text.split(";")[0]
        return f"{formula!r}" + (f", {values}" if values else "")
