"""Replace every activation module of one type in a model with a new one.

Example:
    >>> import torch
    >>> from torch import nn
    >>> import actsearch
    >>> from actsearch.swap import swap_activations
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU())
    >>> swap_activations(model, nn.ReLU, actsearch.parse("x*sigmoid(a*x); a=1.5").module)
    2
    >>> model(torch.randn(3, 4)).shape
    torch.Size([3, 8])
"""

from __future__ import annotations

import inspect
from typing import Callable

from torch import nn

from .errors import ActsearchError

__all__ = ["swap_activations"]


def _factory_arity(factory: Callable) -> int:
    """How many positional arguments ``factory`` takes (0 or 1: the layer index)."""
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):  # builtins without a signature: call with none
        return 0
    positional = [
        p
        for p in sig.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    return 1 if positional else 0


def swap_activations(
    model: nn.Module,
    old: "type[nn.Module] | tuple[type[nn.Module], ...]",
    factory: Callable[..., nn.Module],
) -> int:
    """Replace each submodule of type ``old`` in ``model`` (in place) by ``factory()``.

    Every replaced module gets its own fresh instance, so learnable activations learn
    per layer.  A factory with one required positional argument is called with the
    layer index (0, 1, ... in ``model.named_modules()`` order), so an exported class
    with ``LEARNED`` values can be given per-layer values:
    ``swap_activations(model, nn.ReLU, lambda i: MyAct(layer=i))``.
    The new modules are moved to the device and dtype of the model's parameters.

    Returns the number of modules replaced; ``model`` itself is never replaced.
    """
    if not isinstance(model, nn.Module):
        raise ActsearchError(f"swap_activations needs an nn.Module, got {type(model).__name__}")
    types = old if isinstance(old, tuple) else (old,)
    if not types or not all(isinstance(t, type) and issubclass(t, nn.Module) for t in types):
        raise ActsearchError(f"swap_activations: {old!r} is not an nn.Module class")
    if not callable(factory):
        raise ActsearchError("swap_activations: factory must be callable")
    takes_index = _factory_arity(factory) == 1
    first = next(model.parameters(), None)

    # collect first, then replace: replacing while iterating named_modules() would visit new modules
    targets = [
        (name, module)
        for name, module in model.named_modules(remove_duplicate=False)
        if name and isinstance(module, types)
    ]
    for index, (name, _) in enumerate(targets):
        parent_name, _, attr = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        new = factory(index) if takes_index else factory()
        if not isinstance(new, nn.Module):
            raise ActsearchError(f"swap_activations: factory returned {type(new).__name__}, not an nn.Module")
        if first is not None:
            new = new.to(device=first.device, dtype=first.dtype if first.is_floating_point() else None)
        setattr(parent, attr, new)
    return len(targets)
