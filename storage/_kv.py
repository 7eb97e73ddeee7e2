"""A small ordered key-value store inside an actor's SQLite file.

Keys are strings stored as their UTF-8 bytes in a BLOB column, so SQLite orders them bytewise,
which is Unicode code point order, the same order as Python's ``str`` comparison. That makes
prefix ranges exact: UTF-8 never contains the byte 0xFF, so the keys starting with a prefix are
exactly those from the prefix's bytes up to (excluded) the same bytes with the last one plus
one. Values are CBOR (see :mod:`roost.storage._codec`).

The table ``_roost_kv`` is created by the first write, inside whatever transaction is open, so
a turn that rolls back also takes the table back; reads of a database without the table see an
empty store and create nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeAlias

from roost._errors import StorageError

from ._codec import decode_value, encode_value

__all__ = ["KV"]

Entries: TypeAlias = "list[tuple[str, Any]]"

_TABLE = "_roost_kv"
_CREATE = (
    f"CREATE TABLE IF NOT EXISTS {_TABLE} (key BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID"
)
_GET = f"SELECT value FROM {_TABLE} WHERE key = ?"
_PUT = f"INSERT OR REPLACE INTO {_TABLE} (key, value) VALUES (?, ?)"
_DELETE = f"DELETE FROM {_TABLE} WHERE key = ?"
_EXISTS = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"


class KV:
    """Ordered string keys to CBOR values over one sqlite3 connection.

    Every statement is parameterised (G9). A KV obtained from ``ActorStorage.kv`` is valid as
    long as the storage's handle stays open: fetch it again from ``storage.kv`` in each turn.

    Type errors in arguments (a key that is not a ``str``) raise :class:`TypeError`, invalid
    argument values :class:`ValueError`; everything else raises
    :class:`~roost.StorageError`.
    """

    __slots__ = ("_conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def get(self, key: str, default: Any = None) -> Any:
        """Return the value stored under ``key``, or ``default``."""
        row = self._read(_GET, (_encode_key(key),), one=True)
        if row is None:
            return default
        return decode_value(row[0])

    def put(self, key: str, value: Any) -> None:
        """Store ``value`` under ``key``, replacing any previous value.

        Raises:
            StorageError: if the value cannot be stored (see ``encode_value``).
        """
        params = (_encode_key(key), encode_value(value))
        self._write(lambda: self._conn.execute(_PUT, params).rowcount)

    def put_many(self, items: Mapping[str, Any]) -> None:
        """Store every ``key: value`` of ``items``; all values are encoded before any write.

        Inside a turn this is atomic with the rest of the turn; outside one each row commits
        on its own.
        """
        rows = [(_encode_key(k), encode_value(v)) for k, v in items.items()]
        if rows:
            self._write(lambda: self._conn.executemany(_PUT, rows).rowcount)

    def delete(self, key: str) -> bool:
        """Remove ``key``; return whether it was there."""
        params = (_encode_key(key),)
        return self._write(lambda: self._conn.execute(_DELETE, params).rowcount, create=False) > 0

    def delete_many(self, keys: Iterable[str]) -> int:
        """Remove every key in ``keys``; return how many were there."""
        rows = [(_encode_key(k),) for k in keys]
        if not rows:
            return 0
        return self._write(lambda: self._conn.executemany(_DELETE, rows).rowcount, create=False)

    def list(
        self,
        *,
        prefix: str | None = None,
        start: str | None = None,
        end: str | None = None,
        limit: int | None = None,
        reverse: bool = False,
    ) -> Entries:
        """Return ``(key, value)`` pairs in key order (code point order).

        Args:
            prefix: Only keys starting with this string.
            start: Only keys ``>= start`` (inclusive).
            end: Only keys ``< end`` (exclusive).
            limit: At most this many pairs (``>= 0``), counted from the first in the order
                returned, so ``reverse=True, limit=n`` gives the last ``n`` keys.
            reverse: Descending order.

        The bounds combine: ``prefix="a", start="ab"`` lists the keys starting with ``"a"`` that
        are ``>= "ab"``.
        """
        if limit is not None:
            if not isinstance(limit, int) or isinstance(limit, bool):
                raise TypeError("limit must be an int or None")
            if limit < 0:
                raise ValueError("limit must be >= 0")
        low: bytes | None = None
        high: bytes | None = None
        if prefix:
            low = _encode_key(prefix)
            high = low[:-1] + bytes((low[-1] + 1,))  # UTF-8 has no 0xFF byte
        elif prefix is not None:
            _encode_key(prefix)  # type check only: "" matches everything
        if start is not None:
            start_bytes = _encode_key(start)
            low = start_bytes if low is None else max(low, start_bytes)
        if end is not None:
            end_bytes = _encode_key(end)
            high = end_bytes if high is None else min(high, end_bytes)
        if limit == 0 or (low is not None and high is not None and low >= high):
            return []
        clauses: list[str] = []
        params: list[object] = []
        if low is not None:
            clauses.append("key >= ?")
            params.append(low)
        if high is not None:
            clauses.append("key < ?")
            params.append(high)
        sql = f"SELECT key, value FROM {_TABLE}"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY key DESC" if reverse else " ORDER BY key"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        rows = self._read(sql, tuple(params), one=False)
        return [(_decode_key(k), decode_value(v)) for k, v in rows or ()]

    # -- plumbing ------------------------------------------------------------------------------

    def _read(self, sql: str, params: tuple[object, ...], *, one: bool) -> Any:
        try:
            cursor = self._conn.execute(sql, params)
            return cursor.fetchone() if one else cursor.fetchall()
        except sqlite3.OperationalError as exc:
            if not self._table_exists():
                return None
            raise StorageError(f"kv read failed: {exc}") from exc
        except sqlite3.Error as exc:
            raise StorageError(f"kv read failed: {exc}") from exc

    def _write(self, run: Callable[[], int], *, create: bool = True) -> int:
        try:
            try:
                return run()
            except sqlite3.OperationalError:
                if self._table_exists():
                    raise
            if not create:
                return 0
            self._conn.execute(_CREATE)
            return run()
        except sqlite3.Error as exc:
            raise StorageError(f"kv write failed: {exc}") from exc

    def _table_exists(self) -> bool:
        try:
            return self._conn.execute(_EXISTS, (_TABLE,)).fetchone() is not None
        except sqlite3.Error as exc:
            raise StorageError(f"kv access failed: {exc}") from exc


def _encode_key(key: str) -> bytes:
    if not isinstance(key, str):
        raise TypeError(f"kv keys are str, not {type(key).__name__}")
    try:
        return key.encode("utf-8")
    except UnicodeEncodeError:
        raise StorageError("kv key is not valid UTF-8 (lone surrogate)") from None


def _decode_key(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except (UnicodeDecodeError, AttributeError) as exc:
        raise StorageError("a stored kv key is not UTF-8") from exc
