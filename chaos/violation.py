"""A rule the history broke."""

from __future__ import annotations

import attrs


@attrs.frozen
class Violation:
    """One broken rule: its kind (see :mod:`chaos.checker`), the actor (or node) and what
    happened; ``more`` counts further violations a capped report folded into this one."""

    kind: str
    actor: str
    message: str
    more: int = 0

    def __str__(self) -> str:
        return f"VIOLATION {self.kind} {self.actor}: {self.message}"
