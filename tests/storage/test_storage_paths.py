"""Key to file name mapping (G9): hostile keys never leave the data directory."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from roost import BadRequest, ConfigError
from roost.storage import ActorStorage, HandlePool, actor_db_path, validate_actor_type

NAME = re.compile(r"[A-Za-z0-9_-]{0,40}-[0-9a-f]{32}\.sqlite")

HOSTILE_KEYS = [
    "../../x",
    "..",
    ".",
    "/etc/passwd",
    "%00",
    "\0",
    "a\0b",
    "..\\..\\windows",
    "a/../../../b",
    "./.hidden",
    ".hidden",
    "~root",
    "",
    " ",
    "\n",
    "CON",
    "nul.txt",
    "\u202egnp.exe",
    "é" * 300,
    "😀" * 100,
    "/" * 512,
    "x" * 10_000,
    "%2e%2e%2f%2e%2e%2f",
]


@pytest.mark.parametrize("name", ["a", "chat", "y-doc", "room_2", "a" * 64, "z0-_"])
def test_valid_actor_types(name: str) -> None:
    assert validate_actor_type(name) == name


@pytest.mark.parametrize(
    "name", ["", "A", "Chat", "1a", "-a", "_a", "a" * 65, "a b", "a/b", "a.b", "é", "a\n", "a\0"]
)
def test_invalid_actor_types(name: str) -> None:
    with pytest.raises(ConfigError):
        validate_actor_type(name)


def test_actor_type_must_be_a_string() -> None:
    with pytest.raises(ConfigError):
        validate_actor_type(b"chat")  # type: ignore[arg-type]


def test_invalid_actor_type_is_refused_by_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        actor_db_path(tmp_path, "../x", "k")


def test_layout(tmp_path: Path) -> None:
    path = actor_db_path(tmp_path, "chat", "room/42")
    digest = hashlib.sha256(b"chat\0room/42").hexdigest()
    assert path == tmp_path / "actors" / "chat" / digest[:2] / f"room_42-{digest[:32]}.sqlite"


def test_prefix_keeps_40_characters(tmp_path: Path) -> None:
    name = actor_db_path(tmp_path, "chat", "abcdefghij" * 10).name
    assert name.startswith("abcdefghij" * 4 + "-")


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_hostile_keys_stay_inside(tmp_path: Path, key: str) -> None:
    path = actor_db_path(tmp_path, "chat", key)
    root = os.path.abspath(tmp_path)
    assert os.path.commonpath([root, os.path.abspath(path)]) == root
    assert os.path.commonpath([os.path.realpath(tmp_path), os.path.realpath(path)]) == (
        os.path.realpath(tmp_path)
    )
    relative = path.relative_to(tmp_path)
    assert relative.parts[:2] == ("actors", "chat")
    assert len(relative.parts) == 4
    name = path.name
    assert NAME.fullmatch(name), name
    assert not name.startswith(".")
    assert "/" not in name and "\\" not in name and "\0" not in name
    assert ".." not in relative.parts
    assert len(name.encode()) < 100


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_hostile_keys_create_files_inside(tmp_path: Path, key: str) -> None:
    data_dir = tmp_path / "data"
    storage = ActorStorage(
        actor_db_path(data_dir, "chat", key), actor_type="chat", key=key, pool=HandlePool()
    )
    storage.kv.put("x", 1)
    storage.close()
    created = [Path(dirpath, f) for dirpath, _, files in os.walk(tmp_path) for f in files]
    assert created
    for file in created:
        assert os.path.commonpath([os.path.realpath(data_dir), os.path.realpath(file)]) == (
            os.path.realpath(data_dir)
        )


@pytest.mark.parametrize(
    "keys",
    [
        ["room", "Room", "ROOM", "rOOm"],
        ["a/b", "a_b", "a.b", "a b", "a\0b", "a\\b", "a?b", "aéb", "a😀b"],
        ["x" * 40 + "1", "x" * 40 + "2", "x" * 40],
        ["", " ", "_", "-"],
    ],
)
def test_distinct_keys_get_distinct_files(tmp_path: Path, keys: list[str]) -> None:
    names = [actor_db_path(tmp_path, "chat", key).name for key in keys]
    assert len(set(names)) == len(keys)
    # also on case-insensitive file systems
    assert len({name.lower() for name in names}) == len(keys)


def test_type_is_part_of_the_hash(tmp_path: Path) -> None:
    a = actor_db_path(tmp_path, "chat", "k")
    b = actor_db_path(tmp_path, "chatx", "k")
    assert a.name != b.name


def test_deterministic(tmp_path: Path) -> None:
    assert actor_db_path(tmp_path, "chat", "k") == actor_db_path(tmp_path, "chat", "k")


@pytest.mark.parametrize("key", ["\ud800", "a\udfffb"])
def test_key_that_is_not_utf8_is_a_bad_request(tmp_path: Path, key: str) -> None:
    with pytest.raises(BadRequest):
        actor_db_path(tmp_path, "chat", key)


def test_key_must_be_a_string(tmp_path: Path) -> None:
    with pytest.raises(BadRequest):
        actor_db_path(tmp_path, "chat", b"k")  # type: ignore[arg-type]


def test_relative_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = actor_db_path(Path("data"), "chat", "../../x")
    assert path.parts[:3] == ("data", "actors", "chat")


@given(st.text(), st.text())
def test_different_keys_never_share_a_file(a: str, b: str) -> None:
    try:
        pa = actor_db_path(Path("/data"), "chat", a)
        pb = actor_db_path(Path("/data"), "chat", b)
    except BadRequest:
        return
    assert (pa == pb) == (a == b)
    assert os.path.commonpath(["/data", str(pa)]) == "/data"
