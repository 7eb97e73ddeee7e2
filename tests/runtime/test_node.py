"""The composition root (runtime/_node.py): a node's services are built once, in dependency
order, each with its collaborators; nothing is attached afterwards (issue 13, style rule 14)."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest
import trio

from roost import Actor, App, Server, ServerConfig
from roost.runtime._node import Node
from roost.runtime._registry import ActorRegistry
from roost.runtime._stats import NodeStats

from ..support import connect, running

RUNTIME = Path(__file__).resolve().parents[2] / "runtime"


class Echo(Actor):
    async def on_message(self, conn: object, message: str | bytes) -> None:
        self.alarms.set("later", after=60)
        conn.send(message)  # type: ignore[attr-defined]


def make_app() -> App:
    app = App()
    app.actor("echo", Echo)
    return app


async def test_every_service_gets_its_collaborators_at_construction(tmp_path: Path) -> None:
    # Synchronous: building a node never awaits (nothing to time out).
    node = Node(make_app(), ServerConfig(data_dir=tmp_path, max_group_turns=8), NodeStats())
    try:
        registry = node.registry
        assert registry.scheduler is node.scheduler
        assert registry.sync is node.sync
        assert registry.committer is node.committer
        assert registry.clock is node.clock
        assert registry.node_id == node.sync.node_id == node.node_id
        assert registry.max_group_turns == 8
        slot = registry.resolve("echo", "a")
        assert slot is not None and slot.registry is registry
        assert registry.resolve("nope", "a") is None  # an unknown type has no slot
    finally:
        node.close()


def test_the_registry_cannot_be_built_without_its_services() -> None:
    """No service is optional: each is a required keyword (None is not a default)."""
    parameters = inspect.signature(ActorRegistry).parameters
    for name in ("app", "scheduler", "sync", "committer", "clock", "stats", "node_id"):
        assert parameters[name].default is inspect.Parameter.empty, name


def test_no_runtime_module_attaches_a_service_after_construction() -> None:
    """``registry.scheduler = ...`` and friends were how the server wired the node; they
    must not come back (an assignment to another object's service attribute)."""
    services = {"scheduler", "sync", "committer", "resolve", "clock", "pool"}
    found = []
    for path in sorted(RUNTIME.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            targets = node.targets if isinstance(node, ast.Assign) else []
            if isinstance(node, (ast.AnnAssign, ast.AugAssign)):
                targets = [node.target]
            for target in targets:
                if (
                    isinstance(target, ast.Attribute)
                    and target.attr in services
                    and not (isinstance(target.value, ast.Name) and target.value.id == "self")
                ):
                    found.append(f"{path.name}:{node.lineno} .{target.attr}")
    assert found == []


async def test_a_configured_server_has_no_node_and_touches_no_file(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = Server(make_app(), ServerConfig(data_dir=data))
    assert server.statistics().actors == 0
    with pytest.raises(RuntimeError, match="not started"):
        server.registry  # noqa: B018 - the property is what is tested
    assert not data.exists()


async def test_a_served_node_runs_turns_alarms_and_group_commit_off(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    """max_group_turns=0: the committer runs but no turn defers its COMMIT."""
    with trio.fail_after(60):
        async with running(make_app(), tmp_path, max_group_turns=0) as server:
            async with connect(server, "/echo/a") as ws:
                await ws.send_message("hi")
                assert await ws.get_message() == "hi"
            assert server.registry.scheduler.pending == 1
            assert server.stats.turns_grouped_total == 0
            assert server.node.registry is server.registry
