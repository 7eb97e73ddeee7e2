"""``roost serve APP --workers N``: one small process that keeps N worker processes running.

The supervisor binds the public listening socket and holds the data directory's lock (both
taken by roost/cli.py before it starts), then runs N workers: the same ``roost serve`` command
line with the environment of runtime/_worker.py, which hands each worker the listening socket
(they all accept on it: the kernel spreads the connections, and connections waiting in the
backlog survive a worker's death), the lock (adopted as under ``--reload``), its index and a
cluster secret. A worker that dies is started again with the same index (so the same node id)
at once; one that keeps dying right after it started backs off (see :func:`restart_delay`).

The supervisor serves nothing and hosts no actor: waiting on its children (trio's pidfd wait)
and on signals is all it does, so it stays small and idle. SIGTERM or SIGINT stops the workers
gracefully (SIGTERM to each; SIGKILL to those still running after :func:`stop_timeout`); a
second signal kills them at once. Each worker runs in its own process group, so a Ctrl-C in
the terminal reaches only the supervisor, which forwards exactly one SIGTERM (a worker reads a
second signal as "exit now"). A worker whose supervisor is gone (``kill -9``) notices within a
second and shuts down gracefully (roost/cli.py's parent check, shared with ``--reload``).
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping, Sequence

import trio

from roost import _reload
from roost.runtime import ServerConfig
from roost.runtime import _worker as worker_env
from roost.storage import DataDirLock
from roost.storage._lock import INHERITED_FD_ENV

__all__ = ["restart_delay", "stop_timeout", "supervise"]

log = logging.getLogger("roost.supervisor")

#: A worker that lived at least this long had started fine: its death is restarted at once.
STABLE_AFTER = 10.0
#: The longest wait before restarting a worker that keeps dying right after its start.
MAX_RESTART_DELAY = 30.0
#: Seconds beyond a worker's own shutdown bounds before it is killed.
_KILL_MARGIN = 5.0


def restart_delay(quick_deaths: int) -> float:
    """Seconds to wait before restarting a worker that died ``quick_deaths`` times in a row
    within :data:`STABLE_AFTER` of its start.

    The first death is restarted at once (a ``kill -9``, an out-of-memory kill: its actors
    are wanted back now); a worker that keeps failing right after its start (a bad store, a
    broken deployment) waits 1 s, 2 s, 4 s ... up to :data:`MAX_RESTART_DELAY`, so a crash
    loop costs little and logs one line per attempt.
    """
    if quick_deaths <= 1:
        return 0.0
    return min(MAX_RESTART_DELAY, 2.0 ** (quick_deaths - 2))


def stop_timeout(config: ServerConfig) -> float:
    """How long a worker may take to stop gracefully before it is killed.

    A worker's shutdown drains its peers (up to ``shutdown_timeout``), closes the rest (up to
    ``close_timeout``), then flushes its syncs (up to ``shutdown_timeout`` again).
    """
    return 2 * config.shutdown_timeout + config.close_timeout + _KILL_MARGIN


def describe_exit(returncode: int) -> str:
    """``status 3`` or ``signal SIGKILL``: how a worker ended, for the log."""
    if returncode < 0:
        try:
            return f"signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"signal {-returncode}"
    return f"status {returncode}"


def supervise(
    serve_argv: Sequence[str],
    config: ServerConfig,
    lock: DataDirLock,
    listener: socket.socket,
    *,
    admin: socket.socket | None = None,
    environ: Mapping[str, str] | None = None,
) -> int | None:
    """Run ``config.worker_count`` workers (``python -m roost serve ARGV``) until signalled.

    ``admin``: the ``--admin-port`` listener, shared by the workers like ``listener``.
    Returns None after a graceful stop, or the number of the second signal that cut it short
    (every worker was killed). ``lock`` and the listeners stay open: the caller closes them.
    """
    supervisor = _Supervisor(serve_argv, config, lock, (listener, admin), environ)
    return trio.run(supervisor.run)


class _Supervisor:
    def __init__(
        self,
        serve_argv: Sequence[str],
        config: ServerConfig,
        lock: DataDirLock,
        listeners: tuple[socket.socket, socket.socket | None],
        environ: Mapping[str, str] | None,
    ) -> None:
        listener, admin = listeners
        self.command = [sys.executable, "-m", "roost", "serve", *serve_argv]
        self.count = config.worker_count
        self.stop_timeout = stop_timeout(config)
        self.pass_fds = (lock.fd, listener.fileno(), *([] if admin is None else [admin.fileno()]))
        self.environ = dict(os.environ if environ is None else environ)
        self.environ.update(
            {
                "ROOST_WORKERS": "1",  # a worker never supervises
                INHERITED_FD_ENV: str(lock.fd),
                _reload.PARENT_ENV: str(os.getpid()),  # the worker stops when we are gone
                worker_env.ENV_COUNT: str(self.count),
                worker_env.ENV_SUPERVISOR: secrets.token_hex(8),
                worker_env.ENV_LISTEN_FD: str(listener.fileno()),
                worker_env.ENV_SECRET: config.cluster_secret or secrets.token_hex(32),
            }
        )
        if admin is not None:
            self.environ[worker_env.ENV_ADMIN_FD] = str(admin.fileno())
        self.environ.pop("ROOST_RELOAD", None)
        self.running: dict[int, trio.Process] = {}
        self.stopping = trio.Event()
        self.forced: int | None = None

    async def run(self) -> int | None:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._watch_signals, signals)
                async with trio.open_nursery() as workers:
                    for index in range(self.count):
                        workers.start_soon(self._keep_running, index)
                # Every worker has exited, which happens only once we are stopping.
                nursery.cancel_scope.cancel()
        return self.forced

    async def _watch_signals(self, signals: AsyncIterator[int]) -> None:
        async for signum in signals:
            name = signal.Signals(signum).name
            if not self.stopping.is_set():
                log.info("received %s; stopping %d workers", name, len(self.running))
                self.stopping.set()
                continue
            log.warning("received %s again; killing the workers", name)
            self.forced = signum
            for process in self.running.values():
                _signal(process, signal.SIGKILL)
            return

    async def _keep_running(self, index: int) -> None:
        """Run worker ``index`` until we stop: restart it whenever it dies."""
        quick_deaths = 0
        while not self.stopping.is_set():
            started = trio.current_time()
            try:
                process = await self._start(index)
            except OSError as exc:  # no process, no memory: as if it had died at once
                quick_deaths += 1
                delay = max(1.0, restart_delay(quick_deaths))
                log.error("worker %d could not start (%s); retrying in %g s", index, exc, delay)
                with trio.move_on_after(delay):
                    await self.stopping.wait()
                continue
            self.running[index] = process
            try:
                async with trio.open_nursery() as watching:
                    watching.start_soon(self._stop_when_asked, index, process)
                    await process.wait()
                    watching.cancel_scope.cancel()
            finally:
                del self.running[index]
            assert process.returncode is not None  # it was waited for
            status = describe_exit(process.returncode)
            if self.stopping.is_set():
                # SIGTERM kills a worker that is still loading: nothing was open yet.
                level = (
                    logging.INFO if process.returncode in (0, -signal.SIGTERM) else logging.WARNING
                )
                log.log(level, "worker %d (process %d) exited with %s", index, process.pid, status)
                return
            lived = trio.current_time() - started
            quick_deaths = quick_deaths + 1 if lived < STABLE_AFTER else 1
            delay = restart_delay(quick_deaths)
            log.warning(
                "worker %d (process %d) exited with %s after %.1f s; restarting it%s",
                index,
                process.pid,
                status,
                lived,
                f" in {delay:g} s" if delay else "",
            )
            with trio.move_on_after(delay):
                await self.stopping.wait()

    async def _start(self, index: int) -> trio.Process:
        environ = {**self.environ, worker_env.ENV_INDEX: str(index)}
        process = await trio.lowlevel.open_process(
            self.command,
            env=environ,
            pass_fds=self.pass_fds,
            stdin=subprocess.DEVNULL,
            process_group=0,  # a terminal's Ctrl-C is for the supervisor alone
        )
        log.info("worker %d (process %d) started", index, process.pid)
        return process

    async def _stop_when_asked(self, index: int, process: trio.Process) -> None:
        """Once we are stopping: SIGTERM (the worker's graceful shutdown), SIGKILL after the
        stop timeout. Cancelled when the worker exits."""
        await self.stopping.wait()
        _signal(process, signal.SIGKILL if self.forced else signal.SIGTERM)
        await trio.sleep(self.stop_timeout)
        log.warning(
            "worker %d (process %d) did not stop within %g s: killing it",
            index,
            process.pid,
            self.stop_timeout,
        )
        _signal(process, signal.SIGKILL)


def _signal(process: trio.Process, signum: int) -> None:
    try:
        process.send_signal(signum)
    except ProcessLookupError:  # it has just exited
        pass
