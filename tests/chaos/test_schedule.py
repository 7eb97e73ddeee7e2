"""The seeded fault schedule: one seed, one schedule; never every node down at once."""

from __future__ import annotations

import pytest

from chaos.schedule import COOL_DOWN, DISRUPTIVE, KINDS, WARM_UP, plan


def test_a_seed_names_one_schedule() -> None:
    assert plan(42, 60, 3, 3.0) == plan(42, 60, 3, 3.0)
    assert plan(42, 60, 3, 3.0) != plan(43, 60, 3, 3.0)


@pytest.mark.parametrize("seed", range(30))
def test_every_fault_fits_the_run_and_one_node_is_always_spared(seed: int) -> None:
    schedule = plan(seed, 60, 3, 3.0)
    assert len(schedule) >= 10
    assert {fault.kind for fault in schedule} <= set(KINDS)
    for fault in schedule:
        assert WARM_UP <= fault.at and fault.at + fault.duration <= 60 - COOL_DOWN + 1e-6
        assert 0 <= fault.node < 3
        down = {
            other.node
            for other in schedule
            if other.kind in DISRUPTIVE and other.at <= fault.at < other.at + other.duration
        }
        assert len(down) < 3


def test_stops_mostly_outlast_the_lease() -> None:
    stops = [f for seed in range(30) for f in plan(seed, 60, 3, 3.0) if f.kind == "stop"]
    assert sum(f.duration > 3.0 for f in stops) > len(stops) / 2


def test_a_single_node_only_gets_its_connections_terminated() -> None:
    assert {fault.kind for fault in plan(1, 60, 1, 3.0)} <= {"terminate", "cut_link"}


def test_a_cluster_needs_a_node() -> None:
    with pytest.raises(ValueError):
        plan(1, 60, 0, 3.0)
