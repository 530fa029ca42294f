"""Output to a pipe whose reader went away (``actsearch spaces | head -3``) ends quietly:
no traceback, the status a command killed by SIGPIPE has."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from actsearch.cli import main

ROOT = Path(__file__).resolve().parents[2]


class _ClosedPipe:
    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self):
        raise BrokenPipeError(32, "Broken pipe")

    def fileno(self):
        raise ValueError("no file descriptor")


def test_a_closed_pipe_ends_the_command_quietly(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    assert main(["spaces"]) == 141
    assert capsys.readouterr().err == ""


@pytest.mark.subprocess
def test_a_real_pipe_closed_by_its_reader():
    proc = subprocess.Popen([sys.executable, str(ROOT / "cli.py"), "spaces"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=ROOT)
    proc.stdout.close()  # the reader is gone before the first line is written
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
