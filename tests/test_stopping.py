"""Stop requests from SIGINT and SIGTERM (actsearch.stopping): kept at once, raised where
they can land, never swallowed, and a deadline for code that cannot stop in time.

These send signals to this process (the main thread of pytest) inside
``handling_signals``, which restores pytest's handlers afterwards; the deadline, which
ends its process, runs in a process of its own."""

from __future__ import annotations

import gc
import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
import weakref

import pytest

from actsearch import stopping


def _wait_for(flag, seconds=5.0):
    deadline = time.monotonic() + seconds
    while not flag() and time.monotonic() < deadline:
        time.sleep(0.01)


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_either_signal_raises_keyboard_interrupt_and_names_itself(signum, code):
    before = {s: signal.getsignal(s) for s in stopping.SIGNALS}
    with pytest.raises(KeyboardInterrupt):
        with stopping.handling_signals():
            os.kill(os.getpid(), signum)
            for _ in range(500):
                time.sleep(0.01)
    assert stopping.requested() == signal.Signals(signum).name and stopping.exit_code() == code
    assert {s: signal.getsignal(s) for s in stopping.SIGNALS} == before  # pytest's handlers are back
    with stopping.handling_signals():  # a new outermost block starts with no request
        assert stopping.requested() is None and stopping.exit_code() == 130


def test_after_ask_only_the_first_signal_asks_and_the_second_raises():
    with stopping.handling_signals():
        stopping.ask_only()
        os.kill(os.getpid(), signal.SIGTERM)
        _wait_for(lambda: stopping.requested())
        time.sleep(0.05)  # the main thread's handler has run: it did not raise
        assert stopping.requested() == "SIGTERM"
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(500):
                time.sleep(0.01)
    assert stopping.exit_code() == 143  # the first signal counts


def test_an_inner_block_restores_raising_when_it_ends():
    with stopping.handling_signals():
        with stopping.handling_signals():
            stopping.ask_only()
        with pytest.raises(KeyboardInterrupt):  # the outer block raises again
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(500):
                time.sleep(0.01)


def test_a_keyboard_interrupt_landing_in_a_weakref_callback_is_delivered_again(capfd):
    """Python prints and drops an exception raised in a weakref callback or finaliser
    ("Exception ignored in ..."): the Ctrl-C the issue saw swallowed."""
    class Owner:
        pass

    def callback(ref):
        os.kill(os.getpid(), signal.SIGINT)  # handled while the callback still runs
        for _ in range(1000):
            pass

    ran_on = False
    with pytest.raises(KeyboardInterrupt):
        with stopping.handling_signals():
            owner = Owner()
            ref = weakref.ref(owner, callback)  # noqa: F841 - the callback needs it alive
            del owner
            gc.collect()
            for _ in range(300):
                time.sleep(0.01)
            ran_on = True
    assert not ran_on
    err = capfd.readouterr().err
    assert "Exception ignored" not in err and "Traceback" not in err, err


def test_the_request_is_kept_while_the_main_thread_waits_in_c():
    """A thread hears the signal while the main thread runs a long C call (the GIL
    released, no Python handler can run): a search's loop sees the request in time."""
    seen, calls = {}, []

    def send_and_watch():
        time.sleep(0.2)
        seen["sent"] = time.monotonic()
        os.kill(os.getpid(), signal.SIGTERM)
        _wait_for(lambda: stopping.requested(), 10)
        seen["at"] = time.monotonic()

    with stopping.handling_signals():
        stopping.ask_only()
        watcher = threading.Thread(target=send_and_watch)
        watcher.start()
        while "at" not in seen and len(calls) < 20:
            began = time.monotonic()
            hashlib.pbkdf2_hmac("sha256", b"x", b"salt", 3_000_000)  # C (about 0.5 s), the GIL released
            calls.append((began, time.monotonic()))
        watcher.join()
    # the C call running when the signal came: the request was seen before it returned
    during = [end for began, end in calls if began <= seen["sent"] <= end]
    assert during and seen["at"] < during[0] and stopping.requested() == "SIGTERM"


def test_a_signal_the_process_was_told_to_ignore_stays_ignored():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with stopping.handling_signals():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


_STUCK = """
import os, signal, sys, time
from actsearch import stopping
stopping.STOP_GRACE = 0.5
with stopping.handling_signals():
    stopping.ask_only(on_stuck=lambda: "bookkeeping done from the side")
    print("ready", flush=True)
    while True:          # a loop that never looks at the request (Ray gone under it)
        time.sleep(0.05)
"""


@pytest.mark.subprocess
def test_code_that_cannot_stop_within_the_grace_after_sigterm_is_ended_from_the_side():
    proc = subprocess.Popen([sys.executable, "-c", _STUCK], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    os.kill(proc.pid, signal.SIGTERM)
    started = time.monotonic()
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143 and time.monotonic() - started < 10
    assert err.strip() == "actsearch: interrupted (SIGTERM): bookkeeping done from the side"


@pytest.mark.subprocess
def test_sigint_has_no_deadline():
    """Ctrl-C in a notebook must not end the kernel: only SIGTERM's deadline exits."""
    proc = subprocess.Popen([sys.executable, "-c", _STUCK], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        os.kill(proc.pid, signal.SIGINT)
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=2)
    finally:
        proc.kill()
        proc.wait()


_THROUGH_C = """
import ctypes, sys
from actsearch import cli

def _parser_interrupted_inside_c():
    # Ray's _raylet runs Python source with PyRun_String while it starts: a signal landing there
    run = ctypes.pythonapi.PyRun_String
    run.restype, run.argtypes = ctypes.py_object, [ctypes.c_char_p, ctypes.c_int, ctypes.py_object, ctypes.py_object]
    run(b"import os, signal, time\\nos.kill(os.getpid(), signal.SIGTERM)\\nwhile True: time.sleep(0.01)", 257, {}, {})

cli.build_parser = _parser_interrupted_inside_c
sys.exit(cli.main(["spaces"]))
"""


@pytest.mark.subprocess
def test_a_stop_that_passed_through_c_keeps_the_commands_exit_code(tmp_path):
    """``python -m`` would otherwise end the process by SIGINT (exit -2) after the command said its line."""
    (tmp_path / "through_c.py").write_text(_THROUGH_C)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-m", "through_c"], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 143, (proc.returncode, proc.stderr[-2000:])
    assert proc.stderr.strip() == "actsearch: interrupted (SIGTERM)"
