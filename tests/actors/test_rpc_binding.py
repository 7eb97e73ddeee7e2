"""@rpc: which methods qualify, and how call arguments are checked (no sockets)."""

from __future__ import annotations

from typing import Any

import pytest

from roost import Actor, RpcError, rpc
from roost.actors._rpc import bind_call, rpc_methods


class Shop(Actor):
    @rpc
    async def buy(self, conn: Any, item: str, count: int = 1, *, note: str = "") -> str:
        return f"{count} {item} {note}".strip()

    @rpc
    async def anything(self, conn: Any, **options: Any) -> dict[str, Any]:
        return options

    async def helper(self, conn: Any) -> None:
        """Not marked: not callable remotely."""


class Outlet(Shop):
    @rpc
    async def refund(self, conn: Any, item: str) -> str:
        return item


async def test_arguments_are_checked_by_name() -> None:
    invoke = bind_call(Shop, "buy", {"item": "tea", "note": "green"})
    assert await invoke(Shop.__new__(Shop), None) == "1 tea green"
    with pytest.raises(RpcError) as info:
        bind_call(Shop, "buy", {"count": 2})
    assert (info.value.code, info.value.message) == ("bad_request", "buy: missing arguments: item")
    with pytest.raises(RpcError) as info:
        bind_call(Shop, "buy", {"item": "tea", "colour": "red"})
    assert info.value.message == "buy: unexpected arguments: colour"
    assert await bind_call(Shop, "anything", {"a": 1})(Shop.__new__(Shop), None) == {"a": 1}
    for method in ("helper", "missing", "__init__"):
        with pytest.raises(RpcError) as info:
            bind_call(Shop, method, {})
        assert info.value.code == "not_found"
    with pytest.raises(RpcError):
        bind_call(Shop, "buy", ["tea"])  # type: ignore[arg-type]


def test_methods_per_class_with_inheritance() -> None:
    assert set(rpc_methods(Shop)) == {"buy", "anything"}
    assert set(rpc_methods(Outlet)) == {"buy", "anything", "refund"}
    assert set(rpc_methods(Shop)) == {"buy", "anything"}  # the subclass did not leak up


def test_only_async_methods_taking_conn_and_named_arguments() -> None:
    with pytest.raises(TypeError, match="async def"):

        @rpc  # type: ignore[type-var]
        def sync(self: Any, conn: Any) -> None: ...

    with pytest.raises(TypeError, match="self, conn"):

        @rpc
        async def no_conn(self: Any) -> None: ...

    with pytest.raises(TypeError, match="by name only"):

        @rpc
        async def positional(self: Any, conn: Any, /, x: int, *rest: int) -> None: ...
