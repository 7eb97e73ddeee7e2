"""Run the nodes from one git revision instead of the working tree (``--commit REV``).

The working tree of a shared checkout changes under a long run (someone saves a half-made
edit, a restarted node imports it); a chaos verdict is about one version of roost, so a
failing run should name a commit. :func:`extract` writes the revision's files into the run's
directory, shaped like the installed package (``roost/`` with ``actors/``, ``runtime/``,
``storage/``, ``protocol/`` inside), for the nodes' ``PYTHONPATH``; it never touches the
repository beyond reading it.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Where each subpackage of ``roost`` lives in the repository (pyproject's package-dir).
PACKAGE_DIRS = {
    "actors": "actors",
    "runtime": "runtime",
    "storage": "storage",
    "protocol": "protocol",
}


class SourceError(Exception):
    """The revision could not be read (the harness's own error: it ends the run)."""


def resolve(revision: str) -> str:
    """The commit hash ``revision`` names (SourceError if none)."""
    result = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"],
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        raise SourceError(f"no commit named {revision!r}")
    return result.stdout.decode().strip()


def extract(revision: str, into: Path) -> Path:
    """Write ``roost`` at ``revision`` under ``into``; return the directory to put on
    ``PYTHONPATH`` (it holds ``roost/``)."""
    names = ["roost", *PACKAGE_DIRS.values()]
    result = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", revision, *names],
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        raise SourceError(f"git archive {revision}: {result.stderr.decode().strip()}")
    tree = into / "source"
    with tarfile.open(fileobj=io.BytesIO(result.stdout)) as archive:
        archive.extractall(tree, filter="data")
    package = into / "pythonpath" / "roost"
    package.mkdir(parents=True, exist_ok=True)
    for module in (tree / "roost").iterdir():
        (package / module.name).symlink_to(module)
    for name, folder in PACKAGE_DIRS.items():
        (package / name).symlink_to(tree / folder, target_is_directory=True)
    return package.parent
