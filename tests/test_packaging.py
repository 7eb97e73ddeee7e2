"""The packages: one version, a wheel and an sdist that install and run, the demo inside.

``python -m build --no-isolation`` uses the build and setuptools of .venv (the dev extra), so
no index is needed. The wheel is built from the sdist, which proves the sdist holds everything.
It is installed without dependencies into a fresh venv whose path also reaches .venv's
site-packages (a ``.pth`` line: the dependencies, never .venv's editable roost, whose finder
only a processed ``.pth`` would load), and run from there: ``roost --version``, the import,
and ``roost demo`` serving the page with the JS client's modules.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
import tomllib
import urllib.request
import venv
import zipfile
from pathlib import Path

import roost._version

ROOT = Path(__file__).resolve().parents[1]


def test_one_version_source() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in pyproject["project"]
    assert pyproject["project"]["dynamic"] == ["version"]
    dynamic = pyproject["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "roost._version.__version__"}
    package_json = json.loads((ROOT / "clients" / "js" / "package.json").read_text())
    assert package_json["version"] == roost._version.__version__, (
        "clients/js/package.json's version must be roost/_version.py's"
    )
    assert re.fullmatch(r"\d+\.\d+\.\d+", roost._version.__version__)


def _run(
    args: list[str], cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, capture_output=True, text=True, timeout=240, cwd=cwd, env=env)
    assert done.returncode == 0, f"{args}\n{done.stdout}\n{done.stderr}"
    return done


def _serve_demo(roost: list[str], data: Path, env: dict[str, str]) -> None:
    """``roost demo`` on a free port: the page and the client module it imports are served."""
    with subprocess.Popen(
        [*roost, "demo", "--port", "0", "--host", "127.0.0.1", "--data-dir", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    ) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            match = re.search(r"roost listening on (http://127\.0\.0\.1:\d+)", line)
            assert match, line
            for path, expected in (("/", "<script"), ("/client/roost.js", "export")):
                with urllib.request.urlopen(match.group(1) + path, timeout=10) as reply:
                    assert reply.status == 200 and expected in reply.read().decode(), path
        finally:
            process.terminate()
            assert process.wait(timeout=30) == 0


def test_roost_demo_serves_the_demo_from_the_checkout(tmp_path: Path) -> None:
    _serve_demo([sys.executable, "-m", "roost"], tmp_path, dict(os.environ))


def test_the_wheel_and_the_sdist_build_install_and_run(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(ROOT)])
    version = roost._version.__version__
    wheel, sdist = dist / f"roost-{version}-py3-none-any.whl", dist / f"roost-{version}.tar.gz"
    assert wheel.is_file() and sdist.is_file(), sorted(p.name for p in dist.iterdir())
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {
        "roost/cli.py",
        "roost/py.typed",
        "roost/runtime/_server.py",
        "roost/_demo/demo.py",
        "roost/_demo/chat.py",
        "roost/_demo/presence.py",
        "roost/_demo/web/public/index.html",
        "roost/_demo/web/public/vendor.js",
        "roost/_demo/client/roost.js",
        "roost/runtime/_inspector_page/index.html",
        "roost/runtime/_inspector_page/inspector.js",
        "roost/runtime/_inspector_page/inspector.css",
    } <= names
    assert not any(name.startswith(("tests/", "runtime/", "examples/")) for name in names)
    assert not any("node_modules" in name or "__pycache__" in name for name in names)

    fresh = tmp_path / "venv"
    venv.create(fresh, with_pip=False)
    python = fresh / "bin" / "python"
    purelib = _run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
    ).stdout.strip()
    (Path(purelib) / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    pip = [sys.executable, "-m", "pip", "--python", str(python), "--disable-pip-version-check"]
    _run([*pip, "install", "--no-deps", "--no-index", "-q", str(wheel)])
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    where = _run([str(python), "-c", "import roost; print(roost.__file__)"], cwd=tmp_path, env=env)
    assert where.stdout.strip().startswith(purelib), where.stdout
    assert _run([str(fresh / "bin" / "roost"), "--version"], env=env).stdout == f"roost {version}\n"
    _serve_demo([str(fresh / "bin" / "roost")], tmp_path / "data", env)
