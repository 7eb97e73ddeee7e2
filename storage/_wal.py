"""Changes of an actor's file as SQLite wrote them: the pages of each commit, read from the
file's WAL and encoded as deltas against each page's previous version, and a file rebuilt
from a base image plus those commits.

Durable output (``--durable``) ships every commit of an actor to the shared store before the
turn's output leaves, and the next owner rebuilds the file from what was shipped. Reading a
commit's WAL frames captures everything a turn wrote, user tables, KV and alarms alike, with
no trigger or session extension, and replaying them page by page over the base image gives
the same bytes SQLite would read (the approach of Litestream and LiteFS).

A turn changes a few bytes of a 4 KiB page, so an entry holds, for each page, the
zlib-compressed XOR of its previous and its new version (tens of bytes) with a CRC-32 of the
new page, or the whole page when that is not bigger. The previous version is the one the
rebuilder has at that point of the log: the latest earlier frame of the page in the current
WAL (found through an index of frame offsets, like SQLite's wal-index; no page is kept in
memory), else the page in the database file; pages beyond the previous commit's size count
as zeros on both sides. A delta applied over another page fails its CRC and the rebuild
raises: it never writes a wrong file.

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
import zlib
from pathlib import Path

import attrs

from roost._errors import StorageError

__all__ = ["Commit", "WalTail", "apply_commits", "decode_commit", "encode_commit"]

WAL_HEADER = 32
FRAME_HEADER = 24
_MAGICS = (0x377F0682, 0x377F0683)
#: The wal-index (``-shm``) header: two copies of a 48-byte header (``aSalt`` at 32), then
#: the checkpoint information (``nBackfill`` at 96), in the machine's byte order.
_SHM_HEADER = 136
_SHM_VERSION = 3007000
#: Frames read at first after the last position (more while they belong to this WAL).
READ_FRAMES = 8


@attrs.frozen
class Commit:
    """One committed transaction: the pages it wrote and the database size after it.

    Attributes:
        page_size: bytes per page.
        db_pages: the database's size in pages after the commit.
        pages: page number (1-based) to its new content, the last version of each page.
        bases: (read from a WAL) page number to the page's previous version, as the
            rebuilder has it; a page missing here has no known base and ships whole.
        deltas: (decoded from an entry) page number to how it differs from its previous
            version (a kind, the bytes, the new version's CRC-32: see :func:`encode_commit`);
            these pages are not in ``pages``.
    """

    page_size: int
    db_pages: int
    pages: dict[int, bytes]
    bases: dict[int, bytes] = attrs.field(factory=dict)
    deltas: dict[int, tuple[int, bytes, int]] = attrs.field(factory=dict)


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
        try:
            shm = os.open(self.shm_path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            header = os.pread(shm, _SHM_HEADER, 0)
        finally:
            os.close(shm)
        if len(header) < _SHM_HEADER or header[32:40] != salts or header[:48] != header[48:96]:
            return None
        version, last, backfilled = struct.unpack("=I12xI76xI", header[:100])
        return (last, backfilled) if version == _SHM_VERSION else None


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


#: The first byte of an entry: version 0, whole pages uncompressed (a zlib stream, the
#: compressed version 0, never starts with 0 or 1); version 1, whole pages or deltas.
_RAW = b"\x00"
_V1 = b"\x01"
#: Version 1, per page: page number and kind; then the page (_FULL) or the new page's CRC-32,
#: a length and that many bytes: the offset (2 bytes) and new content of the one range of
#: bytes that changed (_PATCH); raw deflate of the XOR with the previous version (_DELTA) or
#: of the page itself (_DEFLATED, for archives).
_PAGE = struct.Struct(">IB")
_PACKED = struct.Struct(">II")
_OFFSET = struct.Struct(">H")
_FULL, _DELTA, _DEFLATED, _PATCH = 0, 1, 2, 3
#: A page whose changes span at most this many bytes ships them as they are (a turn that
#: updates a row in place); a wider change ships its XOR deflated (as costly as 2 KiB of
#: patch, in CPU).
PATCH_MAX = 256


def encode_commit(commit: Commit, *, compress: bool = False) -> bytes:
    """A commit as bytes for the store's log: a header, then each page, as a patch or a
    delta against its base when the commit knows it and that is smaller, else whole.

    Whole pages are uncompressed by default: compressing every page cost more CPU on the hot
    path than the bytes it saved (they are few: a page without a known base, or changed
    through and through); ``compress`` for archives.
    """
    size = commit.page_size
    parts = [_V1, struct.pack(">III", size, commit.db_pages, len(commit.pages))]
    for pgno, page in sorted(commit.pages.items()):
        base = commit.bases.get(pgno)
        packed, kind = b"", _FULL
        if base is not None:
            packed, kind = _difference(base, page)
        elif compress:
            packed, kind = _deflate(page), _DEFLATED
        if kind != _FULL and len(packed) + _PACKED.size < size:
            parts += (_PAGE.pack(pgno, kind), _PACKED.pack(zlib.crc32(page), len(packed)), packed)
        else:
            parts += (_PAGE.pack(pgno, _FULL), page)
    return b"".join(parts)


def _difference(base: bytes, page: bytes) -> tuple[bytes, int]:
    """How ``page`` differs from ``base``: the changed range as it is now when it is short,
    else the XOR of both deflated. Eighths of the page compared as slices find where the
    changes are; the XOR of an eighth as integers (C speed) and its lowest and highest set
    bits find the first and last changed byte without a Python loop over the bytes."""
    size = len(page)
    step = size >> 3
    changed = [at for at in range(0, size, step) if base[at : at + step] != page[at : at + step]]
    if not changed:
        return _OFFSET.pack(0), _PATCH
    first, last = changed[0], changed[-1]
    diff = _int(base, first, step) ^ _int(page, first, step)
    low = first + (((diff & -diff).bit_length() - 1) >> 3)
    diff = _int(base, last, step) ^ _int(page, last, step)
    high = last + ((diff.bit_length() + 7) >> 3)  # past the last changed byte
    if high - low <= PATCH_MAX:
        return _OFFSET.pack(low) + page[low:high], _PATCH
    return _deflate(_xor(base, page)), _DELTA


def _int(data: bytes, at: int, length: int) -> int:
    return int.from_bytes(data[at : at + length], "little")


def decode_commit(blob: bytes) -> Commit:
    """The commit :func:`encode_commit` made (or an entry of version 0).

    Raises:
        StorageError: the bytes are not such a commit.
    """
    try:
        if blob[:1] == _V1:
            return _decode_v1(blob)
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


def _decode_v1(blob: bytes) -> Commit:
    page_size, db_pages, count = struct.unpack(">III", blob[1:13])
    if page_size < 512 or page_size > 65536 or page_size & (page_size - 1):
        raise ValueError(f"page size {page_size}")
    pages: dict[int, bytes] = {}
    deltas: dict[int, tuple[int, bytes, int]] = {}
    position = 13
    for _ in range(count):
        pgno, kind = _PAGE.unpack(blob[position : position + _PAGE.size])
        position += _PAGE.size
        if pgno < 1 or pgno in pages or pgno in deltas:
            raise ValueError(f"page number {pgno}")
        if kind == _FULL:
            page = blob[position : position + page_size]
            if len(page) != page_size:
                raise ValueError("truncated page")
            pages[pgno] = page
            position += page_size
            continue
        crc, length = _PACKED.unpack(blob[position : position + _PACKED.size])
        packed = blob[position + _PACKED.size : position + _PACKED.size + length]
        if len(packed) != length:
            raise ValueError("truncated page")
        position += _PACKED.size + length
        if kind == _DELTA or (kind == _PATCH and length >= _OFFSET.size):
            deltas[pgno] = (kind, packed, crc)
        elif kind == _DEFLATED:
            pages[pgno] = _checked(_inflate(packed, page_size), crc, pgno)
        else:
            raise ValueError(f"page kind {kind}")
    return Commit(page_size, db_pages, pages, deltas=deltas)


def apply_commits(path: Path, commits: list[Commit]) -> None:
    """Write ``commits`` in order over the database file ``path`` (created if missing) and
    cut it to the last commit's size: the file as SQLite would see it after them. The caller
    removes any WAL of the file first (its frames are older than these commits).

    A delta applies over the page as the file holds it at that point (zeros beyond the
    previous commit's size; the file's own size before the first commit).

    Raises:
        StorageError: a delta does not fit the page it applies to (the file is then left
            half-written: the caller removes it).
    """
    mode = "r+b" if path.exists() else "w+b"
    with open(path, mode) as db:
        fd = db.fileno()
        known: int | None = None  # the file's size in pages, as the origin saw it
        for commit in commits:
            size = commit.page_size
            if known is None:
                known = os.fstat(fd).st_size // size
            for pgno, (kind, packed, crc) in commit.deltas.items():
                if pgno > known:
                    base = bytes(size)
                else:
                    base = os.pread(fd, size, (pgno - 1) * size).ljust(size, b"\0")
                page = _applied(base, kind, packed)
                if zlib.crc32(page) != crc:
                    if zlib.crc32(base) != crc:
                        raise StorageError(
                            f"a log entry's delta does not fit page {pgno} of {path.name}"
                        )
                    page = base  # it holds the commit already (an image taken after it)
                os.pwrite(fd, page, (pgno - 1) * size)
            for pgno, page in commit.pages.items():
                os.pwrite(fd, page, (pgno - 1) * size)
            known = commit.db_pages
        if commits:
            last = commits[-1]
            db.truncate(last.db_pages * last.page_size)
        os.fsync(fd)


def _applied(base: bytes, kind: int, packed: bytes) -> bytes:
    """``base`` with a patch or a delta applied.

    Raises:
        StorageError: it does not fit a page of that size.
    """
    if kind == _DELTA:
        return _xor(base, _inflate(packed, len(base)))
    (offset,) = _OFFSET.unpack(packed[: _OFFSET.size])
    patch = packed[_OFFSET.size :]
    if offset + len(patch) > len(base):
        raise StorageError("a damaged log entry: a patch beyond its page")
    return base[:offset] + patch + base[offset + len(patch) :]


def _xor(a: bytes, b: bytes) -> bytes:
    """Two equally long byte strings XORed (as integers: C speed)."""
    return (int.from_bytes(a, "little") ^ int.from_bytes(b, "little")).to_bytes(len(a), "little")


def _deflate(data: bytes) -> bytes:
    """Raw deflate with a small window and little memory: a page is 4 KiB, and setting up
    zlib's default state (256 KiB) cost ten times more than compressing a page."""
    deflater = zlib.compressobj(1, zlib.DEFLATED, -9, 1)
    return deflater.compress(data) + deflater.flush()


def _inflate(packed: bytes, size: int) -> bytes:
    """``size`` bytes out of raw deflate (never more: a bounded buffer).

    Raises:
        StorageError: the bytes do not inflate to exactly ``size`` bytes.
    """
    try:
        inflater = zlib.decompressobj(wbits=-15)
        data = inflater.decompress(packed, size)
    except zlib.error as exc:
        raise StorageError(f"a damaged log entry: {exc}") from exc
    if len(data) != size or inflater.unconsumed_tail or not inflater.eof:
        raise StorageError("a damaged log entry: a page of the wrong size")
    return data


def _checked(page: bytes, crc: int, pgno: int) -> bytes:
    if zlib.crc32(page) != crc:
        raise StorageError(f"a damaged log entry: page {pgno} fails its CRC")
    return page
