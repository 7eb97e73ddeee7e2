"""Sockets without per-message awaits: non-blocking writes, one flusher, bounded queues.

Why not a trio Stream per connection: measured here, an awaited ``send_all`` per message costs
~20 µs under trio-websocket's lock, while writing already-encoded frames with a non-blocking
``send()`` costs a syscall and nothing else. So a handler never awaits a write: frames are
appended to the peer's queue, and one node-wide flusher (a :class:`PassBatcher`) writes every
peer with something queued once per scheduler pass, joining its frames into a single
``send()``. Only a peer whose kernel buffer is full gets a task of its own, which waits until
the socket is writable. A peer that leaves ``max_outbound_bytes`` unread and is written more is
a slow consumer and is cut, so it never holds memory or delays anyone else (G8); one message
bigger than the limit still goes out to a peer that reads it.

The sockets are plain non-blocking stdlib sockets driven by ``trio.lowlevel.wait_readable`` /
``wait_writable``, the documented trio way to do custom I/O.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable

import trio

from ._batcher import PassBatcher

log = logging.getLogger("roost.transport")

#: Bytes asked for per ``recv``: large reads let one wake-up handle many frames.
RECV_SIZE = 65536

_wait_readable = trio.lowlevel.wait_readable


class Peer:
    """One accepted TCP socket: ``receive()`` for reading, ``write()`` that never blocks.

    Attributes:
        closed: True once the socket is closed (after :meth:`abort` or :meth:`aclose`).
        overflowed: True when the peer was cut for not reading its frames (slow consumer).
    """

    __slots__ = (
        "_fd",
        "_flushed",
        "_flusher",
        "_out",
        "_out_bytes",
        "_remote",
        "_scheduled",
        "_writing",
        "closed",
        "max_outbound_bytes",
        "on_overflow",
        "overflowed",
        "sock",
    )

    def __init__(
        self, sock: socket.socket, flusher: PassBatcher[Peer], *, max_outbound_bytes: int
    ) -> None:
        self.sock = sock
        self._fd = sock.fileno()
        self._flusher = flusher
        self.max_outbound_bytes = max_outbound_bytes
        self._out: list[bytes] = []
        self._out_bytes = 0
        self._scheduled = False  # waiting in the flusher's list
        self._writing = False  # a drain task owns the socket's write side
        self._flushed: trio.Event | None = None
        self.closed = False
        self.overflowed = False
        self.on_overflow: Callable[[], None] | None = None
        self._remote: tuple[str, int] | bool | None = False  # False: not asked yet

    def remote_address(self) -> tuple[str, int] | None:
        """The socket's peer ``(host, port)``, asked of the kernel once per connection (it
        cannot change); None for a Unix socket (the test kit's socket pairs) or a socket
        that is already gone."""
        if self._remote is False:
            try:
                address = self.sock.getpeername()
            except OSError:  # already gone: nothing to remember
                return None
            if isinstance(address, tuple) and len(address) >= 2:  # IPv6 adds flow and scope
                self._remote = (str(address[0]), int(address[1]))
            else:
                self._remote = None
        assert self._remote is not True
        return self._remote

    def set_remote_address(self, address: tuple[str, int] | None) -> None:
        """The client's address when another node or worker forwarded the connection (the
        socket's own peer is that node, or a socket pair)."""
        self._remote = address

    # -- reading ---------------------------------------------------------------------------

    async def receive(self) -> bytes:
        """The next bytes from the peer; b"" at end of stream or when the peer reset.

        Raises:
            trio.ClosedResourceError: the socket was closed locally (abort or close).
        """
        sock = self.sock
        while True:
            if self.closed:
                raise trio.ClosedResourceError("peer closed locally")
            await _wait_readable(self._fd)  # the number: trio need not ask the socket for it
            try:
                return sock.recv(RECV_SIZE)
            except BlockingIOError:
                continue
            except OSError:
                return b""

    # -- writing ---------------------------------------------------------------------------

    @property
    def queued_bytes(self) -> int:
        """Bytes accepted by :meth:`write` that the kernel has not taken yet."""
        return self._out_bytes

    def write(self, data: bytes, *, force: bool = False) -> None:
        """Queue ``data`` for the peer without blocking.

        A slow consumer is judged by what it failed to read, not by the size of one message:
        a write is taken whenever fewer than ``max_outbound_bytes`` wait in the queue, however
        big it is, so a 6 MiB document or file reaches a client that reads (issue 11). A write
        that finds the queue already at the limit is dropped and the peer is a slow consumer:
        ``on_overflow`` decides what happens (the peer is cut when there is none). So a queue
        holds at most ``max_outbound_bytes`` plus one frame. ``force`` skips the limit, for the
        one close frame that follows. Writing to a closed peer, or nothing, is a no-op.
        """
        if self.closed or not data:
            return
        if self._out_bytes >= self.max_outbound_bytes and not force:
            self.overflowed = True
            if self.on_overflow is None:
                log.info(
                    "cutting a peer that left %d bytes unread (slow consumer)", self._out_bytes
                )
                self.abort()
            else:
                self.on_overflow()
            return
        self._out.append(data)
        self._out_bytes += len(data)
        if not (self._scheduled or self._writing):
            self._scheduled = True
            self._flusher.schedule(self)

    def flush(self, nursery: trio.Nursery) -> None:
        """Hand everything queued to the kernel in one ``send()``; start a drain if it is full."""
        self._scheduled = False
        if self.closed or self._writing or not self._out:
            return
        try:
            done = self._send_queued()
        except OSError:
            self.abort()
            return
        if done:
            self._notify_flushed()
        else:
            self._writing = True
            nursery.start_soon(self._drain)

    def _send_queued(self) -> bool:
        """One non-blocking ``send()`` of the whole queue, joined; keep what the kernel did
        not take. Returns True when the queue is empty afterwards.

        Raises:
            OSError: the connection is broken.
        """
        out = self._out
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        try:
            sent = self.sock.send(data)
        except BlockingIOError:
            sent = 0
        if sent < len(data):
            out.append(data[sent:])
        self._out_bytes = len(data) - sent
        return not out

    async def _drain(self) -> None:
        """Wait for the kernel to take more, until the queue is empty (one task per full peer)."""
        try:
            while self._out and not self.closed:
                await trio.lowlevel.wait_writable(self.sock)
                self._send_queued()
        except (trio.ClosedResourceError, OSError):
            self.abort()
        finally:
            self._writing = False
        self._notify_flushed()

    def _notify_flushed(self) -> None:
        if self._flushed is not None and not self._out:
            self._flushed.set()
            self._flushed = None

    async def wait_flushed(self) -> None:
        """Return once everything written so far has been handed to the kernel (or closed)."""
        while self._out and not self.closed:
            if self._flushed is None:
                self._flushed = trio.Event()
            await self._flushed.wait()

    # -- closing ---------------------------------------------------------------------------

    def abort(self) -> None:
        """Close the socket now, dropping whatever is queued; wakes a blocked ``receive``."""
        if self.closed:
            return
        self.closed = True
        self._out.clear()
        self._out_bytes = 0
        trio.lowlevel.notify_closing(self.sock)
        self.sock.close()
        if self._flushed is not None:
            self._flushed.set()
            self._flushed = None

    async def aclose(self, *, linger_bytes: int = 0) -> None:
        """Flush what is queued, then close the socket; closes it even when cancelled.

        With ``linger_bytes``, the close lingers as an HTTP server's does: after the flush the
        write side is shut down (the peer reads EOF behind our last bytes), then up to
        ``linger_bytes`` are read and discarded until the peer's EOF. Closing a socket with
        unread bytes makes the kernel send a reset, which can destroy our last bytes (a close
        frame) before the peer reads them; a peer still sending must be drained first.

        Bound the wait with a cancel scope (``trio.move_on_after``): a peer that never reads
        or never closes would otherwise keep it waiting.
        """
        try:
            await self.wait_flushed()
            if not self.closed:
                try:
                    self.sock.shutdown(socket.SHUT_WR)
                except OSError:
                    return
                if linger_bytes > 0:
                    await self._discard(linger_bytes)
        except trio.ClosedResourceError:
            pass  # aborted meanwhile
        finally:
            self.abort()

    async def _discard(self, budget: int) -> None:
        """Read and drop up to ``budget`` bytes until EOF, into one reused buffer."""
        buffer = bytearray(RECV_SIZE)
        while budget > 0:
            await trio.lowlevel.wait_readable(self.sock)
            try:
                n = self.sock.recv_into(buffer, min(budget, RECV_SIZE))
            except BlockingIOError:
                continue
            except OSError:
                return
            if n == 0:
                return
            budget -= n
