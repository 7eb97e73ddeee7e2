"""``@rpc``: actor methods callable by envelope clients, over HTTP and by other actors.

An rpc method is ``async def name(self, conn, **arguments)``; ``conn`` is the calling
:class:`Connection` for WebSocket clients, an :class:`HttpCaller` over HTTP and None only when
another actor calls. Each call is one turn (G2-G4): its reply leaves only after the turn's
writes commit. ``@rpc(http=False)`` keeps a method off HTTP.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar, overload

from roost._errors import RpcError

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])

_MARK = "_roost_rpc"
_SPEC = "_roost_rpc_spec"
_NO_HTTP = "_roost_rpc_no_http"
_NAMED = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


@overload
def rpc(method: F, /) -> F: ...
@overload
def rpc(*, http: bool = True) -> Callable[[F], F]: ...
def rpc(method: F | None = None, /, *, http: bool = True) -> F | Callable[[F], F]:
    """Mark an ``async def`` actor method as callable remotely: ``@rpc`` or ``@rpc(...)``.

    Args:
        http: False keeps the method off ``POST /<type>/<key>/rpc/<method>`` (answered 404
            as if it did not exist); envelope clients and other actors can still call it.

    Raises:
        TypeError: ``method`` is not a coroutine function or takes no ``conn`` parameter.
    """
    if method is None:

        def mark(method: F) -> F:
            return _mark(method, http=http)

        return mark
    return _mark(method, http=http)


def _mark(method: F, *, http: bool) -> F:
    function: Any = method  # iscoroutinefunction would narrow F away
    if not inspect.iscoroutinefunction(function):
        raise TypeError(f"@rpc needs an async def method, got {method!r}")
    parameters = list(inspect.signature(function).parameters.values())
    if len(parameters) < 2:
        raise TypeError(f"@rpc method {method.__name__} must take (self, conn, ...)")
    if any(p.kind in (p.POSITIONAL_ONLY, p.VAR_POSITIONAL) for p in parameters[2:]):
        raise TypeError(f"@rpc method {method.__name__}: arguments are passed by name only")
    setattr(method, _MARK, True)
    if not http:
        setattr(method, _NO_HTTP, True)
    return method


def http_callable(cls: type, method: str) -> bool:
    """False when ``method`` is an rpc method of ``cls`` marked ``@rpc(http=False)``."""
    function = rpc_methods(cls).get(method)
    return function is None or not getattr(function, _NO_HTTP, False)


def rpc_methods(cls: type) -> Mapping[str, Callable[..., Awaitable[Any]]]:
    """The rpc methods of an actor class by name (computed once per class)."""
    cached = cls.__dict__.get("__roost_rpc_methods__")
    if cached is None:
        cached = {}
        for name in dir(cls):
            if name.startswith("_"):
                continue
            member = getattr(cls, name, None)
            if callable(member) and getattr(member, _MARK, False):
                cached[name] = member
        setattr(cls, "__roost_rpc_methods__", cached)  # noqa: B010 - per class, not inherited
    return cached


def bind_call(
    cls: type, method: str, args: Mapping[str, Any]
) -> Callable[[Any, Any], Awaitable[Any]]:
    """Check a call against the method's signature; return ``invoke(actor, conn)``.

    Raises:
        RpcError: ``not_found`` for an unknown method, ``bad_request`` for arguments that do
            not fit its signature (names only: values are the method's to check).
    """
    bound = _bindings(cls).get(method)
    if bound is None:
        raise RpcError("not_found", f"no rpc method {method!r}")
    if type(args) is not dict and not isinstance(args, Mapping):  # the ABC check is slow
        raise RpcError("bad_request", "args must be an object of named arguments")
    function, allowed, required, any_name = bound
    names = args.keys()
    if not any_name and not names <= allowed:
        unknown = ", ".join(sorted(str(n) for n in names - allowed))
        raise RpcError("bad_request", f"{method}: unexpected arguments: {unknown}")
    if not required <= names:
        missing = ", ".join(sorted(required - names))
        raise RpcError("bad_request", f"{method}: missing arguments: {missing}")

    def invoke(actor: Any, conn: Any) -> Awaitable[Any]:
        return function(actor, conn, **args)

    return invoke


_Binding = tuple[Callable[..., Awaitable[Any]], frozenset[str], frozenset[str], bool]


def _bindings(cls: type) -> Mapping[str, _Binding]:
    """Each rpc method of ``cls`` by name with its :func:`_spec`, computed once per class:
    one dict lookup per call instead of three (this runs for every call received)."""
    cached: dict[str, _Binding] | None = cls.__dict__.get("__roost_rpc_bindings__")
    if cached is None:
        cached = {name: (f, *_spec(f)) for name, f in rpc_methods(cls).items()}
        setattr(cls, "__roost_rpc_bindings__", cached)  # noqa: B010 - per class, not inherited
    return cached


def _spec(function: Callable[..., Any]) -> tuple[frozenset[str], frozenset[str], bool]:
    """(names it takes, names it needs, whether it takes ``**kwargs``), computed once:
    ``inspect.signature(...).bind`` on every call cost a fifth of a transfer's time."""
    spec: tuple[frozenset[str], frozenset[str], bool] | None = getattr(function, _SPEC, None)
    if spec is None:
        parameters = list(inspect.signature(function).parameters.values())[2:]  # self, conn
        named = [p for p in parameters if p.kind in _NAMED]
        spec = (
            frozenset(p.name for p in named),
            frozenset(p.name for p in named if p.default is inspect.Parameter.empty),
            any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters),
        )
        setattr(function, _SPEC, spec)
    return spec


class ActorRef:
    """``self.call(type, key)``: call another actor's rpc methods as ``await ref.name(**args)``.

    Args:
        call: ``await call(method, args)`` runs one rpc turn on the target actor.
    """

    __slots__ = ("_call", "_name")

    def __init__(self, name: str, call: Callable[[str, dict[str, Any]], Awaitable[Any]]) -> None:
        self._name = name
        self._call = call

    def __getattr__(self, method: str) -> Callable[..., Awaitable[Any]]:
        if method.startswith("_"):
            raise AttributeError(method)

        async def call(**args: Any) -> Any:
            return await self._call(method, args)

        call.__name__ = method
        return call

    def __repr__(self) -> str:
        return f"<ActorRef {self._name}>"
