"""A bound on the SQLite handles a node keeps open, shared by all its actors.

Each open actor file costs file descriptors (the database, its ``-wal`` and ``-shm`` files)
and a page cache. The pool keeps at most ``max_open`` handles open, closing the least recently
used idle one when a new one opens; a closed handle reopens transparently on the actor's next
access, so a node can host far more actors than it has file descriptors. A handle inside a turn
(or with a transaction open) is pinned and never closed; if every handle is pinned the pool
goes over its limit until turns end, and :meth:`HandlePool.statistics` shows it.

The pool also remembers up to ``max_kept_wals`` files whose last handle was closed leaving
its WAL in place (``ActorStorage.close(keep_wal=True)``: an evicted actor whose next
activation should find its -wal and -shm): past that bound the oldest is checkpointed at
once, and :meth:`HandlePool.checkpoint_kept` checkpoints them all (a graceful shutdown), so a
stopped node's files stand alone.
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from contextlib import closing, suppress
from pathlib import Path
from typing import Protocol

import attrs

from roost._errors import ConfigError

__all__ = ["HandlePool", "PoolStatistics"]


class PooledHandle(Protocol):
    """What the pool needs from an open handle (implemented by ActorStorage)."""

    def _pool_pinned(self) -> bool:
        """Whether the handle must stay open (a turn or a transaction is in progress)."""
        ...

    def _pool_evict(self) -> None:
        """Close the handle; it must reopen by itself on next use."""
        ...


@attrs.frozen
class PoolStatistics:
    """A snapshot of a :class:`HandlePool`.

    Attributes:
        open: Handles open now; above ``max_open`` only while pinned handles leave no choice.
        max_open: The configured limit.
        opened_total: Handles opened since the pool was created (reopens included).
        closed_total: Handles closed since the pool was created, by eviction or explicitly.
        evicted_total: The part of ``closed_total`` closed by the pool to stay under its limit.
    """

    open: int
    max_open: int
    opened_total: int
    closed_total: int
    evicted_total: int

    @property
    def over_limit(self) -> bool:
        """Whether more handles are open than ``max_open`` (all others were pinned)."""
        return self.open > self.max_open


class HandlePool:
    """Keeps at most ``max_open`` actor SQLite handles open, least recently used out first.

    Not thread-safe; it lives on the trio thread like the actors. Every operation is O(1)
    except an eviction that has to skip pinned handles (each skipped handle moves to the most
    recently used end, so the cost is amortised).

    Args:
        max_open: Limit on open handles (>= 1). Each costs up to three file descriptors plus
            SQLite's page cache (2 MB by default, only as used).
        max_kept_wals: Limit on closed files left with their WAL (>= 0). Each costs its path
            in memory and, on disk, its WAL (under 256 KiB) and a 32 KiB -shm file.

    Raises:
        ConfigError: if ``max_open`` is not a positive integer or ``max_kept_wals`` is
            negative.
    """

    def __init__(self, *, max_open: int = 256, max_kept_wals: int = 1024) -> None:
        if not isinstance(max_open, int) or isinstance(max_open, bool) or max_open < 1:
            raise ConfigError("max_open must be an integer >= 1")
        if (
            not isinstance(max_kept_wals, int)
            or isinstance(max_kept_wals, bool)
            or max_kept_wals < 0
        ):
            raise ConfigError("max_kept_wals must be an integer >= 0")
        self._max_open = max_open
        self._max_kept_wals = max_kept_wals
        self._kept: OrderedDict[Path, None] = OrderedDict()
        self._handles: OrderedDict[PooledHandle, None] = OrderedDict()
        self._opened_total = 0
        self._closed_total = 0
        self._evicted_total = 0

    @property
    def max_open(self) -> int:
        """The configured limit."""
        return self._max_open

    def statistics(self) -> PoolStatistics:
        """Return an immutable snapshot of the pool's counters."""
        return PoolStatistics(
            open=len(self._handles),
            max_open=self._max_open,
            opened_total=self._opened_total,
            closed_total=self._closed_total,
            evicted_total=self._evicted_total,
        )

    @property
    def kept_wals(self) -> int:
        """Closed files whose WAL the pool keeps for their next open."""
        return len(self._kept)

    def checkpoint_kept(self) -> int:
        """Checkpoint every kept WAL into its file (removing it and its -shm); return how
        many files there were. For a graceful shutdown: afterwards each file stands alone."""
        paths = list(self._kept)
        self._kept.clear()
        for path in paths:
            checkpoint_file(path)
        return len(paths)

    def close_idle(self) -> int:
        """Close every handle that is not pinned; return how many were closed."""
        victims = [h for h in self._handles if not h._pool_pinned()]
        for handle in victims:
            self._evict(handle)
        return len(victims)

    # -- used by ActorStorage ------------------------------------------------------------------

    def _register(self, handle: PooledHandle) -> None:
        """Record a newly opened handle as most recently used, evicting others if needed."""
        self._handles[handle] = None
        self._opened_total += 1
        if len(self._handles) > self._max_open:
            self._shrink(keep=handle)

    def _touch(self, handle: PooledHandle) -> None:
        """Mark ``handle`` (which must be registered) as most recently used."""
        self._handles.move_to_end(handle)
        if len(self._handles) > self._max_open:
            self._shrink(keep=handle)

    def _keep_wal(self, path: Path) -> bool:
        """Remember that ``path`` was closed with its WAL kept; False when the pool keeps
        none (the caller checkpoints it). Past the limit the oldest kept one is checkpointed."""
        if self._max_kept_wals == 0:
            return False
        self._kept[path] = None
        self._kept.move_to_end(path)
        while len(self._kept) > self._max_kept_wals:
            oldest, _ = self._kept.popitem(last=False)
            checkpoint_file(oldest)
        return True

    def _reopened(self, path: Path) -> None:
        """``path`` is open again: its WAL is its handle's business now."""
        self._kept.pop(path, None)

    def _unregister(self, handle: PooledHandle) -> None:
        """Forget a handle its owner closed."""
        if self._handles.pop(handle, _MISSING) is not _MISSING:
            self._closed_total += 1

    def _shrink(self, *, keep: PooledHandle) -> None:
        handles = self._handles
        budget = len(handles)  # look at each handle at most once
        while len(handles) > self._max_open and budget > 0:
            budget -= 1
            oldest = next(iter(handles))
            if oldest is keep or oldest._pool_pinned():
                handles.move_to_end(oldest)
                continue
            self._evict(oldest)

    def _evict(self, handle: PooledHandle) -> None:
        del self._handles[handle]
        self._closed_total += 1
        self._evicted_total += 1
        handle._pool_evict()


_MISSING = object()


def checkpoint_file(path: Path) -> None:
    """Checkpoint the WAL of a closed file into it; closing the only connection then removes
    the -wal and -shm files. Nothing is created when the file is gone."""
    if not path.exists():
        return
    with suppress(sqlite3.Error), closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
