"""Node links over real TCP on 127.0.0.1: streams, calls, refusals, loss, TLS (issue 14)."""

from __future__ import annotations

import logging
import os
import ssl
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import h11
import pytest
import trio

from roost._errors import LinkRefused, LinkUnavailable, RpcError, Unavailable
from roost.protocol._link import encode_data
from roost.runtime._links import NodeLinks, StreamBroken


@attrs.define
class Handler:
    """Echoes streams, answers calls; counts what it served."""

    streams: int = 0
    calls: int = 0
    headers: list[dict[str, Any]] = attrs.field(factory=list)
    stream_errors: list[BaseException] = attrs.field(factory=list)
    stream_failed: trio.Event = attrs.field(factory=trio.Event)

    async def on_stream(
        self, peer_node: str, header: dict[str, Any], stream: trio.abc.HalfCloseableStream
    ) -> None:
        self.streams += 1
        self.headers.append(header)
        if header.get("kind") == "stall":
            await trio.sleep_forever()
        try:
            while data := await stream.receive_some():
                await stream.send_all(data)
            await stream.send_eof()
            await trio.sleep_forever() if header.get("linger") else None
        except trio.BrokenResourceError as exc:
            self.stream_errors.append(exc)
            self.stream_failed.set()

    async def on_call(self, peer_node: str, request: dict[str, Any]) -> Any:
        self.calls += 1
        op = request.get("op")
        if op == "add":
            return request["a"] + request["b"]
        if op == "who":
            return peer_node
        if op == "fail":
            raise RpcError("not_found", "no such thing")
        if op == "busy":
            raise Unavailable("try later")
        if op == "crash":
            raise ValueError("secret internals")
        if op == "unsendable":
            return object()
        if op == "sleep":
            await trio.sleep(request["seconds"])
            return "slept"
        if op == "echo":
            return request["value"]
        raise RpcError("bad_request", f"unknown op {op!r}")


@attrs.define
class Node:
    links: NodeLinks
    handler: Handler
    address: str
    accepted: list[int]


async def serve_links(stream: trio.SocketStream, links: NodeLinks, accepted: list[int]) -> None:
    """What the server will do: read the upgrade head with h11, then hand over to accept()."""
    conn = h11.Connection(h11.SERVER)
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await stream.receive_some(65536))
            continue
        break
    assert isinstance(event, h11.Request)
    assert event.target == b"/_roost/link"
    assert (b"upgrade", b"roost-link") in [(k, v) for k, v in event.headers]
    accepted.append(1)
    await links.accept(stream, conn.trailing_data[0])


