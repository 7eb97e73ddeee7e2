"""Idle connections: server memory per connection and handshakes per second.

One server run opens 1k, then 5k, then 10k connections (rooms of 100 members), reading the
server's resident memory after each step. Memory per connection is the growth over the
memory before the first connection, divided by the connections open; handshakes/s is the
rate at which that step's connections completed their upgrade (64 handshakes in flight).
"""

import time

from bench import proc
from bench.loadgen import Generator
from bench.results import CPU_LEGEND, CPU_METRICS, Metric, Row
from bench.scenarios import Family, Scenario
from bench.scenarios.drive import Sample, Window, check
from bench.servers import Server, running
from bench.settings import Settings

STEPS = (1_000, 5_000, 10_000)
ROOM_SIZE = 100
SETTLE = 0.5  # seconds for the server to finish its work for the last connections

FAMILY = Family(
    name="idle",
    title=f"Idle connections (rooms of {ROOM_SIZE})",
    legend=(
        "KB/conn: growth of the server's RSS over its RSS before the first connection, per "
        "open connection (KiB); handshakes/s: upgrades completed per second in that step, "
        "64 in flight. " + CPU_LEGEND + " CPU is measured during that step's handshakes."
    ),
    metrics=(
        Metric("kib_per_conn", "KB/conn", 1, ratio=True),
        Metric("handshakes_per_s", "handshakes/s", ratio=True),
        *CPU_METRICS,
    ),
)


def idle(server: Server, settings: Settings) -> list[Row]:
    """Open the steps of idle connections and measure memory and handshake rate."""
    rows = []
    steps = ",".join(str(n) for n in STEPS)
    with running(server, settings.workdir) as srv:
        time.sleep(SETTLE)
        baseline = proc.rss_kib(proc.process_tree(srv.pid))
        with Generator(
            settings.generator,
            srv,
            ["--idle-steps", steps, "--room-size", str(ROOM_SIZE)],
            settings.workdir,
        ) as gen:
            previous, start = 0, Sample.take(srv.pid, gen.pid)
            result = None
            for event in gen.events():
                if event["event"] == "connected":
                    cpu = Window.between(start, Sample.take(srv.pid, gen.pid))
                    if event["errors"] or event["open"] != event["target"]:
                        continue  # the generator stops by itself and reports its errors
                    time.sleep(SETTLE)
                    rss = proc.rss_kib(proc.process_tree(srv.pid))
                    opened = event["open"]
                    rows.append(
                        Row(
                            "idle",
                            server.name,
                            case=f"idle-{opened // 1000}k",
                            values={
                                "kib_per_conn": (rss - baseline) / opened,
                                "handshakes_per_s": (opened - previous) / event["seconds"],
                                **cpu.values(),
                            },
                        )
                    )
                    previous = opened
                    start = Sample.take(srv.pid, gen.pid)
                    gen.proceed()
                elif event["event"] == "result":
                    result = event
            code = gen.finish()
            check(srv, gen, result, code)
    return rows


SCENARIOS = (Scenario("idle", FAMILY, "1k, 5k, 10k idle connections", idle),)
