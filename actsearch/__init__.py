"""actsearch: search for better activation functions.

The public names load on first use (:mod:`actsearch._exports`): ``import actsearch``
imports neither torch nor sympy until ``actsearch.parse`` (say) is read.

Example:
    >>> import actsearch
    >>> c = actsearch.parse("x*sigmoid(x)")
    >>> c.fingerprint() == actsearch.preset("silu").fingerprint()
    True
"""

# Import the subpackage first so that the ``compile`` function defined below is what
# ``actsearch.compile`` names afterwards (a later first import of the subpackage
# would rebind the attribute to the module); the subpackage itself loads nothing heavy.
from . import compile as _compile_package  # noqa: F401
from ._exports import lazy_exports
from .errors import ActsearchError, CompileError, ExpressionError, StoreError, TaskError
from .registry import preset, presets, space, spaces

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
    "task",
]

__getattr__, __dir__ = lazy_exports(__name__, {
    ".symbolic.expr": ("Candidate", "parse"),
    ".symbolic.module": ("CandidateModule",),
    ".results.export": ("export", "load"),
    ".results.leaderboard": ("leaderboard",),
    ".swap": ("swap_activations",),
    ".tasks.mark": ("task",),
})


def compile(candidate, backend: str = "auto", **options):  # noqa: A001 - mirrors torch.compile
    """Compile a candidate to an ``nn.Module`` (see :mod:`actsearch.compile`)."""
    return _compile_package.compile_candidate(candidate, backend=backend, **options)
