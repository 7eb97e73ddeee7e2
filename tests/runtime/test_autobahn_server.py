"""The ported Autobahn cases (tests/protocol/autobahn.py) against a live server over TCP.

A raw socket plays the suite's fuzzing client: it sends each case's exact bytes in the
suite's chops to an echo actor, then reads what comes back. Every message before the bad
frame must be echoed, the server's close frame must carry the expected code, and the server
must then end the TCP stream cleanly (EOF, not a reset).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from roost import Actor, App, Connection
from tests.protocol.autobahn import CASES, Case
from tests.support import raw_websocket, running

from .wire import read_until_close


class Echo(Actor):
    """The suite's test server: every message comes back to its sender."""

    async def on_message(self, conn: Connection, message: str | bytes) -> None:
        conn.send(message)


def echo_app() -> App:
    app = App()
    app.actor("echo", Echo)
    return app


@pytest.mark.parametrize("case", CASES, ids=[c.number for c in CASES])
async def test_case_against_the_server(tmp_path: Path, case: Case) -> None:
    with trio.fail_after(20):
        async with running(echo_app(), tmp_path) as server:
            stream = await raw_websocket(server, "/echo/autobahn")
            sent = case.chops if case.fail_at is None else case.chops[: case.fail_at + 1]
            for chop in sent:
                await stream.send_all(chop)
            echoed, close, ended = await read_until_close(stream)
            assert tuple(echoed) == case.echoed
            assert close.code == case.close_code
            assert ended
            await stream.aclose()
