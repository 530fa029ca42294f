"""What went wrong in the results store, in one line, and when to try again.

Errors from SQLAlchemy, Optuna and the database drivers arrive wrapped in each
other; :func:`cause` digs out the driver's words and names the cause users can act
on (a full disk, a damaged file, a lost server).  :func:`retrying` runs one store
operation, tries again while the cause may pass (a database server that went away
and may come back) and turns what is left into a :class:`StoreError`.

Example:
    >>> import sqlite3
    >>> cause(sqlite3.OperationalError("database or disk is full"))
    ('full', 'the disk holding the store is full (OperationalError: database or disk is full)')
"""

from __future__ import annotations

import errno
import time
from typing import Callable, TypeVar

from .url import masked, scrub
from ..errors import StoreError

__all__ = ["cause", "retrying", "store_error", "RETRY_SECONDS"]

T = TypeVar("T")

#: how long an operation is retried while the database server is unreachable
RETRY_SECONDS = 30.0
#: first pause between tries; it doubles up to _MAX_PAUSE
_FIRST_PAUSE, _MAX_PAUSE = 0.5, 5.0

_KINDS = (
    # (kind, what the user is told, phrases of the driver's message), first match wins
    ("full", "the disk holding the store is full", ("database or disk is full", "no space left on device",
                                                    "disk full", "could not extend file")),
    ("damaged", "the database file is damaged", ("database disk image is malformed", "file is not a database",
                                                 "malformed database schema", "file is encrypted")),
    ("readonly", "the store cannot be written here", ("attempt to write a readonly database",
                                                      "readonly database", "read-only file system")),
    ("locked", "another process kept the store locked", ("database is locked", "database table is locked")),
    ("io", "the disk reported an input/output error", ("disk i/o error",)),
    ("lost", "the database server cannot be reached", (
        "connection refused", "server closed the connection", "terminating connection", "connection is closed",
        "could not connect", "connection failed", "the database system is shutting down",
        "the database system is starting up", "the database system is in recovery mode", "connection reset",
        "connection timed out", "broken pipe", "ssl connection has been closed", "consuming input failed",
        "lost connection", "gone away", "no route to host", "name or service not known")),
    ("missing", "the database file cannot be opened", ("unable to open database file",)),
)

#: causes that may pass on their own: worth trying the operation again
TRANSIENT = frozenset({"lost"})


def _chain(exc: BaseException):
    """``exc`` and what it wraps: SQLAlchemy's ``orig``, ``__cause__``, ``__context__``."""
    seen = set()
    todo = [exc]
    while todo:
        e = todo.pop(0)
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo += [getattr(e, "orig", None), e.__cause__, e.__context__]


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0]


def cause(exc: BaseException, url: str | None = None) -> tuple[str, str]:
    """``(kind, one line)`` for an error raised by the store's machinery; the line
    ends with the driver's own words, the URL's password masked."""
    chain = list(_chain(exc))
    # the innermost driver error says most; Optuna's and SQLAlchemy's wrappers add boilerplate
    driver = next((e for e in reversed(chain) if type(e).__module__.split(".")[0] in
                   ("sqlite3", "psycopg", "psycopg2", "pg8000", "pymysql", "MySQLdb", "builtins")
                   and not isinstance(e, (KeyError, AssertionError))), None) or chain[-1]
    words = f"{type(driver).__name__}: {_first_line(driver)}" if _first_line(driver) else type(driver).__name__
    words = scrub(words, url)
    text = " ".join(_first_line(e).lower() for e in chain)
    for e in chain:
        if isinstance(e, OSError) and e.errno == errno.ENOSPC:
            return "full", f"the disk holding the store is full ({words})"
    if any(getattr(e, "connection_invalidated", False) for e in chain):
        return "lost", f"the database server cannot be reached ({words})"
    for kind, told, phrases in _KINDS:
        if any(p in text for p in phrases):
            return kind, f"{told} ({words})"
    return "other", words


def store_error(url: str, doing: str, exc: BaseException, waited: float = 0.0) -> StoreError:
    """The one-line :class:`StoreError` for ``exc`` raised while ``doing`` something
    (``"open"``: opening the store)."""
    if isinstance(exc, StoreError):
        return exc
    kind, why = cause(exc, url)
    if doing == "open":
        tail = ("; commands that only read it (leaderboard, show, export, report, config) work, writing needs a "
                "copy in a folder you can write" if kind == "readonly" else "")
        err = StoreError(f"cannot open results store {masked(url)}: {why}{tail}")
        err.kind = kind
        return err
    tail = {"full": "; free some space, then --resume continues",
            "damaged": "; copy what can be read with `sqlite3 FILE .recover`, or use another --storage",
            "lost": f" (tried for {waited:.0f} s); --resume continues once it is back" if waited else
                    "; --resume continues once it is back"}.get(kind, "")
    err = StoreError(f"results store {masked(url)}: {doing} failed: {why}{tail}")
    err.kind = kind
    return err


def retrying(url: str, doing: str, fn: Callable[[], T], *, retry_for: float | None = None) -> T:
    """``fn()``, tried again for up to ``retry_for`` seconds (default
    :data:`RETRY_SECONDS`) while the cause is transient; any failure left is a
    one-line :class:`StoreError`.  ``fn`` must be safe to repeat (Optuna's writes
    set values; they do not append)."""
    limit = RETRY_SECONDS if retry_for is None else retry_for
    start = time.monotonic()
    pause = _FIRST_PAUSE
    while True:
        try:
            return fn()
        except StoreError:
            raise
        except Exception as exc:  # noqa: BLE001 - every driver error becomes one line
            waited = time.monotonic() - start
            kind, _ = cause(exc, url)
            if kind not in TRANSIENT or waited + pause > limit:
                raise store_error(url, doing, exc, waited) from None
            time.sleep(pause)
            pause = min(_MAX_PAUSE, pause * 2)
