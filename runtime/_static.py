"""Files from a directory over plain HTTP, beside the actors: ``app.static("/", "web")``.

A page and its scripts can then come from the same origin as the WebSockets they open. Only
GET and HEAD are served. The part of the path below the mount is split on ``/`` *before* it is
percent-decoded, and each segment is checked on its own, so neither ``..`` nor ``%2e%2e`` nor
``%2F`` can climb out: ``.``, ``..``, NUL, a backslash or a decoded ``/`` in a segment is a 400;
hidden names (``.git``), empty segments, directories, and anything that resolves outside the
directory (through a symlink) are a 404, the same as a file that does not exist.

Files are read whole into the response, in a worker thread: a mount is for a page's assets,
and a file over ``max_file_bytes`` is refused (500, logged) rather than buffered.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path, PurePosixPath

import attrs
import trio

from roost._errors import BadRequest, ConfigError, NotFound
from roost.actors import Response

from ._http import error_response
from ._routing import unquote_to_bytes_strict

log = logging.getLogger("roost.static")

#: ``/`` or ``/name/.../``: plain segments, none hidden, ``.`` or ``..``.
_PREFIX = re.compile(r"/(?:[A-Za-z0-9_~-][A-Za-z0-9._~-]*/)*")

#: Content types by suffix (lowercased); anything else is application/octet-stream. A table
#: rather than :mod:`mimetypes`, whose answers depend on the machine's /etc/mime.types.
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".ico": "image/x-icon",
    ".wasm": "application/wasm",
    ".woff2": "font/woff2",
}

#: Sent with every file: browsers must not guess other types, and should revalidate.
_HEADERS = (("x-content-type-options", "nosniff"), ("cache-control", "no-cache"))


@attrs.frozen
class StaticFiles:
    """One mount: the files under ``directory`` at the URL ``prefix``.

    Attributes:
        prefix: ``/`` or ``/name/.../`` (starts and ends with ``/``).
        directory: the resolved directory served.
        index: the file a path ending in ``/`` serves, or None for 404.
        max_file_bytes: larger files are refused; each response holds one file in memory.
    """

    prefix: str
    directory: Path
    index: str | None = "index.html"
    max_file_bytes: int = 16 * 1024 * 1024

    @classmethod
    def mount(
        cls, prefix: str, directory: str | Path, *, index: str | None, max_file_bytes: int
    ) -> StaticFiles:
        """A checked mount.

        Raises:
            ConfigError: the prefix is not ``/`` or ``/name/.../``, the directory does not
                exist, ``index`` is not a plain file name, or ``max_file_bytes`` < 1.
        """
        if not _PREFIX.fullmatch(prefix):
            raise ConfigError(
                f"static prefix {prefix!r} must be '/' or '/name/.../' (plain segments, "
                "starting and ending with '/')"
            )
        root = Path(directory).resolve()
        if not root.is_dir():
            raise ConfigError(f"static directory {str(directory)!r} is not a directory")
        if index is not None and (not index or index.startswith(".") or "/" in index):
            raise ConfigError(f"index {index!r} must be a plain file name")
        if max_file_bytes < 1:
            raise ConfigError("max_file_bytes must be at least 1")
        return cls(prefix, root, index, max_file_bytes)

    @property
    def first_segment(self) -> str:
        """The prefix's first path segment ("" for the root mount)."""
        return self.prefix.split("/")[1]

    async def respond(self, method: str, raw_path: str) -> Response:
        """Answer ``method`` on ``raw_path`` (the undecoded path, starting with the prefix).

        Raises:
            BadRequest: a segment is malformed or may not appear in a path (``..``, NUL, ...).
            NotFound: no servable file is there.
        """
        if method not in ("GET", "HEAD"):
            response = error_response(405, "method not allowed")
            return attrs.evolve(response, headers=(*response.headers, ("allow", "GET, HEAD")))
        names = self._names(raw_path[len(self.prefix) :])
        path, body = await trio.to_thread.run_sync(self._read, names)
        if len(body) > self.max_file_bytes:
            log.error("static file %s is over max_file_bytes (%d)", path, self.max_file_bytes)
            return error_response(500, "file too large to serve")
        suffix = PurePosixPath(names[-1]).suffix.lower()  # the URL's name, not a link target's
        content_type = CONTENT_TYPES.get(suffix, "application/octet-stream")
        return Response(body=body, content_type=content_type, headers=_HEADERS)

    def _names(self, rest: str) -> list[str]:
        """The decoded path segments below the prefix, the index for a trailing ``/``."""
        names: list[str] = []
        for raw in rest.split("/"):
            try:
                name = unquote_to_bytes_strict(raw).decode("utf-8")
            except (UnicodeDecodeError, ValueError):
                raise BadRequest("malformed path encoding") from None
            if name in (".", "..") or any(c in name for c in "/\\\0"):
                raise BadRequest("path segment not allowed")
            names.append(name)
        if not names[-1]:
            if self.index is None:
                raise NotFound("not found")
            names[-1] = self.index
        if any(not name or name.startswith(".") for name in names):
            raise NotFound("not found")
        return names

    def _read(self, names: list[str]) -> tuple[Path, bytes]:
        """The regular file at ``names`` if it resolves inside the directory (symlinks
        followed), and at most ``max_file_bytes + 1`` of its bytes."""
        try:
            path = self.directory.joinpath(*names).resolve(strict=True)
            if not path.is_relative_to(self.directory) or not path.is_file():
                raise NotFound("not found")
            with path.open("rb") as file:
                return path, file.read(self.max_file_bytes + 1)
        except OSError:
            raise NotFound("not found") from None
