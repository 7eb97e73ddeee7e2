"""Helpers for the exposure tests: requests with exactly the headers a browser or proxy sends."""

from __future__ import annotations

import h11
import trio

from roost import Actor, App

#: The upgrade headers of a browser's WebSocket handshake (Host and Origin come separately).
UPGRADE = [
    ("upgrade", "websocket"),
    ("connection", "Upgrade"),
    ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ("sec-websocket-version", "13"),
]


class Room(Actor):
    """Accepts every connection and does nothing: the limits are the server's."""


def make_app() -> App:
    app = App()
    app.actor("room", Room)
    return app


async def ask(
    port: int,
    method: str,
    path: str,
    headers: list[tuple[str, str]] | None = None,
    *,
    body: bytes = b"",
    host: str | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One request on a fresh connection with ``Host: 127.0.0.1:<port>`` (or ``host``).

    Returns (status, headers, body); a 101 answer returns at once with an empty body.
    """
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        conn = h11.Connection(h11.CLIENT)
        sent = [("host", host or f"127.0.0.1:{port}"), ("content-length", str(len(body)))]
        data = conn.send(
            h11.Request(method=method, target=path.encode(), headers=sent + (headers or []))
        )
        data += conn.send(h11.Data(data=body)) if body else b""
        data += conn.send(h11.EndOfMessage())
        await stream.send_all(data)
        status, answer, received = 0, {}, bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await stream.receive_some(65536))
            elif isinstance(event, (h11.Response, h11.InformationalResponse)):
                status = event.status_code
                answer = {k.decode(): v.decode() for k, v in event.headers}
                if status == 101:
                    return status, answer, b""
            elif isinstance(event, h11.Data):
                received += event.data
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                return status, answer, bytes(received)


async def hold_upgrade(
    port: int, path: str, headers: list[tuple[str, str]] | None = None
) -> tuple[int, trio.SocketStream]:
    """Send a WebSocket handshake; return its status and the open stream (the caller closes).

    Nothing after the response head is read, so an accepted socket stays a live connection.
    """
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    lines = [("Host", f"127.0.0.1:{port}"), *UPGRADE, *(headers or [])]
    head = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in lines) + "\r\n"
    await stream.send_all(head.encode())
    response = b""
    while b"\r\n\r\n" not in response:
        chunk = await stream.receive_some(1)  # byte by byte: leave the frames unread
        if not chunk:
            break
        response += chunk
    return int(response.split(b" ", 2)[1]), stream
