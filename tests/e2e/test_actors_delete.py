"""``roost actors delete TYPE/KEY``: real ``roost`` processes on a real data dir, with the shared
store in SQLite and in PostgreSQL."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import psycopg
import pytest
import trio

from roost.storage import actor_db_path
from tests.e2e.test_tools import roost, say, serving, wait_for_counts
from tests.support import open_client


@pytest.fixture(params=["sqlite", "postgres"])
def store_args(request: pytest.FixtureRequest) -> list[str]:
    """``--store`` for both the server and the tool: none (the data dir's shared.sqlite), or a
    PostgreSQL schema of this test."""
    if request.param == "postgres":
        url: str = request.getfixturevalue("pg_store_url")
        return ["--store", url]
    return []


async def history(port: int, room: str) -> list[str]:
    async with open_client(f"ws://127.0.0.1:{port}/chat/{room}?user=ann") as ws:
        event = json.loads(await ws.get_message())
    assert event["type"] == "history"
    return [message["text"] for message in event["messages"]]


def node_alarms(data: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(data / "node.sqlite") as conn:
        return conn.execute("SELECT actor_type, actor_key FROM alarm_index").fetchall()


async def test_delete_a_stopped_actor_and_the_refusals(
    tmp_path: Path, store_args: list[str]
) -> None:
    data = tmp_path / "data"
    at = ["--data-dir", str(data), *store_args]
    lobby = actor_db_path(data, "chat", "lobby")
    with trio.fail_after(120):
        async with serving(data, *store_args) as port:
            await say(port, "lobby", "one", "two")
            await say(port, "keep", "three")
            await wait_for_counts({"keep": 1, "lobby": 2}, *at, query=_counts(store_args))
            refused = await roost("actors", "delete", "chat/lobby", *at)
            # A server holds the data directory: the live actor is the app's to delete.
            assert refused.status == 2 and "is in use by process" in refused.err, refused
            assert refused.err.count("\n") == 1
            assert lobby.exists()

        deleted = await roost("actors", "delete", "chat/lobby", *at)
        assert deleted.status == 0, deleted
        assert deleted.out == "deleted chat/lobby: its file, its stored state\n"
        assert not lobby.exists() and not lobby.parent.exists()
        assert all(key != "lobby" for _, key in node_alarms(data))
        await wait_for_counts({"keep": 1}, *at, query=_counts(store_args))

        again = await roost("actors", "delete", "chat/lobby", *at)
        assert again.status == 2 and "no actor chat/lobby" in again.err, again
        for bad in ("lobby", "chat/", "Bad Type/x"):
            wrong = await roost("actors", "delete", bad, *at)
            assert wrong.status == 2 and wrong.err.count("\n") == 1, wrong

        async with serving(data, *store_args) as port:
            assert await history(port, "lobby") == []  # starts empty
            assert await history(port, "keep") == ["three"]


async def test_an_actor_another_node_holds_is_not_deleted(
    tmp_path: Path, pg_store_url: str
) -> None:
    data = tmp_path / "data"
    at = ["--data-dir", str(data), "--store", pg_store_url]
    with trio.fail_after(120):
        async with serving(data, "--store", pg_store_url) as port:
            await say(port, "held", "one")
            await wait_for_counts({"held": 1}, *at, query=_counts(["--store"]))
        with psycopg.connect(pg_store_url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO roost_actor_lease VALUES ('chat', 'held', 'node-x', 99,"
                " now() + interval '1 minute') ON CONFLICT (actor_type, actor_key) DO UPDATE"
                " SET node_id = 'node-x', fence = 99, expires_at = now() + interval '1 minute'"
            )
        refused = await roost("actors", "delete", "chat/held", *at)
        assert refused.status == 2 and "held by node node-x" in refused.err, refused
        assert actor_db_path(data, "chat", "held").exists()
        await wait_for_counts({"held": 1}, *at, query=_counts(["--store"]))
        with psycopg.connect(pg_store_url, autocommit=True) as conn:
            conn.execute("UPDATE roost_actor_lease SET expires_at = now() - interval '1 s'")
        deleted = await roost("actors", "delete", "chat/held", *at)
        assert deleted.status == 0, deleted
        assert deleted.out == "deleted chat/held: its file, its stored state, its lease\n"


async def test_a_store_without_the_actor_and_no_file(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with trio.fail_after(30):
        nothing = await roost("actors", "delete", "chat/none", "--data-dir", str(data))
        assert nothing.status == 2 and "no actor chat/none" in nothing.err, nothing
        assert not (data / "shared.sqlite").exists()  # not created to find nothing in it
        bad = await roost(
            "actors", "delete", "chat/x", "--data-dir", str(data), "--store", "mysql://x"
        )
        assert bad.status == 2 and bad.err.count("\n") == 1, bad


def _counts(store_args: list[str]) -> str:
    if store_args:
        return (
            "select actor_key, state->>'message_count' as n"
            " from roost_actor_state where actor_type = 'chat' order by actor_key"
        )
    return (
        "select actor_key, json_extract(state, '$.message_count') as n"
        " from roost_actor_state where actor_type = 'chat' order by actor_key"
    )
