"""Handing connections over (runtime/_handoff.py, issue 14): SCM_RIGHTS between processes on
real sockets, the re-serialized request head, and splice between a socket and a stream."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import cbor2
import h11
import pytest
import trio
import trio.testing

from roost._errors import HandoffFailed
from roost.runtime._handoff import HandoffListener, hand_off, request_head_bytes, splice

Received = tuple[socket.socket, bytes, tuple[str, int] | None]


def unique_address() -> str:
    return f"\0roost-test-{uuid.uuid4().hex}-0"


@contextmanager
def tcp_pair(*, buffer: int | None = None) -> Iterator[tuple[socket.socket, socket.socket]]:
    """A connected (client, server) pair of stdlib TCP sockets on 127.0.0.1, non-blocking;
    ``buffer`` pins the kernel buffers (no autotuning), so backpressure is measurable."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.socket()
        if buffer is not None:
            for sock in (listener, client):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, buffer)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffer)
        client.connect(listener.getsockname())  # loopback: completes at once
        server, _ = listener.accept()
    client.setblocking(False)
    server.setblocking(False)
    try:
        yield client, server
    finally:
        client.close()
        server.close()


def stream_of(sock: socket.socket) -> trio.SocketStream:
    return trio.SocketStream(trio.socket.from_stdlib_socket(sock))


