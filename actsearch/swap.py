"""Replace every activation module of one type in a model with a new one.

Before replacing, one forward pass is traced (with ``example`` inputs when given,
else symbolically with ``torch.fx``) to find what a swap cannot do right by itself,
each said in a :class:`SwapWarning`:

* a module **called more than once** per forward pass (a ResNet ``BasicBlock`` calls
  its one ``self.relu`` twice): its replacement is one activation shared by those
  calls, with one set of learnable parameters;
* a **functional activation** (``F.relu(x)``, ``torch.relu``, ``x.relu()``) outside
  any module: there is no module to replace, so it stays as it is.

Example:
    >>> import torch
    >>> from torch import nn
    >>> import actsearch
    >>> from actsearch.swap import swap_activations
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU())
    >>> swap_activations(model, nn.ReLU, actsearch.parse("x*sigmoid(a*x); a=1.5").module).replaced
    ['1', '3']
    >>> model(torch.randn(3, 4)).shape
    torch.Size([3, 8])
"""

from __future__ import annotations

import inspect
import os
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn

from .errors import ActsearchError

__all__ = ["swap_activations", "SwapReport", "SwapWarning"]


class SwapWarning(UserWarning):
    """What a swap left as it was, or did in a way the model's author may not expect."""


@dataclass
class SwapReport:
    """What :func:`swap_activations` did and saw in the traced forward pass.

    ``replaced``: the qualified names of the modules replaced, in order;
    ``shared``: name -> calls per forward pass, for replaced modules called more
    often than they have names (each name gets a module of its own); ``functional``: the functional activation calls it could not reach
    (``"torch.nn.functional.relu at block.py:23"``, one entry per call site);
    ``traced``: how the forward pass was traced (``"example"``, ``"fx"``, or ``""``
    when it could not be, said in a warning).
    """

    replaced: list[str] = field(default_factory=list)
    shared: dict[str, int] = field(default_factory=dict)
    functional: list[str] = field(default_factory=list)
    traced: str = ""

    def __len__(self) -> int:
        return len(self.replaced)


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


def _functional_forms(types: tuple[type, ...]) -> dict[Any, str]:
    """The functional forms (function or tensor method) of the activation modules
    ``types`` (``nn.ReLU``: ``F.relu``, ``torch.relu``, ``Tensor.relu``, ...) -> a readable name."""
    F = torch.nn.functional
    names = ["relu", "relu_", "relu6", "gelu", "silu", "mish", "elu", "selu", "celu", "leaky_relu", "hardtanh",
             "hardswish", "hardsigmoid", "softplus", "softsign", "tanh", "sigmoid", "logsigmoid", "prelu",
             "rrelu", "glu", "tanhshrink", "softshrink", "hardshrink", "threshold"]
    wanted = {t.__name__.lower() for t in types}
    out: dict[Any, str] = {}
    for name in names:
        if name.rstrip("_").replace("_", "") not in wanted:
            continue
        for owner, prefix in ((F, "torch.nn.functional"), (torch, "torch"), (torch.Tensor, "Tensor")):
            fn = getattr(owner, name, None)
            if fn is not None:
                out.setdefault(fn, f"{prefix}.{name}")
    return out


def _call_site() -> str:
    """``file:line`` of the first frame outside torch and this module (the model's code)."""
    torch_dir = os.path.dirname(torch.__file__)
    here = os.path.abspath(__file__)
    for frame in inspect.stack(context=0)[2:]:
        path = os.path.abspath(frame.filename)
        if not path.startswith(torch_dir) and path != here:
            return f"{os.path.basename(path)}:{frame.lineno}"
    return "?"


