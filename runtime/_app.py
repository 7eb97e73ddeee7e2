"""The app registry: which actor class serves which type name, and which files are served.

An App is an ordinary object the user builds and passes to the server; there is no
process-global registry.
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar
from urllib.parse import unquote

import attrs

from roost._errors import ConfigError
from roost.actors import Actor, Request

from ._static import StaticFiles

_TYPE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,63}")

#: ``async def authenticate(request) -> identity | None``: see :meth:`App.authenticate`.
AuthenticateHook = Callable[[Request], Awaitable[Any]]
H = TypeVar("H", bound=AuthenticateHook)


@attrs.frozen
class ActorType:
    """One registered actor type: its name in URLs and the class that implements it."""

    name: str
    cls: type[Actor]


class App:
    """Maps type names to actor classes: ``app.actor("chat", ChatRoom)`` serves ``/chat/<key>``.

    ``app.static("/", "web")`` also serves a directory's files over plain HTTP (a page beside
    its actors); ``@app.authenticate`` decides who may reach the actors at all.
    """

    def __init__(self) -> None:
        self._types: dict[str, ActorType] = {}
        self._static: list[StaticFiles] = []  # longest prefix first
        self._authenticate: AuthenticateHook | None = None

    def authenticate(self, hook: H) -> H:
        """Register ``async def hook(request) -> identity | None``, used as a decorator.

        The hook runs once per WebSocket upgrade and per HTTP request to ``/<type>/<key>``
        (``on_request`` and HTTP rpc), before any actor activates (G10); not for ``/_roost/``
        endpoints or static files. It sees ``request.path``, ``.query``, ``.headers``,
        ``.cookies`` and ``.client``. None refuses with 401; raising
        ``ConnectionRefused(reason, status=...)`` refuses with that status and reason; any
        other value is the identity: ``conn.identity`` in the actor's handlers and rpc
        methods, ``request.identity`` in ``on_request``. It must be JSON-able (at most 16 KiB
        of JSON), because it is kept with the connection through hibernation and shown in
        logs. Without a hook every identity is None.

        Raises:
            ConfigError: ``hook`` is not an ``async def`` function, or a hook is registered.
        """
        function: Any = hook  # iscoroutinefunction would narrow H away
        if not inspect.iscoroutinefunction(function):
            raise ConfigError(f"the authenticate hook must be an async def function, got {hook!r}")
        if self._authenticate is not None:
            raise ConfigError("the app already has an authenticate hook")
        self._authenticate = hook
        return hook

    @property
    def authenticate_hook(self) -> AuthenticateHook | None:
        """The hook registered with :meth:`authenticate`, or None."""
        return self._authenticate

    def actor(self, name: str, cls: type[Actor]) -> type[Actor]:
        """Register ``cls`` under ``name`` (lowercase letters, digits, ``_`` and ``-``).

        Returns the class, so it can also be used as ``app.actor("chat", ChatRoom)`` inline.

        Raises:
            ConfigError: the name is invalid or taken, or ``cls`` is not an Actor subclass.
        """
        if not _TYPE_NAME.fullmatch(name):
            raise ConfigError(
                f"actor type name {name!r} must match {_TYPE_NAME.pattern} "
                "(it becomes a URL segment and a directory name)"
            )
        if name in self._types:
            raise ConfigError(f"actor type {name!r} is already registered")
        if any(files.first_segment == name for files in self._static):
            raise ConfigError(f"actor type {name!r} would shadow a static mount at /{name}/")
        if not (isinstance(cls, type) and issubclass(cls, Actor)):
            raise ConfigError(f"{cls!r} is not a subclass of roost.Actor")
        self._types[name] = ActorType(name, cls)
        return cls

    def static(
        self,
        prefix: str,
        directory: str | os.PathLike[str],
        *,
        index: str | None = "index.html",
        max_file_bytes: int = 16 * 1024 * 1024,
    ) -> None:
        """Serve the files under ``directory`` at ``prefix`` (GET and HEAD only).

        ``app.static("/", "web")`` answers ``/`` with ``web/index.html`` and ``/app.js`` with
        ``web/app.js``. Paths whose first segment names an actor type always go to the actor,
        so a mount at ``/`` serves everything else; among mounts the longest prefix wins.
        Traversal is refused (see ``roost.runtime._static``).

        Args:
            prefix: ``/`` or ``/name/.../``, starting and ending with ``/``.
            directory: what to serve; resolved now.
            index: the file a path ending in ``/`` serves; None answers such paths 404.
            max_file_bytes: larger files are refused (500): each response holds its file in
                memory while it is sent.

        Raises:
            ConfigError: the prefix is malformed, taken, under ``/_roost/`` or starts with an
                actor type's name; the directory does not exist; a limit is invalid.
        """
        files = StaticFiles.mount(
            prefix, os.fspath(directory), index=index, max_file_bytes=max_file_bytes
        )
        if files.first_segment == "_roost":
            raise ConfigError("paths under /_roost/ belong to the runtime")
        if files.first_segment in self._types:
            raise ConfigError(f"static prefix {prefix!r} is served by the actor type")
        if any(other.prefix == prefix for other in self._static):
            raise ConfigError(f"static prefix {prefix!r} is already mounted")
        self._static.append(files)
        self._static.sort(key=lambda mount: len(mount.prefix), reverse=True)

    def files_for(self, raw_path: str) -> StaticFiles | None:
        """The static mount serving ``raw_path`` (undecoded), or None.

        None also when the path's first segment names an actor type: actors come first.
        """
        if not self._static or unquote(raw_path.split("/", 2)[1]) in self._types:
            return None
        return next((f for f in self._static if raw_path.startswith(f.prefix)), None)

    def has_durable_actors(self) -> bool:
        """Whether an actor class asks for durable output (``durable = True``)."""
        return any(getattr(t.cls, "durable", False) for t in self._types.values())

    def get(self, name: str) -> ActorType | None:
        """The registered type called ``name``, or None."""
        return self._types.get(name)

    def __iter__(self) -> Iterator[ActorType]:
        return iter(self._types.values())

    def __len__(self) -> int:
        return len(self._types)
