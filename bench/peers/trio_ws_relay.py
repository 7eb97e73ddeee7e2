"""Room relay on bare trio-websocket with the idiomatic ``await ws.send_message()`` loop.

The floor of roost's own stack: whatever roost adds must be paid for out of the gap
between this server and the others.

Usage: python trio_ws_relay.py HOST PORT (prints "listening on ws://HOST:PORT" when ready).
"""

import sys
from functools import partial

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, WebSocketRequest, serve_websocket

PREFIX = "/relay/"
rooms: dict[str, set[WebSocketConnection]] = {}


async def relay(request: WebSocketRequest) -> None:
    if not request.path.startswith(PREFIX):
        await request.reject(404)
        return
    ws = await request.accept()
    name = request.path[len(PREFIX) :]
    room = rooms.setdefault(name, set())
    room.add(ws)
    try:
        while True:
            message = await ws.get_message()
            for peer in list(room):
                if peer is not ws:
                    try:
                        await peer.send_message(message)
                    except ConnectionClosed:
                        pass
    except ConnectionClosed:
        pass
    finally:
        room.discard(ws)
        if not room:
            rooms.pop(name, None)


async def main(host: str, port: int) -> None:
    async with trio.open_nursery() as nursery:
        server = await nursery.start(partial(serve_websocket, relay, host, port, ssl_context=None))
        print(f"listening on ws://{host}:{server.port}", flush=True)


if __name__ == "__main__":
    trio.run(main, sys.argv[1], int(sys.argv[2]))
