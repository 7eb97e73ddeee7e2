"""An actor's outbox: what its turns send, held until their COMMIT (G4), then fanned out.

Inside a turn every output (a frame to one session, a broadcast, a close, an ``after_commit``
callback) is queued here; :meth:`Outbox.release` sends it in the order it was produced once
the turn's (or group's) COMMIT succeeded, and :meth:`Outbox.fail` drops it when the COMMIT
failed. Outside a turn (a timer, a callback) output leaves at once.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Collection
from typing import Protocol

import attrs

from roost._errors import CloseCode
from roost.actors import Connection
from roost.protocol import EnvelopeCodec, ServerEvent

from ._replay import EventLog, ReplayMark
from ._session_state import SessionState
from ._stats import NodeStats
from ._transport import Peer

log = logging.getLogger("roost.actor")


class SlotSession(Protocol):
    """What an actor's slot and outbox need of one of its WebSocket sessions
    (runtime/_websocket.py implements it; declared here, below the session, so neither the
    slot nor the outbox imports the session that imports them)."""

    @property
    def state(self) -> SessionState: ...

    @property
    def can_send(self) -> bool: ...

    @property
    def can_raw(self) -> bool: ...

    @property
    def peer(self) -> Peer: ...

    @property
    def codec(self) -> EnvelopeCodec | None: ...

    def encode(self, envelope: ServerEvent) -> bytes: ...

    def close(self, code: int, reason: str = "") -> None: ...

    def reply_error(self, call_id: int | None, code: str, message: str) -> None: ...


@attrs.frozen
class _Close:
    """An outbox entry's frame slot holding a close: output like any frame, so it leaves after
    the turn's commit and behind the frames the turn sent before it (G4)."""

    code: int
    reason: str


@attrs.frozen
class _Held:
    """A committed group's output waiting for log position ``seq`` in the store."""

    seq: int
    entries: list[_Outgoing]
    calls: list[tuple[SlotSession, int]]


@attrs.frozen
class _Callback:
    """An outbox entry that runs code at its place in the release order (the WebSocket
    handshake response, which must precede the frames for the new peer; an actor's
    ``after_commit`` callbacks)."""

    run: Callable[[], None]
    #: It opens a connection (the handshake response): when the output it leads fails
    #: (:meth:`Outbox.fail_held`), it still runs, and the connection closes at once.
    opens: bool = False


# One outbox entry: (frame, close or callback; session or None for a broadcast; excluded; tag).
_Outgoing = tuple[
    "bytes | _Close | _Callback", SlotSession | None, Collection[Connection], str | None
]
#: Where a turn's output begins: (entries, pending calls, events) before it.
Mark = tuple[int, int, ReplayMark | None]


