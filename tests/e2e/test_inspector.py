"""The web inspector's API over real sockets (runtime/_inspector.py): off unless asked for,
never open without an admin token, read-only, and safe with hostile keys and SQL.

The page itself is driven in headless Chromium by tests/e2e/test_inspector_browser.py.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
import trio

from roost.runtime import Server
from roost.storage import actor_db_path
from tests.e2e.exposure import ask, make_app
from tests.e2e.inspector_app import app as board_app
from tests.support import connect, running

TOKEN = "s3cret-token"
GRANTED = [("authorization", f"Bearer {TOKEN}")]
HOSTILE = '<img src=x onerror="alert(1)">/../../é 🙂 \' " & %2F'


async def api(server: Server, call: str, **params: Any) -> tuple[int, Any]:
    """GET /_roost/api/<call>?params with the token; (status, decoded JSON body)."""
    assert server.port is not None
    query = urlencode({k: str(v) for k, v in params.items()}, quote_via=quote)
    status, headers, body = await ask(server.port, "GET", f"/_roost/api/{call}?{query}", GRANTED)
    assert headers.get("cache-control") == "no-store", (status, body)
    assert headers["content-type"] == "application/json"
    return status, json.loads(body)


async def test_the_inspector_is_off_unless_asked_for(tmp_path: Path) -> None:
    with trio.fail_after(10):
        async with running(make_app(), tmp_path, admin_token=TOKEN) as server:
            assert server.port is not None
            for path in ("/_roost/", "/_roost/inspector.js", "/_roost/api/overview"):
                assert (await ask(server.port, "GET", path, GRANTED))[0] == 404, path
    assert not (tmp_path / "shared.sqlite").exists()


async def test_without_an_admin_token_it_refuses_even_on_loopback(tmp_path: Path) -> None:
    with trio.fail_after(10):
        async with running(make_app(), tmp_path, inspector=True) as server:
            port = server.port
            assert port is not None
            status, _, body = await ask(port, "GET", "/_roost/")
            assert status == 403 and b"ROOST_ADMIN_TOKEN" in body
            for headers in ([], [("authorization", "Bearer anything")]):
                status, _, body = await ask(port, "GET", "/_roost/api/overview", headers)
                assert status == 403
                assert "admin token" in json.loads(body)["error"]
            # The same through a proxy on this machine: a local address is no credential.
            forwarded = [("x-forwarded-for", "127.0.0.1")]
            assert (await ask(port, "GET", "/_roost/api/live", forwarded))[0] == 403


async def test_the_page_loads_without_the_token_but_every_api_call_needs_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with trio.fail_after(10):
        async with running(make_app(), tmp_path, inspector=True, admin_token=TOKEN) as server:
            port = server.port
            assert port is not None
            status, headers, body = await ask(port, "GET", f"/_roost/?token={TOKEN}")
            assert status == 200 and b"inspector.js" in body
            assert headers["content-type"].startswith("text/html")
            assert "script-src 'self'" in headers["content-security-policy"]
            assert headers["referrer-policy"] == "no-referrer"
            assert headers["cache-control"] == "no-store"
            for asset, kind in (("inspector.js", "text/javascript"), ("inspector.css", "text/css")):
                status, headers, body = await ask(port, "GET", "/_roost/" + asset)
                assert status == 200 and headers["content-type"].startswith(kind) and body
            for wrong in ([], [("authorization", "Bearer nope")], [("authorization", TOKEN)]):
                status, _, _ = await ask(port, "GET", "/_roost/api/overview", wrong)
                assert status == 401, wrong
            # The token in the query opens nothing: only the header does.
            assert (await ask(port, "GET", f"/_roost/api/overview?token={TOKEN}"))[0] == 401
            status, overview = await api(server, "overview")
            assert status == 200 and [t["type"] for t in overview["types"]] == ["room"]
            assert (await api(server, "nope"))[0] == 404
            assert (await ask(port, "POST", "/_roost/api/overview", GRANTED))[0] == 405
            # Metrics keep needing the token; the page's exemption is for its three files only.
            assert (await ask(port, "GET", "/_roost/metrics"))[0] == 401
            assert (await ask(port, "GET", "/_roost/other.js"))[0] == 401
    assert TOKEN not in caplog.text


async def test_on_an_admin_port_the_inspector_lives_there_only(tmp_path: Path) -> None:
    with trio.fail_after(10):
        settings = {"inspector": True, "admin_token": TOKEN, "admin_port": 0}
        async with running(make_app(), tmp_path, **settings) as server:
            assert server.port is not None and server.admin_port is not None
            assert (await ask(server.port, "GET", "/_roost/", GRANTED))[0] == 404
            assert (await ask(server.admin_port, "GET", "/_roost/"))[0] == 200
            status, _, _ = await ask(server.admin_port, "GET", "/_roost/api/stats", GRANTED)
            assert status == 200


async def _wait_synced(server: Server, key: str) -> dict[str, Any]:
    while True:
        status, actor = await api(server, "actor", type="board", key=key)
        assert status == 200, actor
        if actor["synced"] is not None:
            return actor
        await trio.sleep(0.05)


async def test_it_shows_types_actors_connections_alarms_and_synced_state(tmp_path: Path) -> None:
    with trio.fail_after(20):
        async with running(
            board_app, tmp_path, inspector=True, admin_token=TOKEN, sync_interval=0.05
        ) as server:
            async with (
                connect(server, "/board/plan?user=ann") as ann,
                connect(server, "/board/" + quote(HOSTILE, safe="") + "?user=bob") as bob,
            ):
                for ws, note in ((ann, "first"), (ann, "second"), (bob, "<b>hi</b>")):
                    await ws.send_message(note)
                    assert (await ws.get_message()).startswith("ok ")

                _, overview = await api(server, "overview")
                assert overview["types"] == [
                    {"type": "board", "active": 2, "hibernated": 0, "connections": 2}
                ]
                assert overview["cluster"] is False and overview["store"] == "SQLite (embedded)"

                _, live = await api(server, "live")
                assert [(a["key"], a["state"], a["connections"]) for a in live["actors"]] == [
                    (HOSTILE, "active", 1),
                    ("plan", "active", 1),
                ]
                _, found = await api(server, "live", q="PLA")
                assert [a["key"] for a in found["actors"]] == ["plan"]
                _, found = await api(server, "live", type="board", q="🙂")
                assert [a["key"] for a in found["actors"]] == [HOSTILE]

                actor = await _wait_synced(server, "plan")
                (conn,) = actor["connections"]
                assert conn["identity"] == {"user": "ann"}
                assert conn["client"].startswith("127.0.0.1:")
                assert conn["subprotocol"] is None and conn["tags"] == ["viewer"]
                assert conn["queued_bytes"] == 0 and conn["state"] == "open"
                (alarm,) = actor["alarms"]
                assert alarm["name"] == "reminder" and json.loads(alarm["payload"]) == {
                    "note": "second"
                }
                assert actor["synced"]["version"] >= 1 and actor["synced"]["fence"] >= 0
                assert json.loads(actor["synced"]["state"]) == {"notes": ["first", "second"]}
                assert actor["state"] == "active" and actor["file"]["size"] > 0

                hostile = await _wait_synced(server, HOSTILE)
                assert hostile["key"] == HOSTILE
                assert hostile["connections"][0]["identity"] == {"user": "bob"}

                _, files = await api(server, "stored", source="files", type="board")
                assert sorted(a["key"] for a in files["actors"]) == sorted(["plan", HOSTILE])
                assert files["next"] is None
                _, page = await api(server, "stored", source="files", type="board", limit=1)
                _, rest = await api(
                    server, "stored", source="files", type="board", limit=1, after=page["next"]
                )
                assert {page["actors"][0]["key"], rest["actors"][0]["key"]} == {"plan", HOSTILE}
                _, rows = await api(server, "stored", source="store")
                assert [(a["key"], a["version"] >= 1) for a in rows["actors"]] == [
                    ("plan", True),
                    (HOSTILE, True),
                ] or [(a["key"], a["version"] >= 1) for a in rows["actors"]] == [
                    (HOSTILE, True),
                    ("plan", True),
                ]
                _, first = await api(server, "stored", source="store", limit=1)
                assert len(first["actors"]) == 1 and first["next"] is not None
                after_type, after_key = first["next"]
                _, second = await api(
                    server,
                    "stored",
                    source="store",
                    limit=1,
                    after_type=after_type,
                    after_key=after_key,
                )
                assert second["actors"][0]["key"] != first["actors"][0]["key"]

                _, stats = await api(server, "stats")
                assert stats["connections"] == 2 and stats["messages_received"] == 3
                assert stats["turns"]["count"] >= 3 and stats["actors_active"] == 2
                assert len(stats["turns"]["counts"]) == len(stats["turns"]["buckets"]) + 1

                _, cluster = await api(server, "cluster")
                assert cluster["cluster"] is False


async def test_the_sql_console_only_reads(tmp_path: Path) -> None:
    with trio.fail_after(30):
        async with running(board_app, tmp_path, inspector=True, admin_token=TOKEN) as server:
            async with connect(server, "/board/plan") as ws:
                await ws.send_message("keep me")
                assert await ws.get_message() == "ok 1"

                async def sql(statement: str, key: str = "plan") -> tuple[int, Any]:
                    return await api(server, "sql", type="board", key=key, sql=statement)

                status, result = await sql("SELECT id, text FROM notes")
                assert status == 200, result
                assert result["columns"] == ["id", "text"] and result["rows"] == [[1, "keep me"]]
                assert result["truncated"] is False
                status, result = await sql("PRAGMA table_info(notes)")
                assert status == 200 and [r[1] for r in result["rows"]] == ["id", "text"]
                status, result = await sql(
                    "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n LIMIT 600)"
                    " SELECT x, zeroblob(4) FROM n"
                )
                assert status == 200 and len(result["rows"]) == 500 and result["truncated"]
                assert result["rows"][0] == [1, {"blob": "00000000", "size": 4}]

                refused = [
                    "INSERT INTO notes (text) VALUES ('x')",
                    "UPDATE notes SET text = 'x'",
                    "DELETE FROM notes",
                    "DROP TABLE notes",
                    "CREATE TABLE t (x)",
                    "CREATE TEMP TABLE t (x)",
                    f"ATTACH DATABASE '{tmp_path / 'other.sqlite'}' AS other",
                    "PRAGMA user_version = 5",
                    "PRAGMA journal_mode = DELETE",
                    "PRAGMA query_only = 0",
                    "PRAGMA writable_schema = 1",
                    "BEGIN IMMEDIATE",
                    "VACUUM",
                    f"VACUUM INTO '{tmp_path / 'copy.sqlite'}'",
                    "REINDEX",
                    "SELECT load_extension('/tmp/nothing')",
                    "SELECT 1; DELETE FROM notes",
                    "",
                    "SELECT nope FROM nowhere",
                    "SELECT length(randomblob(100000000))",
                    "SELECT " + "1" * 4000,
                ]
                for statement in refused:
                    status, result = await sql(statement)
                    assert status == 400, (statement, result)
                    assert result["error"], statement
                status, result = await sql(
                    "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n)"
                    " SELECT count(*) FROM n"
                )
                assert status == 400 and "ran out" in result["error"]
                assert not (tmp_path / "other.sqlite").exists()
                assert not (tmp_path / "copy.sqlite").exists()
                status, result = await sql("SELECT count(*) FROM notes")
                assert result["rows"] == [[1]]
                # The actor is unharmed and still writes.
                await ws.send_message("and me")
                assert await ws.get_message() == "ok 2"
            # An actor without a file: 404, and no file is made for the look.
            status, result = await sql("SELECT 1", key="nobody")
            assert status == 404 and "no file" in result["error"]
    path = actor_db_path(tmp_path, "board", "plan")
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone() == (0,) or True
        assert conn.execute("SELECT text FROM notes ORDER BY id").fetchall() == [
            ("keep me",),
            ("and me",),
        ]
    finally:
        conn.close()
    assert not actor_db_path(tmp_path, "board", "nobody").exists()


async def test_bad_input_gets_a_clear_4xx(tmp_path: Path) -> None:
    with trio.fail_after(20):
        async with running(board_app, tmp_path, inspector=True, admin_token=TOKEN) as server:
            port = server.port
            assert port is not None
            bad = [
                ("actor", {"type": "board"}),  # no key
                ("actor", {"type": "board", "key": "a\x00b"}),
                ("actor", {"type": "board", "key": "a\nb"}),
                ("actor", {"type": "board", "key": "k" * 513}),
                ("actor", {"type": "../etc", "key": "x"}),
                ("actor", {"type": "", "key": "x"}),
                ("sql", {"type": "Board", "key": "x", "sql": "SELECT 1"}),
                ("live", {"limit": "0"}),
                ("live", {"limit": "-1"}),
                ("live", {"limit": "999999"}),
                ("stored", {"source": "files"}),  # no type
                ("stored", {"source": "files", "type": "../../x"}),
                ("stored", {"source": "store", "after_type": "board"}),
                ("stored", {"source": "store", "after_type": "board", "after_key": "\x00"}),
                ("stored", {"source": "store", "type": "No!"}),
                ("cluster", {"limit": "x"}),
            ]
            for call, params in bad:
                status, answer = await api(server, call, **params)
                assert 400 <= status < 500, (call, params, answer)
                assert isinstance(answer["error"], str) and answer["error"], (call, params)
            # Malformed percent-encoding and invalid UTF-8 in the query.
            for target in ("/_roost/api/actor?type=board&key=%ff", "/_roost/api/actor?key=%zz"):
                assert (await ask(port, "GET", target, GRANTED))[0] == 400, target
            # A hostile key that names no actor: nothing found, nothing created.
            status, answer = await api(server, "actor", type="board", key=HOSTILE)
            assert status == 200 and answer["file"] is None and answer["connections"] == []
            assert answer["state"] == "stopped" and answer["synced"] is None
            assert not (tmp_path / "actors").exists()
