"""Search spaces, one module per family (installed as ``actsearch.search_spaces``)."""

from .base import SearchSpace

__all__ = ["SearchSpace"]
