"""Replay benchmark: optimisers searching a precomputed table of trained functions
instead of training (``actsearch benchmark optimisers``); see
:mod:`actsearch.benchmarking.replay`, whose public names are this package's.

Example:
    >>> from actsearch.benchmarking import MAX_SKIPS, Table, replay
    >>> MAX_SKIPS
    200
"""

# the replay module's __all__ is the package's: a name added there is exported here
from .replay import *  # noqa: F401,F403
from .replay import __all__  # noqa: F401
