"""The results store: every search's record in one Optuna RDB database.

- :mod:`~actsearch.store.database`: :class:`Store`, the database (one Optuna study
  per search; the schema is in that module's docstring);
- :mod:`~actsearch.store.stored_search`: :class:`StoredSearch`, one search's trials;
- :mod:`~actsearch.store.trials`: a candidate as an Optuna trial, and back;
- :mod:`~actsearch.store.lease`: the lease that makes one driver a search's only writer;
- :mod:`~actsearch.store.opening`: the checks before Optuna touches a database;
- :mod:`~actsearch.store.errors`, :mod:`~actsearch.store.url`: one-line errors and
  retries; URLs with their passwords masked;
- :mod:`~actsearch.store.view`: the read-only view that leaderboards, pictures and
  exports read.

Example:
    >>> import os, tempfile
    >>> from actsearch.store import Store
    >>> store = Store("sqlite:///" + os.path.join(tempfile.mkdtemp(), "db.sqlite"))
    >>> store.searches()
    []
"""

from .database import DEFAULT_URL, SCHEMA, Store
from .stored_search import StoredSearch
from .url import masked

__all__ = ["Store", "StoredSearch", "DEFAULT_URL", "SCHEMA", "masked"]
