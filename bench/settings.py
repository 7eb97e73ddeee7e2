"""Run-wide settings shared by every scenario."""

from pathlib import Path

import attrs


@attrs.frozen
class Settings:
    """How long and how hard to run, and where to put logs.

    Attributes:
        quick: shorter phases (the relay scenarios fit in three minutes).
        warmup: seconds of load before measuring (connections, JITs and caches settle).
        duration: seconds of measurement per scenario and server.
        window: messages in flight per room for saturation runs, or None for each
            scenario's default.
        workdir: temporary directory for server logs and data directories.
        generator: path of the compiled load generator.
    """

    quick: bool
    warmup: float
    duration: float
    window: int | None
    workdir: Path
    generator: Path
