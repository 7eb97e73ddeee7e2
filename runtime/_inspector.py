"""The web inspector at ``/_roost/`` (``--inspector``): a page and the JSON API behind it.

It shows a running node from the inside: the actor types, the actors in memory (active or
hibernated) and those stored (actor files, shared-store rows), one actor's connections,
alarms, synced state and a read-only SQL console over its file, live numbers for charts, and
a cluster's nodes and leases. It only reads: nothing here changes an actor, a file or the
store (the SQL console is runtime/_inspector_sql.py).

Access (G10): off unless ``--inspector``, and never open: without ``--admin-token`` every
inspector path answers 403, on 127.0.0.1 too, because behind a reverse proxy every request
comes from a local address. With a token the page and its two assets load without it (they
are static and hold no data: :data:`~roost.runtime._exposure.PAGES`), and every
``/_roost/api/*`` call needs ``Authorization: Bearer <token>`` (checked in front by
``Exposure.runtime_refusal`` and once more here). The page takes ``?token=`` once, keeps it
in sessionStorage and removes it from the address bar; the access log drops query strings.

Every answer is ``Cache-Control: no-store``; the page gets a Content-Security-Policy that
allows only its own script and style, and it renders data with ``textContent`` only.
"""

from __future__ import annotations

import hmac
import importlib.resources
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import h11
import trio

from roost._errors import ConfigError, HandshakeError, NotFound, StoreUnavailable
from roost._version import __version__
from roost.actors import Response
from roost.storage import SharedStore, validate_actor_type

from . import _inspector_sql as sql
from ._config import ServerConfig
from ._inspector_store import actor_in_store, cluster_view, stored_page
from ._lifecycle import ActorState
from ._node import Node
from ._routing import RUNTIME_PREFIX, check_key, parse_target
from ._stats import NodeStats
from ._websocket import WebSocketSession
from ._worker import WorkerContext

