"""The chaos benchmark, small: a search of 24 candidates through one SIGKILL each of a
trial process, a Ray worker and the driver (then resumed), the store's write lock
held for seconds, and (as root) a full disk under the store; at the end every
candidate is recorded once, the budget met, nothing seen recorded lost.  The full
run and its figures: ``benchmarks/chaos.py`` and benchmarks/NOTES.md."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _chaos():
    spec = importlib.util.spec_from_file_location("bench_chaos", ROOT / "benchmarks" / "chaos.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.ray
@pytest.mark.subprocess
@pytest.mark.slow
def test_a_small_chaos_run_loses_nothing(tmp_path, capsys):
    out = tmp_path / "chaos.json"
    code = _chaos().main(["--budget", "24", "--trial-kills", "1", "--worker-kills", "1", "--driver-kills", "1",
                          "--locks", "1", "--no-baseline", "--seed", "3", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed[-4000:]
    figures = json.loads(out.read_text())
    assert figures["problems"] == [] and figures["bad_output"] == []
    assert figures["records"] == figures["distinct"] == 24 and figures["lost"] == 0
    assert figures["records_seen_during_run"] >= 1
    survived = figures["faults_survived"]
    assert survived.get("driver") == 1 and survived.get("lock") == 1, survived
    assert figures["drivers"] >= 2 and -9 in figures["exit_codes"]  # killed, then resumed
    if os.geteuid() == 0 and "disk" in figures["faults_planned"]:
        assert survived.get("disk") == 1 and 2 in figures["exit_codes"]  # one line, exit 2, then resumed
    # a killed trial process is that candidate's result (an error, once); a killed worker is retried
    assert figures["statuses"].get("error", 0) <= survived.get("trial", 0)
