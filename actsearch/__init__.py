"""actsearch: search for better activation functions.

Example:
    >>> import actsearch
    >>> c = actsearch.parse("x*sigmoid(x)")
    >>> c.fingerprint() == actsearch.preset("silu").fingerprint()
    True
"""

# Import the subpackage first so that the ``compile`` function defined below is what
# ``actsearch.compile`` names afterwards (a later first import of the subpackage
# would rebind the attribute to the module).
from . import compile as _compile_package  # noqa: F401
from .errors import ActsearchError, CompileError, ExpressionError, StoreError, TaskError
from .symbolic.expr import Candidate, parse
from .symbolic.module import CandidateModule
from .registry import preset, presets, space, spaces
from .results.export import export, load
from .results.leaderboard import leaderboard
from .swap import swap_activations

__version__ = "0.1.0"

__all__ = [
    "ActsearchError",
    "Candidate",
    "CandidateModule",
    "CompileError",
    "ExpressionError",
    "StoreError",
    "TaskError",
    "compile",
    "export",
    "leaderboard",
    "load",
    "parse",
    "preset",
    "presets",
    "space",
    "spaces",
    "swap_activations",
]


def compile(candidate, backend: str = "auto", **options):  # noqa: A001 - mirrors torch.compile
    """Compile a candidate to an ``nn.Module`` (see :mod:`actsearch.compile`)."""
    return _compile_package.compile_candidate(candidate, backend=backend, **options)
