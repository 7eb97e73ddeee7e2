"""The cluster app with a durable actor: served only on PostgreSQL (durable output needs it)."""

from __future__ import annotations

from tests.cluster.cluster_app import Counter, app


class Ledger(Counter):
    """A counter whose every acknowledged change survives the machine (durable output)."""

    durable = True


app.actor("ledger", Ledger)
