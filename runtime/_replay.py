"""Resumable event streams (issue 15): each actor's ``seq`` counter and replay buffer.

Every envelope event an actor emits (``emit``, presence) is stamped with ``seq``, one more
than the last, and kept in a bounded buffer: the last ``Actor.replay_events`` events (1,000)
or ``Actor.replay_bytes`` (1 MiB) of them, whichever is smaller, the newest always kept. A
client that reconnects with ``?resume=<seq>`` gets the events after ``seq`` that it may see,
in order, before anything new; when the buffer no longer reaches back to ``seq`` (or never
held it), it gets one ``resync`` event and must fetch the state again.

Who may see a replayed event: only events emitted to the actor's whole audience are replayed
(``to=None`` and no ``exclude``), and a tagged one (``tag=``) only to a connection that has
the tag once its ``on_connect`` ran. Events for chosen connections (``to=``, ``exclude=``) take
a seq but are never replayed: the resuming connection is a new one, and nothing tells which
old connection it replaces.

Where the buffer lives: with the slot, so it survives hibernation but not the slot (nor the
node). For durable actors (runtime/_durable.py) it is also the table ``_roost_events`` of the
actor's file, written in the turn that emitted the events: the commit that durable output
ships carries them, and a node that takes the actor over rebuilds the file, buffer included.

Sequence numbers are never reused for one actor: a buffer that starts empty (a new slot, or a
durable actor with no events yet) starts after the node clock's unix time in microseconds, so
a position from an earlier life of the actor is always older than anything the new life holds
(resync), unless the wall clock went back further than that life lasted.

The seq counter follows the turns: what a turn that raises emitted is forgotten with it, and a
group whose COMMIT fails gives its seqs back; only committed events are replayed.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Collection
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from roost._errors import EnvelopeError, StorageError
from roost.protocol import RESYNC, EnvelopeCodec, ServerEvent, resync_event

if TYPE_CHECKING:
    from roost.storage import ActorStorage

    from ._transport import Peer

__all__ = ["EventLog", "ReplayHost", "ReplaySession", "resume_session"]


class ReplaySession(Protocol):
    """What a replay needs of the resuming session (declared here, not imported from
    runtime/_outbox, which imports this module: no cycle)."""

    @property
    def peer(self) -> Peer: ...

    def encode(self, envelope: ServerEvent) -> bytes: ...


_CBOR = EnvelopeCodec("cbor")
_CBOR_READER = EnvelopeCodec("cbor", client=True)
_TABLE = "_roost_events"
_CREATE = (
    f"CREATE TABLE IF NOT EXISTS {_TABLE} (seq INTEGER PRIMARY KEY,"
    " envelope BLOB, tag TEXT, size INTEGER NOT NULL)"
)
_EXISTS = f"SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '{_TABLE}'"
_LOAD = f"SELECT seq, envelope, tag, size FROM {_TABLE} ORDER BY seq DESC LIMIT ?"
_INSERT = f"INSERT OR REPLACE INTO {_TABLE} (seq, envelope, tag, size) VALUES (?, ?, ?, ?)"
_TRIM = f"DELETE FROM {_TABLE} WHERE seq <= ?"
_MICROSECONDS = 1_000_000


class ReplayHost(Protocol):
    """What the event log needs of its actor's slot (runtime/_slot.py implements it)."""

    @property
    def cls(self) -> type[Any]: ...

    @property
    def durable(self) -> object | None:
        """Not None while the actor is active here in durable mode."""
        ...

    @property
    def storage(self) -> ActorStorage: ...

    def now(self) -> float: ...


@attrs.frozen
class _Entry:
    seq: int
    event: ServerEvent | None  # None: for chosen connections, never replayed
    tag: str | None
    size: int


#: Where a turn's events begin: (pending entries, last seq) before it.
ReplayMark = tuple[int, int | None]