async def receive_exactly(stream: trio.abc.ReceiveStream, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        piece = await stream.receive_some(size - len(data))
        assert piece, f"EOF after {len(data)} of {size} bytes"
        data += piece
    return bytes(data)


async def receive_all(stream: trio.abc.ReceiveStream) -> bytes:
    data = bytearray()
    while piece := await stream.receive_some(65536):
        data += piece
    return bytes(data)


async def read_request(sock: socket.socket) -> tuple[h11.Request, bytes]:
    """What a node's front does: read until h11 has a request head; the head and the bytes
    h11 read beyond it."""
    conn = h11.Connection(h11.SERVER)
    while True:
        event = conn.next_event()
        if isinstance(event, h11.Request):
            return event, conn.trailing_data[0]
        assert event is h11.NEED_DATA
        await trio.lowlevel.wait_readable(sock)
        conn.receive_data(sock.recv(65536))


def close_handed(sock: socket.socket) -> None:
    """The sender's copy after a hand-off (trio waited on it: notify first)."""
    trio.lowlevel.notify_closing(sock)
    sock.close()


@asynccontextmanager
async def listening(
    address: str, *, max_header: int = 1 << 20
) -> AsyncIterator[trio.MemoryReceiveChannel[Received]]:
    send, receive = trio.open_memory_channel[Received](8)
    async with trio.open_nursery() as nursery:
        await nursery.start(
            HandoffListener(address, max_header=max_header).run,
            lambda sock, prefix, client: send.send_nowait((sock, prefix, client)),
        )
        yield receive
        nursery.cancel_scope.cancel()
    while True:  # close what was handed over and not taken by the test
        try:
            sock, _, _ = receive.receive_nowait()
        except trio.WouldBlock:
            break
        sock.close()


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


# -- the request head ----------------------------------------------------------------------


def parse(data: bytes) -> tuple[h11.Request, bytes]:
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(data)
    event = conn.next_event()
    assert isinstance(event, h11.Request)
    return event, conn.trailing_data[0]


def test_request_head_bytes_keep_casing_order_and_parse_the_same() -> None:
    raw = (
        b"POST /chat/r%C3%A9union/x?q=1 HTTP/1.1\r\nHost: example.test\r\n"
        b"X-Mixed-Case: One\r\ncontent-length: 5\r\nx-mixed-case: two\r\n\r\nhello"
    )
    request, trailing = parse(raw)
    head = request_head_bytes(request)
    assert head + trailing == raw
    again, rest = parse(head + trailing)
    assert (again.method, again.target, again.http_version) == (b"POST", request.target, b"1.1")
    assert again.headers.raw_items() == request.headers.raw_items()
    assert rest == b"hello"


def test_request_head_bytes_keep_http_1_0() -> None:
    """An HTTP/1.0 request without Host is valid; as HTTP/1.1 h11 would refuse it."""
    raw = b"GET /chat/k HTTP/1.0\r\nAccept: */*\r\n\r\n"
    request, _ = parse(raw)
    assert request_head_bytes(request) == raw
    assert parse(request_head_bytes(request))[0].http_version == b"1.0"


# -- hand-offs -----------------------------------------------------------------------------


async def test_hand_off_within_one_process_is_one_conversation() -> None:
    address = unique_address()
    with trio.fail_after(10), tcp_pair() as (client_sock, front_sock):
        client = stream_of(client_sock)
        async with listening(address) as handed:
            await client.send_all(
                b"GET /chat/k HTTP/1.1\r\nHost: x\r\nX-Mixed-Case: v\r\n\r\nGET /chat/k HTTP/1.1"
            )
            request, early = await read_request(front_sock)
            prefix = request_head_bytes(request) + early
            await hand_off(address, front_sock, prefix, ("198.51.100.7", 4711))
            close_handed(front_sock)

            sock, got, got_client = await handed.receive()
            assert (got, got_client) == (prefix, ("198.51.100.7", 4711))
            assert not sock.getblocking()
            owner = stream_of(sock)
            # The owner parses the prefix first, then reads on from the same socket.
            conn = h11.Connection(h11.SERVER)
            conn.receive_data(got)
            event = conn.next_event()
            assert isinstance(event, h11.Request)
            assert (b"X-Mixed-Case", b"v") in event.headers.raw_items()
            await owner.send_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            assert await receive_exactly(client, 40) == (
                b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
            )
            await client.send_all(b"\r\nHost: x\r\n\r\n")  # the rest of the pipelined request
            assert await receive_exactly(owner, 13) == b"\r\nHost: x\r\n\r\n"
            await owner.aclose()
            assert await client.receive_some(10) == b""


async def test_a_large_prefix_travels_in_pieces() -> None:
    address = unique_address()
    prefix = os.urandom(300_000)
    with trio.fail_after(10), tcp_pair() as (_, front_sock):
        async with listening(address) as handed:
            await hand_off(address, front_sock, prefix, None)
            front_sock.close()
            sock, got, client = await handed.receive()
            sock.close()
    assert (got, client) == (prefix, None)


SUBPROCESS = """
import sys, trio
from roost.runtime._handoff import HandoffListener

async def main():
    async with trio.open_nursery() as nursery:
        async def echo(sock, prefix, client):
            stream = trio.SocketStream(trio.socket.from_stdlib_socket(sock))
            await stream.send_all(prefix)
            while data := await stream.receive_some(65536):
                await stream.send_all(data)
            await stream.aclose()
            print("client", client, flush=True)
            nursery.cancel_scope.cancel()

        def taken(sock, prefix, client):
            nursery.start_soon(echo, sock, prefix, client)

        await nursery.start(HandoffListener("\\0" + sys.argv[1]).run, taken)
        print("ready", flush=True)

trio.run(main)
"""


async def test_hand_off_to_another_process() -> None:
    address = unique_address()
    process = await trio.lowlevel.open_process(
        [sys.executable, "-c", SUBPROCESS, address[1:]], stdout=subprocess.PIPE
    )
    assert process.stdout is not None
    try:
        with trio.fail_after(30), tcp_pair() as (client_sock, front_sock):
            assert await receive_exactly(process.stdout, 6) == b"ready\n"
            client = stream_of(client_sock)
            await client.send_all(b"hello ")
            await trio.lowlevel.wait_readable(front_sock)
            prefix = front_sock.recv(100)
            await hand_off(address, front_sock, prefix, ("127.0.0.1", 5))
            close_handed(front_sock)
            await client.send_all(b"world")
            assert await receive_exactly(client, 11) == b"hello world"
            await client.send_eof()
            assert await client.receive_some(10) == b""
            assert await receive_all(process.stdout) == b"client ('127.0.0.1', 5)\n"
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await process.stdout.aclose()


async def test_nobody_listening_fails_fast_and_the_sender_keeps_serving() -> None:
    with trio.fail_after(1), tcp_pair() as (client_sock, front_sock):
        with pytest.raises(HandoffFailed, match="cannot hand off"):
            await hand_off(unique_address(), front_sock, b"GET", None)
        client_sock.send(b"still mine")
        await trio.lowlevel.wait_readable(front_sock)
        assert front_sock.recv(100) == b"still mine"


async def test_a_listener_that_never_acks_times_out(autojump_clock: trio.abc.Clock) -> None:
    address = unique_address()
    silent = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with silent, trio.fail_after(60), tcp_pair() as (client_sock, front_sock):
        silent.bind(address)
        silent.listen(1)  # never accepts: the hand-off waits in the backlog
        with pytest.raises(HandoffFailed, match="in time"):
            await hand_off(address, front_sock, b"GET", None, timeout=5)
        assert trio.current_time() == pytest.approx(5)
        client_sock.send(b"x")
        await trio.lowlevel.wait_readable(front_sock)
        assert front_sock.recv(10) == b"x"


async def test_an_ack_after_the_deadline_fails_so_only_the_sender_serves(
    autojump_clock: trio.abc.Clock,
) -> None:
    """The listener uses a socket only once its ack went out; a sender that gave up has shut
    the connection down first, so a late ack fails there and nobody serves it twice."""
    address = unique_address()
    late = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    late.setblocking(False)

    async def slow_listener() -> None:
        await trio.lowlevel.wait_readable(late)
        conn, _ = late.accept()
        with conn:
            await trio.lowlevel.wait_readable(conn)
            _, fds, _, _ = socket.recv_fds(conn, 70_000, 1)
            for fd in fds:
                os.close(fd)
            await trio.sleep(10)  # past the sender's deadline
            with pytest.raises(BrokenPipeError):
                conn.send(b"\x01")
            trio.lowlevel.notify_closing(conn)

    with late, trio.fail_after(60), tcp_pair() as (_, front_sock):
        late.bind(address)
        late.listen(1)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(slow_listener)
            with pytest.raises(HandoffFailed, match="in time"):
                await hand_off(address, front_sock, b"GET", None, timeout=5)
        trio.lowlevel.notify_closing(late)


async def test_a_prefix_over_the_limit_is_refused_and_the_listener_lives_on() -> None:
    address = unique_address()
    with trio.fail_after(10), tcp_pair() as (_, front_sock):
        async with listening(address, max_header=1000) as handed:
            with pytest.raises(HandoffFailed, match="refused"):
                await hand_off(address, front_sock, b"x" * 1001, None)
            await hand_off(address, front_sock, b"x" * 1000, None)
            sock, got, _ = await handed.receive()
            sock.close()
            assert got == b"x" * 1000


def header(prefix: bytes = b"GET", rest: int = 0, client: object = None) -> bytes:
    return cbor2.dumps({"client": client, "prefix": prefix, "rest": rest})


async def send_raw(address: str, *messages: tuple[bytes, list[int]]) -> bytes:
    """Connect to a listener as a sibling would, send these messages (bytes and descriptors),
    and return what it answered before it closed the connection."""
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with unix:
        unix.connect(address)
        unix.setblocking(False)
        for data, fds in messages:
            socket.send_fds(unix, [data], fds) if fds else unix.send(data)
        answer = b""
        while True:
            await trio.lowlevel.wait_readable(unix)
            piece = unix.recv(10)
            if not piece:
                trio.lowlevel.notify_closing(unix)
                return answer
            answer += piece


async def test_garbage_is_dropped_without_leaks_and_the_listener_survives(
    caplog: pytest.LogCaptureFixture, autojump_clock: trio.abc.Clock
) -> None:
    """Each of these is dropped (closed without an ack), its descriptors closed; a sender
    that stalls is dropped after RECEIVE_TIMEOUT (autojump)."""
    address = unique_address()
    with trio.fail_after(20), tcp_pair() as (client_sock, front_sock):
        async with listening(address, max_header=100) as handed:
            baseline = open_fds()
            read_end, write_end = os.pipe()
            fd = front_sock.fileno()
            bad = [
                [(b"not cbor at all", [])],
                [(b"\xff\xff", [fd])],
                [(cbor2.dumps([1, 2, 3]), [fd])],
                [(header(client=["h", 70000]), [fd])],
                [(header(client=["h"]), [fd])],
                [(cbor2.dumps({"client": None, "prefix": "text", "rest": 0}), [fd])],
                [(cbor2.dumps(cbor2.CBORTag(55799, header())), [fd])],
                [(header(), [read_end])],  # not a socket
                [(header(), [fd, fd])],  # two descriptors
                [(header(rest=1000), [fd])],  # over max_header
                [(header(rest=-1), [fd])],
                [(header(rest=10), [fd])],  # the rest never comes
                [(header(rest=10), [fd]), (b"y" * 20, [])],  # too much
                [(header(rest=10), [fd]), (b"", [])],
                [(header(), [])],  # no descriptor
            ]
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as datagram:
                bad.append([(header(), [datagram.fileno()])])  # not a stream socket
                for messages in bad:
                    assert await send_raw(address, *messages) == b"", messages
            os.close(read_end)
            os.close(write_end)
            assert open_fds() == baseline
            assert handed.statistics().current_buffer_used == 0
            dropped = [r for r in caplog.records if r.name == "roost.handoff"]
            assert len(dropped) == len(bad)
            # The listener still takes a good hand-off.
            assert await send_raw(address, (header(b"ok"), [fd])) == b"\x01"
            sock, prefix, _ = await handed.receive()
            sock.close()
            assert prefix == b"ok"
            client_sock.send(b"alive")  # the original socket is untouched
            await trio.lowlevel.wait_readable(front_sock)
            assert front_sock.recv(10) == b"alive"


async def test_a_taken_address_raises() -> None:
    address = unique_address()
    with trio.fail_after(5):
        async with listening(address), trio.open_nursery() as nursery:
            with pytest.raises(OSError, match="in use"):
                await nursery.start(HandoffListener(address).run, lambda *_: None)


# -- splice --------------------------------------------------------------------------------


@asynccontextmanager
async def spliced(
    *, buffer: int | None = None, to_stream_first: bytes = b"", chunk: int = 65536
) -> AsyncIterator[tuple[trio.SocketStream, trio.SocketStream, trio.Nursery]]:
    """(client, far, nursery): the client's socket spliced to a stream whose far end the test
    holds; the nursery ends when splice returns."""
    with tcp_pair(buffer=buffer) as (client, near), tcp_pair(buffer=buffer) as (far, stream):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(
                lambda: splice(
                    near, stream_of(stream), to_stream_first=to_stream_first, chunk=chunk
                )
            )
            yield stream_of(client), stream_of(far), nursery


async def test_splice_copies_both_ways_with_the_prefix_first() -> None:
    with trio.fail_after(10):
        async with spliced(to_stream_first=b"HEAD ") as (client, far, _):
            await client.send_all(b"abc")
            assert await receive_exactly(far, 8) == b"HEAD abc"
            await far.send_all(b"xyz")
            assert await receive_exactly(client, 3) == b"xyz"
            await client.send_eof()
            await far.send_eof()
            assert await far.receive_some(10) == b""
            assert await client.receive_some(10) == b""


@pytest.mark.parametrize("first", ["client", "far"])
async def test_splice_half_closes(first: str) -> None:
    with trio.fail_after(10):
        async with spliced() as (client, far, nursery):
            closer, other = (client, far) if first == "client" else (far, client)
            await closer.send_all(b"last words")
            await closer.send_eof()
            assert await receive_all(other) == b"last words"
            await other.send_all(b"an answer after the EOF")
            assert await receive_exactly(closer, 23) == b"an answer after the EOF"
            assert nursery.child_tasks  # one direction is still open
            await other.send_eof()
            assert await closer.receive_some(10) == b""
        # splice returned once both directions ended


async def test_splice_reads_no_more_than_a_stalled_side_takes(
    autojump_clock: trio.abc.Clock,
) -> None:
    """The far end stops reading: after the kernel buffers fill, splice stops reading the
    client, so the client's writes block instead of piling up in splice's memory."""
    total = 16 * 1024 * 1024
    written = 0
    data = os.urandom(total)

    async def write(client: trio.SocketStream) -> None:
        nonlocal written
        for start in range(0, total, 65536):
            await client.send_all(data[start : start + 65536])
            written = start + 65536

    with trio.fail_after(120):
        async with spliced(buffer=65536) as (client, far, _):
            async with trio.open_nursery() as writers:
                writers.start_soon(write, client)
                await trio.sleep(10)  # autojump: the clock moves once everything is stuck
                stalled = written
                await trio.sleep(10)
                assert written == stalled < 2 * 1024 * 1024
                # The other direction is independent of the stalled one.
                await far.send_all(b"meanwhile")
                assert await receive_exactly(client, 9) == b"meanwhile"
                assert await receive_exactly(far, total) == data
            await client.send_eof()
            await far.send_eof()
            assert await far.receive_some(10) == b""


def reset(stream: trio.SocketStream) -> None:
    stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    stream.socket.close()


@pytest.mark.parametrize("side", ["client", "far"])
async def test_a_reset_on_one_side_ends_both(side: str) -> None:
    with trio.fail_after(10):
        async with spliced() as (client, far, _):
            await client.send_all(b"a")
            assert await receive_exactly(far, 1) == b"a"
            broken, other = (client, far) if side == "client" else (far, client)
            reset(broken)
            try:
                assert await other.receive_some(10) == b""
            except trio.BrokenResourceError:
                pass  # the far side may see the reset as a reset
            await other.aclose()
        # the nursery closed: splice returned
