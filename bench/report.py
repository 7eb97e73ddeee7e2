"""Render result rows as Markdown tables and append dated runs to BENCHMARKS.md.

One table per scenario family; every metric marked ``ratio`` gets a column with the
server's value divided by the baseline server's value in the same scenario of the same run.
"""

from collections.abc import Sequence
from pathlib import Path

from bench.results import Row
from bench.scenarios import Family

HEADER = """# Benchmarks

Dated runs of `python -m bench` (bench/README.md tells how to run it), newest last. The
machine is shared and noisy, so compare servers within one run through the ratio columns
(`/roost`: the server's figure divided by roost's in the same run) rather than absolute
figures across runs.
"""


def render_family(family: Family, rows: Sequence[Row], baseline: str) -> str:
    """Return one Markdown table for ``rows`` of one scenario family."""
    headers = ["scenario", "server"]
    for metric in family.metrics:
        headers.append(metric.header)
        if metric.ratio:
            headers.append(f"/{baseline}")
    headers.append("note")
    by_label = {(row.label, row.server): row for row in rows}
    lines = [f"### {family.title}", "", _line(headers), _line(["---"] * len(headers))]
    for row in rows:
        base = by_label.get((row.label, baseline))
        cells = [row.label, row.server]
        for metric in family.metrics:
            value = row.values.get(metric.key)
            cells.append("-" if value is None else f"{value:,.{metric.digits}f}")
            if metric.ratio:
                cells.append(_ratio(value, base.values.get(metric.key) if base else None))
        cells.append(f"FAILED: {row.error.splitlines()[0]}" if row.error else row.note)
        lines.append(_line(cells))
    lines += ["", family.legend, ""]
    return "\n".join(lines)


def render_run(title: str, facts: Sequence[str], tables: Sequence[str]) -> str:
    """Return one dated run: heading, machine facts, tables."""
    return "\n".join([f"## {title}", "", *(f"- {fact}" for fact in facts), "", *tables])


def append(path: Path, run: str) -> None:
    """Append ``run`` to BENCHMARKS.md, creating it with its header the first time."""
    text = path.read_text() if path.exists() else HEADER
    path.write_text(text.rstrip("\n") + "\n\n" + run.rstrip("\n") + "\n")


def _ratio(value: float | None, base: float | None) -> str:
    if value is None or not base:
        return "-"
    return f"{value / base:.2f}"


def _line(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"
