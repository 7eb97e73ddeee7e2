"""A WebSocket connection as an actor sees it.

The object is a handle: the socket, its queue and its close handshake belong to the runtime.
Tags and ``state`` live on the handle, so they belong to the connection rather than to any
one activation of the actor.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Protocol

from roost._errors import CloseCode

#: At most this many tags per connection, each at most MAX_TAG_LENGTH characters.
MAX_TAGS = 10
MAX_TAG_LENGTH = 256
#: ``conn.state`` must serialise to at most this many bytes of JSON.
MAX_STATE_BYTES = 16 * 1024


class ConnectionHost(Protocol):
    """What a connection handle needs of its actor's host: the part of
    :class:`roost.actors.ActorHost` that acts on one connection (declared here, so this
    module does not import the actor module that imports it)."""

    def send(self, conn: Connection, message: str | bytes) -> None: ...

    def close(self, conn: Connection, code: int, reason: str) -> None: ...

    def is_closed(self, conn: Connection) -> bool: ...


class Connection:
    """One client WebSocket of an actor.

    Attributes:
        id: unique within the server process; stable for the connection's life.
        subprotocol: the negotiated ``Sec-WebSocket-Protocol``, or None (raw mode).
    """

    __slots__ = (
        "__weakref__",
        "_client",
        "_host",
        "_identity",
        "_state",
        "_tags",
        "id",
        "subprotocol",
    )

    def __init__(
        self,
        host: ConnectionHost,
        connection_id: str,
        subprotocol: str | None,
        *,
        identity: Any = None,
        client: tuple[str, int] | None = None,
    ) -> None:
        self._host = host
        self.id = connection_id
        self.subprotocol = subprotocol
        self._identity = identity
        self._client = client
        self._tags: frozenset[str] = frozenset()
        self._state: Any = None

    @property
    def identity(self) -> Any:
        """What the app's ``authenticate`` hook returned for the upgrade (JSON-able), or None
        without a hook. Fixed for the connection's life: it lives on the handle, so it
        survives hibernation (G6, G10)."""
        return self._identity

    @property
    def client(self) -> tuple[str, int] | None:
        """The client's ``(host, port)`` as in ASGI, or None when unknown."""
        return self._client

    @property
    def tags(self) -> frozenset[str]:
        """Labels for :meth:`Actor.connections` and ``broadcast(tag=...)``; set in on_connect."""
        return self._tags

    @tags.setter
    def tags(self, tags: Iterable[str]) -> None:
        tags = frozenset(tags)
        if len(tags) > MAX_TAGS:
            raise ValueError(f"at most {MAX_TAGS} tags per connection")
        for tag in tags:
            if not isinstance(tag, str) or not 0 < len(tag) <= MAX_TAG_LENGTH:
                raise ValueError(f"tags must be non-empty strings of at most {MAX_TAG_LENGTH}")
        self._tags = tags

    @property
    def state(self) -> Any:
        """Per-connection data (JSON-able, at most MAX_STATE_BYTES serialised).

        Assign to change it: the bound is checked on assignment.
        """
        return self._state

    @state.setter
    def state(self, value: Any) -> None:
        encoded = json.dumps(value, separators=(",", ":"))
        if len(encoded.encode("utf-8")) > MAX_STATE_BYTES:
            raise ValueError(f"connection state over {MAX_STATE_BYTES} bytes of JSON")
        self._state = json.loads(encoded)

    def send(self, message: str | bytes) -> None:
        """Send a text (str) or binary (bytes) frame.

        Inside a turn the frame leaves after the turn commits (G4). It never blocks: a peer
        that does not keep up is disconnected instead. Sending on a closed connection is a
        no-op, because the peer may vanish at any moment and that is not the sender's error.

        Raises:
            ConnectionModeError: this is an envelope connection (``subprotocol`` is set);
                reach it with ``Actor.emit(name, data, to=conn)``.
        """
        self._host.send(self, message)

    def close(self, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        """Start the close handshake; ``on_close`` follows once it completes."""
        self._host.close(self, code, reason)

    @property
    def closed(self) -> bool:
        """True once the connection is closing or closed."""
        return self._host.is_closed(self)

    def __repr__(self) -> str:
        return f"<Connection {self.id}>"
