"""Conformance checks for what users plug into actsearch (scikit-learn style).

Example:
    >>> from actsearch.testing import check_backend
    >>> check_backend("eager")  # raises AssertionError naming the failed check, if any
"""

from ._backend import check_backend

__all__ = ["check_backend"]
