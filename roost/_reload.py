"""``roost serve --reload``: serve in a child process and restart it when app files change.

For development only. The watching process holds the data directory's lock for its whole life
and hands it to each server it starts (``pass_fds`` and :data:`INHERITED_FD_ENV`, see
:mod:`roost.storage._lock`), so a restart keeps the data directory and no other ``roost serve``
can take it between two children. A change to a ``.py`` file under the watched directories
stops the server gracefully (SIGTERM: it flushes its syncs and closes its sockets with 1001;
SIGKILL if it is still there after the shutdown timeout) and starts a new one. A server that
exits by itself (a syntax error just saved) is started again on the next change.

The children run in their own process group, so a Ctrl-C in the terminal reaches only this
process, which forwards exactly one SIGTERM (a second signal to a server means "exit now");
a second Ctrl-C forwards SIGINT, the server's own "exit at once".
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from roost._errors import ConfigError
from roost.storage import DataDirLock
from roost.storage._lock import INHERITED_FD_ENV

__all__ = ["PARENT_ENV", "run_reloader", "watched_dirs"]

#: Names the watcher's PID for its server, which stops when the watcher is gone (``kill -9``).
PARENT_ENV = "ROOST_RELOAD_PARENT"

#: Seconds between checks on the server process while no file changes.
_POLL_MS = 200
#: Seconds beyond the server's shutdown timeout before SIGKILL.
_KILL_MARGIN = 5.0


def watched_dirs(app_spec: str) -> list[Path]:
    """Where the app's code lives: the app file's directory, else the working directory."""
    target = app_spec.partition(":")[0]
    path = Path(target)
    if target.endswith(".py") or path.is_file():
        return [path.resolve().parent]
    return [Path.cwd()]


def run_reloader(
    serve_argv: Sequence[str],
    lock: DataDirLock,
    watch: Sequence[Path],
    *,
    shutdown_timeout: float,
) -> int:
    """Run ``python -m roost serve ARGV`` as a child, restarting it on changes, until signalled.

    ``lock`` is the data directory's lock, held by this process; it is not released here.
    Returns 0 once a signal stopped everything.

    Raises:
        ConfigError: watchfiles is not installed.
    """
    try:
        import watchfiles
    except ImportError:
        raise ConfigError(
            "--reload needs the watchfiles package: pip install 'roost[reload]'"
        ) from None
    command = [sys.executable, "-m", "roost", "serve", *serve_argv]
    stop = threading.Event()
    signals_seen: list[int] = []
    running: list[subprocess.Popen[bytes]] = []  # the current server, once there is one

    def on_signal(signum: int, frame: FrameType | None) -> None:
        signals_seen.append(signum)
        stop.set()
        if len(signals_seen) > 1 and running and running[0].poll() is None:
            running[0].send_signal(signal.SIGINT)  # the operator insists: the server exits now

    def start() -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if k != "ROOST_RELOAD"}  # serve, not reload
        env[INHERITED_FD_ENV] = str(lock.fd)
        env[PARENT_ENV] = str(os.getpid())
        started = subprocess.Popen(command, env=env, pass_fds=(lock.fd,), process_group=0)
        running[:] = [started]
        _say(f"server process {started.pid} started; watching {', '.join(map(str, watch))}")
        return started

    logging.getLogger("watchfiles").setLevel(logging.WARNING)  # we say what changed ourselves
    changes_seen = watchfiles.watch(
        *watch,
        watch_filter=watchfiles.PythonFilter(),
        stop_event=stop,
        rust_timeout=_POLL_MS,
        yield_on_timeout=True,
        raise_interrupt=False,
    )
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        next(changes_seen, None)  # the watcher runs before the first server: no edit is missed
        if stop.is_set():
            return 0
        child = start()
        exited_reported = False
        for changes in changes_seen:
            if changes:
                names = ", ".join(sorted({Path(p).name for _, p in changes}))
                _say(f"changed: {names}; restarting the server")
                _stop(child, shutdown_timeout)
                if stop.is_set():
                    break
                child, exited_reported = start(), False
            elif child.poll() is not None and not exited_reported:
                _say(f"the server exited with status {child.returncode}; waiting for a change")
                exited_reported = True
    finally:
        if running:
            _stop(running[0], shutdown_timeout)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0


def _stop(child: subprocess.Popen[bytes], shutdown_timeout: float) -> None:
    """SIGTERM, wait for the graceful shutdown, then SIGKILL."""
    if child.poll() is not None:
        return
    child.send_signal(signal.SIGTERM)
    try:
        child.wait(timeout=shutdown_timeout + _KILL_MARGIN)
    except subprocess.TimeoutExpired:
        _say(f"the server did not stop within {shutdown_timeout + _KILL_MARGIN:g} s: killing it")
        child.kill()
        child.wait()


def _say(text: str) -> None:
    print(f"roost --reload: {text}", file=sys.stderr, flush=True)