#: The page and its assets: path -> (file in _inspector_page, content type).
ASSETS = {
    RUNTIME_PREFIX: ("index.html", "text/html; charset=utf-8"),
    RUNTIME_PREFIX + "inspector.js": ("inspector.js", "text/javascript; charset=utf-8"),
    RUNTIME_PREFIX + "inspector.css": ("inspector.css", "text/css; charset=utf-8"),
}
API = RUNTIME_PREFIX + "api/"
#: Rows per page of a listing, at most.
MAX_PAGE = 200
NO_TOKEN = (
    "the inspector needs an admin token: set ROOST_ADMIN_TOKEN (or --admin-token); it is "
    "never open without one, not even on 127.0.0.1"
)
_HEADERS = {"cache-control": "no-store", "x-content-type-options": "nosniff"}
_PAGE_HEADERS = {
    **_HEADERS,
    "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}

Query = dict[str, str]


class Inspected(Protocol):
    """What the inspector reads of its server (runtime/_server.Server has all of it)."""

    @property
    def config(self) -> ServerConfig: ...

    @property
    def stats(self) -> NodeStats: ...

    @property
    def sessions(self) -> set[WebSocketSession]: ...

    @property
    def worker(self) -> WorkerContext | None: ...

    @property
    def node(self) -> Node: ...


class Inspector:
    """Answers ``/_roost/`` (the page) and ``/_roost/api/*`` for one node."""

    def __init__(self, server: Inspected) -> None:
        self.server = server
        config = server.config
        self._token = config.admin_token.encode() if config.admin_token else None
        # File reads and SQL run in threads: two at a time, so the console cannot take them all.
        self._limiter = trio.CapacityLimiter(2)
        self._routes: dict[str, Callable[[Query], Awaitable[Any]]] = {
            "overview": self._overview,
            "live": self._live,
            "stored": self._stored,
            "actor": self._actor,
            "sql": self._sql,
            "stats": self._stats,
            "cluster": self._cluster,
        }

    @staticmethod
    def handles(path: str) -> bool:
        """Whether ``path`` is the inspector's (its page, its assets or its API)."""
        return path in ASSETS or path.startswith(API)

    async def respond(self, request: h11.Request, path: str) -> Response:
        """Answer one inspector request (GET or HEAD, checked by the caller)."""
        api = path.startswith(API)
        if self._token is None:
            if api:
                return Response.json({"error": NO_TOKEN}, status=403, headers=_HEADERS)
            return Response.text(NO_TOKEN + "\n", status=403, headers=_HEADERS)
        if not api:
            name, content_type = ASSETS[path]
            body = importlib.resources.files(__package__).joinpath("_inspector_page", name)
            return Response(
                body=body.read_bytes(),
                content_type=content_type,
                headers=tuple(_PAGE_HEADERS.items()),
            )
        if not self._authorized(request):  # Exposure checked it already: a second lock
            return Response.json({"error": "admin token required"}, status=401, headers=_HEADERS)
        route = self._routes.get(path[len(API) :])
        try:
            if route is None:
                raise NotFound("no such inspector call")
            result = await route(parse_target(request.target).query)
        except HandshakeError as exc:
            return _error(exc.status, exc.reason)
        except (ConfigError, ValueError, TypeError) as exc:  # a bad type name, page or cursor
            return _error(400, str(exc))
        except StoreUnavailable:
            return _error(503, "the shared store does not answer")
        return Response.json(result, headers=_HEADERS)

    def _authorized(self, request: h11.Request) -> bool:
        assert self._token is not None
        value = next((v for k, v in request.headers if k == b"authorization"), b"")
        scheme, _, credentials = value.partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(credentials.strip(), self._token)

    # -- the API -------------------------------------------------------------------------------

    async def _overview(self, query: Query) -> dict[str, Any]:
        """The node and its actor types, with what each holds now."""
        server, node = self.server, self.server.node
        counts: dict[str, list[int]] = {t.name: [0, 0, 0] for t in node.registry.app}
        for slot in node.registry.slots.values():
            row = counts.get(slot.actor_type)
            if row is not None:
                row[0] += slot.state is ActorState.ACTIVE
                row[1] += slot.state is ActorState.HIBERNATED
                row[2] += len(slot.sessions)
        types = [
            {"type": name, "active": a, "hibernated": h, "connections": c}
            for name, (a, h, c) in counts.items()
        ]
        config = server.config
        return {
            "node_id": node.node_id,
            "worker": None if server.worker is None else server.worker.index,
            "version": __version__,
            "cluster": node.cluster is not None,
            "store": _store_kind(config.store),
            "sync_interval": config.sync_interval,
            "types": types,
        }

    async def _live(self, query: Query) -> dict[str, Any]:
        """Actors in memory or hibernated, of one type or all, whose key contains ``q``."""
        actor_type = query.get("type") or None
        needle = query.get("q", "").casefold()
        limit = _limit(query)
        rows = []
        total = 0
        for slot in self.server.node.registry.slots.values():
            if actor_type is not None and slot.actor_type != actor_type:
                continue
            if slot.state is ActorState.STOPPED and not slot.sessions:
                continue
            if needle and needle not in slot.key.casefold():
                continue
            total += 1
            rows.append(slot)
        rows.sort(key=lambda s: (s.actor_type, s.key))
        now = trio.current_time()
        return {
            "total": total,
            "actors": [
                {
                    "type": s.actor_type,
                    "key": s.key,
                    "state": s.state.value,
                    "connections": len(s.sessions),
                    "idle": round(now - s.last_active, 3),
                }
                for s in rows[:limit]
            ],
        }

    async def _stored(self, query: Query) -> dict[str, Any]:
        """One page of stored actors: actor files (``source=files``) or store rows."""
        actor_type = query.get("type") or None
        needle = query.get("q", "")
        limit = _limit(query)
        if query.get("source", "files") == "files":
            if actor_type is None:
                raise ConfigError("choose an actor type to list its files")
            validate_actor_type(actor_type)
            data_dir = self.server.config.data_dir
            found, after = await self._thread(
                lambda: sql.stored_files(
                    data_dir, actor_type, search=needle, after=query.get("after", ""), limit=limit
                )
            )
            return {"actors": found, "next": after}
        cursor = _cursor(query, self.server.config.max_key_bytes)
        if actor_type is not None:
            validate_actor_type(actor_type)
        store = await self._store()
        if store is None:
            return {"actors": [], "next": None}
        return await stored_page(store, actor_type, search=needle, limit=limit, after=cursor)

    async def _actor(self, query: Query) -> dict[str, Any]:
        """One actor: its connections, alarms, file, synced state and owner."""
        actor_type, key = self._ident(query)
        node = self.server.node
        registry = node.registry
        slot = registry.slots.get((actor_type, key))
        now = trio.current_time()
        connections = []
        if slot is not None:
            for conn, session in list(slot.sessions.items()):
                connections.append(
                    {
                        "id": conn.id,
                        "client": _address(conn.client),
                        "identity": _plain(conn.identity),
                        "subprotocol": conn.subprotocol,
                        "tags": sorted(conn.tags),
                        "state": session.state.name.lower(),
                        "queued_bytes": session.peer.queued_bytes,
                    }
                )
        path = registry.db_path(actor_type, key)
        file: dict[str, Any] | None = None
        alarms: list[dict[str, Any]] = []
        if path.is_file():
            stat = path.stat()
            file = {"size": stat.st_size, "modified": stat.st_mtime}
            alarms = await self._thread(lambda: sql.read_alarms(path))
        answer: dict[str, Any] = {
            "type": actor_type,
            "key": key,
            "state": "stopped" if slot is None else slot.state.value,
            "idle": None if slot is None else round(now - slot.last_active, 3),
            "connections": connections,
            "alarms": alarms,
            "file": file,
            "fence": registry.lease_fence(actor_type, key),
            "synced": None,
            "owner": None,
        }
        store = await self._store()
        if store is not None:
            try:
                clustered = node.cluster is not None
                answer.update(await actor_in_store(store, actor_type, key, clustered=clustered))
            except StoreUnavailable:
                answer["store_error"] = "the shared store does not answer"
        return answer

    async def _sql(self, query: Query) -> dict[str, Any]:
        """One read-only statement over one actor's file (``q``)."""
        actor_type, key = self._ident(query)
        path = self.server.node.registry.db_path(actor_type, key)
        statement = query.get("sql", "")
        result: dict[str, Any] = await self._thread(lambda: sql.query(path, statement))
        return result

    async def _stats(self, query: Query) -> dict[str, Any]:
        """The numbers the page charts, read now (it polls every second and takes rates)."""
        server, node = self.server, self.server.node
        stats, turns = server.stats, server.stats.turn_seconds
        active, hibernated = node.registry.counts()
        return {
            "time": time.time(),
            "messages_received": stats.messages_received_total,
            "messages_sent": stats.messages_sent_total,
            "connections": len(server.sessions),
            "actors_active": active,
            "actors_hibernated": hibernated,
            "turns": {
                "count": turns.count,
                "sum": turns.total,
                "buckets": list(turns.buckets),
                "counts": list(turns.counts),
            },
            "sync_lag": node.sync.lag(),
            "sync_pending": node.sync.pending,
            "store_up": node.sync.store_ready,
        }

    async def _cluster(self, query: Query) -> dict[str, Any]:
        """The nodes in the store and one page of its leases: who owns what."""
        node = self.server.node
        limit, after = _limit(query), _cursor(query, self.server.config.max_key_bytes)
        actor_type = query.get("type") or None
        if node.cluster is None:
            return {"cluster": False, "node_id": node.node_id, "nodes": [], "leases": []}
        store = await node.sync.store()
        return await cluster_view(store, node.node_id, actor_type, limit=limit, after=after)

    # -- helpers -------------------------------------------------------------------------------

    def _ident(self, query: Query) -> tuple[str, str]:
        """The actor a call names (``type``, ``key``), checked like a request's (G9)."""
        actor_type, key = query.get("type", ""), query.get("key", "")
        validate_actor_type(actor_type)
        check_key(key, max_key_bytes=self.server.config.max_key_bytes)
        return actor_type, key

    async def _store(self) -> SharedStore | None:
        """The shared store, when this node has one to read: never created for a look."""
        config, node = self.server.config, self.server.node
        if node.cluster is None and config.store is None:
            if not (config.data_dir / "shared.sqlite").exists():
                return None
        return await node.sync.store()

    async def _thread(self, work: Callable[[], Any]) -> Any:
        return await trio.to_thread.run_sync(work, limiter=self._limiter)


def _error(status: int, message: str) -> Response:
    return Response.json({"error": message}, status=status, headers=_HEADERS)


def _limit(query: Query) -> int:
    raw = query.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise ValueError(f"limit must be 1 to {MAX_PAGE}")
    return int(raw)


def _cursor(query: Query, max_key_bytes: int) -> tuple[str, str] | None:
    """The ``after_type``/``after_key`` of the previous page, or None for the first."""
    if "after_type" not in query and "after_key" not in query:
        return None
    actor_type, key = query.get("after_type", ""), query.get("after_key", "")
    validate_actor_type(actor_type)
    check_key(key, max_key_bytes=max_key_bytes)
    return (actor_type, key)


def _address(client: tuple[str, int] | None) -> str | None:
    if client is None:
        return None
    host, port = client
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _plain(value: Any) -> Any:
    """An identity as JSON can show it: itself when it serialises small, else its repr."""
    if value is None:
        return None
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    else:
        if len(text) <= 500:
            return value
    return sql.cell(text, 500)


def _store_kind(store: str | None) -> str:
    """What the shared store is, never its URL (which may hold a password)."""
    if store is None:
        return "SQLite (embedded)"
    return "PostgreSQL" if store.startswith("postgres") or "=" in store else "SQLite"
