"""Server settings: one frozen record, validated once, passed down explicitly.

Every limit is a keyword with a safe default; the memory each one bounds is written beside it,
so an operator can work out what a node may use.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs

from roost._errors import ConfigError


def _positive(_: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if value <= 0:
        raise ConfigError(f"{attribute.name} must be positive, got {value!r}")


def _string_tuple(value: str | Iterable[str]) -> tuple[str, ...]:
    """A list setting from a comma-separated string (the environment) or any iterable."""
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(item.strip() for item in items if item.strip())


@attrs.frozen(kw_only=True)
class ServerConfig:
    """How one roost node listens, what it keeps where, and the limits it enforces."""

    host: str = "127.0.0.1"
    port: int = 8787
    data_dir: Path = attrs.field(default=Path("roost-data"), converter=Path)
    # The shared store: None for SQLite at <data-dir>/shared.sqlite, or a postgresql:// URL.
    store: str | None = None
    # Every dirty actor's snapshot reaches the shared store within this many seconds (plus
    # the store's latency) while the store is reachable.
    sync_interval: float = attrs.field(default=1.0, validator=_positive)
    # Snapshots per shared-store transaction; one snapshot per dirty actor waits in memory.
    sync_batch_size: int = attrs.field(default=1000, validator=_positive)

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
    max_group_turns: int = attrs.field(default=64, validator=attrs.validators.ge(0))
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
    max_connections_per_ip: int = attrs.field(default=0, validator=attrs.validators.ge(0))
    # Inbound messages per second per connection; excess closes with 1008. 0 = off (default).
    max_messages_per_second: float = attrs.field(default=0.0, validator=attrs.validators.ge(0))
    # Browser origins allowed besides the server's own ("*" allows every origin). A request
    # without Origin (not a browser) is always allowed; any other Origin gets 403.
    allow_origins: tuple[str, ...] = attrs.field(default=(), converter=_string_tuple)
    # Peers whose X-Forwarded-For / Forwarded / X-Forwarded-Host headers are believed
    # (addresses or CIDR networks; "*" trusts every peer). Everyone else's are ignored.
    forwarded_allow_ips: tuple[str, ...] = attrs.field(
        default=("127.0.0.1",), converter=_string_tuple
    )
    # The runtime endpoints (/_roost/metrics, health, ready, the inspector): on a separate
    # listener when admin_port is set, and behind a bearer token when admin_token is set.
    admin_host: str | None = None
    admin_port: int | None = None
    admin_token: str | None = attrs.field(default=None, repr=False)

    @synchronous.validator
    def _check_synchronous(self, _: Any, value: str) -> None:
        if value not in ("NORMAL", "FULL"):
            raise ConfigError(f"synchronous must be NORMAL or FULL, got {value!r}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> ServerConfig:
        """Read ``ROOST_<FIELD>`` variables (for example ``ROOST_PORT``), then apply overrides.

        Overrides whose value is None are ignored, so CLI flags that were not given fall back
        to the environment and then to the defaults.
        """
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in attrs.fields(cls):
            raw = environ.get(f"ROOST_{field.name.upper()}")
            if raw is None:
                continue
            kind = (
                field.type if isinstance(field.type, str) else getattr(field.type, "__name__", "")
            )
            try:
                if kind == "int":
                    values[field.name] = int(raw)
                elif kind == "float":
                    values[field.name] = float(raw)
                else:
                    values[field.name] = raw
            except ValueError:
                raise ConfigError(f"ROOST_{field.name.upper()}={raw!r} is not a {kind}") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
