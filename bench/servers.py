"""The servers under test: roost and its peers, each a room relay on ``/relay/<room>``.

Adding a server is one ``register(Server(...))`` call: a command line, the wire protocol the
load generator must speak, and a check that says why it cannot run here (missing package,
file not written yet). Each server prints ``listening on ws://HOST:PORT`` (roost:
``roost listening on http://HOST:PORT``) once it accepts connections; the harness waits for
that line in the server's log.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import attrs

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PEERS = BENCH / "peers"
HOST = "127.0.0.1"
READY = re.compile(r"listening on (?:ws|http)://[^\s/]+:(\d+)")
START_TIMEOUT = 30.0


class BenchError(Exception):
    """A server or the load generator misbehaved; the run must fail loudly."""


@attrs.frozen
class Launch:
    """What a server's command line may depend on."""

    host: str
    port: int
    data_dir: Path


@attrs.frozen
class Server:
    """One server under test.

    Attributes:
        name: short name used on the command line and in tables.
        protocol: what the load generator speaks: "ws" (plain WebSocket frames) or "sio"
            (engine.io v4 / socket.io v5 over the websocket transport).
        command: argv for a given launch.
        missing: returns why the server cannot run here, or None when it can.
        describe: one line for the report (implementation and versions).
    """

    name: str
    protocol: str
    command: Callable[[Launch], list[str]]
    missing: Callable[[], str | None]
    describe: Callable[[], str]


SERVERS: dict[str, Server] = {}


def register(server: Server) -> Server:
    """Add a server to the registry; the registry order is the table order."""
    SERVERS[server.name] = server
    return server


@attrs.frozen
class Running:
    """A started server: its process id, port, log file and data directory."""

    server: Server
    pid: int
    port: int
    log: Path
    data_dir: Path


@contextmanager
def running(server: Server, workdir: Path, data_root: Path | None = None) -> Iterator[Running]:
    """Start ``server`` on a free port, wait until it listens, stop it on exit.

    The server runs in its own session so the whole process group it starts can be
    stopped by its id. Its stdout and stderr go to a log file, never to a pipe that could
    fill up and stall it. Its data directory is a fresh directory under ``data_root``
    (default: ``workdir``); one outside ``workdir`` is removed on exit.
    """
    port = free_port()
    data_dir = Path(tempfile.mkdtemp(prefix=f"{server.name}-data-", dir=data_root or workdir))
    log = workdir / f"{server.name}-{port}.log"
    argv = server.command(Launch(HOST, port, data_dir))
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        _wait_ready(proc, log, port, server.name)
        yield Running(server, proc.pid, port, log, data_dir)
    finally:
        _stop(proc)
        if data_root is not None and data_root != workdir:
            shutil.rmtree(data_dir, ignore_errors=True)


