"""Where an actor's SQLite file lives: key to file name, safely (G9).

Keys are arbitrary strings chosen by clients, so they never become a path on their own. A file
name is a short readable prefix of the key, restricted to ``[A-Za-z0-9_-]``, followed by a hash
of the actor type and the full key; the hash keeps distinct keys in distinct files (also keys
that differ only by case, on case-insensitive file systems, or by characters the prefix
replaces), the prefix lets an operator recognise a file. Files are spread over 256 shard
directories so no directory grows too large.

::

    <data_dir>/actors/<type>/<shard>/<prefix>-<hash>.sqlite
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from roost._errors import BadRequest, ConfigError, StorageError

__all__ = ["actor_db_path", "validate_actor_type"]

_ACTOR_TYPE = re.compile(r"[a-z][a-z0-9_-]{0,63}")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")

#: How many characters of the key the readable prefix keeps.
PREFIX_CHARS = 40
#: How many hex digits of the SHA-256 go into the file name (128 bits).
HASH_HEX_DIGITS = 32


def validate_actor_type(name: str) -> str:
    """Check that ``name`` can name an actor type, and return it.

    An actor type is a URL path segment and a directory name, so it is kept to lowercase ASCII
    letters, digits, ``_`` and ``-``, starting with a letter, at most 64 characters.

    Raises:
        ConfigError: if ``name`` is not a valid actor type.
    """
    if not isinstance(name, str) or _ACTOR_TYPE.fullmatch(name) is None:
        raise ConfigError(
            f"invalid actor type {name!r}: use 1 to 64 characters from a-z, 0-9, '_' and '-', "
            "starting with a letter"
        )
    return name


def actor_db_path(data_dir: Path, actor_type: str, key: str) -> Path:
    """Return the SQLite file of the actor ``(actor_type, key)`` under ``data_dir``.

    The result depends only on its arguments (no file system access), never leaves
    ``data_dir`` whatever the key, and its file name stays under 100 bytes.

    Args:
        data_dir: The node's data directory.
        actor_type: A valid actor type (see :func:`validate_actor_type`).
        key: Any string that can be encoded as UTF-8; its length is the router's business.

    Raises:
        ConfigError: if ``actor_type`` is invalid.
        BadRequest: if ``key`` is not a string or cannot be encoded as UTF-8 (lone surrogates).
        StorageError: if the path would leave ``data_dir`` (a bug, checked anyway).
    """
    validate_actor_type(actor_type)
    if not isinstance(key, str):
        raise BadRequest("actor key must be a string")
    try:
        key_bytes = key.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest("actor key is not valid UTF-8") from None
    digest = hashlib.sha256(actor_type.encode("ascii") + b"\0" + key_bytes).hexdigest()
    prefix = _UNSAFE.sub("_", key[:PREFIX_CHARS])
    name = f"{prefix}-{digest[:HASH_HEX_DIGITS]}.sqlite"
    # Lexical check of the part below data_dir (no symlink resolution: an operator may mount
    # actors/ elsewhere). Its components cannot contain separators or dots, so this never
    # fires; it is a tripwire against future edits, cheap enough for every activation (this
    # function runs several times per activation: no absolute paths, no commonpath).
    inside = f"actors{os.sep}{actor_type}{os.sep}{digest[:2]}{os.sep}{name}"
    if os.path.normpath(inside) != inside or inside.count(os.sep) != 3:
        raise StorageError("actor file would leave the data directory")
    return Path(data_dir, inside)
