"""One driver per search: a lease with a heartbeat, kept in the store itself.

The table ``actsearch_leases`` (beside Optuna's) holds one row per search that a
driver runs: who (host, pid, a random owner id), since when, and the last
heartbeat.  Taking a lease is one conditional statement whose row count decides,
so two drivers can never both win, in SQLite or PostgreSQL:

1. ``UPDATE ... WHERE search = :name AND (beat < now - ttl OR owner = :me)``:
   take over a lease whose holder stopped beating (a driver killed hard);
2. otherwise ``INSERT``: the primary key lets one of two racing drivers in.

Times are the database server's clock, so drivers on several machines agree on
when a lease expired.  The holder renews it every ``ttl / 3`` seconds from a
daemon thread and deletes the row when done; a driver that died leaves a row
that expires ``ttl`` seconds (default 30, ``ACTSEARCH_LEASE_SECONDS``) after its
last heartbeat, or at once for a driver on this machine whose process is gone
(same host name and PID namespace, and its pid no longer alive).

Example:
    >>> import os, tempfile
    >>> from actsearch.store import Store
    >>> store = Store("sqlite:///" + os.path.join(tempfile.mkdtemp(), "db.sqlite"))
    >>> lease = store.lease("demo")
    >>> store.lease("demo")
    Traceback (most recent call last):
    ...
    actsearch.errors.StoreError: search 'demo' is being run by another driver ...
    >>> lease.release()
    >>> store.lease("demo").release()
"""

from __future__ import annotations

import datetime as _dt
import os
import random
import socket
import threading
import time
import uuid
import weakref

from .._process import ended
from ..errors import StoreError

__all__ = ["Lease", "lease_seconds", "holder", "abandoned", "TABLE"]

TABLE = "actsearch_leases"
#: the columns naming a lease's holder, set from the bound parameters of Lease.acquire
_HOLDER = "owner = :o, host = :h, node = :d, pid = :p, since = :s"
#: owners of the leases this process holds: a row of this pid with another owner is
#: one whose release failed (a full disk), no longer anybody's
_LIVE: set[str] = set()
_DEFAULT_TTL = 30.0

# the database's clock in seconds since 1970, per SQLAlchemy dialect name
_NOW = {
    "sqlite": "((julianday('now') - 2440587.5) * 86400.0)",
    "postgresql": "EXTRACT(EPOCH FROM clock_timestamp())",
    "mysql": "UNIX_TIMESTAMP(NOW(6))",
}


def lease_seconds() -> float:
    """How long a lease outlives its last heartbeat (``ACTSEARCH_LEASE_SECONDS``, default 30)."""
    try:
        return max(1.0, float(os.environ.get("ACTSEARCH_LEASE_SECONDS", _DEFAULT_TTL)))
    except ValueError:
        return _DEFAULT_TTL


def _now(engine) -> str:
    try:
        return _NOW[engine.dialect.name]
    except KeyError:
        raise StoreError(f"leases are not supported on {engine.dialect.name} stores") from None


#: how long a lease statement retries SQLite's at-once "database is locked"
_LOCKED_RETRY_SECONDS = 30.0
#: a "database is locked" sooner than this came at once, not after the busy timeout
_QUICK_LOCKED = 1.0


def _write(engine, statement: str, params: dict | None = None) -> int:
    """Run one writing ``statement`` in its own transaction; its row count.

    SQLite in WAL mode can answer "database is locked" at once, without waiting
    out the busy timeout (a transaction that began by reading must write after
    another connection committed: its snapshot is stale); a fresh transaction
    succeeds, so such a quick answer is retried for a while.  One that came after
    the busy timeout is a store held locked: raised, as the store's other writes do."""
    import sqlalchemy as sa

    deadline = time.monotonic() + _LOCKED_RETRY_SECONDS
    while True:
        began = time.monotonic()
        try:
            with engine.begin() as conn:
                return conn.execute(sa.text(statement), params or {}).rowcount
        except sa.exc.OperationalError as exc:
            quick = time.monotonic() - began < _QUICK_LOCKED
            if engine.dialect.name != "sqlite" or "locked" not in str(exc.orig) or not quick \
                    or time.monotonic() > deadline:
                raise
        time.sleep(random.uniform(0.005, 0.05))


