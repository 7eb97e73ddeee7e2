"""The messaging half of a slot's ActorHost: what the actor sends, checked and held (G4).

``connections``, ``send``, ``broadcast``, ``emit``, ``close`` and ``after_commit`` check
their input in the actor's turn (a bad close code or a raw frame to an envelope client fails
the turn there, not at release), encode frames once, and hand everything to the slot's
:class:`~roost.runtime._outbox.Outbox`, which holds it until the COMMIT. :class:`ActorSlot`
(``runtime/_slot``) inherits this; it needs nothing of the node.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from typing import Any

from roost._errors import ConnectionModeError
from roost.actors import Connection
from roost.protocol import ServerEvent, check_close_code, encode_binary, encode_text

from ._outbox import Outbox, SlotSession
from ._session_state import SessionState

log = logging.getLogger("roost.actor")
_LISTED = (SessionState.CONNECTING, SessionState.OPEN)


class SlotMessaging:
    """Messaging for one actor: its connections and its outbox (set by the slot)."""

    __slots__ = ()  # the slot's own (runtime/_slot.py): no __dict__ per actor

    actor_type: str
    key: str
    sessions: dict[Connection, SlotSession]
    outbox: Outbox

    def connections(self, tag: str | None = None) -> Sequence[Connection]:
        # Connecting ones count (on_connect sees itself), closing ones no longer do.
        return [
            c
            for c, s in self.sessions.items()
            if s.state in _LISTED and (tag is None or tag in c.tags)
        ]

    def broadcast(
        self, message: str | bytes, exclude: Collection[Connection] = (), tag: str | None = None
    ) -> None:
        frame = encode_text(message) if isinstance(message, str) else encode_binary(message)
        self.outbox.broadcast(frame, exclude, tag)

    def send(self, conn: Connection, message: str | bytes) -> None:
        if conn.subprotocol is not None:
            # A raw frame would break the envelope protocol and close the client with 1003
            # or 1007 (G8 is about *bad* clients): refuse in the actor, whose turn logs it.
            raise ConnectionModeError(
                f"conn.send() sends raw frames, but {conn.id} speaks the envelope protocol "
                f"{conn.subprotocol}: use self.emit(name, data, to=conn)"
            )
        session = self.sessions.get(conn)
        if session is None:
            return
        frame = encode_text(message) if isinstance(message, str) else encode_binary(message)
        self.outbox.frame(session, frame)

    def queue_result(self, session: SlotSession, call_id: int, frame: bytes) -> None:
        """An envelope call's result frame, released after the turn's commit (G4)."""
        self.outbox.result(session, call_id, frame)

    def emit(
        self,
        name: str,
        data: Any = None,
        *,
        to: Connection | Collection[Connection] | None = None,
        exclude: Collection[Connection] = (),
        tag: str | None = None,
    ) -> None:
        # A ValueError (data that cannot be encoded) fails the turn.
        self.outbox.emit(ServerEvent(name=name, data=data), to, exclude, tag)

    def close(self, conn: Connection, code: int, reason: str) -> None:
        session = self.sessions.get(conn)
        if session is None:
            return
        check_close_code(code)  # a bad code fails the turn now, not at release
        self.outbox.close(session, code, reason)

    def after_commit(self, callback: Callable[[], None]) -> None:
        def guarded() -> None:
            try:
                callback()
            except Exception:
                log.exception(
                    "after_commit callback of %s/%s failed",
                    self.actor_type,
                    self.key,
                    extra={"actor_type": self.actor_type, "key": self.key},
                )

        self.outbox.callback(guarded)

    def is_closed(self, conn: Connection) -> bool:
        session = self.sessions.get(conn)
        return session is None or not session.can_send
