"""Importing a light part of roost does not load the heavy ones (issue 13, lazy facade).

Each import runs in a fresh interpreter, since this test process has long since imported
everything; the child prints the modules it ended up with.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import roost

RUNTIME = ("roost.runtime", "roost.actors", "roost.storage")
DATABASES = ("psycopg", "sqlite_utils")

# What each import must leave unloaded: the protocol is sans-I/O (no event loop, no store),
# the client needs trio but never the server side or a database driver.
FORBIDDEN = {
    "roost": ("trio", *DATABASES, *RUNTIME, "roost.protocol"),
    "roost._errors": ("trio", *DATABASES, *RUNTIME, "roost.protocol"),
    "roost.protocol": ("trio", *DATABASES, *RUNTIME),
    "roost.protocol.yjs": ("trio", *DATABASES, *RUNTIME),
    "roost.client": (*DATABASES, *RUNTIME),
}


def loaded_after(statement: str) -> set[str]:
    probe = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    return set(json.loads(result.stdout))


def heavy(modules: set[str], forbidden: tuple[str, ...]) -> set[str]:
    return {m for m in modules if any(m == f or m.startswith(f + ".") for f in forbidden)}


@pytest.mark.parametrize("module", sorted(FORBIDDEN))
def test_import_loads_only_its_own_layer(module: str) -> None:
    modules = loaded_after(f"import {module}")
    assert module in modules
    assert heavy(modules, FORBIDDEN[module]) == set()


def test_the_client_does_load_trio() -> None:
    # The other side of the check above: the probe sees what an import really loads.
    assert "trio" in loaded_after("import roost.client")


def test_a_public_name_loads_its_home_on_first_use() -> None:
    modules = loaded_after("from roost import RoostError")
    assert heavy(modules, ("trio", *DATABASES, *RUNTIME)) == set()
    assert "roost.runtime" in loaded_after("from roost import Server")


def test_facade_names_are_the_home_objects() -> None:
    from roost._errors import StoreUnavailable
    from roost.actors import Actor
    from roost.runtime import Server

    assert roost.Actor is Actor
    assert roost.Server is Server
    assert roost.StoreUnavailable is StoreUnavailable
    assert set(roost.__all__) <= set(dir(roost))


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        roost.Nope  # noqa: B018 - the access is the test
    with pytest.raises(ImportError):
        exec("from roost import Nope", {})
