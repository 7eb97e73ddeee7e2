"""The sub-commands ``roost sql``, ``roost actors`` and ``roost nodes``, and how their rows are
printed.

:mod:`roost.cli` parses the arguments and calls these; the work is in :mod:`roost._tools`,
:mod:`roost._import_actor` and :mod:`roost._cluster_tools`. Rows go to stdout as an aligned
table, CSV or JSON lines; messages for people go to stderr.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import decimal
import json
import math
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, TypeVar

from roost import _cluster_tools, _delete_actor, _import_actor, _store_files, _tools
from roost._errors import ConfigError

__all__ = [
    "actors_delete",
    "actors_export",
    "actors_import",
    "actors_list",
    "actors_restore",
    "nodes",
    "sql",
]

T = TypeVar("T")


# -- roost sql / roost actors -------------------------------------------------------------------


def sql(args: argparse.Namespace) -> int:
    data_dir, store = _tools.resolve_locations(args.data_dir, args.store)
    if args.actor is not None:
        query = _tools.query_actor(data_dir, args.actor, args.statement, write=args.write)
    else:
        location = _tools.store_location(data_dir, store)
        query = _tools.query_store(location, args.statement, write=args.write)
    with query as result:
        if not result.columns:
            print(result.status, file=sys.stderr)
            return 0
        _write(args, result.columns, result.rows)
    return 0


def actors_list(args: argparse.Namespace) -> int:
    if args.store is not None:
        return _store_actors_list(args)
    data_dir, _ = _tools.resolve_locations(args.data_dir, None)
    found = _tools.list_actors(data_dir, args.type)
    for actor in found:
        if actor.error is not None:
            print(f"roost: cannot read {actor.path}: {actor.error}", file=sys.stderr)
    _write_listing(
        args,
        found,
        ("type", "key", "size_bytes", "last_active", "pending_alarms", "path"),
        lambda a: (a.actor_type, a.key, a.size, _iso(a.last_active), a.pending_alarms, str(a.path)),
        ("type", "key", "size", "last active", "alarms", "file"),
        lambda a: (
            a.actor_type,
            a.key,
            _human_size(a.size),
            _iso(a.last_active),
            a.pending_alarms,
            str(a.path.relative_to(data_dir)),
        ),
    )
    return 0


def _store_actors_list(args: argparse.Namespace) -> int:
    """``actors list --store``: the actors the shared store knows, each with owner and fence."""
    data_dir, store = _tools.resolve_locations(args.data_dir, args.store)
    found = _cluster_tools.list_owned_actors(_tools.store_location(data_dir, store), args.type)
    _write_listing(
        args,
        found,
        ("type", "key", "owner", "fence", "version", "synced_at"),
        lambda a: (a.actor_type, a.key, a.owner, a.fence, a.version, _iso_or_none(a.synced_at)),
        ("type", "key", "owner", "fence", "version", "synced"),
        lambda a: (
            a.actor_type,
            a.key,
            a.owner or "-",
            a.fence,
            a.version,
            _iso_or_none(a.synced_at) or "-",
        ),
    )
    return 0


def nodes(args: argparse.Namespace) -> int:
    """``roost nodes``: the registered nodes, live and recently dead."""
    data_dir, store = _tools.resolve_locations(args.data_dir, args.store)
    location = _tools.store_location(data_dir, store)
    dead_for = None if args.all else args.dead_for
    found = _cluster_tools.list_nodes(location, lease_ttl=args.lease_ttl, dead_for=dead_for)
    _write_listing(
        args,
        found,
        _NODE_FIELDS,
        lambda n: (
            n.node_id,
            n.address,
            n.version,
            n.protocol,
            n.cluster,
            _liveness(n),
            round(n.heartbeat_age, 3),
            n.actors,
            _iso(n.started_at),
        ),
        ("node", "address", "version", "state", "heartbeat", "actors"),
        lambda n: (
            n.node_id,
            n.address,
            n.version or "-",
            _liveness(n),
            f"{n.heartbeat_age:.1f} s ago",
            n.actors,
        ),
    )
    return 0


_NODE_FIELDS = (
    "node_id",
    "address",
    "version",
    "protocol",
    "cluster",
    "state",
    "heartbeat_age",
    "actors",
    "started_at",
)


def _liveness(node: _cluster_tools.NodeRow) -> str:
    return "live" if node.live else "dead"


def actors_export(args: argparse.Namespace) -> int:
    data_dir, _ = _tools.resolve_locations(args.data_dir, None)
    out: IO[bytes] | Path = sys.stdout.buffer
    if args.output is not None:
        out = Path(args.output)
    elif sys.stdout.isatty():
        raise ConfigError("refusing to write a database to a terminal: redirect it or use -o FILE")
    if args.store is None:
        _tools.export_actor(data_dir, args.actor, out)
        return 0
    try:  # the file as the store holds it (roost/_store_files.py)
        _store_files.export_from_store(data_dir, args.store, args.actor, out)
    except _store_files.Refused as exc:
        return _refused(exc)
    return 0


def actors_import(args: argparse.Namespace) -> int:
    data_dir, _ = _tools.resolve_locations(args.data_dir, None)
    if args.file is not None and args.input is not None:
        raise ConfigError("give the database once: as FILE or with -i FILE")
    if (args.file or args.input) is not None:
        source: IO[bytes] | Path = Path(args.file or args.input)
    elif sys.stdin.isatty():
        raise ConfigError("give the database on stdin (< FILE) or with -i FILE")
    else:
        source = sys.stdin.buffer
    if args.store is not None:
        return _store_import(args, data_dir, source)
    report = _import_actor.import_actor(data_dir, args.actor, source, force=args.force)
    verb = "replaced" if report.replaced else "created"
    print(
        f"imported {args.actor}: {verb} {report.path} "
        f"({report.pending_alarms} pending alarm(s) indexed)",
        file=sys.stderr,
    )
    return 0


def _store_import(args: argparse.Namespace, data_dir: Path, source: IO[bytes] | Path) -> int:
    """``actors import --store``: the database becomes the actor's newest image in the store."""
    if args.force:
        raise ConfigError("--force relabels a file in a data directory; not with --store")
    try:
        stored = _store_files.import_to_store(
            data_dir, args.store, args.actor, source, wait=args.wait
        )
    except _store_files.Refused as exc:
        return _refused(exc)
    print(
        f"imported {args.actor} into the store: image {stored.seq}, fence {stored.fence}; "
        "the next node to take the actor starts from it",
        file=sys.stderr,
    )
    return 0


