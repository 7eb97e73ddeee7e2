"""``roost serve APP --workers N``: one small process that keeps N worker processes running.

``roost serve`` checks the settings and the app, takes the data directory's lock and binds the
public listening socket, then calls :func:`exec_supervisor`, which replaces the process (same
PID, the one in the lock file) with ``python -m roost._supervisor``: this module's loop, which
imports only the standard library (and roost/_logging.py, which does too), so the supervisor
holds under 20 MB instead of a server's 50 (the rest of roost's imports here are local to
:func:`exec_supervisor`, which runs before the exec).
It runs N workers: the same ``roost serve`` command line with the environment of
runtime/_worker.py, which hands each worker the listening socket (they all accept on it: the
kernel spreads the connections, and connections waiting in the backlog survive a worker's
death), the lock (adopted as under ``--reload``), its index and a cluster secret. A worker
that dies is started again with the same index (so the same node id) at once; one that keeps
dying right after it started backs off (see :func:`restart_delay`).

The loop waits in ``select`` on signals (``signal.set_wakeup_fd``) and deadlines: it serves
nothing and wakes only when a worker exits or a signal comes. SIGTERM or SIGINT stops the
workers gracefully (SIGTERM to each, SIGKILL to those still running after
:func:`stop_timeout`); a second signal kills them at once. Each worker runs in its own process
group, so a Ctrl-C in the terminal reaches only the supervisor, which forwards exactly one
SIGTERM (a worker reads a second signal as "exit now"). A worker whose supervisor is gone
(``kill -9``) notices within a second and shuts down gracefully (roost/cli.py's parent check,
shared with ``--reload``).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from roost import _logging

if TYPE_CHECKING:
    from roost.runtime import ServerConfig
    from roost.storage import DataDirLock

__all__ = ["exec_supervisor", "restart_delay", "stop_timeout"]

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


def exec_supervisor(
    serve_argv: Sequence[str],
    config: ServerConfig,
    lock: DataDirLock,
    listener: socket.socket,
    *,
    admin: socket.socket | None = None,
    log_level: str = "INFO",
    log_format: str = "text",
) -> NoReturn:
    """Become the supervisor of ``config.worker_count`` workers (``roost serve ARGV``).

    ``lock`` and ``listener`` (and ``admin``, the ``--admin-port`` listener) pass to the new
    program and on to every worker; it logs at ``log_level`` in ``log_format`` (text, json).
    The workers' shared environment (and the secret) travels in the environment, never in the
    command line, which every user of the machine can read.

    Raises:
        OSError: the exec failed.
    """
    from roost import _reload
    from roost.runtime import _worker as worker_env
    from roost.storage._lock import INHERITED_FD_ENV

    fds = [lock.fd, listener.fileno(), *([] if admin is None else [admin.fileno()])]
    for fd in fds:
        os.set_inheritable(fd, True)
    environ = {key: value for key, value in os.environ.items() if key != "ROOST_RELOAD"}
    environ.update(
        {
            "ROOST_WORKERS": "1",  # a worker never supervises
            INHERITED_FD_ENV: str(lock.fd),
            _reload.PARENT_ENV: str(os.getpid()),  # exec keeps it: workers stop when we go
            worker_env.ENV_COUNT: str(config.worker_count),
            worker_env.ENV_SUPERVISOR: secrets.token_hex(8),
            worker_env.ENV_LISTEN_FD: str(listener.fileno()),
            worker_env.ENV_SECRET: config.cluster_secret or secrets.token_hex(32),
        }
    )
    if admin is not None:
        environ[worker_env.ENV_ADMIN_FD] = str(admin.fileno())
    plan = {
        "command": [sys.executable, "-m", "roost", "serve", *serve_argv],
        "count": config.worker_count,
        "index_variable": worker_env.ENV_INDEX,
        "pass_fds": fds,
        "stop_timeout": stop_timeout(config),
        "log_level": log_level,
        "log_format": log_format,
    }
    sys.stdout.flush()
    sys.stderr.flush()
    program = [sys.executable, "-m", "roost._supervisor", json.dumps(plan)]
    os.execve(sys.executable, program, environ)


def main(argv: Sequence[str] | None = None) -> int:
    """The supervisor program (after :func:`exec_supervisor`); returns the exit status."""
    plan = json.loads((sys.argv[1:] if argv is None else argv)[0])
    _logging.setup(plan["log_level"], plan["log_format"])
    supervisor = _Supervisor(plan)
    forced = supervisor.run()
    if supervisor.refused and forced is None:
        return 2
    if forced is not None:  # the words and status of roost/cli.py's _exit_now
        name = signal.Signals(forced).name
        print(f"roost: {name} again: exiting without finishing the shutdown", file=sys.stderr)
        return 128 + forced
    print("roost stopped", flush=True)
    return 0


class _Worker:
    """One worker slot: its current process, or when it is due to start again."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.process: subprocess.Popen[bytes] | None = None
        self.runs = 0
        self.started = 0.0
        self.quick_deaths = 0
        self.restart_at: float | None = None
        self.kill_at: float | None = None


