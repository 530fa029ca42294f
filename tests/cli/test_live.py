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
from actsearch.search.events import Running, Snapshot

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


def test_copies_are_not_done_and_the_eta_comes_from_measured_durations():
    now = time.monotonic()
    running = [Running("a", started=now - 5.0, steps=10, epochs=10, step=5, reported=now - 1.0),  # 8 s a trial
               Running("b", started=now - 1.0, steps=10, epochs=10)]  # not reported yet: the measured mean
    s = Snapshot(name="s", budget=10, done=4, copied=3, running=running, durations=[12.0, 2.0, 10.0], workers=2)
    assert s.queued == 4  # the 3 copies count neither as done nor against the budget
    # a: 8 s in all, 5 gone -> 3 left; b: 8 s (mean of 12, 2, 10) less its 1 -> 7; 4 queued x 8 s, 2 at a time
    assert s.eta(now) == pytest.approx((3 + 7 + 4 * 8) / 2)
    assert "4/10 done, 2 running, 4 queued, 3 copied" in s.counts()
    # nothing measured and nothing reported: unknown, not zero
    assert Snapshot(name="s", budget=3, done=0, running=[Running("a", started=now)]).eta(now) is None
    # the last trial past its estimate: still at least one epoch's time while it runs, never 0
    late = Snapshot(name="s", budget=1, done=0, durations=[4.0],
                    running=[Running("a", started=now - 60.0, steps=4, epochs=4)], workers=1)
    assert late.eta(now) == pytest.approx(1.0)
    assert Snapshot(name="s", budget=2, done=2).eta(now) == 0.0  # finished


def test_a_running_trial_says_its_seed_epoch_and_metric():
    now = time.monotonic()
    r = Running("x*tanh(x)", started=now - 42.0, steps=30, epochs=10, step=14, value=0.6123, metric="val_accuracy",
                reported=now)
    assert r.describe(now) == "seed 2/3 epoch 4/10  val_accuracy 0.6123  0:00:42  x*tanh(x)"
    assert Running("relu(x)", started=now, steps=10, epochs=10).describe(now) == "starting  0:00:00  relu(x)"


def test_plain_lines_have_the_time_and_a_heartbeat(tmp_path):
    with open(tmp_path / "log.txt", "w") as fh:
        display = PlainDisplay(fh, heartbeat=0.05)
        now = time.monotonic()
        snap = Snapshot(name="beat", budget=3, done=1, copied=1, workers=1, durations=[10.0],
                        running=[Running("x*tanh(x)", started=now - 3, steps=4, epochs=4, step=2, value=0.5,
                                         metric="acc", reported=now)])
        display.search_started(snap, "1 parallel trial(s) on cpu")
        time.sleep(0.3)
        display.trial_recorded(snap, Result(key="k", text="relu(x)", score=0.6, reused_from="old"))
        display.search_finished(snap, True)
        time.sleep(0.15)
    lines = (tmp_path / "log.txt").read_text().splitlines()
    assert all(re.match(r"\d\d:\d\d:\d\d ", ln) for ln in lines)
    beats = [ln for ln in lines if ln[9:].startswith("... 1/3 done, 1 running, 1 queued, 1 copied")]
    assert beats and "running: epoch 2/4  acc 0.5000  0:00:0" in beats[0] and beats[0].endswith("x*tanh(x)")
    # a beat may land between the record and the end (a 0.05 s heartbeat on a busy machine)
    [copied] = [ln for ln in lines if "[copied] ok " in ln]
    assert "[from old; not trained here]" in copied and lines.index(copied) < len(lines) - 1
    assert lines[-1][9:].startswith("finished: 1/3 done") and "... " not in lines[-1]  # no beat after the end


def test_plain_lines_tell_each_step(ray_session, tmp_path, capsys, monkeypatch):
    import actsearch.cli

    monkeypatch.setattr(actsearch.cli, "COMMAND_MODULES", ["search", "confirm"])
    url = "sqlite:///" + str(tmp_path / "p.db")
    assert main(["search", "--task", "digits", "--epochs", "1", "--budget", "4", "--workers", "2",
                 "--storage", url, "--name", "plain", "--candidates", "x*tanh(x)"]) == 0
    err = capsys.readouterr().err
    lines = [line[9:] for line in err.splitlines() if re.match(r"\d\d:\d\d:\d\d ", line)]  # after the time
    assert lines[0] == "starting a local Ray instance ..."
    assert any(line.startswith("search 'plain': 4 candidates to train, 0 trained; 2 parallel trial(s) on cpu")
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
        display.snapshot = Snapshot(name="demo", budget=5, done=2, running=[Running("x*tanh(x)", time.monotonic())],
                                    best=0.5, best_text="relu(x)")
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
    assert " starting ...\n" in out and " warning: a worker was lost again\n" in out
