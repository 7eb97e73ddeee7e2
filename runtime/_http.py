"""HTTP/1.1 over a :class:`Peer`, parsed and produced by h11 (never by hand)."""

from __future__ import annotations

import h11

from roost._errors import HandshakeError
from roost.actors import Request, Response

from ._routing import Target
from ._transport import Peer

#: Largest request head (request line plus headers) we parse.
MAX_HEAD_BYTES = 16 * 1024


def new_connection() -> h11.Connection:
    """An h11 server-side connection with our head size limit."""
    return h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)


async def read_request(
    peer: Peer, conn: h11.Connection, *, max_body: int
) -> tuple[h11.Request, bytes] | None:
    """Read one whole request (head and body); None when the peer closed between requests.

    Raises:
        HandshakeError: 413 when the declared or actual body is over ``max_body``.
        h11.RemoteProtocolError: the bytes are not HTTP/1.1.
    """
    request: h11.Request | None = None
    body = bytearray()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await peer.receive())
        elif isinstance(event, h11.Request):
            request = event
            for name, value in event.headers:
                if name == b"content-length" and int(value) > max_body:
                    raise HandshakeError("request body too large", status=413)
        elif isinstance(event, h11.Data):
            body += event.data
            if len(body) > max_body:
                raise HandshakeError("request body too large", status=413)
        elif isinstance(event, h11.EndOfMessage):
            assert request is not None
            return request, bytes(body)
        elif isinstance(event, h11.ConnectionClosed):
            return None
        else:  # PAUSED cannot happen before EndOfMessage
            raise h11.RemoteProtocolError("unexpected HTTP event")


def to_request(event: h11.Request, target: Target, body: bytes, rest: str = "") -> Request:
    """The actor-facing view of an h11 request."""
    headers: dict[str, str] = {}
    for name, value in event.headers:
        key = name.decode("latin-1")
        text = value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return Request(
        method=event.method.decode("ascii"),
        path=target.path,
        rest=rest,
        query=target.query,
        headers=headers,
        body=body,
    )


def write_response(
    peer: Peer, conn: h11.Connection, response: Response, *, head: bool = False
) -> None:
    """Queue ``response`` on the peer (Content-Length framing).

    For a HEAD request (``head``) the headers describe the body but the body is not sent.
    """
    headers = [
        ("content-type", response.content_type),
        ("content-length", str(len(response.body))),
        *response.headers,
    ]
    peer.write(conn.send(h11.Response(status_code=response.status, headers=headers)))
    if response.body and not head:
        peer.write(conn.send(h11.Data(data=response.body)))
    peer.write(conn.send(h11.EndOfMessage()))


def error_response(status: int, reason: str) -> Response:
    """A small plain-text error; ``reason`` must be ours, never an internal detail."""
    return Response.text(reason + "\n", status=status, headers={"connection": "close"})
