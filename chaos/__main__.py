"""``python3 -m chaos`` (what ``python3 dev.py chaos`` runs): a chaos run, or a saved
history checked again.

    python3 -m chaos [--seconds 60] [--seed N] [--nodes 3] [--durable] [--keep] [--commit REV]
    python3 -m chaos check [--durable] RUN_DIR/history.jsonl
    python3 -m chaos plan --seed N [--seconds 60] [--nodes 3]   # the fault schedule only

Exit status: 0 without violations, 1 with any, 2 for bad usage or a run that could not start.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from pathlib import Path

import attrs
import psycopg
import trio

from .checker import check
from .cluster import NodeFailed
from .history import Fault, History, Op
from .run import Options, run
from .schedule import plan
from .source import SourceError
from .stats import figures


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python3 -m chaos", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="chaos phase length")
    parser.add_argument("--seed", type=int, default=None, help="the fault schedule's seed")
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--lease-ttl", type=float, default=3.0)
    parser.add_argument("--sync-interval", type=float, default=0.2)
    parser.add_argument(
        "--margin", type=float, default=0.5, help="slack of the loss bound, in seconds"
    )
    parser.add_argument(
        "--durable",
        action="store_true",
        help="nodes with --durable; check that nothing acknowledged is ever lost",
    )
    parser.add_argument(
        "--pg",
        default=os.environ.get("ROOST_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"),
        help="the PostgreSQL server (a fresh schema is made per run)",
    )
    parser.add_argument(
        "--commit", default=None, help="run the nodes from this git revision, not the tree"
    )
    parser.add_argument(
        "--slow", type=float, default=0.04, help="share of increments whose turn awaits 1-4 s"
    )
    parser.add_argument("--workdir", type=Path, default=None, help="keep the run's files here")
    parser.add_argument("--keep", action="store_true", help="keep the schema and the files")
    return parser


def main(argv: list[str]) -> int:
    if argv[:1] == ["check"]:
        return _check(argv[1:])
    if argv[:1] == ["plan"]:
        args = _parser().parse_args(argv[1:])
        for planned in plan(args.seed or 0, args.seconds, args.nodes, args.lease_ttl):
            print(f"{planned.at:7.2f} s  {planned.kind:<11} node {planned.node}  "
                  f"{planned.duration:.2f} s")  # fmt: skip
        return 0
    args = _parser().parse_args(argv)
    if args.nodes < 1 or args.seconds <= 0 or not 0 <= args.slow <= 1:
        print("chaos: --nodes must be >= 1, --seconds > 0, --slow in [0, 1]", file=sys.stderr)
        return 2
    seed = args.seed if args.seed is not None else random.randrange(1, 1 << 31)
    options = Options(
        seed=seed, seconds=args.seconds, nodes=args.nodes, lease_ttl=args.lease_ttl,
        sync_interval=args.sync_interval, margin=args.margin, durable=args.durable,
        pg_url=args.pg, workdir=args.workdir, keep=args.keep, commit=args.commit, slow=args.slow,
    )  # fmt: skip
    try:
        outcome = trio.run(run, options)
    except (SourceError, NodeFailed, psycopg.OperationalError, ExceptionGroup) as exc:
        cause: BaseException = exc
        if isinstance(exc, ExceptionGroup):
            matched, rest = exc.split((SourceError, NodeFailed, psycopg.OperationalError))
            if rest is not None or matched is None:
                raise
            cause = matched.exceptions[0]
        print(f"chaos: the run could not start: {cause}", file=sys.stderr)
        return 2
    for line in outcome.figures:
        print(line)
    for violation in outcome.violations:
        print(violation)
    if outcome.violations:
        replay = f"dev.py chaos --seed {seed} --seconds {args.seconds:g} --nodes {args.nodes}"
        print(f"chaos: seed {seed}; replay: {replay}; files in {outcome.workdir}")
    print(outcome.summary())
    return 1 if outcome.violations else 0


def _check(argv: list[str]) -> int:
    durable = "--durable" in argv
    paths = [arg for arg in argv if arg != "--durable"]
    if len(paths) != 1:
        print("usage: python3 -m chaos check [--durable] HISTORY.jsonl", file=sys.stderr)
        return 2
    history = History.load(Path(paths[0]))
    if durable:  # judge a default-mode history by the durable rule
        meta = attrs.evolve(history.meta, durable=True)
        history.records[history.records.index(history.meta)] = meta
    violations = check(history)
    for line in figures(history).lines():
        print(line)
    for violation in violations:
        print(violation)
    ops = sum(1 for _ in history.of(Op))
    faults = sum(1 for _ in history.of(Fault))
    print(f"{ops} ops, {faults} faults, {sum(1 + v.more for v in violations)} violations")
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
