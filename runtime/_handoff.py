"""Handing a client's connection to the process that owns its actor (issue 14).

A node that has read a request head for an actor another process owns passes the whole
connection on, from that request on, instead of proxying it:

- to a sibling worker on the same machine, the socket itself: its descriptor travels with
  ``SCM_RIGHTS`` over the sibling's abstract unix socket (:func:`hand_off`,
  :class:`HandoffListener`), with the bytes already read (:func:`request_head_bytes` plus
  h11's trailing data) and the client's address; the kernel does the rest, so the client
  sees one continuous conversation and no byte crosses a process twice;
- to a remote node, over a stream of the node link: :func:`splice` copies the raw bytes both
  ways between the client's socket and that stream (and, on the owner, between the stream and
  one end of a socket pair the server serves).

The hand-off protocol, one ``SOCK_SEQPACKET`` connection per hand-off (a message is a
message, so there is no framing to get wrong):

1. the sender connects and sends one message: a CBOR map ``{"client": [host, port] | None,
   "prefix": <up to PIECE bytes>, "rest": <bytes still to come>}`` with the descriptor
   attached, then ``rest`` bytes of prefix in messages of at most PIECE bytes;
2. the listener checks the peer runs as our user (``SO_PEERCRED``), the sizes (at most
   ``max_header`` in all) and that the descriptor is a stream socket, then sends the one-byte
   ack ``b"\\x01"`` and only once that send succeeded gives the socket to ``on_connection``;
3. the sender that read the ack closes its copy; one that gave up (timeout) first shuts the
   unix connection down, which makes a late ack fail on the listener's side, then looks for an
   ack that arrived before that: so exactly one process ends up serving the connection.

A malformed message is logged and dropped (with any descriptor it carried), never fatal.

Long because: the sender, the listener and splice are the two ways one connection changes
hands, and the listener's checks (the peer's user, sizes, descriptor types, the ack's order)
read best beside the sender they answer; each part is a few small functions.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import struct
from collections.abc import Callable
from typing import Any

import cbor2
import h11
import trio

from roost._errors import HandoffFailed

log = logging.getLogger("roost.handoff")

#: Prefix bytes per message: well under the default unix send buffer (~208 KiB), so one
#: message always fits.
PIECE = 64 * 1024
#: The first message: the CBOR header around one PIECE of prefix, plus slack for the map.
FIRST_MESSAGE_MAX = PIECE + 1024
ACK = b"\x01"
#: A sibling that does not send its whole hand-off within this time is dropped.
RECEIVE_TIMEOUT = 5.0
#: Hand-offs read at once by a listener; more wait in the kernel's backlog. Bounds the
#: listener's memory to MAX_CONCURRENT * max_header.
MAX_CONCURRENT = 16

OnConnection = Callable[[socket.socket, bytes, tuple[str, int] | None], None]


def request_head_bytes(request: h11.Request) -> bytes:
    """The request head as the client could have sent it, for another process's h11.

    Every header keeps its original name casing and order (``raw_items``). The HTTP version
    is the request's own, so an HTTP/1.0 request without ``Host`` parses there as it did here.
    """
    version = request.http_version or b"1.1"
    lines = [b"%s %s HTTP/%s\r\n" % (request.method, request.target, version)]
    lines.extend(b"%s: %s\r\n" % (name, value) for name, value in request.headers.raw_items())
    lines.append(b"\r\n")
    return b"".join(lines)


# -- the sender ----------------------------------------------------------------------------


async def hand_off(
    address: str,
    sock: socket.socket,
    prefix: bytes,
    client: tuple[str, int] | None,
    *,
    timeout: float = 5.0,  # noqa: ASYNC109 (the hand-off's own deadline, then a last look)
) -> None:
    """Hand ``sock`` to the :class:`HandoffListener` at ``address``, with ``prefix`` (the bytes
    already read from it) and the client's address.

    On return the listener owns the connection: close your copy (with
    ``trio.lowlevel.notify_closing`` first if trio ever waited on it, as ``Peer.abort`` does)
    and never read or write it again.

    Raises:
        HandoffFailed: nobody listens at ``address``, it refused the hand-off, or it did not
            take it within ``timeout``; the caller still owns ``sock`` and keeps serving it.
    """
    header = cbor2.dumps(
        {
            "client": None if client is None else [client[0], client[1]],
            "prefix": prefix[:PIECE],
            "rest": max(0, len(prefix) - PIECE),
        }
    )
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    unix.setblocking(False)
    try:
        with trio.move_on_after(timeout):
            await _connect(unix, address)
            await _send(unix, lambda: socket.send_fds(unix, [header], [sock.fileno()]))
            for start in range(PIECE, len(prefix), PIECE):
                piece = prefix[start : start + PIECE]
                await _send(unix, functools.partial(unix.send, piece))
            if await _receive_ack(unix):
                return
            raise HandoffFailed(f"the worker at {address[1:]!r} refused the connection")
        # Out of time: make a late ack fail on the listener's side, then take one that came.
        if _ack_arrived(unix):
            return
        raise HandoffFailed(f"the worker at {address[1:]!r} did not take the connection in time")
    except OSError as exc:
        raise HandoffFailed(f"cannot hand off to {address[1:]!r}: {exc}") from None
    finally:
        trio.lowlevel.notify_closing(unix)
        unix.close()


async def _connect(unix: socket.socket, address: str) -> None:
    """Connect; a full backlog (EAGAIN on a unix socket) is retried until the deadline."""
    while True:
        try:
            unix.connect(address)
            return
        except BlockingIOError:
            await trio.sleep(0.005)


async def _send(unix: socket.socket, send: Callable[[], int]) -> None:
    while True:
        try:
            send()
            return
        except BlockingIOError:
            await trio.lowlevel.wait_writable(unix)


async def _receive_ack(unix: socket.socket) -> bool:
    """True for the ack; False when the listener closed the connection instead."""
    while True:
        await trio.lowlevel.wait_readable(unix)
        try:
            return unix.recv(1) == ACK
        except BlockingIOError:
            continue


def _ack_arrived(unix: socket.socket) -> bool:
    try:
        unix.shutdown(socket.SHUT_RDWR)
        return unix.recv(1) == ACK
    except OSError:
        return False


# -- the listener --------------------------------------------------------------------------


class _Dropped(Exception):
    """A hand-off message that is not what the protocol says; carries why, for the log."""


class HandoffListener:
    """Takes connections that sibling workers hand over, at one abstract unix address.

    Memory is bounded by ``max_header`` (the largest prefix taken) times MAX_CONCURRENT.
    """

    def __init__(self, address: str, *, max_header: int = 1 << 20) -> None:
        self.address = address
        self.max_header = max_header
        self._slots = trio.Semaphore(MAX_CONCURRENT)

    async def run(
        self, on_connection: OnConnection, *, task_status: Any = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Listen until cancelled; call ``on_connection(sock, prefix, client)`` for every
        connection handed over, with a non-blocking socket the callback now owns.

        ``on_connection`` must not block (start a task for the connection); if it raises,
        the error is logged and the socket closed.

        Raises:
            OSError: the address is taken (another listener of the same name is alive).
        """
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            listener.setblocking(False)
            listener.bind(self.address)
            listener.listen(MAX_CONCURRENT * 4)
            task_status.started()
            async with trio.open_nursery() as nursery:
                while True:
                    await self._slots.acquire()
                    try:
                        conn = await _accept(listener)
                    except BaseException:
                        self._slots.release()
                        raise
                    nursery.start_soon(self._serve, conn, on_connection)
        finally:
            trio.lowlevel.notify_closing(listener)
            listener.close()

    async def _serve(self, conn: socket.socket, on_connection: OnConnection) -> None:
        """One hand-off: receive, check, ack, deliver; anything wrong is logged and dropped."""
        received: socket.socket | None = None
        try:
            with trio.fail_after(RECEIVE_TIMEOUT):
                _check_peer(conn)
                received, prefix, client = await self._receive(conn)
            conn.send(ACK)  # fails when the sender gave up: it keeps the connection then
            sock, received = received, None
            try:
                on_connection(sock, prefix, client)
            except Exception:
                log.exception("handing a connection from %s to its server failed", client)
                sock.close()
        except _Dropped as exc:
            log.warning("dropped a malformed hand-off at %r: %s", self.address[1:], exc)
        except trio.TooSlowError:
            log.warning("dropped a hand-off at %r: not received in time", self.address[1:])
        except OSError as exc:
            log.info("a hand-off at %r ended early: %s", self.address[1:], exc)
        except Exception:  # a bug: this hand-off's alone, the listener serves on (rule 16)
            log.exception("a hand-off at %r failed", self.address[1:])
        finally:
            if received is not None:
                received.close()
            trio.lowlevel.notify_closing(conn)
            conn.close()
            self._slots.release()

    async def _receive(
        self, conn: socket.socket
    ) -> tuple[socket.socket, bytes, tuple[str, int] | None]:
        """The socket, prefix and client of one hand-off (the socket is closed on failure)."""
        message, fds, flags = await _receive_message(conn, FIRST_MESSAGE_MAX, maxfds=1)
        if len(fds) != 1:
            for fd in fds:
                os.close(fd)
            raise _Dropped(f"{len(fds)} descriptors instead of one")
        sock = _adopt(fds[0])
        try:
            if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
                raise _Dropped("message truncated")
            first, rest, client = _parse_header(message)
            if rest < 0 or len(first) + rest > self.max_header:
                raise _Dropped(f"prefix of {len(first) + rest} bytes over {self.max_header}")
            pieces = [first]
            while rest > 0:
                piece, _, flags = await _receive_message(conn, PIECE, maxfds=0)
                if not piece or flags & socket.MSG_TRUNC or len(piece) > rest:
                    raise _Dropped("prefix pieces do not add up")
                pieces.append(piece)
                rest -= len(piece)
            return sock, b"".join(pieces), client
        except BaseException:
            sock.close()
            raise


