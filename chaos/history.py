"""What a chaos run saw: operations, faults, node lives and store samples, as JSON lines.

The harness appends one record per line to ``history.jsonl`` while it runs; the checker
(:mod:`chaos.checker`) reads them back, so a run's verdict can be recomputed, and a checker
change tried, on a saved history (``python3 -m chaos check history.jsonl``). Times are
seconds on the harness's trio clock since the run started (the chaos phase, and the fault
schedule's times, begin at ``Meta.began``); they order events of one process (the harness),
never the nodes' clocks.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Union

import attrs
import trio

#: An operation's outcome: ``ok`` (a reply came), ``fail`` (certainly not applied: the request
#: never left), ``unknown`` (no reply: timed out, connection lost, an error status; it may or
#: may not have been applied).
STATUSES = ("ok", "fail", "unknown")
#: rpc methods that append to an actor's log; every other method only reads.
WRITES = frozenset({"add", "post", "transfer"})


def _log(value: Iterable[str] | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(value)


def _tuple(value: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(tuple(item) if isinstance(item, list) else item for item in value)


@attrs.frozen
class Meta:
    """The run's settings, written when the chaos phase begins (after the nodes started)."""

    seed: int
    nodes: int
    seconds: float
    sync_interval: float
    lease_ttl: float
    durable: bool
    margin: float
    total: int
    commit: str = ""  # the revision the nodes ran (--commit), "" for the working tree
    began: float = 0.0  # when the chaos phase began (the schedule's 0), in history time
    wall: float = 0.0  # the unix time of history time 0 (replies' ``turn`` times are unix)


@attrs.frozen
class Op:
    """One client operation on one actor (``actor`` is ``type/key``)."""

    id: str
    client: str
    actor: str
    method: str
    invoke: float
    complete: float
    status: str
    result: Any = None
    pid: int | None = None  # the process that served it (from the reply)
    via: int | None = None  # the node index the request was sent to (HTTP clients)
    error: str = ""
    args: dict[str, Any] | None = None  # the call's arguments (beside ``op``)

    @property
    def is_write(self) -> bool:
        return self.method in WRITES


@attrs.frozen
class Fault:
    """A fault on node ``node`` over [start, end] (``end == start`` for instant ones)."""

    kind: str
    node: int
    start: float
    end: float
    detail: str = ""


@attrs.frozen
class NodeStart:
    """Node ``node`` runs as process ``pid`` from ``t`` on (a restart gets a new pid)."""

    node: int
    pid: int
    t: float
    node_id: str = ""  # its cluster node id (the same across restarts)


@attrs.frozen
class NodeExit:
    """A node process ended; ``expected`` when the harness killed or stopped it. A node that
    could not be (re)started gets one with pid 0 and the reason in ``detail``."""

    node: int
    pid: int
    t: float
    code: int | None
    expected: bool
    detail: str = ""


@attrs.frozen
class Sample:
    """The store's ownership rows at ``t``, read in one snapshot.

    ``leases``: (actor, node_id or None, fence, live); ``states``: (actor, fence, version,
    balances or None).
    """

    t: float
    leases: tuple[tuple[str, str | None, int, bool], ...] = attrs.field(converter=_tuple)
    states: tuple[tuple[str, int, int, Any], ...] = attrs.field(converter=_tuple)


@attrs.frozen
class Final:
    """What one observer (a node over HTTP, a client over its WebSocket) read at the end."""

    observer: str
    actor: str
    log: tuple[str, ...] | None = attrs.field(converter=_log)
    balances: dict[str, int] | None = None
    error: str = ""


Record = Union[Meta, Op, Fault, NodeStart, NodeExit, Sample, Final]  # noqa: UP007
_TYPES: dict[str, type[Any]] = {
    "meta": Meta,
    "op": Op,
    "fault": Fault,
    "start": NodeStart,
    "exit": NodeExit,
    "sample": Sample,
    "final": Final,
}
_NAMES = {cls: name for name, cls in _TYPES.items()}


def dumps(record: Record) -> str:
    """One JSON line (without the newline) for ``record``."""
    return json.dumps({"type": _NAMES[type(record)], **attrs.asdict(record, recurse=False)})


def loads(line: str) -> Record:
    """The record of one JSON line; ValueError for a line that is not one."""
    data = json.loads(line)
    if not isinstance(data, dict) or data.get("type") not in _TYPES:
        raise ValueError(f"not a history record: {line[:80]!r}")
    cls = _TYPES[data.pop("type")]
    try:
        record: Record = cls(**data)
    except TypeError as exc:
        raise ValueError(f"malformed {cls.__name__} record: {exc}") from None
    return record


@attrs.define
class History:
    """The records of one run, in the order they happened; optionally mirrored to a file."""

    records: list[Record] = attrs.field(factory=list)
    sink: IO[str] | None = None
    origin: float | None = None  # the trio time of the run's start; set by :meth:`now`
    wall: float = 0.0  # the unix time then

    def now(self) -> float:
        """Seconds since the run started (the first call starts it), on trio's clock."""
        if self.origin is None:
            self.origin, self.wall = trio.current_time(), time.time()
        return trio.current_time() - self.origin

    def add(self, record: Record) -> None:
        self.records.append(record)
        if self.sink is not None:
            self.sink.write(dumps(record) + "\n")
            self.sink.flush()

    def of(self, cls: type[Any]) -> Iterator[Any]:
        return (record for record in self.records if isinstance(record, cls))

    @property
    def meta(self) -> Meta:
        for record in self.of(Meta):
            return record  # type: ignore[no-any-return]
        raise ValueError("the history has no meta record")

    @classmethod
    def load(cls, path: Path) -> History:
        with path.open() as file:
            return cls([loads(line) for line in file if line.strip()])
