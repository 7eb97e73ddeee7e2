"""pycrdt-websocket's ``WebsocketServer`` (one ``YRoom`` per path) behind Python ``websockets``.

pycrdt-websocket serves any object with ``path``, ``send(bytes)``, ``recv() -> bytes`` and
async iteration (its ``Channel``); ``websockets``' asyncio server, its documented front end,
is adapted to that here. One room per URL path, so ``ws://HOST:PORT/yjs/<doc>`` serves the
document ``<doc>`` with the standard y-websocket protocol.

Usage: python pycrdt_ws.py HOST PORT (prints "listening on ws://HOST:PORT" when ready).
"""

import asyncio
import contextlib
import logging
import sys

from pycrdt.websocket import WebsocketServer
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

PREFIX = "/yjs/"


class Channel:
    """A ``websockets`` connection as the channel pycrdt-websocket reads and writes."""

    def __init__(self, ws: ServerConnection, path: str):
        self._ws = ws
        self._path = path

    @property
    def path(self) -> str:
        return self._path

    def __aiter__(self) -> "Channel":
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self.recv()
        except ConnectionClosed:
            raise StopAsyncIteration from None

    async def send(self, message: bytes) -> None:
        # A peer that has gone is dropped by its own receive loop; a send racing with its
        # close (the room relaying to every client) must not fail the sender's task group.
        with contextlib.suppress(ConnectionClosed):
            await self._ws.send(message)

    async def recv(self) -> bytes:
        message = await self._ws.recv()
        return message if isinstance(message, bytes) else message.encode()


async def main(host: str, port: int) -> None:
    async with WebsocketServer() as yserver:
        first_open = asyncio.Lock()

        async def handler(ws: ServerConnection) -> None:
            path = ws.request.path if ws.request else ""
            if not path.startswith(PREFIX):
                await ws.close(1008, "unknown path")
                return
            # pycrdt-websocket 0.16 starts a new room in whichever connection finds it not yet
            # started; two connections arriving together both try, and the second waits forever
            # on the room's start lock. Opening rooms one at a time avoids that race; serve()
            # then finds the room started.
            async with first_open:
                await yserver.get_room(path)
            await yserver.serve(Channel(ws, path))

        async with serve(handler, host, port, compression=None, backlog=4096) as server:
            bound = server.sockets[0].getsockname()[1]
            print(f"listening on ws://{host}:{bound}", flush=True)
            await server.serve_forever()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
