"""A winner -> a standalone ``.py`` file defining an ``nn.Module`` that needs only torch.

:func:`export` writes the file, :func:`export_source` returns its text, :func:`load`
turns an exported file, a stored run (``SEARCH:NUMBER`` or a key), a preset name or
a formula back into a module.  The generated forward pass is printed from the
candidate's sympy expression by :class:`actsearch.symbolic.torch_source.TorchSourcePrinter`; parameter values
are written as float literals (no pickle, nothing evaluated at import beyond the
class definition).

Example:
    >>> import tempfile, pathlib, torch, actsearch
    >>> from actsearch.results.export import export, load
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "my_act.py"
    >>> crrelu = "relu(x) + eps*x*exp(-x**2/2); eps=0.01"
    >>> _ = export(crrelu, path)
    >>> act = load(path)
    >>> type(act).__name__
    'SearchedActivation'
    >>> ref = actsearch.parse(crrelu).module()
    >>> x = torch.linspace(-3, 3, 7)
    >>> torch.allclose(act(x), ref(x))
    True
"""

from __future__ import annotations

import importlib.util
import keyword
import math
import re
import sys
import textwrap
from pathlib import Path
from typing import Any, Mapping, Sequence

from torch import nn

from .files import write_files
from .names import Provenance, resolve
from ..symbolic.torch_source import TorchSourcePrinter
from ..errors import ActsearchError
from ..symbolic.expr import Candidate

__all__ = ["ExportError", "Provenance", "export", "export_source", "load", "class_name_for"]

DEFAULT_CLASS_NAME = "SearchedActivation"

# names the generated forward() already uses; parameters with these names get a prefix
# (helpers and temporaries start with '_', which parameter names cannot)
_TAKEN = {"x", "self", "torch", "F", "nn", "math"}


class ExportError(ActsearchError):
    """A candidate could not be exported, or an exported file could not be loaded."""


def _provenance_lines(p: Provenance) -> list[str]:
    """The docstring lines saying where the candidate came from (none when unknown)."""
    if p.search is None:
        return []
    where = f"search {_doc_safe(p.search)!r}"
    if p.trial is not None:
        where += f", trial {p.trial}"
    if p.task:
        where += f", task {_doc_safe(p.task)!r}"
    out = [f"Found by actsearch in {where}."]
    if p.score is not None and math.isfinite(p.score):
        score = f"{p.score:.4f}"
        if p.spread is not None and math.isfinite(p.spread):
            score += f" +/- {p.spread:.4f}"
        metric = _doc_safe(p.metric or "score")
        seeds = f" over {p.seeds} seed{'s' if p.seeds != 1 else ''}" if p.seeds else ""
        out.append(f"Score: {metric} {score}{seeds}.")
    return out


def _doc_safe(text: str) -> str:
    """``text`` with only printable characters and no backslashes or triple quotes."""
    text = "".join(ch if ch.isprintable() else "?" for ch in str(text))
    return text.replace("\\", "/").replace('"""', "'''")


def _wrap(text: str, first: str, rest: str, width: int = 88) -> list[str]:
    return textwrap.wrap(text, width=width, initial_indent=first, subsequent_indent=rest,
                         break_long_words=False, break_on_hyphens=False)


def class_name_for(candidate: Candidate) -> str:
    """``rational-gelu`` -> ``RationalGelu``; unnamed candidates -> ``SearchedActivation``."""
    if not candidate.name:
        return DEFAULT_CLASS_NAME
    parts = re.split(r"[^0-9A-Za-z]+", candidate.name)
    name = "".join(p[:1].upper() + p[1:] for p in parts if p)
    if not name or not name.isidentifier() or name[0].isdigit():
        return DEFAULT_CLASS_NAME
    return name


def _local_names(params: Sequence[str]) -> dict[str, str]:
    names: dict[str, str] = {}
    used = set(_TAKEN)
    for p in params:
        local = p if p.isidentifier() and not keyword.iskeyword(p) and p not in used else f"p_{p}"
        while local in used or keyword.iskeyword(local):
            local = "p_" + local
        used.add(local)
        names[p] = local
    return names


def _literal(value: float, what: str) -> str:
    if not math.isfinite(value):
        raise ExportError(f"{what} is {value}; only finite values can be exported")
    return repr(float(value))


def _dict_literal(values: Mapping[str, float], what: str, indent: str = "") -> str:
    if not values:
        return "{}"
    items = ", ".join(f"{k!r}: {_literal(v, f'{what} {k!r}')}" for k, v in values.items())
    return "{" + items + "}"


