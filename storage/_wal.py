"""Changes of an actor's file as SQLite wrote them: the pages of each commit, read from the
file's WAL and encoded as deltas against each page's previous version, and a file rebuilt
from a base image plus those commits.

Durable output (``--durable``) ships every commit of an actor to the shared store before the
turn's output leaves, and the next owner rebuilds the file from what was shipped. Reading a
commit's WAL frames captures everything a turn wrote, user tables, KV and alarms alike, with
no trigger or session extension, and replaying them page by page over the base image gives
the same bytes SQLite would read (the approach of Litestream and LiteFS).

A turn changes a few bytes of a 4 KiB page, so each page of a commit comes with its previous
version, and the log entry (storage/_wal_entry.py) holds what changed, tens of bytes. The
previous version is the one the rebuilder has at that point of the log: the latest earlier
frame of the page in the current WAL (found through an index of frame offsets, like SQLite's
wal-index; no page is kept in memory), else the page in the database file; pages beyond the
previous commit's size count as zeros on both sides.

The WAL format (https://www.sqlite.org/fileformat.html#the_write_ahead_log): a 32-byte header
(magic, version, page size, checkpoint sequence, two salts, checksums), then frames of a
24-byte header (page number, the database size in pages for the last frame of a commit and 0
otherwise, the two salts) and one page. Frames whose salts differ from the header's are left
over from before the WAL restarted and are not part of it.

The database file changes only when a checkpoint copies WAL frames into it. A WAL restarts
(new salts) only after a checkpoint copied all of it: the index is dropped and the file is
the base. A checkpoint that ran right after a commit (SQLite's automatic one, at the COMMIT)
may have copied that commit into the file before it is read: the reader checks how far the
last checkpoint went (``nBackfill`` in the ``-shm`` wal-index,
https://www.sqlite.org/walformat.html) and ships whole the pages whose base would come from
a file that already holds them.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

from roost._errors import StorageError

from ._wal_entry import Commit, apply_commits, decode_commit, encode_commit

__all__ = ["Commit", "WalTail", "apply_commits", "decode_commit", "encode_commit", "wal_frames"]

WAL_HEADER = 32
FRAME_HEADER = 24
_MAGICS = (0x377F0682, 0x377F0683)
#: The wal-index (``-shm``) header: two copies of a 48-byte header (``aSalt`` at 32), then
#: the checkpoint information (``nBackfill`` at 96), in the machine's byte order.
_SHM_HEADER = 136
_SHM_VERSION = 3007000
#: Frames read at first after the last position (more while they belong to this WAL).
READ_FRAMES = 8


class WalTail:
    """Reads the commits SQLite appended to one database's WAL since the last read, with the
    previous version of each page they wrote.

    Call :meth:`read` right after each COMMIT; it returns the commits since the previous
    call (normally one) and remembers where it stopped. A WAL that restarted (new salts, or
    a file shorter than the last position) is read from its beginning again: everything in
    the old WAL was read before.
    """

    def __init__(self, db_path: Path) -> None:
        self.db_path = Path(db_path)
        self.wal_path = Path(f"{db_path}-wal")
        self.shm_path = Path(f"{db_path}-shm")
        self._offset = WAL_HEADER
        self._salts: bytes | None = None
        #: Page number to the offset of its latest committed frame's page in the current WAL.
        self._index: dict[int, int] = {}
        #: The database's size after the last commit read; None: unknown (the next commit
        #: ships whole pages).
        self._db_pages: int | None = None

    def skip_to_end(self) -> None:
        """Forget what the WAL holds now: it is already in the base image (after opening a
        file rebuilt from the store, or after a checkpoint). Its frames are indexed (they are
        the previous versions of the pages the next commits write); the database's size is
        taken as unknown, so the next commit ships whole pages."""
        self._restart(None)
        self.read()
        self._db_pages = None

    def read(self) -> list[Commit]:
        """The commits appended since the last call.

        Raises:
            StorageError: the WAL is not a WAL file.
        """
        try:
            wal = os.open(self.wal_path, os.O_RDONLY)
        except FileNotFoundError:
            if self._salts is not None:
                self._restart(None)
            return []
        try:
            header = os.pread(wal, WAL_HEADER, 0)
            if len(header) < WAL_HEADER:
                return []
            magic, _version, page_size = struct.unpack(">III", header[:12])
            if magic not in _MAGICS:
                raise StorageError(f"{self.wal_path.name} is not a WAL file")
            salts = header[16:24]
            if salts != self._salts:  # a new WAL: start over at its first frame
                self._restart(salts)
            index = self.wal_index(salts)
            last, backfilled = (None, None) if index is None else index
            data = _frames(wal, self._offset, page_size, salts, last)
            return self._parse(wal, data, page_size, salts, backfilled)
        finally:
            os.close(wal)

    def _parse(
        self, wal: int, data: bytes, page_size: int, salts: bytes, backfilled: int | None
    ) -> list[Commit]:
        commits: list[Commit] = []
        frame = FRAME_HEADER + page_size
        bases = _Bases(self, wal, page_size, backfilled)
        pending: dict[int, int] = {}  # page number -> offset in data of its latest frame
        consumed = 0
        try:
            for start in range(0, len(data) - frame + 1, frame):
                pgno, db_pages = struct.unpack(">II", data[start : start + 8])
                if data[start + 8 : start + 16] != salts:
                    break  # left over from before the WAL restarted
                pending[pgno] = start + FRAME_HEADER
                if not db_pages:
                    continue
                pages = {p: data[at : at + page_size] for p, at in pending.items()}
                first_frame = (self._offset + consumed - WAL_HEADER) // frame + 1
                commits.append(Commit(page_size, db_pages, pages, bases.of(pages, first_frame)))
                for p, at in pending.items():
                    self._index[p] = self._offset + at
                self._db_pages = db_pages
                pending = {}
                consumed = start + frame
        finally:
            bases.close()
        self._offset += consumed
        return commits

    def _restart(self, salts: bytes | None) -> None:
        """A new WAL (or none): read it from its start; the database file is the base. Only
        a WAL that SQLite restarted in place (after checkpointing all of it into the file:
        the first salt is the old one plus one) continues the history of the last commit
        read; a WAL created anew may belong to a new file under the same name, whose size
        is then unknown (its first commit ships whole pages)."""
        old, self._salts, self._offset = self._salts, salts, WAL_HEADER
        self._index.clear()
        if salts is None or old is None or _salt1(salts) != (_salt1(old) + 1) & 0xFFFFFFFF:
            self._db_pages = None

    def wal_index(self, salts: bytes) -> tuple[int, int] | None:
        """From the wal-index of the WAL with ``salts``: its last committed frame and how
        many frames a checkpoint copied into the database file (None: no consistent
        wal-index of that WAL; its two header copies differ while a writer updates it)."""
        header = _shm_header(self.shm_path)
        return None if header is None or header[32:40] != salts else _progress(header)


def wal_frames(shm: int) -> tuple[int, int] | None:
    """From a WAL's wal-index (``shm``: a descriptor of its -shm file; one read, no lock):
    its committed frames since it last started over, and how many of them a checkpoint
    copied into the database file. None: no consistent wal-index."""
    header = _header_at(shm)
    progress = None if header is None else _progress(header)
    return None if progress is None else (progress[0], min(progress))


def _progress(header: bytes) -> tuple[int, int] | None:
    """A wal-index's last committed frame and how many frames are copied into the file."""
    version, last, backfilled = struct.unpack("=I12xI76xI", header[:100])
    return (last, backfilled) if version == _SHM_VERSION else None


