"""One edge-triggered epoll for every socket of a node: idle sockets cost no trio wait.

Measured on relay 250 rooms x 2 (BENCHMARKS.md, "The receive path"): with a trio
``wait_readable`` per read, a third of the server's CPU went to trio's one-shot registration
(an ``epoll_ctl`` re-arm per read) and its wait-and-wake path, and every idle connection held
that wait's coroutine chain (~1.7 KB, "Memory per hibernated actor"). Here each socket is
registered once, when it is accepted, with ``EPOLLIN | EPOLLRDHUP | EPOLLET`` in an epoll of
the node's own; one task, the :class:`Reader`, waits on that epoll's descriptor with
``trio.lowlevel.wait_readable`` and, for every socket that became readable, tells its owner
(:meth:`Readable.readable`): a :class:`~roost.runtime._transport.Peer` whose reader is
parked reads the socket there and wakes it with the bytes, one that is busy is only marked
ready and reads without parking when it asks next. So a busy node makes one ``epoll_wait``
per scheduler pass for all its sockets instead of an ``epoll_ctl`` per read.

Edge-triggered means an event comes only when a socket *becomes* readable, so an owner must
remember what an edge told it until it has read everything: see ``Peer.readable``. Fairness:
at most :data:`MAX_EVENTS` sockets per pass and one ``recv`` per socket per pass, so a socket
that always has data cannot starve the others.

Linux only (``select.epoll``); elsewhere :func:`new_reader` returns None and a Peer waits on
its own socket with ``trio.lowlevel.wait_readable``, as before.
"""

from __future__ import annotations

import select
from collections.abc import Callable
from typing import Any, Protocol

import trio

__all__ = ["MAX_EVENTS", "Readable", "Reader", "new_reader"]

#: Sockets handled per pass at most; the rest stay on the kernel's ready list for the next.
MAX_EVENTS = 1024

if hasattr(select, "epoll"):
    _MASK = select.EPOLLIN | select.EPOLLRDHUP | select.EPOLLET
    #: The peer shut its write side down, or the connection broke: reads end in EOF/error.
    _HANGUP = select.EPOLLRDHUP | select.EPOLLHUP | select.EPOLLERR
else:  # pragma: no cover (not Linux)
    _MASK = _HANGUP = 0


class Readable(Protocol):
    """What the reader tells of a socket's edge."""

    def readable(self, hangup: bool) -> None:
        """The socket became readable; ``hangup``: its peer's EOF (or an error) is behind
        whatever data is there. Never awaits."""


class Reader:
    """The node's edge-triggered epoll and the one task that waits on it.

    A socket is registered by number; unregister it *before* closing it: the number is
    reused by the next socket the process opens, and an epoll registration belongs to the
    open file, so a registration left behind (a duplicate of the socket still open, a
    socket handed to another worker) could report another connection's events.
    """

    __slots__ = ("_epoll", "_owners", "wake")

    def __init__(self, wake: Callable[[Any], None]) -> None:
        self._epoll = select.epoll()
        self._owners: dict[int, Readable] = {}
        #: Starts a task for a connection that gave its task up while idle (Peer.detach),
        #: called with what it left behind, when its socket has bytes or is closed.
        self.wake = wake

    def __len__(self) -> int:
        return len(self._owners)

    def register(self, fd: int, owner: Readable) -> None:
        """Watch ``fd`` for ``owner``; a socket readable already is reported at the next pass.

        Raises:
            OSError: ``fd`` is not open (or not a socket epoll can watch).
        """
        try:
            self._epoll.register(fd, _MASK)
        except FileExistsError:
            # This open file under this number is registered already: a socket closed here
            # without unregistering while another process kept it, come back. Its events
            # are ours again; stale ones only cost a read that finds nothing.
            self._epoll.modify(fd, _MASK)
        self._owners[fd] = owner

    def unregister(self, fd: int, owner: Readable) -> None:
        """Stop watching ``fd`` for ``owner`` (no-op if ``fd`` is another owner's now)."""
        if self._owners.get(fd) is not owner:
            return
        del self._owners[fd]
        try:
            self._epoll.unregister(fd)
        except (OSError, ValueError):
            pass  # already closed by someone else (the kernel dropped it) or epoll closed

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Forever: wait until some socket is readable, tell the owners, once per pass.

        While every pass finds sockets, the task only yields between passes (no trio
        registration at all); a pass that finds none parks on the epoll's descriptor.
        """
        epoll = self._epoll
        poll = epoll.poll
        owners = self._owners
        fd = epoll.fileno()
        task_status.started()
        while True:
            events = poll(0, MAX_EVENTS)
            if not events:
                await trio.lowlevel.wait_readable(fd)
                continue
            for number, mask in events:
                owner = owners.get(number)
                if owner is not None:
                    owner.readable(bool(mask & _HANGUP))
            await trio.lowlevel.checkpoint()

    def close(self) -> None:
        """Close the epoll (after :meth:`run` ended); registered sockets are left as they are."""
        self._owners.clear()
        trio.lowlevel.notify_closing(self._epoll.fileno())
        self._epoll.close()


def new_reader(wake: Callable[[Any], None]) -> Reader | None:
    """A :class:`Reader` (see :attr:`Reader.wake`), or None where there is no epoll."""
    if not hasattr(select, "epoll"):  # pragma: no cover (not Linux)
        return None
    return Reader(wake)
