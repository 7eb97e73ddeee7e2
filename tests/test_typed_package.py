"""The installed package is typed (PEP 561): an app type-checks against roost with mypy --strict.

The package is laid out as an install lays it out (setuptools' build_py, honouring package-dir
and package-data), then mypy finds it on the path as an installed package: without py.typed
it would skip roost and treat every name as Any.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MYPY = Path(sys.executable).with_name("mypy")

APP = """
from roost import Actor, App, Connection


class Echo(Actor):
    async def on_message(self, conn: Connection, message: str | bytes) -> None:
        conn.send(message)


app = App()
app.actor("echo", Echo)
"""

WRONG = """
from roost import App

App().actor(42, "not an actor class")
"""


def _build(tmp_path: Path) -> Path:
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    # examples/ and clients/js/src ship as roost/_demo (pyproject's package-dir).
    demo = ("examples", "clients/js/src")
    for folder in ("roost", "actors", "runtime", "storage", "protocol", *demo):
        shutil.copytree(
            ROOT / folder,
            source / folder,
            ignore=shutil.ignore_patterns("__pycache__", "node_modules"),
        )
    lib = tmp_path / "lib"
    setup = "import setuptools; setuptools.setup()"
    subprocess.run(
        [sys.executable, "-W", "ignore", "-c", setup, "-q", "build_py", "--build-lib", str(lib)],
        cwd=source,
        check=True,
        capture_output=True,
        timeout=120,
    )
    return lib


def _mypy(tmp_path: Path, lib: Path, code: str) -> subprocess.CompletedProcess[str]:
    app = tmp_path / "app.py"
    app.write_text(code)
    return subprocess.run(
        [str(MYPY), "--strict", "--cache-dir", str(tmp_path / "cache"), str(app)],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(lib)},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_an_app_type_checks_against_the_installed_package(tmp_path: Path) -> None:
    lib = _build(tmp_path)
    assert (lib / "roost" / "py.typed").is_file()
    assert (lib / "roost" / "runtime" / "_config.py").is_file()  # package-dir honoured
    clean = _mypy(tmp_path, lib, APP)
    assert clean.returncode == 0, clean.stdout
    wrong = _mypy(tmp_path, lib, WRONG)
    assert wrong.returncode == 1
    assert 'Argument 1 to "actor" of "App" has incompatible type "int"' in wrong.stdout
    assert 'expected "type[Actor]"' in wrong.stdout
