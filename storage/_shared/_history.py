"""Actor files in the shared store: compressed images of a whole file and a log of its commits.

Two features keep an actor's *file* (not only its ``snapshot()``) in the store:

- ``replicate_file`` (issue 15): each sync also ships a compressed image of the file, so a
  node with an empty data dir rebuilds the file itself;
- durable output (``--durable``): each commit's pages are appended to the actor's log before
  the turn's output leaves (``storage/_wal.py``), fenced by the actor's lease; images are
  taken from time to time and the log before them pruned, keeping ``--log-retention`` of
  history for point-in-time restores.

Tables (migration 3): ``roost_actor_log(actor_type, actor_key, seq, fence, at, entry)`` and
``roost_actor_file(actor_type, actor_key, seq, fence, at, image)``; an image with ``seq = n``
holds every log entry up to ``n``. Both backends run the same statements; only the
placeholder, the binary type and the clock differ (SQLite's clock is the machine's).

Every write is fenced: by the lease (``node_id`` given: the writer must hold the actor's
unexpired lease with that fence, in the database's clock) or, without a lease (a single
node's ``replicate_file``), by the state rule (no higher fence on record).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import attrs

__all__ = ["FileHistory", "HistorySql", "LogEntry"]


@attrs.frozen
class LogEntry:
    """One commit of one actor, for :meth:`SharedStore.append_log`."""

    actor_type: str
    key: str
    fence: int
    seq: int
    entry: bytes


@attrs.frozen
class FileHistory:
    """What the store holds of an actor's file, as of now or of a moment.

    Attributes:
        image: the newest compressed file image (None: no image; start from an empty file).
        image_seq: the last log entry the image holds (0 without an image).
        entries: the log entries after the image, ``(seq, entry)`` in order.
        fence: the highest fence among them (0 when there is nothing).
    """

    image: bytes | None
    image_seq: int
    entries: list[tuple[int, bytes]]
    fence: int

    @property
    def last_seq(self) -> int:
        """The position of the newest commit in the history (0: none)."""
        return self.entries[-1][0] if self.entries else self.image_seq


class _Cursor(Protocol):
    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class _Conn(Protocol):
    def execute(self, query: str, params: Any = ..., /) -> _Cursor: ...


@attrs.frozen
class HistorySql:
    """The statements of one dialect. ``p`` is its placeholder; ``now`` an expression of the
    database's clock in the unit of the lease and time columns."""

    p: str
    now: str
    blob: str
    time_type: str

    def migration(self) -> tuple[str, ...]:
        return (
            f"""
            CREATE TABLE IF NOT EXISTS roost_actor_log (
                actor_type TEXT NOT NULL,
                actor_key TEXT NOT NULL,
                seq BIGINT NOT NULL,
                fence BIGINT NOT NULL,
                at {self.time_type} NOT NULL,
                entry {self.blob} NOT NULL,
                PRIMARY KEY (actor_type, actor_key, seq)
            )
            """,
            f"""
            CREATE TABLE IF NOT EXISTS roost_actor_file (
                actor_type TEXT NOT NULL,
                actor_key TEXT NOT NULL,
                seq BIGINT NOT NULL,
                fence BIGINT NOT NULL,
                at {self.time_type} NOT NULL,
                image {self.blob} NOT NULL,
                PRIMARY KEY (actor_type, actor_key, seq)
            )
            """,
        )

    # -- writes --------------------------------------------------------------------------------

    def _leased(self) -> str:
        p = self.p
        return (
            "EXISTS (SELECT 1 FROM roost_actor_lease l WHERE l.actor_type = "
            f"{p} AND l.actor_key = {p} AND l.node_id = {p} AND l.fence = {p}"
            f" AND l.expires_at > {self.now})"
        )

    def append(self, conn: _Conn, node_id: str, entry: LogEntry) -> bool:
        """Append one entry if ``node_id`` holds the lease with its fence; False if refused."""
        p = self.p
        row = conn.execute(
            f"SELECT {self._leased()}",
            (entry.actor_type, entry.key, node_id, entry.fence),
        ).fetchone()
        if not row or not row[0]:
            return False
        conn.execute(
            "INSERT INTO roost_actor_log (actor_type, actor_key, seq, fence, at, entry)"
            f" VALUES ({p}, {p}, {p}, {p}, {self.now}, {p})"
            " ON CONFLICT (actor_type, actor_key, seq) DO UPDATE SET fence = excluded.fence,"
            " at = excluded.at, entry = excluded.entry"
            " WHERE roost_actor_log.fence < excluded.fence",
            (entry.actor_type, entry.key, entry.seq, entry.fence, entry.entry),
        )
        return True

    def append_many(
        self, conn: _Conn, node_id: str, entries: list[LogEntry]
    ) -> list[tuple[str, str]]:
        """Append a batch of entries, each only under its actor's lease; the refused actors.

        PostgreSQL: one statement for the whole batch (its lease check, insert and the
        refused list); SQLite: one statement per entry, in the caller's transaction.
        """
        if self.now != "now()":
            refused: list[tuple[str, str]] = []
            for entry in entries:
                if not self.append(conn, node_id, entry):
                    refused.append((entry.actor_type, entry.key))
            return refused
        rows = conn.execute(PG_APPEND_MANY, pg_append_params(node_id, entries)).fetchall()
        return [(str(t), str(k)) for t, k in rows]

    def truncate(
        self, conn: _Conn, node_id: str, actor_type: str, key: str, fence: int, after: int
    ) -> bool:
        """Drop the log entries after position ``after`` if ``node_id`` holds the lease with
        ``fence`` (locked until the end of the transaction, as an append locks it); False if
        refused."""
        p = self.p
        lock = " FOR SHARE" if self.now == "now()" else ""  # SQLite: one writer anyway
        row = conn.execute(
            "SELECT 1 FROM roost_actor_lease l WHERE l.actor_type = "
            f"{p} AND l.actor_key = {p} AND l.node_id = {p} AND l.fence = {p}"
            f" AND l.expires_at > {self.now}{lock}",
            (actor_type, key, node_id, fence),
        ).fetchone()
        if not row:
            return False
        conn.execute(
            f"DELETE FROM roost_actor_log WHERE actor_type = {p} AND actor_key = {p} AND seq > {p}",
            (actor_type, key, after),
        )
        return True

    def put_image(
        self,
        conn: _Conn,
        actor_type: str,
        key: str,
        fence: int,
        seq: int,
        image: bytes,
        node_id: str | None,
    ) -> bool:
        """Store an image holding the log up to ``seq``; False if the fence is refused."""
        p = self.p
        if node_id is not None:
            allowed = conn.execute(
                f"SELECT {self._leased()}", (actor_type, key, node_id, fence)
            ).fetchone()
        else:
            allowed = conn.execute(
                "SELECT NOT EXISTS (SELECT 1 FROM roost_actor_state s WHERE s.actor_type = "
                f"{p} AND s.actor_key = {p} AND s.fence > {p}) AND NOT EXISTS (SELECT 1 FROM"
                f" roost_actor_lease l WHERE l.actor_type = {p} AND l.actor_key = {p}"
                f" AND l.fence > {p})",
                (actor_type, key, fence, actor_type, key, fence),
            ).fetchone()
        if not allowed or not allowed[0]:
            return False
        conn.execute(
            "INSERT INTO roost_actor_file (actor_type, actor_key, seq, fence, at, image)"
            f" VALUES ({p}, {p}, {p}, {p}, {self.now}, {p})"
            " ON CONFLICT (actor_type, actor_key, seq) DO UPDATE SET fence = excluded.fence,"
            " at = excluded.at, image = excluded.image",
            (actor_type, key, seq, fence, image),
        )
        return True

    def prune(self, conn: _Conn, actor_type: str, key: str, keep_seconds: float) -> None:
        """Forget history older than ``keep_seconds`` that a newer image makes unnecessary:
        older images, and log entries an image older than the horizon already holds."""
        p = self.p
        horizon = self.horizon(keep_seconds)
        row = conn.execute(
            "SELECT max(seq) FROM roost_actor_file WHERE actor_type = "
            f"{p} AND actor_key = {p} AND at <= {horizon}",
            (actor_type, key, keep_seconds),
        ).fetchone()
        if not row or row[0] is None:
            return
        base = int(row[0])  # the newest image a restore within the horizon may start from
        conn.execute(
            f"DELETE FROM roost_actor_file WHERE actor_type = {p} AND actor_key = {p}"
            f" AND seq < {p}",
            (actor_type, key, base),
        )
        conn.execute(
            f"DELETE FROM roost_actor_log WHERE actor_type = {p} AND actor_key = {p}"
            f" AND seq <= {p}",
            (actor_type, key, base),
        )

    def horizon(self, _keep_seconds: float) -> str:
        """An expression of ``now - keep_seconds`` (the next placeholder is the seconds)."""
        if self.now == "now()":
            return f"now() - make_interval(secs => {self.p})"
        return f"({self.now} - {self.p})"

    # -- reads ---------------------------------------------------------------------------------

    def history(self, conn: _Conn, actor_type: str, key: str, at: float | None) -> FileHistory:
        """The newest image (as of ``at``, unix seconds, if given) and the log after it."""
        p = self.p
        when = ""
        params: tuple[Any, ...] = (actor_type, key)
        if at is not None:
            when = f" AND at <= {self._time(p)}"
            params = (actor_type, key, at)
        image = conn.execute(
            "SELECT seq, fence, image FROM roost_actor_file WHERE actor_type = "
            f"{p} AND actor_key = {p}{when} ORDER BY seq DESC LIMIT 1",
            params,
        ).fetchone()
        image_seq, fence, blob = (0, 0, None) if image is None else image
        rows = conn.execute(
            "SELECT seq, fence, entry FROM roost_actor_log WHERE actor_type = "
            f"{p} AND actor_key = {p} AND seq > {p}{when} ORDER BY seq",
            (actor_type, key, image_seq) + (() if at is None else (at,)),
        ).fetchall()
        entries: list[tuple[int, bytes]] = []
        last_fence = int(fence)
        for seq, entry_fence, entry in rows:
            expected = entries[-1][0] + 1 if entries else int(image_seq) + 1
            if seq != expected:
                break  # a gap: what follows was never acknowledged as one history
            if int(entry_fence) < last_fence:
                break  # an older owner's entry after a newer one's: never acknowledged
            entries.append((int(seq), bytes(entry)))
            last_fence = int(entry_fence)
        fence = last_fence
        return FileHistory(
            None if blob is None else bytes(blob), int(image_seq), entries, int(fence)
        )

    def _time(self, placeholder: str) -> str:
        if self.now == "now()":
            return f"to_timestamp({placeholder})"
        return placeholder


