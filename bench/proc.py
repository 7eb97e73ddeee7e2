"""Read CPU time and resident memory of processes from /proc.

CPU is utime+stime of a process and its descendants, so a server that forks workers is
measured whole; the harness takes deltas around each measurement window.
"""

import os
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """Return ``pid`` and all its live descendants."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in _listdir(Path(f"/proc/{current}/task")):
            try:
                children = Path(f"/proc/{current}/task/{task}/children").read_text()
            except OSError:
                continue
            todo.extend(int(child) for child in children.split())
    return found


def cpu_seconds(pids: list[int]) -> float:
    """Sum user and system CPU seconds of ``pids`` (all their threads); gone pids count 0."""
    user, system = cpu_split(pids)
    return user + system


def cpu_split(pids: list[int]) -> tuple[float, float]:
    """User and system (kernel) CPU seconds of ``pids``, summed apart."""
    user = system = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        user += int(fields[11])  # utime (field 14)
        system += int(fields[12])  # stime (field 15)
    return user / CLOCK_TICKS, system / CLOCK_TICKS


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent not idle since boot (user, system, interrupts, steal).

    Minus the server's and the generator's share this is what else ran during a
    measurement: the kernel's loopback network work and, on a shared machine, other jobs.
    """
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def softirq_seconds() -> float:
    """CPU seconds all cores spent in soft interrupts since boot: on this machine mostly the
    loopback network's receive work, which belongs to no process (part of "other")."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    return int(fields[6]) / CLOCK_TICKS


def rss_kib(pids: list[int]) -> int:
    """Sum VmRSS of ``pids`` in KiB."""
    total = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
                break
    return total


def _listdir(path: Path) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []
