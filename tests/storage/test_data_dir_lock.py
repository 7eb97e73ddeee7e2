"""The data-directory lock: one holder at a time, named by PID, freed by the kernel on kill -9,
and adoptable by a child the holder passes it to (the future supervisor and its workers)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from roost import StorageError
from roost.storage import DataDirLock, DataDirLocked
from roost.storage._lock import INHERITED_FD_ENV, LOCK_FILE_NAME

HOLD = """
import sys, time
from roost.storage import DataDirLock
lock = DataDirLock.acquire(sys.argv[1])
print("locked", flush=True)
time.sleep(60)
"""

ADOPT = """
import sys
from roost.storage import DataDirLock, DataDirLocked
try:
    DataDirLock.acquire(sys.argv[1])
except DataDirLocked as exc:
    print("refused", exc.holder)
else:
    print("adopted")
"""


def _python(code: str, *args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        **kwargs,  # type: ignore[call-overload]
    )


def test_a_second_holder_is_refused_with_the_first_ones_pid(tmp_path: Path) -> None:
    data = tmp_path / "new" / "data"
    lock = DataDirLock.acquire(data, environ={})
    assert (data / LOCK_FILE_NAME).read_text() == f"{os.getpid()}\n"
    with pytest.raises(DataDirLocked) as refused:
        DataDirLock.acquire(data, environ={})
    assert refused.value.holder == os.getpid()
    assert str(data) in str(refused.value) and str(os.getpid()) in str(refused.value)
    assert "\n" not in str(refused.value)
    lock.release()
    lock.release()  # idempotent
    with DataDirLock.acquire(data, environ={}):
        pass
    DataDirLock.acquire(data, environ={}).release()


def test_kill_9_of_the_holder_frees_the_directory(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        with pytest.raises(DataDirLocked) as refused:
            DataDirLock.acquire(tmp_path, environ={})
        assert refused.value.holder == holder.pid
    finally:
        holder.send_signal(signal.SIGKILL)
        assert holder.wait(timeout=30) == -signal.SIGKILL
        holder.stdout.close()  # type: ignore[union-attr]
    DataDirLock.acquire(tmp_path, environ={}).release()  # the stale file is no obstacle


def test_a_child_adopts_the_lock_its_parent_passes_down(tmp_path: Path) -> None:
    with DataDirLock.acquire(tmp_path, environ={}) as lock:
        env = {**os.environ, INHERITED_FD_ENV: str(lock.fd)}
        passed = _python(ADOPT, str(tmp_path), env=env, pass_fds=[lock.fd])
        assert passed.stdout == "adopted\n"
        # Without the descriptor (or without being told), a child is just another process.
        alone = _python(ADOPT, str(tmp_path), env={**os.environ, INHERITED_FD_ENV: ""})
        assert alone.returncode == 1 and alone.stdout == ""
        assert "is not an open descriptor" in alone.stderr
        stranger = _python(ADOPT, str(tmp_path))
        assert stranger.stdout == f"refused {os.getpid()}\n"


def test_an_inherited_descriptor_must_be_this_directorys_lock(tmp_path: Path) -> None:
    other = tmp_path / "other"
    DataDirLock.acquire(tmp_path / "mine", environ={}).release()
    with DataDirLock.acquire(other, environ={}) as lock:
        with pytest.raises(StorageError, match="lock of another directory"):
            DataDirLock.acquire(tmp_path / "mine", environ={INHERITED_FD_ENV: str(lock.fd)})
    with pytest.raises(StorageError, match="not an open descriptor"):
        DataDirLock.acquire(tmp_path / "mine", environ={INHERITED_FD_ENV: "seven"})


def test_an_unusable_directory_is_a_storage_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(StorageError, match="cannot create the lock file"):
        DataDirLock.acquire(tmp_path / "file" / "data", environ={})
