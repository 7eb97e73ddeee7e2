"""A TCP proxy the harness can cut, hang and restore, and point at a new target.

Every node reaches PostgreSQL through a proxy of its own, and the other nodes reach it (its
``--advertise`` address) through another, so the harness can take a node's database or its
node links away without touching the node. A node restarted on a new port gets the same
proxies, re-pointed with :meth:`Proxy.retarget`.
"""

from __future__ import annotations

import trio

#: Bytes moved per read; also the most a hung proxy holds per direction and connection.
CHUNK = 65536


class Proxy:
    """Forwards ``127.0.0.1:<port>`` to a target ``(host, port)``.

    :meth:`cut` closes every connection and refuses new ones (closed on arrival), like a
    network that drops them; :meth:`hang` forwards nothing in either direction while keeping
    connections open, like a network that went silent (only timeouts notice);
    :meth:`restore` ends either. Until a target is set, connections are closed on arrival.
    """

    def __init__(self, name: str, target: tuple[str, int] | None = None) -> None:
        self.name = name
        self.port = 0
        self._target = target
        self._cut = False
        self._flowing = trio.Event()
        self._flowing.set()
        self._links: set[trio.CancelScope] = set()

    def retarget(self, target: tuple[str, int]) -> None:
        self._target = target

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        task_status.started()
        await trio.serve_listeners(self._handle, listeners)

    def cut(self) -> None:
        self._cut = True
        for link in list(self._links):
            link.cancel()

    def hang(self) -> None:
        if self._flowing.is_set():
            self._flowing = trio.Event()

    def restore(self) -> None:
        self._cut = False
        self._flowing.set()

    async def _handle(self, client: trio.SocketStream) -> None:
        async with client:
            if self._cut or self._target is None:
                return
            with trio.CancelScope() as link:
                self._links.add(link)
                try:
                    await self._flowing.wait()
                    upstream = await trio.open_tcp_stream(*self._target)
                    async with upstream, trio.open_nursery() as nursery:
                        nursery.start_soon(self._pump, client, upstream, nursery.cancel_scope)
                        nursery.start_soon(self._pump, upstream, client, nursery.cancel_scope)
                except OSError:
                    pass  # the target is down (a killed node): the client sees a close
                finally:
                    self._links.discard(link)

    async def _pump(
        self, source: trio.SocketStream, sink: trio.SocketStream, done: trio.CancelScope
    ) -> None:
        try:
            while True:
                data = await source.receive_some(CHUNK)
                if not data:
                    break
                await self._flowing.wait()  # hung: hold the bytes (the kernel acked them)
                await sink.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
        done.cancel()  # either side ending ends the link