def _trace_example(model: nn.Module, example, forms: dict) -> tuple[Counter, list[str]]:
    """Calls per module (by ``id``) and functional activation call sites outside
    modules, from one forward pass on ``example`` (no gradients)."""
    from torch.overrides import TorchFunctionMode

    calls: Counter = Counter()
    depth = [0]  # inside a leaf module (its own F.relu is the module's, not a functional call)
    sites: list[str] = []
    handles = []
    for name, module in model.named_modules():  # each module object once, whatever its names
        if name and not list(module.children()):
            def pre(m, _args):
                calls[id(m)] += 1
                depth[0] += 1

            def post(_m, _args, _out):
                depth[0] -= 1

            handles += [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]

    class _Functional(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            if depth[0] == 0 and func in forms:
                sites.append(f"{forms[func]} at {_call_site()}")
            return func(*args, **(kwargs or {}))

    args = example if isinstance(example, tuple) else (example,)
    try:
        with torch.no_grad(), _Functional():
            model(*args)
    finally:
        for h in handles:
            h.remove()
    return calls, list(dict.fromkeys(sites))


def _trace_fx(model: nn.Module, forms: dict) -> tuple[Counter, list[str]]:
    """The same from ``torch.fx.symbolic_trace`` (no inputs needed)."""
    import torch.fx

    method_forms = {n.split(".")[-1]: n for f, n in forms.items() if n.startswith("Tensor.")}
    tracer = torch.fx.Tracer()
    tracer.record_stack_traces = True  # where each call is, for the warning
    graph = tracer.trace(model)
    calls: Counter = Counter()
    sites: list[str] = []
    for node in graph.nodes:
        if node.op == "call_module":  # named by the first of the module's names
            calls[id(model.get_submodule(str(node.target)))] += 1
        elif node.op == "call_function" and node.target in forms:
            sites.append(f"{forms[node.target]} at {_fx_site(node)}")
        elif node.op == "call_method" and node.target in method_forms:
            sites.append(f"{method_forms[node.target]} at {_fx_site(node)}")
    return calls, list(dict.fromkeys(sites))


def _fx_site(node) -> str:
    """``file:line`` of an fx node's call in the model's code (from its recorded stack)."""
    import re

    torch_dir = os.path.dirname(torch.__file__)
    found = [(path, line) for path, line in re.findall(r'File "([^"]+)", line (\d+)', node.stack_trace or "")
             if not os.path.abspath(path).startswith(torch_dir)]
    return f"{os.path.basename(found[-1][0])}:{found[-1][1]}" if found else f"node {node.name}"


def _trace(model: nn.Module, example, types: tuple[type, ...]) -> tuple[Counter, list[str], str]:
    forms = _functional_forms(types)
    if example is not None:
        calls, sites = _trace_example(model, example, forms)
        return calls, sites, "example"
    try:
        calls, sites = _trace_fx(model, forms)
    except Exception as exc:  # noqa: BLE001 - data-dependent control flow and the like: say so, swap anyway
        warnings.warn(f"swap_activations could not trace the model symbolically ({type(exc).__name__}); pass "
                      "example=INPUT to check for activations called twice and functional ones",
                      SwapWarning, stacklevel=3)
        return Counter(), [], ""
    return calls, sites, "fx"


def swap_activations(
    model: nn.Module,
    old: "type[nn.Module] | tuple[type[nn.Module], ...]",
    factory: Callable[..., nn.Module],
    example: Any = None,
) -> SwapReport:
    """Replace each submodule of type ``old`` in ``model`` (in place) by ``factory()``.

    Every replaced module gets its own fresh instance, so learnable activations learn
    per layer.  A factory with one required positional argument is called with the
    layer index (0, 1, ... in ``model.named_modules()`` order), so an exported class
    with ``LEARNED`` values can be given per-layer values:
    ``swap_activations(model, nn.ReLU, lambda i: MyAct(layer=i))``.
    The new modules are moved to the device and dtype of the model's parameters.

    ``example`` (an input, or a tuple of positional inputs) is what the forward pass
    is traced with; without it the model is traced with ``torch.fx``.  Modules called
    more than once and functional activations that cannot be reached are warned about
    (:class:`SwapWarning`; module docstring).

    Returns a :class:`SwapReport` (``len()`` is the number replaced); ``model``
    itself is never replaced.
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
    calls, sites, traced = _trace(model, example, types)
    report = SwapReport(traced=traced, functional=sites)
    names: dict[int, list[str]] = {}
    for name, module in targets:
        names.setdefault(id(module), []).append(name)
    for module_id, its_names in names.items():
        # each name gets a module of its own; more calls than names share one
        if calls.get(module_id, 0) > len(its_names):
            report.shared[" = ".join(its_names)] = calls[module_id]
    for index, (name, _) in enumerate(targets):
        parent_name, _, attr = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        new = factory(index) if takes_index else factory()
        if not isinstance(new, nn.Module):
            raise ActsearchError(f"swap_activations: factory returned {type(new).__name__}, not an nn.Module")
        if first is not None:
            new = new.to(device=first.device, dtype=first.dtype if first.is_floating_point() else None)
        setattr(parent, attr, new)
        report.replaced.append(name)
    if report.shared:
        listed = ", ".join(f"{n} ({k} calls)" for n, k in report.shared.items())
        warnings.warn(f"swap_activations: {listed} is called more than once per forward pass: each replacement is "
                      "one activation shared by those calls (one set of learnable parameters); give each call "
                      "its own module to learn them separately", SwapWarning, stacklevel=2)
    if report.functional:
        listed = "; ".join(report.functional[:5]) + ("; ..." if len(report.functional) > 5 else "")
        warnings.warn(f"swap_activations cannot reach {len(report.functional)} functional activation call(s), "
                      f"left as they are: {listed}; use a module ({types[0].__name__}) there to have it swapped",
                      SwapWarning, stacklevel=2)
    return report
