"""The node's TCP connections: accepting them behind the handshake gate, and draining them.

One :class:`Connections` per server. It knows every peer, which of them are idle (waiting
for a request head between keep-alive requests) and which came in on the admin listener;
a graceful shutdown waits until every peer is idle, then cuts the rest.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Awaitable, Callable, Iterable

import trio

from roost.protocol import CloseCode

from ._exposure import Exposure
from ._transport import Peer
from ._websocket import WebSocketSession

log = logging.getLogger("roost.server")

#: Serves one accepted socket; ``admin``: it came in on the admin listener.
Handler = Callable[[socket.socket, bool], Awaitable[None]]


def listen(host: str, port: int, *, backlog: int) -> socket.socket:
    """A non-blocking listening socket on ``(host, port)``."""
    listener = socket.create_server((host, port), backlog=backlog, reuse_port=False)
    listener.setblocking(False)
    return listener


class Connections:
    """The peers of one node, from accept to the end of a graceful shutdown."""

    def __init__(self, exposure: Exposure) -> None:
        self.exposure = exposure
        self.peers: set[Peer] = set()
        # Peers waiting for a request head (keep-alive between requests): they hold no work,
        # so the drain does not wait for them.
        self._idle: set[Peer] = set()
        self._admin: set[Peer] = set()
        #: Draining: the listeners still answer, but only the probes (see HttpFront).
        self.stopping = False
        self.listening = False
        #: What the drain closes WebSockets with: 1001 (going away) for a single node, 1012
        #: (service restart: reconnect now) for a cluster node handing its actors over.
        self.close_code = CloseCode.GOING_AWAY
        self._drained = trio.Event()  # stopping, and every peer is idle
        self._gone = trio.Event()  # stopping, and no peer is left

    def add(self, peer: Peer, *, admin: bool) -> None:
        self.peers.add(peer)
        if admin:
            self._admin.add(peer)

    def remove(self, peer: Peer, sock: socket.socket) -> None:
        """``peer`` has ended: forget it and give back what it held of the limits."""
        self.peers.discard(peer)
        self._idle.discard(peer)
        self._admin.discard(peer)
        self.exposure.gate.leave(sock)
        self.exposure.release(peer)
        self._peer_changed()

    def is_admin(self, peer: Peer) -> bool:
        """Whether ``peer`` came in on the admin listener (runtime endpoints only)."""
        return peer in self._admin

    def idle(self, peer: Peer) -> None:
        """``peer`` waits for a request head: nothing for a drain to wait on."""
        self._idle.add(peer)
        self._peer_changed()

    def busy(self, peer: Peer) -> None:
        self._idle.discard(peer)

    # -- accepting ---------------------------------------------------------------------------

    async def accept(
        self,
        listener: socket.socket,
        admin: socket.socket | None,
        nursery: trio.Nursery,
        scope: trio.CancelScope,
        handle: Handler,
        extra: list[socket.socket] | None = None,
    ) -> None:
        """Accept on the public listener (the admin one, and ``extra`` listeners served like
        the public one: a worker's own port) until ``scope`` is cancelled."""
        with scope:
            async with trio.open_nursery() as loops:
                if admin is not None:
                    loops.start_soon(self._accept_loop, admin, nursery, True, handle)
                for other in extra or ():
                    loops.start_soon(self._accept_loop, other, nursery, False, handle)
                await self._accept_loop(listener, nursery, False, handle)

    async def _accept_loop(
        self, listener: socket.socket, nursery: trio.Nursery, admin: bool, handle: Handler
    ) -> None:
        gate = self.exposure.gate
        while True:
            # Slow-loris guard: while max_pending_handshakes connections are still sending
            # their head, new ones wait in the kernel's backlog and cost us nothing.
            await gate.wait_for_room()
            await trio.lowlevel.wait_readable(listener)
            for _ in range(64):  # take a burst of handshakes per wake-up
                if not gate.has_room() or not self.listening:
                    break
                try:
                    sock, _addr = listener.accept()
                except BlockingIOError:
                    break
                except OSError as exc:  # EMFILE and friends: log, back off a little
                    log.warning("accept failed: %s", exc)
                    await trio.sleep(0.05)
                    break
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                gate.enter(sock)
                nursery.start_soon(handle, sock, admin)

    # -- draining ----------------------------------------------------------------------------

    async def drain(self, sessions: Iterable[WebSocketSession], max_seconds: float) -> None:
        """Graceful shutdown: close WebSockets with 1001, then wait (``max_seconds``) until every
        peer is idle: WebSockets closed, requests answered.

        The listeners stay open meanwhile, and peers are served in drain mode: probes are
        answered, everything else gets 503 and a close.
        """
        self.stopping = True
        for session in list(sessions):
            session.close(self.close_code, "server shutting down")
        self._peer_changed()
        with trio.move_on_after(max_seconds):
            await self._drained.wait()

    async def cut(self, max_seconds: float) -> None:
        """After the drain: cut every peer left (idle keep-alives, WebSockets past the
        deadline) and give their tasks ``max_seconds`` to run their on_close turns."""
        for peer in list(self.peers):
            peer.abort()
        self._peer_changed()
        with trio.move_on_after(max_seconds):
            await self._gone.wait()

    def _peer_changed(self) -> None:
        """A peer left or became idle: wake the drain when it is done."""
        if self.stopping:
            if self.peers <= self._idle:
                self._drained.set()
            if not self.peers:
                self._gone.set()
