"""A Yjs document per key, speaking the y-websocket protocol: ``app.actor("yjs", YjsActor)``.

The unmodified npm ``y-websocket`` provider connects to it::

    new WebsocketProvider("ws://HOST:PORT/yjs", "<doc>", ydoc)   // -> /yjs/<doc>

What it does, per document:

- **Sync.** On connect the actor sends sync step 1 and every live awareness state; it answers a
  client's step 1 with step 2 (what that client lacks), and applies step 2s and updates. What an
  update added (as pycrdt reports it, so nothing twice) is appended to the actor's SQLite and
  relayed to the other clients after the turn commits (G4), the updates of turns that share a
  commit merged into one: a late joiner, or anyone after a restart, gets the whole document.
- **Compaction.** After ``compact_after`` appended updates, and when the actor leaves memory,
  the log is replaced by one update holding the whole document.
- **Awareness** (cursors, names). States are relayed to everyone, the sender too (providers
  take the echo as a sign of life); each belongs to the connection that first sent it and is
  announced gone when that connection closes, dead peers included, or when it is not renewed
  for ``awareness_timeout`` seconds (providers renew every 15). States live in ``conn.state``,
  so they survive hibernation.
- **Summary.** ``{"doc", "bytes", "text_length", "editors", "update"}`` is synced to the shared
  store, ``update`` being the whole document (base64), from which a node that lacks the
  actor's file restores it.

Bad input closes the offending connection and disturbs nobody else: a text frame with 1003, a
malformed message or update with 1007, a document or awareness state over its limit with 1009.

Subclasses that override ``on_alarm`` must call ``super().on_alarm(alarm)``: awareness
timeouts arrive as the alarm :data:`AWARENESS_ALARM`.
"""

from __future__ import annotations

import base64
from typing import Any

import pycrdt

from roost._errors import CloseCode, MessageTooBig, ProtocolError
from roost.protocol.yjs import (
    YKind,
    decode_awareness,
    encode_awareness,
    encode_sync_step1,
    encode_sync_step2,
    encode_update,
    parse_message,
)

from ._actor import Actor
from ._alarms import Alarm
from ._connection import Connection
from ._http import Request
from ._yjs_awareness import AwarenessTable

__all__ = ["AWARENESS_ALARM", "YjsActor"]

#: The alarm that times awareness states out (a subclass's own alarms must use other names).
AWARENESS_ALARM = "yjs.awareness"

_SCHEMA = "CREATE TABLE IF NOT EXISTS yjs_updates (id INTEGER PRIMARY KEY, data BLOB NOT NULL)"
_EMPTY_UPDATE = b"\x00\x00"  # no new structs, no deletions


