"""The node-wide edge-triggered reader (runtime/_reader.py) behind every Peer's receive().

Edge-triggered epoll reports a socket only when it *becomes* readable, so each test here
plays a way an edge can be lost or misattributed: bytes that arrive while nobody waits, a
read that leaves bytes behind, a peer that half-closes, a number reused by a new socket while
the old open file lives on (a duplicate, as a splice holds), and a socket that always has
data beside one that gets a single message. Real socket pairs, real epoll, no mocks.
"""

from __future__ import annotations

import select
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import ClassVar

import pytest
import trio

from roost import Actor, App, Connection
from roost.protocol import FrameDecoder, TextMessage, encode_text
from roost.runtime._batcher import PassBatcher
from roost.runtime._reader import Reader
from roost.runtime._transport import RECV_SIZE, Detached, Peer
from roost.testing import TestServer
from tests.support import raw_websocket, running

pytestmark = pytest.mark.skipif(not hasattr(select, "epoll"), reason="epoll is Linux only")

MASK = b"\x01\x02\x03\x04"


woken: list[object] = []  # what Reader.wake was called with (detached peers)


@asynccontextmanager
async def reading() -> AsyncIterator[tuple[Reader, PassBatcher[Peer]]]:
    """A running reader (and a flusher for the Peers' writes), closed afterwards."""
    reader = Reader(woken.append)
    flusher: PassBatcher[Peer] = PassBatcher()
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(reader.run)
            nursery.start_soon(flusher.run, lambda peer: peer.flush(nursery))
            yield reader, flusher
            nursery.cancel_scope.cancel()
    finally:
        reader.close()


def pair(reader: Reader, flusher: PassBatcher[Peer]) -> tuple[Peer, socket.socket]:
    """A Peer on one end of a socket pair, and the other end (blocking) as its client."""
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    return Peer(ours, flusher, reader, max_outbound_bytes=1 << 20), theirs


