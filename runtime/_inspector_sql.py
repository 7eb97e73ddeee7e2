"""Read-only looks into actor files for the inspector: one SQL statement, the alarms, the keys.

Blocking code, run in a worker thread (``trio.to_thread``) by runtime/_inspector.py. It never
touches the live handle a running actor holds: each look opens the file anew, read-only
(``mode=ro``; ``immutable=1`` when the file has no ``-wal``, so nothing is created beside
it), with ``PRAGMA query_only`` and an authorizer that allows reading and nothing else:
``SELECT``, reads, functions, recursive CTEs and a few introspection pragmas pass; INSERT,
UPDATE, CREATE, ATTACH, BEGIN, a pragma that sets something, and every other action are
refused before the statement runs. A statement runs alone (a second one is refused), for at
most ``timeout`` seconds (a progress handler interrupts it), returns at most ``max_rows``
rows, each cell clipped, and SQLite's own string limit stops a query that would build a huge
value in memory.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
import urllib.parse
from bisect import bisect_right
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from roost._errors import BadRequest, NotFound, StorageError

#: The longest statement accepted, in characters (it travels in the query of a GET, whose
#: request line the server keeps under 8 KiB).
MAX_STATEMENT = 4000
#: The longest string or blob a statement may build (SQLite's SQLITE_LIMIT_LENGTH).
MAX_VALUE_LENGTH = 1 << 20
#: Pragmas that only read; any other pragma, and these with a value to set, are refused.
READ_PRAGMAS = frozenset(
    {
        "table_info",
        "table_xinfo",
        "table_list",
        "index_list",
        "index_info",
        "index_xinfo",
        "foreign_key_list",
    }
)
#: Pragmas that read a value when given none (``PRAGMA user_version``), set it otherwise.
VALUE_PRAGMAS = frozenset(
    {"user_version", "schema_version", "page_count", "page_size", "freelist_count", "encoding"}
)
_ALLOWED_ACTIONS = frozenset(
    {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
)
#: Functions that read or change the connection, not the data.
_REFUSED_FUNCTIONS = frozenset({"load_extension", "sqlite_compileoption_get"})


def _uri(path: Path, **params: str) -> str:
    query = "&".join(f"{name}={value}" for name, value in params.items())
    return f"file:{urllib.parse.quote(str(path.absolute()))}?{query}"


@contextmanager
def open_read_only(path: Path, *, timeout: float = 2.0) -> Iterator[sqlite3.Connection]:
    """A connection that can only read ``path`` and creates no file.

    With a ``-wal`` beside it the file is (or was) open in a server, and ``mode=ro`` joins
    its WAL; without one every committed change is in the main file, read as immutable.

    Raises:
        NotFound: there is no such file.
        StorageError: it cannot be opened (not SQLite, unreadable).
    """
    if not path.is_file():
        raise NotFound("this actor has no file")
    wal = path.with_name(path.name + "-wal").exists()
    params = {"mode": "ro"} if wal else {"mode": "ro", "immutable": "1"}
    try:
        conn = sqlite3.connect(_uri(path, **params), uri=True, timeout=timeout)
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open the actor's file: {exc}") from None
    try:
        conn.isolation_level = None
        conn.execute("PRAGMA query_only = 1")
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_LENGTH)
        conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        conn.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, MAX_STATEMENT * 4)
        conn.set_authorizer(_authorize)
        yield conn
    finally:
        conn.close()


def _authorize(
    action: int, arg1: str | None, arg2: str | None, _db: str | None, _trigger: str | None
) -> int:
    """SQLite's authorizer: reading passes, everything else is denied (an error at prepare)."""
    if action == sqlite3.SQLITE_FUNCTION:
        return sqlite3.SQLITE_DENY if (arg2 or "").lower() in _REFUSED_FUNCTIONS else 0
    if action in _ALLOWED_ACTIONS:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_PRAGMA:
        name = (arg1 or "").lower()
        if name in READ_PRAGMAS or (name in VALUE_PRAGMAS and arg2 is None):
            return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def query(
    path: Path,
    statement: str,
    *,
    max_rows: int = 500,
    timeout: float = 2.0,
    max_cell: int = 2000,
) -> dict[str, Any]:
    """Run one read-only statement on the actor file ``path``.

    Returns:
        ``{"columns": [...], "rows": [[...], ...], "truncated": bool, "seconds": float}``;
        a blob cell is ``{"blob": "<hex>", "size": n}``, a long text ends with ``…``.

    Raises:
        BadRequest: an empty, too long, second, writing or failing statement, or one that
            ran out of time (each with SQLite's reason).
        NotFound: the actor has no file.
    """
    statement = statement.strip()
    if not statement:
        raise BadRequest("an empty statement")
    if len(statement) > MAX_STATEMENT:
        raise BadRequest(f"a statement is at most {MAX_STATEMENT} characters")
    started = time.monotonic()
    deadline = started + timeout
    with open_read_only(path) as conn:
        conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 1000)
        try:
            cursor = conn.execute(statement)
            columns = [d[0] for d in cursor.description or ()]
            fetched = cursor.fetchmany(max_rows + 1) if columns else []
        except sqlite3.ProgrammingError as exc:  # "You can only execute one statement at a time."
            raise BadRequest(f"one statement at a time: {exc}") from None
        except sqlite3.Warning as exc:  # the same, in some Python versions
            raise BadRequest(f"one statement at a time: {exc}") from None
        except sqlite3.Error as exc:
            if time.monotonic() > deadline:
                raise BadRequest(f"the statement ran out of its {timeout:g} s") from None
            raise BadRequest(f"refused or failed: {_reason(exc)}") from None
    rows = [[cell(value, max_cell) for value in row] for row in fetched[:max_rows]]
    return {
        "columns": columns,
        "rows": rows,
        "truncated": len(fetched) > max_rows,
        "seconds": round(time.monotonic() - started, 4),
    }


