"""rpc: envelope clients (JSON and CBOR), HTTP and actor-to-actor calls, each one turn."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import cbor2
import pytest
import trio
import trio_websocket

from roost import Actor, App, Connection, RpcError, rpc
from tests.support import connect, http, running


class Account(Actor):
    """A balance in the actor's KV, with rpc methods and an event per change."""

    calls: ClassVar[list[str]] = []

    @rpc
    async def deposit(self, conn: Connection | None, amount: int) -> int:
        if not isinstance(amount, int) or amount <= 0:
            raise RpcError("bad_request", "amount must be a positive integer")
        balance = self.storage.kv.get("balance", 0) + amount
        self.storage.kv.put("balance", balance)
        self.emit("balance", {"balance": balance})
        return balance

    @rpc
    async def balance(self, conn: Connection | None) -> int:
        return int(self.storage.kv.get("balance", 0))

    @rpc
    async def fail_after_write(self, conn: Connection | None) -> None:
        self.storage.kv.put("balance", -1)
        self.emit("balance", {"balance": -1})
        raise ValueError("secret detail")

    @rpc
    async def transfer(self, conn: Connection | None, to: str, amount: int) -> int:
        """Withdraw here, deposit there (another actor, another turn)."""
        balance = self.storage.kv.get("balance", 0)
        if balance < amount:
            raise RpcError("bad_request", "insufficient funds")
        self.storage.kv.put("balance", balance - amount)
        await self.call("account", to).deposit(amount=amount)
        return balance - amount

    @rpc
    async def ping_back(self, conn: Connection | None, other: str) -> Any:
        return await self.call("account", other).ping_back(other=self.key)

    @rpc
    async def not_json(self, conn: Connection | None) -> Any:
        return {1, 2}

    async def on_message(self, conn: Connection, message: str | bytes) -> None:
        Account.calls.append("raw")  # envelope clients never reach on_message


def make_app() -> App:
    Account.calls = []
    app = App()
    app.actor("account", Account)
    return app


class Client:
    """A minimal envelope client over trio-websocket, in either encoding."""

    def __init__(self, ws: trio_websocket.WebSocketConnection, kind: str) -> None:
        self.ws, self.kind, self.next_id = ws, kind, 1

    async def send(self, envelope: dict[str, Any]) -> None:
        if self.kind == "json":
            await self.ws.send_message(json.dumps(envelope))
        else:
            await self.ws.send_message(cbor2.dumps(envelope))

    async def receive(self) -> dict[str, Any]:
        message = await self.ws.get_message()
        if self.kind == "json":
            assert isinstance(message, str)
            result: dict[str, Any] = json.loads(message)
        else:
            assert isinstance(message, bytes)
            result = cbor2.loads(message)
        return result

    async def call(self, method: str, **args: Any) -> dict[str, Any]:
        call_id, self.next_id = self.next_id, self.next_id + 1
        await self.send({"type": "call", "id": call_id, "method": method, "args": args})
        while True:
            reply = await self.receive()
            if reply.get("id") == call_id:
                return reply


@pytest.mark.parametrize("kind", ["json", "cbor"])
async def test_calls_results_errors_and_events(tmp_path: Path, kind: str) -> None:
    with trio.fail_after(10):
        async with running(make_app(), tmp_path) as server:
            async with connect(server, "/account/a", subprotocols=[f"roost.v1.{kind}"]) as ws:
                assert ws.subprotocol == f"roost.v1.{kind}"
                client = Client(ws, kind)
                await client.send(
                    {"type": "call", "id": 1, "method": "deposit", "args": {"amount": 5}}
                )
                event = await client.receive()
                assert type(event.pop("seq")) is int  # runtime/_replay.py
                assert event == {
                    "type": "event",
                    "name": "balance",
                    "data": {"balance": 5},
                }
                assert await client.receive() == {"type": "result", "id": 1, "value": 5}
                assert (await client.call("balance"))["value"] == 5
                missing = await client.call("withdraw", amount=1)
                assert (missing["type"], missing["code"]) == ("error", "not_found")
                wrong = await client.call("deposit", amount=1, extra=2)
                assert wrong["code"] == "bad_request"
                refused = await client.call("deposit", amount=-1)
                assert (refused["code"], refused["message"]) == (
                    "bad_request",
                    "amount must be a positive integer",
                )
                failed = await client.call("fail_after_write")
                assert failed["code"] == "internal" and "secret" not in failed["message"]
                # The failed turn was rolled back, and its event never left.
                assert await client.call("balance") == {"type": "result", "id": 6, "value": 5}
                bad = await client.call("not_json")
                assert bad["code"] == "internal"
    assert Account.calls == []


