"""SIGINT and SIGTERM sent to ``actsearch search`` at several moments: one line, the
signal's exit code, no traceback, Ray's crash lines never, nothing swallowed; once
trials run, the search stops in order (marked interrupted, its trials in flight kept
for ``--resume``), also when the signal reaches the whole process group (``timeout``,
batch schedulers: Ray's processes die with the driver's).

The task below runs in Ray workers, which import this module as
``test_search_signals`` (its folder goes on ``PYTHONPATH``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(TESTS_DIR))

#: what Ray prints when a signal kills one of its processes, and Python when it drops an exception
NEVER = ("Traceback", "Exception ignored", "PC: @", "SIGTERM received", "*** ")


def quick(act_factory, budget, seed, report):
    """About 0.3 s per run; a finite score from the candidate's outputs."""
    import torch

    act = act_factory()
    with torch.no_grad():
        y = act(torch.linspace(-3, 3, 13))
    time.sleep(0.3)
    score = 1.0 / (1.0 + float(y.abs().mean()))
    for epoch in range(1, budget + 1):
        report(epoch, {"score": score})
    return {"score": score, "curve": [score] * budget}


def _search(tmp_path, name: str, budget: int, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([TESTS_DIR, os.environ.get("PYTHONPATH", "")]))
    args = ["--task", "test_search_signals:quick", "--space", "grammar", "--optimizer", "random", "--budget",
            str(budget), "--epochs", "1", "--workers", "2", "--backend", "eager", "--no-early-stop",
            "--storage", f"sqlite:///{tmp_path / 's.db'}", "--name", name, *extra]
    # a session of its own, as a command started from a shell is: a group signal reaches it and its Ray
    return subprocess.Popen([sys.executable, "-m", "actsearch.cli", "search", *args], cwd=str(tmp_path), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _finish(proc: subprocess.Popen, timeout: float = 180) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=timeout)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # whatever is left of its Ray
        except ProcessLookupError:
            pass
    return proc.returncode, err


def _stored(tmp_path, name: str):
    from actsearch.errors import StoreError
    from actsearch.store import Store

    if not (tmp_path / "s.db").exists():
        return None
    try:
        return Store(f"sqlite:///{tmp_path / 's.db'}").search(name)
    except StoreError:
        return None


def _clean(err: str, signum: int) -> list[str]:
    lines = err.strip().splitlines()
    for needle in NEVER:
        assert needle not in err, err[-3000:]
    assert lines, "nothing said"
    assert lines[-1].startswith("actsearch: interrupted") or f"interrupted by {signal.Signals(signum).name}" \
        in lines[-1], err[-3000:]
    return lines


@pytest.mark.ray
@pytest.mark.subprocess
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_before_the_trials_run_is_one_line(tmp_path, signum):
    """At 0.3 s the commands are still loading, by 3.5 s Ray is starting: every moment
    gives one line and the signal's exit code, and leaves no search marked running."""
    for k, delay in enumerate((0.3, 1.0, 2.0, 3.5)):
        name = f"early{k}"
        proc = _search(tmp_path, name, 6)
        time.sleep(delay)
        os.kill(proc.pid, signum)
        started = time.monotonic()
        code, err = _finish(proc)
        assert code == 128 + signum, (delay, err[-3000:])
        lines = _clean(err, signum)
        assert len([line for line in lines if not line.endswith(" ...")]) == 1, (delay, err)  # notes, then one line
        assert time.monotonic() - started < 60, delay
        stored = _stored(tmp_path, name)
        assert stored is None or stored.state == "interrupted", (delay, stored and stored.state)


@pytest.mark.ray
@pytest.mark.subprocess
@pytest.mark.parametrize("signum, group", [(signal.SIGINT, True), (signal.SIGTERM, False), (signal.SIGTERM, True)],
                         ids=["ctrl-c", "sigterm-to-the-driver", "sigterm-to-the-group"])
def test_a_signal_while_trials_run_stops_in_order_and_the_search_resumes(tmp_path, signum, group):
    budget = 14
    proc = _search(tmp_path, "sig", budget)
    deadline = time.monotonic() + 240
    recorded = []
    while time.monotonic() < deadline and proc.poll() is None:
        stored = _stored(tmp_path, "sig")
        recorded = stored.results() if stored is not None else []
        if len(recorded) >= 3:
            break
        time.sleep(0.2)
    assert proc.poll() is None and len(recorded) >= 3, proc.communicate()[1][-3000:]
    (os.killpg if group else os.kill)(proc.pid, signum)
    started = time.monotonic()
    code, err = _finish(proc)
    took = time.monotonic() - started
    assert code == 128 + signum, err[-3000:]
    _clean(err, signum)
    stopped = _stored(tmp_path, "sig")
    kept = stopped.results()
    assert stopped.state == "interrupted" and len(kept) < budget
    assert [r.text for r in kept[:len(recorded)]] == [r.text for r in recorded]  # nothing recorded was lost
    assert all(r.status == "ok" for r in kept)  # no trial stopped by the signal recorded as a failure
    print(f"\n{signal.Signals(signum).name} to the {'group' if group else 'driver'}: stopped in {took:.1f} s "
          f"with {len(kept)} recorded and {len(stopped.inflight)} in flight")

    resumed = _search(tmp_path, "sig", budget, "--resume")
    code, err = _finish(resumed, timeout=300)
    assert code == 0, err[-3000:]
    after = _stored(tmp_path, "sig")
    results = after.results()
    assert after.state == "finished" and after.inflight == [] and len(results) == budget
    assert len({r.fingerprint for r in results}) == budget  # every candidate once
    assert [r.text for r in results[:len(kept)]] == [r.text for r in kept]
