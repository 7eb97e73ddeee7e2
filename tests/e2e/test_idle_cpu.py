"""G5 on a real server process: no state of node.sqlite or of an actor file makes the alarm
scheduler spin. A data dir full of stale index entries (user and presence-expiry alarms whose
rows are gone, actors whose files are gone, an unknown type) and of actors whose on_start
raises leaves the idle process under 1 % CPU."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import trio

from roost.actors._presence_channel import EXPIRY_ALARM
from roost.runtime._node_store import NodeStore
from roost.storage import ActorStorage, HandlePool, actor_db_path
from tests.e2e.test_cli import start

APP = """
from roost import Actor, App


class Box(Actor):
    presence_ttl = 30.0

    async def on_start(self):
        if self.key.startswith("broken"):
            raise RuntimeError("this actor cannot start")


app = App()
app.actor("box", Box)
"""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def seed(data_dir: Path) -> int:
    """Actor files with data but no alarm rows, and index entries that point at nothing."""
    pool = HandlePool(max_open=8)
    past = time.time() - 60
    rows: list[tuple[str, str, str, float]] = []
    for i in range(20):
        for key in (f"stale-{i}", f"broken-{i}"):
            storage = ActorStorage(
                actor_db_path(data_dir, "box", key), actor_type="box", key=key, pool=pool
            )
            storage.begin_turn()
            storage.kv.put("data", i)
            storage.commit_turn()
            storage.close()
            rows += [("box", key, "user-alarm", past), ("box", key, EXPIRY_ALARM, past - i)]
        rows.append(("box", f"no-file-{i}", EXPIRY_ALARM, past))
    rows.append(("gone-type", "k", "x", past))
    store = NodeStore(data_dir / "node.sqlite")
    store.put_alarms(rows)
    store.close()
    return len(rows)


async def test_stale_alarms_and_broken_actors_leave_the_server_idle(tmp_path: Path) -> None:
    app = tmp_path / "boxes.py"
    app.write_text(APP)
    data_dir = tmp_path / "data"
    seed(data_dir)
    with trio.fail_after(60):
        process, _ = await start(
            ["serve", str(app), "--port", "0", "--data-dir", str(data_dir)], env={}
        )
        logged = [0]

        async def drain() -> None:
            """Read its log: a spinning server blocked on a full pipe would look idle."""
            assert process.stderr is not None
            while chunk := await process.stderr.receive_some(65536):
                logged[0] += len(chunk)

        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(drain)
                await trio.sleep(1.0)  # a real process: its start-up firings take real time
                before, logged_before = cpu_seconds(process.pid), logged[0]
                await trio.sleep(3.0)
                used = cpu_seconds(process.pid) - before
                assert used < 0.05, f"the idle server used {used:.2f} s of CPU in 3 s"
                assert logged[0] - logged_before < 64 * 1024, "a log storm"
                assert process.returncode is None
                nursery.cancel_scope.cancel()
        finally:
            process.send_signal(signal.SIGTERM)
            with trio.move_on_after(10):
                await process.wait()
            if process.returncode is None:  # a spinning server may not stop in time
                process.kill()
                await process.wait()
        assert process.returncode == 0
    # The stale entries were dropped; the broken actors' alarms wait (backing off) in the index.
    store = NodeStore(data_dir / "node.sqlite")
    try:
        left = sorted({(key.split("-")[0], name) for _, key, name, _ in store.alarms()})
    finally:
        store.close()
    assert left == [("broken", EXPIRY_ALARM), ("broken", "user-alarm")]