async def receive_exactly(peer: Peer, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = await peer.receive()
        assert chunk, "EOF before the bytes"
        data += chunk
    return bytes(data)


async def test_bytes_that_came_while_nobody_waited_are_read_without_another_edge() -> None:
    with trio.fail_after(10):
        async with reading() as (reader, flusher):
            peers = [pair(reader, flusher) for _ in range(100)]
            for index, (_, client) in enumerate(peers):
                client.sendall(b"%03d" % index)
            # The reader sees every edge while no receive() waits: each peer must remember it.
            await trio.testing.wait_all_tasks_blocked()
            for index, (peer, client) in enumerate(peers):
                assert await peer.receive() == b"%03d" % index
                client.sendall(b"again")  # a new edge, now with a reader parked or not
            for peer, client in peers:
                assert await receive_exactly(peer, 5) == b"again"
                peer.abort()
                client.close()
            assert len(reader) == 0


async def test_many_busy_readers_lose_no_edge() -> None:
    """Tasks that are busy (not in receive) when their bytes come still get every byte."""
    rounds, count = 20, 50
    with trio.fail_after(20):
        async with reading() as (reader, flusher):
            peers = [pair(reader, flusher) for _ in range(count)]
            got = [bytearray() for _ in range(count)]

            async def consume(index: int) -> None:
                peer = peers[index][0]
                while len(got[index]) < rounds:
                    got[index] += await peer.receive()
                    await (
                        trio.lowlevel.checkpoint()
                    )  # busy for a pass: the next edge finds no waiter
                    await trio.lowlevel.checkpoint()

            async with trio.open_nursery() as nursery:
                for index in range(count):
                    nursery.start_soon(consume, index)
                for _ in range(rounds):
                    for _, client in peers:
                        client.sendall(b"x")
                    await trio.lowlevel.checkpoint()
            assert all(bytes(data) == b"x" * rounds for data in got)
            for peer, client in peers:
                peer.abort()
                client.close()


def fill(client: socket.socket, byte: bytes) -> int:
    """Write ``byte`` repeated into ``client`` until its buffer is full; the count written."""
    client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
    client.setblocking(False)
    written = 0
    try:
        while True:
            written += client.send(byte * RECV_SIZE)
    except BlockingIOError:
        pass
    client.setblocking(True)
    return written


async def test_a_read_that_fills_the_buffer_keeps_the_socket_ready() -> None:
    """Many recv's worth arrives under one edge: the rest is read with no new edge."""
    with trio.fail_after(10):
        async with reading() as (reader, flusher):
            peer, client = pair(reader, flusher)
            size = fill(client, b"f")
            assert size > 2 * RECV_SIZE
            await trio.testing.wait_all_tasks_blocked()
            assert await receive_exactly(peer, size) == b"f" * size
            peer.abort()
            client.close()


async def test_a_peer_that_half_closes_is_read_to_its_eof() -> None:
    """Data and the FIN may come under one edge: the EOF behind the data is still seen."""
    with trio.fail_after(10):
        async with reading() as (reader, flusher):
            peer, client = pair(reader, flusher)
            client.sendall(b"last words")
            client.shutdown(socket.SHUT_WR)
            await trio.testing.wait_all_tasks_blocked()  # the edge comes while nobody waits
            assert await receive_exactly(peer, 10) == b"last words"
            assert await peer.receive() == b""
            # Half-closed only: our writes still reach the client.
            peer.write(b"bye")
            await peer.wait_flushed()
            assert client.recv(16) == b"bye"
            peer.abort()
            client.close()

            peer, client = pair(reader, flusher)  # and while a receive() is parked
            async with trio.open_nursery() as nursery:
                results: list[bytes] = []

                async def read_two() -> None:
                    results.append(await peer.receive())
                    results.append(await peer.receive())

                nursery.start_soon(read_two)
                await trio.testing.wait_all_tasks_blocked()
                client.sendall(b"x")
                client.shutdown(socket.SHUT_WR)
            assert results == [b"x", b""]
            peer.abort()
            client.close()


async def abort_while_parked(peer: Peer) -> None:
    """Abort ``peer`` while a task is parked in its receive(): that task gets
    ClosedResourceError."""

    async def read() -> None:
        with pytest.raises(trio.ClosedResourceError):
            await peer.receive()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read)
        await trio.testing.wait_all_tasks_blocked()
        peer.abort()


async def test_abort_wakes_a_parked_receive() -> None:
    with trio.fail_after(10):
        async with reading() as (reader, flusher):
            peer, client = pair(reader, flusher)
            await abort_while_parked(peer)
            with pytest.raises(trio.ClosedResourceError):
                await peer.receive()
            client.close()


async def test_a_cancelled_receive_is_not_woken_later() -> None:
    with trio.fail_after(10):
        async with reading() as (reader, flusher):
            peer, client = pair(reader, flusher)
            with trio.move_on_after(0.05):
                await peer.receive()
            client.sendall(b"after")  # the reader must not reschedule the cancelled task
            await trio.testing.wait_all_tasks_blocked()
            assert await peer.receive() == b"after"
            peer.abort()
            client.close()


class Counting:
    """A reader owner that only counts the edges it is told of."""

    def __init__(self) -> None:
        self.edges = 0

    def readable(self, hangup: bool) -> None:
        self.edges += 1


async def test_a_reused_number_never_gets_the_old_connections_edges() -> None:
    """A peer's socket lives on as a duplicate (a splice holds one) after the peer closed
    it; the number then goes to a new socket. The old connection's bytes must not be
    reported under the number: the peer unregistered before closing."""
    with trio.fail_after(10):
        async with reading() as (reader, flusher):
            old, old_client = pair(reader, flusher)
            number = old.sock.fileno()
            duplicate = old.sock.dup()  # keeps the old open file alive
            old.abort()
            fresh, fresh_client = socket.socketpair()
            if fresh.fileno() != number:  # the lowest free number is the one just closed
                fresh, fresh_client = fresh_client, fresh
            assert fresh.fileno() == number
            counting = Counting()
            reader.register(number, counting)
            old_client.sendall(b"old connection")
            await trio.testing.wait_all_tasks_blocked()
            assert counting.edges == 0
            fresh_client.sendall(b"new connection")
            await trio.testing.wait_all_tasks_blocked()
            assert counting.edges == 1
            reader.unregister(number, counting)
            for sock in (duplicate, old_client, fresh, fresh_client):
                sock.close()


