"""The cost of forwarding between cluster nodes (issue 14, point 7).

Two roost nodes share one PostgreSQL store (a schema of their own) and a cluster secret, each
with its own data directory and port. Before each run every room of the run is made node
B's (one HTTP request to B per room: B claims the lease; the response's ``Roost-Owner`` must
name B). Then the same relay workload runs twice: the clients connected to B, the owner
(``direct``), and the clients connected to A (``forwarded``): A reads each upgrade request,
finds B owns the room and sends the connection to B over the node link (one multiplexed link
for all of them), so every frame crosses A, the link and B both ways. Ratios are forwarded
over direct in the same run; CPU is shown per node.

The nodes run with ``--request-timeout 86400``: with the default (10 s) an accepted node link
is cut after ``--request-timeout`` seconds together with every connection forwarded over it
(the link is served inside the timeout meant for reading a request head; reported for
runtime/_http_front.py), which would end every forwarded run after 10 s.
"""

import http.client
from collections.abc import Callable
from contextlib import ExitStack
from functools import partial

from bench import pg, proc
from bench.results import Metric, Row
from bench.scenarios import Family, Scenario
from bench.scenarios.drive import LoadRun, run_generator
from bench.scenarios.fanout import BATCH_US
from bench.scenarios.latency import KEEP_UP
from bench.servers import (
    HOST,
    ROOST,
    SERVERS,
    BenchError,
    Running,
    Server,
    python_version,
    relay_command,
    running,
)
from bench.settings import Settings

SECRET = "roost-bench-forward"
#: Work around the link cut after --request-timeout (see the module docstring).
LINK_WORKAROUND = ("--request-timeout", "86400")

FAMILY = Family(
    name="forward",
    title="Forwarding between two cluster nodes (PostgreSQL store): clients on A, rooms on B",
    legend=(
        "roost only. roost: every client connected to B, the node owning its room (direct); "
        "roost-fwd: every client connected to A, which forwards each connection to B over "
        "their node link; the /roost columns are forwarded over direct in the same run. "
        "Saturated rows: closed loop as in the relay table (deliveries/s, p50/p99 include "
        "queueing); rate rows: open loop at a fixed offered load (10 rooms x 50), p50/p99 "
        "are then the latency a client sees at that load. server µs/delivery: CPU of both "
        "nodes per delivery; node A/B CPU %: each node's share of one core. Nodes: `roost "
        "serve examples/relay.py --store postgresql://... --cluster-secret S "
        f"{' '.join(LINK_WORKAROUND)}`. gen/other CPU % as in the relay table."
    ),
    metrics=(
        Metric("deliveries_per_s", "deliveries/s", ratio=True),
        Metric("server_us_per_delivery", "server µs/delivery", 2, ratio=True),
        Metric("a_cpu_pct", "node A CPU %"),
        Metric("b_cpu_pct", "node B CPU %"),
        Metric("generator_cpu_pct", "gen CPU %"),
        Metric("other_cpu_pct", "other CPU %"),
        Metric("p50_ms", "p50 ms", 1, ratio=True),
        Metric("p99_ms", "p99 ms", 1, ratio=True),
    ),
)

#: (case, generator arguments): two saturated relays and one fixed load.
CASES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("250x2", ("--rooms", "250", "--members", "2", "--window", "8", "--batch-us", str(BATCH_US))),
    ("10x50", ("--rooms", "10", "--members", "50", "--window", "16", "--batch-us", str(BATCH_US))),
    ("10x50 at 10k/s", ("--rooms", "10", "--members", "50", "--rate", "10000")),
)


def _node(name: str, store: str) -> Server:
    return Server(
        name=name,
        protocol="ws",
        command=relay_command(
            str(ROOST), "--store", store, "--cluster-secret", SECRET, *LINK_WORKAROUND
        ),
        missing=SERVERS["roost"].missing,
        describe=lambda: f"roost {python_version('roost')} cluster node",
    )


