"""``roost new NAME``: the app it writes serves, and its tests pass as generated."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from roost.cli import load_app, main


def test_the_generated_app_loads_and_its_tests_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["new", "my-app"]) == 0
    made = tmp_path / "my-app"
    assert sorted(p.name for p in made.iterdir()) == ["README.md", "app.py", "test_app.py"]
    assert "roost serve app.py" in capsys.readouterr().out
    readme = (made / "README.md").read_text()
    assert "roost serve app.py" in readme and "pytest" in readme
    assert [t.name for t in load_app(str(made / "app.py"))] == ["room"]
    # Its own pytest run, outside this project's configuration (no trio_mode, no rootdir ini).
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error"],
        cwd=made,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout, result.stdout


@pytest.mark.parametrize(
    "name", ["", "1app", "a/b", "../up", "a b", ".hidden", "a" * 65, "é", "-x"]
)
def test_a_bad_name_is_refused_in_one_line(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["new", "--", name] if name.startswith("-") else ["new", name]) == 2
    err = capsys.readouterr().err
    assert err.startswith("roost new: invalid app name") and err.count("\n") == 1, err
    assert list(tmp_path.iterdir()) == []


def test_an_existing_directory_is_never_overwritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "app.py").write_text("mine\n")
    assert main(["new", "app"]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and err.count("\n") == 1, err
    assert (tmp_path / "app" / "app.py").read_text() == "mine\n"
    assert [p.name for p in (tmp_path / "app").iterdir()] == ["app.py"]