async def test_a_new_peer_on_a_reused_number_reads_only_its_own_bytes() -> None:
    with trio.fail_after(10):
        async with reading() as (reader, flusher):
            old, old_client = pair(reader, flusher)
            number = old.sock.fileno()
            old_client.sendall(b"unread")  # left behind in the old socket
            await trio.testing.wait_all_tasks_blocked()
            old.abort()
            old_client.close()
            new, new_client = pair(reader, flusher)
            if new.sock.fileno() != number:
                pytest.skip("the kernel gave the new socket another number")
            new_client.sendall(b"mine")
            assert await new.receive() == b"mine"
            new.abort()
            new_client.close()
            assert len(reader) == 0


async def test_a_socket_that_always_has_data_does_not_starve_another() -> None:
    """One peer's socket holds megabytes (every read of it is full: it stays ready), another
    holds one message: the second is read after a few reads of the first, not after all."""
    with trio.fail_after(10):
        async with reading() as (reader, flusher):
            hot, hot_client = pair(reader, flusher)
            cold, cold_client = pair(reader, flusher)
            total = fill(hot_client, b"h")
            if total < 6 * RECV_SIZE:
                pytest.skip(f"socket buffers too small here ({total} bytes)")
            cold_client.sendall(b"ping")
            await trio.testing.wait_all_tasks_blocked()  # both edges seen, nobody waits
            read = 0
            read_when_cold_came = -1

            hot_going = trio.Event()

            async def drain_hot() -> None:
                nonlocal read
                while read < total:
                    read += len(await hot.receive())
                    hot_going.set()

            async def wait_cold() -> None:
                nonlocal read_when_cold_came
                assert await cold.receive() == b"ping"
                read_when_cold_came = read

            async with trio.open_nursery() as nursery:
                nursery.start_soon(drain_hot)
                await hot_going.wait()
                nursery.start_soon(wait_cold)
            assert 0 <= read_when_cold_came <= 4 * RECV_SIZE < total
            for peer, client in ((hot, hot_client), (cold, cold_client)):
                peer.abort()
                client.close()


async def test_without_a_reader_a_peer_waits_on_its_own_socket() -> None:
    """The fallback where there is no epoll (not Linux): trio's one-shot wait per read."""
    with trio.fail_after(10):
        async with reading() as (_, flusher):
            ours, client = socket.socketpair()
            ours.setblocking(False)
            peer = Peer(ours, flusher, None, max_outbound_bytes=1 << 20)
            client.sendall(b"hello")
            assert await receive_exactly(peer, 5) == b"hello"
            await abort_while_parked(peer)
            client.close()

            ours, client = socket.socketpair()
            ours.setblocking(False)
            peer = Peer(ours, flusher, None, max_outbound_bytes=1 << 20)
            client.sendall(b"bye")
            client.shutdown(socket.SHUT_WR)
            assert await receive_exactly(peer, 3) == b"bye"
            assert await peer.receive() == b""
            peer.abort()
            client.close()


# -- through the server --------------------------------------------------------------------


class Slow(Actor):
    """Holds its first message's turn until released, then echoes every message."""

    release: trio.Event

    async def on_message(self, conn: Connection, message: str | bytes) -> None:
        if message == "hold":
            await Slow.release.wait()
        conn.send(message)


