"""The app registry: which actor class serves which type name.

An App is an ordinary object the user builds and passes to the server; there is no
process-global registry.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import attrs

from roost._errors import ConfigError
from roost.actors import Actor

_TYPE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,63}")


@attrs.frozen
class ActorType:
    """One registered actor type: its name in URLs and the class that implements it."""

    name: str
    cls: type[Actor]


class App:
    """Maps type names to actor classes: ``app.actor("chat", ChatRoom)`` serves ``/chat/<key>``."""

    def __init__(self) -> None:
        self._types: dict[str, ActorType] = {}

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
        if not (isinstance(cls, type) and issubclass(cls, Actor)):
            raise ConfigError(f"{cls!r} is not a subclass of roost.Actor")
        self._types[name] = ActorType(name, cls)
        return cls

    def get(self, name: str) -> ActorType | None:
        """The registered type called ``name``, or None."""
        return self._types.get(name)

    def __iter__(self) -> Iterator[ActorType]:
        return iter(self._types.values())

    def __len__(self) -> int:
        return len(self._types)