def forwarding(server: Server, settings: Settings, *, name: str) -> list[Row]:
    """Each case direct (clients on B), then forwarded (clients on A), on the same two nodes."""
    reason = pg.missing()
    if reason:  # like sync: a row that says why, not a failed run
        return [Row("forward", "roost", case=name, note=f"not run: {reason}")]
    rows = []
    with ExitStack() as stack:
        store = stack.enter_context(pg.fresh_schema("roost_bench_fwd", "roost-bench-forward"))
        a = stack.enter_context(running(_node("roost-a", store), settings.workdir))
        b = stack.enter_context(running(_node("roost-b", store), settings.workdir))
        for case, args in CASES:
            rooms = int(args[args.index("--rooms") + 1])
            for label, target in (("roost", b), ("roost-fwd", a)):
                prefix = f"{case.split()[0]}-{label}-r"
                _make_owned(b, prefix, rooms)
                rows.append(_measure(a, b, target, args, prefix, settings, f"{name}-{case}", label))
    return rows


def _make_owned(owner: Running, prefix: str, rooms: int) -> None:
    """One request per room to ``owner``: it claims each room's lease (Roost-Owner says so)."""
    wanted = f"{HOST}:{owner.port}"
    connection = http.client.HTTPConnection(HOST, owner.port, timeout=30)
    try:
        for index in range(rooms):
            connection.request("GET", f"/relay/{prefix}{index}")
            response = connection.getresponse()
            response.read()
            got = response.getheader("roost-owner")
            if got != wanted:
                raise BenchError(f"room {prefix}{index}: Roost-Owner {got!r}, expected {wanted}")
    finally:
        connection.close()


def _measure(
    a: Running,
    b: Running,
    target: Running,
    args: tuple[str, ...],
    prefix: str,
    settings: Settings,
    case: str,
    label: str,
) -> Row:
    argv = [*args, "--room-name", prefix]
    argv += ["--warmup", str(settings.warmup), "--duration", str(settings.duration)]
    both: Callable[[], dict[str, float]] = partial(_node_cpu, a.pid, b.pid)
    run = run_generator(target, settings, argv, at_marks=both)
    return Row("forward", label, _values(run, target is a), case=case, note=_note(run, args))


def _node_cpu(a: int, b: int) -> dict[str, float]:
    """CPU seconds of node A and node B (with their child processes), and the machine's soft
    interrupts (loopback network work, part of "other")."""
    found = {name: proc.cpu_seconds(proc.process_tree(pid)) for name, pid in (("a", a), ("b", b))}
    return {"softirq": proc.softirq_seconds(), **found}


def _values(run: LoadRun, on_a: bool) -> dict[str, float]:
    result, window = run.result, run.window
    start, end = run.marks["measure"], run.marks["drain"]
    a_cpu, b_cpu = end["a"] - start["a"], end["b"] - start["b"]
    untargeted = b_cpu if on_a else a_cpu  # counted as "other" by the window
    deliveries = result["deliveries"]
    wall = window.wall or 1.0
    return {
        "deliveries_per_s": deliveries / result["measure_s"],
        "server_us_per_delivery": 1e6 * (a_cpu + b_cpu) / deliveries if deliveries else 0.0,
        "a_cpu_pct": 100 * a_cpu / wall,
        "b_cpu_pct": 100 * b_cpu / wall,
        "generator_cpu_pct": window.generator_pct,
        "other_cpu_pct": max(0.0, 100 * (window.other_cpu - untargeted) / wall),
        "p50_ms": result["lat_us"]["p50"] / 1000,
        "p99_ms": result["lat_us"]["p99"] / 1000,
    }


def _note(run: LoadRun, args: tuple[str, ...]) -> str:
    """The machine's soft-interrupt share; for a fixed load, whether the nodes kept up."""
    start, end = run.marks["measure"], run.marks["drain"]
    note = f"softirq {100 * (end['softirq'] - start['softirq']) / (run.window.wall or 1.0):.0f} %"
    if "--rate" not in args:
        return note
    rate = float(args[args.index("--rate") + 1])
    achieved = run.result["deliveries"] / run.result["measure_s"]
    if achieved < KEEP_UP * rate or run.result["skipped"]:
        note += f"; CANNOT KEEP UP ({achieved:,.0f}/s delivered)"
    return note


SCENARIOS = (
    Scenario(
        "forward",
        FAMILY,
        "two cluster nodes on PostgreSQL: relay clients on the owner vs on the other node",
        partial(forwarding, name="forward"),
        only=frozenset({"roost"}),
    ),
)
