"""Changes of an actor's file as SQLite wrote them: the WAL frames of each commit, and a file
image rebuilt from a base image plus those frames.

Durable output (``--durable``) ships every commit of an actor to the shared store before the
turn's output leaves, and the next owner rebuilds the file from what was shipped. Shipping
the commit's WAL frames (full pages, in the order SQLite wrote them) captures everything a
turn wrote, user tables, KV and alarms alike, with no trigger or session extension, and
replaying them page by page over the base image gives the same bytes SQLite would read
(the approach of Litestream and LiteFS).

The WAL format (https://www.sqlite.org/fileformat.html#the_write_ahead_log): a 32-byte header
(magic, version, page size, checkpoint sequence, two salts, checksums), then frames of a
24-byte header (page number, the database size in pages for the last frame of a commit and 0
otherwise, the two salts) and one page. Frames whose salts differ from the header's are left
over from before the WAL restarted and are not part of it.

The file owner keeps the WAL from being checkpointed behind the reader's back
(``wal_autocheckpoint=0`` on durable actors; it checkpoints itself after a new base image).
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import attrs

from roost._errors import StorageError

__all__ = ["Commit", "WalTail", "apply_commits", "decode_commit", "encode_commit"]

WAL_HEADER = 32
FRAME_HEADER = 24
_MAGICS = (0x377F0682, 0x377F0683)


@attrs.frozen
class Commit:
    """One committed transaction: the pages it wrote and the database size after it.

    Attributes:
        page_size: bytes per page.
        db_pages: the database's size in pages after the commit.
        pages: page number (1-based) to its new content, the last version of each page.
    """

    page_size: int
    db_pages: int
    pages: dict[int, bytes]


class WalTail:
    """Reads the commits SQLite appended to one database's WAL since the last read.

    Call :meth:`read` right after each COMMIT; it returns the commits since the previous
    call (normally one) and remembers where it stopped. A WAL that restarted (new salts, or
    a file shorter than the last position) is read from its beginning again: everything in
    the old WAL was read before.
    """

    def __init__(self, db_path: Path) -> None:
        self.wal_path = Path(f"{db_path}-wal")
        self._offset = WAL_HEADER
        self._salts: bytes | None = None

    def skip_to_end(self) -> None:
        """Forget what the WAL holds now: it is already in the base image (after opening a
        file rebuilt from the store, or after a checkpoint)."""
        self._salts, self._offset = self._header_salts(), self._end()

    def read(self) -> list[Commit]:
        """The commits appended since the last call.

        Raises:
            StorageError: the WAL is not a WAL file.
        """
        try:
            with open(self.wal_path, "rb") as wal:
                header = wal.read(WAL_HEADER)
                if len(header) < WAL_HEADER:
                    return []
                magic, _version, page_size = struct.unpack(">III", header[:12])
                if magic not in _MAGICS:
                    raise StorageError(f"{self.wal_path.name} is not a WAL file")
                salts = header[16:24]
                if salts != self._salts:  # a new WAL: start over at its first frame
                    self._salts, self._offset = salts, WAL_HEADER
                wal.seek(self._offset)
                data = wal.read()
        except FileNotFoundError:
            self._salts, self._offset = None, WAL_HEADER
            return []
        commits: list[Commit] = []
        pages: dict[int, bytes] = {}
        frame = FRAME_HEADER + page_size
        consumed = 0
        for start in range(0, len(data) - frame + 1, frame):
            pgno, db_pages = struct.unpack(">II", data[start : start + 8])
            if data[start + 8 : start + 16] != salts:
                break  # left over from before the WAL restarted
            pages[pgno] = data[start + FRAME_HEADER : start + frame]
            if db_pages:
                commits.append(Commit(page_size, db_pages, pages))
                pages = {}
                consumed = start + frame
        self._offset += consumed
        return commits

    def _header_salts(self) -> bytes | None:
        try:
            with open(self.wal_path, "rb") as wal:
                header = wal.read(WAL_HEADER)
        except FileNotFoundError:
            return None
        return header[16:24] if len(header) == WAL_HEADER else None

    def _end(self) -> int:
        try:
            size = os.path.getsize(self.wal_path)
        except FileNotFoundError:
            return WAL_HEADER
        return max(WAL_HEADER, size)


#: The first byte of an uncompressed entry (a zlib stream never starts with it).
_RAW = b"\x00"


def encode_commit(commit: Commit, *, compress: bool = False) -> bytes:
    """A commit as bytes for the store's log: a header, then each page number and page.

    Uncompressed by default: compressing every commit cost more CPU on the hot path than
    the bytes it saved (PostgreSQL compresses large values itself); ``compress`` for
    archives.
    """
    parts = [struct.pack(">III", commit.page_size, commit.db_pages, len(commit.pages))]
    for pgno, page in sorted(commit.pages.items()):
        parts.append(struct.pack(">I", pgno))
        parts.append(page)
    raw = b"".join(parts)
    return zlib.compress(raw, 1) if compress else _RAW + raw


def decode_commit(blob: bytes) -> Commit:
    """The commit :func:`encode_commit` made.

    Raises:
        StorageError: the bytes are not such a commit.
    """
    try:
        raw = blob[1:] if blob[:1] == _RAW else zlib.decompress(blob)
        page_size, db_pages, count = struct.unpack(">III", raw[:12])
        pages: dict[int, bytes] = {}
        position = 12
        for _ in range(count):
            (pgno,) = struct.unpack(">I", raw[position : position + 4])
            page = raw[position + 4 : position + 4 + page_size]
            if len(page) != page_size:
                raise ValueError("truncated page")
            pages[pgno] = page
            position += 4 + page_size
    except (zlib.error, struct.error, ValueError) as exc:
        raise StorageError(f"a damaged log entry: {exc}") from exc
    return Commit(page_size, db_pages, pages)


def apply_commits(path: Path, commits: list[Commit]) -> None:
    """Write ``commits`` in order over the database file ``path`` (created if missing) and
    cut it to the last commit's size: the file as SQLite would see it after them. The caller
    removes any WAL of the file first (its frames are older than these commits)."""
    mode = "r+b" if path.exists() else "w+b"
    with open(path, mode) as db:
        for commit in commits:
            for pgno, page in sorted(commit.pages.items()):
                db.seek((pgno - 1) * commit.page_size)
                db.write(page)
        if commits:
            last = commits[-1]
            db.truncate(last.db_pages * last.page_size)
        db.flush()
        os.fsync(db.fileno())
