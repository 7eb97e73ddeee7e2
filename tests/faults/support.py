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
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.test_cli import start
from tests.e2e.test_idle_cpu import cpu_seconds
from tests.support import http, missing_tool

APPS = Path(__file__).resolve().parent
FILL_APP = APPS / "fill_app.py"
STOP_TIMEOUT = 15.0  # SIGTERM to exit, the final sync included
LOG_KEPT = 256 * 1024  # the tail of a server's log a test may search, in bytes
FAKETIME_LIBRARIES = [
    Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"),  # Debian's faketime package
    Path("/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1"),
    Path("/usr/local/lib/faketime/libfaketime.so.1"),  # built from source
]

__all__ = [
    "FILL_APP",
    "FakeClock",
    "RoostProcess",
    "assert_no_spin",
    "assert_quiet",
    "cpu_seconds",
    "metrics",
    "post",
    "ready",
    "serve",
    "tmpfs",
    "until",
]


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


async def assert_quiet(
    server: RoostProcess, seconds: float, while_: str, *, limit: float = 0.3
) -> float:
    """No busy loop: under ``limit`` s of CPU in ``seconds`` and no log storm (``while_``
    says when, for the message). Returns the CPU time used."""
    before, logged = cpu_seconds(server.pid), server.log_bytes
    await trio.sleep(seconds)
    used = cpu_seconds(server.pid) - before
    assert used < limit, f"roost used {used:.2f} s of CPU in {seconds} s {while_}"
    assert server.log_bytes - logged < 64 * 1024, f"a log storm {while_}"
    return used


async def until(check: Callable[[], Awaitable[bool]], seconds: float, every: float = 0.1) -> None:
    """Poll ``check`` every ``every`` s until it is true; TooSlowError after ``seconds``."""
    with trio.fail_after(seconds):
        while True:
            if await check():
                return
            await trio.sleep(every)


async def assert_no_spin(server: RoostProcess, seconds: float, while_: str) -> None:
    """No busy loop, judged slice by slice: a spin takes the whole core all the time, while
    a process under libfaketime spends bursts of up to a second of CPU now and then, jump
    or not (measured: 0.01 to 1.2 s in 3 s with no jump). So the median half second must
    use under 40 % of it, and the log must stay quiet."""
    slices, logged = [], server.log_bytes
    for _ in range(round(seconds / 0.5)):
        before = cpu_seconds(server.pid)
        await trio.sleep(0.5)
        slices.append(cpu_seconds(server.pid) - before)
    busy = sorted(slices)[len(slices) // 2]
    assert busy < 0.2, f"roost spun {while_}: CPU per half second {slices}"
    assert server.log_bytes - logged < 64 * 1024, f"a log storm {while_}"


async def metrics(port: int) -> dict[str, float]:
    """``GET /_roost/metrics``: every sample without labels, by name."""
    status, _, body = await http(SimpleNamespace(port=port), "GET", "/_roost/metrics")  # type: ignore[arg-type]
    assert status == 200, (status, body)
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
        if not sample.labels
    }


async def ready(port: int) -> int:
    """The status of ``GET /_roost/ready``."""
    status, _, _ = await http(SimpleNamespace(port=port), "GET", "/_roost/ready")  # type: ignore[arg-type]
    return status


@contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` (``mount -o size=``) mounted on ``path``, unmounted afterwards.

    Skips loudly when mounting is not permitted (not root, a container without
    CAP_SYS_ADMIN), or fails when ``ROOST_REQUIRE_TMPFS=1``.
    """
    path.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        failure = done.stderr.strip() or os.strerror(errno.EPERM) if done.returncode else ""
    except FileNotFoundError:
        failure = "no mount command"
    if failure:
        reason = (
            f"!!! CANNOT MOUNT A TMPFS ({failure}): "
            "THE DISK-FULL FAULT TESTS WERE NOT RUN !!! (run them as root)"
        )
        if os.environ.get("ROOST_REQUIRE_TMPFS") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield path
    finally:
        subprocess.run(["umount", "--lazy", str(path)], check=False)


class FakeClock:
    """The wall clock of processes started with :attr:`env`, moved by :meth:`jump`.

    libfaketime (``LD_PRELOAD``) reads the offset from a file, at most once a second
    (``FAKETIME_CACHE_DURATION``: reading it at every call, ``FAKETIME_NO_CACHE``, costs
    the server a lot of CPU), so a jump reaches a running server within a second
    (:meth:`wait_seen`). Only the wall clock moves (``FAKETIME_DONT_FAKE_MONOTONIC``), as
    when an administrator or NTP steps it: the monotonic clock (trio's) never jumps.
    Beware: under libfaketime 0.9.10 with that setting, ``time.sleep`` fails with EINVAL
    (its ``clock_nanosleep`` on the monotonic clock is mistranslated); trio never calls it,
    and the threads that do (the SQLite store's retry backoff, psycopg_pool's reconnection)
    are not reached by these tests. Skips loudly without libfaketime, or fails when
    ``ROOST_REQUIRE_FAKETIME=1`` (CI installs it).
    """

    def __init__(self, folder: Path) -> None:
        library = next((p for p in FAKETIME_LIBRARIES if p.is_file()), None)
        if library is None:
            missing_tool("faketime", "the wall-clock jump tests", "ROOST_REQUIRE_FAKETIME")
        self._file = folder / "faketime"
        self.offset = 0
        self._file.write_text("+0\n")
        self.env = {
            "LD_PRELOAD": str(library),
            "FAKETIME_TIMESTAMP_FILE": str(self._file),
            "FAKETIME_CACHE_DURATION": "1",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        }

    def jump(self, seconds: int) -> None:
        """Move the fake wall clock by ``seconds`` (negative: back) from where it is."""
        self.offset += seconds
        fresh = self._file.with_suffix(".new")  # renamed over it: never read half-written
        fresh.write_text(f"{self.offset:+d}\n")
        fresh.replace(self._file)

    def now(self) -> float:
        """The fake wall clock's time now, as the server reads it."""
        return time.time() + self.offset

    async def wait_seen(self, server: RoostProcess) -> None:
        """Until the server's wall clock (``fill_app``'s ``now``) is this one."""

        async def seen() -> bool:
            status, body = await server.post("/box/clock/rpc/now")
            return status == 200 and abs(body["value"] - self.now()) < 0.5

        await until(seen, 5, every=0.05)
