"""A commit of an actor's file as the durable log holds it, and a file rebuilt from entries.

An entry (version 1) holds, for each page the commit wrote, what changed since the page's
previous version (storage/_wal.WalTail reads both): the one changed range as bytes when it
is short (a row updated in place), else the deflated XOR of both versions, each with a CRC-32
of the new page; or the whole page, when that is not bigger or the previous version is not
known. A rebuild applies them in order over the page as its file holds it at that point
(zeros beyond the previous commit's size): a delta over another page fails its CRC and the
rebuild raises, it never writes a wrong file. Entries of version 0 (whole pages, raw or
zlib-compressed) still decode.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import attrs

from roost._errors import StorageError

__all__ = ["Commit", "apply_commits", "decode_commit", "encode_commit"]


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
    else the XOR of both deflated.

    Both ends of the range are found by halving: comparing two slices is a C ``memcmp``,
    and a turn changes a few bytes of a page, so about six comparisons on each side find
    a window of at most :data:`_NARROW` bytes; the XOR of that window as integers (C
    speed) and its lowest or highest set bit give the exact byte. No Python loop runs over
    the bytes (this is on the durable commit path, per page written).
    """
    if base == page:
        return _OFFSET.pack(0), _PATCH
    low = _first_change(base, page)
    high = _end_of_change(base, page, low)
    if high - low <= PATCH_MAX:
        return _OFFSET.pack(low) + page[low:high], _PATCH
    return _deflate(_xor(base, page)), _DELTA


#: Below this many bytes a window is compared as integers instead of halved further.
_NARROW = 128


def _first_change(base: bytes, page: bytes) -> int:
    """The first byte where two different, equally long strings differ."""
    start, end = 0, len(page)  # base[:start] == page[:start]; base[start:end] differs
    while end - start > _NARROW:
        middle = (start + end) >> 1
        if base[start:middle] == page[start:middle]:
            start = middle
        else:
            end = middle
    diff = _int(base, start, end - start) ^ _int(page, start, end - start)
    return start + (((diff & -diff).bit_length() - 1) >> 3)


def _end_of_change(base: bytes, page: bytes, first: int) -> int:
    """Past the last byte where two strings differ, given the first one (``first``)."""
    start, end = first, len(page)  # base[end:] == page[end:]; base[start:end] differs
    while end - start > _NARROW:
        middle = (start + end) >> 1
        if base[middle:end] == page[middle:end]:
            end = middle
        else:
            start = middle
    diff = _int(base, start, end - start) ^ _int(page, start, end - start)
    return start + ((diff.bit_length() + 7) >> 3)


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
