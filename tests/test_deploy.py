"""deploy/: the systemd unit and the proxy configurations say what docs/operations.md says."""

from __future__ import annotations

import re
from pathlib import Path

from roost.cli import LOG_LEVEL_ENV, RELOAD_ENV
from roost.runtime import ServerConfig
from roost.runtime._config import SETTINGS

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
OPERATIONS = (ROOT / "docs" / "operations.md").read_text()


def _unit() -> dict[str, list[tuple[str, str]]]:
    """The unit's sections, each a list of (key, value) in order (keys repeat)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for raw in (DEPLOY / "roost.service").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), [])
            continue
        assert current is not None, line
        key, _, value = line.partition("=")
        current.append((key, value))
    return sections


def test_the_systemd_unit_runs_a_dedicated_user_and_stops_gracefully() -> None:
    unit = _unit()
    assert set(unit) == {"Unit", "Service", "Install"}
    service = dict(unit["Service"])  # the last value of a repeated key; fine for these
    assert service["User"] == service["Group"] == "roost"
    assert " serve " in service["ExecStart"] and service["ExecStart"].split()[0].endswith("roost")
    assert (service["Restart"], service["KillSignal"]) == ("on-failure", "SIGTERM")
    env = dict(v.split("=", 1) for k, v in unit["Service"] if k == "Environment")
    assert env["ROOST_DATA_DIR"] == "/var/lib/" + service["StateDirectory"]
    assert env["ROOST_DATA_DIR"] in service["ReadWritePaths"].split()
    assert env["ROOST_HOST"] == "127.0.0.1"
    shutdown = float(env["ROOST_SHUTDOWN_TIMEOUT"])
    assert shutdown == ServerConfig().shutdown_timeout
    assert float(service["TimeoutStopSec"]) > shutdown + 5  # systemd's SIGKILL comes after
    known = {s.env for s in SETTINGS} | {LOG_LEVEL_ENV}
    named = set(re.findall(r"\bROOST_[A-Z_]+", (DEPLOY / "roost.service").read_text()))
    assert named <= known and RELOAD_ENV not in named, named - known
    assert dict(unit["Install"])["WantedBy"] == "multi-user.target"


def _doc_block(language: str) -> list[str]:
    section = OPERATIONS.partition("### TLS with Caddy or nginx")[2].partition("\n### ")[0]
    block = re.search(rf"```{language}\n(.*?)```", section, re.S)
    assert block, f"no {language} block in docs/operations.md"
    return [line.strip() for line in block.group(1).splitlines() if line.strip()]


def test_the_proxy_configurations_are_the_documented_recipes() -> None:
    port = dict(v.split("=", 1) for k, v in _unit()["Service"] if k == "Environment")["ROOST_PORT"]
    for name, language in (("Caddyfile", "caddyfile"), ("nginx.conf", "nginx")):
        text = (DEPLOY / name).read_text()
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        recipe = _doc_block(language)
        assert [line for line in lines if line in recipe] == recipe, name
        assert f"127.0.0.1:{port}" in text, name
    assert "deploy/" in OPERATIONS