#: The batch append in one PostgreSQL statement: entries whose actor this node holds under the
#: entry's fence go in; the others come back as refused. The arrays go in binary (%b): pages
#: as bytes, not hex text (a third of the append's CPU went into escaping them).
PG_APPEND_MANY = """
WITH w AS MATERIALIZED (
    SELECT * FROM unnest(%b::text[], %b::text[], %b::int8[], %b::int8[], %b::bytea[])
        AS w(t, k, seq, f, e)
), ok AS MATERIALIZED (
    -- FOR SHARE: a claim by another node (an UPDATE of the lease row) waits for this
    -- append to commit, or this append, having waited, sees the new owner and is refused;
    -- clock_timestamp(): the expiry is judged now, not when the transaction began.
    SELECT w.* FROM w JOIN roost_actor_lease l
        ON l.actor_type = w.t AND l.actor_key = w.k AND l.node_id = %s AND l.fence = w.f
           AND l.expires_at > clock_timestamp()
    FOR SHARE OF l
), ins AS (
    INSERT INTO roost_actor_log (actor_type, actor_key, seq, fence, at, entry)
    SELECT t, k, seq, f, now(), e FROM ok
    ON CONFLICT (actor_type, actor_key, seq) DO UPDATE SET fence = excluded.fence,
        at = excluded.at, entry = excluded.entry
    WHERE roost_actor_log.fence < excluded.fence
)
SELECT DISTINCT w.t, w.k FROM w
WHERE NOT EXISTS (SELECT 1 FROM ok WHERE ok.t = w.t AND ok.k = w.k)
"""


def pg_append_params(node_id: str, entries: Sequence[LogEntry]) -> tuple[object, ...]:
    """The parameters of PG_APPEND_MANY, in its order: five arrays, then the node id."""
    return (
        [e.actor_type for e in entries],
        [e.key for e in entries],
        [e.seq for e in entries],
        [e.fence for e in entries],
        [e.entry for e in entries],
        node_id,
    )


POSTGRES_HISTORY = HistorySql(p="%s", now="now()", blob="bytea", time_type="timestamptz")
#: SQLite's clock is the machine's: the caller binds it (``now`` is a named parameter there).
SQLITE_HISTORY = HistorySql(
    p="?", now="(julianday('now') - 2440587.5) * 86400.0", blob="BLOB", time_type="REAL"
)
