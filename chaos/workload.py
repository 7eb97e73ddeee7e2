"""The chaos clients: increments, transfers and chat messages, every one recorded.

Two kinds of clients drive the actors of :mod:`chaos.app` at once: WebSocket clients
(:func:`roost.client.connect` given every node's URL, each starting at a different node, so
most calls are forwarded to the owner) and HTTP rpc clients that send each call to a random
node. Each operation gets an id no other operation has (``<client>-<n>``) and one history
record with its invoke and completion times, its outcome and the serving process.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, contextmanager
from typing import Any

import attrs
import h11
import trio

from roost import ConnectionClosed as ClientClosed
from roost import RoostError, RpcError
from roost.client import ActorClient, connect

from .app import ACCOUNTS
from .history import Final, History, Op

#: The actors the clients share: a few counters, a chat room, a ledger.
ACTORS = ("counter/c0", "counter/c1", "counter/c2", "chat/room", "ledger/bank")
CALL_TIMEOUT = 5.0
#: The share of counter increments whose turn awaits 1-4 s before it writes.
SLOW = 0.04
#: What a failed call is: a connection that never opened is ``fail`` (certainly not sent);
#: everything else (a timeout, a lost connection, an error reply) is ``unknown``.
Outcome = tuple[str, Any, str]


def choose(
    rng: random.Random, actor: str, op_id: str, slow: float = SLOW
) -> tuple[str, dict[str, Any]]:
    """The next call on ``actor``: mostly writes, a fifth reads, a few slow increments."""
    kind = actor.split("/", 1)[0]
    read = rng.random() < 0.2
    if kind == "ledger":
        if read:
            return "balances", {}
        src, dst = rng.sample(ACCOUNTS, 2)
        return "transfer", {"op": op_id, "src": src, "dst": dst, "amount": rng.randint(1, 400)}
    if read:
        return "read", {}
    if kind == "chat":
        return "post", {"op": op_id, "text": f"hello from {op_id}"}
    if rng.random() < slow:  # a turn that awaits: it may outlive its lease
        return "add", {"op": op_id, "pause": round(rng.uniform(1.0, 4.0), 2)}
    return "add", {"op": op_id}


@attrs.define
class Workload:
    """Shared by every client of a run: the history, the seed, the stop and final signals."""

    history: History
    seed: int
    think: tuple[float, float] = (0.05, 0.15)
    slow: float = SLOW  # the share of slow increments
    stop: trio.Event = attrs.field(factory=trio.Event)
    final: trio.Event = attrs.field(factory=trio.Event)
    final_deadline: float = 0.0
    in_flight: int = 0  # operations started and not yet recorded
    _quiet: trio.Event = attrs.field(factory=trio.Event)

    def rng(self, name: str) -> random.Random:
        return random.Random(f"{self.seed}/{name}")

    @contextmanager
    def operation(self) -> Iterator[None]:
        """Count an operation as in flight until its outcome is recorded."""
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1
            if not self.in_flight:
                self._quiet.set()

    async def settled(self) -> None:
        """Every operation a client started has its outcome (each ends within its timeout).

        The final reads start only then: a write still in flight lands after some observers
        read and before others, which would look like observers that disagree (it did: a
        client's increment, delayed by a node that had been frozen, landed between the
        nodes' final reads and the clients' own).
        """
        while self.in_flight:
            self._quiet = trio.Event()
            await self._quiet.wait()

    def record(
        self, name: str, op_id: str, actor: str, method: str, invoke: float, outcome: Outcome,
        via: int | None = None, args: dict[str, Any] | None = None,
    ) -> None:  # fmt: skip
        status, value, error = outcome
        pid = value.get("pid") if isinstance(value, dict) else None
        args = {k: v for k, v in (args or {}).items() if k not in ("op", "text")} or None
        self.history.add(
            Op(op_id, name, actor, method, invoke, self.history.now(), status, value, pid, via,
               error, args)
        )  # fmt: skip

    async def ws_client(self, name: str, actor: str, urls: Sequence[str]) -> None:
        """One WebSocket client of one actor until ``stop``; then its view of the end."""
        rng = self.rng(name)
        numbers = itertools.count(1)
        targets = [f"{url}/{actor}" for url in urls]
        while not self.stop.is_set():
            try:
                async with self._connect(targets) as client:
                    while not self.stop.is_set():
                        op_id = f"{name}-{next(numbers)}"
                        method, args = choose(rng, actor, op_id, self.slow)
                        with self.operation():
                            invoke = self.history.now()
                            outcome = await _call(client.call, method, args)
                            self.record(name, op_id, actor, method, invoke, outcome, args=args)
                        if outcome[2].startswith("ConnectionClosed"):
                            break  # this client is over: open another
                        await trio.sleep(rng.uniform(*self.think))
                    else:
                        await self.final.wait()
                        if await self._final_read(name, actor, client.call):
                            return
            except RoostError:  # no node answered the first connection, or a close
                await trio.sleep(0.2)
        # Stopped without a usable connection: a fresh one for the final read.
        await self.final.wait()
        error = "no connection"
        while trio.current_time() < self.final_deadline:
            try:
                async with self._connect(targets) as client:
                    if await self._final_read(name, actor, client.call):
                        return
            except RoostError as exc:
                error = f"{type(exc).__name__}: {exc}"
            await trio.sleep(0.3)
        self.history.add(Final(name, actor, None, None, f"no final read: {error}"))

    def _connect(self, targets: list[str]) -> AbstractAsyncContextManager[ActorClient]:
        # Pings every second: a client of a frozen node (SIGSTOP) notices within 3 s and
        # moves on to the next URL; with the default 20 s + 20 s it waits for the node.
        return connect(
            targets, call_timeout=CALL_TIMEOUT, backoff_initial=0.05, backoff_max=1.0,
            connect_timeout=3.0, ping_interval=1.0, ping_timeout=2.0,
        )  # fmt: skip

    async def _final_read(self, name: str, actor: str, call: Callable[..., Any]) -> bool:
        """Read the final state until the deadline; False if the client is over."""
        error = ""
        while trio.current_time() < self.final_deadline:
            status, value, error = await _call(call, "dump", {})
            if status == "ok":
                self.history.add(Final(name, actor, value["log"], value["balances"]))
                return True
            if error.startswith("ConnectionClosed"):
                return False
            await trio.sleep(0.3)
        self.history.add(Final(name, actor, None, None, f"no final read: {error}"))
        return True

    async def http_client(self, name: str, ports: Callable[[], list[int]]) -> None:
        """Calls to random actors through random nodes until ``stop``."""
        rng = self.rng(name)
        count = 0
        while not self.stop.is_set():
            count += 1
            op_id = f"{name}-{count}"
            actor = rng.choice(ACTORS)
            method, args = choose(rng, actor, op_id, self.slow)
            via = rng.randrange(len(ports()))
            with self.operation():
                invoke = self.history.now()
                outcome = await http_rpc(ports()[via], actor, method, args)
                self.record(name, op_id, actor, method, invoke, outcome, via, args)
            await trio.sleep(rng.uniform(*self.think))

    async def node_final(self, index: int, port: int, actor: str) -> None:
        """Node ``index``'s view of ``actor`` at the end, over HTTP rpc."""
        error = ""
        while trio.current_time() < self.final_deadline:
            status, value, error = await http_rpc(port, actor, "dump", {})
            if status == "ok":
                self.history.add(Final(f"node{index}", actor, value["log"], value["balances"]))
                return
            await trio.sleep(0.3)
        self.history.add(Final(f"node{index}", actor, None, None, f"no final read: {error}"))


