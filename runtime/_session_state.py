"""The connection lifecycle's states, apart from the session that moves through them.

Its own module so that the actor slot (which lists the connections that count as present)
and the WebSocket session (which moves through the states) both depend on it, and not on
each other (style rule 14).
"""

from __future__ import annotations

import enum


class SessionState(enum.Enum):
    """The connection lifecycle."""

    CONNECTING = "connecting"  # on_connect is running; nothing has been sent yet
    OPEN = "open"
    CLOSING = "closing"  # we sent a close frame and wait for the peer's
    CLOSED = "closed"
