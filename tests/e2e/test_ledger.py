"""examples/ledger.py: transfers move money or are refused, the total never changes, and
every transfer a client saw succeed survives a restart."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import cbor2
import pytest
import trio
import trio_websocket

from roost import App
from roost.cli import load_app
from tests.support import EXAMPLES, connect, http, running

ACCOUNTS = 1_000
BALANCE = 1_000
TOTAL = ACCOUNTS * BALANCE


@pytest.fixture(scope="module")
def ledger_app() -> App:
    return load_app(str(EXAMPLES / "ledger.py"))


@pytest.fixture(autouse=True)
def small_ledger(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROOST_LEDGER_ACCOUNTS", str(ACCOUNTS))
    monkeypatch.setenv("ROOST_LEDGER_BALANCE", str(BALANCE))


class Client:
    """An envelope client over roost.v1.cbor: one call at a time, replies matched by id."""

    def __init__(self, ws: trio_websocket.WebSocketConnection) -> None:
        self.ws = ws
        self.next_id = 0

    async def reply(self, method: str, **args: Any) -> dict[str, Any]:
        self.next_id += 1
        call = {"type": "call", "id": self.next_id, "method": method, "args": args}
        await self.ws.send_message(cbor2.dumps(call))
        message = await self.ws.get_message()
        assert isinstance(message, bytes)
        reply = cbor2.loads(message)
        assert reply["id"] == self.next_id
        return dict(reply)

    async def call(self, method: str, **args: Any) -> Any:
        reply = await self.reply(method, **args)
        assert reply["type"] == "result", reply
        return reply["value"]

    async def refused(self, method: str, **args: Any) -> str:
        reply = await self.reply(method, **args)
        assert reply["type"] == "error" and reply["code"] == "bad_request", reply
        message: str = reply["message"]
        return message


@asynccontextmanager
async def client(server: Any, key: str = "main") -> AsyncIterator[Client]:
    async with connect(server, f"/ledger/{key}", subprotocols=["roost.v1.cbor"]) as ws:
        assert ws.subprotocol == "roost.v1.cbor"
        yield Client(ws)


async def test_transfers_move_money_and_bad_ones_are_refused(
    tmp_path: Path, ledger_app: App
) -> None:
    with trio.fail_after(20):
        async with running(ledger_app, tmp_path) as server, client(server) as ledger:
            assert await ledger.call("accounts") == ACCOUNTS
            assert await ledger.call("total") == TOTAL
            moved = await ledger.call("transfer", from_account=1, to_account=2, amount=300)
            assert moved == {"from": BALANCE - 300, "to": BALANCE + 300}
            assert await ledger.call("balance", account=1) == BALANCE - 300
            assert await ledger.call("balance", account=2) == BALANCE + 300

            assert "insufficient" in await ledger.refused(
                "transfer", from_account=1, to_account=3, amount=BALANCE - 299
            )
            for bad in (
                {"from_account": ACCOUNTS, "to_account": 3, "amount": 1},
                {"from_account": 3, "to_account": -1, "amount": 1},
                {"from_account": "3", "to_account": 4, "amount": 1},
                {"from_account": 3, "to_account": 4, "amount": 0},
                {"from_account": 3, "to_account": 4, "amount": -5},
                {"from_account": 3, "to_account": 4, "amount": 1.5},
                {"from_account": 3, "to_account": 4, "amount": True},
                {"from_account": 3, "to_account": 3, "amount": 1},
            ):
                await ledger.refused("transfer", **bad)
            await ledger.refused("transfer", from_account=3, to_account=4)  # missing amount
            await ledger.refused("balance", account=ACCOUNTS)
            # a refused transfer changed nothing, not even half of it
            for account, balance in ((1, BALANCE - 300), (3, BALANCE), (4, BALANCE)):
                assert await ledger.call("balance", account=account) == balance
            assert await ledger.call("total") == TOTAL

            status, _, body = await http(
                server,
                "POST",
                "/ledger/main/rpc/transfer",
                body=b'{"from_account": 2, "to_account": 1, "amount": 300}',
                headers=[("content-type", "application/json")],
            )
            assert status == 200 and json.loads(body)["value"] == {"from": BALANCE, "to": BALANCE}
            status, _, _ = await http(
                server,
                "POST",
                "/ledger/main/rpc/transfer",
                body=b'{"from_account": 2}',
                headers=[("content-type", "application/json")],
            )
            assert status == 400


async def test_total_is_invariant_under_concurrent_transfers_and_survives_restart(
    tmp_path: Path, ledger_app: App
) -> None:
    clients, per_client = 6, 150
    net: dict[int, int] = {}  # account -> what the successful transfers moved in and out
    refused = 0

    async def work(index: int, server: Any) -> None:
        nonlocal refused
        rng = random.Random(index)
        async with client(server) as ledger:
            for _ in range(per_client):
                # a few hot accounts so transfers collide; some overdraw and are refused
                source, target = rng.sample([*range(8), rng.randrange(8, ACCOUNTS)], 2)
                amount = rng.randint(1, BALANCE // 2)
                reply = await ledger.reply(
                    "transfer", from_account=source, to_account=target, amount=amount
                )
                if reply["type"] == "error":
                    assert reply["code"] == "bad_request" and "insufficient" in reply["message"]
                    refused += 1
                    continue
                assert reply["type"] == "result"
                assert reply["value"]["from"] >= 0 and reply["value"]["to"] >= amount
                net[source] = net.get(source, 0) - amount
                net[target] = net.get(target, 0) + amount

    with trio.fail_after(60):
        async with running(ledger_app, tmp_path) as server:
            async with trio.open_nursery() as nursery:
                for index in range(clients):
                    nursery.start_soon(work, index, server)
            async with client(server) as ledger:
                assert await ledger.call("total") == TOTAL
                for account, moved in net.items():  # every acknowledged transfer, once
                    assert await ledger.call("balance", account=account) == BALANCE + moved
        assert len(net) > 8 and 0 < refused < clients * per_client // 2
        async with running(ledger_app, tmp_path) as server, client(server) as ledger:
            assert await ledger.call("accounts") == ACCOUNTS  # not created a second time
            assert await ledger.call("total") == TOTAL
            for account, moved in net.items():
                assert await ledger.call("balance", account=account) == BALANCE + moved