def ensure_table(engine) -> None:
    import sqlalchemy as sa

    try:
        _create_table(engine)
    except sa.exc.DBAPIError:
        # PostgreSQL's IF NOT EXISTS is not safe against a racing creator (a duplicate
        # pg_type row): the race's loser finds the winner's table
        if TABLE not in sa.inspect(engine).get_table_names():
            raise


def _create_table(engine) -> None:
    _write(engine,
           f"CREATE TABLE IF NOT EXISTS {TABLE} (search VARCHAR(512) PRIMARY KEY, owner VARCHAR(64) NOT NULL, "
           "host VARCHAR(255) NOT NULL, node VARCHAR(300) NOT NULL, pid INTEGER NOT NULL, "
           "since VARCHAR(40) NOT NULL, beat DOUBLE PRECISION NOT NULL)")


def _node() -> str:
    """This machine and PID namespace: where a lease's pid means the same process."""
    try:
        ns = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        ns = 0
    return f"{socket.gethostname()}/{ns}"


def abandoned(row: dict, node: str | None = None) -> bool:
    """A lease row (:func:`holder`) left by a process of this machine (``node``,
    default this one) that has ended, or by this process after its release failed."""
    node = _node() if node is None else node
    if row["node"] != node:
        return False  # another machine: only expiry tells
    pid = int(row["pid"])
    return ended(pid) or (pid == os.getpid() and row["owner"] not in _LIVE)


def holder(engine, name: str) -> dict | None:
    """The lease row of search ``name`` with ``age`` (seconds since its last
    heartbeat), or ``None`` when nobody holds it."""
    import sqlalchemy as sa

    if TABLE not in sa.inspect(engine).get_table_names():
        return None
    with engine.connect() as conn:
        row = conn.execute(sa.text(f"SELECT owner, host, node, pid, since, {_now(engine)} - beat AS age FROM {TABLE} "
                                   "WHERE search = :n"), {"n": name}).mappings().first()
    return dict(row) if row else None


def busy_message(name: str, row: dict, ttl: float) -> str:
    """Why a second driver is refused, in one line."""
    age = max(0.0, float(row["age"]))
    left = max(0.0, ttl - age)
    return (f"search {name!r} is being run by another driver (host {row['host']}, pid {row['pid']}, since "
            f"{row['since']}; last heartbeat {age:.0f} s ago); wait for it to end. If it died, its lease "
            f"expires {ttl:.0f} s after its last heartbeat: retry in {left:.0f} s")


