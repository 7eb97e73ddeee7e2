"""A bound on the SQLite handles a node keeps open, shared by all its actors.

Each open actor file costs file descriptors (the database, its ``-wal`` and ``-shm`` files)
and a page cache. The pool keeps at most ``max_open`` handles open, closing the least recently
used idle one when a new one opens; a closed handle reopens transparently on the actor's next
access, so a node can host far more actors than it has file descriptors. A handle inside a turn
(or with a transaction open) is pinned and never closed; if every handle is pinned the pool
goes over its limit until turns end, and :meth:`HandlePool.statistics` shows it.

The pool also remembers up to ``max_kept_wals`` files whose last handle was closed leaving
its WAL in place (``ActorStorage.close(keep_wal=True)``: an evicted actor whose next
activation should find its -wal and -shm), taking at most ``max_kept_bytes`` of disk: past
either bound the oldest is checkpointed at once (on ext4, three fsyncs: the WAL, its
directory, the file), and :meth:`HandlePool.checkpoint_kept` checkpoints them all (a graceful
shutdown), so a stopped node's files stand alone. The bounds are sized for a working set of
~10,000 actors that come and go (alarms, evictions): a kept WAL costs its disk space, what an
open actor's WAL costs anyway, and saves those fsyncs at every eviction.
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
        max_open: Limit on open handles (>= 1). Each costs up to four file descriptors (the
            file, its -wal and -shm, and the -shm again for storage/_checkpoints.py) plus
            SQLite's page cache (2 MB by default, only as used).
        max_kept_wals: Limit on closed files left with their WAL (>= 0). Each costs its path
            in memory (~150 bytes) and, on disk, its WAL (under 256 KiB) and a 32 KiB -shm
            file.
        max_kept_bytes: Limit on the disk those files' WALs and -shm files take (>= 0).

    Raises:
        ConfigError: if ``max_open`` is not a positive integer, or ``max_kept_wals`` or
            ``max_kept_bytes`` is not a non-negative one.
    """

    def __init__(
        self,
        *,
        max_open: int = 256,
        max_kept_wals: int = 16_384,
        max_kept_bytes: int = 1 << 30,
    ) -> None:
        for name, value, least in (
            ("max_open", max_open, 1),
            ("max_kept_wals", max_kept_wals, 0),
            ("max_kept_bytes", max_kept_bytes, 0),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise ConfigError(f"{name} must be an integer >= {least}")
        self._max_open = max_open
        self._max_kept_wals = max_kept_wals
        self._max_kept_bytes = max_kept_bytes
        # path (str: cheaper to hash than Path) -> disk bytes of its WAL and -shm
        self._kept: OrderedDict[str, int] = OrderedDict()
        self._kept_bytes = 0
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
        self._kept_bytes = 0
        for path in paths:
            checkpoint_file(Path(path))
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

    def _keep_wal(self, path: Path, wal_bytes: int) -> bool:
        """Remember that ``path`` was closed with its WAL (``wal_bytes`` long) kept; False
        when the pool keeps none (the caller checkpoints it). Past a limit the oldest kept
        ones are checkpointed."""
        if self._max_kept_wals == 0:
            return False
        name = str(path)
        kept = self._kept
        size = wal_bytes + SHM_BYTES
        self._kept_bytes += size - kept.get(name, 0)
        kept[name] = size
        kept.move_to_end(name)
        while kept and (len(kept) > self._max_kept_wals or self._kept_bytes > self._max_kept_bytes):
            oldest, freed = kept.popitem(last=False)
            self._kept_bytes -= freed
            if oldest == name:
                return False  # bigger than the whole budget: the caller checkpoints it
            checkpoint_file(Path(oldest))
        return True

    def _reopened(self, path: Path) -> None:
        """``path`` is open again: its WAL is its handle's business now."""
        if self._kept:
            self._kept_bytes -= self._kept.pop(str(path), 0)

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
#: What a -shm file takes on disk while its WAL is small (SQLite's first 32 KiB region).
SHM_BYTES = 32 * 1024


def checkpoint_file(path: Path) -> None:
    """Checkpoint the WAL of a closed file into it; closing the only connection then removes
    the -wal and -shm files. Nothing is created when the file is gone."""
    if not path.exists():
        return
    with suppress(sqlite3.Error), closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
