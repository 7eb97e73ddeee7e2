"""--commit: roost at one revision, importable from a directory of its own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chaos.source import SourceError, extract, resolve


def test_a_revision_is_extracted_as_an_importable_package(tmp_path: Path) -> None:
    commit = resolve("HEAD")
    assert len(commit) == 40
    path = extract(commit, tmp_path)
    code = "import roost, roost.runtime, roost.storage._shared; print(roost.runtime.__file__)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(path)},
        cwd=tmp_path,  # not the checkout, whose roost/ would come first
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.startswith(str(tmp_path))


def test_an_unknown_revision_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no commit"):
        resolve("no-such-revision-anywhere")
    with pytest.raises(SourceError, match="git archive"):
        extract("no-such-revision-anywhere", tmp_path)
