"""Who made an HTTP rpc call: the ``conn`` an rpc method receives when called over HTTP.

An HTTP call is a caller like a WebSocket client, with an identity and an address, so an rpc
method can decide from ``conn.identity`` what the caller may do; ``conn is None`` then means
only one thing: another actor is calling (G10).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

import attrs

from roost._errors import CloseCode, ConnectionModeError


@attrs.frozen(kw_only=True)
class HttpCaller:
    """The caller of an rpc method over ``POST /<type>/<key>/rpc/<method>``.

    It has no socket: the reply is the method's return value. ``send`` and ``close`` exist
    only to fail clearly when a method written for WebSocket callers is called over HTTP.

    Attributes:
        identity: what the app's ``authenticate`` hook returned, or None without a hook.
        client: the client's ``(host, port)`` as in ASGI, or None when unknown.
        headers: the request's headers, names lowercased (left out of the repr: they may
            carry credentials).
    """

    identity: Any = None
    client: tuple[str, int] | None = None
    headers: Mapping[str, str] = attrs.field(factory=dict, repr=False)
    subprotocol: None = attrs.field(default=None, init=False, repr=False)

    def send(self, message: str | bytes) -> NoReturn:
        """Always raises: an HTTP caller gets the method's return value, nothing else.

        Raises:
            ConnectionModeError: always.
        """
        raise ConnectionModeError(
            "an HTTP rpc caller has no connection to send on: return the value instead "
            "(check `isinstance(conn, Connection)` before sending)"
        )

    def close(self, code: int = CloseCode.NORMAL, reason: str = "") -> NoReturn:
        """Always raises: there is no connection to close.

        Raises:
            ConnectionModeError: always.
        """
        raise ConnectionModeError("an HTTP rpc caller has no connection to close")
