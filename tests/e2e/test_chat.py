"""examples/chat.py speaks exactly its documented protocol, and its history survives restarts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import trio
import trio_websocket

from roost import App
from tests.support import connect, http, refused_upgrade, running


async def receive(ws: trio_websocket.WebSocketConnection) -> dict[str, Any]:
    message = await ws.get_message()
    assert isinstance(message, str)
    data = json.loads(message)
    assert isinstance(data, dict)
    return data


async def joined(ws: trio_websocket.WebSocketConnection) -> tuple[dict[str, Any], set[str]]:
    """The history frame and who is online, as a member receives them on joining."""
    history = await receive(ws)
    assert history["type"] == "history"
    presence = await receive(ws)
    assert presence["type"] == "presence_state"
    return history, set(presence["presences"])


async def test_history_then_messages_to_everyone(tmp_path: Path, chat_app_module: App) -> None:
    with trio.fail_after(10):
        async with running(chat_app_module, tmp_path) as server:
            async with connect(server, "/chat/lobby?user=ann") as ann:
                assert await joined(ann) == ({"type": "history", "messages": []}, {"ann"})
                async with connect(server, "/chat/lobby?user=bob") as bob:
                    assert await joined(bob) == (
                        {"type": "history", "messages": []},
                        {"ann", "bob"},
                    )
                    diff = await receive(ann)
                    assert diff["type"] == "presence_diff" and set(diff["joins"]) == {"bob"}
                    await ann.send_message(json.dumps({"type": "say", "text": "hi bob ☃"}))
                    for ws in (ann, bob):  # the sender included
                        message = await receive(ws)
                        assert message["type"] == "message"
                        assert message["user"] == "ann" and message["text"] == "hi bob ☃"
                        assert isinstance(message["ts"], int) and message["ts"] > 1.6e12
                    await bob.send_message(json.dumps({"type": "say", "text": "hello"}))
                    second = await receive(ann)
                    assert second["id"] > message["id"]
                    await bob.aclose()
                    diff = await receive(ann)
                    assert diff["type"] == "presence_diff" and set(diff["leaves"]) == {"bob"}
            async with connect(server, "/chat/other-room?user=cy") as cy:
                assert await joined(cy) == ({"type": "history", "messages": []}, {"cy"})


async def test_history_keeps_the_last_50_oldest_first_across_restarts(
    tmp_path: Path, chat_app_module: App
) -> None:
    with trio.fail_after(30):
        async with running(chat_app_module, tmp_path) as server:
            async with connect(server, "/chat/r?user=ann") as ann:
                await joined(ann)
                for i in range(60):
                    await ann.send_message(json.dumps({"type": "say", "text": f"m{i}"}))
                ids = [(await receive(ann))["id"] for _ in range(60)]
                assert ids == sorted(ids) and len(set(ids)) == 60
        async with running(chat_app_module, tmp_path) as server:
            async with connect(server, "/chat/r?user=bob") as bob:
                history, _ = await joined(bob)
                texts = [m["text"] for m in history["messages"]]
                assert texts == [f"m{i}" for i in range(10, 60)]
                assert [m["id"] for m in history["messages"]] == ids[10:]
                await bob.send_message(json.dumps({"type": "say", "text": "after"}))
                assert (await receive(bob))["id"] > ids[-1]


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ("{not json", "malformed JSON"),
        ("[1, 2]", "unknown message type"),
        ('{"type": "shout", "text": "x"}', "unknown message type"),
        ('{"type": "say"}', "text must be a non-empty string"),
        ('{"type": "say", "text": 7}', "text must be a non-empty string"),
        (json.dumps({"type": "say", "text": "x" * 4001}), "text longer than 4000 characters"),
        (b"\x00binary", "expected a JSON text frame"),
    ],
)
async def test_bad_input_gets_an_error_and_the_connection_stays(
    tmp_path: Path, chat_app_module: App, frame: str | bytes, reason: str
) -> None:
    with trio.fail_after(10):
        async with running(chat_app_module, tmp_path) as server:
            async with connect(server, "/chat/r?user=ann") as ann:
                await joined(ann)
                await ann.send_message(frame)
                assert await receive(ann) == {"type": "error", "error": reason}
                await ann.send_message(json.dumps({"type": "say", "text": "x" * 4000}))
                assert (await receive(ann))["type"] == "message"


async def test_a_user_is_required(tmp_path: Path, chat_app_module: App) -> None:
    with trio.fail_after(10):
        async with running(chat_app_module, tmp_path) as server:
            status, body = await refused_upgrade(server, "/chat/r")
            assert status == 400 and b"?user=<name>" in body
            status, _ = await refused_upgrade(server, "/chat/r?user=" + "u" * 65)
            assert status == 400


async def test_rpc_say_history_who_beside_the_raw_protocol(
    tmp_path: Path, chat_app_module: App
) -> None:
    with trio.fail_after(10):
        async with running(chat_app_module, tmp_path) as server:
            async with (
                connect(server, "/chat/rpc?user=raw") as raw,
                connect(server, "/chat/rpc?user=env", subprotocols=["roost.v1.json"]) as env,
            ):
                await joined(raw)
                await receive(raw)  # env joined (presence_diff)
                call = {"type": "call", "id": 1, "method": "say", "args": {"text": "via rpc"}}
                await env.send_message(json.dumps(call))
                event = json.loads(await env.get_message())
                assert event["type"] == "event" and event["name"] == "message"
                result = json.loads(await env.get_message())
                assert result == {"type": "result", "id": 1, "value": event["data"]["id"]}
                seen = await receive(raw)  # raw clients see it in their own protocol
                assert (seen["type"], seen["user"], seen["text"]) == ("message", "env", "via rpc")
                await env.send_message(json.dumps({"type": "call", "id": 2, "method": "who"}))
                assert json.loads(await env.get_message())["value"] == ["env", "raw"]
                history = {"type": "call", "id": 3, "method": "history", "args": {"limit": 1}}
                await env.send_message(json.dumps(history))
                [last] = json.loads(await env.get_message())["value"]
                assert last["text"] == "via rpc"
                bad = {"type": "call", "id": 4, "method": "say", "args": {"text": ""}}
                await env.send_message(json.dumps(bad))
                assert json.loads(await env.get_message())["code"] == "bad_request"
            json_body = [("content-type", "application/json")]
            status, _, body = await http(
                server,
                "POST",
                "/chat/rpc/rpc/say?user=cli",  # demo mode: the query names the caller
                body=b'{"text": "by http"}',
                headers=json_body,
            )
            assert status == 200 and isinstance(json.loads(body)["value"], int)
            status, _, body = await http(
                server, "POST", "/chat/rpc/rpc/history?user=cli", body=b"{}", headers=json_body
            )
            assert json.loads(body)["value"][-1]["user"] == "cli"
            # The user is the caller's identity, never an argument anyone could fill in.
            status, _, body = await http(
                server,
                "POST",
                "/chat/rpc/rpc/say?user=cli",
                body=b'{"text": "x", "user": "ann"}',
                headers=json_body,
            )
            assert status == 400 and json.loads(body)["error"]["code"] == "bad_request"
            status, _, body = await http(
                server, "POST", "/chat/rpc/rpc/say", body=b'{"text": "x"}', headers=json_body
            )
            assert status == 400  # the hook refuses a caller without ?user= in demo mode
            assert json.loads(body)["error"]["code"] == "bad_request"
