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

Reading goes through the node's :class:`~roost.runtime._reader.Reader` (Linux): the socket is
registered once in an edge-triggered epoll, and ``receive()`` parks with nothing but
``trio.lowlevel.wait_task_rescheduled`` until the reader hands it the bytes it read (or
reads at once when an edge came while the caller was busy). Where there is no epoll, a peer
waits on its own socket with ``trio.lowlevel.wait_readable``. Writes that wait, and the
lingering close, use ``trio.lowlevel.wait_writable`` / ``wait_readable``, the documented trio
way to do custom I/O.

Long because: a peer's reading, writing, parking and closing share one socket and its
state (the queue, the reader's registration, the detached task): split, each part would
reach into the others' fields, and the close paths must see all of them at once.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Awaitable, Callable

import outcome
import trio

from ._batcher import PassBatcher
from ._reader import Reader

log = logging.getLogger("roost.transport")

#: Bytes asked for per ``recv``: large reads let one wake-up handle many frames.
RECV_SIZE = 65536

_wait_readable = trio.lowlevel.wait_readable
_wait_task_rescheduled = trio.lowlevel.wait_task_rescheduled
_reschedule = trio.lowlevel.reschedule
_current_task = trio.lowlevel.current_task
_SUCCEEDED = trio.lowlevel.Abort.SUCCEEDED


class Detached(Exception):
    """Raised in a task parked in :meth:`Peer.receive` that :meth:`Peer.detach` sent away:
    the connection goes on without it (internal: the session catches it)."""


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
        "_hangup",
        "_out",
        "_out_bytes",
        "_reader",
        "_ready",
        "_remote",
        "_scheduled",
        "_sleeper",
        "_waiter",
        "_writing",
        "closed",
        "max_outbound_bytes",
        "on_overflow",
        "overflowed",
        "sock",
    )

    def __init__(
        self,
        sock: socket.socket,
        flusher: PassBatcher[Peer],
        reader: Reader | None = None,
        *,
        max_outbound_bytes: int,
    ) -> None:
        self.sock = sock
        self._fd = sock.fileno()
        self._flusher = flusher
        # Reading (see receive): the node's reader, the task parked in receive(), whether
        # the socket may have bytes (an edge came and no read has emptied it since), and
        # whether the peer's EOF or an error is behind them (then only b"" or EAGAIN ends
        # the readiness, never a short read).
        self._reader = reader
        self._waiter: trio.lowlevel.Task | None = None
        self._ready = reader is None
        self._hangup = False
        # Detached (see detach): what the reader's wake hook gets when the socket has
        # bytes or is aborted, so that a new task serves it.
        self._sleeper: object | None = None
        if reader is not None:
            try:
                reader.register(self._fd, self)
            except OSError:  # not a socket epoll watches: wait on it the one-shot way
                self._reader = None
                self._ready = True
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

    def receive(self) -> Awaitable[bytes]:
        """The next bytes from the peer; b"" at end of stream or when the peer reset.

        With the node's reader, a caller with nothing to read parks without a trio I/O wait
        (the reader reads for it); one that finds the socket ready reads it after a
        checkpoint, so a socket that always has data cannot starve the others. Await it
        right away, in the task that reads: the caller's task is what the reader wakes.

        Raises:
            Detached: :meth:`detach` sent this (parked) task away.
            trio.ClosedResourceError: the socket was closed locally (abort or close).
        """
        if self.closed:
            raise trio.ClosedResourceError("peer closed locally")
        if self._reader is None:
            return self._receive_polled()
        if self._waiter is not None:
            raise trio.BusyResourceError("another task is reading this peer")
        if self._ready:
            return self._receive_ready()
        self._waiter = _current_task()
        # Returned, not awaited here: a parked connection holds no frame of ours (memory).
        return _wait_task_rescheduled(self._abort_wait)

    async def _receive_ready(self) -> bytes:
        """An edge came while the caller was busy: read without waiting for the reader."""
        await trio.lowlevel.checkpoint()
        if self.closed:
            raise trio.ClosedResourceError("peer closed locally")
        data = self._recv()
        if data is None:  # the edge's bytes were read already: wait for the next one
            self._waiter = _current_task()
            data = await _wait_task_rescheduled(self._abort_wait)
        return data

    def receive_now(self) -> bytes | None:
        """What the peer sent, read without waiting, by a task other than the reading one
        while that one is busy (not parked in :meth:`receive`, not detached): the bytes,
        b"" at the peer's EOF (which the reader then reads again), or None when nothing is
        there (or the reading task waits: it reads for itself)."""
        if self.closed or self._waiter is not None or self._sleeper is not None:
            return None
        if self._reader is not None:
            return self._recv() if self._ready else None
        try:
            return self.sock.recv(RECV_SIZE)
        except BlockingIOError:
            return None
        except OSError:
            return b""

    def _abort_wait(self, _raise_cancel: object) -> trio.lowlevel.Abort:
        """A parked receive() was cancelled: the reader must not wake it any more."""
        self._waiter = None
        return _SUCCEEDED

    def detach(self, sleeper: object) -> bool:
        """Send the task parked in :meth:`receive` away (it gets :class:`Detached`), so an
        idle connection holds no task; when the socket has bytes, or the peer is aborted,
        the reader's wake hook is called with ``sleeper`` to start a new one.

        Returns False (and does nothing) without a reader, or when no task is parked.
        """
        task = self._waiter
        if task is None or self._reader is None or self.closed:
            return False
        self._waiter = None
        self._sleeper = sleeper
        _reschedule(task, outcome.Error(Detached()))
        return True

    def _wake(self, reader: Reader) -> None:
        """Hand a detached connection back to a task (the reader's wake hook)."""
        sleeper, self._sleeper = self._sleeper, None
        reader.wake(sleeper)

    def readable(self, hangup: bool) -> None:
        """The reader saw the socket become readable (its edge): read for a parked
        receive(), else remember it for the next receive()."""
        if hangup:
            self._hangup = True
        task = self._waiter
        if task is None:
            self._ready = True
            if self._sleeper is not None and self._reader is not None:
                self._wake(self._reader)
            return
        data = self._recv()
        if data is not None:
            self._waiter = None
            _reschedule(task, outcome.Value(data))

    def _recv(self) -> bytes | None:
        """One ``recv``; None when there was nothing after all (a stale edge).

        An edge-triggered socket must be read until it is empty before the next edge can
        come, so ``_ready`` stays set after a full read, and after any read once the peer's
        EOF is known (the EOF itself comes with no further edge). A short read of a stream
        socket took everything the kernel had: bytes that arrive afterwards raise a new edge.
        """
        try:
            data = self.sock.recv(RECV_SIZE)
        except BlockingIOError:
            self._ready = False
            return None
        except OSError:
            data = b""  # reset or broken: like EOF; a later read says the same
        self._ready = self._hangup or len(data) == RECV_SIZE or not data
        return data

    async def _receive_polled(self) -> bytes:
        """receive() without a reader (no epoll): trio's one-shot wait per read."""
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

    def stop_reading(self) -> None:
        """Leave the node's reader: the socket is read elsewhere from now on (a node link's
        stream, a splice), so its edges would only wake the reader for nothing."""
        if self._reader is not None:
            self._reader.unregister(self._fd, self)
            self._reader = None

    def abort(self) -> None:
        """Close the socket now, dropping whatever is queued; wakes a blocked ``receive``."""
        if self.closed:
            return
        self.closed = True
        self._out.clear()
        self._out_bytes = 0
        reader = self._reader
        if reader is not None:
            # Before the close: the number is reused by the next socket (runtime/_reader).
            reader.unregister(self._fd, self)
            if self._sleeper is not None:
                self._wake(reader)  # its new task sees the close and ends the connection
        task = self._waiter
        if task is not None:
            self._waiter = None
            _reschedule(task, outcome.Error(trio.ClosedResourceError("peer closed locally")))
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
