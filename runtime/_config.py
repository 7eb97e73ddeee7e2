"""Server settings: one frozen record, validated once, passed down explicitly.

Every limit is a keyword with a safe default; the memory each one bounds is written beside it,
so an operator can work out what a node may use.

Long because: every setting of a node is here once (its field, validator, help line and
default text), and the one table the CLI, the environment and the docs are generated from
reads them all; split, a setting would be declared in two places.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs

from roost._errors import ConfigError

from ._forwarded import TrustedProxies
from ._origin import OriginPolicy


def _positive(_: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if value <= 0:
        raise ConfigError(f"{attribute.name} must be positive, got {value!r}")


def _non_negative(_: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if value < 0:
        raise ConfigError(f"{attribute.name} must be 0 or more, got {value!r}")


def _port(_: Any, attribute: attrs.Attribute[Any], value: int | None) -> None:
    if value is not None and not 0 <= value <= 65535:
        raise ConfigError(f"{attribute.name} must be 0-65535, got {value!r}")


def _origins(_: Any, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    OriginPolicy.parse(value)  # ConfigError naming the entry that is not an origin


def _proxies(_: Any, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    TrustedProxies.parse(value)  # ConfigError naming the entry that is not an address


def _workers(_: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    if value == "auto":
        return
    try:
        count = int(value)
    except ValueError:
        raise ConfigError(f"workers must be a number or 'auto', got {value!r}") from None
    if not 1 <= count <= 256:
        raise ConfigError(f"workers must be between 1 and 256, got {value!r}")


def _address(_: Any, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is None:
        return
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) <= 65535:
        raise ConfigError(f"{attribute.name} must be HOST:PORT, got {value!r}")
    if host.strip("[]") in ("0.0.0.0", "::"):
        raise ConfigError(f"{attribute.name} must be an address others can reach, not {host}")


def _lease_ttl(_: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if not 1.0 <= value <= 3600:
        raise ConfigError(f"lease_ttl must be between 1 and 3600 seconds, got {value!r}")


def _optional_path(value: str | Path | None) -> Path | None:
    return None if value is None else Path(value)


def _string_tuple(value: str | Iterable[str]) -> tuple[str, ...]:
    """A list setting from a comma-separated string (the environment) or any iterable."""
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(item.strip() for item in items if item.strip())


@attrs.frozen(kw_only=True)
class ServerConfig:
    """How one roost node listens, what it keeps where, and the limits it enforces."""

    host: str = "127.0.0.1"
    port: int = attrs.field(default=8787, validator=_port)
    data_dir: Path = attrs.field(default=Path("roost-data"), converter=Path)
    # The shared store: None for SQLite at <data-dir>/shared.sqlite, or a postgresql:// URL.
    store: str | None = None
    # Every dirty actor's snapshot reaches the shared store within this many seconds (plus
    # the store's latency) while the store is reachable.
    sync_interval: float = attrs.field(default=1.0, validator=_positive)
    # Snapshots per shared-store transaction; one snapshot per dirty actor waits in memory.
    sync_batch_size: int = attrs.field(default=1000, validator=_positive)
    # Days after which the sync worker deletes a stored state nobody updated (no lease held,
    # no pending alarm in the store), once an hour in batches; 0 keeps every row.
    store_retention: float = attrs.field(default=0.0, validator=_non_negative)

    # One inbound WebSocket message or HTTP body, after reassembly: bounds the receive buffer
    # of each connection (a frame declaring more is refused before its payload is read: 1009).
    max_message_size: int = attrs.field(default=1 << 20, validator=_positive)
    # Bytes queued for one connection that the peer has not read yet. A connection over it is
    # a slow consumer and is cut with 1008, so one reader never holds memory or others back.
    max_outbound_bytes: int = attrs.field(default=4 << 20, validator=_positive)
    # Keys are arbitrary UTF-8 strings up to this many bytes (G9).
    max_key_bytes: int = attrs.field(default=512, validator=_positive)
    # A WebSocket peer silent this long gets a ping; one that does not answer within
    # ping_timeout is closed (1006 reported to on_close), so dead peers are found.
    ping_interval: float = attrs.field(default=20.0, validator=_positive)
    ping_timeout: float = attrs.field(default=20.0, validator=_positive)
    # After we send a close frame, how long the peer has to answer before the socket is cut.
    close_timeout: float = attrs.field(default=5.0, validator=_positive)
    # Reading an HTTP request (head and body) must finish within this time (slow-loris guard).
    request_timeout: float = attrs.field(default=10.0, validator=_positive)
    # An actor with no connection and no running turn for this long is stopped and its
    # SQLite closed; its next event activates it again.
    idle_timeout: float = attrs.field(default=30.0, validator=_positive)
    # At most this many actor instances stay in memory; past it the least recently used idle
    # ones are evicted (hibernated when they have connections).
    max_active_actors: int = attrs.field(default=10_000, validator=_positive)
    # Group commit: when more events wait for an actor, up to this many consecutive turns
    # share one COMMIT (each still rolls back alone; nothing leaves before the COMMIT).
    # 0 commits every turn on its own.
    max_group_turns: int = attrs.field(default=64, validator=_non_negative)
    # At most this many per-actor SQLite handles stay open (an LRU), so a node can host far
    # more actors than it has file descriptors.
    max_open_databases: int = attrs.field(default=256, validator=_positive)
    # Graceful shutdown waits this long for connections to finish their close handshake.
    shutdown_timeout: float = attrs.field(default=10.0, validator=_positive)
    # SQLite's synchronous pragma for actor files: NORMAL survives a crash of the process,
    # FULL also a power loss (at the price of an fsync per commit).
    synchronous: str = attrs.field(default="NORMAL")

    # -- exposing a node (G10): who may connect, from where, and how much each client may hold

    # Header lines in one request head; a request with more is answered 431.
    max_headers: int = attrs.field(default=100, validator=_positive)
    # Connections that have not finished their request head. At the limit the server stops
    # accepting until one finishes, so slow-loris sockets cannot exhaust file descriptors
    # (each costs a descriptor and at most one request head of memory).
    max_pending_handshakes: int = attrs.field(default=1024, validator=_positive)
    # WebSocket connections to one actor; an upgrade beyond it is refused with 503.
    max_connections_per_actor: int = attrs.field(default=10_000, validator=_positive)
    # WebSocket connections and in-flight HTTP requests per client address (after trusted
    # proxy resolution); beyond it 429. 0 turns the limit off (the default).
    max_connections_per_ip: int = attrs.field(default=0, validator=_non_negative)
    # Inbound messages per second per connection; excess closes with 1008. 0 = off (default).
    max_messages_per_second: float = attrs.field(default=0.0, validator=_non_negative)
    # Browser origins allowed besides the server's own ("*" allows every origin). A request
    # without Origin (not a browser) is always allowed; any other Origin gets 403.
    allow_origins: tuple[str, ...] = attrs.field(
        default=(), converter=_string_tuple, validator=_origins
    )
    # Peers whose X-Forwarded-For / Forwarded / X-Forwarded-Host headers are believed
    # (addresses or CIDR networks; "*" trusts every peer). Everyone else's are ignored.
    forwarded_allow_ips: tuple[str, ...] = attrs.field(
        default=("127.0.0.1",), converter=_string_tuple, validator=_proxies
    )
    # The runtime endpoints (/_roost/metrics, health, ready, the inspector): on a separate
    # listener when admin_port is set, and behind a bearer token when admin_token is set.
    admin_host: str | None = None
    admin_port: int | None = attrs.field(default=None, validator=_port)
    admin_token: str | None = attrs.field(default=None, repr=False)
    # The web inspector at /_roost/ (runtime/_inspector.py): off unless asked for, and then
    # always behind admin_token (403 without one, on 127.0.0.1 too).
    inspector: bool = False
    # Seconds any shared-store call may take before it fails (a client-side deadline: a hung
    # database fails that turn or sync round instead of hanging the node).
    store_timeout: float = attrs.field(default=10.0, validator=_positive)
    # One log record per answered HTTP request and per ended WebSocket session (logger
    # roost.access: path without query, status or close code, duration, bytes, client).
    access_log: bool = True

    # -- scaling out (issue 14): worker processes, and nodes over one PostgreSQL store

    # Worker processes serving this port and data dir: a number, or "auto" (the CPU count).
    # More than one makes each worker a node of the cluster below (no secret needed).
    workers: str = attrs.field(default="1", validator=_workers)
    # Joins the nodes on the same PostgreSQL store into one cluster: they authenticate their
    # links with it. Without it, a node refuses to start while another live node is registered.
    cluster_secret: str | None = attrs.field(default=None, repr=False)
    # HOST:PORT the other nodes and key-aware load balancers reach this node at (Roost-Owner).
    advertise: str | None = attrs.field(default=None, validator=_address)
    # Seconds an actor's lease lasts in the database clock; a dead node's actors are served
    # elsewhere within it (+ 2 s). The owner renews every third of it and stops serving
    # an actor before its lease could expire.
    lease_ttl: float = attrs.field(default=10.0, validator=_lease_ttl)
    # TLS for node-to-node links (certificate chain and key, PEM); without it keep the nodes on
    # a private network (docs/operations.md).
    cluster_tls_cert: Path | None = attrs.field(default=None, converter=_optional_path)
    cluster_tls_key: Path | None = attrs.field(default=None, converter=_optional_path)

    # -- durable output (issue 15)

    # Every actor's commits reach the PostgreSQL store, fenced by its lease, before its output
    # leaves (an actor class opts in alone with `durable = True`). Needs PostgreSQL.
    durable: bool = False
    # Days of commit history kept in the store for point-in-time restores of durable actors.
    log_retention: float = attrs.field(default=7.0, validator=_non_negative)

    def __attrs_post_init__(self) -> None:
        if (self.cluster_tls_cert is None) != (self.cluster_tls_key is None):
            raise ConfigError("cluster_tls_cert and cluster_tls_key go together")

    @property
    def worker_count(self) -> int:
        """How many worker processes ``workers`` asks for ("auto": the CPUs available)."""
        if self.workers == "auto":
            return max(1, len(os.sched_getaffinity(0)))
        return int(self.workers)

    @synchronous.validator
    def _check_synchronous(self, _: Any, value: str) -> None:
        if value not in ("NORMAL", "FULL"):
            raise ConfigError(f"synchronous must be NORMAL or FULL, got {value!r}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> ServerConfig:
        """Read ``ROOST_<FIELD>`` variables (for example ``ROOST_PORT``), then apply overrides.

        Overrides whose value is None are ignored, so CLI flags that were not given fall back
        to the environment and then to the defaults.

        Raises:
            ConfigError: one line naming the variable and what is wrong with its value.
        """
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for setting in SETTINGS:
            raw = environ.get(setting.env)
            if raw is not None:
                try:
                    values[setting.name] = setting.parse(raw)
                except ValueError as exc:
                    raise ConfigError(f"{setting.env}: {exc}") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


# -- the settings table: one row per field, for the environment, the CLI and the docs ---------

#: What each setting does, as ``roost serve --help`` and docs/operations.md say it. A test
#: checks that every field has a line here and that the docs list exactly these flags.
HELP: dict[str, str] = {
    "host": "address to listen on",
    "port": "port to listen on; 0 picks a free one",
    "data_dir": "directory of the actor files, node.sqlite and the embedded shared store",
    "store": "the shared store: a postgresql:// URL or an SQLite file",
    "sync_interval": "seconds within which a dirty actor reaches the shared store",
    "sync_batch_size": "snapshots per shared-store transaction",
    "store_retention": "days after which an idle actor's shared-store state is deleted (0: never)",
    "max_message_size": "bytes per inbound message or HTTP body (larger: 1009 / 413)",
    "max_outbound_bytes": "bytes queued for one peer before it is cut as a slow consumer (1008)",
    "max_key_bytes": "longest actor key, in UTF-8 bytes",
    "ping_interval": "seconds of silence before a WebSocket peer is pinged",
    "ping_timeout": "seconds a pinged peer has to answer before it is closed",
    "close_timeout": "seconds a peer has to answer our close frame",
    "request_timeout": "seconds to read one HTTP request, head and body",
    "idle_timeout": "seconds without a turn before an actor leaves memory",
    "max_active_actors": "actor instances kept in memory",
    "max_group_turns": "turns of one actor that may share a COMMIT (0: commit each turn)",
    "max_open_databases": "actor SQLite files open at once (an LRU)",
    "shutdown_timeout": "seconds a graceful shutdown waits for peers and for the final sync",
    "synchronous": "SQLite synchronous mode of actor files: NORMAL or FULL",
    "max_headers": "header lines in one request head (more: 431)",
    "max_pending_handshakes": "connections still sending their request head",
    "max_connections_per_actor": "WebSocket connections to one actor (more: 503)",
    "max_connections_per_ip": "connections and requests per client address (0: no limit)",
    "max_messages_per_second": "inbound messages per second per connection (0: no limit)",
    "allow_origins": "a browser origin allowed besides the server's own; repeatable or "
    "comma-separated; * allows all",
    "forwarded_allow_ips": "proxies whose forwarding headers are believed (addresses or CIDR, "
    "comma-separated; * trusts all)",
    "admin_host": "address of the separate admin listener",
    "admin_port": "serve /_roost/* on this port instead of the main one",
    "admin_token": "bearer token required by /_roost/* (prefer the environment variable)",
    "inspector": "serve the web inspector at /_roost/ (needs --admin-token)",
    "store_timeout": "seconds any shared-store call may take before it fails",
    "access_log": "log each HTTP request and WebSocket session to the logger roost.access",
    "workers": "worker processes on this port and data dir: a number or auto (CPU count)",
    "cluster_secret": "shared secret of the nodes of one cluster (prefer the environment variable)",
    "advertise": "HOST:PORT other nodes and load balancers reach this node at",
    "lease_ttl": "seconds an actor's lease lasts; a dead node's actors move within it",
    "cluster_tls_cert": "PEM certificate chain for TLS on node-to-node links",
    "cluster_tls_key": "PEM private key for TLS on node-to-node links",
    "durable": "every commit reaches the store before its output leaves (PostgreSQL only)",
    "log_retention": "days of commit history kept for point-in-time restores (durable)",
}

#: Defaults that are not a plain value (None standing for something), as help shows them.
DEFAULT_TEXT: dict[str, str] = {
    "data_dir": "./roost-data",
    "store": "<data-dir>/shared.sqlite",
    "admin_host": "the --host",
    "admin_port": "none: /_roost/* on the main port",
    "admin_token": "none",
    "cluster_secret": "none: a single node",
    "advertise": "the listen address",
    "cluster_tls_cert": "none: plain links on a private network",
    "cluster_tls_key": "none",
}

#: Flags that are not simply ``--`` plus the field name with dashes.
_FLAG_NAMES = {"allow_origins": "--allow-origin"}


def _parse_int(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{raw!r} is not an integer") from None


def _parse_float(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{raw!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{raw!r} is not a finite number")
    return value


def _parse_path(raw: str) -> Path:
    if not raw:
        raise ValueError("an empty path")
    return Path(raw)


def _parse_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{raw!r} is not a boolean (true or false)")


_PARSERS: dict[str, Callable[[str], Any]] = {
    "str": str,
    "int": _parse_int,
    "float": _parse_float,
    "Path": _parse_path,
    "bool": _parse_bool,
    "tuple[str, ...]": _string_tuple,
}


@attrs.frozen
class Setting:
    """One ServerConfig field as the outside world names it: a flag and a variable."""

    name: str
    flag: str
    env: str
    kind: str  # the field's annotation, for example "int | None"
    default: Any
    help: str
    repeatable: bool  # a list: the flag may repeat, each value may hold several, comma-separated
    optional: bool  # an empty value means None
    secret: bool  # never echoed: not in help's default, not in errors

    def parse(self, raw: str) -> Any:
        """The value of ``raw`` (a flag's or variable's text).

        Raises:
            ValueError: with a short reason (never the value of a secret).
        """
        if self.optional and raw == "":
            return None
        base = self.kind.removesuffix(" | None")
        try:
            return _PARSERS[base](raw)
        except ValueError:
            if self.secret:
                raise ValueError("invalid value") from None
            raise


def _settings() -> tuple[Setting, ...]:
    rows = []
    for field in attrs.fields(ServerConfig):
        kind = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", "")
        base = kind.removesuffix(" | None")
        if base not in _PARSERS:
            raise TypeError(f"ServerConfig.{field.name}: no parser for {kind!r}")
        rows.append(
            Setting(
                name=field.name,
                flag=_FLAG_NAMES.get(field.name, "--" + field.name.replace("_", "-")),
                env=f"ROOST_{field.name.upper()}",
                kind=kind,
                default=field.default,
                help=HELP.get(field.name, ""),
                repeatable=base.startswith("tuple["),
                optional=kind.endswith(" | None"),
                secret=not field.repr,
            )
        )
    return tuple(rows)


#: Every ServerConfig field, in declaration order: its flag, variable, parser and help.
SETTINGS: tuple[Setting, ...] = _settings()
