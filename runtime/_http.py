"""HTTP/1.1 over a :class:`Peer`, parsed and produced by h11 (never by hand)."""

from __future__ import annotations

import re

import h11

from roost._errors import HandshakeError
from roost.actors import Request, Response

from ._routing import Target
from ._transport import Peer

#: Largest request head (request line plus headers) we parse: answered 431 beyond it.
MAX_HEAD_BYTES = 16 * 1024
#: Longest request line (method, target, version): answered 414 beyond it.
MAX_REQUEST_LINE = 8 * 1024
#: The HTTP versions served; a request line with any other is answered 505.
SUPPORTED_VERSIONS = frozenset({b"1.0", b"1.1"})
# Where a request head ends: h11 takes a bare LF for CRLF, so this does too.
_HEAD_END = re.compile(b"\n\r?\n")


def new_connection() -> h11.Connection:
    """An h11 server-side connection with our head size limit."""
    return h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)


async def read_head(
    peer: Peer, conn: h11.Connection, *, max_headers: int = 100
) -> h11.Request | None:
    """Read the next request's head; None when the peer closed between requests.

    Raises:
        HandshakeError: 414 or 431 when the request line or the head is too long, 431 when
            it has more than ``max_headers`` header lines; 505 for an HTTP version other
            than 1.0 and 1.1; 400 for both Content-Length and
            Transfer-Encoding (RFC 9112 §6.1: the caller answers and closes, so nothing can
            be smuggled behind).
        h11.RemoteProtocolError: the bytes are not HTTP/1.1.
    """
    check_head_size(conn.trailing_data[0])  # pipelined behind the previous request
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            data = await peer.receive()
            check_head_size(conn.trailing_data[0] + data)
            conn.receive_data(data)
        elif isinstance(event, h11.Request):
            check_head(event, max_headers=max_headers)
            return event
        elif isinstance(event, h11.ConnectionClosed):
            return None
        else:  # nothing else comes before a request
            raise h11.RemoteProtocolError("unexpected HTTP event")


async def read_body(
    peer: Peer, conn: h11.Connection, request: h11.Request, *, max_body: int
) -> bytes:
    """Read the body of ``request`` (whose head :func:`read_head` returned).

    Raises:
        HandshakeError: 413 when the declared or actual body is over ``max_body`` (declared:
            before any of it is read).
        h11.RemoteProtocolError: the bytes are not HTTP/1.1 (or end before the body does).
    """
    for name, value in request.headers:
        if name == b"content-length" and int(value) > max_body:
            raise HandshakeError("request body too large", status=413)
    body = bytearray()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await peer.receive())
        elif isinstance(event, h11.Data):
            body += event.data
            if len(body) > max_body:
                raise HandshakeError("request body too large", status=413)
        elif isinstance(event, h11.EndOfMessage):
            return bytes(body)
        else:  # ConnectionClosed raises in h11 before the body ends; PAUSED cannot happen
            raise h11.RemoteProtocolError("unexpected HTTP event")


def is_rpc_target(target: bytes) -> bool:
    """Whether a raw request target is ``/<type>/<key>/rpc/...`` (answered in JSON)."""
    segments = target.partition(b"?")[0].split(b"/", 3)
    return len(segments) == 4 and segments[3].startswith(b"rpc/")


def check_head_size(unparsed: bytes) -> None:
    """Refuse a request head over the limits, however its bytes arrived.

    h11 bounds only a head that is still incomplete, so a whole head arriving in one read
    would pass; ``unparsed`` is every byte h11 has not parsed yet plus the new ones.

    Raises:
        HandshakeError: 414 for a request line over :data:`MAX_REQUEST_LINE`, 431 for a
            head over :data:`MAX_HEAD_BYTES`.
    """
    line_end = unparsed.find(b"\n", 0, MAX_REQUEST_LINE + 1)
    if line_end == -1 and len(unparsed) > MAX_REQUEST_LINE:
        raise HandshakeError("request line too long", status=414)
    end = _HEAD_END.search(unparsed, 0, MAX_HEAD_BYTES + 2)
    head_size = end.end() if end else len(unparsed)
    if head_size > MAX_HEAD_BYTES:
        raise HandshakeError("request header fields too large", status=431)


def check_head(request: h11.Request, *, max_headers: int) -> None:
    """Checks on a parsed head that h11 leaves to us.

    Raises:
        HandshakeError: 505 for an HTTP version other than 1.0 and 1.1 (h11 parses any
            ``HTTP/d.d``; its framing rules are 1.x's, so nothing else may reach an actor),
            431 (too many header lines) or 400 (both Content-Length and Transfer-Encoding).
    """
    if request.http_version not in SUPPORTED_VERSIONS:
        raise HandshakeError("HTTP version not supported", status=505)
    if len(request.headers) > max_headers:
        raise HandshakeError("too many header fields", status=431)
    names = {name for name, _ in request.headers}
    if b"content-length" in names and b"transfer-encoding" in names:
        raise HandshakeError("both Content-Length and Transfer-Encoding", status=400)


def to_request(event: h11.Request, target: Target, body: bytes, rest: str = "") -> Request:
    """The actor-facing view of an h11 request."""
    headers: dict[str, str] = {}
    for name, value in event.headers:
        key = name.decode("latin-1")
        text = value.decode("latin-1")
        # Repeated lines join with ", " (RFC 9110), Cookie's with "; " (RFC 6265 5.4).
        joiner = "; " if key == "cookie" else ", "
        headers[key] = f"{headers[key]}{joiner}{text}" if key in headers else text
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
