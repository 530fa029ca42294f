"""The progress of a running search: a live panel on a terminal, plain lines elsewhere."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from actsearch.cli import main
from actsearch.commands._live import LiveDisplay, PlainDisplay, search_display
from actsearch.result import Result
from actsearch.search.events import Snapshot

ROOT = Path(__file__).resolve().parents[2]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


def test_a_terminal_gets_the_live_panel_and_a_pipe_plain_lines(tmp_path):
    with open(tmp_path / "log.txt", "w") as fh:
        assert isinstance(search_display(fh), PlainDisplay)
    master, slave = os.openpty()
    try:
        with os.fdopen(slave, "w", closefd=False) as tty:
            assert isinstance(search_display(tty), LiveDisplay)
    finally:
        os.close(master)
        os.close(slave)


def test_snapshot_counts_and_eta():
    s = Snapshot(name="s", budget=10, done=4, trained=4, running=["a", "b"], first_done=2,
                 started=time.monotonic() - 20.0)
    assert s.queued == 4
    # 2 recorded in this session in 20 s: 6 left take 60 s
    assert s.eta() == pytest.approx(60.0, rel=0.05)
    assert Snapshot(name="s", budget=3, done=0, trained=0).eta() is None


def test_plain_lines_tell_each_step(ray_session, tmp_path, capsys, monkeypatch):
    import actsearch.cli

    monkeypatch.setattr(actsearch.cli, "COMMAND_MODULES", ["search", "confirm"])
    url = "sqlite:///" + str(tmp_path / "p.db")
    assert main(["search", "--task", "digits", "--epochs", "1", "--budget", "4", "--workers", "2",
                 "--storage", url, "--name", "plain", "--candidates", "x*tanh(x)"]) == 0
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert lines[0] == "starting a local Ray instance ..."
    assert any(line.startswith("search 'plain': 4 candidates, 0 recorded; 2 parallel trial(s) on cpu")
               for line in lines)
    assert sum(line.startswith("  started  ") for line in lines) == 4
    assert sum(bool(re.match(r"\[\d/4\] ok ", line)) for line in lines) == 4
    assert any(line.startswith("finished: 4/4 done, 0 running, 0 queued") for line in lines)


@pytest.mark.ray
@pytest.mark.subprocess
def test_live_panel_in_a_pseudo_terminal(tmp_path):
    """A real search in a pseudo-terminal: the panel shows counts, ETA, the best and
    what runs; the recorded lines scroll above it."""
    url = "sqlite:///" + str(tmp_path / "t.db")
    import fcntl
    import struct
    import termios

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))  # 40 rows, 120 columns
    env = dict(os.environ, TERM="xterm-256color")
    env.pop("TRITON_INTERPRET", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "actsearch.cli", "search", "--task", "digits", "--epochs", "1", "--budget", "4",
         "--workers", "2", "--storage", url, "--name", "tty", "--candidates", "x*tanh(x)"],
        stdin=slave, stdout=slave, stderr=slave, cwd=ROOT, env=env, close_fds=True)
    os.close(slave)
    chunks = []
    deadline = time.time() + 240
    while time.time() < deadline:
        try:
            data = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(timeout=60) == 0
    raw = b"".join(chunks).decode("utf-8", "replace")
    text = ANSI.sub("", raw)
    assert "\x1b[" in raw  # drawn with terminal control codes, not plain lines
    for needle in ("progress", "4/4 done", "ETA", "best", "running", "tty  (2 parallel trial(s) on cpu"):
        assert needle in text, needle
    assert len(re.findall(r"\[\d/4\] ok ", text)) >= 4
    assert "  started  " not in text  # the plain form's lines are not mixed in


def test_live_display_renders_without_a_search(tmp_path):
    from rich.console import Console

    with open(tmp_path / "out.txt", "w") as fh:
        display = LiveDisplay(fh)
        display.snapshot = Snapshot(name="demo", budget=5, done=2, trained=2, running=["x*tanh(x)"], best=0.5,
                                    best_text="relu(x)")
        display.placement = "1 parallel trial(s) on cpu"
        console = Console(file=fh, width=100)
        console.print(display)
        display.trial_recorded(display.snapshot, Result(key="k", text="abs(x)", status="nan", message="why"))
        display.warning("a worker was lost")
        plain = PlainDisplay(fh)
        plain.note("starting")
        plain.warning("a worker was lost again")
    out = (tmp_path / "out.txt").read_text()
    assert "2/5 done, 1 running, 2 queued" in out and "0.5000  relu(x)" in out and "x*tanh(x)" in out
    assert "[2/5] nan" in out and "abs(x) (why)" in out and "warning: a worker was lost\n" in out
    assert "starting ...\n" in out and "warning: a worker was lost again\n" in out
