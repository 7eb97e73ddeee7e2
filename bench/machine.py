"""Describe the machine and software a run used, for the record in BENCHMARKS.md."""

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

from bench.servers import REPO


def describe() -> list[str]:
    """Lines such as 'cores: 2', 'cpu: AMD EPYC', each a fact about this run's machine."""
    return [
        f"cores (nproc): {os.cpu_count()}",
        f"cpu: {_cpu_model()}",
        f"kernel: {platform.release()}",
        f"load average before the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"Python: {sys.version.split()[0]} ({sys.executable})",
        f"Node: {_output(['node', '--version']) if shutil.which('node') else 'not installed'}",
        f"roost commit: {_commit()}",
    ]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _commit() -> str:
    head = _output(["git", "rev-parse", "--short", "HEAD"])
    dirty = _output(["git", "status", "--porcelain", "--untracked-files=no"])
    return f"{head}{' (with uncommitted changes)' if dirty else ''}"


def _output(argv: list[str]) -> str:
    try:
        return subprocess.run(
            argv, capture_output=True, text=True, cwd=REPO, timeout=10, check=False
        ).stdout.strip()
    except OSError:
        return "?"


def filesystem(path: Path) -> str:
    """The file system type holding ``path`` (ext4, tmpfs, ...), from /proc/mounts."""
    best, kind = "", "?"
    target = str(path.resolve())
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return kind
    for line in mounts:
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1]
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) > len(best):
            best, kind = point, fields[2]
    return kind


def tmpfs_root() -> Path | None:
    """/dev/shm when it is a writable tmpfs (for data directories in memory), else None."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK) and filesystem(shm) == "tmpfs":
        return shm
    return None
