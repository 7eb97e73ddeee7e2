"""The layers point one way (style rule 15, issue 13), and no new import cycle appears.

The rule, as docs/architecture.md ("Layers and modules") writes it down:

    3  top      roost.cli, roost.client, roost.testing, roost._tools, roost._urls,
                roost.__main__ and the facade ``roost`` itself
    2  runtime  roost.runtime.*
    1  actors   roost.actors.*
    0  bottom   roost._errors, roost._version, roost.protocol.*, roost.storage.*

- A module imports only modules of its own layer or lower ones.
- Inside the bottom layer: roost._errors and roost._version import nothing of roost (every
  other module may import them); roost.protocol is sans-I/O, so it imports neither trio nor
  any other I/O library nor roost.storage; roost.storage does not import roost.protocol (a
  store keeps bytes and records, it never sees a frame or an envelope, so neither needs the
  other).
- The facade (``roost/__init__.py``) is nobody's dependency: no module of the package
  imports ``roost`` itself, only ``roost.<sub>`` (``from roost import _tools`` names the
  submodule roost._tools and is fine; ``from roost import Actor`` is not).

The imports are read with ``ast`` from every module of the package, including imports inside
functions and ``if TYPE_CHECKING:`` blocks (a type-only import is still a dependency: style
rule 14). The module names come from pyproject's package-dir mapping, so a new subpackage is
checked as soon as it is installed.
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from pathlib import Path

import attrs

ROOT = Path(__file__).resolve().parent.parent

BOTTOM, ACTORS, RUNTIME, TOP = 0, 1, 2, 3
LAYER_NAMES = {BOTTOM: "bottom", ACTORS: "actors", RUNTIME: "runtime", TOP: "top"}

# Module (or package prefix) -> layer; the longest matching prefix wins.
LAYERS: dict[str, int] = {
    "roost": TOP,
    "roost._errors": BOTTOM,
    "roost._version": BOTTOM,
    "roost.protocol": BOTTOM,
    "roost.storage": BOTTOM,
    "roost.actors": ACTORS,
    "roost.runtime": RUNTIME,
    "roost.cli": TOP,
    "roost.client": TOP,
    "roost.testing": TOP,
    "roost._tools": TOP,
    "roost._urls": TOP,
    "roost.__main__": TOP,
}

# Libraries that do I/O or bring an event loop: the sans-I/O protocol imports none of them.
IO_LIBRARIES = ("trio", "psycopg", "sqlite3", "sqlite_utils", "socket", "asyncio", "h11")

# Known breaks of the rule, each (importer, imported) with why it is still there. Empty today:
# add to it only with a reason, and remove an entry as soon as the import goes.
KNOWN_VIOLATIONS: dict[tuple[str, str], str] = {}

# Known import cycles (strongly connected components of the module graph, type-only edges
# included). Empty: any cycle fails test_no_new_import_cycle (style rule 14, issue 13). A
# module that needs something of a module above it declares a small Protocol for it instead
# (runtime._slot's SlotNode and SlotSync, runtime._outbox's SlotSession, runtime._sync's
# SyncNode, actors._connection's ConnectionHost).
KNOWN_CYCLES: list[frozenset[str]] = []


@attrs.frozen
class Import:
    """One import statement's target, as the importing module names it."""

    importer: str
    target: str
    line: int


def package_dirs() -> dict[str, Path]:
    """The installed package name of every source folder, from pyproject's package-dir."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    mapping = config["tool"]["setuptools"]["package-dir"]
    # roost._demo* are the examples shipped for `roost demo`: apps, which use the facade.
    return {
        package: ROOT / folder
        for package, folder in mapping.items()
        if not package.startswith("roost._demo")
    }


def discover() -> dict[str, Path]:
    """Every module of the package: dotted name -> file."""
    modules: dict[str, Path] = {}
    for package, folder in package_dirs().items():
        for path in sorted(folder.rglob("*.py")):
            relative = path.relative_to(folder).with_suffix("")
            parts = [p for p in relative.parts if p != "__init__"]
            name = ".".join([package, *parts])
            # A subfolder that pyproject maps elsewhere belongs to that package, once.
            modules.setdefault(name, path)
    return modules


def is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> Iterator[Import]:
    """Every import in the module, at any depth, with relative imports resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if is_package(path) else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(name, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join([*base_parts, *([node.module] if node.module else [])])
            else:
                assert node.module is not None
                base = node.module
            for alias in node.names:
                # `from roost import _tools` names a submodule; `from roost import Actor`
                # names an attribute of the package itself.
                candidate = f"{base}.{alias.name}"
                yield Import(name, candidate if candidate in modules else base, node.lineno)


def layer_of(module: str) -> int | None:
    """The layer of a module of the package, or None for anything outside it."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in LAYERS:
            return LAYERS[prefix]
    return None


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def rule_breaks(imp: Import) -> str | None:
    """Why this import breaks the layer rule, or None when it keeps it."""
    importer, target = imp.importer, imp.target
    if target == "roost":
        return "imports the facade `roost`; import `roost.<sub>` instead"
    if within(importer, "roost.protocol"):
        if any(within(target, lib) for lib in IO_LIBRARIES):
            return "protocol/ is sans-I/O: no I/O library"
        if within(target, "roost.storage"):
            return "protocol/ does not depend on storage/"
    if within(importer, "roost.storage") and within(target, "roost.protocol"):
        return "storage/ does not depend on protocol/"
    if importer in ("roost._errors", "roost._version") and within(target, "roost"):
        return "the bottom of the bottom layer imports nothing of roost"
    high, low = layer_of(importer), layer_of(target)
    if high is not None and low is not None and low > high:
        return f"a {LAYER_NAMES[high]} module imports the {LAYER_NAMES[low]} layer above it"
    return None


def graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports (explicit edges only)."""
    modules = discover()
    edges: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for imp in imports_of(name, path, modules):
            if imp.target in modules and imp.target != name:
                edges[name].add(imp.target)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(frozenset(component))
    return found


def test_every_module_is_discovered_and_has_a_layer() -> None:
    modules = discover()
    # A sample from each layer, so a broken discovery cannot pass the rule vacuously.
    for name in (
        "roost",
        "roost._errors",
        "roost.protocol._frames",
        "roost.storage._shared._api",
        "roost.actors._actor",
        "roost.runtime._server",
        "roost.client",
    ):
        assert name in modules, name
    assert all(layer_of(name) is not None for name in modules)


def test_imports_inside_functions_and_type_checking_blocks_are_seen(tmp_path: Path) -> None:
    source = tmp_path / "probe.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from roost.runtime import Server\n"
        "def f():\n"
        "    import roost\n"
        "    from . import _frames\n"
    )
    modules = {"roost.protocol._frames": source}
    found = {i.target for i in imports_of("roost.protocol.probe", source, modules)}
    assert {"roost.runtime", "roost", "roost.protocol._frames"} <= found


def test_rule_catches_each_kind_of_break() -> None:
    def why(importer: str, target: str) -> str | None:
        return rule_breaks(Import(importer, target, 1))

    assert why("roost.storage._kv", "roost.actors") is not None
    assert why("roost.actors._actor", "roost.runtime._host") is not None
    assert why("roost.runtime._host", "roost.client") is not None
    assert why("roost.cli", "roost") is not None
    assert why("roost.protocol._frames", "trio") is not None
    assert why("roost.protocol._frames", "roost.storage") is not None
    assert why("roost.storage._kv", "roost.protocol") is not None
    assert why("roost._errors", "roost.protocol") is not None
    assert why("roost.runtime._host", "roost.actors._actor") is None
    assert why("roost.client", "roost.protocol") is None
    assert why("roost.protocol._frames", "roost._errors") is None


def test_layers_point_one_way() -> None:
    modules = discover()
    breaks = {}
    for name, path in modules.items():
        for imp in imports_of(name, path, modules):
            reason = rule_breaks(imp)
            if reason is not None and (imp.importer, imp.target) not in KNOWN_VIOLATIONS:
                breaks[f"{imp.importer}:{imp.line} imports {imp.target}"] = reason
    assert breaks == {}


def test_known_violations_are_still_real() -> None:
    """A fixed violation leaves the known list, so the list never hides a new one."""
    modules = discover()
    seen = {
        (imp.importer, imp.target)
        for name, path in modules.items()
        for imp in imports_of(name, path, modules)
    }
    assert set(KNOWN_VIOLATIONS) <= seen


def test_no_new_import_cycle() -> None:
    found = set(cycles(graph()))
    assert found - set(KNOWN_CYCLES) == set(), "an import cycle"
    # A known cycle that is gone (or changed shape) is removed from the list.
    assert set(KNOWN_CYCLES) - found == set(), "a known cycle is gone: update KNOWN_CYCLES"


def private_actors_module(target: str) -> bool:
    """Whether ``target`` is a private module of actors/ (``roost.actors._x...``)."""
    parts = target.split(".")
    return within(target, "roost.actors") and any(p.startswith("_") for p in parts[2:])


def test_runtime_hosts_actors_only_through_the_hosting_interface() -> None:
    """runtime/ imports roost.actors (the user API) and roost.actors.hosting, never a private
    module of actors/ (issue 13): the boundary between the two layers is one interface."""
    modules = discover()
    found = [
        f"{imp.importer}:{imp.line} imports {imp.target}"
        for name, path in modules.items()
        if within(name, "roost.runtime")
        for imp in imports_of(name, path, modules)
        if private_actors_module(imp.target)
    ]
    assert found == []


def test_private_actors_module_is_recognised() -> None:
    assert private_actors_module("roost.actors._rpc")
    assert private_actors_module("roost.actors._alarms")
    assert not private_actors_module("roost.actors")
    assert not private_actors_module("roost.actors.hosting")
    assert not private_actors_module("roost.runtime._host")


def test_cycle_finder_finds_a_cycle() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(edges) == [frozenset({"a", "b", "c"})]
