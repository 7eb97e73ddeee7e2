"""The metrics exporter: our plain counters rendered by prometheus-client and parsed back."""

from __future__ import annotations

import attrs
import prometheus_client
import pytest
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics import parser as openmetrics_parser
from prometheus_client.parser import text_string_to_metric_families

from roost.runtime._metrics import Gauges, MetricsExporter
from roost.runtime._stats import NodeStats

GAUGES = Gauges(
    connections=7,
    actors_active=5,
    actors_hibernated=3,
    alarms_pending=11,
    alarms_quarantined=2,
    open_databases=4,
    sync_pending=9,
    sync_lag_seconds=1.5,
    leases_held=13,
    cluster_nodes=3,
    wal_checkpoints_pending=2,
)
# Exposed name -> (NodeStats attribute, value). The quarantine counter is not named
# roost_alarms_quarantined_total: its family would clash with the roost_alarms_quarantined gauge.
COUNTERS = {
    "roost_activations_total": ("activations_total", 12),
    "roost_evictions_total": ("evictions_total", 6),
    "roost_hibernations_total": ("hibernations_total", 3),
    "roost_messages_received_total": ("messages_received_total", 40),
    "roost_messages_sent_total": ("messages_sent_total", 120),
    "roost_slow_consumer_disconnects_total": ("slow_consumer_disconnects_total", 1),
    "roost_alarms_fired_total": ("alarms_fired_total", 17),
    "roost_alarm_failures_total": ("alarm_failures_total", 5),
    "roost_alarm_quarantines_total": ("alarms_quarantined_total", 2),
    "roost_sync_batches_total": ("sync_batches_total", 10),
    "roost_turns_grouped_total": ("turns_grouped_total", 13),
    "roost_sync_failures_total": ("sync_failures_total", 11),
    "roost_sync_snapshot_failures_total": ("sync_snapshot_failures_total", 4),
    "roost_lease_claims_total": ("lease_claims_total", 21),
    "roost_self_fences_total": ("self_fences_total", 2),
    "roost_forwards_total": ("forwards_total", 17),
    "roost_handoffs_total": ("handoffs_total", 19),
    "roost_takeovers_total": ("takeovers_total", 3),
    "roost_remote_calls_total": ("remote_calls_total", 23),
    "roost_durable_entries_total": ("durable_entries_total", 29),
    "roost_durable_rebuild_failures_total": ("durable_rebuild_failures_total", 31),
    "roost_wal_checkpoints_total": ("wal_checkpoints_total", 37),
    "roost_wal_checkpoint_failures_total": ("wal_checkpoint_failures_total", 1),
}
# One value per region of the turn buckets, including exactly on a bound and past the last one.
TURNS = [0.00005, 0.0001, 0.0003, 0.003, 0.003, 0.2, 0.9, 4.0]
LATENESS = [0.0, 0.002, 0.07, 0.07, 12.0, 60.0]


def busy_stats() -> NodeStats:
    stats = NodeStats()
    for attr, count in COUNTERS.values():
        setattr(stats, attr, count)
    for value in TURNS:
        stats.turn_seconds.observe(value)
    for value in LATENESS:
        stats.alarm_lateness_seconds.observe(value)
    return stats


def scrape(exporter: MetricsExporter) -> dict[str, Metric]:
    body, content_type = exporter.render()
    assert content_type.startswith("text/plain")
    return {family.name: family for family in text_string_to_metric_families(body.decode())}


def value(family: Metric, sample_name: str, **labels: str) -> float:
    [found] = [s.value for s in family.samples if s.name == sample_name and s.labels == labels]
    return found


def check_histogram(family: Metric, observed: list[float], bounds: tuple[float, ...]) -> None:
    """Buckets cumulative (count of values <= le), ending with +Inf == _count; _sum right."""
    assert family.type == "histogram"
    buckets = [(s.labels["le"], s.value) for s in family.samples if s.name.endswith("_bucket")]
    assert [le for le, _ in buckets] == [*(repr(b) for b in bounds), "+Inf"]
    for le, count in buckets:
        assert count == sum(1 for v in observed if v <= float(le)), le
    counts = [count for _, count in buckets]
    assert counts == sorted(counts)
    assert counts[-1] == len(observed) == value(family, f"{family.name}_count")
    assert value(family, f"{family.name}_sum") == pytest.approx(sum(observed))


def test_every_metric_with_its_type_value_and_help() -> None:
    stats = busy_stats()
    families = scrape(MetricsExporter(stats, lambda: GAUGES))

    for field in attrs.fields(Gauges):
        family = families.pop(f"roost_{field.name}")
        assert family.type == "gauge"
        assert value(family, family.name) == getattr(GAUGES, field.name)
    for name, (_, expected) in COUNTERS.items():
        # The parser names a counter family without its _total suffix; the sample keeps it.
        family = families.pop(name.removesuffix("_total"))
        assert family.type == "counter"
        assert value(family, name) == expected
    check_histogram(families.pop("roost_turn_seconds"), TURNS, stats.turn_seconds.buckets)
    check_histogram(
        families.pop("roost_alarm_lateness_seconds"),
        LATENESS,
        stats.alarm_lateness_seconds.buckets,
    )
    assert families == {}  # nothing else, e.g. no process or platform collectors


