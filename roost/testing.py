"""A test kit for roost apps: a real server in-process, clients without ports, trio's clock.

::

    async def test_chat(autojump_clock):
        async with TestServer(app) as t, t.connect("/chat/lobby?user=ann") as ann:
            assert await ann.receive_json() == {"type": "history", "messages": []}

:class:`TestServer` runs a real :class:`~roost.Server` inside the current trio run. Each
client talks to it over one end of a ``socket.socketpair()`` whose other end the server
serves as if it had accepted it, so no port is used and every byte goes through the real
HTTP, WebSocket and actor code. The clients (:class:`TestClient`, in ``roost._test_client``)
speak WebSocket over the same sans-I/O core as :mod:`roost.client`
(:class:`~roost.protocol.WebSocketConnection`) and HTTP with h11. Nothing here sleeps: time is
trio's, so the server's alarms, keep-alives and idle timeouts run on pytest-trio's
``autojump_clock``.
"""

from __future__ import annotations

import json
import shutil
import socket
import sqlite3
import tempfile
import types
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlencode

import attrs
import h11
import trio
from sqlite_utils import Database

from roost._errors import ConfigError
from roost.actors import Alarm, Alarms
from roost.actors._alarms import AlarmChanges
from roost.runtime import ActorState, App, Server, ServerConfig, ServerStatistics
from roost.storage import KV, ActorStorage

from ._test_client import HOST, TestClient, TestClientRefused, read_response, target

__all__ = [
    "StorageView",
    "TestClient",
    "TestClientRefused",
    "TestResponse",
    "TestServer",
]

#: Headers a test client's handshake sets itself; ``connect(headers=...)`` may not.
_HANDSHAKE_HEADERS = frozenset(
    {
        "host",
        "upgrade",
        "connection",
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-protocol",
    }
)


@attrs.frozen
class TestResponse:
    """The answer to :meth:`TestServer.request`.

    Attributes:
        status: the HTTP status code.
        headers: header names lowercased; repeated headers joined with ", ".
        body: the whole body.
    """

    __test__ = False

    status: int
    headers: Mapping[str, str]
    body: bytes

    def text(self) -> str:
        """The body decoded as UTF-8."""
        return self.body.decode("utf-8")

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


class StorageView:
    """Read-only access to one actor's SQLite file, shaped like ``self.storage`` of the actor.

    It has a connection of its own, opened read-only: it sees what committed turns wrote (not
    a turn in progress), whether the actor is active, hibernated or stopped, and cannot write
    or hold a lock that would disturb the actor. Writes raise ``attempt to write a readonly
    database``. :class:`TestServer` closes it on exit.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        uri = f"{path.resolve().as_uri()}?mode=ro"
        self._conn = sqlite3.connect(uri, uri=True, isolation_level=None)
        self.db = Database(self._conn)
        self.kv = KV(self._conn)

    def alarm(self, name: str) -> Alarm | None:
        """The actor's alarm ``name`` (a quarantined one too), or None."""
        return self._alarms().get(name)

    def alarms(self) -> list[Alarm]:
        """Every alarm of the actor, soonest first, quarantined ones included."""
        return self._alarms().list()

    def _alarms(self) -> Alarms:
        # Alarms only reads ``storage.db.conn``, which this view provides.
        return Alarms(cast(ActorStorage, self), lambda: 0.0, AlarmChanges())

    def close(self) -> None:
        self._conn.close()