JSON = [("content-type", "application/json")]


async def test_http_rpc(tmp_path: Path) -> None:
    with trio.fail_after(10):
        async with running(make_app(), tmp_path) as server:
            status, _, body = await http(
                server, "POST", "/account/h/rpc/deposit", body=b'{"amount": 7}', headers=JSON
            )
            assert (status, json.loads(body)) == (200, {"value": 7})
            cases = [
                ("/account/h/rpc/nope", b"{}", 404, "not_found"),
                ("/account/h/rpc/deposit", b"[1]", 400, "bad_request"),
                ("/account/h/rpc/deposit", b"{bad", 400, "bad_request"),
                ("/account/h/rpc/deposit", b'{"amount": 1, "x": 2}', 400, "bad_request"),
                ("/account/h/rpc/fail_after_write", b"{}", 500, "internal"),
            ]
            for path, data, expected, code in cases:
                status, _, body = await http(server, "POST", path, body=data, headers=JSON)
                assert status == expected, path
                assert json.loads(body)["error"]["code"] == code
                assert b"secret" not in body
            status, _, _ = await http(server, "GET", "/account/h/rpc/deposit")
            assert status == 405
            status, _, body = await http(server, "POST", "/account/h/rpc/balance", body=b"")
            assert json.loads(body) == {"value": 7}


async def test_actor_to_actor_calls_and_reentrancy(tmp_path: Path) -> None:
    with trio.fail_after(10):
        async with running(make_app(), tmp_path) as server:

            async def call(key: str, method: str, **args: Any) -> tuple[int, Any]:
                path, data = f"/account/{key}/rpc/{method}", json.dumps(args).encode()
                status, _, body = await http(server, "POST", path, body=data, headers=JSON)
                return status, json.loads(body)

            await call("alice", "deposit", amount=10)
            assert await call("alice", "transfer", to="bob", amount=4) == (200, {"value": 6})
            assert await call("bob", "balance") == (200, {"value": 4})
            status, body = await call("alice", "transfer", to="bob", amount=100)
            assert (status, body["error"]["code"]) == (400, "bad_request")
            # alice -> bob -> alice: refused at once instead of deadlocking.
            status, body = await call("alice", "ping_back", other="bob")
            assert status == 500 or body["error"]["code"] in ("unavailable", "internal")


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        (b"\xff\x00", 1007),  # not CBOR... sent on a JSON connection: binary is the wrong kind
        ("{not json", 1007),
        ("[" * 10_000 + "]" * 10_000, 1009),
    ],
)
async def test_bad_envelopes_close_with_their_codes(
    tmp_path: Path, frame: str | bytes, expected: int
) -> None:
    with trio.fail_after(10):
        async with running(make_app(), tmp_path) as server:
            async with connect(server, "/account/a", subprotocols=["roost.v1.json"]) as ws:
                await ws.send_message(frame)
                with pytest.raises(trio_websocket.ConnectionClosed) as info:
                    await ws.get_message()
                code = info.value.reason.code
                assert code == (1003 if isinstance(frame, bytes) else expected)
            async with connect(server, "/account/a", subprotocols=["roost.v1.json"]) as ws:
                client = Client(ws, "json")
                await client.send({"type": "result", "id": 3, "value": 1})
                not_a_call = await client.receive()
                assert (not_a_call["code"], not_a_call["id"]) == ("bad_request", 3)
                await client.send({"type": "call", "method": "balance"})
                no_id = await client.receive()
                assert (no_id["code"], no_id["id"]) == ("bad_request", None)
                assert (await client.call("balance"))["value"] == 0