class Lease:
    """The right to drive search ``name``; see the module docstring.  Take one with
    :meth:`actsearch.store.Store.lease`; :meth:`release` gives it back."""

    def __init__(self, engine, name: str, ttl: float | None = None):
        self.engine, self.name = engine, name
        self.ttl = lease_seconds() if ttl is None else float(ttl)
        self.owner = uuid.uuid4().hex
        self.host, self.pid = socket.gethostname(), os.getpid()
        self.since = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        self.lost = False
        #: taken over from a driver that stopped beating (killed): it may have left work half-done
        self.took_over = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # a lease whose holder forgot it (an exception path) is given back when collected
        self._finalizer = weakref.finalize(self, _give_back_collected, engine, name, self.owner, self._stop)

    # -- taking ---------------------------------------------------------------------
    def acquire(self) -> "Lease":
        """Take the lease or raise :class:`StoreError` naming its holder; start the heartbeat."""
        import sqlalchemy as sa

        ensure_table(self.engine)
        _LIVE.add(self.owner)  # before the row exists: a racing thread of this process must see it alive
        params = {"n": self.name, "o": self.owner, "h": self.host, "d": _node(), "p": self.pid, "s": self.since,
                  "ttl": self.ttl}
        now = _now(self.engine)
        taken = _write(self.engine, f"UPDATE {TABLE} SET {_HOLDER}, beat = {now} "
                                    f"WHERE search = :n AND (beat < {now} - :ttl OR owner = :o)", params) == 1
        self.took_over = taken
        if not taken:
            try:
                _write(self.engine, f"INSERT INTO {TABLE} (search, owner, host, node, pid, since, beat) "
                                    f"VALUES (:n, :o, :h, :d, :p, :s, {now})", params)
            except sa.exc.IntegrityError:
                row = holder(self.engine, self.name)
                if row is None:
                    return self.acquire()  # released between our two statements: try again
                if not (abandoned(row, params["d"]) and self._take(row["owner"], params)):
                    _LIVE.discard(self.owner)
                    self._finalizer.detach()  # a refused lease has no row to give back
                    raise StoreError(busy_message(self.name, row, self.ttl)) from None
        self._thread = threading.Thread(target=_beat, args=(weakref.ref(self), self._stop, self.ttl / 3),
                                        name=f"actsearch-lease-{self.name}", daemon=True)
        self._thread.start()
        return self

    def _take(self, dead: str, params: dict) -> bool:
        """Take the lease over from owner ``dead``, a process of this machine that has
        ended; the condition on its owner id lets only one of several takers win."""

        n = _write(self.engine, f"UPDATE {TABLE} SET {_HOLDER}, beat = {_now(self.engine)} "
                                "WHERE search = :n AND owner = :dead", {**params, "dead": dead})
        self.took_over = n == 1
        return self.took_over

    def renew(self) -> bool:
        """One heartbeat; ``False`` (and :attr:`lost`) when another driver took the lease over."""

        n = _write(self.engine, f"UPDATE {TABLE} SET beat = {_now(self.engine)} WHERE search = :n AND owner = :o",
                   {"n": self.name, "o": self.owner})
        self.lost = n != 1
        return not self.lost

    def check(self) -> None:
        """Raise :class:`StoreError` when the lease was lost (this driver stalled past
        its expiry and another one took the search over): writing on would double it."""
        if self.lost:
            raise StoreError(f"search {self.name!r} was taken over by another driver after this one missed its "
                             f"heartbeats for {self.ttl:.0f} s; stopping so that only one writes")

    def release(self) -> None:
        """Stop the heartbeat and delete the row (idempotent; errors are ignored:
        an undeleted row expires by itself)."""
        if self._finalizer.detach() is not None:  # not given back yet
            _give_back(self.engine, self.name, self.owner, self._stop)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def __enter__(self) -> "Lease":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _beat(ref, stop: threading.Event, every: float) -> None:
    # holds the lease weakly, so a forgotten lease can be collected and given back
    while not stop.wait(every):
        lease = ref()
        if lease is None:
            return
        try:
            if not lease.renew():
                return
        except Exception:  # noqa: BLE001 - a server away for a moment: beat again next time
            pass
        finally:
            del lease


def _give_back(engine, name: str, owner: str, stop: threading.Event) -> None:
    """Stop the heartbeat and delete the row, waiting for the DELETE (a busy store
    gets its busy timeout: the row must be gone when ``release`` returns, or the
    next driver and ``actsearch delete`` would be refused until it expires)."""
    stop.set()
    _LIVE.discard(owner)
    _delete_row(engine, name, owner)


def _give_back_collected(engine, name: str, owner: str, stop: threading.Event) -> None:
    """:func:`_give_back` for a lease nobody released: collected, or left at exit."""
    stop.set()
    _LIVE.discard(owner)
    # The garbage collector runs wherever it likes, possibly inside this thread's own
    # SQLite write transaction, whose lock an inline DELETE would wait for until the
    # busy timeout: the DELETE runs on a thread of its own, waited for a little (a
    # blocked one finishes later).  At interpreter exit no thread can start (3.12):
    # inline then.
    try:
        deleter = threading.Thread(target=_delete_row, args=(engine, name, owner), name=f"actsearch-release-{name}",
                                   daemon=True)
        deleter.start()
    except RuntimeError:
        _delete_row(engine, name, owner)
        return
    deleter.join(timeout=2)


def _delete_row(engine, name: str, owner: str) -> None:
    try:
        _write(engine, f"DELETE FROM {TABLE} WHERE search = :n AND owner = :o", {"n": name, "o": owner})
    except Exception:  # noqa: BLE001 - the row then expires by itself
        pass
