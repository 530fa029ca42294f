"""A trial's child process killed while it starts (from outside, or by the out-of-memory
killer) is started once more: only a second failure says the worker cannot run trials
(which stops the search).  Found by the chaos run (benchmarks/chaos.py)."""

from __future__ import annotations

import os
import signal

import pytest

from actsearch.search import TrialSpec
from actsearch.search.trial.supervisor import Supervisor

SPEC = TrialSpec(text="x*tanh(x)", task="digits", epochs=1, seeds=(0,), backend="eager", trial_timeout=120)


class KilledWhileStarting(Supervisor):
    """SIGKILLs its first ``kills`` children before they say they are ready."""

    def __init__(self, kills: int):
        super().__init__()
        self.kills = kills

    def _recv(self, deadline):
        if self.kills:
            self.kills -= 1
            os.kill(self.proc.pid, signal.SIGKILL)
        return super()._recv(deadline)


@pytest.mark.subprocess
def test_a_child_killed_while_starting_is_started_again():
    with KilledWhileStarting(kills=1) as sup:
        result, env_error = sup.run(SPEC)
    assert result.status == "ok" and env_error == "", result.message
    assert sup.starts == 2


@pytest.mark.subprocess
def test_a_child_that_never_starts_is_the_workers_environment():
    with KilledWhileStarting(kills=2) as sup:
        result, env_error = sup.run(SPEC)
    assert result.status == "error" and sup.starts == 2
    assert env_error.startswith("the trial's process could not start") and "SIGKILL" in env_error
