"""Memory per actor holding one idle WebSocket: while the actor is active, and hibernated.

Every connection goes to its own key (``ws://.../hold/h<i>``), so N connections are N
actors, each of which loaded a little state from its SQLite file in ``on_start``. Two server
runs open 1k, then 5k connections and read the server's RSS after each step:

* ``active``: ``--idle-timeout 600``, so every actor stays in memory (checked:
  ``roost_actors_active`` = N, none hibernated);
* ``hibernated``: ``--idle-timeout 2``; before reading RSS the harness waits until the
  ``roost_actors_hibernated`` gauge of ``/_roost/metrics`` reaches N (and none is active):
  instances and SQLite handles have left memory, the sockets stay open.

Memory per actor is the RSS growth over the RSS before the first connection, divided by N;
it includes the connection itself (compare the `idle` family: about 5 KB per connection).
RSS keeps what the allocator holds after a peak (instances and SQLite handles freed by
hibernation or by the handle pool), so it is read twice: as is, and after the app's
``/ctl/main/trim`` (``gc.collect()`` and glibc's ``malloc_trim(0)`` in the server), which
leaves what live objects hold. "added" is the trimmed growth from the previous step per
actor added: the marginal cost, without fixed costs such as the 256 pooled SQLite handles.
"""

import time
from pathlib import Path

from bench import machine, probe, proc
from bench.loadgen import Generator
from bench.results import CPU_LEGEND, CPU_METRICS, Metric, Row
from bench.scenarios import Family, Scenario
from bench.scenarios.drive import Sample, Window, check
from bench.servers import BenchError, Running, Server, roost_app, running
from bench.settings import Settings

STEPS = (1_000, 5_000)
SETTLE = 0.5  # seconds for the server to finish the work of the last connections
ACTIVE_TIMEOUT = "600"  # --idle-timeout: longer than any run, nobody hibernates
HIBERNATE_TIMEOUT = "2"  # --idle-timeout: everyone hibernates 2 s after connecting
HIBERNATE_WAIT = 60.0  # seconds to wait for the gauge before failing

FAMILY = Family(
    name="hibernate",
    title="Memory per actor with one idle WebSocket: active vs hibernated",
    legend=(
        "roost only (no peer hibernates). One actor per connection (`bench/apps/hold.py`: "
        "on_start reads a value from its SQLite file, on_connect writes it). KB/actor: growth "
        "of the server's RSS over its RSS before the first connection, per actor with its "
        "connection (KiB), as is and after `gc.collect()` + `malloc_trim(0)` in the server "
        "(trimmed: what live objects hold; added: trimmed growth over the previous step per "
        "actor added), read once every actor is active (`--idle-timeout "
        f"{ACTIVE_TIMEOUT}`) or once `roost_actors_hibernated` counts them all "
        f"(`--idle-timeout {HIBERNATE_TIMEOUT}`); connects/s: WebSocket handshakes per "
        "second in that step, each activating a new actor, 64 in flight. " + CPU_LEGEND + " "
        "CPU is measured during that step's handshakes."
    ),
    metrics=(
        Metric("kib_per_actor", "KB/actor", 1),
        Metric("trimmed_kib_per_actor", "KB/actor trimmed", 1),
        Metric("added_kib_per_actor", "added KB/actor trimmed", 1),
        Metric("connects_per_s", "connects/s"),
        *CPU_METRICS,
    ),
)


def hibernation(server: Server, settings: Settings) -> list[Row]:
    """Both runs: actors kept active, then actors hibernated."""
    data_root = machine.tmpfs_root()
    return _run(settings, hibernate=False, data_root=data_root) + _run(
        settings, hibernate=True, data_root=data_root
    )