def _reason(exc: sqlite3.Error) -> str:
    text = str(exc)
    if "not authorized" in text or "readonly" in text or "read-only" in text:
        return f"{text} (the console only reads)"
    return text


def cell(value: Any, max_cell: int) -> Any:
    """A cell as JSON can carry it, clipped to about ``max_cell`` characters."""
    if isinstance(value, bytes):
        return {"blob": value[: max_cell // 2].hex(), "size": len(value)}
    if isinstance(value, str):
        return value if len(value) <= max_cell else value[:max_cell] + "…"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, int) and abs(value) > 2**53:
        return str(value)  # beyond what a JavaScript number holds exactly
    return value


def read_alarms(path: Path) -> list[dict[str, Any]]:
    """The actor's alarms as its file holds them (committed), the earliest due first."""
    with open_read_only(path) as conn:
        if not _has_table(conn, "_roost_alarms"):
            return []
        rows = conn.execute(
            "SELECT name, due_at, scheduled_at, attempt, quarantined, payload"
            " FROM _roost_alarms ORDER BY due_at LIMIT 1000"
        ).fetchall()
    return [
        {
            "name": cell(name, 500),
            "due_at": due_at,
            "scheduled_at": scheduled_at,
            "attempt": attempt,
            "quarantined": bool(quarantined),
            "payload": cell(_json_text(payload), 2000),
        }
        for name, due_at, scheduled_at, attempt, quarantined, payload in rows
    ]


def _json_text(text: Any) -> Any:
    try:
        return json.dumps(json.loads(text), ensure_ascii=False)
    except (TypeError, ValueError):
        return text


def actor_key(path: Path) -> str | None:
    """The key an actor file records (``_roost_meta``), or None when it records none."""
    try:
        with open_read_only(path) as conn:
            if not _has_table(conn, "_roost_meta"):
                return None
            row = conn.execute("SELECT value FROM _roost_meta WHERE name = 'key'").fetchone()
    except (StorageError, NotFound):
        return None
    except sqlite3.Error:
        return None
    return None if row is None else str(row[0])


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
    return found.fetchone() is not None


def stored_files(
    data_dir: Path,
    actor_type: str,
    *,
    search: str,
    after: str,
    limit: int,
    budget: int = 2000,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the actor files of ``actor_type``, in file-name order.

    ``search`` keeps the keys that contain it (case-insensitive); ``after`` is the previous
    page's cursor (a file name, only compared, never opened). At most ``budget`` files are
    opened per page, so a search over a large directory answers in parts.

    Returns:
        The page (``{"type", "key", "size", "modified"}``) and the cursor of the next one
        (None at the end).
    """
    root = data_dir / "actors" / actor_type
    names = sorted(p.relative_to(root).as_posix() for p in root.glob("*/*.sqlite"))
    found: list[dict[str, Any]] = []
    needle = search.casefold()
    opened = 0
    start = _bisect_after(names, after)
    for index in range(start, len(names)):
        name = names[index]
        if len(found) >= limit or opened >= budget:
            return found, names[index - 1]
        opened += 1
        path = root / name
        key = actor_key(path)
        if key is None or (needle and needle not in key.casefold()):
            continue
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        found.append(
            {"type": actor_type, "key": key, "size": stat.st_size, "modified": stat.st_mtime}
        )
    return found, None


def _bisect_after(names: list[str], after: str) -> int:
    return bisect_right(names, after) if after else 0