class _Supervisor:
    def __init__(self, plan: dict[str, Any]) -> None:
        self.command: list[str] = plan["command"]
        self.index_variable: str = plan["index_variable"]
        self.pass_fds: tuple[int, ...] = tuple(plan["pass_fds"])
        self.stop_timeout: float = plan["stop_timeout"]
        self.workers = [_Worker(index) for index in range(plan["count"])]
        self.stopping = False
        self.forced: int | None = None
        self.refused = False

    def run(self) -> int | None:
        """Run the workers until a signal stopped them all; the second signal's number, if
        one cut the shutdown short. :attr:`refused` tells whether a worker refused to start."""
        wake_read, wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_write, warn_on_full_buffer=False)
        for watched in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
            signal.signal(watched, _wake_only)
        for worker in self.workers:
            self._start(worker)
        while not self.stopping or any(w.process is not None for w in self.workers):
            select.select([wake_read], [], [], self._until_next_deadline())
            try:
                received = os.read(wake_read, 512)
            except BlockingIOError:
                received = b""
            for signum in received:
                if signum in (signal.SIGINT, signal.SIGTERM):
                    self._on_stop_signal(signum)
            self._reap()
            self._on_deadlines()
        return self.forced

    def _until_next_deadline(self) -> float | None:
        deadlines = [at for w in self.workers for at in (w.restart_at, w.kill_at) if at is not None]
        return None if not deadlines else max(0.0, min(deadlines) - time.monotonic())

    def _on_stop_signal(self, signum: int) -> None:
        name = signal.Signals(signum).name
        running = [w for w in self.workers if w.process is not None]
        if not self.stopping:
            log.info("received %s; stopping %d workers", name, len(running))
            self._stop()
        elif self.forced is None:
            log.warning("received %s again; killing the workers", name)
            self.forced = signum
            for worker in running:
                assert worker.process is not None
                _signal(worker.process, signal.SIGKILL)

    def _stop(self) -> None:
        self.stopping = True
        for worker in self.workers:
            worker.restart_at = None
            if worker.process is not None:
                _signal(worker.process, signal.SIGTERM)
                worker.kill_at = time.monotonic() + self.stop_timeout

    def _reap(self) -> None:
        for worker in self.workers:
            if worker.process is not None and worker.process.poll() is not None:
                self._exited(worker, worker.process)

    def _exited(self, worker: _Worker, process: subprocess.Popen[bytes]) -> None:
        worker.process, worker.kill_at = None, None
        status = describe_exit(process.returncode)
        if self.stopping:
            # SIGTERM kills a worker that is still loading: nothing was open yet.
            quiet = process.returncode in (0, -signal.SIGTERM)
            level = logging.INFO if quiet else logging.WARNING
            log.log(
                level, "worker %d (process %d) exited with %s", worker.index, process.pid, status
            )
            return
        lived = time.monotonic() - worker.started
        if process.returncode == 2 and worker.runs == 1 and lived < STABLE_AFTER:
            # A bad setting or app that only a worker could see (its one-line reason is on
            # stderr): restarting cannot help, so the command fails as a single server would.
            log.error("worker %d refused to start (status 2); stopping", worker.index)
            self.refused = True
            self._stop()
            return
        worker.quick_deaths = worker.quick_deaths + 1 if lived < STABLE_AFTER else 1
        delay = restart_delay(worker.quick_deaths)
        log.warning(
            "worker %d (process %d) exited with %s after %.1f s; restarting it%s",
            worker.index,
            process.pid,
            status,
            lived,
            f" in {delay:g} s" if delay else "",
        )
        if delay:
            worker.restart_at = time.monotonic() + delay
        else:
            self._start(worker)

    def _on_deadlines(self) -> None:
        now = time.monotonic()
        for worker in self.workers:
            if worker.restart_at is not None and now >= worker.restart_at:
                worker.restart_at = None
                self._start(worker)
            if worker.kill_at is not None and now >= worker.kill_at and worker.process:
                worker.kill_at = None
                log.warning(
                    "worker %d (process %d) did not stop within %g s: killing it",
                    worker.index,
                    worker.process.pid,
                    self.stop_timeout,
                )
                _signal(worker.process, signal.SIGKILL)

    def _start(self, worker: _Worker) -> None:
        environ = {**os.environ, self.index_variable: str(worker.index)}
        worker.started = time.monotonic()
        worker.runs += 1
        try:
            worker.process = subprocess.Popen(
                self.command,
                env=environ,
                pass_fds=self.pass_fds,
                stdin=subprocess.DEVNULL,
                process_group=0,  # a terminal's Ctrl-C is for the supervisor alone
            )
        except OSError as exc:  # no process, no memory: as if it had died at once
            worker.quick_deaths += 1
            delay = max(1.0, restart_delay(worker.quick_deaths))
            log.error("worker %d could not start (%s); retrying in %g s", worker.index, exc, delay)
            worker.restart_at = time.monotonic() + delay
            return
        log.info("worker %d (process %d) started", worker.index, worker.process.pid)


def _wake_only(signum: int, frame: object) -> None:
    """The handler that lets ``set_wakeup_fd`` report the signal to the loop."""


def _signal(process: subprocess.Popen[bytes], signum: int) -> None:
    try:
        process.send_signal(signum)
    except ProcessLookupError:  # it has just exited
        pass


if __name__ == "__main__":
    sys.exit(main())
