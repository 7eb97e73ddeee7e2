"""The node's metrics in the Prometheus text formats, built at scrape time.

The runtime counts in plain integers (:mod:`._stats`) because prometheus-client's own counters
and histograms take a lock per increment, which on the delivery path (one increment per
recipient) would cost more than the delivery itself. So nothing here is updated while the node
works: at each scrape a custom collector reads the current :class:`NodeStats` and
:class:`Gauges` and turns them into metric families, and prometheus-client writes the text. We
never format exposition text ourselves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import accumulate
from typing import Any

import attrs
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.utils import floatToGoString

from ._stats import Histogram, NodeStats

# prometheus-client's own spelling of a bucket bound ("0.005", "1.0", "+Inf"), so our `le`
# labels look exactly like those of its Histogram; re-typed because the library leaves it bare.
_le: Callable[[float], str] = floatToGoString


@attrs.frozen
class Gauges:
    """Levels read from the live node at scrape time (counters live in :class:`NodeStats`)."""

    connections: int
    actors_active: int
    actors_hibernated: int
    alarms_pending: int
    alarms_quarantined: int
    open_databases: int
    sync_pending: int = 0
    sync_lag_seconds: float = 0.0
    store_up: int = 1  # 0 while the shared store does not answer (what /_roost/ready reports)
    leases_held: int = 0  # per-actor leases this node holds (a cluster node)
    cluster_nodes: int = 0  # live nodes this node knows of, itself included (0: not a cluster)
    wal_checkpoints_pending: int = 0  # actor files waiting for the checkpoint thread


# (metric name, attribute, HELP) for each family, in exposition order. A counter is exposed
# as its family name + "_total", so no counter may share a name with a gauge: OpenMetrics
# rejects the clash, hence roost_alarm_quarantines_total beside the roost_alarms_quarantined gauge.
_GAUGES = (
    ("roost_connections", "connections", "Open client WebSocket connections."),
    ("roost_actors_active", "actors_active", "Actors with an instance in memory."),
    (
        "roost_actors_hibernated",
        "actors_hibernated",
        "Actors hibernated: no instance in memory, their connections kept open.",
    ),
    ("roost_alarms_pending", "alarms_pending", "Alarms scheduled and not yet fired."),
    (
        "roost_alarms_quarantined",
        "alarms_quarantined",
        "Alarms set aside after failing too often, no longer retried.",
    ),
    ("roost_open_databases", "open_databases", "Actor SQLite databases currently open."),
    (
        "roost_sync_pending",
        "sync_pending",
        "Dirty actors whose state is not in the shared store yet.",
    ),
    (
        "roost_sync_lag_seconds",
        "sync_lag_seconds",
        "Age in seconds of the oldest change waiting to be synced.",
    ),
    (
        "roost_store_up",
        "store_up",
        "1 while the shared store answers, 0 while its calls fail or time out.",
    ),
    ("roost_leases_held", "leases_held", "Per-actor leases this node holds (a cluster node)."),
    (
        "roost_cluster_nodes",
        "cluster_nodes",
        "Live nodes of the cluster seen at the last membership check, this one included.",
    ),
    (
        "roost_wal_checkpoints_pending",
        "wal_checkpoints_pending",
        "Actor files whose WAL waits for the checkpoint thread.",
    ),
)
_COUNTERS = (
    ("roost_activations_total", "activations_total", "Actor instances started (on_start run)."),
    (
        "roost_evictions_total",
        "evictions_total",
        "Actor instances that left memory, stopped or hibernated.",
    ),
    ("roost_hibernations_total", "hibernations_total", "Actor instances hibernated."),
    (
        "roost_messages_received_total",
        "messages_received_total",
        "WebSocket data messages received from clients.",
    ),
    (
        "roost_messages_sent_total",
        "messages_sent_total",
        "WebSocket data messages sent to clients, one per recipient.",
    ),
    (
        "roost_slow_consumer_disconnects_total",
        "slow_consumer_disconnects_total",
        "Connections closed because the client read too slowly.",
    ),
    ("roost_alarms_fired_total", "alarms_fired_total", "Alarms fired."),
    ("roost_alarm_failures_total", "alarm_failures_total", "Alarm handlers that raised."),
    (
        "roost_alarm_quarantines_total",
        "alarms_quarantined_total",
        "Alarms quarantined after repeated failures.",
    ),
    (
        "roost_turns_grouped_total",
        "turns_grouped_total",
        "Turns that left their COMMIT to the next turn of the same actor (group commit).",
    ),
    (
        "roost_sync_batches_total",
        "sync_batches_total",
        "Shared-store transactions that wrote actor snapshots.",
    ),
    (
        "roost_sync_failures_total",
        "sync_failures_total",
        "Sync rounds that failed because the shared store was unreachable.",
    ),
    (
        "roost_sync_snapshot_failures_total",
        "sync_snapshot_failures_total",
        "Snapshots that could not be taken because the actor failed to activate.",
    ),
    ("roost_lease_claims_total", "lease_claims_total", "Per-actor leases claimed."),
    (
        "roost_self_fences_total",
        "self_fences_total",
        "Actors stopped because their lease was lost or could have expired.",
    ),
    (
        "roost_forwards_total",
        "forwards_total",
        "Connections forwarded to the owner node over a node link.",
    ),
    (
        "roost_handoffs_total",
        "handoffs_total",
        "Connections handed to the owning sibling worker (the socket itself).",
    ),
    (
        "roost_takeovers_total",
        "takeovers_total",
        "Actors claimed with a newer state in the store than the local file (moved here).",
    ),
    (
        "roost_durable_entries_total",
        "durable_entries_total",
        "Commits of durable actors appended to the store's log before their output left.",
    ),
    (
        "roost_durable_rebuild_failures_total",
        "durable_rebuild_failures_total",
        "Activations of durable actors whose file did not rebuild from the store's history.",
    ),
    (
        "roost_remote_calls_total",
        "remote_calls_total",
        "Actor-to-actor calls sent to the owner node over a node link.",
    ),
    (
        "roost_wal_checkpoints_total",
        "wal_checkpoints_total",
        "Actor WAL checkpoints run by the worker thread instead of inside a COMMIT.",
    ),
    (
        "roost_wal_checkpoint_failures_total",
        "wal_checkpoint_failures_total",
        "Checkpoints of the worker thread that failed (logged; the next COMMITs try again).",
    ),
)
_HISTOGRAMS = (
    ("roost_turn_seconds", "turn_seconds", "Duration of one actor turn, in seconds."),
    (
        "roost_alarm_lateness_seconds",
        "alarm_lateness_seconds",
        "How late an alarm fired after its scheduled time, in seconds.",
    ),
)


def _histogram_family(name: str, help_text: str, histogram: Histogram) -> HistogramMetricFamily:
    """Our per-bucket counts made cumulative, as Prometheus wants; the last bucket is +Inf."""
    bounds = [*map(_le, histogram.buckets), "+Inf"]
    cumulative = accumulate(histogram.counts)
    return HistogramMetricFamily(
        name,
        help_text,
        buckets=list(zip(bounds, cumulative, strict=True)),
        sum_value=histogram.total,
    )


class _NodeCollector:
    """The one collector in an exporter's registry: a fresh snapshot on every ``collect``."""

    def __init__(self, stats: NodeStats, gauges: Callable[[], Gauges]) -> None:
        self._stats = stats
        self._gauges = gauges

    def collect(self) -> Iterator[Metric]:
        gauges = self._gauges()
        for name, attr, help_text in _GAUGES:
            yield GaugeMetricFamily(name, help_text, value=getattr(gauges, attr))
        for name, attr, help_text in _COUNTERS:
            yield CounterMetricFamily(name, help_text, value=getattr(self._stats, attr))
        for name, attr, help_text in _HISTOGRAMS:
            yield _histogram_family(name, help_text, getattr(self._stats, attr))


