"""One chaos run, from an empty schema to the verdict.

Start the proxies and the nodes, the store poller and the clients; inject the seeded faults
for ``seconds``; stop the clients, end every fault (resume, reconnect, restart), read the
final state from every node, every client and the store; stop the nodes gracefully; check
the history. The run's directory keeps the history (``history.jsonl``) and each node's log.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import attrs
import psycopg
import trio
from psycopg import sql

from . import cluster, observer, schedule, source
from .app import TOTAL
from .checker import check
from .history import Fault, History, Meta, Op
from .proxy import Proxy
from .stats import figures
from .violation import Violation
from .workload import ACTORS, Workload

#: Seconds between the end of every fault and the final reads.
SETTLE = 2.0


@attrs.frozen
class Options:
    """A run's knobs (the command line's flags)."""

    seed: int
    seconds: float = 60.0
    nodes: int = 3
    lease_ttl: float = 3.0
    sync_interval: float = 0.2
    margin: float = 0.5
    durable: bool = False
    pg_url: str = "postgresql://postgres@127.0.0.1:5432/test"
    ws_clients: int = 2  # per actor
    http_clients: int = 3
    workdir: Path | None = None
    keep: bool = False
    commit: str | None = None  # run the nodes from this git revision (chaos.source)
    slow: float = 0.04  # the share of counter increments whose turn awaits 1-4 s


@attrs.frozen
class Outcome:
    """What a run found."""

    ops: int
    faults: int
    violations: list[Violation]
    workdir: Path
    figures: list[str]  # chaos.stats' lines

    @property
    def count(self) -> int:
        return sum(1 + v.more for v in self.violations)

    def summary(self) -> str:
        return f"{self.ops} ops, {self.faults} faults, {self.count} violations"


def _schema_url(pg_url: str, schema: str) -> str:
    separator = "&" if "?" in pg_url else "?"
    return f"{pg_url}{separator}options=-csearch_path%3D{schema}"


def _admin(pg_url: str, statement: sql.Composed) -> None:
    with psycopg.connect(pg_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(statement)


async def run(options: Options, *, say: Any = print) -> Outcome:
    """One run; ``say`` gets the progress lines (``print`` by default)."""
    run_id = uuid.uuid4().hex[:8]
    workdir = options.workdir or Path(tempfile.mkdtemp(prefix=f"roost-chaos-{options.seed}-"))
    workdir.mkdir(parents=True, exist_ok=True)
    if options.commit is not None:
        options = attrs.evolve(options, commit=source.resolve(options.commit))
    schema = f"chaos_{run_id}"
    await trio.to_thread.run_sync(
        _admin, options.pg_url, sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema))
    )
    say(f"chaos: seed {options.seed}, {options.nodes} nodes, {options.seconds:g} s; in {workdir}")
    try:
        with (workdir / "history.jsonl").open("w") as sink:
            history = History(sink=sink)
            await _run(options, history, workdir, schema, run_id, say)
    finally:
        if not options.keep:
            statement = sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
            await trio.to_thread.run_sync(_admin, options.pg_url, statement)
    violations = check(history)
    outcome = Outcome(
        sum(1 for _ in history.of(Op)),
        sum(1 for _ in history.of(Fault)),
        violations,
        workdir,
        figures(history).lines(),
    )
    if not violations and not options.keep and options.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return outcome


async def _run(
    options: Options, history: History, workdir: Path, schema: str, run_id: str, say: Any
) -> None:
    history.now()  # the run's times count from here
    pythonpath = None
    if options.commit is not None:
        pythonpath = await trio.to_thread.run_sync(source.extract, options.commit, workdir)
        say(f"chaos: the nodes run roost at {options.commit}")
    settings = cluster.Settings(
        pg_url=options.pg_url, schema=schema, run_id=run_id, secret=secrets.token_urlsafe(24),
        lease_ttl=options.lease_ttl, sync_interval=options.sync_interval, workdir=workdir,
        pythonpath=pythonpath, durable=options.durable,
    )  # fmt: skip
    target = psycopg.conninfo.conninfo_to_dict(options.pg_url)
    pg = (str(target.get("host", "127.0.0.1")), int(str(target.get("port", 5432))))
    plan = schedule.plan(options.seed, options.seconds, options.nodes, options.lease_ttl)
    nodes: list[cluster.Node] = []
    store_url = _schema_url(options.pg_url, schema)
    async with trio.open_nursery() as infra:
        for index in range(options.nodes):
            store_proxy, link_proxy = Proxy(f"store-{index}", pg), Proxy(f"link-{index}")
            await infra.start(store_proxy.serve)
            await infra.start(link_proxy.serve)
            nodes.append(cluster.Node(index, settings, history, store_proxy, link_proxy))
        try:
            for node in nodes:  # one at a time: the first creates the tables
                await node.start(infra)
            say(f"chaos: nodes {cluster.describe(nodes)}")
            await infra.start(observer.poll, store_url, history)
            await _drive(options, history, nodes, plan, infra, say)
            await trio.sleep(options.sync_interval * 3 + 0.5)  # the last syncs land
            await observer.final_states(store_url, history)
        finally:
            with trio.CancelScope(shield=True):
                async with trio.open_nursery() as stopping:
                    for node in nodes:
                        stopping.start_soon(node.terminate)
            infra.cancel_scope.cancel()


async def _drive(
    options: Options,
    history: History,
    nodes: list[cluster.Node],
    plan: list[schedule.Planned],
    infra: trio.Nursery,
    say: Any,
) -> None:
    """The chaos phase, then the healing and the final reads."""
    start = trio.current_time()
    history.add(
        Meta(
            options.seed, options.nodes, options.seconds, options.sync_interval,
            options.lease_ttl, options.durable, options.margin, TOTAL, options.commit or "",
            began=history.now(), wall=history.wall,
        )
    )  # fmt: skip
    workload = Workload(history, options.seed, slow=options.slow)
    async with trio.open_nursery() as clients:
        urls = [node.url for node in nodes]
        for a, actor in enumerate(ACTORS):
            for i in range(options.ws_clients):
                first = (a + i) % len(urls)  # each client starts at another node
                rotated = urls[first:] + urls[:first]
                clients.start_soon(workload.ws_client, f"w{a}.{i}", actor, rotated)
        for i in range(options.http_clients):
            clients.start_soon(workload.http_client, f"h{i}", lambda: [n.port for n in nodes])
        async with trio.open_nursery() as faults:
            for planned in plan:
                await trio.sleep_until(start + planned.at)
                faults.start_soon(cluster.inject, nodes[planned.node], planned, infra)
            await trio.sleep_until(start + options.seconds)
            workload.stop.set()
        await cluster.heal(nodes, infra)
        say(f"chaos: healed after {trio.current_time() - start:.1f} s; reading the final state")
        await workload.settled()  # no write of a client is still on its way
        # A request a client gave up on may still sit in a node that was frozen until now:
        # let it land before anyone reads the final state, or observers would differ.
        await trio.sleep(SETTLE)
        workload.final_deadline = trio.current_time() + 20
        workload.final.set()
        for node in nodes:
            for actor in ACTORS:
                clients.start_soon(workload.node_final, node.index, node.port, actor)