def free_port() -> int:
    """Ask the kernel for a free port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def log_tail(log: Path, lines: int = 15) -> str:
    """Return the last lines of a server log, for error messages."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _wait_ready(proc: subprocess.Popen[bytes], log: Path, port: int, name: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(
                f"{name} exited with {proc.returncode} before listening:\n{log_tail(log)}"
            )
        match = READY.search(log.read_text(errors="replace"))
        if match:
            if int(match.group(1)) != port:
                raise BenchError(f"{name} listens on {match.group(1)}, asked for {port}")
            return
        time.sleep(0.02)
    raise BenchError(
        f"{name} did not print 'listening on ...:{port}' within "
        f"{START_TIMEOUT:.0f} s:\n{log_tail(log)}"
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
    _signal_group(proc.pid, signal.SIGKILL)  # anything the server left behind in its group


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


# ---- the servers -------------------------------------------------------------------------

PYTHON = sys.executable
ROOST = Path(PYTHON).parent / "roost"
NODE = shutil.which("node") or "node"


def _roost_missing() -> str | None:
    if not (REPO / "examples" / "relay.py").exists():
        return "examples/relay.py does not exist yet"
    if not ROOST.exists():
        return f"{ROOST} not found (pip install -e .)"
    probe = subprocess.run(
        [str(ROOST), "serve", "--help"], capture_output=True, cwd=REPO, timeout=30, check=False
    )
    if probe.returncode != 0:
        last = (probe.stderr.decode(errors="replace").strip().splitlines() or ["?"])[-1]
        return f"`roost serve --help` fails: {last[:200]}"
    return None


def _node_missing(package: str) -> Callable[[], str | None]:
    def missing() -> str | None:
        if not shutil.which("node"):
            return "node is not installed"
        if not (BENCH / "node_modules" / package / "package.json").exists():
            return f"bench/node_modules/{package} missing: run `npm ci` in bench/"
        return None

    return missing


def _python_missing(module: str) -> Callable[[], str | None]:
    def missing() -> str | None:
        from importlib.util import find_spec

        return None if find_spec(module) else f"Python package {module} is not installed"

    return missing


def node_version(package: str) -> str:
    """Version of an npm package installed in bench/node_modules."""
    import json

    try:
        meta = json.loads((BENCH / "node_modules" / package / "package.json").read_text())
    except OSError:
        return "?"
    return str(meta.get("version", "?"))


def python_version(dist: str) -> str:
    """Version of an installed Python distribution."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "?"


def roost_app(app: str, *flags: str) -> Server:
    """roost serving a bench app (``bench/apps/<app>.py``) with extra ``roost serve`` flags.

    For the roost-only scenarios (activations, hibernation, alarms), which need actors
    beyond the relay; the server keeps the name "roost" in tables.
    """
    path = f"bench/apps/{app}.py"
    return Server(
        name="roost",
        protocol="ws",
        command=lambda launch: [
            str(ROOST),
            "serve",
            path,
            "--host",
            launch.host,
            "--port",
            str(launch.port),
            "--data-dir",
            str(launch.data_dir),
            *flags,
        ],
        missing=_roost_missing,
        describe=lambda: f"roost {python_version('roost')} {path} {' '.join(flags)}".strip(),
    )


def relay_command(roost: str, *flags: str) -> Callable[[Launch], list[str]]:
    """``roost serve examples/relay.py`` on the launch's address, with extra ``flags``."""

    def command(launch: Launch) -> list[str]:
        return [
            roost,
            "serve",
            "examples/relay.py",
            "--host",
            launch.host,
            "--port",
            str(launch.port),
            "--data-dir",
            str(launch.data_dir),
            *flags,
        ]

    return command


register(
    Server(
        name="roost",
        protocol="ws",
        command=relay_command(str(ROOST)),
        missing=_roost_missing,
        describe=lambda: (
            f"roost {python_version('roost')} examples/relay.py (trio {python_version('trio')})"
        ),
    )
)

#: Another build of roost to compare against in the same run ("before" beside "after"): the
#: `roost` executable of a virtualenv where that build is installed, e.g. a worktree of an
#: older commit installed with `pip install --no-deps <worktree>`.
ROOST_BASE = os.environ.get("ROOST_BENCH_BASE", "")


def roost_base_missing() -> str | None:
    if not ROOST_BASE:
        return "set ROOST_BENCH_BASE to the roost executable of another build"
    if not Path(ROOST_BASE).exists():
        return f"ROOST_BENCH_BASE={ROOST_BASE} does not exist"
    return None


register(
    Server(
        name="roost-base",
        protocol="ws",
        command=relay_command(ROOST_BASE),
        missing=roost_base_missing,
        describe=lambda: f"roost from {ROOST_BASE} examples/relay.py (the build compared against)",
    )
)
register(
    Server(
        name="node-ws",
        protocol="ws",
        command=lambda launch: [NODE, str(PEERS / "node_ws.js"), launch.host, str(launch.port)],
        missing=_node_missing("ws"),
        describe=lambda: f"Node ws {node_version('ws')} + bufferutil {node_version('bufferutil')}",
    )
)
register(
    Server(
        name="websockets",
        protocol="ws",
        command=lambda launch: [
            PYTHON,
            str(PEERS / "websockets_relay.py"),
            launch.host,
            str(launch.port),
        ],
        missing=_python_missing("websockets"),
        describe=lambda: f"Python websockets {python_version('websockets')} (asyncio, broadcast())",
    )
)
register(
    Server(
        name="trio-websocket",
        protocol="ws",
        command=lambda launch: [
            PYTHON,
            str(PEERS / "trio_ws_relay.py"),
            launch.host,
            str(launch.port),
        ],
        missing=_python_missing("trio_websocket"),
        describe=lambda: (
            f"trio-websocket {python_version('trio-websocket')} (await send_message loop)"
        ),
    )
)
register(
    Server(
        name="socketio",
        protocol="sio",
        command=lambda launch: [NODE, str(PEERS / "socketio.js"), launch.host, str(launch.port)],
        missing=_node_missing("socket.io"),
        describe=lambda: f"Node socket.io {node_version('socket.io')} rooms (websocket transport)",
    )
)