def _learned_table(candidate: Candidate, learned: Sequence[Mapping[str, float]]) -> list[dict[str, float]]:
    names = list(candidate.params)
    table = []
    for i, layer in enumerate(learned):
        missing = [n for n in names if n not in layer]
        if missing:
            raise ExportError(f"learned values of layer {i} lack parameter {missing[0]!r}")
        table.append({n: float(layer[n]) for n in names})
    return table


def export_source(
    candidate: Candidate,
    *,
    class_name: str | None = None,
    provenance: Provenance | None = None,
    learned: bool = False,
) -> str:
    """The text of a standalone module file computing ``candidate``.

    With ``learned=True`` the file also holds ``provenance.learned`` (one mapping per
    layer).  When every layer learned the same values they become the defaults;
    otherwise the class takes ``layer=i`` to select layer ``i``'s values and defaults
    to the initial ones.
    """
    class_name = class_name or class_name_for(candidate)
    if not class_name.isidentifier() or keyword.iskeyword(class_name):
        raise ExportError(f"class name {class_name!r} is not a Python identifier")
    provenance = provenance or Provenance()
    table: list[dict[str, float]] = []
    if learned:
        if not candidate.params:
            raise ExportError(f"{candidate.text!r} has no learnable parameters; export it without --learned")
        if not provenance.learned:
            raise ExportError("no learned parameter values are recorded for this candidate; export it without --learned")
        table = _learned_table(candidate, provenance.learned)
    shared = bool(table) and all(row == table[0] for row in table)

    names = _local_names(list(candidate.params))
    printer = TorchSourcePrinter(names)
    statements, body = printer.print_statements(candidate.expr)
    helpers = printer.helpers()  # e.g. _rmsnorm, for the table rows the formula uses
    formula = candidate.text.split(";")[0].strip()

    doc = [f"{class_name}: an activation function exported by actsearch.", ""]
    doc += _wrap(f"f(x) = {_doc_safe(formula)}", "    ", "        ") + [""]
    doc += _provenance_lines(provenance)
    if candidate.params:
        initial = ", ".join(f"{k}={v!r}" for k, v in candidate.params.items())
        doc += _wrap(f"Initial parameter values: {initial}.", "", "")
        if shared:
            doc.append(f"Defaults are the values learned in the best run ({len(table)} layer(s), all equal).")
        elif table:
            doc.append(f"LEARNED holds the values learned in the best run, one dict for each of its {len(table)}")
            doc.append("activation layers in model order; pass ``layer=i`` to start from layer i's values.")
    doc += ["", "Needs only PyTorch: copy this file next to your model and import the class."]
    doc += [
        "",
        "Example:",
        "    >>> import torch",
        f"    >>> act = {class_name}()",
        "    >>> act(torch.randn(4, 8)).shape",
        "    torch.Size([4, 8])",
        "",
    ]

    rowwise = not candidate.elementwise
    shape = (
        "Shape: input ``(*, F)``, output the same shape; each row is normalised over\n"
        "the last (feature) dimension, so the function is not elementwise."
        if rowwise
        else "Shape: any input shape; applied elementwise, output the same shape."
    )
    default = "LEARNED[0]" if shared else "INITIAL"
    out = ['"""' + "\n".join(doc) + '"""', "", "import torch", "import torch.nn.functional as F", "from torch import nn", ""]
    out += [f"__all__ = [{class_name!r}]", ""]
    out += ["#: the canonical formula (actsearch.parse reads it back)", f"FORMULA = {candidate.text!r}"]
    out += ["#: initial parameter values", f"INITIAL = {_dict_literal(candidate.params, 'initial value of')}"]
    out += ["#: learned values, one dict per activation layer in model order (empty unless exported with --learned)"]
    if table:
        rows = ",\n".join(f"    {_dict_literal(row, f'learned value (layer {i}) of')}" for i, row in enumerate(table))
        out += [f"LEARNED = [\n{rows},\n]"]
    else:
        out += ["LEARNED = []"]
    out += ["", ""]
    if helpers:
        out += [helpers, ""]

    init_doc = _wrap(f"f(x) = {_doc_safe(formula)}", '    """', "        ") + [""]
    init_doc += ["    " + line for line in shape.split("\n")]
    init_doc += [
        "",
        "    Args:",
        "        layer: ``None`` for the default values ("
        + ("the learned ones" if shared else "the initial ones")
        + "), or an index into",
        "            ``LEARNED`` to start from that layer's learned values.",
        "        dtype: the parameters' dtype (default: torch's default dtype); they are",
        "            cast to the input's dtype in ``forward``.",
        "        trainable: whether the parameters receive gradients.",
        '    """',
    ]
    out += [f"class {class_name}(nn.Module):"]
    out += init_doc
    out += [
        "",
        "    def __init__(self, layer=None, *, dtype=None, trainable=True):",
        "        super().__init__()",
        f"        values = {default}",
        "        if layer is not None:",
        "            if not isinstance(layer, int) or not 0 <= layer < len(LEARNED):",
        f"                raise ValueError(f\"layer must be an int in [0, {{len(LEARNED)}}), got {{layer!r}}\")",
        "            values = LEARNED[layer]",
        "        self.layer = layer",
        "        self.params = nn.ParameterDict(",
        "            {k: nn.Parameter(torch.tensor(v, dtype=dtype), requires_grad=trainable) for k, v in values.items()}",
        "        )",
        "",
        "    def forward(self, x):",
    ]
    for p, local in names.items():
        out.append(f"        {local} = self.params[{p!r}].to(x.dtype)")
    out += [f"        {line}" for line in statements]
    out += [f"        return {body}", ""]
    out += [
        "    def extra_repr(self):",
        '        values = ", ".join(f"{k}={p.item():.4g}" for k, p in self.params.items())',
        f"        return {formula!r} + (\", \" + values if values else \"\")",
        "",
    ]
    return "\n".join(out)


