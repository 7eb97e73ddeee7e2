"""``roost actors export/import/restore --store``: actor files as the shared store keeps them.

Durable actors (``--durable``) and ``replicate_file`` actors keep their *file* in the store:
compressed images and, for durable ones, a log of every commit (storage/_shared/_history.py).
These tools work on that history, never on a node's data directory:

- ``export`` rebuilds the file the next owner would get (the newest image plus the log after
  it) and writes a compact copy of it;
- ``import`` stores a database as the actor's newest image;
- ``restore --at`` rebuilds the file as it was at a moment (the newest image as of then plus
  the log up to then) and stores *that* as the newest image.

Import and restore add a version, they never rewrite or delete history: the new image goes at
the position after the last one, under a fence of its own. The tool claims the actor's lease
as a node of its own (``roost-tools-<pid>``) for the write, so the store checks it like any
owner's, refuses while a node holds the actor (the node would go on from its own file), and
the next node to claim the actor gets a higher fence and rebuilds from the new image. The
stored state, if any, takes the tool's fence too (its snapshot unchanged), so a cluster node
whose local copy of a ``replicate_file`` actor is older sees it as stale.

A refusal (:class:`Refused`: no history, a node holds the actor, a moment without history, an
input that is not this actor's database) changes nothing in the store.
"""

from __future__ import annotations

import datetime
import os
import sqlite3
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from pathlib import Path
from typing import IO

import attrs
import trio

from roost import _tools
from roost._errors import StorageError
from roost._import_actor import _copy_database, _copy_stream
from roost.runtime._durable import _write_history, read_image
from roost.storage import (
    EncodedState,
    Lease,
    SharedStore,
    StateWrite,
    actor_db_path,
    open_shared_store,
)
from roost.storage._shared._history import FileHistory

__all__ = [
    "Refused",
    "Stored",
    "export_from_store",
    "import_to_store",
    "parse_moment",
    "restore_in_store",
]

#: Seconds the tool's lease lasts: enough to store one image; a killed tool holds the actor
#: no longer than this.
LEASE_TTL = 60.0
#: The largest fence SQLite's user_version holds (storage/_file_fence stamps the same way).
MAX_STAMP = 2**31 - 1
#: Seconds between two tries to claim the actor under ``--wait``.
WAIT_POLL = 0.5


class Refused(StorageError):
    """The tool refused, and changed nothing in the store (exit status 2)."""


@attrs.frozen
class Stored:
    """What ``import`` or ``restore`` stored: the image's position and fence."""

    seq: int
    fence: int


def tool_node_id() -> str:
    """The lease holder the tools claim actors as."""
    return f"roost-tools-{os.getpid()}"


