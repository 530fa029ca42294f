"""Ask/tell optimisers over search spaces."""

from .base import Optimizer

__all__ = ["Optimizer"]