class EventLog:
    """One actor's event stream: the seq counter and the buffer of committed events.

    Memory: at most ``replay_events`` entries of the actor class, whose encoded events add
    up to at most ``replay_bytes`` (the newest is kept whatever its size), plus the events
    of the turns not committed yet. The buffer is made by the first committed event: every
    slot has a log, most actors never emit (an empty deque is 760 bytes, issue 16).
    """

    __slots__ = ("_bound", "_bytes", "_committed", "_entries", "_host", "_last", "_pending")

    def __init__(self, host: ReplayHost) -> None:
        self._host = host
        self._entries: deque[_Entry] | None = None  # made by the first commit()
        self._pending: list[_Entry] = []
        self._bytes = 0
        self._last: int | None = None  # the last seq given out, uncommitted turns included
        self._committed: int | None = None  # the last committed seq
        self._bound: ActorStorage | None = None  # the durable file the buffer was read from

    # -- the counter ---------------------------------------------------------------------------

    @property
    def last(self) -> int:
        """The seq of the last event emitted (the start of the stream if none was)."""
        self._start()
        assert self._last is not None
        return self._last

    def _start(self) -> None:
        """Read a durable actor's buffer from its file once per activation; start a new
        stream after the node clock's time if there is none."""
        if self._host.durable is not None:
            storage = self._host.storage
            if storage is not self._bound:
                self._load(storage)
                self._bound = storage
        if self._last is None:
            self._last = self._committed = int(self._host.now() * _MICROSECONDS)

    def stamp(self, event: ServerEvent) -> ServerEvent:
        """``event`` with the next seq (taken only once :meth:`record` records it).

        Raises:
            ValueError: the name is ``resync``, which clients take for the server's own.
        """
        if event.name == RESYNC:
            raise ValueError(f"the event name {RESYNC!r} is reserved for roost")
        return ServerEvent(event.name, event.data, seq=self.last + 1)

    def record(
        self,
        event: ServerEvent,
        frames: Collection[bytes],
        *,
        replayable: bool,
        tag: str | None,
        gated: bool,
    ) -> None:
        """Take ``event``'s seq: kept for replay once its turn commits (now, if ``gated`` is
        false: emitted outside a turn). ``frames`` are its encoded frames, if any (their
        size is what the byte bound counts).

        Raises:
            UnencodableValue, ValueTooLarge: the data is outside the data model (the turn
                fails, as when a client is connected).
            StorageError: a durable actor's file refused the event.
        """
        assert event.seq is not None
        envelope: bytes | None = None
        size = min((len(frame) for frame in frames), default=0)
        durable = self._host.durable is not None
        if not size or durable:
            encoded = _CBOR.encode(event)
            assert isinstance(encoded, bytes)
            envelope, size = encoded, size or len(encoded)
        entry = _Entry(event.seq, event if replayable else None, tag, size)
        if durable:
            self._write(entry, envelope if replayable else None)
        self._last = event.seq
        self._pending.append(entry)
        if not gated:
            self.commit()

    # -- a turn's bounds (the outbox calls these with its own) ---------------------------------

    def mark(self) -> ReplayMark:
        return len(self._pending), self._last

    def rollback(self, mark: ReplayMark) -> None:
        """The turn that began at ``mark`` raised: its events and their seqs are gone."""
        del self._pending[mark[0] :]
        self._last = mark[1]

    def commit(self) -> None:
        """The turns' COMMIT succeeded: their events may be replayed."""
        if not self._pending:
            return
        settings = self._host.cls
        max_events, max_bytes = settings.replay_events, settings.replay_bytes
        entries = self._entries
        if entries is None:
            entries = self._entries = deque()
        for entry in self._pending:
            entries.append(entry)
            self._bytes += entry.size
        self._pending.clear()
        self._committed = self._last
        while len(entries) > 1 and (len(entries) > max_events or self._bytes > max_bytes):
            self._bytes -= entries.popleft().size

    def fail(self) -> None:
        """The COMMIT failed: the uncommitted events never left, their seqs are free again."""
        self._pending.clear()
        self._last = self._committed

    # -- replay --------------------------------------------------------------------------------

    def replay(self, resume: int, upto: int, tags: Collection[str]) -> list[ServerEvent] | None:
        """The events after ``resume`` up to ``upto`` that a connection with ``tags`` may
        see, oldest first; None when the buffer does not reach back to ``resume`` (or
        ``resume`` is ahead of ``upto``): the client must resync."""
        self._start()
        entries = self._entries
        floor = entries[0].seq - 1 if entries else self._committed
        assert floor is not None
        if resume < floor or resume > upto:
            return None
        return [
            entry.event
            for entry in entries or ()
            if resume < entry.seq <= upto
            and entry.event is not None
            and (entry.tag is None or entry.tag in tags)
        ]

    # -- durable actors: the buffer in the actor's file ----------------------------------------

    def _load(self, storage: ActorStorage) -> None:
        """Start from the events in the file (a new activation: it may have been rebuilt)."""
        self._entries = None
        self._pending.clear()
        self._bytes = 0
        self._last = self._committed = None
        settings = self._host.cls
        conn = storage.db.conn
        try:
            if conn.execute(_EXISTS).fetchone() is None:
                return
            rows = conn.execute(_LOAD, [max(settings.replay_events, 1)]).fetchall()
        except sqlite3.Error as exc:
            raise StorageError(f"cannot read the event buffer: {exc}") from exc
        entries: deque[_Entry] = deque()
        for seq, envelope, tag, size in rows:  # newest first
            if entries and self._bytes + size > settings.replay_bytes:
                break
            event = _CBOR_READER.decode(envelope) if envelope is not None else None
            stored = event if isinstance(event, ServerEvent) else None
            entries.appendleft(_Entry(seq, stored, tag, size))
            self._bytes += size
        if rows:
            self._entries = entries
            self._last = self._committed = rows[0][0]

    def _write(self, entry: _Entry, envelope: bytes | None) -> None:
        """Insert the event in the emitting turn; drop the rows the buffer let go."""
        conn = self._host.storage.db.conn
        floor = self._entries[0].seq - 1 if self._entries else None
        try:
            conn.execute(_CREATE)
            conn.execute(_INSERT, [entry.seq, envelope, entry.tag, entry.size])
            if floor is not None:
                conn.execute(_TRIM, [floor])
        except sqlite3.Error as exc:
            raise StorageError(f"cannot store the event: {exc}") from exc


def resume_session(
    log: EventLog, session: ReplaySession, tags: Collection[str], resume: int, upto: int
) -> int:
    """Write to a resuming ``session`` what it missed between ``resume`` and ``upto`` (the
    last seq before its own connection's turn), or a ``resync`` event; returns the number
    of frames written. Runs where the handshake response is written, ahead of anything
    else for the connection."""
    events = log.replay(resume, upto, tags)
    if events is None:
        events = [resync_event(upto)]
    written = 0
    for event in events:
        try:
            frame = session.encode(event)
        except EnvelopeError:
            continue  # bytes for a JSON client: it could not have received them live either
        session.peer.write(frame)
        written += 1
    return written
