"""Saturated room relay: how many deliveries per second, and at what CPU cost per delivery.

Closed loop: each room keeps a fixed number of messages in flight (a message is in flight
until every other member got it), so the server, not a growing socket buffer, sets the
pace. One delivery is one message arriving at one member.
"""

from functools import partial

from bench.results import CPU_LEGEND, CPU_METRICS, Metric, Row
from bench.scenarios import Family, Scenario
from bench.scenarios.drive import LoadRun, run_load
from bench.servers import Server
from bench.settings import Settings

# The generator pauses this long between its passes so that each read carries several
# frames: about a quarter less generator CPU per delivery, while queues at saturation are
# tens of milliseconds deep, so the pause does not starve the server.
BATCH_US = 100

FAMILY = Family(
    name="fanout",
    title="Saturated relay, 64-byte messages",
    legend=(
        "deliveries/s: messages received by members per second (closed loop, `window` "
        "messages in flight per room); server µs/delivery: server CPU time per delivery; "
        "p50/p99: delivery latency at saturation (queueing included), for information. "
        + CPU_LEGEND
    ),
    metrics=(
        Metric("deliveries_per_s", "deliveries/s", ratio=True),
        Metric("server_us_per_delivery", "server µs/delivery", 2, ratio=True),
        *CPU_METRICS,
        Metric("p50_ms", "p50 ms", 1),
        Metric("p99_ms", "p99 ms", 1),
    ),
)


def saturate(
    rooms: int, members: int, window: int, server: Server, settings: Settings, *, name: str
) -> list[Row]:
    """Drive ``rooms`` x ``members`` clients with ``window`` messages in flight per room."""
    window = settings.window or window
    run = run_load(
        server,
        settings,
        [
            "--rooms",
            str(rooms),
            "--members",
            str(members),
            "--window",
            str(window),
            "--batch-us",
            str(BATCH_US),
        ],
    )
    return [Row(name, server.name, relay_values(run), note=f"window {window}/room")]


def relay_values(run: LoadRun) -> dict[str, float]:
    """The family's figures from one saturated run."""
    result, cpu = run.result, run.window
    deliveries = result["deliveries"]
    return {
        "deliveries_per_s": deliveries / result["measure_s"],
        "server_us_per_delivery": 1e6 * cpu.server_cpu / deliveries if deliveries else 0.0,
        **cpu.values(),
        "p50_ms": result["lat_us"]["p50"] / 1000,
        "p99_ms": result["lat_us"]["p99"] / 1000,
    }


def _scenario(rooms: int, members: int, window: int, summary: str) -> Scenario:
    name = f"fanout-{rooms}x{members}"
    return Scenario(name, FAMILY, summary, partial(saturate, rooms, members, window, name=name))


SCENARIOS = (
    _scenario(10, 50, 16, "10 rooms x 50 members: fan-out 49"),
    _scenario(1, 500, 16, "1 room x 500 members: fan-out 499"),
    _scenario(250, 2, 8, "250 rooms x 2 members: fan-out 1, one-to-one chats and rpc"),
)