class TestServer:
    """Run ``app`` on a real :class:`~roost.Server` inside the current trio run.

    ``async with TestServer(app) as t:`` starts the server in a nursery of its own and, on
    exit, shuts it down gracefully (open clients see 1001), then removes the data directory
    if it made one. The server keeps its listener on 127.0.0.1 (an ephemeral port), but the
    kit's clients never use it: they are served over socket pairs.

    Args:
        app: the App under test.
        data_dir: where actor files go; by default a fresh temporary directory, removed on
            exit. Give one to keep data across two test servers (a restart).
        **config_overrides: other :class:`~roost.ServerConfig` fields, for example
            ``idle_timeout=5`` or ``max_message_size=1024``.

    Raises:
        ConfigError: ``host`` or ``port`` was given, or another setting is invalid.
    """

    __test__ = False

    def __init__(
        self, app: App, *, data_dir: Path | str | None = None, **config_overrides: Any
    ) -> None:
        if {"host", "port"} & config_overrides.keys():
            raise ConfigError("TestServer takes no host or port: its clients use no listener")
        config = ServerConfig(
            host="127.0.0.1", port=0, data_dir=data_dir or ".", **config_overrides
        )
        self._own_dir = data_dir is None
        if data_dir is None:  # only now that the settings are known to be valid
            config = attrs.evolve(config, data_dir=tempfile.mkdtemp(prefix="roost-test-"))
        #: The server under test, for everything the kit does not wrap.
        self.server = Server(app, config)
        self._views: dict[tuple[str, str], StorageView] = {}
        self._stack = AsyncExitStack()
        self._clients: trio.Nursery | None = None

    async def __aenter__(self) -> TestServer:
        try:
            self._clients = await self._stack.enter_async_context(self._run())
        except BaseException:
            self._remove_dir()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> bool:
        try:
            return bool(await self._stack.__aexit__(exc_type, exc, tb))
        finally:
            self._clients = None
            self._remove_dir()

    @asynccontextmanager
    async def _run(self) -> AsyncIterator[trio.Nursery]:
        try:
            async with self._serve() as clients:
                yield clients
        except BaseExceptionGroup as group:
            # The test's own error (an assert, pytest.raises' target) comes out as itself,
            # not wrapped twice by the kit's nurseries; real groups stay groups.
            leaf = _single(group)
            if leaf is None:
                raise
            context, suppressed = leaf.__context__, leaf.__suppress_context__
            try:
                raise leaf  # the group was only our wrapping
            finally:
                leaf.__context__, leaf.__suppress_context__ = context, suppressed

    @asynccontextmanager
    async def _serve(self) -> AsyncIterator[trio.Nursery]:
        server = self.server
        async with trio.open_nursery() as nursery:
            await nursery.start(server.serve)
            async with trio.open_nursery() as clients:
                try:
                    yield clients
                finally:
                    for view in self._views.values():
                        view.close()  # first, so the actors' last close checkpoints
                    self._views.clear()
                    with trio.CancelScope(shield=True):
                        await server.shutdown()  # open clients see 1001
                    clients.cancel_scope.cancel()  # readers stuck on a full queue

    def _remove_dir(self) -> None:
        if self._own_dir:
            shutil.rmtree(self.server.config.data_dir, ignore_errors=True)

    def _nursery(self) -> trio.Nursery:
        if self._clients is None:
            raise RuntimeError("the TestServer is not running: use `async with TestServer(app)`")
        return self._clients

    def _socket_stream(self) -> trio.SocketStream:
        """A socket pair: one end served by the server, the other returned as a stream."""
        self._nursery()
        ours, theirs = socket.socketpair()
        try:
            self.server.serve_socket(theirs)
        except BaseException:
            ours.close()
            theirs.close()
            raise
        return trio.SocketStream(trio.socket.from_stdlib_socket(ours))

    # -- clients -----------------------------------------------------------------------------

    def connect(
        self,
        path: str,
        *,
        subprotocols: Iterable[str] = (),
        headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        query: Mapping[str, str] | None = None,
        max_message_size: int | None = None,
        max_buffered: int = 256,
    ) -> TestClient:
        """A WebSocket client for ``path`` (``/<type>/<key>?query``): await it or ``async with``.

        Non-ASCII characters in ``path`` are percent-encoded; anything else is sent as given.
        The app's ``authenticate`` hook sees ``headers`` and ``query`` as from any client, so
        ``t.connect("/chat/a", headers={"authorization": "Bearer T"})`` tests an
        authenticated actor (a refusal raises :class:`TestClientRefused` with its status).

        Args:
            path: the request target.
            subprotocols: subprotocols to offer.
            headers: extra request headers (``Authorization``, ``Cookie``, ``Origin``, ...);
                the handshake's own (``Host``, ``Upgrade``, ``Sec-WebSocket-*``) are refused.
            query: parameters appended to ``path``'s query, percent-encoded.
            max_message_size: largest message accepted from the server (default: the server's
                ``max_outbound_bytes``, which no frame it sends can exceed).
            max_buffered: messages queued for :meth:`TestClient.receive` before the client
                stops reading; the client holds at most ``max_buffered * max_message_size``.
        """
        if max_message_size is None:
            max_message_size = self.server.config.max_outbound_bytes
        extra = list(headers.items() if isinstance(headers, Mapping) else headers)
        owned = {name.lower() for name, _ in extra} & _HANDSHAKE_HEADERS
        if owned:
            raise ValueError(f"the handshake sets these headers itself: {', '.join(sorted(owned))}")
        return TestClient(
            _with_query(path, query),
            open_stream=self._socket_stream,
            nursery=self._nursery,
            close_timeout=self.server.config.close_timeout,
            subprotocols=subprotocols,
            max_message_size=max_message_size,
            max_buffered=max_buffered,
            headers=extra,
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        query: Mapping[str, str] | None = None,
    ) -> TestResponse:
        """One HTTP/1.1 request (an actor's ``on_request``, ``/_roost/health``, ...).

        ``Host`` and ``Content-Length`` are added unless given; ``query`` is appended to
        ``path``'s query. The app's ``authenticate`` hook runs as for any client.
        """
        path = _with_query(path, query)
        items = list(headers.items() if isinstance(headers, Mapping) else headers)
        names = {name.lower() for name, _ in items}
        if "host" not in names:
            items.insert(0, ("host", HOST))
        if "content-length" not in names:
            items.append(("content-length", str(len(body))))
        stream = self._socket_stream()
        async with stream:
            conn = h11.Connection(h11.CLIENT)
            data = conn.send(h11.Request(method=method, target=target(path), headers=items))
            if body:
                data += conn.send(h11.Data(data=body))
            await stream.send_all(data + conn.send(h11.EndOfMessage()))
            response, response_body = await read_response(stream, conn)
        joined: dict[str, str] = {}
        for raw_name, raw_value in response.headers:
            name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
            joined[name] = f"{joined[name]}, {value}" if name in joined else value
        return TestResponse(status=response.status_code, headers=joined, body=response_body)

    # -- actors ------------------------------------------------------------------------------

    async def fire_alarm(self, actor_type: str, key: str, name: str) -> None:
        """Fire the actor's alarm ``name`` now, before its due time, waking the actor if needed.

        It runs as in production: an ``on_alarm`` that raises is logged and retried later.

        Raises:
            LookupError: the actor has no such alarm (or it is quarantined).
        """
        alarm = None
        with suppress(LookupError):
            alarm = self.storage(actor_type, key).alarm(name)
        if alarm is None or alarm.quarantined:
            state = "quarantined" if alarm else "no"
            raise LookupError(f"actor {actor_type}/{key!r} has {state} alarm {name!r}")
        await self.server.fire_alarm(actor_type, key, name)

    async def evict(self, actor_type: str, key: str) -> None:
        """Evict the actor now, as the idle timeout would: ``on_stop`` runs, its SQLite
        closes; it hibernates if it has connections, otherwise it stops."""
        await self.server.evict(actor_type, key)

    async def hibernate(self, actor_type: str, key: str) -> None:
        """Evict the actor and check that it hibernated (its connections stay open).

        Raises:
            AssertionError: it did not hibernate (it has no open connection).
        """
        await self.evict(actor_type, key)
        state = self.actor_state(actor_type, key)
        if state is not ActorState.HIBERNATED:
            shown = state.value if state else "unknown to the server"
            raise AssertionError(
                f"{actor_type}/{key!r} did not hibernate: it is {shown} (no open connection?)"
            )

    def actor_state(self, actor_type: str, key: str) -> ActorState | None:
        """Where the actor is in its lifecycle, or None if the server holds nothing for it."""
        slot = self.server.registry.slots.get((actor_type, key))
        return None if slot is None else slot.state

    def storage(self, actor_type: str, key: str) -> StorageView:
        """A read-only view of the actor's SQLite (``.db``, ``.kv``, ``.alarms()``).

        Works whether the actor is active, hibernated or stopped; see :class:`StorageView`.

        Raises:
            LookupError: the actor has no file yet (it never stored anything).
        """
        ident = (actor_type, key)
        view = self._views.get(ident)
        if view is None:
            path = self.server.registry.db_path(actor_type, key)
            if not path.exists():
                raise LookupError(f"actor {actor_type}/{key!r} has no storage file yet")
            view = self._views[ident] = StorageView(path)
        return view

    def statistics(self) -> ServerStatistics:
        """The server's counts right now (connections, websockets, actors, ...)."""
        return self.server.statistics()


def _single(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """The one exception inside nested single-member groups, or None if there are more."""
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup):
        if len(exc.exceptions) != 1:
            return None
        exc = exc.exceptions[0]
    return exc


def _with_query(path: str, query: Mapping[str, str] | None) -> str:
    """``path`` with ``query`` appended to its query string, percent-encoded."""
    if not query:
        return path
    return path + ("&" if "?" in path else "?") + urlencode(query)
