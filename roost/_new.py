"""``roost new NAME``: a small app to start from, with its tests and a README.

The app is one actor type that uses what most apps need (rpc, presence, an alarm) and the tests
use the test kit (:mod:`roost.testing`) on trio's autojump clock, so they pass as generated and
show how to test each of the three. tests/e2e/test_new.py generates one and runs its tests.
"""

from __future__ import annotations

import re
from pathlib import Path

from roost._errors import ConfigError

__all__ = ["check_name", "create_app"]

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")

APP = '''\
"""{name}: a roost app. Serve it with `roost serve app.py`; test it with `pytest`.

Presence: ws://127.0.0.1:8787/room/<key>?user=<name> (JSON frames, raw mode).
rpc: POST http://127.0.0.1:8787/room/<key>/rpc/say with {{"text": "hello"}}, or an envelope client.
"""

from __future__ import annotations

import json

from roost import Actor, App, Connection, ConnectionRefused, Request, RpcError, rpc
from roost.actors import Alarm

#: Seconds without a message after which the room says it went quiet.
QUIET_AFTER = 60.0


class Room(Actor):
    """Who is in the room (presence), what they say (rpc), and a reminder (an alarm)."""

    async def on_connect(self, conn: Connection, request: Request) -> None:
        user = request.query.get("user", "")
        if not 0 < len(user) <= 64:
            raise ConnectionRefused("?user=<name> of 1 to 64 characters", status=400)
        conn.state = {{"user": user}}
        self.presence.send_state(conn)
        self.presence.track(conn, user, {{"joined_at": self.now()}})

    @rpc
    async def say(self, conn: Connection | None, text: str) -> int:
        """Broadcast ``text`` to everyone in the room; returns how many messages were said."""
        if not isinstance(text, str) or not 0 < len(text) <= 1000:
            raise RpcError("bad_request", "text must be 1 to 1000 characters")
        count = int(self.storage.kv.get("count", 0)) + 1
        self.storage.kv.put("count", count)
        self.broadcast(json.dumps({{"type": "message", "text": text, "count": count}}))
        self.alarms.set("quiet", after=QUIET_AFTER)  # setting it again moves it later
        return count

    async def on_alarm(self, alarm: Alarm) -> None:
        self.broadcast(json.dumps({{"type": "quiet"}}))


app = App()
app.actor("room", Room)
'''

TEST = '''\
"""Tests of app.py with roost's test kit: no ports, no real time (trio's autojump clock)."""

from __future__ import annotations

import json

import pytest
import trio
from roost.testing import TestClientRefused, TestServer

from app import QUIET_AFTER, app

pytestmark = pytest.mark.trio


async def say(t: TestServer, text: str) -> int:
    response = await t.request(
        "POST",
        "/room/lobby/rpc/say",
        body=json.dumps({{"text": text}}).encode(),
        headers={{"content-type": "application/json"}},
    )
    assert response.status == 200, response.text
    count: int = response.json()["value"]
    return count


async def test_people_see_who_is_here_and_what_is_said(autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(10):
        async with TestServer(app) as t, t.connect("/room/lobby?user=ann") as ann:
            assert (await ann.receive_json())["type"] == "presence_state"
            async with t.connect("/room/lobby?user=bob") as bob:
                state = await bob.receive_json()
                assert set(state["presences"]) == {{"ann"}}
                joined = await ann.receive_json()
                assert set(joined["joins"]) == {{"bob"}}
                assert await say(t, "hello") == 1
                for client in (ann, bob):
                    assert await client.receive_json() == {{
                        "type": "message",
                        "text": "hello",
                        "count": 1,
                    }}
            left = await ann.receive_json()
            assert set(left["leaves"]) == {{"bob"}}


async def test_a_user_is_required(autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(10):
        async with TestServer(app) as t:
            with pytest.raises(TestClientRefused) as refused:
                await t.connect("/room/lobby")
            assert refused.value.status == 400


async def test_the_room_says_when_it_went_quiet(autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(QUIET_AFTER * 10):
        async with TestServer(app) as t, t.connect("/room/lobby?user=ann") as ann:
            await ann.receive_json()  # presence_state
            await say(t, "anyone?")
            assert (await ann.receive_json())["type"] == "message"
            await trio.sleep(QUIET_AFTER - 1)  # the mock clock: no real minute passes
            assert t.storage("room", "lobby").alarm("quiet") is not None
            assert await ann.receive_json() == {{"type": "quiet"}}


async def test_the_alarm_can_be_fired_early_and_bad_input_is_refused(
    autojump_clock: trio.abc.Clock,
) -> None:
    with trio.fail_after(10):
        async with TestServer(app) as t, t.connect("/room/lobby?user=ann") as ann:
            await ann.receive_json()
            await say(t, "hi")
            await ann.receive_json()
            await t.fire_alarm("room", "lobby", "quiet")
            assert await ann.receive_json() == {{"type": "quiet"}}
            response = await t.request(
                "POST",
                "/room/lobby/rpc/say",
                body=b'{{"text": ""}}',
                headers={{"content-type": "application/json"}},
            )
            assert response.status == 400
'''

README = """\
# {name}

A roost app: one `room` actor per key with presence, an rpc method
(`say`) and an alarm (`quiet`). Made by `roost new {name}`.

```sh
roost serve app.py --reload   # run the server on http://127.0.0.1:8787 (restarts on edits)
pytest                        # run the tests (pytest and pytest-trio)
```

`--reload` needs watchfiles (`pip install 'roost[reload]'`); the tests need pytest and
pytest-trio.

Connect with `ws://127.0.0.1:8787/room/lobby?user=ann` to see who is here, and say something
with `curl -d '{{"text": "hello"}}' -H 'content-type: application/json'
http://127.0.0.1:8787/room/lobby/rpc/say`.
"""


def check_name(name: str) -> str:
    """The app's name, checked: a letter, then up to 63 letters, digits, ``_`` or ``-``.

    Raises:
        ConfigError: anything else (a path, dots, spaces, an empty name).
    """
    if not _NAME.fullmatch(name):
        raise ConfigError(
            f"invalid app name {name!r}: use a letter, then up to 63 letters, digits, _ or -"
        )
    return name


def create_app(name: str, parent: Path) -> Path:
    """Write ``parent/NAME/{app.py, test_app.py, README.md}`` and return the directory.

    Raises:
        ConfigError: a bad name, or ``parent/NAME`` exists (never overwritten).
    """
    check_name(name)
    target = parent / name
    try:
        target.mkdir()
    except FileExistsError:
        raise ConfigError(f"{target} already exists: choose another name") from None
    for file, template in (("app.py", APP), ("test_app.py", TEST), ("README.md", README)):
        (target / file).write_text(template.format(name=name), encoding="utf-8")
    return target