async def start_node(
    nursery: trio.Nursery,
    node_id: str,
    *,
    secret: str = "s3cret",
    listen: bool = True,
    **options: Any,
) -> Node:
    handler = Handler()
    options.setdefault("version", "1.0")
    options.setdefault("protocol", 1)
    links = NodeLinks(node_id=node_id, secret=secret, handler=handler, **options)
    await nursery.start(links.run)
    accepted: list[int] = []
    address = ""
    if listen:
        serve = partial(serve_links, links=links, accepted=accepted)
        listeners = await nursery.start(partial(trio.serve_tcp, serve, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        address = f"127.0.0.1:{port}"
    return Node(links, handler, address, accepted)


@asynccontextmanager
async def linked(
    a_options: dict[str, Any] | None = None, b_options: dict[str, Any] | None = None
) -> AsyncIterator[tuple[Node, Node, trio.Nursery]]:
    """Node "a" (which only dials) and node "b" (listening), for at most 20 s."""
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            a = await start_node(nursery, "a", listen=False, **(a_options or {}))
            b = await start_node(nursery, "b", **(b_options or {}))
            yield a, b, nursery
            nursery.cancel_scope.cancel()


async def echo(links: NodeLinks, address: str, data: bytes) -> bytes:
    stream = await links.open_stream(address, {"kind": "echo"})
    received = bytearray()
    async with trio.open_nursery() as nursery:

        async def send() -> None:
            await stream.send_all(data)
            await stream.send_eof()

        nursery.start_soon(send)
        while chunk := await stream.receive_some(70_000):
            received += chunk
    await stream.aclose()
    return bytes(received)


async def test_many_concurrent_streams_echo_on_one_link() -> None:
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            a = await start_node(nursery, "a", listen=False, stream_window=64 * 1024)
            b = await start_node(nursery, "b")
            results: dict[int, bool] = {}

            async def one(i: int) -> None:
                data = os.urandom(150_000 + i * 1000)  # over the window: credit must flow
                results[i] = await echo(a.links, b.address, data) == data

            async with trio.open_nursery() as inner:
                for i in range(40):
                    inner.start_soon(one, i)
            assert results == dict.fromkeys(range(40), True)
            assert b.accepted == [1]
            stats = a.links.statistics()
            assert stats.links == 1 and stats.streams == 0
            assert stats.bytes_out > 40 * 150_000
            assert a.links.peer_node(b.address) == "b"
            nursery.cancel_scope.cancel()


async def test_a_stalled_stream_does_not_stall_another_or_calls() -> None:
    window = 64 * 1024
    async with linked(dict(stream_window=window), dict(stream_window=window)) as (a, b, nursery):
        stalled = await a.links.open_stream(b.address, {"kind": "stall"})
        sent = trio.Event()

        async def flood() -> None:
            with pytest.raises(trio.ClosedResourceError):  # closed while it waits for credit
                await stalled.send_all(bytes(1 << 20))
            sent.set()

        nursery.start_soon(flood)
        await trio.sleep(0.2)
        assert not sent.is_set()  # held back by the stalled stream's window
        for _ in range(3):
            assert await echo(a.links, b.address, b"x" * 300_000) == b"x" * 300_000
            assert await a.links.call(b.address, {"op": "add", "a": 2, "b": 3}) == 5
        assert not sent.is_set()
        # What the stalled stream put on the link is bounded by the window.
        assert a.links.statistics().bytes_out < 3 * 320_000 + window + 64 * 1024
        await stalled.aclose()
        await sent.wait()


async def test_calls_return_results_and_raise_rpc_errors() -> None:
    async with linked() as (a, b, _nursery):
        assert await a.links.call(b.address, {"op": "add", "a": 40, "b": 2}) == 42
        assert await a.links.call(b.address, {"op": "who"}) == "a"
        big = {"blob": os.urandom(500_000)}  # several frames each way
        assert await a.links.call(b.address, {"op": "echo", "value": big}) == big
        with pytest.raises(RpcError) as info:
            await a.links.call(b.address, {"op": "fail"})
        assert (info.value.code, info.value.message) == ("not_found", "no such thing")
        with pytest.raises(Unavailable, match="try later"):
            await a.links.call(b.address, {"op": "busy"})
        with pytest.raises(RpcError) as info:
            await a.links.call(b.address, {"op": "crash"})
        assert info.value.code == "internal" and "secret" not in str(info.value)
        with pytest.raises(RpcError, match="cannot be sent"):
            await a.links.call(b.address, {"op": "unsendable"})
        with pytest.raises(LinkUnavailable, match=r"within 0\.2 s"):
            await a.links.call(b.address, {"op": "sleep", "seconds": 5}, timeout=0.2)
        with pytest.raises(ValueError):
            await a.links.call(b.address, {"op": object()})
        # The link survives all of that.
        assert await a.links.call(b.address, {"op": "add", "a": 1, "b": 1}) == 2
        assert b.accepted == [1]
        assert a.links.statistics().calls_total == 9  # the unsendable one never left


async def test_half_close_and_reset() -> None:
    async with linked() as (a, b, _nursery):
        stream = await a.links.open_stream(b.address, {"kind": "echo", "linger": True})
        await stream.send_all(b"ping")
        await stream.send_eof()
        assert await stream.receive_some() == b"ping"
        assert await stream.receive_some() == b""  # the handler half-closed too
        with pytest.raises(trio.ClosedResourceError):
            await stream.send_all(b"more")
        await stream.aclose()
        # aclose of an unfinished stream resets it: the peer's handler sees it broken.
        stream = await a.links.open_stream(b.address, {"kind": "echo"})
        await stream.send_all(b"x")
        assert await stream.receive_some() == b"x"
        await stream.aclose()
        with pytest.raises(trio.ClosedResourceError):
            await stream.receive_some()
        await b.handler.stream_failed.wait()
        assert isinstance(b.handler.stream_errors[0], StreamBroken)
        # Only the lingering handler's stream (done both ways) is left until it closes it.
        assert b.links.statistics().streams == 1


async def test_a_wrong_secret_is_refused_and_nothing_is_served(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="roost.links")
    async with linked(dict(secret="wrong"), dict(secret="right")) as (a, b, _nursery):
        with pytest.raises(LinkRefused, match="authentication failed"):
            await a.links.call(b.address, {"op": "add", "a": 1, "b": 2})
        with pytest.raises(LinkRefused, match="authentication failed"):
            await a.links.open_stream(b.address, {"kind": "echo"})
        assert (b.handler.calls, b.handler.streams) == (0, 0)
        assert a.links.statistics().links == b.links.statistics().links == 0
    refusals = [r.getMessage() for r in caplog.records if "authentication failed" in r.getMessage()]
    assert len(refusals) == 4  # one line per side per attempt


async def test_an_incompatible_protocol_is_refused_naming_both(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="roost.links")
    async with linked(dict(protocol=2, version="2.0.0"), dict(protocol=3, version="3.1.0")) as (
        a,
        b,
        _nursery,
    ):
        with pytest.raises(LinkRefused) as info:
            await a.links.call(b.address, {"op": "who"})
        for part in ("protocol 2", "protocol 3", "2.0.0", "3.1.0"):
            assert part in str(info.value)
        assert b.handler.calls == 0
    lines = [r.getMessage() for r in caplog.records if "incompatible" in r.getMessage()]
    assert len(lines) == 2  # the dialer's and the acceptor's


async def test_one_link_per_address_even_for_50_concurrent_first_uses() -> None:
    async with linked() as (a, b, _nursery):
        streams = []

        async def open_one() -> None:
            streams.append(await a.links.open_stream(b.address, {"kind": "echo"}))

        async with trio.open_nursery() as inner:
            for _ in range(50):
                inner.start_soon(open_one)
        assert len(streams) == 50 and b.accepted == [1]
        assert a.links.statistics().links == 1
        assert a.links.statistics().streams == 50
        for stream in streams:
            await stream.aclose()


async def test_a_peer_gone_silent_fails_streams_and_calls_by_ping() -> None:
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            a = await start_node(nursery, "a", listen=False, ping_interval=0.2, ping_timeout=0.5)
            # (a dial through the frozen proxy fails by the call's timeout, not connect_timeout)
            b = await start_node(nursery, "b")
            proxy = await start_proxy(nursery, b.address)
            stream = await a.links.open_stream(proxy.address, {"kind": "echo"})
            await stream.send_all(b"hi")
            assert await stream.receive_some() == b"hi"
            proxy.freeze()  # like SIGSTOP: the connection stays, nothing moves
            started = trio.current_time()
            with pytest.raises(LinkUnavailable, match="ping"):
                await stream.receive_some()
            assert trio.current_time() - started < 1.5
            assert a.links.statistics().links == 0
            with pytest.raises(LinkUnavailable):
                await a.links.call(proxy.address, {"op": "who"}, timeout=2)  # dials: frozen
            proxy.thaw()
            assert await a.links.call(proxy.address, {"op": "who"}) == "a"  # dials again
            nursery.cancel_scope.cancel()


async def test_a_peer_killed_mid_stream_fails_at_once_and_is_dialed_again() -> None:
    async with linked() as (a, b, nursery):
        proxy = await start_proxy(nursery, b.address)
        stream = await a.links.open_stream(proxy.address, {"kind": "echo"})
        pending = trio.Event()
        failed = trio.Event()

        async def slow_call() -> None:
            pending.set()
            with pytest.raises(LinkUnavailable):
                await a.links.call(proxy.address, {"op": "sleep", "seconds": 10})
            failed.set()

        nursery.start_soon(slow_call)
        await pending.wait()
        await trio.sleep(0.1)
        started = trio.current_time()
        await proxy.cut()
        with pytest.raises(LinkUnavailable, match="lost"):
            await stream.receive_some()
        with pytest.raises(trio.BrokenResourceError):  # StreamBroken is both
            await stream.send_all(b"x")
        await failed.wait()
        assert trio.current_time() - started < 1
        assert await a.links.call(proxy.address, {"op": "who"}) == "a"


async def test_the_acceptor_reuses_the_link_of_a_dialer_that_advertises() -> None:
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            a = await start_node(nursery, "a")
            a.links._advertise = a.address  # known only once it listens
            b = await start_node(nursery, "b", advertise=None)
            assert await a.links.call(b.address, {"op": "who"}) == "a"
            assert await b.links.call(a.address, {"op": "who"}) == "b"
            assert await echo(b.links, a.address, b"back") == b"back"
            assert a.accepted == [] and b.accepted == [1]
            nursery.cancel_scope.cancel()


async def test_unreachable_and_foreign_addresses() -> None:
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            a = await start_node(nursery, "a", listen=False, connect_timeout=2)
            free = trio.socket.socket()
            await free.bind(("127.0.0.1", 0))
            port = free.getsockname()[1]
            free.close()
            with pytest.raises(LinkUnavailable, match="cannot reach"):
                await a.links.call(f"127.0.0.1:{port}", {"op": "who"})
            with pytest.raises(LinkUnavailable, match="bad node address"):
                await a.links.open_stream("nowhere", {})
            http = await start_http_404(nursery)
            with pytest.raises(LinkUnavailable, match="status 404"):
                await a.links.call(http, {"op": "who"})
            nursery.cancel_scope.cancel()


# TLS ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *(
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
            ),
            *("-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2"),
            *("-subj", "/CN=roost-test", "-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def contexts(certificate: tuple[Path, Path]) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    cert, key = certificate
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(cert))
    return server, client


async def test_a_tls_link_works(certificate: tuple[Path, Path]) -> None:
    server_ssl, client_ssl = contexts(certificate)
    async with linked(dict(client_ssl=client_ssl), dict(server_ssl=server_ssl)) as (a, b, _nursery):
        assert await a.links.call(b.address, {"op": "who"}) == "a"
        data = os.urandom(300_000)
        assert await echo(a.links, b.address, data) == data


async def test_plaintext_and_tls_do_not_mix(certificate: tuple[Path, Path]) -> None:
    server_ssl, client_ssl = contexts(certificate)
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            plain = await start_node(nursery, "plain")
            tls = await start_node(nursery, "tls", server_ssl=server_ssl, client_ssl=client_ssl)
            with pytest.raises(LinkRefused, match="expects tls links but this node dials plain"):
                await plain.links.call(tls.address, {"op": "who"})
            with pytest.raises(LinkRefused, match="expects plain links but this node dials tls"):
                await tls.links.call(plain.address, {"op": "who"})
            assert plain.handler.calls == tls.handler.calls == 0
            nursery.cancel_scope.cancel()


async def test_a_tls_dial_that_does_not_trust_the_certificate_fails(
    certificate: tuple[Path, Path],
) -> None:
    server_ssl, _ = contexts(certificate)
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            a = await start_node(
                nursery, "a", listen=False, client_ssl=ssl.create_default_context()
            )
            b = await start_node(nursery, "b", server_ssl=server_ssl)
            with pytest.raises(LinkUnavailable, match="cannot reach"):
                await a.links.call(b.address, {"op": "who"})
            assert b.handler.calls == 0
            nursery.cancel_scope.cancel()


# Helpers: a TCP proxy that can freeze or cut its connections, and a plain HTTP server ---------


@attrs.define(eq=False)
class Proxy:
    address: str = ""
    thawed: trio.Event = attrs.field(factory=trio.Event)

    def freeze(self) -> None:
        self.thawed = trio.Event()

    def thaw(self) -> None:
        self.thawed.set()

    scopes: list[trio.CancelScope] = attrs.field(factory=list)
    streams: list[trio.SocketStream] = attrs.field(factory=list)

    async def cut(self) -> None:
        for stream in self.streams:
            stream.socket.setsockopt(
                trio.socket.SOL_SOCKET, trio.socket.SO_LINGER, b"\1\0\0\0\0\0\0\0"
            )
            await stream.aclose()
        for scope in self.scopes:
            scope.cancel()


async def start_proxy(nursery: trio.Nursery, target: str) -> Proxy:
    proxy = Proxy()
    proxy.thaw()
    host, port = target.rsplit(":", 1)

    async def pump(src: trio.SocketStream, dst: trio.SocketStream) -> None:
        try:
            while data := await src.receive_some(65536):
                await proxy.thawed.wait()
                await dst.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    async def handle(client: trio.SocketStream) -> None:
        server = await trio.open_tcp_stream(host, int(port))
        async with client, server:
            with trio.CancelScope() as scope:
                proxy.scopes.append(scope)
                proxy.streams += [client, server]
                async with trio.open_nursery() as inner:
                    inner.start_soon(pump, client, server)
                    inner.start_soon(pump, server, client)

    listeners = await nursery.start(partial(trio.serve_tcp, handle, 0, host="127.0.0.1"))
    proxy.address = f"127.0.0.1:{listeners[0].socket.getsockname()[1]}"
    return proxy


async def start_http_404(nursery: trio.Nursery) -> str:
    async def handle(stream: trio.SocketStream) -> None:
        await stream.receive_some(65536)
        await stream.send_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
        await stream.aclose()

    listeners = await nursery.start(partial(trio.serve_tcp, handle, 0, host="127.0.0.1"))
    return f"127.0.0.1:{listeners[0].socket.getsockname()[1]}"


async def raw_link(address: str, payload: bytes) -> bytes:
    """Upgrade a raw connection, send ``payload``, return what comes back until EOF."""
    host, port = address.rsplit(":", 1)
    stream = await trio.open_tcp_stream(host, int(port))
    async with stream:
        await stream.send_all(
            b"GET /_roost/link HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
            b"Upgrade: roost-link\r\n\r\n" + payload
        )
        received = bytearray()
        try:
            while data := await stream.receive_some():
                received += data
        except trio.BrokenResourceError:
            pass  # reset by the closing side
        return bytes(received)


@pytest.mark.parametrize(
    "payload",
    [
        b"\xff" * 100,  # not a frame type
        bytes.fromhex("04 00 00000001 7fffffff"),  # a DATA frame, huge, before the handshake
        bytes.fromhex("01 00 00000000 00000001 a0"),  # a HELLO that is not one
        b"",  # nothing at all: the handshake times out
    ],
)
async def test_garbage_from_a_peer_closes_only_its_connection(
    payload: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="roost.links")
    async with linked(None, dict(connect_timeout=0.5)) as (a, b, _nursery):
        answer = await raw_link(b.address, payload)
        assert answer.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
        assert b.handler.streams == b.handler.calls == 0
        assert await a.links.call(b.address, {"op": "who"}) == "a"  # b still serves others
    assert len([r for r in caplog.records if "accepted link" in r.getMessage()]) == 1


async def test_a_peer_overrunning_its_window_loses_the_link() -> None:
    async with linked(None, dict(stream_window=1024)) as (a, b, _nursery):
        stream = await a.links.open_stream(b.address, {"kind": "stall"})
        link = a.links._by_address[b.address]  # to break the rules on purpose
        link.queue(encode_data(stream.id, bytes(2048)))  # past the 1 KiB window b announced
        with pytest.raises(LinkUnavailable, match="closed"):
            await stream.receive_some()
        assert await a.links.call(b.address, {"op": "who"}) == "a"  # a new link