async def _call(call: Callable[..., Any], method: str, args: dict[str, Any]) -> Outcome:
    try:
        with trio.fail_after(CALL_TIMEOUT + 1):
            return "ok", await call(method, **args), ""
    except ClientClosed as exc:
        return "unknown", None, f"ConnectionClosed: {exc}"
    except RpcError as exc:
        return "unknown", None, f"{type(exc).__name__}: {exc}"
    except trio.TooSlowError:
        return "unknown", None, "TooSlowError"


async def http_rpc(port: int, actor: str, method: str, args: dict[str, Any]) -> Outcome:
    """``POST /<actor>/rpc/<method>`` with a JSON body on a fresh connection."""
    try:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
    except OSError as exc:
        return "fail", None, f"connect: {exc}"
    body = json.dumps(args).encode()
    conn = h11.Connection(h11.CLIENT)
    headers = [
        ("host", "127.0.0.1"),
        ("content-type", "application/json"),
        ("content-length", str(len(body))),
        ("connection", "close"),
    ]
    request = h11.Request(method="POST", target=f"/{actor}/rpc/{method}", headers=headers)
    status, data = 0, bytearray()
    try:
        with trio.fail_after(CALL_TIMEOUT):
            async with stream:
                await stream.send_all(
                    conn.send(request)
                    + conn.send(h11.Data(data=body))
                    + conn.send(h11.EndOfMessage())
                )
                while True:
                    event = conn.next_event()
                    if event is h11.NEED_DATA:
                        conn.receive_data(await stream.receive_some(65536))
                    elif isinstance(event, h11.Response):
                        status = event.status_code
                    elif isinstance(event, h11.Data):
                        data += event.data
                    elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                        break
    except (trio.TooSlowError, OSError, trio.BrokenResourceError, h11.ProtocolError) as exc:
        return "unknown", None, f"{type(exc).__name__}: {exc}"
    if status != 200:
        return "unknown", None, f"HTTP {status}: {bytes(data[:200]).decode(errors='replace')}"
    try:
        return "ok", json.loads(data)["value"], ""
    except (ValueError, KeyError, TypeError) as exc:
        return "unknown", None, f"bad reply: {exc}"