async def _accept(listener: socket.socket) -> socket.socket:
    while True:
        await trio.lowlevel.wait_readable(listener)
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            continue
        except OSError as exc:  # EMFILE and friends: the backlog waits for a free descriptor
            log.warning("accepting a hand-off failed: %s", exc)
            await trio.sleep(0.1)
            continue
        conn.setblocking(False)
        return conn


async def _receive_message(
    conn: socket.socket, size: int, *, maxfds: int
) -> tuple[bytes, list[int], int]:
    """One message with up to ``maxfds`` descriptors; descriptors beyond them are closed by
    the kernel (MSG_CTRUNC)."""
    while True:
        await trio.lowlevel.wait_readable(conn)
        try:
            if maxfds:
                message, fds, flags, _ = socket.recv_fds(conn, size, maxfds)
            else:
                message, _, flags, _ = conn.recvmsg(size)
                fds = []
        except BlockingIOError:
            continue
        if not message and not fds:
            raise _Dropped("the sender closed the connection early")
        return message, fds, flags


def _check_peer(conn: socket.socket) -> None:
    """Only a process of our own user may hand us connections: an abstract unix address has
    no file permissions, and a stranger could otherwise claim any client address."""
    _, uid, _ = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    if uid != os.getuid():
        raise _Dropped(f"sender runs as uid {uid}")


