"""Room relay on Python `websockets` (asyncio) using its ``broadcast()``.

The Python server most users would pick; ``broadcast()`` writes each frame to every other
member without awaiting, the fastest way that library offers.

Usage: python websockets_relay.py HOST PORT (prints "listening on ws://HOST:PORT" when ready).
"""

import asyncio
import sys

from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

PREFIX = "/relay/"
rooms: dict[str, set[ServerConnection]] = {}


async def relay(ws: ServerConnection) -> None:
    path = ws.request.path if ws.request else ""
    if not path.startswith(PREFIX):
        await ws.close(1008, "unknown path")
        return
    name = path[len(PREFIX) :]
    room = rooms.setdefault(name, set())
    room.add(ws)
    try:
        async for message in ws:
            broadcast([peer for peer in room if peer is not ws], message)
    except ConnectionClosed:
        pass  # the load generator exits without a closing handshake
    finally:
        room.discard(ws)
        if not room:
            rooms.pop(name, None)


async def main(host: str, port: int) -> None:
    async with serve(relay, host, port, compression=None, backlog=4096) as server:
        bound = server.sockets[0].getsockname()[1]
        print(f"listening on ws://{host}:{bound}", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
