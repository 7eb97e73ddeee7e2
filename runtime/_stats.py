"""Counters the runtime keeps on its hot paths, read by the metrics endpoint.

They are plain integers and floats on purpose: prometheus-client's own counters take a lock
per increment, which on the delivery path (one increment per recipient) would cost more than
the delivery itself. The metrics endpoint turns a snapshot of these into Prometheus families
at scrape time.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

#: Buckets (seconds) for how long a turn takes.
TURN_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
#: Buckets (seconds) for how late an alarm fires after its scheduled time.
LATENESS_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Histogram:
    """A cumulative-at-read histogram: ``observe`` is a bisect and two additions.

    Attributes:
        buckets: upper bounds, ascending (an implicit +Inf bucket follows).
        counts: observations per bucket (not cumulative); ``counts[-1]`` is the +Inf bucket.
        total: sum of all observed values.
    """

    __slots__ = ("buckets", "counts", "total")

    def __init__(self, buckets: Sequence[float]) -> None:
        self.buckets = tuple(buckets)
        self.counts = [0] * (len(self.buckets) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.buckets, value)] += 1
        self.total += value

    @property
    def count(self) -> int:
        return sum(self.counts)


class NodeStats:
    """Everything the node counts. Counters only grow; gauges are read from live state."""

    __slots__ = (
        "activations_total",
        "alarm_failures_total",
        "alarm_lateness_seconds",
        "alarms_fired_total",
        "alarms_quarantined_total",
        "durable_entries_total",
        "durable_rebuild_failures_total",
        "evictions_total",
        "forwards_total",
        "handoffs_total",
        "hibernations_total",
        "lease_claims_total",
        "messages_received_total",
        "messages_sent_total",
        "remote_calls_total",
        "self_fences_total",
        "slow_consumer_disconnects_total",
        "sync_batches_total",
        "sync_failures_total",
        "sync_snapshot_failures_total",
        "takeovers_total",
        "turn_seconds",
        "turns_grouped_total",
        "wal_checkpoint_failures_total",
        "wal_checkpoints_total",
    )

    def __init__(self) -> None:
        self.activations_total = 0
        self.evictions_total = 0  # actors that left memory: stopped or hibernated
        self.hibernations_total = 0
        self.messages_received_total = 0  # WebSocket data messages from clients
        self.messages_sent_total = 0  # WebSocket data messages to clients (per recipient)
        self.slow_consumer_disconnects_total = 0
        self.sync_batches_total = 0  # shared-store transactions that wrote snapshots
        self.sync_failures_total = 0  # sync rounds that failed (store unreachable)
        self.sync_snapshot_failures_total = 0  # snapshots that failed (the actor cannot start)
        self.alarms_fired_total = 0
        self.alarm_failures_total = 0
        self.alarms_quarantined_total = 0
        # The cluster (issue 14): leases claimed, actors stopped because their lease was lost
        # or could be, connections forwarded over a node link or handed to a sibling worker,
        # actors restored from the store on a claim that took them from another node, and
        # actor-to-actor calls answered by another node.
        self.lease_claims_total = 0
        self.self_fences_total = 0
        self.forwards_total = 0
        self.handoffs_total = 0
        self.takeovers_total = 0
        self.remote_calls_total = 0
        self.durable_entries_total = 0  # commits of durable actors appended to the store
        self.durable_rebuild_failures_total = 0  # activations whose log did not rebuild
        self.turns_grouped_total = 0  # turns whose COMMIT was shared with the next turn's
        # WAL checkpoints run by the worker thread (storage/_checkpoints), and failed ones.
        self.wal_checkpoints_total = 0
        self.wal_checkpoint_failures_total = 0
        self.turn_seconds = Histogram(TURN_BUCKETS)
        self.alarm_lateness_seconds = Histogram(LATENESS_BUCKETS)

    def checkpointed(self, ok: bool) -> None:
        """A checkpoint of the worker thread ended (storage/_checkpoints.Checkpointer)."""
        self.wal_checkpoints_total += 1
        if not ok:
            self.wal_checkpoint_failures_total += 1
