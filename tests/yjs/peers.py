"""Real Yjs clients under Node (tests/yjs/node/peer.mjs: yjs and the unmodified y-websocket
provider from npm), each a subprocess driven with JSON lines.

Without ``node``/``npm`` the tests are skipped loudly; CI sets ``ROOST_REQUIRE_NODE=1``, which
makes that a failure.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import trio

from tests.support import node_project

NODE_DIR = Path(__file__).resolve().parent / "node"


def node_ready() -> str:
    """The path of ``node``, after ``npm ci`` in tests/yjs/node if its modules are missing."""
    return node_project(NODE_DIR, "THE YJS ACTOR WITH THE REAL yjs/y-websocket CLIENTS")


class PeerError(Exception):
    """The peer answered a command with ok: false."""


class Peer:
    """One Node process with one Y.Doc and one WebsocketProvider."""

    def __init__(self, process: trio.Process) -> None:
        self.process = process
        self._buffer = b""
        self.client_id: int | None = None

    async def call(self, cmd: str, **args: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        await self.process.stdin.send_all(json.dumps({"cmd": cmd, **args}).encode() + b"\n")
        reply: dict[str, Any] = json.loads(await self._line())
        if not reply.pop("ok"):
            raise PeerError(f"{cmd}: {reply['error']}")
        return reply

    async def _line(self) -> bytes:
        assert self.process.stdout is not None
        while b"\n" not in self._buffer:
            chunk = await self.process.stdout.receive_some(65536)
            if not chunk:
                raise PeerError(f"the Node peer exited (status {self.process.returncode})")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    async def connect(self, url: str, doc: str) -> int:
        self.client_id = int((await self.call("connect", url=url, doc=doc))["clientID"])
        return self.client_id

    async def edits(self, count: int, tag: str) -> None:
        """``count`` inserts of ``<tag><i>`` at random places, sent as fast as Yjs makes them."""
        await self.call("edits", count=count, tag=tag)

    async def text(self) -> str:
        return str((await self.call("text"))["text"])

    async def wait_text(self, *, contains: tuple[str, ...] = (), length: int = 0) -> str:
        return str((await self.call("wait_text", contains=list(contains), length=length))["text"])

    def kill(self) -> None:
        """Vanish without a goodbye: no close frame, no awareness removal."""
        self.process.kill()


class Peers:
    """Starts peers and makes sure none outlives its test."""

    def __init__(self, node: str) -> None:
        self._node = node
        self._started: list[Peer] = []

    async def start(self, url: str | None = None, doc: str | None = None) -> Peer:
        process = await trio.lowlevel.open_process(
            [self._node, str(NODE_DIR / "peer.mjs")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=NODE_DIR,
        )
        peer = Peer(process)
        self._started.append(peer)
        if url is not None and doc is not None:
            await peer.connect(url, doc)
        return peer

    async def aclose(self) -> None:
        for peer in self._started:
            if peer.process.returncode is None:
                peer.process.kill()
            await peer.process.wait()
            for stream in (peer.process.stdin, peer.process.stdout):
                if stream is not None:
                    await stream.aclose()