#: One node's numbers as plain data (:meth:`MetricsExporter.snapshot`), which a worker sends
#: a sibling over their node link so one scrape covers every worker.
Snapshot = dict[str, Any]


class _WorkersCollector:
    """Every worker's numbers in one exposition, each sample labelled ``worker="<index>"``."""

    def __init__(self, snapshots: list[tuple[str, Snapshot]]) -> None:
        self._snapshots = snapshots

    def collect(self) -> Iterator[Metric]:
        labels = ["worker"]
        for name, attr, help_text in _GAUGES:
            gauge = GaugeMetricFamily(name, help_text, labels=labels)
            for worker, snap in self._snapshots:
                gauge.add_metric([worker], float(snap["gauges"].get(attr, 0)))
            yield gauge
        for name, attr, help_text in _COUNTERS:
            counter = CounterMetricFamily(name, help_text, labels=labels)
            for worker, snap in self._snapshots:
                counter.add_metric([worker], float(snap["counters"].get(attr, 0)))
            yield counter
        for name, attr, help_text in _HISTOGRAMS:
            family = HistogramMetricFamily(name, help_text, labels=labels)
            for worker, snap in self._snapshots:
                bounds, counts, total = snap["histograms"][attr]
                edges = [*map(_le, bounds), "+Inf"]
                family.add_metric(
                    [worker],
                    buckets=list(zip(edges, accumulate(counts), strict=True)),
                    sum_value=total,
                )
            yield family


class MetricsExporter:
    """Renders one node's metrics for a Prometheus scrape.

    Each exporter owns its own ``CollectorRegistry``, never prometheus-client's global one, so
    several servers in one process (as in tests) neither collide nor see each other's numbers.

    Args:
        stats: the node's counters, read (not copied) at every scrape.
        gauges: called once per scrape for the current levels.
    """

    def __init__(self, stats: NodeStats, gauges: Callable[[], Gauges]) -> None:
        self._stats = stats
        self._gauges = gauges
        self._registry = CollectorRegistry()
        self._registry.register(_NodeCollector(stats, gauges))

    def snapshot(self) -> Snapshot:
        """This node's numbers now, as plain data (for a sibling worker's scrape)."""
        stats = self._stats
        return {
            "gauges": attrs.asdict(self._gauges()),
            "counters": {attr: getattr(stats, attr) for _, attr, _ in _COUNTERS},
            "histograms": {
                attr: [
                    list(getattr(stats, attr).buckets),
                    list(getattr(stats, attr).counts),
                    getattr(stats, attr).total,
                ]
                for _, attr, _ in _HISTOGRAMS
            },
        }

    def render_workers(
        self, own: str, others: list[tuple[str, Snapshot]], accept: str | None = None
    ) -> tuple[bytes, str]:
        """One exposition for every worker of ``--workers N``: this one (labelled ``own``)
        and the snapshots its siblings sent, each sample with a ``worker`` label."""
        registry = CollectorRegistry()
        snapshots = sorted([(own, self.snapshot()), *others])
        registry.register(_WorkersCollector(snapshots))
        encoder, content_type = choose_encoder(accept or "")
        return encoder(registry), content_type

    def render(self, accept: str | None = None) -> tuple[bytes, str]:
        """The exposition body and its content type, chosen from an HTTP Accept header.

        OpenMetrics when ``accept`` asks for ``application/openmetrics-text``, otherwise the
        classic Prometheus text format; the choice is prometheus-client's own
        (``choose_encoder``). Call it on the thread that updates the counters (it does not
        block) so that the snapshot is consistent.
        """
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self._registry), content_type
