"""WAL frames of each commit, encoded as page deltas and replayed over a base image, give the
same database byte for byte (storage/_wal.py and _wal_entry.py: what durable output ships and
rebuilds from)."""

from __future__ import annotations

import random
import shutil
import sqlite3
import struct
import zlib
from contextlib import closing
from pathlib import Path

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roost._errors import StorageError
from roost.storage._wal import WalTail, apply_commits, decode_commit, encode_commit
from roost.storage._wal_entry import _DELTA, _OFFSET, _PATCH, PATCH_MAX, _applied, _difference


def open_db(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    return conn


def rows(path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return conn.execute("SELECT k, v FROM t ORDER BY k").fetchall()


def fresh(tmp_path: Path) -> tuple[Path, Path, sqlite3.Connection, WalTail]:
    """A database with a table, its base image (checkpointed copy), and a tail at its end."""
    db, image = tmp_path / "a.sqlite", tmp_path / "rebuilt.sqlite"
    conn = open_db(db)
    conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copyfile(db, image)
    tail = WalTail(db)
    tail.skip_to_end()
    return db, image, conn, tail


def test_replaying_the_commits_rebuilds_the_file(tmp_path: Path) -> None:
    db, image, conn, tail = fresh(tmp_path)
    shipped = []
    for i in range(300):  # enough to split pages and grow the tree
        conn.execute("BEGIN")
        conn.execute("INSERT OR REPLACE INTO t VALUES (?, ?)", (i % 97, f"value {i} " * (i % 40)))
        if i % 7 == 0:
            conn.execute("DELETE FROM t WHERE k < ?", (i % 13,))
        conn.execute("COMMIT")
        commits = tail.read()
        assert len(commits) == 1
        shipped.extend(encode_commit(c) for c in commits)
    apply_commits(image, [decode_commit(blob) for blob in shipped])
    conn.close()
    assert rows(image) == rows(db)


def test_a_wal_that_restarts_is_read_from_its_start(tmp_path: Path) -> None:
    db, image, conn, tail = fresh(tmp_path)
    commits = []
    for i in range(20):
        conn.execute("INSERT INTO t VALUES (?, ?)", (i, "x" * 500))
        commits += tail.read()
        if i == 9:  # the owner checkpoints (a new base image is shipped meanwhile)
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert len(commits) == 20
    apply_commits(image, commits)
    conn.close()
    assert rows(image) == rows(db)


def test_a_missing_wal_reads_nothing_and_garbage_is_refused(tmp_path: Path) -> None:
    assert WalTail(tmp_path / "none.sqlite").read() == []
    (tmp_path / "bad.sqlite-wal").write_bytes(b"x" * 100)
    with pytest.raises(StorageError):
        WalTail(tmp_path / "bad.sqlite").read()
    with pytest.raises(StorageError):
        decode_commit(b"not a commit")


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=300))
def test_decoding_any_bytes_is_a_commit_or_a_clean_error(blob: bytes) -> None:
    for candidate in (blob, zlib.compress(blob), b"\x01" + blob, b"\x01\x00\x00\x10\x00" + blob):
        try:
            decode_commit(candidate)
        except StorageError:
            pass


# -- deltas against each page's previous version ------------------------------------------------