def actors_restore(args: argparse.Namespace) -> int:
    """``actors restore --at``: exit 0 with one line; 2 (nothing changed) when refused."""
    data_dir, store = _tools.resolve_locations(args.data_dir, args.store)
    try:
        at = _store_files.parse_moment(args.at)
        stored = _store_files.restore_in_store(data_dir, store, args.actor, at, wait=args.wait)
    except (ConfigError, _store_files.Refused) as exc:
        return _refused(exc)
    print(
        f"restored {args.actor} as of {_store_files.iso_moment(at)}: image {stored.seq}, "
        f"fence {stored.fence}; the next node to take the actor starts from it"
    )
    return 0


def _refused(exc: Exception) -> int:
    """A refusal that changed nothing: one line, exit status 2."""
    print(f"roost: {exc}", file=sys.stderr)
    return 2


def actors_delete(args: argparse.Namespace) -> int:
    """Exit 0 with one line; 2 (nothing deleted) for a bad reference, an unknown actor or one
    another node holds (a running server on the data dir: ``main`` refuses with 2)."""
    try:
        data_dir, store = _tools.resolve_locations(args.data_dir, args.store)
        deleted = _delete_actor.delete_actor(data_dir, args.actor, store)
    except (ConfigError, _delete_actor.UnknownActor, _delete_actor.ActorInUse) as exc:
        print(f"roost: {exc}", file=sys.stderr)
        return 2
    parts = [
        name
        for name, done in (
            ("its file", deleted.file),
            ("its stored state", deleted.state),
            ("its lease", deleted.lease),
        )
        if done
    ]
    print(f"deleted {args.actor}: {', '.join(parts)}")
    return 0


# -- output -------------------------------------------------------------------------------------


def _write_listing(
    args: argparse.Namespace,
    found: Sequence[T],
    machine_columns: Sequence[str],
    machine_row: Callable[[T], tuple[Any, ...]],
    table_columns: Sequence[str],
    table_row: Callable[[T], tuple[Any, ...]],
) -> None:
    """Listed records as rows: raw values for ``--json``/``--csv``, for people in the table."""
    if args.json or args.csv:
        _write(args, machine_columns, (machine_row(item) for item in found))
    else:
        _write(args, table_columns, (table_row(item) for item in found))


_ESCAPES = {c: f"\\x{c:02x}" for c in (*range(32), 127)} | {10: "\\n", 13: "\\r", 9: "\\t"}


def _write(args: argparse.Namespace, columns: Sequence[str], rows: Iterator[Sequence[Any]]) -> None:
    """Rows as an aligned table (buffered), CSV or JSON lines (both streamed) on stdout."""
    out = sys.stdout
    if args.json:
        names = _unique(columns)
        for row in rows:
            record = {name: _json_value(value) for name, value in zip(names, row, strict=True)}
            out.write(json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n")
    elif args.csv:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if v is None else _text(v) for v in row])
    else:
        _write_table(out, columns, list(rows))
    out.flush()


def _write_table(out: IO[str], columns: Sequence[str], rows: list[Sequence[Any]]) -> None:
    header = [_text(c).translate(_ESCAPES) for c in columns]
    cells = [["" if v is None else _text(v).translate(_ESCAPES) for v in row] for row in rows]
    numeric = [all(r[i] is None or _is_number(r[i]) for r in rows) for i in range(len(header))]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(header)]
    names = " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    out.write(" " + names.rstrip() + "\n")
    out.write("-" + "-+-".join("-" * w for w in widths) + "-\n")
    for row in cells:
        aligned = (
            c.rjust(w) if n else c.ljust(w) for c, w, n in zip(row, widths, numeric, strict=True)
        )
        out.write(" " + " | ".join(aligned).rstrip() + "\n")
    out.write(f"({len(rows)} row{'' if len(rows) == 1 else 's'})\n")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | decimal.Decimal) and not isinstance(value, bool)


def _text(value: Any) -> str:
    """One value as text: JSON for structures, ISO-8601 for times, \\x-hex for bytes."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    if isinstance(value, dict | list):
        return json.dumps(_json_value(value), ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    return str(value)


def _json_value(value: Any) -> Any:
    """A value as JSON can carry it (PostgreSQL types included)."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            return str(value)
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return _text(value)


def _unique(columns: Sequence[str]) -> list[str]:
    """Column names as JSON keys: a repeated name gets _2, _3, ..."""
    seen: dict[str, int] = {}
    names = []
    for column in columns:
        seen[column] = seen.get(column, 0) + 1
        names.append(column if seen[column] == 1 else f"{column}_{seen[column]}")
    return names


def _iso(unix: float) -> str:
    return datetime.datetime.fromtimestamp(unix, datetime.UTC).isoformat(timespec="seconds")


def _iso_or_none(unix: float | None) -> str | None:
    return None if unix is None else _iso(unix)


def _human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
