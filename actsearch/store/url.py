"""Store URLs: what a message may show of them, and what the engine is given.

:func:`masked` is the one way a URL reaches a message (its password never does);
:func:`engine_url` picks an installed PostgreSQL driver, or says which extra to
install; :func:`sqlite_path` and :func:`readonly_urls` serve SQLite files, which
readers open without ever writing to them.

Example:
    >>> masked("postgresql://ana:s3cret@db.example:5432/results")
    'postgresql://ana:***@db.example:5432/results'
    >>> sqlite_path("sqlite:///results/actsearch.db")
    'results/actsearch.db'
"""

from __future__ import annotations

import importlib.util
import os
import re
import urllib.parse

from ..errors import StoreError

__all__ = ["masked", "scrub", "engine_url", "sqlite_path", "readonly_urls", "POSTGRES_EXTRA"]

#: what to install for PostgreSQL stores
POSTGRES_EXTRA = "pip install 'actsearch[postgres]'"

# scheme://user:PASSWORD@host...: the password runs to the last "@" before any query
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*://[^:/@?]*:)([^?]*)@")
_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&]*", re.IGNORECASE)


def masked(url: str | None) -> str:
    """``url`` with its password (in the user part or the query) replaced by ``***``.

    >>> masked("postgresql+psycopg://u:p%40ss@h/db?sslmode=require")
    'postgresql+psycopg://u:***@h/db?sslmode=require'
    >>> masked("postgresql://h/db?user=u&password=secret")
    'postgresql://h/db?user=u&password=***'
    """
    if not url:
        return str(url)
    out = _USERINFO.sub(lambda m: m.group(1) + "***@", url, count=1)
    return _QUERY_PASSWORD.sub(lambda m: m.group(1) + "***", out)


def _passwords(url: str) -> list[str]:
    found = []
    m = _USERINFO.match(url)
    if m and m.group(2):
        found.append(m.group(2))
    found += [p.split("=", 1)[1] for p in re.findall(r"[?&]password=[^&]*", url, re.IGNORECASE)]
    # drivers may echo the decoded form ("p@ss" for "p%40ss")
    return [v for p in found if p for v in {p, urllib.parse.unquote(p)}]


def scrub(text: str, url: str | None) -> str:
    """``text`` (a driver's message) with ``url``'s password and the raw URL masked.

    >>> scrub("could not connect to postgresql://u:pw@h/db (pw rejected)", "postgresql://u:pw@h/db")
    'could not connect to postgresql://u:***@h/db (*** rejected)'
    """
    if not url:
        return text
    text = text.replace(url, masked(url))
    for secret in sorted(_passwords(url), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _scheme(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else ""


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def engine_url(url: str) -> str:
    """The URL handed to SQLAlchemy: ``postgresql://`` names the driver that is
    installed (psycopg 3 first: SQLAlchemy 2.0 would otherwise look for psycopg2);
    a missing driver is a one-line :class:`StoreError` naming the extra to install."""
    scheme = _scheme(url)
    rest = url[len(scheme):]
    if scheme in ("postgresql", "postgres"):
        for module, dialect in (("psycopg", "postgresql+psycopg"), ("psycopg2", "postgresql+psycopg2")):
            if _installed(module):
                return dialect + rest
        raise StoreError(f"cannot open results store {masked(url)}: no PostgreSQL driver is installed; "
                         f"{POSTGRES_EXTRA}")
    if scheme.startswith("postgresql+"):
        module = {"postgresql+psycopg": "psycopg", "postgresql+psycopg2": "psycopg2",
                  "postgresql+pg8000": "pg8000", "postgresql+asyncpg": "asyncpg"}.get(scheme)
        if module and not _installed(module):
            raise StoreError(f"cannot open results store {masked(url)}: its driver {module} is not installed; "
                             f"{POSTGRES_EXTRA} and use postgresql://")
    return url


def sqlite_path(url: str) -> str | None:
    """The file of a ``sqlite:///`` URL; ``None`` for other URLs and in-memory databases."""
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):].split("?", 1)[0]
        return None if path in ("", ":memory:") or path.startswith("file:") else path
    return None


def readonly_urls(path: str) -> list[str]:
    """SQLite URLs that read ``path`` and can never write it, to try in order.

    ``mode=ro`` sees what a running writer has in its WAL file, but in a folder we
    cannot write it needs the WAL's shared-memory file to exist already; there
    ``immutable=1`` reads the main file alone (nobody can be writing to it there,
    since a writer must create those files).
    """
    quoted = urllib.parse.quote(os.path.abspath(path))
    urls = [f"sqlite:///file:{quoted}?mode=ro&uri=true"]
    if not os.access(os.path.dirname(os.path.abspath(path)), os.W_OK):
        urls.append(f"sqlite:///file:{quoted}?immutable=1&uri=true")
    return urls
