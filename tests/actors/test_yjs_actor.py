"""The Yjs actor over real sockets with Python clients (pycrdt documents, trio-websocket), on
the mock clock: relaying, storage and compaction, awareness time-outs, limits and bad input.

The tests with the npm clients are in tests/yjs.
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
from pathlib import Path

import pycrdt
import pytest
import trio
import trio_websocket

from roost import App, Connection, ConnectionRefused, Request, Server
from roost.actors.yjs import YjsActor
from roost.protocol import Opcode, encode_frame
from roost.protocol.yjs import (
    AwarenessEntry,
    YKind,
    YMessage,
    decode_awareness,
    encode_awareness,
    encode_sync_step1,
    encode_update,
    parse_message,
)
from roost.storage import actor_db_path
from tests.support import connect, raw_websocket, refused_upgrade, running


class SmallDoc(YjsActor):
    """Tight limits, so that the tests can reach them."""

    compact_after = 5
    max_document_bytes = 4096
    max_awareness_bytes = 64
    max_awareness_clients = 2


class Guarded(YjsActor):
    """A subclass that admits only named users and keeps the name in ``conn.state``."""

    async def on_connect(self, conn: Connection, request: Request) -> None:
        user = request.query.get("user")
        if not user:
            raise ConnectionRefused("?user= is required")
        conn.state = {"user": user}
        await super().on_connect(conn, request)


def make_app() -> App:
    app = App()
    app.actor("yjs", YjsActor)
    app.actor("small", SmallDoc)
    app.actor("guarded", Guarded)
    return app


def edit(doc: pycrdt.Doc[pycrdt.Text], text: str) -> bytes:
    """Append ``text`` to the document's ``text`` root; return the update it made."""
    before = doc.get_state()
    doc.get("text", type=pycrdt.Text).insert(len(doc.get("text", type=pycrdt.Text)), text)
    return doc.get_update(before)


async def receive(ws: trio_websocket.WebSocketConnection) -> YMessage:
    message = await ws.get_message()
    assert isinstance(message, bytes)
    return parse_message(message)


async def joined(ws: trio_websocket.WebSocketConnection) -> YMessage:
    """The server's opening sync step 1."""
    first = await receive(ws)
    assert first.kind is YKind.SYNC_STEP1
    return first


async def closed(ws: trio_websocket.WebSocketConnection) -> tuple[int | None, str | None]:
    with pytest.raises(trio_websocket.ConnectionClosed) as caught:
        while True:
            await ws.get_message()
    return caught.value.reason.code, caught.value.reason.reason


def stored_rows(server: Server, actor_type: str, key: str) -> int:
    db = sqlite3.connect(actor_db_path(server.config.data_dir, actor_type, key))
    try:
        count: int = db.execute("SELECT count(*) FROM yjs_updates").fetchone()[0]
        return count
    finally:
        db.close()


