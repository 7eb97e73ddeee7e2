"""Fixtures of the client tests: real servers on 127.0.0.1, a test actor, a socket-leak check."""

from __future__ import annotations

import gc
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, ClassVar

import pytest
import trio

from roost import Actor, App, Connection, RpcError, Server, ServerConfig, rpc
from roost.cli import load_app
from tests.support import EXAMPLES


class Probe(Actor):
    """An actor whose rpc methods exercise every outcome a client must handle."""

    entered: ClassVar[trio.Event]  # set when hang() starts
    release: ClassVar[trio.Event]  # hang() returns once it is set

    @rpc
    async def echo(self, conn: Connection | None, value: Any = None) -> Any:
        return value

    @rpc
    async def bump(self, conn: Connection | None) -> int:
        """A durable counter: shows that a restarted server kept the data dir."""
        count = int(self.storage.kv.get("count", 0)) + 1
        self.storage.kv.put("count", count)
        return count

    @rpc
    async def fail(self, conn: Connection | None) -> None:
        raise ValueError("secret detail")

    @rpc
    async def refuse(self, conn: Connection | None, code: str) -> None:
        raise RpcError(code, "refused on purpose")

    @rpc
    async def hang(self, conn: Connection | None) -> str:
        Probe.entered.set()
        await Probe.release.wait()
        return "released"

    @rpc
    async def shout(self, conn: Connection | None, count: int) -> int:
        for i in range(count):
            self.emit("tick", i)
        return count

    @rpc
    async def kick(self, conn: Connection | None, code: int) -> None:
        assert conn is not None
        conn.close(code, "kicked")


@pytest.fixture
def probe_app() -> App:
    Probe.entered, Probe.release = trio.Event(), trio.Event()
    app = App()
    app.actor("probe", Probe)
    return app


@pytest.fixture(scope="session")
def chat_app() -> App:
    return load_app(str(EXAMPLES / "chat.py"))


@pytest.fixture(scope="session")
def relay_app() -> App:
    return load_app(str(EXAMPLES / "relay.py"))


@asynccontextmanager
async def serving(
    app: App, data_dir: Path, port: int = 0, **settings: Any
) -> AsyncIterator[Server]:
    """A real server on 127.0.0.1:``port`` (0: any free port), shut down gracefully on exit."""
    server = Server(app, ServerConfig(host="127.0.0.1", port=port, data_dir=data_dir, **settings))
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve)
        try:
            yield server
        finally:
            with trio.CancelScope(shield=True):
                await server.shutdown()


def url(server: Server, path: str) -> str:
    return f"ws://127.0.0.1:{server.port}{path}"


def _open_sockets() -> set[str]:
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:"):
            found.add(f"{fd}:{target}")
    return found


@pytest.fixture(autouse=True)
def no_leaked_sockets() -> Iterator[None]:
    """Every socket a test opened is closed when it ends (not merely collected later)."""
    before = _open_sockets()
    yield
    leaked = _open_sockets() - before
    gc.collect()  # a leak would also warn (ResourceWarning) when collected
    assert not leaked, f"sockets left open: {sorted(leaked)}"
