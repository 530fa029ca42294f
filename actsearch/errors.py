"""Exceptions users see.  Each names what was wrong in one line."""

from __future__ import annotations

__all__ = ["ActsearchError", "ExpressionError", "CompileError", "StoreError", "TaskError", "UnknownNameError"]


class ActsearchError(Exception):
    """Base class: an error the CLI reports as one line with exit code 2."""


class ExpressionError(ActsearchError, ValueError):
    """A candidate expression could not be parsed.

    Attributes:
        reason: what was wrong, e.g. ``unknown function 'foo'``.
        text: the offending text.
        position: 0-based character offset where the problem was found.
    """

    def __init__(self, reason: str, text: str = "", position: int = 0):
        self.reason = reason
        self.text = text
        self.position = position
        shown = text if len(text) <= 80 else text[:77] + "..."
        super().__init__(f"{reason} at position {position} in {shown!r}")


class CompileError(ActsearchError):
    """A candidate could not be compiled, or its kernel disagrees with the reference."""


class StoreError(ActsearchError):
    """The results store could not be opened or holds something foreign."""


class TaskError(ActsearchError):
    """A scoring task could not be found, loaded or run."""


class UnknownNameError(ActsearchError, KeyError):
    """An unknown space, preset, task or optimiser name (the message names the choices)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])
