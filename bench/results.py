"""What a scenario measures: metric definitions and result rows.

Rows hold plain numbers; ratios to the baseline server are computed when the table is
rendered, from rows of the same run only (absolute numbers drift on a shared machine).
"""

import attrs


@attrs.frozen
class Metric:
    """One column of a scenario family's table.

    Attributes:
        key: name of the value in ``Row.values``.
        header: column title.
        digits: decimals shown.
        ratio: also show this metric's ratio to the baseline server.
    """

    key: str
    header: str
    digits: int = 0
    ratio: bool = False


CPU_METRICS = (
    Metric("server_cpu_pct", "server CPU %"),
    Metric("generator_cpu_pct", "gen CPU %"),
    Metric("other_cpu_pct", "other CPU %"),
)
CPU_LEGEND = (
    "CPU %: share of one core during the measurement (100 = one core busy) taken by the "
    "server, by the load generator, and by everything else (kernel loopback work, other jobs "
    "on this shared machine: a high figure means a noisy run)."
)


@attrs.frozen
class Row:
    """One server's figures in one scenario; ``error`` is set when the run failed.

    ``case`` names the row when a scenario yields several (idle-1k, idle-5k, ...).
    """

    scenario: str
    server: str
    values: dict[str, float] = attrs.field(factory=dict)
    note: str = ""
    error: str = ""
    case: str = ""

    @property
    def label(self) -> str:
        return self.case or self.scenario
