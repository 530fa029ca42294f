"""Conformance checks for what users plug into actsearch (scikit-learn style).

Each raises ``AssertionError`` with a one-line message naming what failed.

Example:
    >>> import actsearch
    >>> from actsearch.testing import check_backend, check_space
    >>> check_backend("eager", candidates=["relu"])
    >>> check_space(actsearch.space("entropy"))
"""

from ._backend import check_backend
from ._optimizer import check_optimizer
from ._space import check_space
from ._task import check_task

__all__ = ["check_backend", "check_optimizer", "check_space", "check_task"]
