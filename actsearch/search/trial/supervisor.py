"""Trials in a process of their own, which the Ray worker can kill.

A Tune trial (:func:`actsearch.search.ray.trainable.trainable`) does not train in the Ray
worker: a :class:`Supervisor` there hands the :class:`~actsearch.search.trial.messages.TrialSpec`
to a long-lived child process (``python -m actsearch.search.trial.supervisor``, a fresh
interpreter: CUDA and Ray's threads do not survive a fork), forwards the child's
:class:`~actsearch.search.trial.messages.TrialProgress` reports to Tune, and returns the
child's :class:`~actsearch.result.Result`.  The child keeps its imports, compiled
kernels and the task's data from one trial to the next (Tune reuses the worker,
``reuse_actors=True``); it is replaced only when it was killed or died.

What ends a trial, and how it is recorded:

- the deadline (``trial_timeout``): the child is killed (SIGKILL to its process
  group), whatever it is doing (blocked in C, swallowing every exception); the trial
  is a ``timeout`` with the curves reported so far, and never retried;
- the child dies (``os._exit``, a segfault, the kernel's out-of-memory killer): an
  ``error`` naming the exit code or signal; the candidate did it, so it is a result,
  not a retry;
- the task raises anything, ``SystemExit`` and ``KeyboardInterrupt`` included: an
  ``error`` with the exception;
- Tune stops the trial (ASHA): the child is told to stop, and an exception raised in
  its training thread ends the trial within a batch; one still busy when the next
  trial comes is replaced after :data:`ABORT_GRACE` seconds.

Only the loss of the Ray worker itself (its node died, it was killed) is retried by
Tune (``max_failures``); its child notices that its parent is gone and exits.

Messages are typed objects over a socket pair (pickled: both ends are this module):
:class:`_Start` and :class:`_Abort` to the child; :class:`_Ready`, then a
:class:`_Report` of the trial's :class:`~actsearch.search.trial.messages.TrialProgress`,
its :class:`~actsearch.search.trial.messages.TrialEnded` or :class:`_Crashed` back.
Nothing here needs Ray.

Example::

    from actsearch.search import TrialSpec
    from actsearch.search.trial.supervisor import Supervisor
    with Supervisor() as sup:
        result, _ = sup.run(TrialSpec(text="x*tanh(x)", task="digits", epochs=1, trial_timeout=60))
"""

from __future__ import annotations

import atexit
import dataclasses
import os
import pickle
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from dataclasses import dataclass
from typing import Callable, Union

from . import evaluate
from .messages import TrialEnded, TrialProgress, TrialSpec

__all__ = ["Supervisor", "run_trial", "exit_reason", "START_LIMIT", "ABORT_GRACE", "HOME"]

#: the folder the Ray worker process started in (Tune may change into a trial's folder
#: later): the trial processes run here, where a cluster's shipped working_dir lies
HOME = os.getcwd()

#: seconds a child may take to start (it imports torch and actsearch; a busy node is slow)
START_LIMIT = 300.0
#: seconds a child still busy with a stopped trial gets before it is replaced (it stops
#: within a batch unless blocked in C or swallowing the exception)
ABORT_GRACE = 5.0
#: how often the child checks that its parent (the Ray worker) is alive
_WATCH_S = 0.5


class _Gone(Exception):
    """The child process ended; ``str()`` says how."""


# -- what the supervisor and its child say to each other -----------------------------
@dataclass(frozen=True)
class _Start:
    """Supervisor -> child: train ``spec`` as trial ``trial``."""

    trial: int
    spec: TrialSpec


@dataclass(frozen=True)
class _Abort:
    """Supervisor -> child: stop trial ``trial`` (Tune stopped it)."""

    trial: int


@dataclass(frozen=True)
class _Ready:
    """Child -> supervisor: started, imports done."""

    pid: int


@dataclass(frozen=True)
class _Crashed:
    """The trial ended without a result of its own: stopped, or the task raised past
    :func:`~actsearch.search.trial.evaluate.run_steps` (``SystemExit``, ``KeyboardInterrupt``)."""

    reason: str


@dataclass(frozen=True)
class _Report:
    """Child -> supervisor: what trial ``trial`` says."""

    trial: int
    message: Union[TrialProgress, TrialEnded, _Crashed]


#: what a broken pipe or a child that died mid-message raises on reading
_READ_ERRORS = (EOFError, OSError, pickle.UnpicklingError, ValueError)


def exit_reason(returncode: int | None) -> str:
    """What a child's exit status says, in words.

    Example:
        >>> exit_reason(3)
        'the task ended the worker process with exit code 3'
        >>> exit_reason(-9)
        'the worker process was killed by SIGKILL (the out-of-memory killer sends it)'
    """
    if returncode is None:
        return "the worker process stopped answering"
    if returncode >= 0:
        return f"the task ended the worker process with exit code {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = f"signal {-returncode}"
    hint = {"SIGKILL": " (the out-of-memory killer sends it)", "SIGSEGV": " (a segmentation fault)",
            "SIGABRT": " (an abort in native code)", "SIGBUS": " (a bus error)"}.get(name, "")
    return f"the worker process was killed by {name}{hint}"


class Supervisor:
    """Runs trials one at a time in a child process it may kill; see the module docstring.

    Args:
        cwd: the child's working folder (default: the current one).
    """

    def __init__(self, cwd: str | None = None):
        self.cwd = cwd or os.getcwd()
        self.proc: subprocess.Popen | None = None
        self.conn: Connection | None = None
        self.key: tuple | None = None
        self.trial = 0          # id of the last trial handed to the child
        self.busy = False       # the child still works on trial ``self.trial``
        self.starts = 0         # children started so far
        self.lock = threading.Lock()

    # -- the child -------------------------------------------------------------
    @staticmethod
    def _key() -> tuple:
        """What a child inherits at its start and cannot change afterwards."""
        return os.environ.get("CUDA_VISIBLE_DEVICES"), tuple(sys.path)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _start(self) -> None:
        self.close()
        mine, theirs = socket.socketpair()
        env = dict(os.environ)
        # the child sees what this process imports from (a cluster's working_dir, py_modules)
        env["PYTHONPATH"] = os.pathsep.join(p for p in dict.fromkeys(sys.path) if p)
        try:
            self.proc = subprocess.Popen([sys.executable, "-m", "actsearch.search.trial.supervisor", str(theirs.fileno())],
                                         pass_fds=(theirs.fileno(),), cwd=self.cwd, env=env,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            theirs.close()
        self.conn = Connection(mine.detach())
        self.key, self.busy = self._key(), False
        self.starts += 1
        msg = self._recv(time.monotonic() + START_LIMIT)  # _Gone if it died while starting
        if msg is None:
            self.kill()
            raise _Gone(f"the worker process did not start within {START_LIMIT:g} s")

    def _send(self, msg: _Start | _Abort) -> None:
        with self.lock:
            self.conn.send(msg)

    def _recv(self, deadline: float | None) -> _Ready | _Report | None:
        """The child's next message; ``None`` at ``deadline``; :class:`_Gone` if it died."""
        while True:
            wait = 0.5 if deadline is None else min(0.5, deadline - time.monotonic())
            if wait <= 0:
                return None
            try:
                if self.conn.poll(wait):
                    return self.conn.recv()
            except _READ_ERRORS:
                pass  # it died (mid-message, maybe): say how below
            else:
                if self.proc.poll() is None:
                    continue
            try:
                code = self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                code = None
            self.kill()
            raise _Gone(exit_reason(code))

    def kill(self) -> None:
        """Kill the child and everything it started (its process group)."""
        proc, self.proc = self.proc, None
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        self.busy = False
        if proc is None:
            return
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    close = kill

    def __enter__(self) -> "Supervisor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _settle(self) -> None:
        """Wait briefly for a child still busy with a stopped trial; replace it if it does not stop."""
        if not self.busy or not self.alive():
            return
        deadline = time.monotonic() + ABORT_GRACE
        try:
            while True:
                msg = self._recv(deadline)
                if msg is None:
                    self.kill()
                    return
                if (isinstance(msg, _Report) and msg.trial == self.trial
                        and isinstance(msg.message, (TrialEnded, _Crashed))):
                    self.busy = False
                    return
        except _Gone:
            return

    # -- a trial ---------------------------------------------------------------
    def run(self, spec: TrialSpec, report: Callable[[TrialProgress], None] | None = None):
        """Train ``spec`` in the child: ``(Result, env_error)``, where ``env_error``
        says why no trial can run there (``""`` if one can: see
        :func:`~actsearch.search.trial.evaluate.run_steps`)."""
        t0 = time.monotonic()
        self._settle()
        if not self.alive() or self.key != self._key():
            # a child killed while it starts (from outside, or by the out-of-memory killer)
            # says nothing about this worker: only a second failure does
            for attempt in (1, 2):
                try:
                    self._start()
                    break
                except _Gone as gone:
                    if attempt == 2:
                        reason = f"the trial's process could not start: {gone}"
                        return evaluate.failed_result(spec, "error", reason, elapsed=time.monotonic() - t0), reason
        self.trial += 1
        tid = self.trial
        start = time.monotonic()
        deadline = start + spec.trial_timeout if spec.trial_timeout else None
        last: TrialProgress | None = None
        try:
            self.busy = True
            try:
                self._send(_Start(tid, dataclasses.replace(spec, trial_timeout=None)))
            except OSError:
                pass  # it died: the first _recv says how
            while True:
                try:
                    msg = self._recv(deadline)
                except _Gone as gone:
                    return evaluate.failed_result(spec, "error", str(gone), last, time.monotonic() - start), ""
                if msg is None:
                    self.kill()
                    message = evaluate.timeout_message(spec) + " (its process was stopped)"
                    return evaluate.failed_result(spec, "timeout", message, last, time.monotonic() - start), ""
                if not isinstance(msg, _Report) or msg.trial != tid:
                    continue  # a stopped trial's last words
                said = msg.message
                if isinstance(said, TrialProgress):
                    last = said
                    if report is not None:
                        report(last)
                    continue
                self.busy = False
                if isinstance(said, TrialEnded):
                    return said.result, said.env_error
                return evaluate.failed_result(spec, "error", said.reason, last, time.monotonic() - start), ""
        except BaseException:
            # Tune stopped the trial (SystemExit out of tune.report) or the worker is going
            if self.busy and self.alive():
                try:
                    self._send(_Abort(tid))
                except OSError:
                    self.kill()
            raise


_SUPERVISOR: Supervisor | None = None


def run_trial(spec: TrialSpec, report: Callable[[TrialProgress], None] | None = None):
    """:meth:`Supervisor.run` on this process's supervisor (one per Ray worker, its
    child kept between trials)."""
    global _SUPERVISOR
    if _SUPERVISOR is None:
        _SUPERVISOR = Supervisor(cwd=HOME)
        atexit.register(_SUPERVISOR.close)
    return _SUPERVISOR.run(spec, report)


# -- the child process ---------------------------------------------------------------
def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(_WATCH_S)
        if os.getppid() != parent:  # the Ray worker is gone: nobody waits for this trial
            os._exit(1)


def _child(fd: int) -> None:
    conn = Connection(fd)
    lock = threading.Lock()

    def send(msg: _Ready | _Report) -> None:
        with lock:
            conn.send(msg)

    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    evaluate.preload()  # once per child, before it says it is ready: no trial's time limit pays for it

    starts: queue.Queue = queue.Queue()
    current = {"trial": None, "stop": None}  # the trial training now, and how to stop it
    guard = threading.Lock()

    def read() -> None:
        while True:
            try:
                msg = conn.recv()
            except _READ_ERRORS:
                os._exit(0)  # the supervisor closed the pipe
            if isinstance(msg, _Abort):
                with guard:
                    if current["trial"] == msg.trial:
                        current["stop"].fire()  # lands in the next batch's Python code
            else:
                starts.put(msg)

    threading.Thread(target=read, daemon=True).start()
    send(_Ready(os.getpid()))
    while True:
        start: _Start = starts.get()
        tid = start.trial
        stop = evaluate.AsyncRaise(evaluate.TrialStopped)
        with guard:
            current.update(trial=tid, stop=stop)
        try:
            with stop:
                result, env_error = evaluate.run_steps(start.spec, lambda p: send(_Report(tid, p)))
            reply = _Report(tid, TrialEnded(result, env_error))
        except evaluate.TrialStopped:
            reply = _Report(tid, _Crashed("stopped"))
        except BaseException as exc:  # noqa: BLE001 - SystemExit, KeyboardInterrupt: the task's, a result
            reply = _Report(tid, _Crashed(f"the task raised {evaluate.failure_message(exc)}"))
        with guard:
            current.update(trial=None, stop=None)
        send(reply)


if __name__ == "__main__":
    # run the child from the module imported by its name, not as __main__: the messages
    # it pickles name their classes by module, and the supervisor knows this one by name
    from actsearch.search.trial.supervisor import _child as child

    child(int(sys.argv[1]))
