"""Pick the shared store backend from a URL or a path (``--store`` / ``ROOST_STORE``)."""

from __future__ import annotations

import os
from pathlib import Path

from roost._errors import ConfigError

from ._api import SharedStore
from ._postgres import PostgresSharedStore
from ._sqlite import SQLiteSharedStore

__all__ = ["SHARED_SQLITE_NAME", "open_shared_store"]

#: The embedded store's file name inside the data directory.
SHARED_SQLITE_NAME = "shared.sqlite"

_POSTGRES_SCHEMES = ("postgresql://", "postgres://")


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
        url_or_path: A ``postgresql://`` or ``postgres://`` URL for PostgreSQL; a file path
            for SQLite (relative paths are relative to the working directory, like any path
            on a command line); None for SQLite at ``<data_dir>/shared.sqlite``.
        data_dir: The node's data directory.
        call_timeout: Seconds any store call may take before it fails with
            :class:`StoreUnavailable` (a client-side deadline: a hung database never hangs
            the caller).

    Raises:
        ConfigError: for a URL with any other scheme (a typo should not become a file name),
            a malformed PostgreSQL URL, or a bad ``call_timeout``; one line, without the URL
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