async def test_updates_are_stored_relayed_to_others_and_served_to_joiners(
    tmp_path: Path, threaded_autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(60):
        async with running(make_app(), tmp_path) as server:
            async with connect(server, "/yjs/d") as ann, connect(server, "/yjs/d") as bob:
                assert (await joined(ann)).payload == pycrdt.Doc().get_state()  # empty doc
                await joined(bob)
                mine: pycrdt.Doc[pycrdt.Text] = pycrdt.Doc()
                update = edit(mine, "hello")
                await ann.send_message(encode_update(update))
                relayed = await receive(bob)
                assert relayed.kind is YKind.UPDATE
                theirs: pycrdt.Doc[pycrdt.Text] = pycrdt.Doc()
                theirs.apply_update(relayed.payload)
                assert str(theirs.get("text", type=pycrdt.Text)) == "hello"
                # The same update again adds nothing: nothing stored, nothing relayed.
                await ann.send_message(encode_update(update))
                await ann.send_message(encode_sync_step1(mine.get_state()))
                answer = await receive(ann)  # proves the repeat went by without an echo
                assert answer.kind is YKind.SYNC_STEP2
                assert stored_rows(server, "yjs", "d") == 1
                with trio.move_on_after(1):
                    extra = await bob.get_message()
                    pytest.fail(f"bob got a second frame: {extra!r}")

            async with connect(server, "/yjs/d") as cy:
                vector = (await joined(cy)).payload
                assert vector == mine.get_state()
                await cy.send_message(encode_sync_step1(pycrdt.Doc().get_state()))
                step2 = await receive(cy)
                late: pycrdt.Doc[pycrdt.Text] = pycrdt.Doc()
                late.apply_update(step2.payload)
                assert str(late.get("text", type=pycrdt.Text)) == "hello"


async def test_the_log_is_compacted_and_the_document_survives_eviction(
    tmp_path: Path, threaded_autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(60):
        async with running(make_app(), tmp_path) as server:
            mine: pycrdt.Doc[pycrdt.Text] = pycrdt.Doc()
            async with connect(server, "/small/c") as ann:
                await joined(ann)
                for i in range(12):
                    await ann.send_message(encode_update(edit(mine, f"{i},")))
                await ann.send_message(encode_sync_step1(mine.get_state()))
                await receive(ann)  # every update before it is committed
                assert stored_rows(server, "small", "c") <= SmallDoc.compact_after
            await server.evict("small", "c")
            assert stored_rows(server, "small", "c") == 1  # compacted when it left memory
            async with connect(server, "/small/c") as bob:
                await joined(bob)
                await bob.send_message(encode_sync_step1(pycrdt.Doc().get_state()))
                again: pycrdt.Doc[pycrdt.Text] = pycrdt.Doc()
                again.apply_update((await receive(bob)).payload)
                expected = "".join(f"{i}," for i in range(12))
                assert str(again.get("text", type=pycrdt.Text)) == expected


async def test_awareness_is_echoed_owned_and_timed_out(
    tmp_path: Path, threaded_autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(600):
        async with running(make_app(), tmp_path) as server:
            async with connect(server, "/yjs/a") as ann, connect(server, "/yjs/a") as bob:
                await joined(ann)
                await joined(bob)
                state = '{"user":{"name":"ann"}}'
                await ann.send_message(encode_awareness([AwarenessEntry(42, 1, state)]))
                for ws in (ann, bob):  # the sender too: providers count it as a sign of life
                    got = await receive(ws)
                    assert got.kind is YKind.AWARENESS
                    assert decode_awareness(got.payload) == [AwarenessEntry(42, 1, state)]

                # bob cannot speak for ann's client, not even to remove it.
                await bob.send_message(encode_awareness([AwarenessEntry(42, 9, "null")]))
                await bob.send_message(b"\x03")  # query awareness
                answer = decode_awareness((await receive(bob)).payload)
                assert answer == [AwarenessEntry(42, 1, state)]

                # Renewed at 20 s, so still there at 40 s; gone 30 s after the last renewal.
                await trio.sleep(20)
                await ann.send_message(encode_awareness([AwarenessEntry(42, 2, state)]))
                assert decode_awareness((await receive(bob)).payload)[0].clock == 2
                started = trio.current_time()
                gone = decode_awareness((await receive(bob)).payload)
                assert gone == [AwarenessEntry(42, 2, "null")]
                assert 29.9 <= trio.current_time() - started <= 31
                assert decode_awareness((await receive(ann)).payload) == [
                    AwarenessEntry(42, 2, state)
                ]
                assert decode_awareness((await receive(ann)).payload) == gone

                # A newer clock brings it back; a newcomer is told only about live clients.
                await ann.send_message(encode_awareness([AwarenessEntry(42, 3, state)]))
                await receive(bob)
                async with connect(server, "/yjs/a") as cy:
                    await joined(cy)
                    hello = decode_awareness((await receive(cy)).payload)
                    assert hello == [AwarenessEntry(42, 3, state)]
            assert server.statistics().websockets == 0


@pytest.mark.parametrize(
    ("frame", "code", "reason"),
    [
        ("text", 1003, "y-websocket messages are binary"),
        (b"\x09", 1007, "unknown y-websocket message type 9"),
        (b"\x00\x02\x05ab", 1007, "truncated y-websocket message"),
        (b"\x00\x02\x04\xff\xff\xff\xff", 1007, "malformed Yjs update"),
        (b"\x00\x00\x03\xff\xff\xff", 1007, "malformed Yjs update"),  # a bad state vector
        (
            encode_awareness([AwarenessEntry(1, 1, '"' + "x" * 100 + '"')]),
            1009,
            "awareness state over 64 bytes",
        ),
        (
            encode_awareness([AwarenessEntry(i, 1, "{}") for i in range(3)]),
            1009,
            "over 2 awareness clients",
        ),
        (encode_update(b"\x00" * 5000), 1009, "document over 4096 bytes"),
    ],
)
async def test_bad_input_closes_only_its_connection(
    tmp_path: Path,
    threaded_autojump_clock: trio.abc.Clock,
    frame: str | bytes,
    code: int,
    reason: str,
) -> None:
    with trio.fail_after(60):
        async with running(make_app(), tmp_path) as server:
            async with connect(server, "/small/b") as good, connect(server, "/small/b") as bad:
                await joined(good)
                await joined(bad)
                await bad.send_message(frame)
                assert await closed(bad) == (code, reason)
                # Nothing else was disturbed: the other client edits on.
                async with connect(server, "/small/b") as other:
                    await joined(other)
                    await good.send_message(encode_update(edit(pycrdt.Doc(), "still fine")))
                    assert (await receive(other)).kind is YKind.UPDATE


async def test_too_many_clients_over_several_messages(
    tmp_path: Path, threaded_autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(60):
        async with running(make_app(), tmp_path) as server:
            async with connect(server, "/small/m") as ws:
                await joined(ws)
                for client in (1, 2):
                    await ws.send_message(encode_awareness([AwarenessEntry(client, 1, "{}")]))
                    await receive(ws)
                await ws.send_message(encode_awareness([AwarenessEntry(3, 1, "{}")]))
                assert await closed(ws) == (1009, "over 2 awareness clients")


async def test_a_subclass_keeps_its_own_connection_state_through_hibernation(
    tmp_path: Path, threaded_autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(60):
        async with running(make_app(), tmp_path) as server:
            assert (await refused_upgrade(server, "/guarded/g"))[0] == 403
            async with connect(server, "/guarded/g?user=ann") as ann:
                await joined(ann)
                await ann.send_message(encode_awareness([AwarenessEntry(5, 1, '{"x":1}')]))
                await receive(ann)
                slot = server.registry.slots[("guarded", "g")]
                await server.evict("guarded", "g")
                assert slot.actor is None  # hibernated
                await ann.send_message(b"\x03")  # wakes it; awareness comes back from conn.state
                assert decode_awareness((await receive(ann)).payload) == [
                    AwarenessEntry(5, 1, '{"x":1}')
                ]
                (conn,) = slot.sessions
                assert conn.state["user"] == "ann"
                assert conn.state["awareness"]["5"][:2] == [1, '{"x":1}']


async def test_a_burst_of_updates_is_relayed_merged(
    tmp_path: Path, threaded_autojump_clock: trio.abc.Clock
) -> None:
    mine: pycrdt.Doc[pycrdt.Text] = pycrdt.Doc()
    burst = b"".join(  # one write: the server reads the 30 updates in one pass
        encode_frame(Opcode.BINARY, encode_update(edit(mine, f"{i};")), mask=os.urandom(4))
        for i in range(30)
    )
    with trio.fail_after(60):
        async with running(make_app(), tmp_path) as server:
            async with connect(server, "/yjs/burst") as bob:
                await joined(bob)
                sender = await raw_websocket(server, "/yjs/burst")
                async with sender:
                    await sender.send_all(burst)
                    relayed = await receive(bob)  # one message with all 30 edits
                    assert relayed.kind is YKind.UPDATE
                    theirs: pycrdt.Doc[pycrdt.Text] = pycrdt.Doc()
                    theirs.apply_update(relayed.payload)
                    expected = "".join(f"{i};" for i in range(30))
                    assert str(theirs.get("text", type=pycrdt.Text)) == expected
                assert stored_rows(server, "yjs", "burst") == 30  # stored one by one


class SummaryOnly(YjsActor):
    sync_document = False


async def _synced(data_dir: Path, actor_type: str, key: str) -> dict[str, object]:
    """The actor's row in the shared store once its summary counts some text."""
    while True:
        store = data_dir / "shared.sqlite"
        row = None
        if store.exists():
            db = sqlite3.connect(store)
            try:
                row = db.execute(
                    "SELECT state FROM roost_actor_state WHERE actor_type = ? AND actor_key = ?",
                    [actor_type, key],
                ).fetchone()
            except sqlite3.OperationalError:
                pass  # not created yet
            finally:
                db.close()
        if row is not None:
            state: dict[str, object] = json.loads(row[0])
            if state["text_length"]:
                return state
        await trio.sleep(0.05)


async def test_a_node_without_the_file_restores_the_document_from_the_store(
    tmp_path: Path, threaded_autojump_clock: trio.abc.Clock
) -> None:
    app = make_app()
    app.actor("summary-only", SummaryOnly)
    mine: pycrdt.Doc[pycrdt.Text] = pycrdt.Doc()
    update = edit(mine, "kept in the shared store")
    with trio.fail_after(120):
        async with running(app, tmp_path, sync_interval=0.1) as server:
            for path in ("/yjs/r", "/summary-only/r"):
                async with connect(server, path) as ws:
                    await joined(ws)
                    await ws.send_message(encode_update(update))
            synced = await _synced(tmp_path, "yjs", "r")
            assert base64.b64decode(str(synced["update"])) == mine.get_update()
            assert "update" not in await _synced(tmp_path, "summary-only", "r")
        for file in (tmp_path / "actors").rglob("*.sqlite*"):
            file.unlink()  # this node lost its disk; the shared store did not
        async with running(app, tmp_path) as server:
            for path, expected in (("/yjs/r", "kept in the shared store"), ("/summary-only/r", "")):
                async with connect(server, path) as ws:
                    await joined(ws)
                    await ws.send_message(encode_sync_step1(pycrdt.Doc().get_state()))
                    again: pycrdt.Doc[pycrdt.Text] = pycrdt.Doc()
                    again.apply_update((await receive(ws)).payload)
                    assert str(again.get("text", type=pycrdt.Text)) == expected
