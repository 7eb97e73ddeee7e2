"""G10 on a real server process: thousands of refused upgrades and 404s to random keys of an
actor that creates its table in on_start leave the data directory as it was."""

from __future__ import annotations

import signal
import time
import uuid
from pathlib import Path

import h11
import pytest
import trio

from tests.e2e.test_cli import start

APP = """
from roost import Actor, App, ConnectionRefused, Response


class Room(Actor):
    async def on_start(self):
        self.storage.db.execute(
            "CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY AUTOINCREMENT, t TEXT)"
        )

    async def on_connect(self, conn, request):
        raise ConnectionRefused("invite only", status=403)

    async def on_request(self, request):
        self.storage.db.execute("SELECT count(*) FROM messages").fetchone()  # reads only
        return Response.text("no such room\\n", status=404)


app = App()
app.actor("room", Room)
"""

UPGRADE = (
    "GET /room/{key} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n\r\n"
)


def listing(data_dir: Path) -> list[str]:
    return sorted(str(p.relative_to(data_dir)) for p in data_dir.rglob("*"))


async def refused_upgrades(port: int, count: int) -> None:
    """Upgrade requests to random keys, one TCP connection each: every one is refused."""
    for _ in range(count):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            await stream.send_all(UPGRADE.format(key=uuid.uuid4().hex).encode())
            response = b""
            while b"\r\n\r\n" not in response:
                chunk = await stream.receive_some(4096)
                assert chunk, response
                response += chunk
            assert response.startswith(b"HTTP/1.1 403"), response


async def not_found(port: int, count: int) -> None:
    """GETs to random keys over one keep-alive connection: every one is a 404."""
    targets = [("GET", f"/room/{uuid.uuid4().hex}/anything", b"") for _ in range(count)]
    assert {status for status, _ in await exchange(port, targets)} <= {404}


async def strangers_leave_nothing(tmp_path: Path, requests: int, seconds: float) -> None:
    app = tmp_path / "rooms.py"
    app.write_text(APP)
    data_dir = tmp_path / "data"
    with trio.fail_after(seconds + 30):
        process, port = await start(
            ["serve", str(app), "--port", "0", "--data-dir", str(data_dir)], env={}
        )
        try:
            before = listing(data_dir)
            assert not any(name.startswith("actors") for name in before)
            workers = 8
            per_worker = requests // (2 * workers)
            started = time.monotonic()
            async with trio.open_nursery() as nursery:
                for _ in range(workers):
                    nursery.start_soon(refused_upgrades, port, per_worker)
                    nursery.start_soon(not_found, port, per_worker)
            elapsed = time.monotonic() - started
            assert listing(data_dir) == before  # no .sqlite, -wal, -shm or shard directory
            assert elapsed < seconds, f"{requests} requests took {elapsed:.1f} s"
        finally:
            process.send_signal(signal.SIGTERM)
            assert await process.wait() == 0
    assert set(listing(data_dir)) <= set(before)  # node.sqlite's -wal and -shm go at exit
    assert not (data_dir / "actors").exists()


@pytest.mark.slow
async def test_2000_strangers_leave_the_data_dir_as_it_was(tmp_path: Path) -> None:
    await strangers_leave_nothing(tmp_path, 2_000, seconds=60)


@pytest.mark.slow
async def test_10000_strangers_leave_the_data_dir_as_it_was(tmp_path: Path) -> None:
    await strangers_leave_nothing(tmp_path, 10_000, seconds=240)


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


async def exchange(port: int, requests: list[tuple[str, str, bytes]]) -> list[tuple[int, bytes]]:
    """``(method, target, json body)`` requests over one keep-alive connection."""
    answers: list[tuple[int, bytes]] = []
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        conn = h11.Connection(h11.CLIENT)
        for method, target, body in requests:
            headers = [("host", "x"), ("content-length", str(len(body)))]
            if body:
                headers.append(("content-type", "application/json"))
            data = conn.send(h11.Request(method=method, target=target, headers=headers))
            data += conn.send(h11.Data(data=body)) if body else b""
            await stream.send_all(data + conn.send(h11.EndOfMessage()))
            status, content = 0, b""
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(await stream.receive_some(65536))
                elif isinstance(event, h11.Response):
                    status = event.status_code
                elif isinstance(event, h11.Data):
                    content += event.data
                elif isinstance(event, h11.EndOfMessage):
                    break
            answers.append((status, content))
            conn.start_next_cycle()
    return answers


def actor_files(data_dir: Path) -> list[str]:
    actors = data_dir / "actors"
    return sorted(p.name for p in actors.rglob("*") if p.is_file()) if actors.exists() else []


async def test_the_chat_example_keeps_files_only_for_rooms_that_wrote(tmp_path: Path) -> None:
    """The black-box run of issue 11: GET (405), a refused rpc (400) and a read-only rpc (200)
    to random rooms left a file each, and most stayed after a graceful stop."""
    with trio.fail_after(60):
        process, port = await start(
            ["serve", str(EXAMPLES / "chat.py"), "--port", "0", "--data-dir", str(tmp_path)],
            env={"ROOST_DEMO_AUTH": "1", "ROOST_HOST": "127.0.0.1"},
        )
        try:
            strangers: list[tuple[str, str, bytes]] = []
            for _ in range(100):
                strangers += [
                    ("GET", f"/chat/{uuid.uuid4().hex}?user=a", b""),
                    ("POST", f"/chat/{uuid.uuid4().hex}/rpc/say?user=a", b'{"text": ""}'),
                    ("POST", f"/chat/{uuid.uuid4().hex}/rpc/history?user=a", b"{}"),
                ]
            answers = await exchange(port, strangers)
            assert [status for status, _ in answers[:3]] == [405, 400, 200]
            assert {status for status, _ in answers} == {405, 400, 200}
            assert actor_files(tmp_path) == []  # at once, not after the idle timeout
            [(status, body)] = await exchange(
                port, [("POST", "/chat/kept/rpc/say?user=a", b'{"text": "hello"}')]
            )
            assert status == 200, body
        finally:
            process.send_signal(signal.SIGTERM)
            assert await process.wait() == 0
    files = actor_files(tmp_path)
    assert [name for name in files if name.endswith(".sqlite")] == [files[0]]
    assert files[0].startswith("kept-"), files


async def test_the_demo_document_answers_405_and_leaves_nothing(tmp_path: Path) -> None:
    with trio.fail_after(60):
        process, port = await start(
            ["serve", str(EXAMPLES / "demo.py"), "--port", "0", "--data-dir", str(tmp_path)],
            env={"ROOST_HOST": "127.0.0.1"},
        )
        try:
            targets = [("GET", f"/yjs/{uuid.uuid4().hex}", b"") for _ in range(50)]
            answers = await exchange(port, targets)
            assert {status for status, _ in answers} == {405}
            assert actor_files(tmp_path) == []
        finally:
            process.send_signal(signal.SIGTERM)
            assert await process.wait() == 0
    assert actor_files(tmp_path) == []
