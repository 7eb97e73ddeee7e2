"""Pick the shared store backend from a URL or a path (``--store`` / ``ROOST_STORE``)."""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

from psycopg import pq

from roost._errors import ConfigError

from ._api import SharedStore
from ._postgres import PostgresSharedStore
from ._sqlite import SQLiteSharedStore

__all__ = ["SHARED_SQLITE_NAME", "open_shared_store"]

#: The embedded store's file name inside the data directory.
SHARED_SQLITE_NAME = "shared.sqlite"

_POSTGRES_SCHEMES = ("postgresql://", "postgres://")
#: ``keyword =`` at the start of a libpq key=value connection string.
_CONNINFO_START = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=")
#: A later ``keyword=`` of the same string (a typo'd first keyword must not become a file).
_CONNINFO_MORE = re.compile(r"\s[A-Za-z_][A-Za-z0-9_]*\s*=")


@functools.cache
def _libpq_keywords() -> frozenset[str]:
    """The keywords the installed libpq knows (``host``, ``dbname``, ``sslmode``, ...)."""
    return frozenset(option.keyword.decode() for option in pq.Conninfo.get_defaults())


def _is_conninfo(text: str) -> bool:
    """Whether ``text`` is a libpq ``key=value`` connection string, not a file path.

    Raises:
        ConfigError: it looks like one (``word=... word=...``) but its first keyword is not
            libpq's: a typo should not become a file name.
    """
    start = _CONNINFO_START.match(text)
    if start is None:
        return False
    keyword = start.group(1)
    if keyword in _libpq_keywords():  # libpq's keywords are lowercase, case-sensitive
        return True
    if _CONNINFO_MORE.search(text, start.end()):
        raise ConfigError(
            f"unknown PostgreSQL connection keyword {keyword[:40]!r}: "
            "write host=... dbname=... or postgresql://user@host/db"
        )
    return False


def open_shared_store(
    url_or_path: str | os.PathLike[str] | None,
    *,
    data_dir: str | os.PathLike[str],
    call_timeout: float = 10.0,
) -> SharedStore:
    """Return the (not yet opened) shared store that ``url_or_path`` names.

    ``async with open_shared_store(url, data_dir=d) as store:`` opens and closes it. Nothing
    connects or touches a file before that, so a bad setting fails here, at start.

    Args:
        url_or_path: A ``postgresql://`` or ``postgres://`` URL, or a libpq key=value
            connection string starting with one of libpq's keywords (``host=db dbname=roost
            user=roost``), for PostgreSQL; a file path for SQLite (relative paths are
            relative to the working directory, like any path on a command line); None for SQLite at
            ``<data_dir>/shared.sqlite``.
        data_dir: The node's data directory.
        call_timeout: Seconds any store call may take before it fails with
            :class:`StoreUnavailable` (a client-side deadline: a hung database never hangs
            the caller).

    Raises:
        ConfigError: for a URL with any other scheme (a typo should not become a file name),
            a malformed PostgreSQL URL or connection string, a key=value string whose first
            keyword libpq does not know, or a bad ``call_timeout``; one line, without the URL
            (it may hold a password).
    """
    if url_or_path is None:
        return SQLiteSharedStore(Path(data_dir) / SHARED_SQLITE_NAME, call_timeout=call_timeout)
    if isinstance(url_or_path, str):
        lowered = url_or_path.lower()
        if lowered.startswith(_POSTGRES_SCHEMES):
            scheme, rest = url_or_path.split("://", 1)
            url = f"{scheme.lower()}://{rest}"  # libpq knows the lowercase schemes only
            return PostgresSharedStore(url, call_timeout=call_timeout)
        if _is_conninfo(url_or_path):  # validated like a URL, without echoing it
            return PostgresSharedStore(url_or_path.strip(), call_timeout=call_timeout)
        if lowered.startswith(("postgres:", "postgresql:")):
            raise ConfigError("malformed PostgreSQL URL: write postgresql://user@host/db")
        if "://" in url_or_path:
            scheme = url_or_path.split("://", 1)[0]
            raise ConfigError(
                f"unsupported shared store URL scheme {scheme!r}: "
                "use postgresql://... or a path to an SQLite file"
            )
        if not url_or_path:
            raise ConfigError("empty shared store path")
    return SQLiteSharedStore(url_or_path, call_timeout=call_timeout)
