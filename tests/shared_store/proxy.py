"""A TCP proxy in trio that a test can cut, black-hole and restore, to take a database away."""

from __future__ import annotations

import trio
from psycopg.conninfo import conninfo_to_dict


class CuttableProxy:
    """Forwards 127.0.0.1:<port> to ``target``.

    Two ways to break it: :meth:`cut` drops every connection and refuses new ones (they are
    closed on arrival), like a database that went down; :meth:`hang` keeps every connection
    open but forwards nothing in either direction, and accepts new connections that never get
    an answer, like a database (or a network) that stopped responding without closing
    anything: the client's kernel sees its data acknowledged, so only a client-side deadline
    notices. :meth:`restore` ends either; bytes held while hung are delivered then.
    """

    @classmethod
    def in_front_of(cls, conninfo: str) -> CuttableProxy:
        """A proxy for the PostgreSQL server that a URL or connection string names."""
        target = conninfo_to_dict(conninfo)
        return cls(str(target.get("host", "127.0.0.1")), int(target.get("port") or 5432))

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._cut = False
        self._flowing = trio.Event()
        self._flowing.set()
        self._links: set[trio.CancelScope] = set()
        self.port = 0
        self.accepted = 0

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        task_status.started()
        await trio.serve_listeners(self._handle, listeners)

    def cut(self) -> None:
        self._cut = True
        for link in self._links:
            link.cancel()

    def hang(self) -> None:
        if self._flowing.is_set():
            self._flowing = trio.Event()

    def restore(self) -> None:
        self._cut = False
        self._flowing.set()

    async def _handle(self, client: trio.SocketStream) -> None:
        async with client:
            self.accepted += 1
            if self._cut:
                return
            with trio.CancelScope() as link:
                self._links.add(link)
                try:
                    await self._flowing.wait()
                    upstream = await trio.open_tcp_stream(*self._target)
                    async with upstream, trio.open_nursery() as nursery:
                        nursery.start_soon(self._pump, client, upstream, nursery.cancel_scope)
                        nursery.start_soon(self._pump, upstream, client, nursery.cancel_scope)
                finally:
                    self._links.discard(link)

    async def _pump(
        self, source: trio.SocketStream, sink: trio.SocketStream, done: trio.CancelScope
    ) -> None:
        try:
            async for data in source:
                await self._flowing.wait()  # hung: hold the bytes (the kernel acknowledged them)
                await sink.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        done.cancel()  # either side ending ends the link
