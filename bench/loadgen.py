"""Build and drive the C load generator (loadgen/wsload.c).

The generator is compiled on first use with ``cc -O2`` (and libm) into bench/.build/, named
after a hash of its source so an edited source is rebuilt. It reports progress as JSON lines; the
harness samples CPU time of the server and of the generator at the phase marks, so both
are measured over exactly the generator's measurement window.
"""

import hashlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.servers import BENCH, BenchError, Running

SOURCE = BENCH / "loadgen" / "wsload.c"
BUILD = BENCH / ".build"


def build() -> Path:
    """Compile the generator if needed and return the binary's path."""
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:12]
    binary = BUILD / f"wsload-{digest}"
    if binary.exists():
        return binary
    compiler = shutil.which("cc") or shutil.which("gcc")
    if not compiler:
        raise BenchError("no C compiler (cc) found: the load generator is built from source")
    BUILD.mkdir(exist_ok=True)
    for stale in BUILD.glob("wsload-*"):
        stale.unlink()
    tmp = binary.with_suffix(".tmp")
    result = subprocess.run(
        [compiler, "-O2", "-Wall", "-o", str(tmp), str(SOURCE), "-lm"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise BenchError(f"building {SOURCE.name} failed:\n{result.stderr}")
    tmp.rename(binary)
    return binary


class Generator:
    """One run of the generator against a running server.

    Iterate over it to receive its JSON events; ``proceed()`` answers an idle-mode step.
    """

    def __init__(self, binary: Path, server: Running, args: list[str], workdir: Path):
        argv = [str(binary), "--host", "127.0.0.1", "--port", str(server.port), *args]
        if server.server.protocol == "sio":
            argv.append("--sio")
        self.argv = argv
        self.stderr_path = workdir / f"wsload-{server.server.name}-{server.port}.err"
        self._stderr = self.stderr_path.open("w")
        self.proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stdin=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            bufsize=1,
        )
        self.pid = self.proc.pid

    def events(self) -> Iterator[dict[str, Any]]:
        """Yield the generator's events until it exits."""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            yield json.loads(line)

    def proceed(self) -> None:
        """Tell an idle-mode generator to open the next step of connections (or to stop)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()

    def finish(self) -> int:
        """Wait for the generator to exit and return its exit code."""
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            code = self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self._stderr.close()
        return code

    def diagnostics(self) -> str:
        """The generator's first error lines, for failure messages."""
        try:
            return "\n".join(self.stderr_path.read_text().splitlines()[:10])
        except OSError:
            return ""

    def __enter__(self) -> "Generator":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.finish()