async def test_messages_sent_while_every_session_is_busy_all_arrive(tmp_path: Path) -> None:
    """Many connections whose sessions are inside a turn when their next frames arrive (the
    edge comes while nobody is parked): once the turns end, every frame is read."""
    Slow.release = trio.Event()
    app = App()
    app.actor("slow", Slow)
    count, later = 40, 5
    with trio.fail_after(30):
        async with running(app, tmp_path) as server:
            streams = [await raw_websocket(server, f"/slow/{i}") for i in range(count)]
            for stream in streams:
                await stream.send_all(encode_text("hold", mask=MASK))
            await trio.testing.wait_all_tasks_blocked()
            for n in range(later):
                for stream in streams:
                    await stream.send_all(encode_text(f"m{n}", mask=MASK))
            await trio.testing.wait_all_tasks_blocked()
            Slow.release.set()
            for stream in streams:
                decoder = FrameDecoder(client=True, max_message_size=1 << 20)
                received: list[str | bytes] = []
                while len(received) < later + 1:
                    data = await stream.receive_some(65536)
                    assert data
                    received += [
                        e.data for e in decoder.receive_data(data) if isinstance(e, TextMessage)
                    ]
                assert received == ["hold"] + [f"m{n}" for n in range(later)]
                await stream.aclose()


# -- idle connections without a task -------------------------------------------------------


async def test_detach_sends_the_parked_task_away_and_the_socket_wakes_a_new_one() -> None:
    with trio.fail_after(10):
        async with reading() as (reader, flusher):
            woken.clear()
            peer, client = pair(reader, flusher)
            sleeper = object()
            assert not peer.detach(sleeper)  # nobody parked: nothing to send away

            async def read() -> None:
                with pytest.raises(Detached):
                    await peer.receive()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(read)
                await trio.testing.wait_all_tasks_blocked()
                assert peer.detach(sleeper)
            assert woken == []
            client.sendall(b"back")
            await trio.testing.wait_all_tasks_blocked()
            assert woken == [sleeper]  # once: the next edge finds it attached again
            assert await peer.receive() == b"back"

            async with trio.open_nursery() as nursery:  # detached, then aborted
                nursery.start_soon(read)
                await trio.testing.wait_all_tasks_blocked()
                peer.detach(sleeper)
            woken.clear()
            peer.abort()
            assert woken == [sleeper]  # its new task sees the close and ends the connection
            client.close()


class Echo(Actor):
    closed: ClassVar[list[int]] = []
    both_closed: ClassVar[trio.Event]

    async def on_message(self, conn: Connection, message: str | bytes) -> None:
        conn.send(message)

    async def on_close(self, conn: Connection, code: int, reason: str) -> None:
        Echo.closed.append(code)
        if len(Echo.closed) == 2:
            Echo.both_closed.set()


def connection_tasks() -> int:
    """Tasks that serve a connection now (Server._handle or Server._resume), in this run."""
    count = 0
    pending = [trio.lowlevel.current_root_task()]
    while pending:
        task = pending.pop()
        count += task.name.endswith(("Server._handle", "Server._resume"))
        pending.extend(t for n in task.child_nurseries for t in n.child_tasks)
    return count


async def test_an_idle_websocket_holds_no_task_and_still_serves(
    autojump_clock: trio.testing.MockClock,
) -> None:
    Echo.closed, Echo.both_closed = [], trio.Event()
    app = App()
    app.actor("echo", Echo)
    async with TestServer(app, close_timeout=1.0, idle_timeout=600) as t:
        async with t.connect("/echo/a") as a, t.connect("/echo/b") as b:
            await a.send("one")
            assert await a.receive() == "one"
            assert connection_tasks() == 2
            await trio.sleep(5)  # quiet for several maintenance ticks (close_timeout / 4)
            assert connection_tasks() == 0
            assert len(t.server.sessions) == 2
            await a.send("two")  # bytes: a new task serves it
            assert await a.receive() == "two"
            await b.send("three")  # the other one, never woken before
            assert await b.receive() == "three"
            await trio.sleep(5)
            assert connection_tasks() == 0
        # Both closed while detached: each got its close handled and on_close exactly once.
        with trio.fail_after(5):
            await Echo.both_closed.wait()
        assert Echo.closed == [1000, 1000]
        assert t.server.sessions == set()
