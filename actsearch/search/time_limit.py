"""The default time limit of one trial: a multiple of the slowest reference's measured time.

Without ``--trial-timeout`` no single candidate may stall a search either (a formula
whose kernel takes hours to build, a task that hangs on one function): each trial
gets ``max(FLOOR, FACTOR * t)`` seconds, ``t`` the longest wall time of a reference
(relu, gelu, silu: every search trains them first) on this task, epochs, seeds and
precision, measured in this search or in an earlier one of the store.  Until a
reference has been measured (the first trials of the first search of a task), a
trial gets :data:`UNMEASURED` seconds.  A trial past its limit is killed and recorded
as ``timeout`` with the limit in its message; ``--trial-timeout`` replaces the rule.

Example:
    >>> from actsearch.result import Result
    >>> limit = TrialTimeLimit(None, references={"fp-relu"})
    >>> limit.seconds() == UNMEASURED
    True
    >>> limit.observe(Result(key="k", text="relu(x)", fingerprint="fp-relu", status="ok", wall_time=20.0))
    True
    >>> limit.seconds()
    200.0
    >>> TrialTimeLimit(30.0, references={"fp-relu"}).seconds()
    30.0
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["TrialTimeLimit", "FACTOR", "FLOOR", "UNMEASURED"]

#: a trial may take this many times the slowest reference's wall time
FACTOR = 10.0
#: but never less than this many seconds (references that train in a second or two)
FLOOR = 60.0
#: seconds a trial may take before any reference has been measured
UNMEASURED = 1800.0


class TrialTimeLimit:
    """The time limit of the next trial: ``given`` (``--trial-timeout``), else the default
    from the wall times of the results whose fingerprints are in ``references``.

    Args:
        given: the user's limit in seconds, or ``None`` for the default.
        references: the fingerprints of the search's references.
        known: results recorded before (this search's, or earlier searches' of the task).
    """

    def __init__(self, given: float | None, references: Iterable[str], known: Iterable = ()):
        self.given = given
        self.references = set(references)
        self.slowest: float | None = None
        for result in known:
            self.observe(result)

    def observe(self, result) -> bool:
        """Count ``result``'s wall time if it is a reference's; whether the limit changed."""
        if (self.given is not None or result.fingerprint not in self.references or result.status != "ok"
                or not result.wall_time > 0 or (self.slowest is not None and result.wall_time <= self.slowest)):
            return False
        self.slowest = float(result.wall_time)
        return True

    def seconds(self) -> float:
        """The limit of a trial handed out now, in seconds."""
        if self.given is not None:
            return float(self.given)
        if self.slowest is None:
            return UNMEASURED
        return max(FLOOR, FACTOR * self.slowest)

    def describe(self) -> str:
        """One line saying what the limit is and why."""
        if self.given is not None:
            return f"trial time limit: {self.given:g} s (--trial-timeout)"
        if self.slowest is None:
            return (f"trial time limit: {UNMEASURED:g} s until a reference has been timed, then {FACTOR:g} x "
                    f"the slowest reference (at least {FLOOR:g} s; --trial-timeout sets another)")
        return (f"trial time limit: {self.seconds():.0f} s ({FACTOR:g} x the slowest reference's {self.slowest:.1f} s, "
                f"at least {FLOOR:g} s; --trial-timeout sets another)")