def test_help_is_one_nonempty_line() -> None:
    body, _ = MetricsExporter(busy_stats(), lambda: GAUGES).render()
    helps = [line for line in body.decode().splitlines() if line.startswith("# HELP ")]
    assert len(helps) == len(attrs.fields(Gauges)) + len(COUNTERS) + 2
    for line in helps:
        assert len(line.split(" ", 3)[3]) > 10, line


def test_buckets_are_made_cumulative() -> None:
    """One value in each of three separate buckets: per-bucket counts would read 1, 0, 1, ..."""
    stats = NodeStats()
    for v in (0.0002, 0.02, 0.5):  # buckets le=0.00025, le=0.025, le=1.0
        stats.turn_seconds.observe(v)
    family = scrape(MetricsExporter(stats, lambda: GAUGES))["roost_turn_seconds"]

    assert value(family, "roost_turn_seconds_bucket", le="0.0001") == 0
    assert value(family, "roost_turn_seconds_bucket", le="0.00025") == 1
    assert value(family, "roost_turn_seconds_bucket", le="0.01") == 1
    assert value(family, "roost_turn_seconds_bucket", le="0.025") == 2
    assert value(family, "roost_turn_seconds_bucket", le="0.25") == 2
    assert value(family, "roost_turn_seconds_bucket", le="1.0") == 3
    assert value(family, "roost_turn_seconds_bucket", le="+Inf") == 3
    assert value(family, "roost_turn_seconds_count") == 3
    assert value(family, "roost_turn_seconds_sum") == pytest.approx(0.5202)


def test_values_are_read_at_each_scrape() -> None:
    stats = NodeStats()
    levels = [GAUGES, attrs.evolve(GAUGES, connections=0)]
    exporter = MetricsExporter(stats, lambda: levels[0])
    assert value(scrape(exporter)["roost_messages_sent"], "roost_messages_sent_total") == 0

    stats.messages_sent_total += 3
    stats.turn_seconds.observe(0.002)
    levels.pop(0)
    families = scrape(exporter)
    assert value(families["roost_messages_sent"], "roost_messages_sent_total") == 3
    assert value(families["roost_turn_seconds"], "roost_turn_seconds_count") == 1
    assert value(families["roost_connections"], "roost_connections") == 0


def test_two_exporters_do_not_interfere() -> None:
    one, two = NodeStats(), NodeStats()
    one.activations_total, two.activations_total = 1, 2
    two.turn_seconds.observe(0.5)
    first = MetricsExporter(one, lambda: GAUGES)
    second = MetricsExporter(two, lambda: attrs.evolve(GAUGES, connections=99))

    a, b = scrape(first), scrape(second)
    assert value(a["roost_activations"], "roost_activations_total") == 1
    assert value(b["roost_activations"], "roost_activations_total") == 2
    assert value(a["roost_connections"], "roost_connections") == 7
    assert value(b["roost_connections"], "roost_connections") == 99
    assert value(a["roost_turn_seconds"], "roost_turn_seconds_count") == 0
    assert value(b["roost_turn_seconds"], "roost_turn_seconds_count") == 1
    # Nothing leaked into prometheus-client's process-global registry.
    assert b"roost_" not in prometheus_client.generate_latest(prometheus_client.REGISTRY)


@pytest.mark.parametrize(
    "accept",
    [
        "application/openmetrics-text",
        "application/openmetrics-text; version=1.0.0",
        # What Prometheus itself sends.
        "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
        "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    ],
)
def test_openmetrics_when_asked_for(accept: str) -> None:
    stats = busy_stats()
    body, content_type = MetricsExporter(stats, lambda: GAUGES).render(accept)

    assert content_type.startswith("application/openmetrics-text; version=1.0.0")
    text = body.decode()
    assert text.endswith("# EOF\n")
    families = {f.name: f for f in openmetrics_parser.text_string_to_metric_families(text)}
    assert value(families["roost_connections"], "roost_connections") == 7
    assert families["roost_messages_sent"].type == "counter"
    assert value(families["roost_messages_sent"], "roost_messages_sent_total") == 120
    check_histogram(families["roost_turn_seconds"], TURNS, stats.turn_seconds.buckets)
    assert len(families) == len(attrs.fields(Gauges)) + len(COUNTERS) + 2


@pytest.mark.parametrize("accept", [None, "", "text/html", "*/*", "text/plain; version=0.0.4"])
def test_classic_text_otherwise(accept: str | None) -> None:
    body, content_type = MetricsExporter(NodeStats(), lambda: GAUGES).render(accept)
    assert content_type == "text/plain; version=0.0.4; charset=utf-8"
    assert b"# EOF" not in body
    assert b"roost_connections 7.0\n" in body
