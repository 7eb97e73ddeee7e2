"""Alarm lateness and the scheduler's cost with 100,000 alarms pending over 10,000 actors.

One server run (``roost serve bench/apps/alarms.py --idle-timeout 5``), data directory on the
machine's disk (ext4 here; the file system is named in the note), two cases in turn:
100,000 alarms due uniformly over 40 s (2,500/s) and over 10 s (10,000/s). Before them the
10,000 actors create their files (not measured: the cold scenario measures that). Per case:

1. plan: the firing window starts far enough ahead for the setting, the idle timeout and a
   few seconds of idle measurement, and lasts SPAN seconds;
2. set: the generator asks each of the 10,000 actors once (``GET /alarm/k<i>``, 64 keep-alive
   connections); each sets 10 alarms due at times drawn uniformly over the window, so
   100,000 are pending (checked: ``roost_alarms_pending``);
3. idle: once every actor has left memory (idle timeout), the server's CPU is measured
   until shortly before the window: the cost of keeping 100,000 alarms pending;
4. fire: until every alarm has fired, the server's CPU is measured again (per alarm
   fired: waking the actor, activating it when evicted, the alarm's turn). Each actor
   records ``self.now() - alarm.scheduled_at`` when ``on_alarm`` runs; the harness reads
   the percentiles from the app at the end and fails unless every alarm fired exactly once.
   fired/s: alarms over the time from the window's start until the last one fired (at
   least the window: a server that keeps up fires at the rate alarms fall due).
"""

import time
from typing import Any

from bench import machine, probe
from bench.results import Metric, Row
from bench.scenarios import Family, Scenario
from bench.scenarios.drive import Sample, Window, run_generator
from bench.servers import BenchError, Running, Server, roost_app, running
from bench.settings import Settings

ACTORS = 10_000
PER_ACTOR = 10
SPANS = (40.0, 10.0)  # seconds over which the alarms are due: 2,500/s, then 10,000/s
IDLE_TIMEOUT = "5"
CONNECTIONS = 64
EVICTIONS_PER_S = 200  # the slowest eviction rate the lead allows for
IDLE_MEASURE = 4.0  # seconds of idle measurement at least
IDLE_MARGIN = 1.0  # stop measuring the idle cost this long before the window opens
FIRE_GRACE = 60.0  # seconds after the window for the last alarms before failing

FAMILY = Family(
    name="alarms",
    title=(
        f"Alarms: {ACTORS * PER_ACTOR:,} pending over {ACTORS:,} actors, due uniformly over "
        f"{' or '.join(f'{s:g}' for s in SPANS)} s"
    ),
    legend=(
        "roost only (no peer has alarms). Server: `roost serve bench/apps/alarms.py "
        f"--idle-timeout {IDLE_TIMEOUT}`, so every actor has left memory before its alarms "
        "are due and its first alarm activates it (the note counts activations while "
        "firing); data dir on disk (the note names its file system). fired/s: alarms over "
        "the time from the window's start until the last one fired. lateness: `self.now() - "
        "alarm.scheduled_at` when on_alarm runs, over every alarm (ms); idle CPU %: server "
        "CPU while all alarms are pending and none is due (no actor in memory); server "
        "µs/alarm: server CPU from the window's start until the last alarm fired, per alarm "
        "(activation included); fire CPU %: server CPU over that time (share of one core); "
        "set µs/alarm: server CPU while the actors set their alarms, per alarm. Other CPU %: "
        "everything else the machine ran while the alarms fired (a high figure means a "
        "noisy run)."
    ),
    metrics=(
        Metric("fired", "alarms fired"),
        Metric("due_per_s", "due/s"),
        Metric("fired_per_s", "fired/s"),
        Metric("p50_ms", "p50 ms", 1),
        Metric("p99_ms", "p99 ms", 1),
        Metric("p999_ms", "p99.9 ms", 1),
        Metric("max_ms", "max ms", 1),
        Metric("idle_cpu_pct", "idle CPU %", 1),
        Metric("us_per_alarm", "server µs/alarm", 1),
        Metric("fire_cpu_pct", "fire CPU %"),
        Metric("other_cpu_pct", "other CPU %"),
        Metric("set_us_per_alarm", "set µs/alarm", 1),
    ),
)


def alarm_lateness(server: Server, settings: Settings) -> list[Row]:
    """Create the actors' files, then per case set 100,000 alarms, measure, let them fire."""
    app = roost_app("alarms", "--idle-timeout", IDLE_TIMEOUT)
    with running(app, settings.workdir) as srv:  # the workdir's disk: not tmpfs
        fs = machine.filesystem(srv.data_dir)
        probe.get(srv, "/ctl/main/prepare")
        args = ["--http", str(CONNECTIONS), "--prefix", "/alarm/", "--room-name", "k"]
        prepared = run_generator(srv, settings, [*args, "--count", str(ACTORS)])
        if prepared.result["responses_total"] != ACTORS:
            raise BenchError(f"prepared {prepared.result['responses_total']} actors")
        # Setting an existing actor's alarms costs about what creating its file did; then
        # 10,000 actors leave memory (idle timeout, then evictions: allow 200/s at least)
        # before the idle measurement.
        lead = (
            2 * prepared.window.wall
            + float(IDLE_TIMEOUT)
            + ACTORS / EVICTIONS_PER_S
            + IDLE_MEASURE
            + IDLE_MARGIN
            + 10
        )
        rows = []
        for span in SPANS:
            row, complete = _case(srv, settings, args, span, lead, fs)
            rows.append(row)
            if not complete:  # alarms still pending: the next case cannot start
                break
        return rows