def parse_moment(text: str) -> float:
    """Unix seconds from ``1733400000.5`` or ISO 8601 (``2026-12-06T07:30:00Z``; a moment
    without an offset is UTC).

    Raises:
        Refused: neither.
    """
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        raise Refused(
            f"{text!r} is not a moment: give ISO 8601 (2026-12-06T07:30:00Z) or unix seconds"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


def iso_moment(at: float) -> str:
    """Unix seconds as ISO 8601 in UTC, to the microsecond (what the store's clock keeps)."""
    return datetime.datetime.fromtimestamp(at, datetime.UTC).isoformat()


# -- the commands -----------------------------------------------------------------------------


def export_from_store(
    data_dir: Path, store: str | None, ref: str, out: IO[bytes] | Path
) -> FileHistory:
    """Write the actor's file as the store holds it (newest image plus the log after it).

    Raises:
        Refused: the store holds no file history of the actor.
        StorageError, StoreUnavailable: the store or the rebuild failed.
    """
    actor_type, key = _tools.parse_actor(ref)

    async def run() -> FileHistory:
        async with _opened(data_dir, store) as shared:
            return await shared.read_file_history(actor_type, key)

    history = trio.run(run)
    if history.image is None and not history.entries:
        raise Refused(
            f"the store holds no file of {actor_type}/{key} (only durable and replicate_file "
            "actors keep one there)"
        )
    with tempfile.TemporaryDirectory(prefix=".roost-export-") as scratch:
        _rebuilt(Path(scratch), actor_type, key, history)
        _tools.export_actor(Path(scratch), ref, out)
    return history


def import_to_store(
    data_dir: Path, store: str | None, ref: str, source: IO[bytes] | Path, *, wait: bool = False
) -> Stored:
    """Store the database in ``source`` as the actor's newest image.

    Raises:
        Refused: the input is not an SQLite database recorded as this actor, or a node holds
            the actor (unless ``wait``).
        StorageError, StoreUnavailable: the store failed.
    """
    actor_type, key = _tools.parse_actor(ref)
    with tempfile.TemporaryDirectory(prefix=".roost-import-") as scratch:
        staging = Path(scratch) / "actor.sqlite"
        try:
            if isinstance(source, Path):
                _copy_database(source, staging)
                label = str(source)
            else:
                with staging.open("wb") as raw:
                    _copy_stream(source, raw)
                label = "the input"
            with _tools.sql_errors():
                _check_actor(staging, label, actor_type, key)
        except StorageError as exc:
            raise Refused(str(exc)) from None

        async def run() -> Stored:
            async with (
                _opened(data_dir, store) as shared,
                _holding(shared, actor_type, key, wait=wait) as lease,
            ):
                current = await shared.read_file_history(actor_type, key)
                return await _store_image(shared, lease, staging, current.last_seq + 1)

        return trio.run(run)


def restore_in_store(
    data_dir: Path, store: str | None, ref: str, at: float, *, wait: bool = False
) -> Stored:
    """Store the actor's file as it was at unix time ``at`` as its newest image.

    Raises:
        Refused: the store holds no complete history of the actor at ``at`` (older than its
            oldest, or pruned: ``--log-retention``), or a node holds the actor (unless
            ``wait``).
        StorageError, StoreUnavailable: the store or the rebuild failed.
    """
    actor_type, key = _tools.parse_actor(ref)
    moment = iso_moment(at)

    async def past(shared: SharedStore) -> FileHistory:
        history = await shared.read_file_history(actor_type, key, at=at)
        if not _complete(history):
            raise Refused(
                f"the store holds no history of {actor_type}/{key} as of {moment}: that is "
                "older than its oldest kept history (--log-retention) or before its first write"
            )
        return history

    async def run() -> Stored:
        async with _opened(data_dir, store) as shared:
            await past(shared)  # refuse a moment without history before claiming anything
            async with _holding(shared, actor_type, key, wait=wait) as lease:
                then = await past(shared)
                current = await shared.read_file_history(actor_type, key)
                with tempfile.TemporaryDirectory(prefix=".roost-restore-") as scratch:
                    path = await trio.to_thread.run_sync(
                        _rebuilt, Path(scratch), actor_type, key, then
                    )
                    return await _store_image(shared, lease, path, current.last_seq + 1)

    return trio.run(run)


# -- pieces -----------------------------------------------------------------------------------


@asynccontextmanager
async def _opened(data_dir: Path, store: str | None) -> AsyncIterator[SharedStore]:
    location = _tools.store_location(data_dir, store)
    if isinstance(location, Path) and not location.is_file():
        raise StorageError(f"no shared store at {location} (check --data-dir or --store)")
    async with open_shared_store(store, data_dir=data_dir) as shared:
        yield shared


@asynccontextmanager
async def _holding(
    shared: SharedStore, actor_type: str, key: str, *, wait: bool
) -> AsyncIterator[Lease]:
    """Hold the actor's lease as the tool's own node, released at the end.

    Raises:
        Refused: a node holds an unexpired lease on it and ``wait`` is false.
    """
    node_id = tool_node_id()
    while True:
        lease = await shared.acquire_lease(actor_type, key, node_id, LEASE_TTL)
        if lease is not None:
            break
        owner = await shared.lease_owner(actor_type, key)
        if owner is not None and not wait:
            raise Refused(
                f"{actor_type}/{key} is held by node {owner.node_id} (lease for "
                f"{max(owner.expires_in, 0):.0f} s more): stop it there first, or --wait"
            )
        await trio.sleep(WAIT_POLL)
    try:
        yield lease
    finally:
        with trio.CancelScope(shield=True):
            await shared.release_lease(lease)


def _complete(history: FileHistory) -> bool:
    """The history rebuilds a file: an image or the first commit, and no entry missing
    between the image and the log after it (pruned entries leave such a hole)."""
    if not history.entries:
        return history.image is not None
    return history.entries[0][0] == history.image_seq + 1


def _rebuilt(root: Path, actor_type: str, key: str, history: FileHistory) -> Path:
    """The file ``history`` describes, at the actor's place under the data dir ``root``."""
    path = actor_db_path(root, actor_type, key)
    _write_history(path, history.image, history.entries)
    return path


def _check_actor(path: Path, label: str, actor_type: str, key: str) -> None:
    """Refuse a database that is damaged or not recorded as this actor's (``_roost_meta``).

    Raises:
        StorageError, sqlite3.Error: it is not.
    """
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        check = conn.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise StorageError(f"{label} is damaged: {check}")
        meta = _tools.read_meta(conn)
        if not meta:
            raise StorageError(f"{label} is not an actor's database (it has no _roost_meta)")
        if meta != {"actor_type": actor_type, "key": key}:
            owner = f"{meta.get('actor_type')}/{meta.get('key')}"
            raise StorageError(f"{label} holds actor {owner}, not {actor_type}/{key}")


async def _store_image(shared: SharedStore, lease: Lease, path: Path, seq: int) -> Stored:
    """Stamp the file with the lease's fence, store it as the image at ``seq``, and move the
    stored state (if any) to that fence.

    Raises:
        StorageError: the store refused the image (the lease was lost meanwhile).
    """
    image = await trio.to_thread.run_sync(_stamped_image, path, lease.fence)
    stored = await shared.put_file_image(
        lease.actor_type,
        lease.key,
        fence=lease.fence,
        seq=seq,
        image=image,
        node_id=lease.node_id,
    )
    if not stored:
        raise StorageError(
            f"the store refused the image of {lease.actor_type}/{lease.key}: the tool's lease "
            "was lost meanwhile; nothing was stored"
        )
    state = await shared.read_state(lease.actor_type, lease.key)
    if state is not None:
        write = StateWrite(
            lease.actor_type, lease.key, lease.fence, EncodedState.encode(state.state)
        )
        await shared.write_states([write])
    return Stored(seq, lease.fence)


def _stamped_image(path: Path, fence: int) -> bytes:
    """The file in WAL mode (as a node's files are) with ``fence`` in its header (the fence
    stamp of storage/_file_fence), compressed as an image."""
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA user_version = {min(int(fence), MAX_STAMP)}")
    return read_image(path)
