"""Delivery latency at a fixed offered load (open loop), 10 rooms x 50 members.

Messages are sent on a schedule, not in answer to deliveries, so latency is measured at a
load the server did not choose. A server that cannot keep up (it delivers less than 95 % of
the offered load, or the generator had to skip sends because too much was in flight) is
reported as such; its percentiles then describe a growing queue, not the server.
"""

from functools import partial

from bench.results import CPU_LEGEND, CPU_METRICS, Metric, Row
from bench.scenarios import Family, Scenario
from bench.scenarios.drive import run_load
from bench.servers import Server
from bench.settings import Settings

ROOMS, MEMBERS = 10, 50
KEEP_UP = 0.95

FAMILY = Family(
    name="latency",
    title=f"Latency at a fixed offered load, {ROOMS} rooms x {MEMBERS} members, 64-byte messages",
    legend=(
        "offered and achieved deliveries/s; p50/p99/p99.9: time from send to receipt of each "
        "delivery, in ms. " + CPU_LEGEND
    ),
    metrics=(
        Metric("offered_per_s", "offered/s"),
        Metric("achieved_per_s", "achieved/s"),
        Metric("p50_ms", "p50 ms", 2, ratio=True),
        Metric("p99_ms", "p99 ms", 2, ratio=True),
        Metric("p999_ms", "p99.9 ms", 2),
        *CPU_METRICS,
    ),
)


def fixed_load(rate: int, server: Server, settings: Settings, *, name: str) -> list[Row]:
    """Offer ``rate`` deliveries/s and report the latency percentiles."""
    run = run_load(
        server, settings, ["--rooms", str(ROOMS), "--members", str(MEMBERS), "--rate", str(rate)]
    )
    result, cpu = run.result, run.window
    achieved = result["deliveries"] / result["measure_s"]
    kept_up = achieved >= KEEP_UP * rate and not result["skipped"]
    note = "" if kept_up else f"CANNOT KEEP UP ({achieved:,.0f}/s delivered)"
    return [
        Row(
            name,
            server.name,
            {
                "offered_per_s": float(rate),
                "achieved_per_s": achieved,
                "p50_ms": result["lat_us"]["p50"] / 1000,
                "p99_ms": result["lat_us"]["p99"] / 1000,
                "p999_ms": result["lat_us"]["p999"] / 1000,
                **cpu.values(),
            },
            note=note,
        )
    ]


def _scenario(rate: int) -> Scenario:
    name = f"latency-{rate // 1000}k"
    return Scenario(
        name, FAMILY, f"{rate:,} deliveries/s offered", partial(fixed_load, rate, name=name)
    )


SCENARIOS = (_scenario(10_000), _scenario(100_000))
