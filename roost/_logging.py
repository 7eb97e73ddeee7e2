"""Where ``roost serve``'s log records go and how they look: text lines or JSON lines.

``--log-format text`` (the default) writes ``time level=... logger=... message`` lines for
people and grep; ``--log-format json`` writes one JSON object per line for log shippers, with
``time`` (RFC 3339, UTC), ``level``, ``logger``, ``message``, every structured field a record
carries (``extra={"actor_type": ..., "key": ...}``, the access log's fields) as keys of its own,
and ``exc``, the formatted traceback, when there is one.

Only the standard library is imported here: the ``--workers`` supervisor (roost/_supervisor.py)
sets its logging up with this module and keeps to the standard library to stay small.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

__all__ = [
    "LOG_FORMATS",
    "LOG_FORMAT_ENV",
    "TEXT_FORMAT",
    "JsonFormatter",
    "formatter",
    "parse_log_format",
    "setup",
]

#: The values of ``--log-format``.
LOG_FORMATS = ("text", "json")
#: ``--log-format`` from the environment (the flag wins).
LOG_FORMAT_ENV = "ROOST_LOG_FORMAT"
#: The text lines' format (structured enough for grep and log shippers that split on ``=``).
TEXT_FORMAT = "%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"

# What every LogRecord has; anything else on a record came in through ``extra=``.
_STANDARD = frozenset(
    [
        *logging.LogRecord("", logging.INFO, "", 0, "", (), None).__dict__,
        "message",
        "asctime",
        "taskName",
    ]
)


def parse_log_format(raw: str) -> str:
    """``text`` or ``json`` from a flag's or a variable's text (any case, spaces around).

    Raises:
        ValueError: neither; the message lists the choices.
    """
    value = raw.strip().lower()
    if value not in LOG_FORMATS:
        raise ValueError(f"{raw!r} is not one of {', '.join(LOG_FORMATS)}")
    return value


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines inside values are escaped).

    A structured field whose value JSON cannot hold goes as its ``str``; a record that still
    cannot be encoded (a key that is not a string, say) goes with its fields as ``repr``s, so
    a log call never fails and never writes a line that is not JSON.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _rfc3339(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in record.__dict__.items():
            if name not in _STANDARD and name not in entry and not name.startswith("_"):
                entry[name] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        try:
            return json.dumps(entry, ensure_ascii=False, allow_nan=False, default=str)
        except (TypeError, ValueError):  # a dict with tuple keys, a circular value, a NaN
            return json.dumps({k: v if isinstance(v, str) else repr(v) for k, v in entry.items()})


def _rfc3339(created: float) -> str:
    """``2025-01-31T12:00:00.123Z``: UTC, milliseconds, the form log shippers parse."""
    stamp = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def formatter(log_format: str) -> logging.Formatter:
    """The formatter of ``--log-format`` ``text`` or ``json``.

    Raises:
        ValueError: another format.
    """
    if parse_log_format(log_format) == "json":
        return JsonFormatter()
    return logging.Formatter(TEXT_FORMAT)


def setup(level: str | int, log_format: str = "text", *, stream: TextIO | None = None) -> None:
    """Send the process's log records at ``level`` and above to ``stream`` (stderr).

    Like ``logging.basicConfig``, it leaves a root logger that has handlers already alone (a
    test's capture, an embedding program's own setup).

    Raises:
        ValueError: an unknown ``log_format`` or ``level``.
    """
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    handler.setFormatter(formatter(log_format))
    logging.basicConfig(level=level, handlers=[handler])
