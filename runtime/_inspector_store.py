"""What the inspector reads of the shared store: stored actors, one actor's synced state and
owner, and a cluster's nodes and leases, each as plain JSON-able data.

Only reads (``list_states``, ``read_state``, ``lease_owner``, ``list_nodes``,
``list_leases``); a search over the stored keys reads at most :data:`SCAN_ROWS` rows a call
and hands back a cursor for the rest, so it costs the store a bounded amount.
"""

from __future__ import annotations

import json
from typing import Any

from roost.storage import SharedStore, StoredState

from ._inspector_sql import cell

#: Rows read from the store per page of a listing.
PAGE_ROWS = 200
#: Rows a search reads at most per call (the page then ends with a cursor).
SCAN_ROWS = 2000
#: Characters of an actor's synced state shown at most.
MAX_STATE_CHARS = 64_000


async def stored_page(
    store: SharedStore,
    actor_type: str | None,
    *,
    search: str,
    limit: int,
    after: tuple[str, str] | None,
) -> dict[str, Any]:
    """One page of stored actors whose key contains ``search`` (case-insensitive), in the
    store's (type, key) order: ``{"actors": [...], "next": [type, key] | None}``."""
    needle = search.casefold()
    found: list[dict[str, Any]] = []
    cursor = after
    scanned = 0
    exhausted = False
    while len(found) < limit and scanned < SCAN_ROWS:
        page = await store.list_states(actor_type, limit=PAGE_ROWS, after=cursor)
        for state in page:
            scanned += 1
            cursor = _ident(state)
            if needle in state.key.casefold():
                found.append(
                    {
                        "type": state.actor_type,
                        "key": state.key,
                        "version": state.version,
                        "fence": state.fence,
                        "updated_at": state.updated_at,
                    }
                )
                if len(found) >= limit:
                    break
        if len(page) < PAGE_ROWS and (not page or cursor == _ident(page[-1])):
            exhausted = True  # the last page, read to its end
            break
    return {"actors": found, "next": None if exhausted or cursor is None else list(cursor)}


async def actor_in_store(
    store: SharedStore, actor_type: str, key: str, *, clustered: bool
) -> dict[str, Any]:
    """The actor's synced state (version, fence, time, the state as indented JSON) and, in a
    cluster, the node holding its lease: ``{"synced": ... | None, "owner": ... | None}``."""
    answer: dict[str, Any] = {"synced": None, "owner": None}
    stored = await store.read_state(actor_type, key)
    if stored is not None:
        text = json.dumps(stored.state, ensure_ascii=False, indent=2)
        answer["synced"] = {
            "version": stored.version,
            "fence": stored.fence,
            "updated_at": stored.updated_at,
            "state": cell(text, MAX_STATE_CHARS),
        }
    if clustered:
        owner = await store.lease_owner(actor_type, key)
        if owner is not None:
            answer["owner"] = {
                "node_id": owner.node_id,
                "address": owner.address,
                "fence": owner.fence,
                "expires_in": round(owner.expires_in, 3),
            }
    return answer


async def cluster_view(
    store: SharedStore,
    node_id: str,
    actor_type: str | None,
    *,
    limit: int,
    after: tuple[str, str] | None,
) -> dict[str, Any]:
    """The registered nodes and one page of leases (who owns what)."""
    nodes = await store.list_nodes()
    leases = await store.list_leases(actor_type, limit=limit, after=after)
    return {
        "cluster": True,
        "node_id": node_id,
        "nodes": [
            {
                "node_id": n.node_id,
                "address": n.address,
                "heartbeat_age": round(n.heartbeat_age, 3),
                "version": n.version,
                "actors": n.actors,
            }
            for n in nodes
        ],
        "leases": [
            {
                "type": lease.actor_type,
                "key": lease.key,
                "node_id": lease.node_id,
                "fence": lease.fence,
                "expires_in": round(lease.expires_in, 3),
            }
            for lease in leases
        ],
        "next": [leases[-1].actor_type, leases[-1].key] if len(leases) == limit else None,
    }


def _ident(state: StoredState) -> tuple[str, str]:
    return (state.actor_type, state.key)
