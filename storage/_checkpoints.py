"""Checkpoints of actors' WALs in a worker thread, off the event loop.

SQLite checkpoints a WAL from inside the COMMIT that takes it past 1,000 frames (its
automatic checkpoint): that COMMIT copies the frames into the database file and syncs both
(under ``synchronous=NORMAL`` too), a few to tens of milliseconds on ext4 during which the
event loop runs nothing else. A node serving a busy actor at a steady 2,000-5,000 calls/s
did so several times a second, and those stalls were its p99 (6-7 ms against a p50 of
0.3 ms; BENCHMARKS.md, "Checkpoints off the event loop").

So an actor file opened with a :class:`Checkpointer` turns the automatic checkpoint off, and
after each COMMIT looks at its wal-index (one read of the -shm header): past
:data:`CHECKPOINT_FRAMES` frames not yet copied into the file, it hands the file to the
checkpointer, whose task runs ``PRAGMA wal_checkpoint(PASSIVE)`` on a connection of its own
in a worker thread, one file at a time. SQLite releases the GIL while it copies and syncs,
and PASSIVE never blocks the actor's writer. Nothing about durability changes: every commit
is in the WAL before its output leaves (G4), as before; a checkpoint only moves committed
frames into the file.

A WAL starts over (its next frame written at its beginning) only when a write transaction
begins with every frame copied, and a busy actor commits meanwhile: the thread's checkpoint
leaves the frames committed while it ran. So a COMMIT that finds its WAL
:data:`INLINE_FRAMES` long copies the rest itself (a PASSIVE checkpoint on the writer's own
connection: nothing writes meanwhile; the thread checkpoints again while it is left behind,
so that rest is a few pages), and the next write starts the WAL over. That step syncs the
WAL and the file (and SQLite syncs the restarted WAL's header): a stall of a few
milliseconds, once per INLINE_FRAMES frames instead of once per CHECKPOINT_FRAMES; a busy
actor's WAL grows to about 32 MiB in exchange. Without that step the WAL of an actor under
steady writes grew without end (760 MB in six seconds of the ledger benchmark).

Bounded: at most ``max_pending`` files wait (a file is queued once); when the queue is full
the COMMIT checkpoints the file itself as SQLite would have, and a WAL INLINE_FRAMES long is
checkpointed by its COMMIT whatever the thread does. Durable actors (runtime/_durable) keep
SQLite's automatic checkpoint: their WAL tail reads base pages from the database file, which
a checkpoint in another thread could be writing at that moment.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from urllib.parse import quote

import trio

from roost._errors import ConfigError

from ._connection import keep_wal_on_close, set_synchronous
from ._wal import wal_frames

__all__ = ["CHECKPOINT_FRAMES", "INLINE_FRAMES", "Checkpointer", "checkpoint_due", "wal_frames"]

log = logging.getLogger("roost.storage")

#: Frames not yet in the database file at which a WAL is handed to the checkpointer
#: (SQLite's own automatic checkpoint threshold: about 4 MiB of 4 KiB pages).
CHECKPOINT_FRAMES = 1000
#: Frames at which a COMMIT checkpoints its WAL itself: the checkpointer is behind, and the
#: WAL (and the next reopen's recovery) must stay bounded.
INLINE_FRAMES = 8 * CHECKPOINT_FRAMES
#: The thread checkpoints again (up to PASSES times in all) while more than this many
#: frames were committed during its last pass: each pass is shorter than the one before,
#: and what the COMMIT copies at the end (see the module doc) is a few pages.
LEFT_FRAMES = 16
PASSES = 4


class Checkpointer:
    """Runs actors' checkpoints one at a time in a worker thread (see the module doc).

    Lives on the trio thread: :meth:`want` is called by COMMITs, :meth:`run` by the server.

    Args:
        max_pending: Files waiting at most (>= 1); past it a COMMIT checkpoints inline.
        busy_timeout: Seconds the checkpoint's connection waits for a lock when it opens.
        counted: Told of each checkpoint the thread ran: whether it succeeded (metrics).

    Raises:
        ConfigError: ``max_pending`` is not a positive integer.
    """

    def __init__(
        self,
        *,
        max_pending: int = 4096,
        busy_timeout: float = 5.0,
        counted: Callable[[bool], None] | None = None,
    ) -> None:
        if not isinstance(max_pending, int) or isinstance(max_pending, bool) or max_pending < 1:
            raise ConfigError("max_pending must be an integer >= 1")
        self._max_pending = max_pending
        self._busy_timeout = busy_timeout
        self._pending: dict[str, str] = {}  # path -> synchronous, oldest first
        self._wake = trio.Event()
        self._stopped = trio.Event()  # set while run() is not running
        self._stopped.set()
        self._counted = counted

    @property
    def pending(self) -> int:
        """Files waiting for their checkpoint."""
        return len(self._pending)

    def want(self, path: Path, synchronous: str) -> bool:
        """Queue a checkpoint of ``path`` (once, however often asked); False when the queue
        is full (the caller checkpoints itself)."""
        name = str(path)
        if name not in self._pending:
            if len(self._pending) >= self._max_pending:
                return False
            self._pending[name] = synchronous
        if not self._stopped.is_set():  # run() waits for work
            self._wake.set()
        return True

    def forget(self, path: Path) -> None:
        """The file's handle closed: its close checkpoints it (or keeps a small WAL), and a
        connection of the thread opened now would be the file's first, which replays the
        whole WAL (SQLite's recovery) while an activation of the actor might wait for it."""
        self._pending.pop(str(path), None)

    async def run(self) -> None:
        """Checkpoint the queued files, oldest first, until cancelled. A checkpoint under
        way finishes (its thread is not abandoned: it holds the file's checkpoint lock)."""
        self._stopped = trio.Event()
        try:
            while True:
                if not self._pending:
                    self._wake = trio.Event()
                    await self._wake.wait()
                await self.run_pending()
        finally:
            self._stopped.set()

    async def stopped(self) -> None:
        """Until :meth:`run` (cancelled) has returned: no connection of the thread is open
        on any actor file, so an actor's own close is its file's last (it checkpoints and
        removes the WAL: a stopped node's files stand alone)."""
        await self._stopped.wait()

    async def run_pending(self) -> None:
        """Checkpoint the files queued now and those queued meanwhile, then return."""
        while self._pending:
            path = next(iter(self._pending))
            synchronous = self._pending.pop(path)
            ok = await trio.to_thread.run_sync(
                checkpoint_aside, path, synchronous, self._busy_timeout
            )
            if self._counted is not None:
                self._counted(ok)


def checkpoint_aside(path: str, synchronous: str, busy_timeout: float) -> bool:
    """``PRAGMA wal_checkpoint(PASSIVE)`` of ``path`` on a connection of its own (in a worker
    thread); whether it ran. Nothing is created: a file that is gone, or whose WAL went with
    its last connection's close, is left alone.

    The connection's close never checkpoints nor deletes the WAL (``keep_wal_on_close``):
    SQLite deletes a WAL *by name* when its last connection closes, and the actor's file may
    have been removed and created anew meanwhile (a takeover restores it from the store), so
    that name may be the new file's WAL. Where that option cannot be set (not CPython 3.11
    or 3.12+), the thread leaves the WAL to the COMMIT (at INLINE_FRAMES).
    """
    if not os.path.exists(f"{path}-wal"):
        return True
    uri = f"file:{quote(path)}?mode=rw"
    try:
        with closing(sqlite3.connect(uri, uri=True, timeout=busy_timeout)) as conn:
            if not keep_wal_on_close(conn):
                return True
            set_synchronous(conn, synchronous)  # what the checkpoint syncs: as the actor's
            for _ in range(PASSES):
                _busy, last, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                if last - copied <= LEFT_FRAMES:
                    break
    except (sqlite3.Error, ConfigError) as exc:
        if not os.path.exists(path):
            return True  # deleted meanwhile
        log.warning("could not checkpoint %s: %s (its next COMMITs try again)", path, exc)
        return False
    return True


#: What a COMMIT does about its WAL (:func:`checkpoint_due`).
NOTHING, QUEUE, HERE = "nothing", "queue", "here"


def checkpoint_due(frames: tuple[int, int] | None) -> str:
    """What a COMMIT does about its WAL, given its :func:`wal_frames`: ``QUEUE`` it for the
    checkpointer (CHECKPOINT_FRAMES to copy), checkpoint it ``HERE`` (INLINE_FRAMES long:
    the thread is that far behind, or it copied the bulk and the WAL must start over), or
    ``NOTHING``."""
    if frames is None:
        return NOTHING
    last, copied = frames
    if CHECKPOINT_FRAMES <= last - copied < INLINE_FRAMES:
        return QUEUE
    return HERE if last >= INLINE_FRAMES else NOTHING