def _case(
    srv: Running, settings: Settings, args: list[str], span: float, lead: float, fs: str
) -> tuple[Row, bool]:
    """One case: set 100,000 alarms due over ``span`` s, measure; whether all fired."""
    total = ACTORS * PER_ACTOR
    probe.wait_for(srv, "no alarm pending", lambda m: m["roost_alarms_pending"] == 0, 300)
    start = time.time() + lead
    probe.get(srv, f"/ctl/main/plan?start={start!r}&span={span!r}&per_actor={PER_ACTOR}")
    setting = run_generator(srv, settings, [*args, "--count", str(ACTORS)])
    if setting.result["responses_total"] != ACTORS:
        raise BenchError(f"set {setting.result['responses_total']} actors, not {ACTORS}")
    idle_end = start - IDLE_MARGIN
    budget = idle_end - time.time() - 1.0
    if budget <= 0:
        raise BenchError(
            f"setting {total:,} alarms took {setting.window.wall:.1f} s, too long for "
            f"the {lead:.0f} s lead"
        )
    pending = probe.metrics(srv)["roost_alarms_pending"]
    if pending != total:
        raise BenchError(f"roost_alarms_pending is {pending:.0f} after setting {total:,}")
    probe.wait_for(srv, "no actor in memory", lambda m: m["roost_actors_active"] == 0, budget)
    idle = _measure_until(srv, idle_end)
    if idle.wall < 2.0:
        raise BenchError(f"only {idle.wall:.1f} s left to measure the idle cost")
    before = probe.metrics(srv)

    time.sleep(max(0.0, start - time.time()))
    firing, complete = _fire(srv, total, deadline=start + span + FIRE_GRACE)
    after = probe.metrics(srv)
    report = probe.get_json(srv, "/ctl/main/report")
    if complete:
        _check(report, after, total)
    fired = report["fired"]
    # Not all fired by the deadline: the row reports the firing rate and the lateness of
    # those that did (the rest would be later still), and the next case cannot start.
    late = "" if complete else f"NOT all fired: {fired:,} of {total:,} by the deadline; "
    activations = after["roost_activations_total"] - before["roost_activations_total"]
    row = Row(
        "alarms",
        "roost",
        case=f"alarms-{total // 1000}k-{total / span:.0f}/s",
        values={
            "fired": float(fired),
            "due_per_s": total / span,
            "fired_per_s": fired / max(span, report["last"] - start),
            "p50_ms": 1000 * report["p50"],
            "p99_ms": 1000 * report["p99"],
            "p999_ms": 1000 * report["p999"],
            "max_ms": 1000 * report["max"],
            "idle_cpu_pct": idle.server_pct,
            "us_per_alarm": 1e6 * firing.server_cpu / max(1, fired),
            "fire_cpu_pct": firing.server_pct,
            "other_cpu_pct": firing.other_pct,
            "set_us_per_alarm": 1e6 * setting.window.server_cpu / total,
        },
        note=(
            f"{late}{activations:,.0f} activations while firing; idle measured "
            f"{idle.wall:.1f} s; the last fired {report['last'] - start:.1f} s after the "
            f"window opened; setting {ACTORS / setting.window.wall:,.0f} actors/s; "
            f"data dir on {fs}"
        ),
    )
    return row, complete


def _measure_until(srv: Running, until: float) -> Window:
    """Server CPU from now until unix time ``until`` (nothing else is asked of it)."""
    first = Sample.take(srv.pid, None)
    time.sleep(max(0.0, until - time.time()))
    return Window.between(first, Sample.take(srv.pid, None))


def _fire(srv: Running, total: int, *, deadline: float) -> tuple[Window, bool]:
    """Server CPU from now until ``total`` alarms have fired or ``deadline`` passed (polled
    once a second); and whether they all fired."""
    first = Sample.take(srv.pid, None)
    while True:
        fired = probe.get_json(srv, "/ctl/main/count")["fired"]
        if fired >= total or time.time() > deadline:
            return Window.between(first, Sample.take(srv.pid, None)), fired >= total
        time.sleep(1.0)


def _check(report: dict[str, Any], after: dict[str, float], total: int) -> None:
    """Every alarm fired exactly once, none failed, none is left pending."""
    problems = []
    if report["fired"] != total or report["distinct"] != total:
        problems.append(f"{report['fired']:,} firings of {report['distinct']:,} distinct alarms")
    if after["roost_alarms_pending"]:
        problems.append(f"{after['roost_alarms_pending']:.0f} still pending")
    if after["roost_alarm_failures_total"]:
        problems.append(f"{after['roost_alarm_failures_total']:.0f} failures")
    if problems:
        raise BenchError(f"expected {total:,} alarms fired once each: " + ", ".join(problems))


SCENARIOS = (
    Scenario(
        "alarms",
        FAMILY,
        f"{ACTORS * PER_ACTOR:,} alarms over {ACTORS:,} actors: lateness, idle and firing cost",
        alarm_lateness,
        only=frozenset({"roost"}),
    ),
)
