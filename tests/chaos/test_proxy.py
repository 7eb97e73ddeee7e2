"""The harness's proxy on real sockets: forwards, cuts, hangs, restores and moves."""

from __future__ import annotations

import trio

from chaos.proxy import Proxy


async def echo_server(nursery: trio.Nursery) -> int:
    async def echo(stream: trio.SocketStream) -> None:
        async with stream:
            try:
                async for data in stream:
                    await stream.send_all(data)
            except trio.BrokenResourceError:
                pass

    listeners = await nursery.start(trio.serve_tcp, echo, 0)
    return int(listeners[0].socket.getsockname()[1])


async def roundtrip(port: int, data: bytes = b"ping") -> bytes:
    """What comes back; b"" when the proxy closed the connection (or reset it)."""
    async with await trio.open_tcp_stream("127.0.0.1", port) as stream:
        try:
            await stream.send_all(data)
            return await stream.receive_some(100)
        except trio.BrokenResourceError:
            return b""


async def test_forwards_cuts_and_restores() -> None:
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            proxy = Proxy("p", ("127.0.0.1", await echo_server(nursery)))
            await nursery.start(proxy.serve)
            assert await roundtrip(proxy.port) == b"ping"
            async with await trio.open_tcp_stream("127.0.0.1", proxy.port) as open_before:
                await open_before.send_all(b"x")
                assert await open_before.receive_some(10) == b"x"
                proxy.cut()
                assert await open_before.receive_some(10) == b""  # dropped
            assert await roundtrip(proxy.port) == b""  # refused while cut
            proxy.restore()
            assert await roundtrip(proxy.port) == b"ping"
            nursery.cancel_scope.cancel()


async def test_a_hung_proxy_holds_bytes_until_restored() -> None:
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            proxy = Proxy("p", ("127.0.0.1", await echo_server(nursery)))
            await nursery.start(proxy.serve)
            async with await trio.open_tcp_stream("127.0.0.1", proxy.port) as stream:
                await stream.send_all(b"a")
                assert await stream.receive_some(10) == b"a"
                proxy.hang()
                await stream.send_all(b"b")
                with trio.move_on_after(0.3) as silent:
                    await stream.receive_some(10)
                assert silent.cancelled_caught
                proxy.restore()
                assert await stream.receive_some(10) == b"b"
            nursery.cancel_scope.cancel()


async def test_no_target_or_a_dead_one_closes_and_retarget_moves() -> None:
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            proxy = Proxy("p")
            await nursery.start(proxy.serve)
            assert await roundtrip(proxy.port) == b""  # no target yet
            closed = await trio.open_tcp_listeners(0, host="127.0.0.1")
            dead_port = closed[0].socket.getsockname()[1]
            await closed[0].aclose()
            proxy.retarget(("127.0.0.1", dead_port))
            assert await roundtrip(proxy.port) == b""  # the target is down
            proxy.retarget(("127.0.0.1", await echo_server(nursery)))
            assert await roundtrip(proxy.port) == b"ping"
            nursery.cancel_scope.cancel()