def _run(settings: Settings, *, hibernate: bool, data_root: Path | None) -> list[Row]:
    timeout = HIBERNATE_TIMEOUT if hibernate else ACTIVE_TIMEOUT
    server = roost_app("hold", "--idle-timeout", timeout)
    mode = "hibernated" if hibernate else "active"
    rows = []
    steps = ",".join(str(n) for n in STEPS)
    args = ["--idle-steps", steps, "--room-size", "1", "--prefix", "/hold/", "--room-name", "h"]
    with running(server, settings.workdir, data_root) as srv:
        time.sleep(SETTLE)
        baseline = proc.rss_kib(proc.process_tree(srv.pid))
        trimmed_baseline = previous_trimmed = _trimmed_rss(srv)
        fs = machine.filesystem(srv.data_dir)
        with Generator(settings.generator, srv, args, settings.workdir) as gen:
            previous, start = 0, Sample.take(srv.pid, gen.pid)
            result = None
            for event in gen.events():
                if event["event"] == "connected":
                    cpu = Window.between(start, Sample.take(srv.pid, gen.pid))
                    if event["errors"] or event["open"] != event["target"]:
                        continue  # the generator stops by itself and reports its errors
                    opened = event["open"]
                    gauges = _settle(srv, opened, hibernate=hibernate)
                    rss = proc.rss_kib(proc.process_tree(srv.pid))
                    trimmed = _trimmed_rss(srv)
                    rows.append(
                        Row(
                            "hibernate",
                            "roost",
                            case=f"{mode}-{opened // 1000}k",
                            values={
                                "kib_per_actor": (rss - baseline) / opened,
                                "trimmed_kib_per_actor": (trimmed - trimmed_baseline) / opened,
                                "added_kib_per_actor": (
                                    (trimmed - previous_trimmed) / (opened - previous)
                                ),
                                "connects_per_s": (opened - previous) / event["seconds"],
                                **cpu.values(),
                            },
                            note=(
                                f"{opened:,} hold actors: "
                                f"{gauges['roost_actors_active']:,.0f} active (with /ctl), "
                                f"{gauges['roost_actors_hibernated']:,.0f} hibernated, "
                                f"--idle-timeout {timeout}, data dir on {fs}"
                            ),
                        )
                    )
                    previous, previous_trimmed = opened, trimmed
                    start = Sample.take(srv.pid, gen.pid)
                    gen.proceed()
                elif event["event"] == "result":
                    result = event
            code = gen.finish()
            check(srv, gen, result, code)
    return rows


def _settle(srv: Running, actors: int, *, hibernate: bool) -> dict[str, float]:
    """Wait until the ``actors`` actors are all active or all hibernated; return the gauges.

    The control actor (``/ctl/main``) is active too in the active run; in the hibernated
    run it stops after the idle timeout like the others (it has no connection).
    """
    wanted = (0, actors) if hibernate else (actors + 1, 0)
    if hibernate:
        probe.wait_for(
            srv,
            f"{actors} hibernated actors",
            lambda m: (m["roost_actors_active"], m["roost_actors_hibernated"]) == wanted,
            HIBERNATE_WAIT,
        )
    time.sleep(SETTLE)
    gauges = probe.metrics(srv)
    seen = (gauges["roost_actors_active"], gauges["roost_actors_hibernated"])
    if seen != wanted or gauges["roost_connections"] != actors:
        raise BenchError(
            f"expected {wanted[0]} active and {wanted[1]} hibernated actors with "
            f"{actors} connections, roost reports {seen[0]:.0f} active, {seen[1]:.0f} "
            f"hibernated, {gauges['roost_connections']:.0f} connections"
        )
    return gauges


def _trimmed_rss(srv: Running) -> int:
    """The server's RSS (KiB) after it collected garbage and trimmed its heap."""
    answer = probe.get_json(srv, "/ctl/main/trim")
    if not answer.get("trimmed") and answer.get("trimmed") is not False:
        raise BenchError(f"/ctl/main/trim answered {answer}")
    return proc.rss_kib(proc.process_tree(srv.pid))


SCENARIOS = (
    Scenario(
        "hibernate",
        FAMILY,
        "1k and 5k actors with one idle WebSocket each: active, then hibernated",
        hibernation,
        only=frozenset({"roost"}),
    ),
)
