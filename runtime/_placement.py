"""Where an actor lives: the question every activation and every actor-to-actor call asks.

A single node answers "here" to everything (:class:`Solo`). A cluster node
(runtime/_cluster.py) answers from its leases: an actor is activated only under a lease this
node claimed, and a call to an actor another node owns goes to that node. The registry and
the slots see only this Protocol, so they do not import the cluster (no cycle, and a single
node carries none of it).
"""

from __future__ import annotations

from typing import Any, Protocol

import attrs

from roost._errors import RpcError
from roost.storage import StoredState

ActorId = tuple[str, str]


class NotOwner(RpcError):
    """Another node holds the actor's lease: this node must not activate it.

    An ``unavailable`` rpc error (retryable): a caller that meets it retries, and by then the
    routing sends it to the owner.
    """

    def __init__(self, actor_type: str, key: str, owner: str | None = None) -> None:
        where = f"node {owner}" if owner else "another node"
        super().__init__("unavailable", f"{actor_type}/{key} is served by {where}")
        self.owner = owner


@attrs.frozen
class Activation:
    """What a node knows when it activates an actor under its lease.

    Attributes:
        fence: the lease's fence (None on a single node: no lease).
        stored: the state the store held when the lease was claimed anew, for the activation
            to decide between its local file and the store (None: nothing stored).
        claimed: the lease was claimed anew for this activation (``stored`` is what the
            store held then); False while this node held it all along.
    """

    fence: int | None
    stored: StoredState | None = None
    claimed: bool = False


class Placement(Protocol):
    """What the registry asks about where actors live."""

    @property
    def clustered(self) -> bool: ...

    async def activation(self, actor_type: str, key: str) -> Activation:
        """The lease to activate under (claimed now if needed).

        Raises:
            NotOwner: another node holds the lease.
            RpcError: ``unavailable`` when the store cannot be reached.
        """
        ...

    def serves(self, actor_type: str, key: str) -> bool:
        """Whether this node may run a turn of the actor right now (its lease is valid)."""
        ...

    def fence(self, actor_type: str, key: str) -> int | None:
        """The fence the actor's writes to the store carry (None: the node's own)."""
        ...

    def fence_refused(self, actor_type: str, key: str, fence: int | None = None) -> None:
        """The store refused a write under the actor's ``fence`` (None: whatever it holds):
        a newer owner exists."""
        ...

    async def call_elsewhere(
        self, actor_type: str, key: str, method: str, args: dict[str, Any]
    ) -> tuple[bool, Any]:
        """Send an actor-to-actor call to the owner if that is another node.

        Returns:
            ``(True, result)`` when another node answered; ``(False, None)`` when the actor
            is (or may be) served here.
        """
        ...


class Solo:
    """A single node: every actor lives here, with no lease."""

    clustered = False

    async def activation(self, actor_type: str, key: str) -> Activation:
        return Activation(fence=None)

    def serves(self, actor_type: str, key: str) -> bool:
        return True

    def fence(self, actor_type: str, key: str) -> int | None:
        return None

    def fence_refused(self, actor_type: str, key: str, fence: int | None = None) -> None:
        return None

    async def call_elsewhere(
        self, actor_type: str, key: str, method: str, args: dict[str, Any]
    ) -> tuple[bool, Any]:
        return False, None
