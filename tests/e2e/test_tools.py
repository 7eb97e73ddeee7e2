"""``roost sql`` and ``roost actors`` as operators run them: real processes beside a real server,
real SQLite files and a real PostgreSQL."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio

from roost.actors._alarms import _SCHEMA as ALARMS_SCHEMA
from roost.storage import (
    EncodedState,
    PostgresSharedStore,
    SharedStore,
    SQLiteSharedStore,
    actor_db_path,
)
from roost.storage._shared._schema import SQLITE, SQLITE_MIGRATIONS, Dialect, migrate
from tests.support import EXAMPLES, open_client

CHAT = str(EXAMPLES / "chat.py")
COUNTS = (
    "select actor_key, json_extract(state, '$.message_count') as n"
    " from roost_actor_state where actor_type = 'chat' order by actor_key"
)
PG_COUNTS = (
    "select actor_key, state->>'message_count' as n"
    " from roost_actor_state where actor_type = 'chat' order by actor_key"
)


@attrs.frozen
class Ran:
    status: int
    out: str
    err: str

    def json_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.splitlines()]


async def roost(
    *args: str, env: Mapping[str, str] | None = None, stdin: bytes | None = None
) -> Ran:
    """``python -m roost ARGS``; every failure must be one clean message, never a traceback."""
    result = await trio.run_process(
        [sys.executable, "-m", "roost", *args],
        capture_stdout=True,
        capture_stderr=True,
        stdin=stdin if stdin is not None else subprocess.DEVNULL,
        env={**_clean_env(), **(env or {})},
        check=False,
    )
    ran = Ran(result.returncode, result.stdout.decode(), result.stderr.decode())
    assert "Traceback" not in ran.err, ran.err
    return ran


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("ROOST_DATA_DIR", "ROOST_STORE")}


@asynccontextmanager
async def serving(
    data_dir: Path, *args: str, app: str = CHAT, env: Mapping[str, str] | None = None
) -> AsyncIterator[int]:
    """``roost serve`` in its own process; yields the port; SIGTERM and exit 0 at the end."""
    with (data_dir.parent / f"{data_dir.name}-server.log").open("ab") as log:
        process = await trio.lowlevel.open_process(
            [sys.executable, "-m", "roost", "serve", app, "--data-dir", str(data_dir), *args],
            stdout=subprocess.PIPE,
            stderr=log,
            env={**_clean_env(), "ROOST_PORT": "0", **(env or {})},
        )
    assert process.stdout is not None
    try:
        line = b""
        while b"\n" not in line:
            chunk = await process.stdout.receive_some(1)
            assert chunk, "server exited before printing its start line"
            line += chunk
        match = re.search(rb"roost listening on http://127\.0\.0\.1:(\d+)", line)
        assert match, line
        yield int(match.group(1))
        process.send_signal(signal.SIGTERM)
        assert await process.wait() == 0
    finally:
        with trio.CancelScope(shield=True):
            if process.returncode is None:
                process.kill()
                await process.wait()
            await process.stdout.aclose()


async def say(port: int, room: str, *texts: str, user: str = "ann") -> None:
    """Post messages to a chat room; returns once each came back (it is committed then)."""
    async with open_client(f"ws://127.0.0.1:{port}/chat/{room}?user={user}") as ws:
        for text in texts:
            await ws.send_message(json.dumps({"type": "say", "text": text}))
            while True:
                event = json.loads(await ws.get_message())
                if event["type"] == "message" and event["text"] == text:
                    break


async def wait_for_counts(expected: dict[str, int], *args: str, query: str = COUNTS) -> None:
    """Poll the shared store through ``roost sql`` until the rooms' counts are ``expected``."""
    seen: dict[str, int] = {}
    for _ in range(100):
        ran = await roost("sql", "--json", query, *args)
        if ran.status == 0:
            seen = {row["actor_key"]: int(row["n"]) for row in ran.json_lines()}
            if seen == expected:
                return
        await trio.sleep(0.1)
    raise AssertionError(f"the shared store shows {seen}, not {expected}")


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def messages_in(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("select text from messages order by id").fetchall()
    conn.close()
    return [text for (text,) in rows]


async def test_sql_and_actors_list_beside_a_running_server(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with trio.fail_after(60):
        async with serving(data) as port:
            await say(port, "lobby", "one", "two", "three")
            await say(port, "a%2Fb", "a key with a slash", user="bob")
            await wait_for_counts({"a/b": 1, "lobby": 3}, "--data-dir", str(data))

            table = await roost("sql", COUNTS, "--data-dir", str(data))
            assert table.status == 0
            lines = table.out.splitlines()
            assert lines[0].split("|")[0].strip() == "actor_key"
            assert re.fullmatch(r" lobby\s+\|\s+3", lines[3]) and lines[-1] == "(2 rows)"
            csv = await roost("sql", "--csv", COUNTS, env={"ROOST_DATA_DIR": str(data)})
            assert csv.out == "actor_key,n\na/b,1\nlobby,3\n"
            whole = await roost(
                "sql", "--json", "select * from roost_actor_state", "--data-dir", str(data)
            )
            lobby = next(r for r in whole.json_lines() if r["actor_key"] == "lobby")
            assert json.loads(lobby["state"])["last_message"]["text"] == "three"

            count = await roost(
                "sql", "--actor", "chat/lobby", "select count(*) as n from messages",
                "--data-dir", str(data), "--json",
            )  # fmt: skip
            assert count.json_lines() == [{"n": 3}]
            slashed = await roost(
                "sql", "--actor", "chat/a/b", "select user, text from messages",
                "--data-dir", str(data), "--json",
            )  # fmt: skip
            assert slashed.json_lines() == [{"user": "bob", "text": "a key with a slash"}]

            # Read-only unless --write, for the store and for actors.
            for target in ([], ["--actor", "chat/lobby"]):
                table_name = "messages" if target else "roost_actor_state"
                refused = await roost(
                    "sql", f"delete from {table_name}", *target, "--data-dir", str(data)
                )
                assert refused.status == 1 and "--write" in refused.err, refused
            await wait_for_counts({"a/b": 1, "lobby": 3}, "--data-dir", str(data))

            listed = await roost("actors", "list", "--data-dir", str(data), "--json")
            rows = listed.json_lines()
            assert [(r["type"], r["key"]) for r in rows] == [("chat", "a/b"), ("chat", "lobby")]
            for row in rows:
                assert row["size_bytes"] > 4096 and row["pending_alarms"] == 0
                assert Path(row["path"]) == actor_db_path(data, "chat", row["key"])
                age = time.time() - datetime.fromisoformat(row["last_active"]).timestamp()
                assert row["last_active"].endswith("+00:00") and -5 < age < 120, row
            human = await roost("actors", "list", "--type", "chat", "--data-dir", str(data))
            assert re.search(r"chat \| lobby \| +\d+\.\d KiB \|", human.out), human.out
            none = await roost("actors", "list", "--type", "presence", "--data-dir", str(data))
            assert none.status == 0 and none.out.endswith("(0 rows)\n")

        # With the server stopped, reading leaves no trace: no -wal, no -shm, nothing new.
        before = files_under(tmp_path)
        assert not any(p.name.endswith(("-wal", "-shm")) for p in before), before
        assert (await roost("actors", "list", "--data-dir", str(data))).status == 0
        assert (await roost("sql", COUNTS, "--data-dir", str(data))).status == 0
        read = await roost(
            "sql", "--actor", "chat/lobby", "select * from messages", "--data-dir", str(data)
        )
        assert read.status == 0 and "three" in read.out
        assert files_under(tmp_path) == before

        # --write changes what it is told to, and says what it did.
        mine = await roost("sql", "--write", "create table mine (x)", "--data-dir", str(data))
        assert mine.status == 0 and mine.err == "done\n"
        put = await roost(
            "sql", "--write", "insert into mine values (1), (2)", "--data-dir", str(data)
        )
        assert put.status == 0 and put.err == "2 rows changed\n"
        assert (
            await roost("sql", "select sum(x) s from mine", "--data-dir", str(data), "--csv")
        ).out == "s\n3\n"


async def test_sql_against_postgresql(tmp_path: Path, pg_store_url: str) -> None:
    data = tmp_path / "data"
    with trio.fail_after(60):
        async with serving(data, "--store", pg_store_url) as port:
            await say(port, "lobby", "one", "two")
            await say(port, "kitchen", "hot")
            await wait_for_counts(
                {"kitchen": 1, "lobby": 2}, "--store", pg_store_url, query=PG_COUNTS
            )
        assert not (data / "shared.sqlite").exists()

        table = await roost("sql", PG_COUNTS, env={"ROOST_STORE": pg_store_url})
        assert table.status == 0 and re.search(r" lobby +\| 2", table.out), table.out
        typed = await roost(
            "sql", "--json", "--store", pg_store_url,
            "select state, version, updated_at from roost_actor_state where actor_key = 'lobby'",
        )  # fmt: skip
        (row,) = typed.json_lines()
        assert row["state"]["message_count"] == 2 and row["state"]["room"] == "lobby"
        assert isinstance(row["version"], int) and row["updated_at"].startswith("20")

        refused = await roost("sql", "--store", pg_store_url, "delete from roost_actor_state")
        assert refused.status == 1 and "read-only" in refused.err and "--write" in refused.err
        several = await roost("sql", "--store", pg_store_url, "--write", "select 1; select 2")
        assert several.status == 1 and "one statement" in several.err
        await wait_for_counts({"kitchen": 1, "lobby": 2}, "--store", pg_store_url, query=PG_COUNTS)

        made = await roost("sql", "--store", pg_store_url, "--write", "create table probe (x int)")
        assert made.status == 0 and "CREATE TABLE" in made.err
        put = await roost(
            "sql", "--store", pg_store_url, "--write", "insert into probe values (1), (2)"
        )
        assert put.status == 0 and "INSERT 0 2" in put.err
        got = await roost("sql", "--csv", "--store", pg_store_url, "select sum(x) from probe")
        assert got.out == "sum\n3\n"
        bad = await roost("sql", "--store", pg_store_url, "select nope from probe")
        assert bad.status == 1 and 'column "nope" does not exist' in bad.err


async def test_export_while_serving_then_import_into_the_stopped_server(tmp_path: Path) -> None:
    data = tmp_path / "data"
    dump = tmp_path / "lobby.sqlite"
    with trio.fail_after(90):
        # The room stays in memory, its file open, as long as it has a turn every 10 minutes.
        async with serving(data, "--idle-timeout", "600") as port:
            await say(port, "lobby", "one", "two", "three")
            command = ["actors", "export", "chat/lobby", "--data-dir", str(data)]
            with dump.open("wb") as out:  # roost actors export chat/lobby > lobby.sqlite
                result = await trio.run_process(
                    [sys.executable, "-m", "roost", *command],
                    stdout=out,
                    capture_stderr=True,
                    check=False,
                )
            assert result.returncode == 0, result.stderr
            assert messages_in(dump) == ["one", "two", "three"]
            await say(port, "lobby", "four", "five")
            to_file = tmp_path / "later.sqlite"
            exported = await roost(
                "actors", "export", "chat/lobby", "-o", str(to_file), "--data-dir", str(data)
            )
            assert exported.status == 0 and len(messages_in(to_file)) == 5

            refused = await roost(
                "actors", "import", "chat/lobby", "-i", str(dump), "--data-dir", str(data)
            )
            # A server holds the data directory: offline writers refuse, readers go on.
            assert refused.status == 2 and "is in use by process" in refused.err, refused
            assert refused.err.count("\n") == 1 and str(data) in refused.err
            idle = await roost(
                "actors", "import", "chat/nobody", "-i", str(dump), "--data-dir", str(data)
            )
            assert idle.status == 2 and "is in use by process" in idle.err, idle
            write = await roost(
                "sql", "--actor", "chat/lobby", "--write", "delete from messages",
                "--data-dir", str(data),
            )  # fmt: skip
            assert write.status == 2 and "is in use by process" in write.err, write
            read = await roost(
                "sql", "--actor", "chat/lobby", "select count(*) as n from messages",
                "--data-dir", str(data), "--csv",
            )  # fmt: skip
            assert read.status == 0 and read.out == "n\n5\n", read
            await wait_for_counts({"lobby": 5}, "--data-dir", str(data))

        target = actor_db_path(data, "chat", "lobby")
        assert len(messages_in(target)) == 5
        imported = await roost(
            "actors", "import", "chat/lobby", "--data-dir", str(data), stdin=dump.read_bytes()
        )
        assert imported.status == 0 and "replaced" in imported.err, imported
        assert messages_in(target) == ["one", "two", "three"]
        assert {p.name for p in target.parent.iterdir()} == {target.name}  # no temp, no -wal

        # Another room's export is refused unless --force, which re-labels it.
        other = await roost(
            "actors", "import", "chat/other", "-i", str(dump), "--data-dir", str(data)
        )
        assert other.status == 1 and "holds actor chat/lobby" in other.err
        forced = await roost(
            "actors", "import", "chat/other", "-i", str(dump), "--force", "--data-dir", str(data)
        )
        assert forced.status == 0 and "created" in forced.err
        meta = await roost(
            "sql", "--actor", "chat/other", "select value from _roost_meta where name = 'key'",
            "--data-dir", str(data), "--csv",
        )  # fmt: skip
        assert meta.out == "value\nother\n"

        async with serving(data) as port:
            async with open_client(f"ws://127.0.0.1:{port}/chat/lobby?user=ann") as ws:
                history = json.loads(await ws.get_message())
            assert [m["text"] for m in history["messages"]] == ["one", "two", "three"]
            # The import marked both rooms dirty: the store follows without new messages.
            await wait_for_counts({"lobby": 3, "other": 3}, "--data-dir", str(data))


TIMER_APP = """
from roost import Actor, App


class Timer(Actor):
    async def on_start(self):
        self.storage.db.execute("CREATE TABLE IF NOT EXISTS fired (name TEXT)")

    async def on_alarm(self, alarm):
        self.storage.db.execute("INSERT INTO fired VALUES (?)", [alarm.name])


app = App()
app.actor("timer", Timer)
"""


async def test_imported_alarms_fire_after_the_next_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    made = tmp_path / "made.sqlite"
    with sqlite3.connect(made) as conn:  # a database built by hand: no _roost_meta yet
        conn.execute(ALARMS_SCHEMA)
        now = time.time()
        for name, quarantined in (("wake", 0), ("stuck", 1)):
            conn.execute(
                "INSERT INTO _roost_alarms VALUES (?, ?, ?, '{}', 0, 6, 2.0, ?, 0)",
                (name, now - 1, now - 1, quarantined),
            )
    conn.close()
    (tmp_path / "timer.py").write_text(TIMER_APP)
    with trio.fail_after(60):
        imported = await roost(
            "actors", "import", "timer/t", "-i", str(made), "--data-dir", str(data)
        )
        assert imported.status == 0 and "1 pending alarm" in imported.err, imported
        listed = await roost("actors", "list", "--data-dir", str(data), "--json")
        assert [(r["key"], r["pending_alarms"]) for r in listed.json_lines()] == [("t", 1)]
        async with serving(data, app=str(tmp_path / "timer.py")):
            fired: list[dict[str, Any]] = []
            for _ in range(100):
                ran = await roost(
                    "sql", "--actor", "timer/t", "select name from fired",
                    "--json", "--data-dir", str(data),
                )  # fmt: skip
                fired = ran.json_lines() if ran.status == 0 else []
                if fired:
                    break
                await trio.sleep(0.1)
            assert fired == [{"name": "wake"}]
        listed = await roost("actors", "list", "--data-dir", str(data), "--json")
        assert [(r["key"], r["pending_alarms"]) for r in listed.json_lines()] == [("t", 0)]


async def test_hostile_keys_stay_inside_the_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "deep" / "data"
    made = tmp_path / "made.sqlite"
    with sqlite3.connect(made) as conn:
        conn.execute("CREATE TABLE t (x)")
        conn.execute("INSERT INTO t VALUES (42)")
    conn.close()
    outside = files_under(tmp_path)
    with trio.fail_after(60):
        keys = ("../../x", "../../../../etc/passwd", "/abs", "..", "a\nb")
        for key in keys:
            ran = await roost(
                "actors", "import", f"chat/{key}", "-i", str(made), "--data-dir", str(data)
            )
            assert ran.status == 0, ran
        read = await roost(
            "sql", "--actor", "chat/../../x", "select x from t", "--csv", "--data-dir", str(data)
        )
        assert read.out == "x\n42\n"
        assert {p for p in files_under(tmp_path) if data not in p.parents} == outside
        listed = await roost("actors", "list", "--data-dir", str(data), "--json")
        assert sorted(r["key"] for r in listed.json_lines()) == sorted(keys)
        table = await roost("actors", "list", "--data-dir", str(data))
        assert "a\\nb" in table.out  # control characters are escaped in the table


async def test_errors_are_one_clear_line_and_exit_1(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    cases: list[tuple[list[str], str, bytes | None]] = [
        (["sql", "select 1", "--data-dir", str(data)], "no shared store", None),
        (["sql", "select 1", "--store", "mysql://db/x"], "unsupported shared store URL", None),
        (
            ["sql", "select 1", "--store", "postgresql://postgres@127.0.0.1:1/test"],
            "PostgreSQL: connection",
            None,
        ),
        (["sql", "--actor", "chat/lobby", "select 1", "--data-dir", str(data)], "no actor", None),
        (["sql", "--actor", "lobby", "select 1"], "expected TYPE/KEY", None),
        (["sql", "--actor", "Chat!/x", "select 1"], "invalid actor type", None),
        (["actors", "export", "chat/none", "-o", str(tmp_path / "x")], "no actor", None),
        (["actors", "import", "chat/x", "--data-dir", str(data)], "is not an SQLite", b"hello"),
        (["actors", "import", "chat/x", "--data-dir", str(data)], "is empty", b""),
        (["actors", "import", "chat/x", "-i", str(tmp_path / "no.sqlite")], "no such file", None),
        (["actors", "list", "--data-dir", str(tmp_path / "missing")], "no data directory", None),
    ]
    with trio.fail_after(60):
        for args, message, stdin in cases:
            ran = await roost(*args, stdin=stdin, env={"ROOST_DATA_DIR": str(data)})
            assert ran.status == 1 and ran.err.startswith("roost: ") and message in ran.err, (
                args,
                ran,
            )
        assert not list(data.rglob("*.sqlite*"))  # failed imports leave nothing behind
        store = data / "shared.sqlite"
        sqlite3.connect(store).close()
        bad = await roost("sql", "selec 1", "--store", str(store))
        assert bad.status == 1 and bad.err == 'roost: SQLite: near "selec": syntax error\n'


@pytest.mark.parametrize(
    "command",
    [
        ["sql"],
        ["actors"],
        ["actors", "list"],
        ["actors", "export"],
        ["actors", "import"],
        ["nodes"],
    ],
)
async def test_every_command_has_help(command: list[str]) -> None:
    with trio.fail_after(30):
        ran = await roost(*command, "--help")
    assert ran.status == 0 and ran.out.startswith("usage: roost " + " ".join(command))


async def test_serve_reports_startup_failures_in_one_line(tmp_path: Path) -> None:
    with trio.fail_after(30):
        bad_store = await roost(
            "serve", CHAT, "--port", "0", "--store", "mysql://db/x", "--data-dir", str(tmp_path)
        )
        assert bad_store.status == 2
        assert bad_store.err.startswith("roost: unsupported shared store URL scheme 'mysql'")
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            busy = await roost("serve", CHAT, "--port", str(port), "--data-dir", str(tmp_path))
        assert busy.status == 1 and "Address already in use" in busy.err
        assert busy.err.count("\n") == 1


# -- the cluster: roost nodes, roost actors list --store (issue 14) --------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A shared store for the cluster tools: the data dir's SQLite file, or a PostgreSQL URL
    whose search_path is a fresh schema."""
    if request.param == "sqlite":
        return str(tmp_path / "data" / "shared.sqlite")
    url: str = request.getfixturevalue("pg_store_url")
    return url


def open_store(url: str) -> SharedStore:
    if url.startswith("postgresql:"):
        return PostgresSharedStore(url)
    return SQLiteSharedStore(url)


def snap(state: object) -> list[EncodedState]:
    return [EncodedState.encode(state)]


async def test_nodes_lists_live_and_recently_dead_nodes(store_url: str) -> None:
    with trio.fail_after(60):
        async with open_store(store_url) as store:
            await store.register_node(
                "node-a", "10.0.0.5:8080", version="1.4.0", protocol=3, cluster="c1"
            )
            await store.register_node("node-b", "10.0.0.6:8080", version="1.4.0")
            await store.register_node("node-gone", "10.0.0.7:8080")
            await store.register_node("node-ancient", "10.0.0.8:8080")
            for key in ("one", "two"):
                await store.claim_actor("chat", key, "node-a", 60)
            await store.claim_actor("chat", "three", "node-b", 60)
        sqlite = not store_url.startswith("postgresql:")
        minus = "{} - {}" if sqlite else "{} - interval '{} s'"
        for node, seconds in (("node-gone", 60), ("node-ancient", 7200)):
            aged = await roost(
                "sql", "--store", store_url, "--write",
                f"update roost_node set heartbeat_at = {minus.format('heartbeat_at', seconds)}"
                f" where node_id = '{node}'",
            )  # fmt: skip
            assert aged.status == 0, aged.err

        listed = await roost("nodes", "--store", store_url, "--json")
        assert listed.status == 0, listed.err
        rows = {row["node_id"]: row for row in listed.json_lines()}
        assert set(rows) == {"node-a", "node-b", "node-gone"}  # not the one silent for 2 h
        assert [rows[n]["state"] for n in ("node-a", "node-b", "node-gone")] == [
            "live",
            "live",
            "dead",
        ]
        assert (rows["node-a"]["actors"], rows["node-b"]["actors"]) == (2, 1)
        assert (rows["node-a"]["version"], rows["node-a"]["protocol"]) == ("1.4.0", 3)
        assert rows["node-a"]["address"] == "10.0.0.5:8080"
        assert 59 < rows["node-gone"]["heartbeat_age"] < 120
        assert rows["node-a"]["heartbeat_age"] < 30

        everyone = await roost("nodes", "--store", store_url, "--json", "--all")
        assert len(everyone.json_lines()) == 4
        recent = await roost("nodes", "--store", store_url, "--json", "--dead-for", "30")
        assert sorted(r["node_id"] for r in recent.json_lines()) == ["node-a", "node-b"]
        strict = await roost("nodes", "--store", store_url, "--json", "--lease-ttl", "0.000001")
        assert {r["state"] for r in strict.json_lines()} == {"dead"}

        table = await roost("nodes", "--store", store_url)
        assert table.status == 0
        assert re.search(
            r" node-a +\| 10\.0\.0\.5:8080 +\| 1\.4\.0 +\| live +\| .* s ago +\| +2", table.out
        )
        assert re.search(r" node-gone +\| 10\.0\.0\.7:8080 +\| - +\| dead ", table.out)
        assert table.out.endswith("(3 rows)\n")


async def test_nodes_finds_the_data_dirs_store(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with trio.fail_after(30):
        async with SQLiteSharedStore(data / "shared.sqlite") as store:
            await store.register_node("node-a", "127.0.0.1:9000")
        ran = await roost("nodes", "--csv", env={"ROOST_DATA_DIR": str(data)})
        assert ran.status == 0, ran.err
        header, row = ran.out.splitlines()
        assert header.startswith("node_id,address,version,protocol,cluster,state,")
        assert row.startswith("node-a,127.0.0.1:9000,,0,,live,")
        assert sorted(p.name for p in data.iterdir()) == ["shared.sqlite"]  # read-only


async def test_nodes_reads_a_store_an_older_roost_made(tmp_path: Path) -> None:
    """A schema version 1 store (before the cluster columns) is read, not upgraded."""
    path = tmp_path / "shared.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    migrate(conn, Dialect(SQLITE_MIGRATIONS[:1], SQLITE.placeholder))
    now = time.time()
    conn.execute("INSERT INTO roost_node VALUES ('old-node', 'h:1', ?, ?)", (now, now))
    conn.execute("COMMIT")
    conn.close()
    with trio.fail_after(30):
        ran = await roost("nodes", "--store", str(path), "--json")
    assert ran.status == 0, ran.err
    (row,) = ran.json_lines()
    assert (row["node_id"], row["version"], row["state"], row["actors"]) == (
        "old-node",
        "",
        "live",
        0,
    )
    with sqlite3.connect(path) as check:
        assert check.execute("SELECT version FROM roost_schema").fetchall() == [(1,)]


async def test_actors_list_with_a_store_shows_owners_and_fences(store_url: str) -> None:
    with trio.fail_after(60):
        async with open_store(store_url) as store:
            held = await store.claim_actor("chat", "held", "node-a", 60)
            gone = await store.claim_actor("chat", "released", "node-b", 60)
            assert held is not None and gone is not None
            await store.write_snapshots([held.lease.fence], [("chat", "held")], snap(1))
            await store.write_snapshots([gone.lease.fence], [("chat", "released")], snap(2))
            await store.release_leases("node-b", [("chat", "released", gone.lease.fence)])
            again = await store.claim_actor("chat", "released", "node-a", 0.2)
            assert again is not None and again.lease.fence == 2
            await store.claim_actor("room", "never-synced", "node-b", 60)
            await store.write_snapshots(7, [("room", "old")], snap(3))  # a solo node's epoch
        await trio.sleep(0.3)  # node-a's short lease on "released" runs out

        listed = await roost("actors", "list", "--store", store_url, "--json")
        assert listed.status == 0, listed.err
        rows = [
            (r["type"], r["key"], r["owner"], r["fence"], r["version"]) for r in listed.json_lines()
        ]
        assert rows == [
            ("chat", "held", "node-a", 1, 1),
            ("chat", "released", None, 2, 1),
            ("room", "never-synced", "node-b", 1, None),
            ("room", "old", None, 7, 1),
        ]
        synced = [r["synced_at"] for r in listed.json_lines()]
        assert synced[0].startswith("20") and synced[2] is None

        only_rooms = await roost("actors", "list", "--store", store_url, "--json", "--type", "room")
        assert [r["key"] for r in only_rooms.json_lines()] == ["never-synced", "old"]
        table = await roost("actors", "list", "--store", store_url)
        assert re.search(r" chat +\| held +\| node-a +\| +1 \| +1 \| 20", table.out)
        assert re.search(r" room +\| never-synced +\| node-b +\| +1 \| +\| -", table.out)
        assert re.search(r" chat +\| released +\| - +\| +2 \|", table.out)


async def test_cluster_tools_fail_in_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    cases: list[tuple[list[str], str]] = [
        (["nodes", "--data-dir", str(data)], "no shared store"),
        (["nodes", "--store", "mysql://db/x"], "unsupported shared store URL"),
        (["nodes", "--store", "postgresql://postgres@127.0.0.1:1/test"], "PostgreSQL: connection"),
        (["actors", "list", "--store", str(data / "none.sqlite")], "no shared store"),
        (["actors", "list", "--store", str(data / "x.sqlite"), "--type", "Bad!"], "invalid"),
    ]
    with trio.fail_after(60):
        for args, message in cases:
            ran = await roost(*args)
            assert ran.status == 1 and ran.err.startswith("roost: ") and message in ran.err, (
                args,
                ran,
            )
        bad = await roost("nodes", "--lease-ttl", "soon")
        assert bad.status == 2 and "--lease-ttl" in bad.err
        assert not list(data.iterdir())  # nothing created
