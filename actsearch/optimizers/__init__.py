"""Ask/tell optimisers over search spaces (registered in :mod:`actsearch.optimizers.registry`)."""

from actsearch._exports import lazy_exports

__all__ = ["Optimizer"]

__getattr__, __dir__ = lazy_exports(__name__, {".base": ("Optimizer",)})