def export(
    source: "Candidate | str",
    out: "str | Path",
    *,
    learned: bool = False,
    class_name: str | None = None,
    storage: str | None = None,
    search: str | None = None,
) -> Path:
    """Write ``source`` (a candidate, stored run, preset name or formula) to ``out``.

    Returns the path written.  ``learned=True`` needs a stored run whose best run
    recorded learned parameters.
    """
    ref = resolve(source, storage=storage, search=search)
    text = export_source(ref.candidate, class_name=class_name, provenance=ref.provenance, learned=learned)
    path = Path(out)
    if path.suffix != ".py":
        raise ExportError(f"output file {str(path)!r} must end in .py")
    write_files({path: text}, error=ExportError)  # whole or not at all; one-line errors
    return path


def _load_file(path: Path, args: tuple, kwargs: dict) -> nn.Module:
    # a unique module name so two exported files with the same stem do not collide
    mod_name = f"_actsearch_exported_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise ExportError(f"cannot import {str(path)!r}")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # a user-edited file: report in one line
        raise ExportError(f"cannot import {str(path)!r}: {type(exc).__name__}: {exc}") from exc
    sys.modules.pop(mod_name, None)
    names = getattr(module, "__all__", None) or []
    cls = getattr(module, names[0], None) if names else None
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise ExportError(f"{str(path)!r} does not look like an actsearch export (no nn.Module in __all__)")
    return cls(*args, **kwargs)


def load(
    path_or_id: "str | Path | Candidate",
    *args: Any,
    storage: str | None = None,
    search: str | None = None,
    learned: bool = False,
    **kwargs: Any,
) -> nn.Module:
    """A fresh module from an exported ``.py`` file, a stored run, a preset or a formula.

    For an exported file, ``args``/``kwargs`` go to its class (e.g. ``layer=2``).
    For anything else the eager ``candidate.module()`` is returned; with
    ``learned=True`` it starts from the values learned in the best run
    (``layer=i`` selects a layer, default 0).
    """
    if isinstance(path_or_id, (str, Path)) and str(path_or_id).endswith(".py"):
        path = Path(path_or_id)
        if not path.is_file():
            raise ExportError(f"no such file: {str(path)!r}")
        return _load_file(path, args, kwargs)
    ref = resolve(path_or_id, storage=storage, search=search)
    candidate = ref.candidate
    layer = kwargs.pop("layer", None)
    if args or kwargs:
        raise ExportError(f"unexpected arguments for a candidate module: {sorted(kwargs) or list(args)}")
    if learned:
        table = ref.provenance.learned if ref.provenance else []
        if not table:
            raise ExportError("no learned parameter values are recorded for this candidate")
        index = 0 if layer is None else layer
        if not isinstance(index, int) or not 0 <= index < len(table):
            raise ExportError(f"layer must be an int in [0, {len(table)}), got {layer!r}")
        candidate = candidate.with_params(table[index])
    elif layer is not None:
        raise ExportError("layer= needs learned=True")
    return candidate.module()
