"""``python -m bench``: run the scenarios against the servers, print and record the tables.

Scenarios run one after another, and within a scenario every server runs back to back, so
slow drift of a shared machine affects all servers of one comparison alike.
"""

import argparse
import resource
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from bench import loadgen, machine, report
from bench.results import Row
from bench.scenarios import Scenario, all_scenarios
from bench.servers import REPO, SERVERS, BenchError, Server
from bench.settings import Settings

QUICK = {"warmup": 0.5, "duration": 2.0}
FULL = {"warmup": 2.0, "duration": 10.0}
FD_LIMIT = 65536


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return 0 when every server relayed every message correctly."""
    args = _parser().parse_args(argv)
    scenarios = all_scenarios()
    if args.list:
        _print_registry(scenarios)
        return 0
    chosen_scenarios = _pick(args.scenarios, scenarios, "scenario")
    chosen_servers = _pick(args.servers, SERVERS, "server")
    _raise_fd_limit()
    servers, skipped = [], []
    for name in chosen_servers:
        reason = SERVERS[name].missing()
        if reason:
            skipped.append(f"{name}: {reason}")
            _say(f"skipping {name}: {reason}")
        else:
            servers.append(SERVERS[name])
    if not servers:
        _say("no server can run")
        return 2

    phases = QUICK if args.quick else FULL
    workdir = Path(tempfile.mkdtemp(prefix="roost-bench-"))
    settings = Settings(
        quick=args.quick,
        warmup=args.warmup if args.warmup is not None else phases["warmup"],
        duration=args.duration if args.duration is not None else phases["duration"],
        window=args.window,
        workdir=workdir,
        generator=loadgen.build(),
    )
    facts = machine.describe()
    started = time.monotonic()
    rows: list[Row] = []
    for scenario_name in chosen_scenarios:
        scenario = scenarios[scenario_name]
        for server in servers:
            if scenario.only is None or server.name in scenario.only:
                rows.extend(_run_one(scenario, server, settings, started))
    elapsed = time.monotonic() - started

    names = [server.name for server in servers]
    baseline = args.baseline if args.baseline in names else names[0]
    facts += [f"{server.name}: {server.describe()}" for server in servers]
    facts += [f"not run: {reason}" for reason in skipped]
    if baseline != args.baseline:
        facts.append(f"ratios are to {baseline}: {args.baseline} did not run")
    facts += [
        f"command: `python -m bench {shlex.join(sys.argv[1:] if argv is None else argv)}`",
        f"phases: warmup {settings.warmup:g} s, measurement {settings.duration:g} s per "
        f"scenario and server; whole run {elapsed:.0f} s",
    ]
    families = list(dict.fromkeys(scenarios[name].family for name in chosen_scenarios))
    tables = [
        report.render_family(
            family, [row for row in rows if scenarios[row.scenario].family == family], baseline
        )
        for family in families
    ]
    title = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {'quick' if args.quick else 'full'} run"
    text = report.render_run(title, facts, tables)
    print(text)
    if not args.no_record:
        report.append(REPO / "BENCHMARKS.md", text)
        _say("appended to BENCHMARKS.md")

    failures = [row for row in rows if row.error]
    if failures:
        _say(f"\nFAILED: {len(failures)} run(s); logs kept in {workdir}")
        for row in failures:
            _say(f"--- {row.scenario} / {row.server}\n{row.error}")
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


def _run_one(scenario: Scenario, server: Server, settings: Settings, started: float) -> list[Row]:
    _say(f"[{time.monotonic() - started:5.0f} s] {scenario.name} on {server.name} ...")
    try:
        rows = scenario.run(server, settings)
    except BenchError as error:
        _say(f"    FAILED: {error}")
        return [Row(scenario.name, server.name, error=str(error))]
    for row in rows:
        shown = ", ".join(f"{key} {value:,.1f}" for key, value in row.values.items())
        _say(f"    {row.label}: {shown} {row.note}")
    return rows


def _pick(wanted: str | None, known: Mapping[str, object], what: str) -> list[str]:
    if not wanted:
        return list(known)
    names = [name.strip() for name in wanted.split(",") if name.strip()]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise SystemExit(f"unknown {what}(s): {', '.join(unknown)}; known: {', '.join(known)}")
    return names


def _raise_fd_limit() -> None:
    """Lift the open-file limit; servers and the generator inherit it (10k connections)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for target in (max(FD_LIMIT, hard), hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, target))
            return
        except (ValueError, OSError):
            continue


def _print_registry(scenarios: dict[str, Scenario]) -> None:
    print("servers:")
    for server in SERVERS.values():
        reason = server.missing()
        status = f"  [cannot run: {reason}]" if reason else ""
        print(f"  {server.name:16} {server.describe()}{status}")
    print("scenarios:")
    for scenario in scenarios.values():
        only = f"  [{', '.join(sorted(scenario.only))} only]" if scenario.only else ""
        print(f"  {scenario.name:16} {scenario.summary}{only}")


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark roost against its peers on the room-relay workload.",
    )
    parser.add_argument("--quick", action="store_true", help="short phases")
    parser.add_argument("--servers", help="comma-separated servers (default: all)")
    parser.add_argument("--scenarios", help="comma-separated scenarios (default: all)")
    parser.add_argument("--baseline", default="roost", help="server the ratios divide by")
    parser.add_argument("--warmup", type=float, help="seconds of load before measuring")
    parser.add_argument("--duration", type=float, help="seconds of measurement")
    parser.add_argument("--window", type=int, help="messages in flight per room (saturation)")
    parser.add_argument("--no-record", action="store_true", help="do not append BENCHMARKS.md")
    parser.add_argument("--list", action="store_true", help="list servers and scenarios")
    return parser
