"""Opening the results database: every check that must pass before Optuna touches it.

Optuna creates its tables in any database it is given and migrates one that
looks like an older Optuna store, so a foreign file is refused here first, read
through a connection that cannot write (the file's bytes stay as they were).  A
store is Optuna's when it holds Optuna's whole table set and a stamped alembic
version.  Writers get SQLite in WAL mode; readers (``readonly=True``) open SQLite
read-only and never create a database.

Example:
    >>> import os, tempfile
    >>> url = "sqlite:///" + os.path.join(tempfile.mkdtemp(), "db.sqlite")
    >>> storage = open_storage(url)          # a new store: Optuna creates its tables
    >>> reader = open_storage(url, readonly=True)
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time

from .errors import store_error
from .url import engine_url, masked, readonly_urls, sqlite_path
from ..errors import StoreError

__all__ = ["open_storage", "OPTUNA_TABLES"]

#: Optuna's tables (schema of Optuna 3 to 5); alembic_version holds its migration stamp
OPTUNA_TABLES = frozenset({
    "studies", "study_directions", "study_user_attributes", "study_system_attributes", "trials", "trial_params",
    "trial_values", "trial_intermediate_values", "trial_user_attributes", "trial_system_attributes",
    "trial_heartbeats", "version_info", "alembic_version"})
#: seconds a writer waits for another process's SQLite write lock before giving up
BUSY_TIMEOUT = 30.0


def _quiet_optuna():
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    return optuna


def _check_location(url: str, path: str, readonly: bool) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    if readonly:
        if not os.path.isfile(path):
            raise StoreError(f"no results store at {path!r}; run a search first or pass --storage URL")
        return
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise StoreError(f"cannot open results store {masked(url)}: {folder!r} is a file, not a folder")
    if not os.path.isdir(folder):
        # one missing level (results/) is created; a mistyped deep path is an error
        if not os.path.isdir(os.path.dirname(folder)):
            raise StoreError(f"cannot open results store {masked(url)}: folder {folder!r} does not exist")
        try:
            os.mkdir(folder)
        except OSError as exc:
            raise StoreError(f"cannot open results store {masked(url)}: {exc.strerror}: {folder!r}") from None
    if os.path.isdir(path):
        raise StoreError(f"cannot open results store {masked(url)}: {path!r} is a folder")


def _cannot_share(exc: sqlite3.Error) -> bool:
    """Whether a read-only connection failed only for want of the WAL's shared-memory
    file, which it may not create in this folder: "unable to open" before SQLite 3.22,
    SQLITE_READONLY_DIRECTORY ("attempt to write a readonly database") on 3.22 and later,
    SQLITE_READONLY_CANTINIT where the file exists but cannot be set up."""
    name = getattr(exc, "sqlite_errorname", "")
    if name in ("SQLITE_CANTOPEN", "SQLITE_READONLY_DIRECTORY", "SQLITE_READONLY_CANTINIT",
                "SQLITE_READONLY_RECOVERY", "SQLITE_READONLY"):
        return True
    text = str(exc)
    return "unable to open" in text or "readonly database" in text


def _tables_sqlite(path: str) -> tuple[set[str], bool]:
    # sqlite3 directly, read-only: SQLAlchemy's first connect may already run statements
    uri = "file:" + os.path.abspath(path).replace("?", "%3f").replace("#", "%23")
    for mode in ("mode=ro", "immutable=1"):
        try:
            con = sqlite3.connect(f"{uri}?{mode}", uri=True)
        except sqlite3.Error:
            continue
        try:
            names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            stamped = "alembic_version" in names and \
                con.execute("SELECT count(*) FROM alembic_version").fetchone()[0] > 0
            return names, stamped
        except sqlite3.OperationalError as exc:
            if mode == "mode=ro" and _cannot_share(exc):
                continue  # a WAL file in a folder we cannot write: read the main file alone
            raise
        finally:
            con.close()
    raise sqlite3.OperationalError("unable to open database file")


def _engine_kwargs(url: str) -> dict:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": BUSY_TIMEOUT}}
    kwargs = {"pool_pre_ping": True}  # a connection the server dropped is replaced, not used
    if url.startswith("postgresql") and "connect_timeout" not in url:
        # an unreachable host fails within the retry window instead of after TCP's minutes
        kwargs["connect_args"] = {"connect_timeout": 10}
    return kwargs


def _tables_engine(url: str) -> tuple[set[str], bool]:
    import sqlalchemy

    engine = sqlalchemy.create_engine(url, **_engine_kwargs(url))
    try:
        with engine.connect() as conn:
            names = set(sqlalchemy.inspect(conn).get_table_names())
            stamped = "alembic_version" in names and \
                conn.execute(sqlalchemy.text("SELECT count(*) FROM alembic_version")).scalar() > 0
    finally:
        engine.dispose()
    return names, stamped


def check_foreign(url: str, eurl: str, path: str | None) -> set[str]:
    """Refuse a database that is not empty and not an Optuna store, untouched;
    returns its tables (none: a new store)."""
    if path is not None and (not os.path.exists(path) or os.path.getsize(path) == 0):
        return set()  # a new store
    try:
        names, stamped = _tables_sqlite(path) if path is not None else _tables_engine(eurl)
    except Exception as exc:  # noqa: BLE001 - any driver error means we cannot use it
        raise store_error(url, "open", exc) from None
    if not names:
        return names
    if not names & OPTUNA_TABLES:
        shown = ", ".join(sorted(names)[:5])
        raise StoreError(f"{masked(url)} is not an actsearch results store (it holds other tables: {shown})")
    missing = OPTUNA_TABLES - names
    if missing or not stamped:
        lacks = ", ".join(sorted(missing)) if missing else "a stamped alembic_version"
        raise StoreError(f"{masked(url)} is not an actsearch results store: it has some of Optuna's tables but "
                         f"lacks {lacks} (an older Optuna store? `optuna storage upgrade --storage URL` "
                         "migrates it); left untouched")
    return names


def _sqlite_tuning(storage) -> None:
    import sqlalchemy

    # WAL lets readers run beside a writer (the mode is stored in the file);
    # synchronous=NORMAL keeps every commit across a process kill, only a power cut
    # may lose the last ones, and makes each commit several times cheaper
    @sqlalchemy.event.listens_for(storage.engine, "connect")
    def _pragmas(dbapi_conn, _record):
        dbapi_conn.execute("PRAGMA synchronous=NORMAL")

    storage.engine.dispose()
    try:
        with storage.engine.connect() as conn:
            conn.execute(sqlalchemy.text("PRAGMA journal_mode=WAL"))
    except sqlalchemy.exc.OperationalError:  # a read-only file: it is read as it is
        pass


def _rdb_storage(optuna, target: str, readonly: bool, attempts: int = 5):
    """``RDBStorage`` on ``target``.  Two processes creating a fresh server database's
    tables at once: PostgreSQL refuses the second ``CREATE`` with a unique violation
    (``pg_type``); the tables exist a moment later, so it is tried again."""
    for attempt in range(attempts):
        try:
            return optuna.storages.RDBStorage(target, engine_kwargs=_engine_kwargs(target),
                                              skip_table_creation=readonly)
        except Exception as exc:  # noqa: BLE001 - only the creation race is retried
            if attempt + 1 == attempts or "IntegrityError" not in type(exc).__name__ + repr(exc):
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def open_storage(url: str, readonly: bool = False):
    """An Optuna ``RDBStorage`` on ``url`` after the checks above; :class:`StoreError` otherwise."""
    optuna = _quiet_optuna()
    path = sqlite_path(url)
    if path is not None:
        _check_location(url, path, readonly)
    eurl = engine_url(url)
    if not check_foreign(url, eurl, path) and readonly:
        raise StoreError(f"{masked(url)} holds no actsearch search")
    tries = readonly_urls(path) if (readonly and path is not None) else [eurl]
    for i, target in enumerate(tries):
        try:
            storage = _rdb_storage(optuna, target, readonly)
            if readonly:
                storage.get_all_studies()  # mode=ro fails only at the first read
            elif path is not None:
                _sqlite_tuning(storage)
            return storage
        except Exception as exc:  # noqa: BLE001
            if i + 1 < len(tries):
                continue
            raise store_error(url, "open", exc) from None
    raise AssertionError("unreachable")