class Origin:
    """A real file in WAL mode and everything read from it: each commit encoded as the
    durable log holds it, and images (the file's bytes, as take_image copies them) at some
    positions of that log."""

    def __init__(self, path: Path, *, autocheckpoint: int = 0) -> None:
        self.path = path
        self.conn = open_db(path)
        self.conn.execute(f"PRAGMA wal_autocheckpoint={autocheckpoint}")
        self.tail = WalTail(path)
        self.tail.skip_to_end()
        self.entries: list[bytes] = []
        self.images: list[tuple[int, bytes]] = [(0, self.conn.serialize())]

    def write(self, *statements: tuple[str, tuple[object, ...]] | str) -> None:
        self.conn.execute("BEGIN")
        for statement in statements:
            if isinstance(statement, str):
                self.conn.execute(statement)
            else:
                self.conn.execute(*statement)
        self.conn.execute("COMMIT")
        self.ship()

    def ship(self) -> list[bytes]:
        blobs = [encode_commit(commit) for commit in self.tail.read()]
        self.entries += blobs
        return blobs

    def image(self) -> None:
        self.images.append((len(self.entries), self.conn.serialize()))

    def rebuild(self, target: Path, image_at: int = 0) -> bytes:
        """The file rebuilt from the image at ``image_at`` (an index into ``images``) and
        the entries after it; checked against the origin byte for byte."""
        seq, image = self.images[image_at]
        for suffix in ("", "-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        target.write_bytes(image)
        apply_commits(target, [decode_commit(blob) for blob in self.entries[seq:]])
        rebuilt = target.read_bytes()
        assert rebuilt == self.conn.serialize()
        return rebuilt


def tables(path: Path) -> list[list[tuple[object, ...]]]:
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        names = [n for (n,) in conn.execute("SELECT name FROM sqlite_master ORDER BY name")]
        listed = [conn.execute("SELECT * FROM sqlite_master ORDER BY name").fetchall()]
        for name in names:
            if (
                conn.execute("SELECT type FROM sqlite_master WHERE name=?", (name,)).fetchone()[0]
                == "table"
            ):
                listed.append(conn.execute(f'SELECT * FROM "{name}" ORDER BY 1').fetchall())
        return listed


def random_workload(origin: Origin, rnd: random.Random, steps: int) -> None:
    """Inserts, small updates, deletes, schema changes, VACUUM, checkpoints that restart the
    WAL, big transactions that spill, a file that grows and shrinks; images now and then."""
    conn = origin.conn
    conn.execute("CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v TEXT, n INTEGER)")
    origin.ship()
    for _ in range(steps):
        roll = rnd.random()
        if roll < 0.35:
            origin.write(("UPDATE t SET n = n + 1 WHERE k = ?", (rnd.randrange(2000),)))
        elif roll < 0.55:
            origin.write(
                *[
                    (
                        "INSERT OR REPLACE INTO t VALUES (?, ?, 0)",
                        (rnd.randrange(2000), "v" * rnd.randrange(300)),
                    )
                    for _ in range(rnd.randrange(1, 20))
                ]
            )
        elif roll < 0.62:
            low = rnd.randrange(2000)
            origin.write(("DELETE FROM t WHERE k BETWEEN ? AND ?", (low, low + rnd.randrange(200))))
        elif roll < 0.67:  # a file that grows, then shrinks
            origin.write(
                "CREATE TABLE IF NOT EXISTS big (b BLOB)",
                ("INSERT INTO big VALUES (randomblob(?))", (rnd.randrange(1, 200_000),)),
            )
            if rnd.random() < 0.5:
                origin.write("DROP TABLE big")
        elif roll < 0.71:
            name = f"s{rnd.randrange(4)}"
            origin.write(f"CREATE TABLE IF NOT EXISTS {name} (x)", f"INSERT INTO {name} VALUES (1)")
            if rnd.random() < 0.5:
                origin.write(f"CREATE INDEX IF NOT EXISTS {name}_x ON {name} (x)")
            else:
                origin.write(f"DROP TABLE {name}")
        elif roll < 0.74:
            conn.execute("VACUUM")
            origin.ship()
        elif roll < 0.78:  # the owner checkpoints (the next write restarts the WAL)
            conn.execute(f"PRAGMA wal_checkpoint({rnd.choice(['PASSIVE', 'RESTART', 'TRUNCATE'])})")
            origin.ship()
        elif roll < 0.80:  # a big transaction that spills pages into the WAL several times
            conn.execute("PRAGMA cache_size=5")
            origin.write(
                *[
                    ("UPDATE t SET v = ? WHERE k % 7 = ?", ("w" * rnd.randrange(200), i % 7))
                    for i in range(12)
                ]
            )
            conn.execute("PRAGMA cache_size=-2000")
        elif roll < 0.83:
            origin.image()
        else:
            origin.write(
                ("UPDATE t SET v = ? WHERE k = ?", ("x" * rnd.randrange(50), rnd.randrange(2000)))
            )


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("autocheckpoint", [0, 20])
def test_deltas_rebuild_a_random_workload_byte_for_byte(
    tmp_path: Path, seed: int, autocheckpoint: int
) -> None:
    """With wal_autocheckpoint=0 (durable actors' first commit) and a small automatic
    checkpoint, which copies a commit into the file before the tail reads it."""
    origin = Origin(tmp_path / "a.sqlite", autocheckpoint=autocheckpoint)
    random_workload(origin, random.Random(seed), 150)
    deltas = [kind for blob in origin.entries for kind, _, _ in decode_commit(blob).deltas.values()]
    assert len(deltas) > len(origin.entries) // 2  # most entries carry deltas
    assert set(deltas) == {1, 3}  # of both kinds: deflated XOR, and a patch of one range
    for at in range(len(origin.images)):
        rebuilt = tmp_path / f"rebuilt-{at}.sqlite"
        origin.rebuild(rebuilt, at)
    origin.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert tables(rebuilt) == tables(origin.path)
    assert rebuilt.read_bytes() == origin.path.read_bytes()


def test_without_a_wal_index_frames_are_read_to_the_first_stale_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No readable wal-index (another locking mode, a header being written): the frames are
    read in chunks up to an older WAL's, and no page of the file is a base (a checkpoint may
    have copied the commit into it)."""
    monkeypatch.setattr(WalTail, "wal_index", lambda self, salts: None)
    origin = Origin(tmp_path / "a.sqlite", autocheckpoint=20)
    random_workload(origin, random.Random(7), 120)
    origin.rebuild(tmp_path / "rebuilt.sqlite")
    origin.rebuild(tmp_path / "rebuilt-last.sqlite", len(origin.images) - 1)


def test_a_small_update_ships_a_small_entry(tmp_path: Path) -> None:
    origin = Origin(tmp_path / "a.sqlite")
    origin.write("CREATE TABLE acct (id INTEGER PRIMARY KEY, balance INTEGER, name TEXT)")
    origin.write(
        *[("INSERT INTO acct VALUES (?, 1000, ?)", (i, f"account {i}")) for i in range(5000)]
    )
    sizes = []
    for i in range(50):  # a transfer: two rows change by a few bytes
        a, b = (i * 97) % 5000, (i * 31 + 7) % 5000
        origin.write(
            ("UPDATE acct SET balance = balance - 10 WHERE id = ?", (a,)),
            ("UPDATE acct SET balance = balance + 10 WHERE id = ?", (b,)),
        )
        sizes.append(len(origin.entries[-1]))
    assert max(sizes) < 300, sizes
    origin.rebuild(tmp_path / "rebuilt.sqlite")


def test_a_checkpoint_between_commit_and_read_ships_whole_pages(tmp_path: Path) -> None:
    """The file already holds the commit being read: its pages have no base there."""
    origin = Origin(tmp_path / "a.sqlite")
    origin.write("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
    origin.write(*[("INSERT INTO t VALUES (?, ?)", (i, "x" * 100)) for i in range(500)])
    origin.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    origin.write(("UPDATE t SET v = 'y' WHERE k = 1",))  # a new WAL: bases from the file
    assert decode_commit(origin.entries[-1]).deltas
    origin.conn.execute("UPDATE t SET v = 'z' WHERE k = 400")
    wal = origin.tail.wal_path.read_bytes()
    origin.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")  # before the tail reads the commit
    frames = (len(wal) - 32) // (24 + 4096)
    assert frames == 2 and origin.tail.wal_index(wal[16:24]) == (frames, frames)  # all copied
    (blob,) = origin.ship()
    commit = decode_commit(blob)
    assert commit.pages and all(p not in commit.deltas for p in commit.pages)
    origin.write(("UPDATE t SET v = 'w' WHERE k = 400",))  # its base: the WAL's frame
    assert decode_commit(origin.entries[-1]).deltas
    origin.rebuild(tmp_path / "rebuilt.sqlite")


def test_a_new_file_under_the_same_name_ships_whole_pages_first(tmp_path: Path) -> None:
    origin = Origin(tmp_path / "a.sqlite")
    origin.write("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
    origin.write(*[("INSERT INTO t VALUES (?, ?)", (i, "x" * 100)) for i in range(200)])
    origin.conn.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{origin.path}{suffix}").unlink(missing_ok=True)
    origin.conn = open_db(origin.path)
    origin.write("CREATE TABLE u (x)", "INSERT INTO u VALUES (1)")
    assert not decode_commit(origin.entries[-1]).deltas
    origin.write("INSERT INTO u VALUES (2)")
    assert decode_commit(origin.entries[-1]).deltas
    origin.rebuild(tmp_path / "rebuilt.sqlite")


def test_an_image_that_already_holds_the_next_entry_takes_it_again(tmp_path: Path) -> None:
    """take_image copies the file under the actor's lock: a commit the tail had not read yet
    is in the image and also the entry after it (its deltas find their result in place)."""
    origin = Origin(tmp_path / "a.sqlite")
    origin.write("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
    origin.write(*[("INSERT INTO t VALUES (?, ?)", (i, "x" * 100)) for i in range(200)])
    origin.conn.execute("UPDATE t SET v = 'y' WHERE k = 3")
    origin.image()  # at the position before that commit, holding it
    origin.ship()
    assert decode_commit(origin.entries[-1]).deltas
    origin.write(("UPDATE t SET v = 'z' WHERE k = 150",))
    origin.rebuild(tmp_path / "rebuilt.sqlite", image_at=1)


def test_a_delta_over_another_page_raises(tmp_path: Path) -> None:
    origin = Origin(tmp_path / "a.sqlite")
    origin.write("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
    origin.write(*[("INSERT INTO t VALUES (?, ?)", (i, "x" * 100)) for i in range(200)])
    origin.image()
    origin.write(("UPDATE t SET v = 'y' WHERE k = 3",))
    commit = decode_commit(origin.entries[-1])
    assert commit.deltas
    wrong = tmp_path / "wrong.sqlite"
    wrong.write_bytes(origin.images[0][1])  # an older image: the pages differ
    with pytest.raises(StorageError, match="does not fit"):
        apply_commits(wrong, [decode_commit(blob) for blob in origin.entries[-1:]])
    right = tmp_path / "right.sqlite"
    right.write_bytes(origin.images[1][1])
    for pgno, (kind, packed, crc) in commit.deltas.items():  # a damaged delta: refused too
        damaged = attrs.evolve(commit, deltas={pgno: (kind, packed, crc ^ 1)})
        with pytest.raises(StorageError):
            apply_commits(right, [damaged])
    apply_commits(right, [commit])
    assert right.read_bytes() == origin.conn.serialize()


def old_entry(commit_pages: dict[int, bytes], db_pages: int, *, compressed: bool) -> bytes:
    """An entry as roost wrote them before deltas (version 0)."""
    parts = [struct.pack(">III", 4096, db_pages, len(commit_pages))]
    for pgno, page in sorted(commit_pages.items()):
        parts += [struct.pack(">I", pgno), page]
    raw = b"".join(parts)
    return zlib.compress(raw, 1) if compressed else b"\x00" + raw


def test_entries_of_the_old_format_still_decode(tmp_path: Path) -> None:
    db, image, conn, tail = fresh(tmp_path)
    old = []
    for i in range(40):
        conn.execute("INSERT INTO t VALUES (?, ?)", (i, "v" * 300))
        for commit in tail.read():
            old.append(old_entry(commit.pages, commit.db_pages, compressed=i % 2 == 0))
    apply_commits(image, [decode_commit(blob) for blob in old])
    conn.close()
    assert rows(image) == rows(db)


def test_archives_compress_whole_pages(tmp_path: Path) -> None:
    _, _, conn, tail = fresh(tmp_path)
    conn.execute("INSERT INTO t VALUES (1, ?)", ("v" * 3000,))
    (commit,) = tail.read()
    assert not commit.bases  # the first commit after skip_to_end: no known size
    packed, plain = encode_commit(commit, compress=True), encode_commit(commit)
    assert len(packed) < len(plain) // 4
    assert decode_commit(packed).pages == decode_commit(plain).pages == commit.pages


def test_a_commit_that_spills_ships_each_page_once_against_its_version_before(
    tmp_path: Path,
) -> None:
    origin = Origin(tmp_path / "a.sqlite")
    origin.write("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
    origin.write(*[("INSERT INTO t VALUES (?, ?)", (i, "x" * 100)) for i in range(2000)])
    before = origin.tail.wal_path.stat().st_size
    origin.conn.execute("PRAGMA cache_size=5")  # the transaction spills into the WAL
    origin.write(*[("UPDATE t SET v = ? WHERE k % 7 = ?", ("w" * i, i % 7)) for i in range(12)])
    frames = (origin.tail.wal_path.stat().st_size - before) // (24 + 4096)
    commit = decode_commit(origin.entries[-1])
    assert frames > len(commit.pages) + len(commit.deltas)  # a page written twice in it
    assert commit.deltas
    origin.rebuild(tmp_path / "rebuilt.sqlite")


def test_a_rebuild_that_fails_leaves_no_file(tmp_path: Path) -> None:
    """runtime/_durable's rebuild: a delta over the wrong image raises, and the half-rebuilt
    file is removed (the actor then fails to activate, loudly, instead of serving it)."""
    from roost.runtime._durable import _write_history

    origin = Origin(tmp_path / "a.sqlite")
    origin.write("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
    origin.write(*[("INSERT INTO t VALUES (?, ?)", (i, "x" * 100)) for i in range(200)])
    origin.image()
    origin.write(("UPDATE t SET v = 'y' WHERE k = 3",))
    target = tmp_path / "rebuilt.sqlite"
    wrong = zlib.compress(origin.images[0][1])  # the empty file: the delta does not fit it
    with pytest.raises(StorageError):
        _write_history(target, wrong, [(3, origin.entries[-1])])
    assert not target.exists()
    _write_history(target, zlib.compress(origin.images[1][1]), [(3, origin.entries[-1])])
    assert target.read_bytes() == origin.conn.serialize()


def _changed_range(base: bytes, page: bytes) -> tuple[int, int]:
    """The reference: the first and past-the-last differing byte, by a plain loop."""
    changed = [at for at, (old, new) in enumerate(zip(base, page, strict=True)) if old != new]
    return changed[0], changed[-1] + 1


@st.composite
def _edited_pages(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """A page and a copy with a few bytes changed anywhere: at the edges, across the
    halving's boundaries, far apart (a delta) or next to each other (a patch)."""
    size = draw(st.sampled_from([512, 1024, 4096]))
    base = draw(st.binary(min_size=size, max_size=size))
    page = bytearray(base)
    for at in draw(st.lists(st.integers(0, size - 1), min_size=1, max_size=4)):
        page[at] ^= draw(st.integers(1, 255))
    return base, bytes(page)


@given(_edited_pages())
@settings(max_examples=400, deadline=None)
def test_a_pages_difference_is_exactly_its_changed_range(pages: tuple[bytes, bytes]) -> None:
    """The halving search finds the same range as a byte loop, and the entry it makes
    applies back to the page."""
    base, page = pages
    if base == page:
        return
    low, high = _changed_range(base, page)
    packed, kind = _difference(base, page)
    if high - low <= PATCH_MAX:
        assert kind == _PATCH
        assert packed == _OFFSET.pack(low) + page[low:high]
    else:
        assert kind == _DELTA
    assert _applied(base, kind, packed) == page
