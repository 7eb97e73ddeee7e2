#!/usr/bin/env python3
"""Set everything up, then run the demo server or the test suite.

    python3 dev.py demo [roost serve options]   # the demo server on the embedded defaults
    python3 dev.py test [pytest options]        # the whole test suite (what CI runs): the
                                                # default stage, then the `slow` stage
    python3 dev.py check                        # ruff, mypy (strict) on the library
                                                # and on examples/
    python3 dev.py chaos [--seconds S] [--seed N] [--nodes 3]
                                                # the chaos harness (docs/chaos.md)

Needs nothing but Python 3.11+: it makes ./.venv, installs roost with its dev extras into it
(again only when pyproject.toml changed), then runs the command inside it.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".roost-installed"
DEMO = ["serve", "examples/demo.py"]


def setup() -> None:
    """Create the virtualenv and install the project into it, when needed."""
    if sys.version_info < (3, 11):  # noqa: UP036 - this script may run on any python3
        sys.exit(f"roost needs Python 3.11 or newer, this is {sys.version.split()[0]}")
    if not (BIN / "python").exists():
        print("dev.py: creating .venv", flush=True)
        venv.create(VENV, with_pip=True)
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if not STAMP.exists() or STAMP.read_text() != wanted:
        print("dev.py: installing roost and its dev dependencies into .venv", flush=True)
        pip = [str(BIN / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
        subprocess.run([*pip, "--upgrade", "pip"], check=True, cwd=ROOT)
        subprocess.run([*pip, "-e", ".[dev]"], check=True, cwd=ROOT)
        STAMP.write_text(wanted)


PACKAGES = {"actors": "actors", "runtime": "runtime", "storage": "storage", "protocol": "protocol"}


def typecheck_tree() -> Path:
    """A symlink tree shaped like the installed package, because mypy cannot follow
    pyproject's package-dir mapping: .typecheck/roost/{*.py, actors/, runtime/, ...}."""
    tree = ROOT / ".typecheck" / "roost"
    tree.mkdir(parents=True, exist_ok=True)
    wanted = {p.name: p for p in (ROOT / "roost").glob("*.py")}
    wanted.update({name: ROOT / folder for name, folder in PACKAGES.items()})
    for link in tree.iterdir():
        if link.name not in wanted or link.resolve() != wanted[link.name].resolve():
            link.unlink()
    for name, target in wanted.items():
        if not (tree / name).is_symlink():
            (tree / name).symlink_to(target)
    return tree


def check() -> int:
    """ruff on everything; mypy strict on the library and on examples/, which type-check
    against it as an app would (examples import ``roost``, found in the same run)."""
    status = subprocess.call([str(BIN / "ruff"), "check", "."], cwd=ROOT)
    status |= subprocess.call([str(BIN / "ruff"), "format", "--check", "."], cwd=ROOT)
    tree = typecheck_tree()
    status |= subprocess.call(
        [str(BIN / "mypy"), "--strict", str(tree.relative_to(ROOT)), "examples", "chaos"], cwd=ROOT
    )
    return status


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("demo", "test", "check", "chaos"):
        print(__doc__, file=sys.stderr)
        return 2
    setup()
    command, rest = argv[0], argv[1:]
    if command == "demo":
        return subprocess.call([str(BIN / "roost"), *DEMO, *rest], cwd=ROOT)
    if command == "check":
        return check()
    if command == "chaos":
        return subprocess.call([str(BIN / "python"), "-m", "chaos", *rest], cwd=ROOT)
    if rest:  # an explicit selection runs as given
        return pytest(rest)
    # The whole suite in two stages: the default one (minutes), then the slow fault and load
    # tests (marked `slow`), which have their own time budget in CI.
    return pytest(["-m", "not slow"]) or pytest(["-m", "slow"])


def pytest(args: list[str]) -> int:
    """Run pytest in .venv; collecting no test at all is a failure, not a pass."""
    status = subprocess.call([str(BIN / "python"), "-m", "pytest", *args], cwd=ROOT)
    if status == 5:
        print(f"dev.py: pytest ran no tests ({' '.join(args)})", file=sys.stderr)
        return 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