class Outbox:
    """One actor's held output and its fan-out to the actor's sessions.

    Args:
        sessions: the slot's sessions by connection (the same dict: it changes as clients
            come and go).
        stats: the node's counters (``messages_sent_total``).
        replay: the actor's event stream (runtime/_replay.py): stamps each event with its
            seq and keeps it for clients that resume.

    Attributes:
        gated: a turn is running, so output waits for its COMMIT.
        pending_calls: envelope calls whose results wait here: answered with an error if
            the COMMIT they wait for fails, so no caller waits for a reply that never comes.
    """

    __slots__ = ("_entries", "_held", "_sessions", "_stats", "gated", "pending_calls", "replay")

    def __init__(
        self,
        sessions: dict[Connection, SlotSession],
        stats: NodeStats,
        replay: EventLog | None = None,
    ) -> None:
        self._sessions = sessions
        self._stats = stats
        self.replay = replay
        self._entries: list[_Outgoing] = []
        self.gated = False
        self.pending_calls: list[tuple[SlotSession, int]] = []
        # Durable output (runtime/_durable.py): committed groups' output waiting for the
        # store, oldest first, each under the log position it waits for. Made by the first
        # hold(): an empty deque is 760 bytes, most actors are not durable (issue 16).
        self._held: deque[_Held] | None = None

    # -- output --------------------------------------------------------------------------------

    def frame(self, session: SlotSession, frame: bytes) -> None:
        """A ready frame for one session: after the commit inside a turn, else now."""
        if self.gated:
            self._entries.append((frame, session, (), None))
        elif self._held:  # behind the output that waits for the store
            self._held[-1].entries.append((frame, session, (), None))
        elif session.can_send:
            session.peer.write(frame)
            self._stats.messages_sent_total += 1

    def result(self, session: SlotSession, call_id: int, frame: bytes) -> None:
        """An envelope call's result: it leaves after the commit (G4); if the commit fails,
        the call is answered ``unavailable`` instead (see :meth:`fail`)."""
        self.frame(session, frame)
        self.pending_calls.append((session, call_id))

    def broadcast(self, frame: bytes, exclude: Collection[Connection], tag: str | None) -> None:
        """A raw frame for every raw-mode session (of ``tag``, not in ``exclude``)."""
        if self.gated:
            self._entries.append((frame, None, exclude, tag))
        elif self._held:
            self._held[-1].entries.append((frame, None, exclude, tag))
        else:
            self._fan_out(frame, exclude, tag)

    def emit(
        self,
        event: ServerEvent,
        to: Connection | Collection[Connection] | None,
        exclude: Collection[Connection],
        tag: str | None,
    ) -> None:
        """An event for envelope-mode sessions, encoded once per subprotocol, stamped with
        its seq and kept for replay (only events for everyone (of ``tag``) are replayed).

        Raises:
            ValueError: the data cannot be encoded, or the name is reserved (it fails the
                turn).
        """
        replay = self.replay
        if replay is not None:
            event = replay.stamp(event)
        sessions = self._sessions
        if to is None:
            targets = [
                s
                for c, s in sessions.items()
                if s.codec is not None and c not in exclude and (tag is None or tag in c.tags)
            ]
        else:
            conns = [to] if isinstance(to, Connection) else list(to)
            targets = [
                s
                for c in conns
                if (s := sessions.get(c)) is not None
                and s.codec is not None
                and c not in exclude
                and (tag is None or tag in c.tags)
            ]
        frames: dict[str, bytes] = {}
        for session in targets:
            codec = session.codec
            assert codec is not None
            frame = frames.get(codec.kind)
            if frame is None:
                frame = frames[codec.kind] = session.encode(event)
            self.frame(session, frame)
        if replay is not None:
            replayable = to is None and not exclude
            replay.record(event, frames.values(), replayable=replayable, tag=tag, gated=self.gated)

    def close(self, session: SlotSession, code: int, reason: str) -> None:
        """Close one session, behind the frames queued before (G4)."""
        if self.gated:
            self._entries.append((_Close(code, reason), session, (), None))
        elif self._held:
            self._held[-1].entries.append((_Close(code, reason), session, (), None))
        else:
            session.close(code, reason)

    def callback(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` after the commit, in order with the frames (now outside a turn)."""
        if self.gated:
            self._entries.append((_Callback(callback), None, (), None))
        elif self._held:
            self._held[-1].entries.append((_Callback(callback), None, (), None))
        else:
            callback()

    # -- a turn's bounds -----------------------------------------------------------------------

    def mark(self) -> Mark:
        """Where the output of the turn about to run begins."""
        events = self.replay.mark() if self.replay is not None else None
        return len(self._entries), len(self.pending_calls), events

    def rollback(self, mark: Mark) -> None:
        """Drop what the turn that began at ``mark`` produced (it raised: G3, G4)."""
        del self._entries[mark[0] :]
        del self.pending_calls[mark[1] :]
        if self.replay is not None and mark[2] is not None:
            self.replay.rollback(mark[2])

    def insert_callback(self, mark: Mark, callback: Callable[[], None]) -> None:
        """Run ``callback`` ahead of the output of the turn that began at ``mark``, behind
        earlier turns' (the handshake response before the new peer's first frames)."""
        self._entries.insert(mark[0], (_Callback(callback, opens=True), None, (), None))

    def release(self) -> None:
        """The COMMIT succeeded: send everything held, in the order it was produced."""
        if self.replay is not None:
            self.replay.commit()  # before the frames: a resuming session's replay runs there
        self.pending_calls.clear()
        entries = self._entries
        if entries:
            self._send(entries)

    # -- durable output: held until the store has the commit ------------------------------------

    @property
    def holding(self) -> bool:
        """Committed output waits for the store (nothing later may overtake it)."""
        return bool(self._held)

    @property
    def last_held(self) -> int:
        """The log position the newest held output waits for (0: none)."""
        return self._held[-1].seq if self._held else 0

    def hold(self, seq: int) -> None:
        """The COMMIT succeeded locally; its output waits until the store has position
        ``seq`` of the actor's log (:meth:`release_through`)."""
        if self.replay is not None:
            self.replay.commit()
        held = _Held(seq, self._entries, self.pending_calls)
        self._entries, self.pending_calls = [], []
        if self._held and self._held[-1].seq == seq:  # nothing new was written: join it
            self._held[-1].entries.extend(held.entries)
            self._held[-1].calls.extend(held.calls)
        elif self._held is None:
            self._held = deque((held,))
        else:
            self._held.append(held)

    def release_through(self, seq: int) -> None:
        """The store has the actor's log up to ``seq``: send what waited for it, in order."""
        while self._held and self._held[0].seq <= seq:
            self._send(self._held.popleft().entries)

    def fail_held(self) -> None:
        """The store refused the commits, or their history ended: drop their output.

        Calls get ``unavailable``. A connection that was to get anything else of it (an
        event, a broadcast, a close) is closed with 1012, so it never misses an event
        silently: it reconnects (and resumes or resyncs). A handshake held in it is answered
        all the same, then closed with 1012 at once: the client hears "retry" instead of
        waiting for a response that would never come.
        """
        if not self._held:
            return
        missed: set[SlotSession] = set()
        handshakes: list[_Callback] = []
        while self._held:
            held = self._held.popleft()
            results: dict[SlotSession, int] = {}
            for caller, call_id in held.calls:
                caller.reply_error(call_id, "unavailable", "the actor moved; retry")
                results[caller] = results.get(caller, 0) + 1
            for frame, target, _exclude, _tag in held.entries:
                if isinstance(frame, _Callback):
                    if frame.opens:
                        handshakes.append(frame)
                elif target is None:  # a broadcast: every raw connection may miss it
                    missed.update(s for s in self._sessions.values() if s.can_raw)
                elif isinstance(frame, _Close) or not results.get(target):
                    missed.add(target)
                else:  # a call's result (its caller was answered ``unavailable``)
                    results[target] -= 1
        if handshakes:
            waiting = [s for s in self._sessions.values() if s.state is not SessionState.OPEN]
            for handshake in handshakes:
                handshake.run()
            missed.update(s for s in waiting if s.state is SessionState.OPEN)
        for session in missed:
            session.close(CloseCode.SERVICE_RESTART, "the actor restarted; reconnect")

    def _send(self, entries: list[_Outgoing]) -> None:
        sent = 0
        for frame, session, exclude, tag in entries:
            kind = frame.__class__
            if kind is bytes:
                if session is None:
                    sent += self._fan_out(frame, exclude, tag)  # type: ignore[arg-type]
                elif session.can_send:
                    session.peer.write(frame)  # type: ignore[arg-type]
                    sent += 1
            elif kind is _Close:
                session.close(frame.code, frame.reason)  # type: ignore[union-attr]
            else:
                frame.run()  # type: ignore[union-attr]
        entries.clear()
        self._stats.messages_sent_total += sent

    def fail(self) -> None:
        """The COMMIT failed: drop everything held; calls that waited get ``unavailable``
        (retryable: nothing of theirs was committed)."""
        calls, self.pending_calls = self.pending_calls, []
        for session, call_id in calls:
            session.reply_error(call_id, "unavailable", "the actor could not commit; retry")
        self._entries.clear()
        if self.replay is not None:
            self.replay.fail()

    def _fan_out(self, frame: bytes, exclude: Collection[Connection], tag: str | None) -> int:
        """Write ``frame`` to every eligible session; returns how many got it."""
        # can_raw: open, and in raw mode (envelope clients get emit() events instead).
        sent = 0
        if tag is None:
            if exclude:
                for conn, session in self._sessions.items():
                    if session.can_raw and conn not in exclude:
                        session.peer.write(frame)
                        sent += 1
            else:
                for session in self._sessions.values():
                    if session.can_raw:
                        session.peer.write(frame)
                        sent += 1
        else:
            for conn, session in self._sessions.items():
                if session.can_raw and tag in conn.tags and conn not in exclude:
                    session.peer.write(frame)
                    sent += 1
        return sent