def _shm_header(shm_path: str | Path) -> bytes | None:
    """The wal-index header and checkpoint info of a -shm file, when both header copies
    agree (they differ while a writer updates them)."""
    try:
        shm = os.open(shm_path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        return _header_at(shm)
    finally:
        os.close(shm)


def _header_at(shm: int) -> bytes | None:
    header = os.pread(shm, _SHM_HEADER, 0)
    if len(header) < _SHM_HEADER or header[:48] != header[48:96]:
        return None
    return header


def _frames(wal: int, offset: int, page_size: int, salts: bytes, last: int | None) -> bytes:
    """The frames from ``offset`` on: up to the ``last`` committed frame when the wal-index
    tells it, else up to the first frame of an older WAL. A WAL that restarted keeps its
    size, and reading its stale tail at every commit would copy megabytes for a few new
    frames."""
    frame = FRAME_HEADER + page_size
    if last is not None:
        return os.pread(wal, max(0, WAL_HEADER + last * frame - offset), offset)
    chunk = READ_FRAMES * frame
    parts = [os.pread(wal, chunk, offset)]
    while len(parts[-1]) == chunk and parts[-1][-frame + 8 : -frame + 16] == salts:
        offset += chunk
        chunk *= 2
        parts.append(os.pread(wal, chunk, offset))
    return b"".join(parts)


def _salt1(salts: bytes) -> int:
    return int.from_bytes(salts[:4], "big")


class _Bases:
    """The previous versions of the pages one read's commits wrote (files opened lazily)."""

    def __init__(self, tail: WalTail, wal: int, page_size: int, backfilled: int | None) -> None:
        self._tail, self._wal, self._size = tail, wal, page_size
        self._backfilled = backfilled  # None: unknown (no file page is a base)
        self._db: int | None = None

    def of(self, pages: dict[int, bytes], first_frame: int) -> dict[int, bytes]:
        """The bases of a commit whose first frame is ``first_frame`` (1-based)."""
        tail, size = self._tail, self._size
        known = tail._db_pages
        if known is None:
            return {}
        bases: dict[int, bytes] = {}
        for pgno in pages:
            at = tail._index.get(pgno)
            if pgno > known:
                bases[pgno] = bytes(size)
            elif at is not None:
                bases[pgno] = os.pread(self._wal, size, at)
            elif self._file_before(first_frame):
                page = os.pread(self._db_fd(), size, (pgno - 1) * size)
                bases[pgno] = page.ljust(size, b"\0")
        return bases

    def _file_before(self, first_frame: int) -> bool:
        """Whether the database file holds no frame from ``first_frame`` on."""
        return self._backfilled is not None and self._backfilled < first_frame

    def _db_fd(self) -> int:
        if self._db is None:
            self._db = os.open(self._tail.db_path, os.O_RDONLY)
        return self._db

    def close(self) -> None:
        if self._db is not None:
            os.close(self._db)