def _adopt(fd: int) -> socket.socket:
    """The received descriptor as a non-blocking socket; anything but a stream socket is
    closed and refused."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError:  # not a socket at all
        os.close(fd)
        raise _Dropped("the descriptor is not a socket") from None
    if sock.type != socket.SOCK_STREAM:
        sock.close()
        raise _Dropped("the descriptor is not a stream socket")
    sock.setblocking(False)
    return sock


def _parse_header(message: bytes) -> tuple[bytes, int, tuple[str, int] | None]:
    try:
        header = cbor2.loads(message, tag_hook=_refuse_tag)
    except Exception as exc:  # cbor2 raises several types on bad input; all mean the same
        raise _Dropped(f"header is not CBOR ({type(exc).__name__})") from None
    if not isinstance(header, dict) or set(header) != {"client", "prefix", "rest"}:
        raise _Dropped("header is not {client, prefix, rest}")
    prefix, rest, client = header["prefix"], header["rest"], header["client"]
    if not isinstance(prefix, bytes) or type(rest) is not int:
        raise _Dropped("prefix or rest of the wrong type")
    if client is None:
        return prefix, rest, None
    if (
        isinstance(client, list)
        and len(client) == 2
        and isinstance(client[0], str)
        and type(client[1]) is int
        and 0 <= client[1] <= 65535
    ):
        return prefix, rest, (client[0], client[1])
    raise _Dropped("client is not [host, port]")


def _refuse_tag(decoder: object, tag: object) -> object:
    raise ValueError("CBOR tags are not part of the hand-off header")


# -- splicing ------------------------------------------------------------------------------


async def splice(
    sock: socket.socket,
    stream: trio.abc.HalfCloseableStream,
    *,
    to_stream_first: bytes = b"",
    chunk: int = 65536,
) -> None:
    """Copy bytes both ways between ``sock`` and ``stream`` until both directions ended.

    ``to_stream_first`` (the bytes already read from ``sock``) goes to the stream before
    anything else. End of stream on one side half-closes the other (``send_eof`` /
    ``shutdown(SHUT_WR)``), so a client that half-closes is still answered. A reset or an
    error on either side ends both: splice owns both and closes both when it returns (the
    socket with a reset when the stream broke, so the client learns the conversation broke).

    Each direction reads again only once the other side took what it read last, so a side
    that stops reading stops the other side's reads: memory is at most ``chunk`` bytes per
    direction, and the kernel's buffers push back on the sender.
    """
    broken = False

    async def sock_to_stream(cancel: trio.CancelScope) -> None:
        nonlocal broken
        try:
            if to_stream_first:
                await stream.send_all(to_stream_first)
            while data := await _recv(sock, chunk):
                await stream.send_all(data)
            await stream.send_eof()
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError):
            broken = True
            cancel.cancel()

    async def stream_to_sock(cancel: trio.CancelScope) -> None:
        nonlocal broken
        try:
            while data := await stream.receive_some(chunk):
                await _send_all(sock, data)
            sock.shutdown(socket.SHUT_WR)
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError):
            broken = True
            cancel.cancel()

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(sock_to_stream, nursery.cancel_scope)
            nursery.start_soon(stream_to_sock, nursery.cancel_scope)
    except BaseException:  # cancelled from outside: end both as if broken
        broken = True
        raise
    finally:
        if broken:
            _reset(sock)
        trio.lowlevel.notify_closing(sock)
        sock.close()
        if broken:
            await trio.aclose_forcefully(stream)
        else:
            await stream.aclose()


async def _recv(sock: socket.socket, size: int) -> bytes:
    while True:
        await trio.lowlevel.wait_readable(sock)
        try:
            return sock.recv(size)
        except BlockingIOError:
            continue


async def _send_all(sock: socket.socket, data: bytes | bytearray) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[sock.send(view) :]
        except BlockingIOError:
            await trio.lowlevel.wait_writable(sock)


def _reset(sock: socket.socket) -> None:
    """Make the close a reset (TCP RST) rather than an orderly end."""
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass


__all__ = ["HandoffListener", "hand_off", "request_head_bytes", "splice"]
