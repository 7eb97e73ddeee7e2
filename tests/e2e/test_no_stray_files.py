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
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        conn = h11.Connection(h11.CLIENT)
        for _ in range(count):
            target = f"/room/{uuid.uuid4().hex}/anything".encode()
            await stream.send_all(
                conn.send(h11.Request(method="GET", target=target, headers=[("host", "x")]))
                + conn.send(h11.EndOfMessage())
            )
            status = 0
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(await stream.receive_some(65536))
                elif isinstance(event, h11.Response):
                    status = event.status_code
                elif isinstance(event, h11.EndOfMessage):
                    break
            assert status == 404
            conn.start_next_cycle()


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


async def test_2000_strangers_leave_the_data_dir_as_it_was(tmp_path: Path) -> None:
    await strangers_leave_nothing(tmp_path, 2_000, seconds=60)


@pytest.mark.slow
async def test_10000_strangers_leave_the_data_dir_as_it_was(tmp_path: Path) -> None:
    await strangers_leave_nothing(tmp_path, 10_000, seconds=240)
