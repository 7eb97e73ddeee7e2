"""The outbox alone (runtime/_outbox.py): held output leaves in order after the commit, a
rolled-back turn's output never leaves, a failed commit answers the calls that waited (G4).

The sessions here are small recorders that fulfil the SlotSession protocol (what a real
WebSocketSession offers the outbox); the turns' end-to-end behaviour is in test_turns.py.
"""

from __future__ import annotations

from typing import Any

from roost.actors import Connection
from roost.protocol import ServerEvent
from roost.runtime._outbox import Outbox
from roost.runtime._stats import NodeStats


class Recorder:
    """A session's peer and close, as a list of what happened."""

    def __init__(self, log: list[Any], name: str, *, raw: bool = True) -> None:
        self.log, self.name = log, name
        self.can_send = True
        self.can_raw = raw
        self.codec = None
        self.peer = self

    def write(self, frame: bytes) -> None:
        self.log.append((self.name, frame))

    def close(self, code: int, reason: str = "") -> None:
        self.log.append((self.name, "close", code))

    def reply_error(self, call_id: int | None, code: str, message: str) -> None:
        self.log.append((self.name, "error", call_id, code))

    def encode(self, envelope: ServerEvent) -> bytes:
        raise AssertionError("raw sessions get no events")


class Host:
    def send(self, conn: Connection, message: str | bytes) -> None: ...
    def close(self, conn: Connection, code: int, reason: str) -> None: ...
    def is_closed(self, conn: Connection) -> bool:
        return False


def make() -> tuple[Outbox, list[Any], Recorder, Recorder, Connection]:
    log: list[Any] = []
    a, b = Recorder(log, "a"), Recorder(log, "b")
    conn_a, conn_b = Connection(Host(), "1", None), Connection(Host(), "2", None)
    sessions: dict[Connection, Any] = {conn_a: a, conn_b: b}
    return Outbox(sessions, NodeStats()), log, a, b, conn_a


def test_held_output_leaves_in_order_only_at_release() -> None:
    outbox, log, a, b, conn_a = make()
    outbox.gated = True
    mark = outbox.mark()
    outbox.frame(a, b"1")
    outbox.broadcast(b"2", (conn_a,), None)  # everyone but a
    outbox.close(b, 1000, "bye")
    outbox.insert_callback(mark, lambda: log.append("handshake"))  # ahead of the turn's
    assert log == []  # nothing leaves before the commit (G4)
    outbox.gated = False
    outbox.release()
    assert log == ["handshake", ("a", b"1"), ("b", b"2"), ("b", "close", 1000)]


def test_a_rolled_back_turn_keeps_only_earlier_turns_output() -> None:
    outbox, log, a, _b, _conn_a = make()
    outbox.gated = True
    outbox.frame(a, b"kept")
    mark = outbox.mark()
    outbox.frame(a, b"dropped")
    outbox.pending_calls.append((a, 7))  # type: ignore[arg-type]
    outbox.rollback(mark)
    assert outbox.pending_calls == []
    outbox.release()
    assert log == [("a", b"kept")]


def test_a_failed_commit_drops_everything_and_answers_waiting_calls() -> None:
    outbox, log, a, _b, _conn_a = make()
    outbox.gated = True
    outbox.frame(a, b"result")
    outbox.pending_calls.append((a, 3))  # type: ignore[arg-type]
    outbox.fail()
    outbox.release()
    assert log == [("a", "error", 3, "unavailable")]
    assert outbox.pending_calls == []


def test_outside_a_turn_output_leaves_at_once() -> None:
    outbox, log, a, _b, _conn_a = make()
    outbox.frame(a, b"now")
    outbox.broadcast(b"all", (), None)
    assert log == [("a", b"now"), ("a", b"all"), ("b", b"all")]
