"""Scenario registry: each family module contributes scenarios; the CLI picks among them.

A scenario starts its own server (so it controls the server's state before measuring, as
the idle-connection scenario must), drives it, and returns rows. To add a family, write a
module with a ``SCENARIOS`` tuple and list it in ``FAMILY_MODULES``.
"""

from collections.abc import Callable

import attrs

from bench.results import Metric, Row
from bench.servers import Server
from bench.settings import Settings


@attrs.frozen
class Family:
    """A group of scenarios rendered as one table with the same columns."""

    name: str
    title: str
    legend: str
    metrics: tuple[Metric, ...]


@attrs.frozen
class Scenario:
    """One named workload; ``run`` drives one server through it and returns its rows.

    ``only`` names the servers the scenario applies to (None: all). The lifecycle scenarios
    (activations, hibernation, alarms) measure roost features no peer has, so they run on
    roost alone and the CLI skips the other servers for them.
    """

    name: str
    family: Family
    summary: str
    run: Callable[[Server, Settings], list[Row]]
    only: frozenset[str] | None = None


def all_scenarios() -> dict[str, Scenario]:
    """Every registered scenario by name, in table order."""
    from bench.scenarios import (
        alarms,
        cold,
        fanout,
        forward,
        hibernate,
        idle,
        latency,
        sync,
        transfer,
        workers,
        yjs,
    )

    family_modules = (
        fanout,
        workers,
        latency,
        idle,
        cold,
        hibernate,
        alarms,
        transfer,
        sync,
        yjs,
        forward,
    )
    return {s.name: s for module in family_modules for s in module.SCENARIOS}
