"""G10: a refused or write-free request leaves nothing on disk, even when the actor creates
its tables in on_start. The rule: when an activation that created its file ends, the file goes
if it holds schema only (no committed row change, every table empty; an alarm row is data);
an activation that wrote keeps it, whatever it answered.

Real server on 127.0.0.1, real SQLite files under tmp_path, the mock clock for time.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any, ClassVar

import pytest
import trio

from roost import (
    Actor,
    App,
    Connection,
    ConnectionRefused,
    HttpCaller,
    Request,
    Response,
    RpcError,
    rpc,
)
from roost.actors import Alarm
from tests.support import connect, http, refused_upgrade, running


class Room(Actor):
    """Creates its table in on_start, like the chat example; the request path says the rest."""

    fired: ClassVar[list[str]] = []

    async def on_start(self) -> None:
        self.storage.db.execute(
            "CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY AUTOINCREMENT, t TEXT)"
        )
        if self.key.startswith("broken-"):
            raise RuntimeError("on_start fails after creating the table")

    async def on_connect(self, conn: Connection, request: Request) -> None:
        if "user" not in request.query:
            raise ConnectionRefused("?user= is required", status=403)

    async def on_message(self, conn: Connection, message: str | bytes) -> None:
        conn.send("ok")

    async def on_request(self, request: Request) -> Response:
        if request.rest == "/write-then-404":
            self.storage.db.execute("INSERT INTO messages (t) VALUES ('kept')")
            return Response.text("not found\n", status=404)
        if request.rest == "/alarm":
            self.alarms.set("ping", after=5)
            self.storage.db.execute("DELETE FROM messages")  # nothing else written
            return Response.text("later\n", status=404)
        if request.rest == "/ok":
            return Response.json(
                self.storage.db.execute("SELECT count(*) FROM messages").fetchone()
            )
        if request.rest == "/raise":
            raise RuntimeError("handler fails")
        return Response.text("no such message\n", status=404)

    async def on_alarm(self, alarm: Alarm) -> None:
        Room.fired.append(self.key)


class Reader(Actor):
    """Only reads: its KV lookup opens (and so would create) the file."""

    async def on_start(self) -> None:
        assert self.storage.kv.get("anything") is None

    async def on_request(self, request: Request) -> Response:
        value = self.storage.kv.get(request.rest)
        return Response.json(value, status=200 if value is not None else 404)


class Chat(Actor):
    """Like examples/chat.py: synced on write, no on_request (405), rpc that refuses or reads."""

    sync_on_write = True

    async def on_start(self) -> None:
        self.storage.db.execute(
            "CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY AUTOINCREMENT, t TEXT)"
        )

    @rpc
    async def say(self, conn: HttpCaller | None, text: str) -> int:
        if not text:
            raise RpcError("bad_request", "empty text")
        cursor = self.storage.db.execute("INSERT INTO messages (t) VALUES (?)", [text])
        return int(cursor.lastrowid or 0)

    @rpc
    async def history(self, conn: HttpCaller | None) -> list[str]:
        return [t for (t,) in self.storage.db.execute("SELECT t FROM messages")]


def make_app() -> App:
    Room.fired = []
    app = App()
    app.actor("room", Room)
    app.actor("reader", Reader)
    app.actor("chat", Chat)
    return app


async def call(server: Any, path: str, args: dict[str, Any]) -> tuple[int, Any]:
    status, _, body = await http(
        server,
        "POST",
        path,
        body=json.dumps(args).encode(),
        headers=[("content-type", "application/json")],
    )
    return status, json.loads(body)


def listing(data_dir: Path) -> list[str]:
    return sorted(str(p.relative_to(data_dir)) for p in data_dir.rglob("*"))


def actor_files(data_dir: Path) -> list[Path]:
    return sorted(p for p in (data_dir / "actors").rglob("*") if p.is_file())


def random_key() -> str:
    return uuid.uuid4().hex


async def greet(server: Any, path: str) -> None:
    """An accepted connection that says hello and leaves."""
    async with connect(server, path) as ws:
        await ws.send_message("hi")
        assert await ws.get_message() == "ok"


async def test_refusals_404s_failures_and_reads_leave_the_data_dir_as_it_was(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(600):
        async with running(make_app(), tmp_path) as server:
            before = listing(tmp_path)
            for _ in range(20):
                status, _ = await refused_upgrade(server, f"/room/{random_key()}")
                assert status == 403
                status, _, _ = await http(server, "GET", f"/room/{random_key()}/missing")
                assert status == 404
                status, _, _ = await http(server, "GET", f"/room/{random_key()}/raise")
                assert status == 500
                status, _, _ = await http(server, "GET", f"/room/broken-{random_key()}")
                assert status == 500
                status, _, _ = await http(server, "GET", f"/reader/{random_key()}/nothing")
                assert status == 404
            assert listing(tmp_path) == before
            assert server.registry.pool.statistics().open == 0
            assert server.statistics().actors == 0  # gone from memory too
    assert not (tmp_path / "actors").exists()


async def test_a_synced_actor_without_on_request_rpc_errors_and_reads_leave_nothing(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    """The black-box cases of the chat example: GET (405), an rpc refused with bad_request
    (400) and a read-only rpc (200) to random keys, each evicted at once (no idle wait)."""
    with trio.fail_after(600):
        async with running(make_app(), tmp_path, idle_timeout=3600) as server:
            before = listing(tmp_path)
            for _ in range(10):
                status, _, _ = await http(server, "GET", f"/chat/{random_key()}?user=a")
                assert status == 405
                status, body = await call(server, f"/chat/{random_key()}/rpc/say", {"text": ""})
                assert (status, body["error"]["code"]) == (400, "bad_request")
                status, body = await call(server, f"/chat/{random_key()}/rpc/history", {})
                assert (status, body) == (200, {"value": []})
            assert listing(tmp_path) == before
            assert server.statistics().actors == 0
            assert server.sync is not None and server.sync.pending == 0  # nothing to sync
    assert not (tmp_path / "actors").exists()


async def test_an_activation_that_wrote_or_set_an_alarm_keeps_its_file(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(600):
        async with running(make_app(), tmp_path, idle_timeout=10) as server:
            await greet(server, "/room/accepted?user=ann")
            status, _, body = await http(server, "GET", "/room/answered/ok")
            assert (status, json.loads(body)) == (200, [0])
            status, _, _ = await http(server, "GET", "/room/wrote/write-then-404")
            assert status == 404
            status, _, _ = await http(server, "GET", "/room/fired/alarm")
            assert status == 404  # kept by the alarm row it wrote
            status, body = await call(server, "/chat/said/rpc/say", {"text": "hello"})
            assert (status, body) == (200, {"value": 1})
            await trio.sleep(60)  # the alarm fires; every actor is evicted when idle
            assert Room.fired == ["fired"]
            assert server.statistics().actors == 0
            kept = actor_files(tmp_path)
    names = sorted(p.name.split("-")[0] for p in kept if p.suffix == ".sqlite")
    # Accepting a connection or answering 200 with schema only is no reason to keep a file.
    assert names == ["fired", "said", "wrote"]


async def test_a_pending_alarm_keeps_a_file_through_a_graceful_stop(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(600):
        async with running(make_app(), tmp_path, idle_timeout=3600) as server:
            status, _, _ = await http(server, "GET", "/room/later/alarm")
            assert status == 404
            assert server.statistics().actors == 1  # it wrote: it stays until idle
    names = [p.name.split("-")[0] for p in actor_files(tmp_path) if p.suffix == ".sqlite"]
    assert names == ["later"]
    with trio.fail_after(600):
        async with running(make_app(), tmp_path, idle_timeout=3600):
            await trio.sleep(10)
    assert Room.fired == ["later"]


@pytest.mark.parametrize("path", ["/room/k/missing", "/room/k/raise"])
async def test_a_file_kept_earlier_is_never_removed(
    tmp_path: Path, autojump_clock: trio.abc.Clock, path: str
) -> None:
    with trio.fail_after(600):
        async with running(make_app(), tmp_path, idle_timeout=10) as server:
            status, _, _ = await http(server, "GET", "/room/k/write-then-404")
            assert status == 404
            await trio.sleep(60)
            assert server.statistics().actors == 0
            [file] = [p for p in actor_files(tmp_path) if p.suffix == ".sqlite"]
            status, _, _ = await http(server, "GET", path)  # a new activation, refused
            assert status in (404, 500)
            await server.evict("room", "k")
            assert file.exists()
