"""The eager backend: the reference module, labelled with its backend."""

from __future__ import annotations

from actsearch.symbolic.module import CandidateModule

__all__ = ["EagerActivation"]


class EagerActivation(CandidateModule):
    """``candidate.module()`` under the name of a backend (nothing compiled).

    Example:
        >>> import actsearch
        >>> m = actsearch.compile(actsearch.parse("x*sigmoid(x)"), backend="eager")
        >>> m.extra_repr()
        "'x*sigmoid(x)', backend='eager'"
    """

    backend = "eager"

    def extra_repr(self) -> str:
        return super().extra_repr() + ", backend='eager'"
