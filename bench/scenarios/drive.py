"""Run the load generator against a freshly started server and measure both.

CPU time of the server's process tree and of the generator is sampled when the generator
enters and leaves its measurement phase, so the figures cover the same window as the
generator's delivery counts.
"""

import time
from collections.abc import Callable
from typing import Any

import attrs

from bench import proc
from bench.loadgen import Generator
from bench.servers import BenchError, Running, Server, log_tail, running
from bench.settings import Settings


@attrs.frozen
class Sample:
    """CPU seconds of the server and of the generator at one instant."""

    wall: float
    server_cpu: float
    generator_cpu: float
    machine_busy: float
    server_sys: float = 0.0  # the kernel's part of server_cpu

    @classmethod
    def take(cls, server_pid: int, generator_pid: int | None) -> "Sample":
        """Sample now; ``generator_pid`` None when no generator runs (counts 0)."""
        user, system = proc.cpu_split(proc.process_tree(server_pid))
        return cls(
            time.monotonic(),
            user + system,
            proc.cpu_seconds([generator_pid]) if generator_pid is not None else 0.0,
            proc.machine_busy_seconds(),
            system,
        )


@attrs.frozen
class Window:
    """CPU used between two samples, as seconds and as percent of one core.

    ``other`` is everything else the machine ran meanwhile: kernel network work for the
    loopback traffic and, on a shared machine, other jobs (noise).
    """

    wall: float
    server_cpu: float
    generator_cpu: float
    other_cpu: float
    server_sys: float = 0.0  # the kernel's part of server_cpu (system calls: files, sockets)

    @classmethod
    def between(cls, start: Sample, end: Sample) -> "Window":
        server = end.server_cpu - start.server_cpu
        generator = end.generator_cpu - start.generator_cpu
        busy = end.machine_busy - start.machine_busy
        return cls(
            end.wall - start.wall,
            server,
            generator,
            max(0.0, busy - server - generator),
            end.server_sys - start.server_sys,
        )

    def _pct(self, seconds: float) -> float:
        return 100 * seconds / self.wall if self.wall > 0 else 0.0

    @property
    def server_pct(self) -> float:
        return self._pct(self.server_cpu)

    @property
    def generator_pct(self) -> float:
        return self._pct(self.generator_cpu)

    @property
    def other_pct(self) -> float:
        return self._pct(self.other_cpu)

    def values(self) -> dict[str, float]:
        """The CPU columns every family's table shows."""
        return {
            "server_cpu_pct": self.server_pct,
            "generator_cpu_pct": self.generator_pct,
            "other_cpu_pct": self.other_pct,
        }


@attrs.frozen
class LoadRun:
    """The generator's final report and the CPU used during its measurement window."""

    result: dict[str, Any]
    window: Window
    marks: dict[str, Any] = attrs.field(factory=dict)


def run_load(server: Server, settings: Settings, args: list[str]) -> LoadRun:
    """Start ``server``, run the generator with ``args`` in load mode, check it, measure it.

    Raises:
        BenchError: the generator saw errors (lost, duplicated, misrouted messages, failed
            handshakes, closed connections) or exited abnormally.
    """
    args = [*args, "--warmup", str(settings.warmup), "--duration", str(settings.duration)]
    with running(server, settings.workdir) as srv:
        return run_generator(srv, settings, args)


def run_generator(
    srv: Running,
    settings: Settings,
    args: list[str],
    at_marks: Callable[[], Any] | None = None,
) -> LoadRun:
    """Run the generator with ``args`` against the running ``srv``; check it, measure it.

    CPU is sampled at the generator's "measure" and "drain" phase marks; ``at_marks``, when
    given, is called there too and what it returns is kept in ``LoadRun.marks`` by phase (a
    scenario's own figures over the same window, such as each worker's CPU).

    Raises:
        BenchError: as :func:`run_load`.
    """
    with Generator(settings.generator, srv, args, settings.workdir) as gen:
        marks: dict[str, Sample] = {}
        extra: dict[str, Any] = {}
        result: dict[str, Any] | None = None
        for event in gen.events():
            if event["event"] == "phase":
                marks[event["phase"]] = Sample.take(srv.pid, gen.pid)
                if at_marks is not None:
                    extra[event["phase"]] = at_marks()
            elif event["event"] == "result":
                result = event
        code = gen.finish()
        check(srv, gen, result, code)
    assert result is not None
    return LoadRun(result, Window.between(marks["measure"], marks["drain"]), extra)


def check(srv: Running, gen: Generator, result: dict[str, Any] | None, code: int) -> None:
    """Raise BenchError unless the generator finished cleanly with zero errors."""
    if result is not None and code == 0 and not result.get("errors"):
        return
    what = (
        f"{result['errors']} errors {result['error_kinds']}"
        if result
        else f"no result (exit code {code})"
    )
    raise BenchError(
        f"{srv.server.name} failed the relay check: {what}\n"
        f"generator: {' '.join(gen.argv)}\n{gen.diagnostics()}\n"
        f"server log ({srv.log}):\n{log_tail(srv.log)}"
    )
