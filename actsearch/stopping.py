"""Stopping on a signal: SIGINT (Ctrl-C) and SIGTERM (``timeout``, schedulers, ``docker stop``) alike.

While :func:`handling_signals` holds (the ``actsearch`` command for its whole run,
:func:`~actsearch.search.run_search` for a search started from Python), either
signal is a *stop request* that cannot be lost:

* the request is kept at once (:func:`requested`), by a thread that hears the
  signal even while the main thread waits inside a C library; whatever runs checks
  it at its next step, even where the exception below was swallowed: a search's
  trial loop hands out nothing more and stops its trials, which stay in flight for
  ``--resume``;
* then :class:`KeyboardInterrupt` is raised in the main thread (imports, Ray's
  start-up, a wait on the store), except after :func:`ask_only` (a search, from its
  trial loop to its last record), where the first signal only asks and a second
  one raises;
* a :class:`KeyboardInterrupt` that Python could not raise because it landed in a
  finaliser or a weakref callback ("Exception ignored in ...") is not printed but
  delivered again, where it can land;
* SIGTERM comes with a deadline: ``timeout`` and batch schedulers signal the whole
  process group, Ray's own processes die with the driver's, and the trial loop can
  wait on them in vain.  When the code that asked (:func:`ask_only`) has not ended
  :data:`STOP_GRACE` seconds after a SIGTERM, its ``on_stuck`` (the search's last
  bookkeeping) runs on the watching thread, one line is printed and the process exits.

The command's exit code is then 128 + the signal's number (:func:`exit_code`: 130
for Ctrl-C, 143 for SIGTERM).

Example:
    >>> import os, signal
    >>> with handling_signals():
    ...     ask_only()
    ...     os.kill(os.getpid(), signal.SIGTERM)   # asks; nothing is raised here
    ...     stop = requested()
    >>> stop, exit_code()
    ('SIGTERM', 143)
"""

from __future__ import annotations

import _thread
import contextlib
import os
import signal
import socket
import sys
import threading
from typing import Callable

__all__ = ["handling_signals", "ask_only", "requested", "exit_code", "check", "request", "reclaim", "answered", "SIGNALS",
           "STOP_GRACE"]

#: the signals that ask a command to stop
SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: seconds a search has after a SIGTERM to end in order before it is ended from the side
STOP_GRACE = 8.0


class _State:
    signum: int | None = None  # the first signal that asked to stop
    handled = 0                # signals the main thread's handler has seen
    depth = 0                  # nesting of handling_signals
    asking = False             # after ask_only: the first signal only asks
    on_stuck: Callable[[], str] | None = None  # the asker's last bookkeeping; returns what to say
    period = 0                 # one number per asking code, so a late deadline finds it gone
    generation = 0             # one number per outermost block, so a late watcher finds it gone
    redeliver = False          # a KeyboardInterrupt was swallowed: raise it again
    ignored: frozenset = frozenset()  # signals this process was told to ignore (a shell's background job)


_state = _State()


def requested() -> str | None:
    """The name of the signal that asked to stop (``"SIGINT"``, ``"SIGTERM"``), or ``None``."""
    return None if _state.signum is None else signal.Signals(_state.signum).name


def exit_code(default: int = 130) -> int:
    """128 + the number of the signal that asked to stop (``default`` when none did)."""
    return default if _state.signum is None else 128 + _state.signum


def request(signum: int = signal.SIGINT) -> None:
    """Record a stop request as if signal ``signum`` had arrived (the first one counts)."""
    if _state.signum is None:
        _state.signum = int(signum)
        _arm()


def answered() -> None:
    """The command has answered the stop itself (one line, its exit code): keep CPython
    from answering it again.  A :class:`KeyboardInterrupt` that passed through Python
    source run from C (Ray's ``_raylet`` runs ``PyRun_String`` while it starts) sets an
    interpreter flag with which ``python -m`` ends the process by SIGINT at exit, even
    though the exception was caught; every ``PyRun_String`` that ends normally clears it."""
    try:
        import ctypes

        run = ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.c_char_p, ctypes.c_int, ctypes.py_object,
                                ctypes.py_object)(("PyRun_String", ctypes.pythonapi))
    except (ImportError, AttributeError):  # not CPython: no such flag
        return
    try:
        run(b"", 257, {}, {})  # 257: Py_file_input
    except KeyboardInterrupt:  # one more signal as the command ends: the stop is answered already
        pass


def _arm() -> None:
    """Start the deadline of a SIGTERM for the code that asked (see the module docstring)."""
    if _state.signum == signal.SIGTERM and _state.on_stuck is not None:
        timer = threading.Timer(STOP_GRACE, _deadline, args=(_state.period,))
        timer.daemon = True
        timer.start()


def check() -> None:
    """Raise :class:`KeyboardInterrupt` when a stop was requested (its exception may have been swallowed)."""
    if _state.signum is not None:
        raise KeyboardInterrupt


