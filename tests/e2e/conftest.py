from __future__ import annotations

from collections.abc import Iterator

import pytest

from roost import App
from roost.cli import load_app
from tests.support import EXAMPLES


@pytest.fixture(scope="session")
def chat_app_module() -> App:
    return load_app(str(EXAMPLES / "chat.py"))


@pytest.fixture(autouse=True)
def _no_server_left_running() -> Iterator[None]:
    """Kill any server process a test started and did not stop (it failed half-way)."""
    from tests.e2e.test_cli import STARTED

    yield
    while STARTED:
        process = STARTED.pop()
        if process.returncode is None:
            process.kill()
