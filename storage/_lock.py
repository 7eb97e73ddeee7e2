"""One server per data directory: an OS lock on ``<data-dir>/.lock`` held for a process's life.

Two servers on one data directory would each believe they own every actor file, the node's
alarm index and the embedded shared store (G1 inside a node rests on there being one node). So
``roost serve`` takes an exclusive ``flock`` on ``<data-dir>/.lock`` before it opens any
database and keeps the descriptor open until it exits; the kernel releases the lock when the
process dies, also on ``kill -9``, so a crash never leaves a stale lock behind. The holder
writes its PID into the file, which is how a refused process can name it. The PID is only a
label: the lock itself, never the file's content, decides who holds the directory.

Offline writers (``roost sql --write --actor``, ``roost actors import``) take the same lock for
the length of their write, so they refuse while a server runs and a server cannot start in the
middle of an import. Readers never take it.

**The lock belongs to the serving process tree, not to each process.** A ``flock`` belongs to
the open file description, which a child inherits with the descriptor. A future supervisor
(``roost serve --workers N``, ``--reload``) takes the lock once, passes its descriptor to each
worker (``pass_fds``) and names it in the environment variable :data:`INHERITED_FD_ENV`; a
worker then calls :meth:`DataDirLock.acquire` as usual, which adopts the inherited descriptor
(checking that it is the lock file of the same directory and that it holds the lock) instead
of taking a new one, which would fail against its own parent. The PID in the file stays the
supervisor's, the process an operator would signal.
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from roost._errors import StorageError

__all__ = ["INHERITED_FD_ENV", "LOCK_FILE_NAME", "DataDirLock", "DataDirLocked"]

#: The lock file inside the data directory.
LOCK_FILE_NAME = ".lock"
#: Names the descriptor of a lock a parent process holds for this one (see the module doc).
INHERITED_FD_ENV = "ROOST_DATA_DIR_LOCK_FD"


class DataDirLocked(StorageError):
    """Another process (tree) holds the data directory: a server runs on it, or a writer."""

    def __init__(self, data_dir: Path, holder: int | None) -> None:
        who = f"process {holder}" if holder is not None else "another process"
        super().__init__(
            f"the data directory {data_dir} is in use by {who} (a running roost server or "
            "tool holds its lock); stop it first, or use another --data-dir"
        )
        self.data_dir = data_dir
        self.holder = holder


class DataDirLock:
    """The exclusive lock on a data directory; released by :meth:`release` or process exit.

    Use :meth:`acquire` (or ``with DataDirLock.acquire(d):`` for a short-lived writer).
    """

    def __init__(self, data_dir: Path, fd: int) -> None:
        self.data_dir = data_dir
        self._fd: int | None = fd

    @property
    def fd(self) -> int:
        """The locked descriptor, for a supervisor to hand to its workers (``pass_fds``)."""
        if self._fd is None:
            raise StorageError(f"the lock on {self.data_dir} was released")
        return self._fd

    @classmethod
    def acquire(
        cls, data_dir: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None
    ) -> DataDirLock:
        """Lock ``data_dir`` (creating it), or adopt the lock a parent passed down.

        Never waits: a held lock is refused at once.

        Raises:
            DataDirLocked: another process (tree) holds the directory.
            StorageError: the directory or lock file cannot be created, or the inherited
                descriptor is not this directory's lock.
        """
        path = Path(data_dir)
        environ = os.environ if environ is None else environ
        inherited = environ.get(INHERITED_FD_ENV)
        if inherited is not None:
            return cls._adopt(path, inherited)
        lock_file = path / LOCK_FILE_NAME
        try:
            path.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise StorageError(f"cannot create the lock file {lock_file}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read_pid(fd)
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise StorageError(f"cannot lock {lock_file}: {exc.strerror}") from None
            raise DataDirLocked(path, holder) from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as exc:
            os.close(fd)
            raise StorageError(f"cannot write the lock file {lock_file}: {exc.strerror}") from None
        return cls(path, fd)

    @classmethod
    def _adopt(cls, path: Path, inherited: str) -> DataDirLock:
        where = f"{INHERITED_FD_ENV}={inherited!r}"
        try:
            fd = int(inherited)
            held, ours = os.fstat(fd), os.stat(path / LOCK_FILE_NAME)
        except (ValueError, OSError):
            raise StorageError(f"{where} is not an open descriptor of {path}'s lock") from None
        if (held.st_dev, held.st_ino) != (ours.st_dev, ours.st_ino):
            raise StorageError(f"{where} is the lock of another directory than {path}")
        try:
            # On the description that already holds it this is a no-op; it fails only when
            # the descriptor does not hold the lock and someone else does.
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise DataDirLocked(path, _read_pid(fd)) from None
        return cls(path, fd)

    def release(self) -> None:
        """Let go of the lock (idempotent). A process that exits releases it anyway."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing the last descriptor of the description unlocks it

    def __enter__(self) -> DataDirLock:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    """The PID the holder wrote, or None while it has not written it yet (or wrote garbage)."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii").strip()
        return int(text) if text else None
    except (OSError, UnicodeDecodeError, ValueError):
        return None
