"""Whether a process of this machine has ended: for leases held by dead drivers and
temporary folders left by killed processes."""

from __future__ import annotations

import os

__all__ = ["ended"]


def ended(pid: int) -> bool:
    """Whether process ``pid`` of this PID namespace has ended (a zombie has).

    >>> ended(os.getpid())
    False
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # alive, another user's
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False