class YjsActor(Actor):
    """One collaborative document, kept with pycrdt and stored in the actor's SQLite.

    Limits (class attributes, override in a subclass):
        max_document_bytes: stored size (log plus compacted state) the document may reach;
            an update that would pass it closes its connection with 1009.
        max_awareness_clients: awareness clients one connection may hold (a provider has 1).
        max_awareness_bytes: JSON bytes of one awareness state (name, colour, cursor...).
        awareness_timeout: seconds an awareness state lives without renewal.
        compact_after: appended updates before the log is compacted into one.

    ``sync_document`` (True) puts the whole document, base64, in the synced summary as
    ``"update"``, so that a node without the actor's file restores it (G7); set it to False
    for documents too large to copy to the shared store at every sync.
    """

    sync_on_write = True
    sync_document: bool = True

    max_document_bytes: int = 64 << 20
    max_awareness_clients: int = 8
    max_awareness_bytes: int = 1024
    awareness_timeout: float = 30.0
    compact_after: int = 500

    doc: pycrdt.Doc[Any]
    awareness: AwarenessTable
    _added: list[bytes]  # what the update being applied added (pycrdt's observer fills it)
    _relay: list[tuple[Connection, bytes]]  # added and stored, not relayed yet
    _log_rows: int
    _stored_bytes: int
    _expiry_at: float | None  # when the awareness alarm is due, if set

    async def on_start(self) -> None:
        db = self.storage.db
        db.execute(_SCHEMA)
        rows = [row[0] for row in db.execute("SELECT data FROM yjs_updates ORDER BY id")]
        self.doc = pycrdt.Doc()
        if rows:
            self.doc.apply_update(rows[0] if len(rows) == 1 else pycrdt.merge_updates(*rows))
        self._log_rows = len(rows)
        self._stored_bytes = sum(len(row) for row in rows)
        self._added = []
        self._relay = []
        self.doc.observe(self._on_doc_update)
        self.awareness = AwarenessTable()
        for conn in self.connections():
            if isinstance(conn.state, dict):
                self.awareness.restore(conn.id, conn.state.get("awareness", {}))
        alarm = self.alarms.get(AWARENESS_ALARM)
        self._expiry_at = alarm.due_at if alarm is not None else None

    async def on_stop(self) -> None:
        if self._log_rows > 1:
            self._compact()

    async def on_connect(self, conn: Connection, request: Request) -> None:
        self._save_awareness(conn)
        conn.send(encode_sync_step1(self.doc.get_state()))
        live = self.awareness.live()
        if live:
            conn.send(encode_awareness(live))
        self.mark_dirty()  # the editor count changed

    async def on_message(self, conn: Connection, message: str | bytes) -> None:
        if isinstance(message, str):
            return conn.close(CloseCode.UNSUPPORTED_DATA, "y-websocket messages are binary")
        try:
            parsed = parse_message(message)
            if parsed.kind is YKind.SYNC_STEP1:
                conn.send(encode_sync_step2(self.doc.get_update(parsed.payload)))
            elif parsed.kind in (YKind.SYNC_STEP2, YKind.UPDATE):
                self._apply(conn, parsed.payload)
            elif parsed.kind is YKind.AWARENESS:
                self._awareness(conn, parsed.payload)
            elif parsed.kind is YKind.QUERY_AWARENESS:
                live = self.awareness.live()
                if live:
                    conn.send(encode_awareness(live))
            # YKind.AUTH: y-websocket's permission message; roost refuses in on_connect instead.
        except ProtocolError as exc:  # malformed (1007) or over a limit (1009)
            conn.close(exc.close_code, exc.reason)
        except ValueError:  # pycrdt's word for an undecodable update or state vector
            conn.close(CloseCode.INVALID_DATA, "malformed Yjs update")

    async def on_close(self, conn: Connection, code: int, reason: str) -> None:
        gone = self.awareness.remove_owner(conn.id)
        if gone:
            self.broadcast(encode_awareness(gone), exclude=(conn,))
        self.mark_dirty()

    async def on_alarm(self, alarm: Alarm) -> None:
        if alarm.name != AWARENESS_ALARM:
            return await super().on_alarm(alarm)
        self._expiry_at = None
        gone = self.awareness.expire(self.now(), self.awareness_timeout)
        if gone:
            owners = {conn.id: conn for conn in self.connections()}
            for conn in owners.values():
                self._save_awareness(conn)
            self.broadcast(encode_awareness(gone))
        self._schedule_expiry()

    def snapshot(self) -> dict[str, Any]:
        text_length = 0
        for name in list(self.doc.keys()):
            # A Yjs update does not record its roots' types; reading one as text is harmless
            # (a map root reads as empty) and counts the characters of every text root.
            text_length += len(self.doc.get(name, type=pycrdt.Text))
        whole = self.doc.get_update()
        summary: dict[str, Any] = {
            "doc": self.key,
            "bytes": len(whole),
            "text_length": text_length,
            "editors": len(self.connections()),
        }
        if self.sync_document:
            summary["update"] = base64.b64encode(whole).decode("ascii")
        return summary

    async def restore(self, snapshot: Any) -> None:
        """Start from the document synced to the shared store (this node has no file for it)."""
        encoded = snapshot.get("update") if isinstance(snapshot, dict) else None
        if encoded is None:
            return  # synced without the document (sync_document = False): start empty
        whole = base64.b64decode(encoded, validate=True)
        pycrdt.Doc().apply_update(whole)  # refuse a damaged one loudly, before storing it
        self.storage.db.execute(_SCHEMA)
        self.storage.db.execute("INSERT INTO yjs_updates (data) VALUES (?)", [whole])

    def _apply(self, conn: Connection, update: bytes) -> None:
        if self._stored_bytes + len(update) > self.max_document_bytes:
            self._compact()  # the log may hold much that the document no longer needs
            if self._stored_bytes + len(update) > self.max_document_bytes:
                raise MessageTooBig(f"document over {self.max_document_bytes} bytes")
        self._added.clear()
        self.doc.apply_update(update)
        if not self._added:
            return  # nothing new (a repeat, or an empty step 2)
        added = self._added[0] if len(self._added) == 1 else pycrdt.merge_updates(*self._added)
        self._added.clear()
        self.storage.db.execute("INSERT INTO yjs_updates (data) VALUES (?)", [added])
        self._log_rows += 1
        self._stored_bytes += len(added)
        if self._log_rows >= self.compact_after:
            self._compact()
        self._relay.append((conn, added))  # last: nothing below can raise and roll back
        self.after_commit(self._flush_relay)

    def _flush_relay(self) -> None:
        """Relay what the turns of one commit added, as one update (after that commit).

        Turns that share a commit (group commit) each register this callback; the first to
        run sends everything, merged, so a burst of edits costs each client one message to
        decode and apply instead of one per edit. A sender does not get its own edits back
        when it is the only one in the burst; with several senders everyone gets the merged
        update (re-applying what one already has is a no-op in Yjs).
        """
        relay, self._relay = self._relay, []
        if not relay:
            return  # an earlier callback of the same commit sent it
        senders = {conn for conn, _ in relay}
        if len(relay) == 1:
            merged = relay[0][1]
        else:
            merged = pycrdt.merge_updates(*[update for _, update in relay])
        self.broadcast(encode_update(merged), exclude=senders if len(senders) == 1 else ())

    def _on_doc_update(self, event: pycrdt.TransactionEvent) -> None:
        if event.update != _EMPTY_UPDATE:
            self._added.append(event.update)

    def _compact(self) -> None:
        whole = self.doc.get_update()
        db = self.storage.db
        db.execute("DELETE FROM yjs_updates")
        db.execute("INSERT INTO yjs_updates (data) VALUES (?)", [whole])
        self._log_rows = 1
        self._stored_bytes = len(whole)

    def _awareness(self, conn: Connection, update: bytes) -> None:
        entries = decode_awareness(update)
        if len(entries) > self.max_awareness_clients:
            raise MessageTooBig(f"over {self.max_awareness_clients} awareness clients")
        for entry in entries:
            if len(entry.state.encode("utf-8")) > self.max_awareness_bytes:
                raise MessageTooBig(f"awareness state over {self.max_awareness_bytes} bytes")
        changed = self.awareness.apply(conn.id, entries, self.now())
        if self.awareness.count(conn.id) > self.max_awareness_clients:
            raise MessageTooBig(f"over {self.max_awareness_clients} awareness clients")
        if changed:
            self._save_awareness(conn)
            self.broadcast(encode_awareness(changed))
            self._schedule_expiry()

    def _save_awareness(self, conn: Connection) -> None:
        """Keep ``conn``'s awareness clients in ``conn.state["awareness"]`` (other keys stay:
        a subclass may keep its own there), where hibernation does not lose them."""
        state = conn.state if isinstance(conn.state, dict) else {}
        conn.state = {**state, "awareness": self.awareness.owned(conn.id)}

    def _schedule_expiry(self) -> None:
        due = self.awareness.next_expiry(self.awareness_timeout)
        if due is None or (self._expiry_at is not None and self._expiry_at <= due):
            return  # nothing to time out, or an earlier alarm already covers it
        self.alarms.set(AWARENESS_ALARM, at=due)
        self._expiry_at = due
