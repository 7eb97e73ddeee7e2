"""The Yjs actor with clients nobody here wrote: yjs and y-websocket from npm, under Node.

Each peer is its own Node process with one Y.Doc and one unmodified WebsocketProvider; the
server is a real roost server on 127.0.0.1 with its SQLite files in a temp dir.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio

from roost import App, Server
from roost.actors.yjs import YjsActor
from roost.runtime import ActorState
from roost.storage import actor_db_path
from tests.support import http, running
from tests.yjs.peers import Peer, Peers, node_ready

pytestmark = pytest.mark.e2e


def make_app() -> App:
    app = App()
    app.actor("yjs", YjsActor)
    return app


def url(server: Server) -> str:
    return f"ws://127.0.0.1:{server.port}/yjs"


@pytest.fixture
def node() -> str:
    """node, with tests/yjs/node's npm packages installed, or a loud skip. A fixture, because a
    skip raised inside a trio test loses its reason in pytest's summary."""
    return node_ready()


@asynccontextmanager
async def peers(node: str) -> AsyncIterator[Peers]:
    group = Peers(node)
    try:
        yield group
    finally:
        with trio.CancelScope(shield=True):
            await group.aclose()


def expected_tags(tag: str, count: int) -> tuple[str, ...]:
    return tuple(f"<{tag}{i}>" for i in range(count))


async def test_two_providers_edit_concurrently_and_converge(tmp_path: Path, node: str) -> None:
    with trio.fail_after(60):
        async with running(make_app(), tmp_path) as server, peers(node) as group:
            ann = await group.start(url(server), "notes")
            bob = await group.start(url(server), "notes")
            async with trio.open_nursery() as nursery:  # both edit at the same time
                nursery.start_soon(ann.edits, 300, "a")
                nursery.start_soon(bob.edits, 300, "b")
            everything = expected_tags("a", 300) + expected_tags("b", 300)
            length = sum(len(tag) for tag in everything)
            ann_text = await ann.wait_text(contains=everything, length=length)
            bob_text = await bob.wait_text(contains=everything, length=length)
            assert ann_text == bob_text and len(ann_text) == length

            # A late joiner receives the whole document in its first sync.
            cy = await group.start(url(server), "notes")
            assert await cy.text() == ann_text

            # Another document is another actor: it saw none of this.
            other = await group.start(url(server), "other")
            assert await other.text() == ""

            status, _, body = await http(server, "GET", "/_roost/metrics")
            assert status == 200 and b"roost_actors_active 2.0" in body


async def test_a_restart_loses_nothing(tmp_path: Path, node: str) -> None:
    with trio.fail_after(60):
        async with peers(node) as group:
            async with running(make_app(), tmp_path) as server:
                ann = await group.start(url(server), "essay")
                await ann.call("insert", index=0, text="It was a dark and stormy night")
                await ann.edits(50, "a")
                # A second client saw it all, so the server had it all (it relays after commit).
                bob = await group.start(url(server), "essay")
                before = await bob.wait_text(contains=expected_tags("a", 50))
                await ann.call("disconnect")
                await bob.call("disconnect")
            # The server is gone; a new one on the same data dir starts from SQLite alone.
            async with running(make_app(), tmp_path) as server:
                late = await group.start(url(server), "essay")
                assert await late.text() == before
            stored = sqlite3.connect(actor_db_path(tmp_path, "yjs", "essay"))
            try:
                rows = stored.execute("SELECT count(*) FROM yjs_updates").fetchone()[0]
            finally:
                stored.close()
            assert rows == 1  # compacted when the actor left memory


async def test_awareness_appears_and_disappears(tmp_path: Path, node: str) -> None:
    with trio.fail_after(60):
        async with running(make_app(), tmp_path) as server, peers(node) as group:
            ann = await group.start(url(server), "doc")
            bob = await group.start(url(server), "doc")
            await ann.call("awareness", state={"user": {"name": "ann", "color": "#f00"}})
            seen = await bob.call("wait_awareness", client=ann.client_id, present=True)
            assert seen["states"][str(ann.client_id)]["user"]["name"] == "ann"

            # A joiner is told about everyone already here.
            cy = await group.start(url(server), "doc")
            await cy.call("wait_awareness", client=ann.client_id, present=True)

            # ann vanishes without a goodbye: the server notices and announces her gone.
            ann.kill()
            for peer in (bob, cy):
                left = await peer.call("wait_awareness", client=ann.client_id, present=False)
                assert str(ann.client_id) not in left["states"]

            # A clean disconnect removes the state too (the provider says so itself).
            await bob.call("awareness", state={"user": {"name": "bob"}})
            await cy.call("wait_awareness", client=bob.client_id, present=True)
            await bob.call("disconnect")
            await cy.call("wait_awareness", client=bob.client_id, present=False)


async def test_hibernation_between_edits_keeps_document_and_awareness(
    tmp_path: Path, node: str
) -> None:
    with trio.fail_after(60):
        async with running(make_app(), tmp_path) as server, peers(node) as group:
            ann = await group.start(url(server), "quiet")
            bob = await group.start(url(server), "quiet")
            await ann.call("insert", index=0, text="hello")
            await bob.wait_text(contains=("hello",))
            await ann.call("awareness", state={"user": {"name": "ann"}})
            await bob.call("wait_awareness", client=ann.client_id, present=True)

            slot = server.registry.slots[("yjs", "quiet")]
            await server.evict("yjs", "quiet")
            assert slot.state is ActorState.HIBERNATED and slot.actor is None

            # The next edit wakes a fresh instance, which reloads the document from SQLite.
            await bob.call("insert", index=5, text=" world")
            assert await ann.wait_text(contains=("hello world",)) == "hello world"
            assert slot.state is ActorState.ACTIVE
            # Awareness set before the hibernation reaches a newcomer from conn.state.
            cy = await group.start(url(server), "quiet")
            seen = await cy.call("wait_awareness", client=ann.client_id, present=True)
            assert seen["states"][str(ann.client_id)] == {"user": {"name": "ann"}}
            assert await cy.text() == "hello world"


async def test_summary_reaches_the_shared_store(tmp_path: Path, node: str) -> None:
    with trio.fail_after(60):
        async with (
            running(make_app(), tmp_path, sync_interval=0.05) as server,
            peers(node) as group,
        ):
            ann = await group.start(url(server), "summary")
            await ann.call("insert", index=0, text="twelve chars")
            await _wait_summary(tmp_path, "summary", lambda s: s["text_length"] == 12)
            bob: Peer = await group.start(url(server), "summary")
            state = await _wait_summary(tmp_path, "summary", lambda s: s["editors"] == 2)
            assert state["doc"] == "summary" and state["bytes"] > 12
            await bob.call("disconnect")


async def _wait_summary(data_dir: Path, key: str, ready: object) -> dict[str, object]:
    assert callable(ready)
    while True:
        store = data_dir / "shared.sqlite"
        if store.exists():
            db = sqlite3.connect(store)
            try:
                row = db.execute(
                    "SELECT state FROM roost_actor_state"
                    " WHERE actor_type = 'yjs' AND actor_key = ?",
                    [key],
                ).fetchone()
            except sqlite3.OperationalError:
                row = None  # the table is not created yet
            finally:
                db.close()
            if row is not None:
                state: dict[str, object] = json.loads(row[0])
                if ready(state):
                    return state
        await trio.sleep(0.02)
