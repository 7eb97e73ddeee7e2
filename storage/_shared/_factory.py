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
    url_or_path: str | os.PathLike[str] | None, *, data_dir: str | os.PathLike[str]
) -> SharedStore:
    """Return the (not yet opened) shared store that ``url_or_path`` names.

    ``async with open_shared_store(url, data_dir=d) as store:`` opens and closes it.

    Args:
        url_or_path: A ``postgresql://`` or ``postgres://`` URL for PostgreSQL; a file path
            for SQLite (relative paths are relative to the working directory, like any path
            on a command line); None for SQLite at ``<data_dir>/shared.sqlite``.
        data_dir: The node's data directory.

    Raises:
        ConfigError: for a URL with any other scheme (a typo should not become a file name).
    """
    if url_or_path is None:
        return SQLiteSharedStore(Path(data_dir) / SHARED_SQLITE_NAME)
    if isinstance(url_or_path, str):
        if url_or_path.lower().startswith(_POSTGRES_SCHEMES):
            return PostgresSharedStore(url_or_path)
        if "://" in url_or_path:
            scheme = url_or_path.split("://", 1)[0]
            raise ConfigError(
                f"unsupported shared store URL scheme {scheme!r}: "
                "use postgresql://... or a path to an SQLite file"
            )
        if not url_or_path:
            raise ConfigError("empty shared store path")
    return SQLiteSharedStore(url_or_path)
