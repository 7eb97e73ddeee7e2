"""examples/chat.py tested the way a user would test their own app: with roost.testing.

Nothing here depends on time, so these tests keep trio's real clock: chat rooms sync to the
shared store, whose calls run in worker threads, and the autojump clock jumps ahead while a
thread works (trio cannot see threads), which would run the test's deadline out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio

from roost import App
from roost.cli import load_app
from roost.testing import TestClient, TestClientRefused, TestServer
from tests.support import EXAMPLES


@pytest.fixture
def chat() -> App:
    return load_app(str(EXAMPLES / "chat.py"))


async def receive(client: TestClient) -> dict[str, Any]:
    """The next chat message, skipping who-is-online updates (the chat protocol allows it)."""
    while True:
        message = await client.receive_json()
        assert isinstance(message, dict)
        if not message["type"].startswith("presence_"):
            return message


async def test_history_then_broadcast_to_everyone(chat: App) -> None:
    with trio.fail_after(60):
        async with TestServer(chat) as t:
            async with t.connect("/chat/lobby?user=ann") as ann:
                assert await receive(ann) == {"type": "history", "messages": []}
                async with t.connect("/chat/lobby?user=bob") as bob:
                    assert await receive(bob) == {"type": "history", "messages": []}
                    await ann.send_json({"type": "say", "text": "hi bob ☃"})
                    for client in (ann, bob):  # the sender included
                        message = await receive(client)
                        assert message["type"] == "message"
                        assert (message["user"], message["text"]) == ("ann", "hi bob ☃")
                    await bob.send_json({"type": "say", "text": "hello"})
                    for client in (ann, bob):
                        assert (await receive(client))["id"] > message["id"]
                    await bob.send(b"binary")
                    assert await receive(bob) == {
                        "type": "error",
                        "error": "expected a JSON text frame",
                    }
            async with t.connect("/chat/lobby?user=cy") as cy:
                history = await receive(cy)
                assert [m["text"] for m in history["messages"]] == ["hi bob ☃", "hello"]
            rows = t.storage("chat", "lobby").db["messages"].rows
            assert [(r["user"], r["text"]) for r in rows] == [("ann", "hi bob ☃"), ("bob", "hello")]


async def test_a_user_is_required(chat: App) -> None:
    with trio.fail_after(10):
        async with TestServer(chat) as t:
            for path in ("/chat/lobby", "/chat/lobby?user=" + "x" * 65):
                with pytest.raises(TestClientRefused) as refused:
                    await t.connect(path)
                assert refused.value.status == 400
                assert refused.value.body == b"?user=<name> of 1 to 64 characters\n"
            assert t.statistics().websockets == 0


async def test_history_survives_a_restart_on_the_same_data_dir(chat: App, tmp_path: Path) -> None:
    with trio.fail_after(60):
        async with TestServer(chat, data_dir=tmp_path) as t, t.connect("/chat/r?user=ann") as ann:
            await receive(ann)
            for i in range(60):
                await ann.send_json({"type": "say", "text": f"m{i}"})
            ids = [(await receive(ann))["id"] for _ in range(60)]
            assert ids == sorted(ids)
        async with TestServer(chat, data_dir=tmp_path) as t, t.connect("/chat/r?user=bob") as bob:
            history = await receive(bob)
            assert [m["text"] for m in history["messages"]] == [f"m{i}" for i in range(10, 60)]


async def test_outside_demo_mode_only_signed_tokens_get_in(
    chat: App, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The example's real mode: a token signed with ROOST_CHAT_SECRET, from a header, the
    query (browsers) or a cookie; ``?user=`` alone and forged tokens get 401, nothing stored."""
    from chat import make_token  # type: ignore[import-not-found]

    monkeypatch.delenv("ROOST_DEMO_AUTH")
    monkeypatch.setenv("ROOST_CHAT_SECRET", "test-secret")
    ann, forged = make_token("ann", "test-secret"), make_token("ann", "guessed")
    json_body = {"content-type": "application/json"}
    with trio.fail_after(60):
        async with TestServer(chat, data_dir=tmp_path) as t:
            for refused_path in ("/chat/r?user=ann", f"/chat/r?token={forged}", "/chat/r"):
                with pytest.raises(TestClientRefused) as refused:
                    await t.connect(refused_path)
                assert refused.value.status == 401
            answer = await t.request("POST", "/chat/r/rpc/who", headers={"cookie": "x=1"})
            assert answer.status == 401
            assert t.statistics().activations_total == 0
            assert not (tmp_path / "actors").exists() or not any((tmp_path / "actors").rglob("*"))
            async with (
                t.connect("/chat/r", headers={"authorization": f"Bearer {ann}"}) as by_header,
                t.connect("/chat/r", query={"token": make_token("bob", "test-secret")}) as bob,
            ):
                await receive(by_header)
                await receive(bob)
                await bob.send_json({"type": "say", "text": "hi", "user": "ann"})
                said = await receive(bob)
                assert (said["user"], said["text"]) == ("bob", "hi")  # a claimed user is ignored
                cookie = {"cookie": f"chat_token={ann}", **json_body}
                answer = await t.request(
                    "POST", "/chat/r/rpc/say", body=b'{"text": "c"}', headers=cookie
                )
                assert answer.status == 200
                said = await receive(bob)
                assert (said["user"], said["text"]) == ("ann", "c")
    monkeypatch.delenv("ROOST_CHAT_SECRET")
    async with TestServer(chat) as t:  # no secret: nobody gets in
        with pytest.raises(TestClientRefused) as refused:
            await t.connect("/chat/r", query={"token": ann})
        assert refused.value.status == 401
