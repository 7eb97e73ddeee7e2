"""Resumable event streams, the wire side: the ``?resume=`` position and the ``resync`` event.

Every event the server sends carries ``seq``, its place in the actor's stream. A client that
reconnects asks for what it missed with ``?resume=<the last seq it saw>``; the server replays
the events after it, or sends :func:`resync_event` when it no longer has them. The rules are
in docs/protocol.md ("Resuming a stream"); the buffer itself is the runtime's
(runtime/_replay.py).
"""

from __future__ import annotations

from roost._errors import HandshakeError

from ._envelope import MAX_CALL_ID, ServerEvent

__all__ = ["RESYNC", "parse_resume", "resync_event"]

#: The name of the event that tells a resuming client its position is gone (reserved: an
#: actor cannot emit an event of this name).
RESYNC = "resync"


def parse_resume(value: str | None) -> int | None:
    """The position a ``resume`` query parameter asks for (None: the parameter is absent).

    Decimal digits only, at most 16 of them, for a seq ``0 <= seq < 2**53``: the client
    sends back a seq it read, so anything else is a client bug, refused loudly.

    Raises:
        HandshakeError: 400 for a value that is not such a number.
    """
    if value is None:
        return None
    if not (0 < len(value) <= 16 and value.isascii() and value.isdigit()):
        raise HandshakeError("resume must be a decimal seq, 0 <= seq < 2**53", status=400)
    position = int(value)
    if position > MAX_CALL_ID:
        raise HandshakeError("resume must be a decimal seq, 0 <= seq < 2**53", status=400)
    return position


def resync_event(seq: int) -> ServerEvent:
    """The event telling a resuming client that the events after its position are gone:
    it must fetch the state again; ``seq`` is where the stream it now gets starts after."""
    return ServerEvent(RESYNC, None, seq=seq)
