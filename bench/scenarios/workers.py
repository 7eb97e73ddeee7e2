"""Saturated relay with ``roost serve --workers 2`` beside one worker (issue 14, point 7).

The same closed-loop relay as ``fanout`` (250 rooms x 2, 10 rooms x 50), run for roost three
times in a row: one process (``--workers 1``, the default), two worker processes under a
supervisor (``--workers 2``), then the usual peers. With two workers the kernel spreads the
accepted connections over both, so about half the rooms get members on both workers: the
member that reached the worker not owning the room is handed to the owner once, at its
upgrade, with SCM_RIGHTS (runtime/_handoff.py), and from then on the owner reads and writes
its socket itself. The rows say how many connections changed hands (``roost_handoffs_total``
over every worker) and how the server CPU split between the workers, so a ratio below two
can be read: on a 2-core machine the generator and the kernel's loopback work take their
share of the same two cores.
"""

import os
from functools import partial
from pathlib import Path

from bench import probe, proc
from bench.results import Row
from bench.scenarios import Family, Scenario, fanout
from bench.scenarios.drive import run_generator
from bench.scenarios.fanout import BATCH_US, relay_values, saturate
from bench.servers import ROOST, SERVERS, Server, python_version, relay_command, running
from bench.settings import Settings

WORKERS = 2

FAMILY = Family(
    name="workers",
    title=f"Saturated relay, roost --workers {WORKERS} beside one process, 64-byte messages",
    legend=(
        "roost: one process (`--workers 1`, the default); roost-w2: `roost serve "
        f"examples/relay.py --workers {WORKERS}` (a supervisor and two workers on one port); the "
        "/roost columns are the same-run ratios. The note counts the connections handed to "
        "the other worker (SCM_RIGHTS, once per connection) and gives each worker's CPU. "
        + fanout.FAMILY.legend
    ),
    metrics=fanout.FAMILY.metrics,
)


def _roost_workers(count: int) -> Server:
    """roost serving examples/relay.py with ``--workers count``."""
    return Server(
        name=f"roost-w{count}",
        protocol="ws",
        command=relay_command(str(ROOST), "--workers", str(count)),
        missing=SERVERS["roost"].missing,
        describe=lambda: f"roost {python_version('roost')} examples/relay.py --workers {count}",
    )


def scale(
    rooms: int, members: int, window: int, server: Server, settings: Settings, *, name: str
) -> list[Row]:
    """roost with one worker, then with ``WORKERS``; a peer as in ``fanout``."""
    if server.name != "roost":
        return saturate(rooms, members, window, server, settings, name=name)
    return [
        _roost_run(server, rooms, members, window, settings, name=name),
        _roost_run(_roost_workers(WORKERS), rooms, members, window, settings, name=name),
    ]


def _roost_run(
    server: Server, rooms: int, members: int, window: int, settings: Settings, *, name: str
) -> Row:
    window = settings.window or window
    args = [
        *("--rooms", str(rooms), "--members", str(members), "--window", str(window)),
        *("--batch-us", str(BATCH_US), "--room-name", f"{server.name}-r"),
        *("--warmup", str(settings.warmup), "--duration", str(settings.duration)),
    ]
    with running(server, settings.workdir) as srv:
        run = run_generator(srv, settings, args, at_marks=partial(_worker_cpu, srv.pid))
        totals = probe.metric_totals(srv)
    split = _split(run.marks.get("measure", {}), run.marks.get("drain", {}), run.window.wall)
    note = f"window {window}/room; {split}"
    if server.name != "roost":
        handed = totals.get("roost_handoffs_total", 0.0)
        linked = totals.get("roost_forwards_total", 0.0)
        note += (
            f"; {handed:,.0f} of {rooms * members} connections handed to the other worker"
            f", {linked:,.0f} over a link"
        )
    return Row(name, server.name, relay_values(run), note=note)


def _worker_cpu(supervisor: int) -> dict[int, float]:
    """CPU seconds of each direct child of ``supervisor`` (its workers), with their children;
    key 0: the machine's soft-interrupt seconds (loopback network work)."""
    found = {child: proc.cpu_seconds(proc.process_tree(child)) for child in _children(supervisor)}
    return {0: proc.softirq_seconds(), **found}


def _children(pid: int) -> list[int]:
    found: list[int] = []
    task_dir = Path(f"/proc/{pid}/task")
    try:
        tasks = os.listdir(task_dir)
    except OSError:
        return found
    for task in tasks:
        try:
            found += [int(c) for c in (task_dir / task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _split(start: dict[int, float], end: dict[int, float], wall: float) -> str:
    """Each worker's share of one core over the window and the machine's soft interrupts,
    "61/58, softirq 40" (the split is empty for one process)."""
    if wall <= 0:
        return ""
    shares = [100 * (end[pid] - start.get(pid, 0.0)) / wall for pid in sorted(end)]
    softirq = f"softirq {shares[0]:.0f} %" if 0 in end else ""
    workers = "/".join(f"{share:.0f}" for share in shares[1:])
    return f"worker CPU % {workers}; {softirq}" if len(shares) > 2 else softirq


def _scenario(rooms: int, members: int, window: int) -> Scenario:
    name = f"workers-{rooms}x{members}"
    return Scenario(
        name,
        FAMILY,
        f"{rooms} rooms x {members}: roost --workers 1, then --workers {WORKERS}, then peers",
        partial(scale, rooms, members, window, name=name),
    )


SCENARIOS = (_scenario(250, 2, 8), _scenario(10, 50, 16))
