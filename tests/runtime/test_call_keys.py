"""G9 between actors: ``self.call(type, key)`` follows the key rule of WebSocket and HTTP
(1 to max_key_bytes bytes of UTF-8, no NUL or control character). A bad key fails in the
caller's turn, with a clear error, and no actor (nor file) is created for it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import pytest
import trio

from roost import Actor, App, HttpCaller, RpcError, rpc
from tests.support import http, running


class Target(Actor):
    started: ClassVar[list[str]] = []

    async def on_start(self) -> None:
        Target.started.append(self.key)
        self.storage.kv.put("started", True)

    @rpc
    async def ping(self, conn: HttpCaller | None) -> str:
        return self.key


class Caller(Actor):
    @rpc
    async def relay(self, conn: HttpCaller | None, key: str) -> Any:
        try:
            return await self.call("target", key).ping()
        except RpcError as exc:
            return {"code": exc.code, "message": exc.message}


BAD_KEYS = ["", "a" * 65, "nul\x00key", "tab\tkey", "del\x7f", "c1\x85"]


@pytest.mark.parametrize("key", BAD_KEYS)
async def test_a_call_with_a_bad_key_fails_in_the_callers_turn(tmp_path: Path, key: str) -> None:
    Target.started = []
    app = App()
    app.actor("target", Target)
    app.actor("caller", Caller)
    with trio.fail_after(30):
        async with running(app, tmp_path, max_key_bytes=64) as server:
            status, _, body = await http(
                server,
                "POST",
                "/caller/c/rpc/relay",
                body=json.dumps({"key": key}).encode(),
                headers=[("content-type", "application/json")],
            )
            assert status == 200, body
            value = json.loads(body)["value"]
            assert value["code"] == "bad_request"
            assert "actor key" in value["message"]
            assert Target.started == []
            assert ("target", key) not in server.registry.slots
            good = json.dumps({"key": "é" * 32}).encode()  # 64 bytes: the longest allowed
            status, _, body = await http(
                server,
                "POST",
                "/caller/c/rpc/relay",
                body=good,
                headers=[("content-type", "application/json")],
            )
            assert json.loads(body) == {"value": "é" * 32}
    files = [p for p in (tmp_path / "actors" / "target").rglob("*.sqlite")]
    assert len(files) == 1  # the good key's only
