"""The 60-second chaos run (issue 15, point 4): three real nodes on PostgreSQL under kill -9,
SIGSTOP, terminated backends and cut links, with every acknowledged operation checked.

Two runs: one without durable output (acknowledged writes may be lost within the documented
bound), one with ``--durable`` (nothing acknowledged may be lost). The seeds are fixed (25
and 7) unless ``ROOST_CHAOS_SEED`` names one (``random`` for a fresh one each run), so CI
replays the same fault schedules; a failure prints the seed, and ``python3 dev.py chaos
--seed N [--durable]`` replays it (docs/chaos.md).
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
import trio

from chaos.run import Options, run


@pytest.mark.slow
@pytest.mark.parametrize(
    ("durable", "fixed_seed"), [(False, 25), (True, 7)], ids=["sync", "durable"]
)
async def test_sixty_seconds_of_chaos_break_no_rule(
    tmp_path: Path, pg_url: str, durable: bool, fixed_seed: int
) -> None:
    wanted = os.environ.get("ROOST_CHAOS_SEED") or str(fixed_seed)
    seed = random.randrange(1, 1 << 31) if wanted == "random" else int(wanted)
    lines: list[str] = []
    options = Options(seed=seed, seconds=60, pg_url=pg_url, workdir=tmp_path, durable=durable)
    with trio.fail_after(100):  # a 60-second run ends within ~70-90 s on 2 cores
        outcome = await run(options, say=lines.append)
    report = "\n".join([*lines, *map(str, outcome.violations), outcome.summary()])
    assert outcome.violations == [], f"seed {seed}; files in {tmp_path}\n{report}"
    assert outcome.faults >= 10, report
    assert outcome.ops >= 1000, report