def ask_only(on_stuck: Callable[[], str] | None = None) -> None:
    """Until the innermost :func:`handling_signals` block ends, a first signal only
    records the request (the code running checks :func:`requested` and ends in
    order); a second one raises :class:`KeyboardInterrupt`.  ``on_stuck`` runs when
    that code has not ended :data:`STOP_GRACE` s after a SIGTERM (the process then
    exits); it returns the line to print.  Outside a block (or off the main thread,
    where a block does nothing) it does nothing: no handler of ours would hear the signal."""
    if _state.depth == 0 or threading.current_thread() is not threading.main_thread():
        return
    _state.asking, _state.on_stuck = True, on_stuck
    _arm()  # a SIGTERM that came just before


def _deadline(period: int) -> None:
    if period != _state.period or _state.on_stuck is None:
        return  # it ended in order
    try:
        said = _state.on_stuck()
    except BaseException as exc:  # noqa: BLE001 - the exit below must happen
        said = f"could not record the stop ({type(exc).__name__}: {exc})"
    print(f"actsearch: interrupted ({requested()}): {said}", file=sys.stderr, flush=True)
    os._exit(exit_code())


def _handle(signum, frame) -> None:
    if _state.redeliver:  # a swallowed KeyboardInterrupt, delivered again
        _state.redeliver = False
        if not _state.asking:
            raise KeyboardInterrupt
        return
    request(signum)
    _state.handled += 1
    if _state.asking and _state.handled == 1:
        return  # the code running sees the request and ends in order
    raise KeyboardInterrupt


def _watch(sock: socket.socket, generation: int) -> None:
    # Python writes each caught signal's number here from its C handler, at once,
    # while the main thread's Python handler waits for the main thread to run Python
    while True:
        try:
            data = sock.recv(64)
        except OSError:
            return
        if not data or generation != _state.generation:
            return  # its block ended: what is left belongs to nobody
        for signum in data:
            if signum in SIGNALS:
                request(signum)


def _unraisable(previous):
    def hook(info) -> None:
        if isinstance(info.exc_value, KeyboardInterrupt) and _state.signum is not None:
            # raised by _handle inside a finaliser, where Python can only print and drop it:
            # again from another thread, so that it lands once the finaliser has returned
            _state.redeliver = True
            timer = threading.Timer(0.01, _redeliver)
            timer.daemon = True
            timer.start()
            return
        previous(info)

    return hook


def _redeliver() -> None:
    if _state.redeliver and _state.depth:  # still handled by us: _handle raises it
        _thread.interrupt_main(signal.SIGINT)


def _install() -> None:
    for signum in SIGNALS:
        if signum not in _state.ignored:
            signal.signal(signum, _handle)


def reclaim() -> None:
    """Take the signals back after a library set handlers of its own (``ray.init`` sets SIGTERM's)."""
    if _state.depth and threading.current_thread() is threading.main_thread():
        _install()


@contextlib.contextmanager
def _watcher():
    ours, theirs = socket.socketpair()
    theirs.setblocking(False)
    try:
        previous = signal.set_wakeup_fd(theirs.fileno(), warn_on_full_buffer=False)
    except ValueError:  # not the main thread of the main interpreter
        ours.close()
        theirs.close()
        yield
        return
    watcher = threading.Thread(target=_watch, args=(ours, _state.generation), name="actsearch-signals",
                               daemon=True)
    watcher.start()
    try:
        yield
    finally:
        signal.set_wakeup_fd(previous)
        _state.generation += 1
        theirs.close()  # the watching thread then reads the end and returns
        watcher.join(timeout=1)
        ours.close()


@contextlib.contextmanager
def handling_signals():
    """SIGINT and SIGTERM as stop requests while the block runs (see the module docstring);
    the handlers before it are restored afterwards.  A signal the process was started
    ignoring (a shell's background job ignores SIGINT) stays ignored.  Outside the
    main thread (where Python cannot set handlers) it does nothing.  The outermost
    block starts with no request."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {signum: signal.getsignal(signum) for signum in SIGNALS}
    hook, asking, on_stuck = sys.unraisablehook, _state.asking, _state.on_stuck
    outer = _state.depth == 0
    with contextlib.ExitStack() as stack:
        if outer:
            _state.signum, _state.handled, _state.redeliver = None, 0, False
            _state.ignored = frozenset(signum for signum, handler in saved.items() if handler is signal.SIG_IGN)
            sys.unraisablehook = _unraisable(hook)
            stack.enter_context(_watcher())
        _state.depth += 1
        _install()
        try:
            yield
        finally:
            _state.depth -= 1
            _state.period += 1
            _state.asking, _state.on_stuck = asking, on_stuck
            for signum, handler in saved.items():
                signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
            if outer:
                sys.unraisablehook = hook
                _state.redeliver = False
