"""What the fault tests share: a ``roost serve`` process whose log is read as it runs, plain
HTTP rpc calls, a small tmpfs for a data dir, and the CPU a process used.

The server is a real subprocess (``python -m roost serve``, started by tests/e2e's ``start``),
as users run it, so a fault (a full disk, a lost database, a clock that jumps) reaches it
through the operating system, never through a mock.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import trio

from tests.e2e.test_cli import start
from tests.e2e.test_idle_cpu import cpu_seconds
from tests.support import http

APPS = Path(__file__).resolve().parent
FILL_APP = APPS / "fill_app.py"
STOP_TIMEOUT = 15.0  # SIGTERM to exit, the final sync included
LOG_KEPT = 256 * 1024  # the tail of a server's log a test may search, in bytes

__all__ = ["FILL_APP", "RoostProcess", "cpu_seconds", "post", "serve", "tmpfs"]


class RoostProcess:
    """A running ``roost serve``: its port, and its log (stderr) as read so far.

    ``log_bytes`` counts everything it logged, ``log`` keeps the last :data:`LOG_KEPT` bytes.
    """

    def __init__(self, process: trio.Process, port: int) -> None:
        self.process = process
        self.port = port
        self.log = ""
        self.log_bytes = 0

    @property
    def pid(self) -> int:
        return self.process.pid

    async def read_log(self) -> None:
        """Read stderr until the process closes it: a server blocked on a full pipe would
        look idle (and never stop)."""
        assert self.process.stderr is not None
        while chunk := await self.process.stderr.receive_some(65536):
            self.log_bytes += len(chunk)
            self.log = (self.log + chunk.decode(errors="replace"))[-LOG_KEPT:]

    async def post(self, path: str, body: Any = None) -> tuple[int, Any]:
        return await post(self.port, path, body)

    async def stop(self) -> int:
        """SIGTERM, then wait for it to exit (killed if it does not within STOP_TIMEOUT)."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        with trio.move_on_after(STOP_TIMEOUT):
            await self.process.wait()
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
            raise AssertionError(f"roost did not stop within {STOP_TIMEOUT} s of SIGTERM")
        return self.process.returncode


@asynccontextmanager
async def serve(
    args: Sequence[str], *, env: dict[str, str] | None = None
) -> AsyncIterator[RoostProcess]:
    """``python -m roost serve ARGS`` on 127.0.0.1, port 0, its log read meanwhile.

    ``env`` is added to this process's environment (``LD_PRELOAD`` of libfaketime, for
    one). Leaving the block stops the process if the test did not (killed when SIGTERM is
    not enough).
    """
    process, port = await start(
        ["serve", *args, "--port", "0"], env={"ROOST_HOST": "127.0.0.1", **(env or {})}
    )
    server = RoostProcess(process, port)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server.read_log)
            try:
                yield server
            finally:
                with trio.CancelScope(shield=True):
                    if process.returncode is None:
                        await server.stop()
                nursery.cancel_scope.cancel()
    finally:
        if process.returncode is None:
            process.kill()
            with trio.CancelScope(shield=True):
                await process.wait()


async def post(port: int, path: str, body: Any = None) -> tuple[int, Any]:
    """One JSON ``POST`` over a fresh connection (an rpc over HTTP): its status and decoded
    body (None when it is not JSON)."""
    status, _, answer = await http(
        SimpleNamespace(port=port),  # type: ignore[arg-type]  # only .port is read
        "POST",
        path,
        body=json.dumps(body if body is not None else {}).encode(),
        headers=[("content-type", "application/json")],
    )
    try:
        return status, json.loads(answer)
    except ValueError:
        return status, None


@contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` (``mount -o size=``) mounted on ``path``, unmounted afterwards.

    Skips loudly when mounting is not permitted (not root, a container without
    CAP_SYS_ADMIN), or fails when ``ROOST_REQUIRE_TMPFS=1``.
    """
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        reason = (
            f"!!! CANNOT MOUNT A TMPFS ({done.stderr.strip() or os.strerror(errno.EPERM)}): "
            "THE DISK-FULL FAULT TESTS WERE NOT RUN !!! (run them as root)"
        )
        if os.environ.get("ROOST_REQUIRE_TMPFS") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield path
    finally:
        subprocess.run(["umount", "--lazy", str(path)], check=False)
