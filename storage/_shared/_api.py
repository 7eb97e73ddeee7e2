"""The shared store interface: async methods for trio over blocking backends.

Both backends are written as plain blocking code (sqlite3, psycopg), which keeps them easy to
read and test; :class:`SharedStore` runs every call in a worker thread through
``trio.to_thread.run_sync`` with a per-store :class:`trio.CapacityLimiter`, so the event loop
never waits on the database and a store never runs more threads than it has connections.

Every call has a client-side deadline (``call_timeout``), because a database that accepts
connections but never answers defeats server-side timeouts and TCP's own: at the deadline, or
when the calling task is cancelled, the caller gets :class:`StoreUnavailable` (or its
cancellation) at once and the worker thread is *abandoned*: the store cuts what the thread
holds (PostgreSQL: it shuts the connection's socket down, so the blocked read fails, the server
rolls the transaction back and the pool drops the connection), and the thread ends soon after.
A call that timed out may still have been applied; every call is safe to retry. So no task
waits on the database longer than the deadline, whatever the database does.

Long because: it is the one interface both backends implement: each public async method
(its deadline and thread handling in one place) beside the blocking method a backend writes,
plus the value types and batch helpers they exchange.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, ClassVar, Self, TypeVar, TypeVarTuple

import attrs
import trio

from roost._errors import ConfigError, StorageError, StoreUnavailable

from ._deadline import CallRunner
from ._history import FileHistory, HistorySql, LogEntry
from ._records import (
    Claim,
    Lease,
    LeaseInfo,
    LeaseOwner,
    NodeInfo,
    StateWrite,
    StoredState,
    WriteOutcome,
    check_name,
    check_names,
    check_ttl,
    encode_alarms,
    encode_state,
)

__all__ = ["MAX_LIST_LIMIT", "EncodedState", "LeaseKey", "SharedStore", "Snapshots", "StoreHealth"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

#: The most rows :meth:`SharedStore.list_states` returns at once (bounds its memory).
MAX_LIST_LIMIT = 10_000

#: A lease as the batch calls name it: ``(actor_type, key, fence)``.
LeaseKey = tuple[str, str, int]


@attrs.frozen
class Snapshots:
    """A checked batch for :meth:`SharedStore.write_snapshots`, as parallel columns.

    ``alarm_texts`` and ``alarm_ats`` are None when the batch leaves the stored alarms as they
    are; otherwise one JSON text (or None: no pending alarm) and one earliest due time (unix
    seconds, or None) per write.
    """

    types: list[str]
    keys: list[str]
    fences: list[int]
    texts: list[str]
    alarm_texts: list[str | None] | None
    alarm_ats: list[float | None] | None


@attrs.frozen
class EncodedState:
    """A snapshot already encoded as JSON text, for :attr:`StateWrite.state`.

    States are otherwise encoded in the worker thread, after the call began; a caller whose
    snapshot objects share structure with live actor state encodes them first with
    :meth:`encode`, at the moment the snapshot is taken, so the stored state is the one of that
    moment and the thread never reads objects an actor may be changing.
    """

    text: str

    @classmethod
    def encode(cls, state: Any) -> EncodedState:
        """Encode ``state`` now (see :func:`encode_state` for what is refused)."""
        return cls(encode_state(state))


@attrs.frozen
class StoreHealth:
    """What the store's calls found lately, for readiness checks.

    Attributes:
        reachable: True if the last call that ended reached the database, False if it failed
            with :class:`StoreUnavailable` (timed out included), None before any call ended.
        error: Why the last call failed, while ``reachable`` is False.
        threads_busy: Worker threads running store calls now, abandoned ones included until
            they end (a number that stays up means threads the database holds).
    """

    reachable: bool | None
    error: str | None
    threads_busy: int


class _Phase(enum.Enum):
    NEW = "new"
    OPEN = "open"
    CLOSED = "closed"


class SharedStore(abc.ABC):
    """Actor state, ownership leases and node membership in one transactional database.

    Open it with ``async with store:`` or :meth:`open` / :meth:`aclose`; opening creates or
    migrates the schema. Every method may raise
    :class:`~roost.storage.StoreUnavailable` when the database cannot be reached or the
    connection breaks; each one is safe to retry.

    Subclasses implement the ``_*_sync`` methods as blocking code; this class validates the
    arguments on the trio thread and runs those methods in worker threads.

    Args:
        max_threads: How many calls may run in worker threads at once.
        call_timeout: Seconds any call may take, end to end (waiting for a thread and a
            connection included), before it fails with :class:`StoreUnavailable`.

    Raises:
        ConfigError: for a ``call_timeout`` that is not a positive number.
    """

    #: A file on this machine (SQLite), not a server: nothing to check before it is used.
    embedded: ClassVar[bool] = False

    def __init__(self, *, max_threads: int, call_timeout: float = 10.0) -> None:
        if isinstance(call_timeout, bool) or not isinstance(call_timeout, (int, float)):
            raise ConfigError("call_timeout must be a number of seconds")
        if not 0 < call_timeout < float("inf"):
            raise ConfigError("call_timeout must be a positive number of seconds")
        self._phase = _Phase.NEW
        # An open was started (its thread may have connected even if the call was abandoned
        # or failed): aclose must then close what it may have opened.
        self._open_attempted = False
        self._call_timeout = float(call_timeout)
        self._runner = CallRunner(max_threads=max_threads, timeout=self._call_timeout)
        self._reachable: bool | None = None
        self._error: str | None = None

    @property
    def call_timeout(self) -> float:
        """Seconds any call may take before it fails with :class:`StoreUnavailable`."""
        return self._call_timeout

    def health(self) -> StoreHealth:
        """What the calls found lately (see :class:`StoreHealth`); never touches the database."""
        return StoreHealth(self._reachable, self._error, self._runner.threads_busy)

    # -- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        """Connect and create or migrate the schema.

        Raises:
            StoreUnavailable: if the database cannot be reached (the store stays unopened and
                ``open`` may be called again).
            StorageError: if the store was opened before, or its schema is newer than this
                version of roost understands.
        """
        if self._phase is not _Phase.NEW:
            raise StorageError(f"shared store is already {self._phase.value}")
        self._open_attempted = True
        await self._call(self._open_sync)
        self._phase = _Phase.OPEN

    async def aclose(self) -> None:
        """Abandon the calls in flight and close the connections, within ``call_timeout``.

        Idempotent; shielded from cancellation so nothing leaks, and bounded, so a database
        that does not answer cannot hold a shutdown up: a close that does not finish in time
        is left to its thread.
        """
        if self._phase is _Phase.CLOSED:
            return
        self._phase = _Phase.CLOSED
        self._runner.abandon_all()
        if not self._open_attempted:
            return  # never opened: no thread, nothing to close
        with trio.CancelScope(shield=True):
            try:  # also after a failed or abandoned open: its thread may have opened something
                await self._call(self._close_sync)
            except StoreUnavailable:
                pass  # did not finish in time: the thread closes what it can on its own

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- leases ------------------------------------------------------------------------------

    async def acquire_lease(
        self, actor_type: str, key: str, node_id: str, ttl: float
    ) -> Lease | None:
        """Take ownership of an actor for ``ttl`` seconds of the database clock.

        Succeeds when no lease exists, the lease was released or has expired, or ``node_id``
        holds it already. A new owner gets a fence one higher than any fence this actor had
        before (in its lease or its stored state), so fences are never reused; the same owner
        keeps its fence and its lease is extended.

        Returns:
            The lease, or None while another node holds an unexpired lease.
        """
        check_name(actor_type, "actor_type")
        check_name(key, "key")
        check_name(node_id, "node_id")
        seconds = check_ttl(ttl)
        return await self._run(self._acquire_lease_sync, actor_type, key, node_id, seconds)

    async def renew_lease(self, lease: Lease, ttl: float) -> Lease | None:
        """Extend ``lease`` to ``ttl`` seconds from now (database clock).

        Succeeds as long as nobody else took the lease in between, even if it expired a moment
        ago: an unchanged fence proves no other owner existed.

        Returns:
            The renewed lease (same fence), or None if the lease was lost.
        """
        seconds = check_ttl(ttl)
        return await self._run(self._renew_lease_sync, lease, seconds)

    async def release_lease(self, lease: Lease) -> bool:
        """Give the lease up so another node can take the actor at once.

        The fence stays stored, so the next owner's fence is still higher.

        Returns:
            True if the lease was still held by ``lease`` and is now released.
        """
        return await self._run(self._release_lease_sync, lease)

    async def claim_actor(
        self, actor_type: str, key: str, node_id: str, ttl: float
    ) -> Claim | None:
        """Take the actor's lease (the rule of :meth:`acquire_lease`) and read its stored state.

        One transaction: the state comes from after the lease was taken, so a write of an
        earlier owner that lands later is refused (its fence is lower) rather than missed.
        A claim always starts a new ownership, also by the node that holds the lease already
        (a node that lost it locally, or restarted): it gets the next fence, so nothing of
        the earlier ownership (an instance, a write or log entry still in flight) can pass
        for the new one.

        Returns:
            The lease with the stored state (and its alarms), or None while another node holds
            an unexpired lease.
        """
        check_name(actor_type, "actor_type")
        check_name(key, "key")
        check_name(node_id, "node_id")
        seconds = check_ttl(ttl)
        return await self._run(self._claim_actor_sync, actor_type, key, node_id, seconds)

    async def renew_leases(
        self, node_id: str, leases: Sequence[LeaseKey], ttl: float
    ) -> set[LeaseKey]:
        """Extend every listed lease ``node_id`` still holds with that fence; heartbeat the node.

        One statement for the leases (a node's whole tick) and the node's heartbeat in the same
        transaction. A lease that expired a moment ago is renewed too while nobody took it (an
        unchanged fence and holder prove no other owner existed); one that was released or
        taken by another node is not.

        Returns:
            The ``(actor_type, key, fence)`` of the renewed leases: the others are lost.
        """
        check_name(node_id, "node_id")
        seconds = check_ttl(ttl)
        types, keys, fences = split_leases(leases)
        return await self._run(self._renew_leases_sync, node_id, types, keys, fences, seconds)

    async def release_leases(self, node_id: str, leases: Sequence[LeaseKey]) -> int:
        """Give up the listed leases ``node_id`` still holds with those fences, in one go.

        A released lease row keeps its fence (node_id NULL, expired now), so the next owner's
        fence is higher; the lease row of an actor with no stored state is deleted instead,
        so an actor that never synced (a stranger) leaves nothing behind.

        Returns:
            How many leases were released (deleted ones included).
        """
        check_name(node_id, "node_id")
        types, keys, fences = split_leases(leases)
        if not keys:
            return 0
        return await self._run(self._release_leases_sync, node_id, types, keys, fences)

    async def lease_owner(self, actor_type: str, key: str) -> LeaseOwner | None:
        """The node holding the actor's unexpired lease, with its address; None if nobody."""
        check_name(actor_type, "actor_type")
        check_name(key, "key")
        return await self._run(self._lease_owner_sync, actor_type, key)

    async def max_fence(self) -> int:
        """The highest fence of any lease or stored state, 0 if there is none (a full scan)."""
        return await self._run(self._max_fence_sync)

    async def list_leases(
        self,
        actor_type: str | None = None,
        *,
        limit: int = 100,
        after: tuple[str, str] | None = None,
    ) -> list[LeaseInfo]:
        """Page through lease rows in (actor_type, key) order, for tooling.

        Takes the arguments of :meth:`list_states`; released and expired rows are included
        (their ``expires_in`` is ``<= 0``).
        """
        after = check_page(actor_type, limit, after)
        return await self._run(self._list_leases_sync, actor_type, limit, after)

    # -- actor state -------------------------------------------------------------------------

    async def write_states(self, writes: Sequence[StateWrite]) -> list[WriteOutcome]:
        """Store a batch of actor states in one transaction, each checked against its fence.

        A write is refused (:attr:`WriteStatus.STALE_FENCE`) and changes nothing if its fence
        is lower than the stored state's fence or than the fence of the actor's lease: a newer
        owner exists, and its writes must not be overwritten (nor, once it holds the lease,
        preceded) by the old owner's. Every other write replaces the state, takes the write's
        fence and the database's time, and increments the version (1 for a new actor). A key
        may appear several times; its writes apply in order. Retrying a batch is harmless: the
        versions grow again.

        States are JSON-encoded in the worker thread unless they are :class:`EncodedState`;
        do not change them until the call returns.

        Returns:
            One outcome per write, in the order of ``writes``.

        Raises:
            TypeError, ValueError: if a write is malformed or a state is not JSON-able
                (checked before anything is stored; see :func:`encode_state`).
        """
        batch = list(writes)
        for write in batch:
            if not isinstance(write, StateWrite):
                raise TypeError(f"expected StateWrite, not {type(write).__name__}")
            check_name(write.actor_type, "actor_type")
            check_name(write.key, "key")
            check_fence(write.fence)
        if not batch:
            return []
        return await self._run(self._write_batch_sync, batch)

    async def write_snapshots(
        self,
        fence: int | Sequence[int],
        actors: Sequence[tuple[str, str]],
        states: Sequence[EncodedState],
        alarms: Sequence[list[dict[str, Any]] | None] | None = None,
    ) -> list[WriteOutcome]:
        """Store encoded states of many actors; return the refused writes.

        The sync worker's call, for batches of a thousand: the same as :meth:`write_states`
        with ``StateWrite(actor_type, key, fence, state)`` for each ``(actor_type, key)`` of
        ``actors`` and the state at the same position of ``states`` (one transaction, each
        write checked against its fence, versions incremented, a key's repeated writes applied
        in order), except that only the refused writes are reported: the usual batch, with
        every write stored, costs no object per write.

        Args:
            fence: One fence for every write, or one per actor (per-actor leases).
            actors: The ``(actor_type, key)`` of each write.
            states: The encoded state of each write.
            alarms: None to leave the stored alarms as they are; or, per actor, None (no
                pending alarm) or the runtime's list of alarm dicts, each with a ``"due_at"``
                in unix seconds: stored as JSON beside the state, with the earliest due time
                in ``alarm_at`` for :meth:`due_alarms`.

        Returns:
            The :attr:`WriteStatus.STALE_FENCE` outcomes, in the order of ``actors``; an empty
            list when every write was stored.

        Raises:
            TypeError, ValueError: if an argument is malformed (checked before anything is
                stored).
        """
        types, keys, fences = split_batch(fence, actors)
        if not all(isinstance(state, EncodedState) for state in states):
            raise TypeError("states must be EncodedState (see EncodedState.encode)")
        texts = [state.text for state in states]
        if len(texts) != len(keys):
            raise ValueError(f"{len(keys)} actors but {len(texts)} states")
        alarm_texts: list[str | None] | None = None
        alarm_ats: list[float | None] | None = None
        if alarms is not None:
            encoded = [encode_alarms(each) for each in alarms]
            if len(encoded) != len(keys):
                raise ValueError(f"{len(keys)} actors but {len(encoded)} alarm lists")
            alarm_texts = [text for text, _ in encoded]
            alarm_ats = [at for _, at in encoded]
        if not keys:
            return []
        batch = Snapshots(types, keys, fences, texts, alarm_texts, alarm_ats)
        return await self._run(self._write_snapshots_sync, batch)

    async def delete_states(
        self, fence: int | Sequence[int], actors: Sequence[tuple[str, str]]
    ) -> list[WriteOutcome]:
        """Delete the stored states of actors whose data was deleted; return the refused ones.

        Fenced like every write (:meth:`write_states`): an actor's row goes only if no fence
        above the writer's is on record, in its state row or its lease; otherwise nothing
        changes for it and the outcome says :attr:`WriteStatus.STALE_FENCE` (a newer owner
        exists). An actor without a stored state is no refusal: there is nothing to delete.
        Lease rows stay (the owner's lease is still its own; a release removes the row of an
        actor without stored state, as for any actor that never synced). One transaction.

        Args:
            fence: One fence for every delete, or one per actor.
            actors: The ``(actor_type, key)`` of each delete.

        Returns:
            The refused deletes (``version``: the stored version, ``fence``: the highest on
            record), in the order of ``actors``; an empty list when every row went.

        Raises:
            TypeError, ValueError: if an argument is malformed (checked before anything
                changes).
        """
        types, keys, fences = split_batch(fence, actors)
        if not keys:
            return []
        return await self._run(self._delete_states_sync, types, keys, fences)

    async def retire_states(self, idle_for: float, *, limit: int = 1000) -> int:
        """Delete up to ``limit`` stored states that nobody needs: not updated for
        ``idle_for`` seconds (database clock), no pending alarm in the store, no node
        holding an unexpired lease on the actor, and no file image or log entry written
        since either (a durable actor's log moves on while its snapshot may not). Their
        released or expired lease rows and their file history go too: nothing of the actor
        stays. A claim that commits while this runs keeps its actor.

        The retention sweep (``--store-retention``) calls it in batches until it returns
        less than ``limit``. One transaction per call, the oldest rows first.

        Returns:
            How many states were deleted.
        """
        seconds = check_ttl(idle_for)
        check_limit(limit)
        return await self._run(self._retire_states_sync, seconds, limit)

    async def due_alarms(self, limit: int = 100) -> list[tuple[str, str]]:
        """Actors with an alarm due (database clock) that no node holds a valid lease on.

        What a live node sweeps to fire the alarms of a dead node's actors: it claims each one
        (:meth:`claim_actor`), which may fail when another node was quicker.

        Returns:
            Up to ``limit`` ``(actor_type, key)``, the earliest due first.
        """
        check_limit(limit)
        return await self._run(self._due_alarms_sync, limit)

    async def read_state(self, actor_type: str, key: str) -> StoredState | None:
        """Return the actor's last stored state, or None if it was never synced."""
        check_name(actor_type, "actor_type")
        check_name(key, "key")
        return await self._run(self._read_state_sync, actor_type, key)

    async def list_states(
        self,
        actor_type: str | None = None,
        *,
        limit: int = 100,
        after: tuple[str, str] | None = None,
    ) -> list[StoredState]:
        """Page through stored states in (actor_type, key) order, for tooling.

        Args:
            actor_type: Only this type, or every type.
            limit: At most this many rows (1 to :data:`MAX_LIST_LIMIT`).
            after: The ``(actor_type, key)`` of the last row of the previous page.

        Keys are ordered by their UTF-8 bytes in both backends.
        """
        after = check_page(actor_type, limit, after)
        return await self._run(self._list_states_sync, actor_type, limit, after)

    # -- nodes -------------------------------------------------------------------------------

    async def register_node(
        self,
        node_id: str,
        address: str,
        *,
        version: str = "",
        protocol: int = 0,
        cluster: str = "",
    ) -> NodeInfo:
        """Add ``node_id`` to the membership table (or restart it), with a fresh heartbeat.

        Args:
            node_id: The node's id (kept in its data dir, so a restarted node is the same row).
            address: Where other nodes reach it.
            version: The roost version it runs.
            protocol: The cluster protocol number it speaks (an integer >= 0).
            cluster: A fingerprint of its cluster secret, ``""`` for a solo node.

        Returns:
            The node's row; ``actors`` counts the unexpired leases it still holds (a node
            restarted after a crash finds its own).
        """
        check_name(node_id, "node_id")
        check_name(address, "address")
        check_name(version, "version")
        check_name(cluster, "cluster")
        if isinstance(protocol, bool) or not isinstance(protocol, int):
            raise TypeError("protocol must be an integer")
        if not 0 <= protocol < 2**31:
            raise ValueError("protocol must be between 0 and 2**31 - 1")
        node = NodeInfo(node_id, address, 0.0, 0.0, 0.0, version, protocol, cluster)
        return await self._run(self._register_node_sync, node)

    async def heartbeat_node(self, node_id: str) -> bool:
        """Record that ``node_id`` is alive. False if it is not registered (re-register it)."""
        check_name(node_id, "node_id")
        return await self._run(self._heartbeat_node_sync, node_id)

    async def unregister_node(self, node_id: str) -> bool:
        """Remove ``node_id`` from the membership table. False if it was not there."""
        check_name(node_id, "node_id")
        return await self._run(self._unregister_node_sync, node_id)

    async def list_nodes(self) -> list[NodeInfo]:
        """Every registered node in ``node_id`` order, with its heartbeat age and lease count."""
        return await self._run(self._list_nodes_sync, None)

    async def live_nodes(self, within: float) -> list[NodeInfo]:
        """The nodes whose last heartbeat is younger than ``within`` seconds (database clock)."""
        seconds = check_ttl(within)
        return await self._run(self._list_nodes_sync, seconds)

    # -- actor files: images and the commit log (storage/_shared/_history.py) ---------------

    async def append_log(self, node_id: str, entries: Sequence[LogEntry]) -> list[tuple[str, str]]:
        """Append commits of actors to their logs, in one transaction, each only while
        ``node_id`` holds the actor's unexpired lease with the entry's fence.

        Returns:
            The ``(actor_type, key)`` of the refused entries (a newer owner exists, or the
            lease expired): their output must never leave.
        """
        batch = list(entries)
        for entry in batch:
            check_name(entry.actor_type, "actor_type")
            check_name(entry.key, "key")
            check_fence(entry.fence)
        if not batch:
            return []

        return await self._append_log(node_id, batch)

    async def truncate_log(
        self, actor_type: str, key: str, *, after: int, fence: int, node_id: str
    ) -> bool:
        """Drop the actor's log entries after position ``after``, while ``node_id`` holds its
        lease with ``fence``: a file rebuilt up to ``after`` goes on from there, and what the
        log holds beyond it (past a gap: never acknowledged) must not mix with what follows.
        Returns False when refused.
        """
        check_name(actor_type, "actor_type")
        check_name(key, "key")
        check_fence(fence)

        def truncate(conn: Any, history: HistorySql) -> bool:
            return history.truncate(conn, node_id, actor_type, key, fence, after)

        return await self._run(self._history_sync, truncate)

    async def put_file_image(
        self,
        actor_type: str,
        key: str,
        *,
        fence: int,
        seq: int,
        image: bytes,
        node_id: str | None = None,
    ) -> bool:
        """Store a compressed image of an actor's file holding its log up to ``seq``.

        Fenced by the lease of ``node_id`` when given, else by the state rule (no higher
        fence on record). Returns False when refused.
        """
        check_name(actor_type, "actor_type")
        check_name(key, "key")
        check_fence(fence)

        def put(conn: Any, history: HistorySql) -> bool:
            return history.put_image(conn, actor_type, key, fence, seq, image, node_id)

        return await self._run(self._history_sync, put)

    async def read_file_history(
        self, actor_type: str, key: str, *, at: float | None = None
    ) -> FileHistory:
        """The actor's newest file image and the log after it (as of unix time ``at``)."""
        check_name(actor_type, "actor_type")
        check_name(key, "key")

        def read(conn: Any, history: HistorySql) -> FileHistory:
            return history.history(conn, actor_type, key, at)

        return await self._run(self._history_sync, read)

    async def prune_file_history(self, actor_type: str, key: str, keep_seconds: float) -> None:
        """Forget images and log entries older than ``keep_seconds`` that a newer image holds."""

        def prune(conn: Any, history: HistorySql) -> None:
            history.prune(conn, actor_type, key, keep_seconds)

        await self._run(self._history_sync, prune)

    async def ping(self) -> None:
        """One round trip to the database, for readiness checks.

        Raises:
            StoreUnavailable: the database cannot be reached or did not answer in time.
        """
        await self._run(self._ping_sync)

    # -- plumbing ----------------------------------------------------------------------------

    async def _run(self, fn: Callable[[*Ts], T], *args: *Ts) -> T:
        if self._phase is not _Phase.OPEN:
            raise StorageError(f"shared store is {self._phase.value}, not open")
        return await self._call(fn, *args)

    async def _run_here(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Like :meth:`_run`, for a call that does its I/O on trio's own thread (it keeps
        its own deadline), noting what it found for :meth:`health` too."""
        if self._phase is not _Phase.OPEN:
            raise StorageError(f"shared store is {self._phase.value}, not open")
        try:
            result = await fn()
        except StoreUnavailable as exc:
            self._reachable, self._error = False, str(exc)
            raise
        self._reachable, self._error = True, None
        return result

    async def _append_log(self, node_id: str, batch: list[LogEntry]) -> list[tuple[str, str]]:
        """Durable output's append: on the path of every acknowledged turn (a backend may
        take a shorter way to the database)."""
        return await self._run(self._append_log_sync, node_id, batch)

    async def _call(self, fn: Callable[[*Ts], T], *args: *Ts) -> T:
        """Run ``fn`` in a worker thread under the call deadline (see :mod:`._deadline`),
        noting what the call found for :meth:`health`.

        Raises:
            StoreUnavailable: the database cannot be reached or the deadline passed.
        """
        try:
            result = await self._runner.run(fn, *args)
        except StoreUnavailable as exc:
            self._reachable, self._error = False, str(exc)
            raise
        self._reachable, self._error = True, None
        return result

    def _holding(self, cut: Callable[[], None]) -> AbstractContextManager[None]:
        """In a worker thread: if this call is abandoned while the block runs, run ``cut``.

        Backends wrap each blocking use of a connection in it.
        """
        return self._runner.holding(cut)

    @abc.abstractmethod
    def _open_sync(self) -> None: ...

    @abc.abstractmethod
    def _close_sync(self) -> None: ...

    @abc.abstractmethod
    def _acquire_lease_sync(
        self, actor_type: str, key: str, node_id: str, ttl: float
    ) -> Lease | None: ...

    @abc.abstractmethod
    def _renew_lease_sync(self, lease: Lease, ttl: float) -> Lease | None: ...

    @abc.abstractmethod
    def _release_lease_sync(self, lease: Lease) -> bool: ...

    @abc.abstractmethod
    def _claim_actor_sync(
        self, actor_type: str, key: str, node_id: str, ttl: float
    ) -> Claim | None: ...

    @abc.abstractmethod
    def _renew_leases_sync(
        self, node_id: str, types: list[str], keys: list[str], fences: list[int], ttl: float
    ) -> set[LeaseKey]: ...

    @abc.abstractmethod
    def _release_leases_sync(
        self, node_id: str, types: list[str], keys: list[str], fences: list[int]
    ) -> int: ...

    @abc.abstractmethod
    def _lease_owner_sync(self, actor_type: str, key: str) -> LeaseOwner | None: ...

    @abc.abstractmethod
    def _max_fence_sync(self) -> int: ...

    @abc.abstractmethod
    def _list_leases_sync(
        self, actor_type: str | None, limit: int, after: tuple[str, str] | None
    ) -> list[LeaseInfo]: ...

    @abc.abstractmethod
    def _write_batch_sync(self, batch: list[StateWrite]) -> list[WriteOutcome]: ...

    @abc.abstractmethod
    def _write_snapshots_sync(self, batch: Snapshots) -> list[WriteOutcome]: ...

    @abc.abstractmethod
    def _delete_states_sync(
        self, types: list[str], keys: list[str], fences: list[int]
    ) -> list[WriteOutcome]: ...

    @abc.abstractmethod
    def _retire_states_sync(self, idle_for: float, limit: int) -> int: ...

    @abc.abstractmethod
    def _due_alarms_sync(self, limit: int) -> list[tuple[str, str]]: ...

    @abc.abstractmethod
    def _read_state_sync(self, actor_type: str, key: str) -> StoredState | None: ...

    @abc.abstractmethod
    def _list_states_sync(
        self, actor_type: str | None, limit: int, after: tuple[str, str] | None
    ) -> list[StoredState]: ...

    @abc.abstractmethod
    def _register_node_sync(self, node: NodeInfo) -> NodeInfo: ...

    @abc.abstractmethod
    def _heartbeat_node_sync(self, node_id: str) -> bool: ...

    @abc.abstractmethod
    def _unregister_node_sync(self, node_id: str) -> bool: ...

    @abc.abstractmethod
    def _list_nodes_sync(self, within: float | None) -> list[NodeInfo]: ...

    @abc.abstractmethod
    def _ping_sync(self) -> None: ...

    @abc.abstractmethod
    def _history_sync(self, fn: Callable[[Any, HistorySql], T]) -> T:
        """Run ``fn(connection, dialect)`` in one write transaction (storage/_shared/_history)."""

    def _append_log_sync(self, node_id: str, batch: list[LogEntry]) -> list[tuple[str, str]]:
        def append(conn: Any, history: HistorySql) -> list[tuple[str, str]]:
            return history.append_many(conn, node_id, batch)

        return self._history_sync(append)


def check_fence(fence: object) -> None:
    """Refuse a fence that is not an integer a bigint column holds (and no lease hands out).

    Raises:
        TypeError: if it is not an int (bool is not).
        ValueError: if it is negative or not below 2**63.
    """
    if not isinstance(fence, int) or isinstance(fence, bool):
        raise TypeError("fence must be an integer")
    if not 0 <= fence < 2**63:
        raise ValueError("fence must be between 0 and 2**63 - 1")


def check_fences(fences: list[int]) -> None:
    """:func:`check_fence` for a batch: one pass in C decides when all are fine.

    Raises:
        TypeError, ValueError: as :func:`check_fence`, for the first bad one.
    """
    if fences and all(type(f) is int for f in fences) and 0 <= min(fences) <= max(fences) < 2**63:
        return
    for fence in fences:
        check_fence(fence)


def check_limit(limit: object) -> None:
    """Refuse a page size that is not an integer from 1 to :data:`MAX_LIST_LIMIT`.

    Raises:
        TypeError, ValueError: otherwise.
    """
    if not isinstance(limit, int) or isinstance(limit, bool):
        raise TypeError("limit must be an integer")
    if not 1 <= limit <= MAX_LIST_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIST_LIMIT}")


def check_page(
    actor_type: str | None, limit: int, after: tuple[str, str] | None
) -> tuple[str, str] | None:
    """Check the arguments of a paged listing; return ``after`` as a checked pair.

    Raises:
        TypeError, ValueError: for a bad type name, page size or ``after`` pair.
    """
    if actor_type is not None:
        check_name(actor_type, "actor_type")
    check_limit(limit)
    if after is None:
        return None
    after_type, after_key = after
    return (check_name(after_type, "after[0]"), check_name(after_key, "after[1]"))


def split_batch(
    fence: int | Sequence[int], actors: Sequence[tuple[str, str]]
) -> tuple[list[str], list[str], list[int]]:
    """Check a batch of ``(actor_type, key)`` with one fence or one per actor, and return it
    as three columns.

    Raises:
        TypeError, ValueError: if a name or fence is malformed, or the counts differ.
    """
    types = [actor_type for actor_type, _ in actors]
    keys = [key for _, key in actors]
    check_names(types, "actor_type")
    check_names(keys, "key")
    if isinstance(fence, int):
        check_fence(fence)
        return types, keys, [fence] * len(keys)
    fences = list(fence)
    check_fences(fences)
    if len(fences) != len(keys):
        raise ValueError(f"{len(keys)} actors but {len(fences)} fences")
    return types, keys, fences


def split_leases(leases: Sequence[LeaseKey]) -> tuple[list[str], list[str], list[int]]:
    """Check a batch of ``(actor_type, key, fence)`` and return it as three columns.

    Raises:
        TypeError, ValueError: if an entry is not such a triple, or a part is malformed.
    """
    try:
        types, keys, fences = (list(column) for column in zip(*leases, strict=True))
    except ValueError:  # nothing to unpack: an empty batch, or triples of other lengths
        if any(len(lease) != 3 for lease in leases):
            raise ValueError("leases must be (actor_type, key, fence) triples") from None
        return [], [], []
    except TypeError:
        raise TypeError("leases must be (actor_type, key, fence) triples") from None
    check_names(types, "actor_type")
    check_names(keys, "key")
    check_fences(fences)
    return types, keys, fences


def state_text(write: StateWrite) -> str:
    """The JSON text of a write's state, encoding it unless it came encoded."""
    state = write.state
    if isinstance(state, EncodedState):
        return state.text
    return encode_state(state)


def dedupe_rounds(idents: Sequence[tuple[str, str]]) -> list[list[int]]:
    """Split a batch of ``(actor_type, key)`` into rounds of indexes with each key once.

    A set-based upsert may touch each row only once per statement, so the n-th write of a key
    goes into round n; rounds run in order, which applies a key's writes in order. Without
    duplicates (the usual case) there is one round.
    """
    rounds: list[list[int]] = []
    seen: dict[tuple[str, str], int] = {}
    for index, ident in enumerate(idents):
        n = seen.get(ident, 0)
        seen[ident] = n + 1
        if n == len(rounds):
            rounds.append([])
        rounds[n].append(index)
    return rounds
