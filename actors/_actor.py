"""The Actor base class: what users subclass, and the small host interface it talks to.

An actor is one live instance per (type, key). The runtime calls its handlers one at a time
(G2); whatever a handler writes to ``self.storage`` commits when the handler returns, and is
rolled back if it raises (G3); what it sends leaves only after that commit (G4).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from ._connection import Connection
from ._http import Request, Response
from ._rpc import ActorRef

if TYPE_CHECKING:
    from roost.storage import ActorStorage

    from ._alarms import Alarm, Alarms
    from ._presence_channel import Presence


class ActorHost(Protocol):
    """What the runtime provides to one activation of an actor (implemented by runtime/)."""

    actor_type: str
    key: str

    @property
    def storage(self) -> ActorStorage: ...

    @property
    def alarms(self) -> Alarms: ...

    @property
    def presence(self) -> Presence: ...

    def now(self) -> float: ...

    def mark_dirty(self) -> None: ...

    def emit(
        self,
        name: str,
        data: Any = None,
        *,
        to: Connection | Collection[Connection] | None = None,
        exclude: Collection[Connection] = (),
        tag: str | None = None,
    ) -> None: ...

    def call(self, actor_type: str, key: str) -> ActorRef: ...

    def connections(self, tag: str | None = None) -> Sequence[Connection]: ...

    def broadcast(
        self, message: str | bytes, exclude: Collection[Connection] = (), tag: str | None = None
    ) -> None: ...

    def send(self, conn: Connection, message: str | bytes) -> None: ...

    def close(self, conn: Connection, code: int, reason: str) -> None: ...

    def is_closed(self, conn: Connection) -> bool: ...

    def after_commit(self, callback: Callable[[], None]) -> None: ...


class Actor:
    """Base class of every actor. Override the ``on_*`` handlers you need.

    The runtime constructs the actor with its host; a subclass that defines ``__init__``
    must accept the host and call ``super().__init__(host)``. Prefer ``on_start`` for set-up:
    it runs on every activation, inside a turn, with storage available.
    """

    #: A text message the runtime answers with the second string without waking the actor
    #: (for example ``("ping", "pong")``), so idle clients' keep-alives cost no activation.
    auto_response: tuple[str, str] | None = None
    #: Seconds without ``presence.heartbeat(conn)`` after which a connection's presences
    #: leave; None keeps them until the connection closes.
    presence_ttl: float | None = None
    #: Mark the actor dirty after every turn that wrote to its storage, so its snapshot is
    #: synced without calling :meth:`mark_dirty`.
    sync_on_write: bool = False
    #: Durable output (needs a PostgreSQL store): every commit of this actor reaches the
    #: store, fenced by its lease, before the turn's replies and messages leave, so nothing a
    #: client saw acknowledged is lost with the machine (``roost serve --durable`` makes
    #: every actor durable).
    durable: bool = False
    #: Ship a compressed copy of the whole SQLite file to the shared store at each sync, so a
    #: node with an empty data dir rebuilds the file itself, not only ``restore(snapshot)``.
    replicate_file: bool = False
    #: The replay buffer of resumable event streams: the last this many events emitted to
    #: every connection (or a tag) and at most this many bytes of them (the newest is always
    #: kept), for clients that reconnect with ``?resume=<seq>`` (docs/protocol.md). In
    #: memory with the actor, and in its file for durable actors.
    replay_events: int = 1000
    replay_bytes: int = 1 << 20

    def __init__(self, host: ActorHost) -> None:
        self._host = host
        self.type: str = host.actor_type
        self.key: str = host.key

    @property
    def storage(self) -> ActorStorage:
        """This actor's own SQLite: ``.db`` (a sqlite_utils Database) and ``.kv``.

        ``await self.storage.delete_all()`` (in a turn) deletes all of its rows and alarms;
        once the turn commits, its shared-store row goes too (see ``ActorStorage.delete_all``).
        """
        return self._host.storage

    @property
    def alarms(self) -> Alarms:
        """Named alarms: ``set(name, at=|after=, payload=)``, ``get``, ``delete``, ``list``."""
        return self._host.alarms

    @property
    def presence(self) -> Presence:
        """Who is here: ``track(conn, key, meta)``, ``update``, ``untrack``, ``heartbeat``."""
        return self._host.presence

    def now(self) -> float:
        """Unix time on the node's clock (the one alarms use; tests can move it)."""
        return self._host.now()

    def emit(
        self,
        name: str,
        data: Any = None,
        *,
        to: Connection | Collection[Connection] | None = None,
        exclude: Collection[Connection] = (),
        tag: str | None = None,
    ) -> None:
        """Send ``{"type": "event", "name": name, "data": data}`` to envelope clients.

        To every envelope connection (``to=None``), or to ``to``; ``exclude`` and ``tag``
        filter as for :meth:`broadcast`. Encoded once per subprotocol; leaves after the commit.
        Raw-mode connections never receive events, and :meth:`broadcast` skips envelope
        connections, so one actor can serve both kinds of clients.
        """
        self._host.emit(name, data, to=to, exclude=exclude, tag=tag)

    def call(self, actor_type: str, key: str) -> ActorRef:
        """Another actor's rpc methods: ``await self.call("chat", "lobby").say(text="hi")``.

        Each call is a turn of the other actor. Raises :class:`roost.RpcError` (``not_found``,
        ``bad_request``, ``internal``, ``unavailable``); a call back into an actor already
        waiting in the chain raises at once instead of deadlocking.
        """
        return self._host.call(actor_type, key)

    def mark_dirty(self) -> None:
        """Sync :meth:`snapshot` to the shared store soon (within ``sync_interval``).

        Inside a turn the mark takes effect when the turn commits.
        """
        self._host.mark_dirty()

    def snapshot(self) -> Any:
        """This actor's authoritative state, JSON-able, for the shared store (None: none).

        Called between turns, never in the middle of one.
        """
        return None

    async def restore(self, snapshot: Any) -> None:
        """Start from the shared store: called before ``on_start`` when the actor activates
        with no local SQLite file but with a synced state."""

    def connections(self, tag: str | None = None) -> Sequence[Connection]:
        """The open connections, in the order they connected; only those tagged ``tag``."""
        return self._host.connections(tag)

    def broadcast(
        self, message: str | bytes, exclude: Collection[Connection] = (), tag: str | None = None
    ) -> None:
        """Send ``message`` to every raw-mode connection (tagged ``tag``) except ``exclude``.

        Envelope-mode connections (``roost.v1.*`` subprotocols) get :meth:`emit` events
        instead. The frame is encoded once and the same bytes go to each recipient; like
        :meth:`Connection.send` it never blocks and leaves after the turn commits.
        """
        self._host.broadcast(message, exclude, tag)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` once this turn has committed, where it stands among the turn's
        output (frames sent before it leave before it runs); outside a turn, now.

        For output worth coalescing: several turns that share one commit (group commit) can
        register one callback and let it send their combined result; what it sends leaves at
        once. A turn that raises, or whose commit fails, drops its callbacks with its frames.
        The callback must not block; an exception from it is logged and ignored.
        """
        self._host.after_commit(callback)

    async def on_start(self) -> None:
        """Called after activation, before the first event is delivered."""

    async def on_stop(self) -> None:
        """Called before the actor leaves memory (idle or shutdown); storage still usable."""

    async def on_connect(self, conn: Connection, request: Request) -> None:
        """A WebSocket wants to join. Raise ``ConnectionRefused`` to refuse it.

        The connection is already listed in :meth:`connections`, and frames sent to it here
        arrive right after the handshake completes.
        """

    async def on_message(self, conn: Connection, message: str | bytes) -> None:
        """A text (str) or binary (bytes) message arrived on ``conn``."""

    async def on_close(self, conn: Connection, code: int, reason: str) -> None:
        """``conn`` closed: exactly once per accepted connection, dead peers included (1006)."""

    async def on_alarm(self, alarm: Alarm) -> None:
        """The alarm ``alarm.name`` is due (``alarm.attempt`` counts tries from 1).

        Raising makes it retry with exponential backoff; after ``max_retries`` retries it is
        quarantined (kept, visible in ``alarms.list()``, not fired again).
        """

    async def on_request(self, request: Request) -> Response:
        """A plain HTTP request to ``/<type>/<key>...``. Without an override: 405."""
        return Response.text("this actor does not answer HTTP requests\n", status=405)
