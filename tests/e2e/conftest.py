from __future__ import annotations

import pytest

from roost import App
from roost.cli import load_app
from tests.support import EXAMPLES


@pytest.fixture(scope="session")
def chat_app_module() -> App:
    return load_app(str(EXAMPLES / "chat.py"))
