"""``roost serve --reload``: a real reloader process, real file edits, the data-dir lock held.

The app answers HTTP with a word written in its file; each edit must show in the next server's
reply. Between restarts the watching process keeps the data directory's lock, so a second
``roost serve`` on it is refused, naming the watcher.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import trio

from roost.storage import DataDirLock
from tests.e2e.test_cli import STARTED, run_roost
from tests.support import EXAMPLES

RELAY = str(EXAMPLES / "relay.py")

APP = """
from roost import Actor, App, Request, Response


class Echo(Actor):
    async def on_request(self, request: Request) -> Response:
        return Response.text({word!r})


app = App()
app.actor("echo", Echo)
"""


class Lines:
    """Lines of a process's stdout (or stderr), read as they come."""

    def __init__(self, process: trio.Process, stream: trio.abc.ReceiveStream | None = None) -> None:
        assert process.stdout is not None
        self.stream = stream or process.stdout
        self.buffer = b""

    async def next(self) -> str:
        while b"\n" not in self.buffer:
            chunk = await self.stream.receive_some(4096)
            assert chunk, f"the process closed its stdout; it had written {self.buffer!r}"
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode()

    async def port(self) -> int:
        """The port of the next server that starts (skipping its other lines)."""
        while True:
            line = await self.next()
            if line.startswith("roost listening on http://127.0.0.1:"):
                return int(line.split(":")[2].split(" ")[0])


async def get(port: int) -> str:
    def fetch() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/echo/a", timeout=10) as reply:
            return str(reply.read().decode())

    return await trio.to_thread.run_sync(fetch)


async def reloader(
    app: Path, data: Path, *, by_env: bool = False, stderr: int | None = None
) -> trio.Process:
    flags = ["--port", "0", "--data-dir", str(data), "--shutdown-timeout", "5"]
    env = {**os.environ, "ROOST_HOST": "127.0.0.1"}
    if by_env:
        env["ROOST_RELOAD"] = "yes"
    else:
        flags.append("--reload")
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "roost", "serve", str(app), *flags],
        stdout=subprocess.PIPE,
        stderr=stderr,
        env=env,
    )
    STARTED.append(process)
    return process


async def test_an_edit_restarts_the_server_and_the_data_dir_stays_locked(tmp_path: Path) -> None:
    app, data = tmp_path / "app.py", tmp_path / "data"
    app.write_text(APP.format(word="one"))
    with trio.fail_after(90):
        process = await reloader(app, data)
        lines = Lines(process)
        try:
            assert await get(await lines.port()) == "one"
            # While it runs, nobody else gets the data directory, not even between restarts.
            status, err = await run_roost("serve", RELAY, "--port", "0", "--data-dir", str(data))
            assert status == 2 and f"process {process.pid}" in err, err
            app.write_text(APP.format(word="the second word"))
            assert await get(await lines.port()) == "the second word"
            # A broken edit: that server exits, the reloader waits for the next edit.
            app.write_text("def broken(:\n")
            await trio.sleep(3)
            assert process.returncode is None
            status, err = await run_roost("serve", RELAY, "--port", "0", "--data-dir", str(data))
            assert status == 2 and f"process {process.pid}" in err, err
            app.write_text(APP.format(word="three"))
            assert await get(await lines.port()) == "three"
        finally:
            process.send_signal(signal.SIGINT)  # Ctrl-C: the reloader stops its server too
            assert await process.wait() == 0
        assert await lines.next() == "roost stopped"
    # Nothing holds the directory any more: the server went with its reloader.
    DataDirLock.acquire(data).release()


async def test_roost_reload_in_the_environment_and_sigterm_stops_both(tmp_path: Path) -> None:
    app, data = tmp_path / "app.py", tmp_path / "data"
    app.write_text(APP.format(word="one"))
    with trio.fail_after(60):
        process = await reloader(app, data, by_env=True)
        lines = Lines(process)
        port = await lines.port()
        assert await get(port) == "one"
        process.send_signal(signal.SIGTERM)
        assert await process.wait() == 0
        assert await lines.next() == "roost stopped"
    DataDirLock.acquire(data).release()
    status, err = await run_roost(
        "serve", RELAY, "--data-dir", str(data), env={"ROOST_RELOAD": "2"}
    )
    assert (
        status == 2
        and err == "roost: ROOST_RELOAD: '2' is not one of 1, true, yes, on, 0, false, no, off\n"
    )


async def test_without_watchfiles_reload_is_a_one_line_error(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text(APP.format(word="one"))
    code = (
        "import sys; sys.modules['watchfiles'] = None; from roost.cli import main; "
        f"sys.exit(main(['serve', {str(app)!r}, '--reload', '--data-dir', {str(tmp_path)!r}]))"
    )
    with trio.fail_after(30):
        result = await trio.run_process(
            [sys.executable, "-c", code], capture_stderr=True, capture_stdout=True, check=False
        )
    assert result.returncode == 2
    assert result.stderr.decode().splitlines()[-1:] == [
        "roost: --reload needs the watchfiles package: pip install 'roost[reload]'"
    ]
    assert result.stderr.count(b"\n") == 1, result.stderr


async def test_the_server_stops_when_its_watcher_is_killed(tmp_path: Path) -> None:
    """kill -9 of the watcher: its server notices within a second and shuts down gracefully,
    instead of running on as an orphan that holds the data directory."""
    app, data = tmp_path / "app.py", tmp_path / "data"
    app.write_text(APP.format(word="one"))
    with trio.fail_after(60):
        process = await reloader(app, data, stderr=subprocess.PIPE)
        assert process.stderr is not None
        lines, errors = Lines(process), Lines(process, process.stderr)
        assert await get(await lines.port()) == "one"
        while "server process" not in (line := await errors.next()):
            pass
        started = re.search(r"server process (\d+) started", line)
        assert started, line
        server = int(started.group(1))
        process.kill()
        await process.wait()
        assert await lines.next() == "roost stopped"  # its graceful shutdown's last line
        while not _gone(server):  # noqa: ASYNC110 - another process: nothing to wait on
            await trio.sleep(0.1)
    DataDirLock.acquire(data).release()  # and the data directory is free


def _gone(pid: int) -> bool:
    """The process exited (a zombie counts: its reaper is no longer us)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rpartition(")")[2].split()[0] in ("Z", "X")
