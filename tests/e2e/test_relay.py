"""examples/relay.py: every frame goes unchanged to every other member, not to its sender."""

from __future__ import annotations

from pathlib import Path

import trio

from roost.cli import load_app
from tests.support import EXAMPLES, connect, running


async def test_frames_go_to_the_others_unchanged(tmp_path: Path) -> None:
    app = load_app(str(EXAMPLES / "relay.py"))
    with trio.fail_after(10):
        async with running(app, tmp_path) as server:
            async with (
                connect(server, "/relay/a") as one,
                connect(server, "/relay/a") as two,
                connect(server, "/relay/a") as three,
                connect(server, "/relay/b") as elsewhere,
            ):
                await one.send_message("text ✓")
                await one.send_message(b"\x00\xffbinary")
                for ws in (two, three):
                    assert await ws.get_message() == "text ✓"
                    assert await ws.get_message() == b"\x00\xffbinary"
                await two.send_message("from two")
                assert await one.get_message() == "from two"  # nothing of its own came back
                assert await three.get_message() == "from two"
                await elsewhere.send_message("other room")
                await one.send_message("last")
                assert await two.get_message() == "last"
    assert not (tmp_path / "actors").exists()  # a relay never touches storage
