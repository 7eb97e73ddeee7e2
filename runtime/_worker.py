"""What a worker process of ``roost serve --workers N`` learns from its supervisor.

The supervisor (roost/_supervisor.py) binds the public listening socket once and starts N
workers that all accept on it (the kernel spreads the connections), each a node of the cluster
with a node id of its own. It passes them, in the environment, the inherited socket's
descriptor, the worker's index, the supervisor's id (which names the workers' hand-off
sockets) and a cluster secret of its own, so ``--workers`` needs no ``--cluster-secret``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from pathlib import Path

import attrs

from roost._errors import ConfigError

#: The environment variables a worker reads (set by the supervisor, never by hand).
ENV_INDEX = "ROOST_WORKER_INDEX"
ENV_COUNT = "ROOST_WORKER_COUNT"
ENV_SUPERVISOR = "ROOST_SUPERVISOR_ID"
ENV_LISTEN_FD = "ROOST_WORKER_LISTEN_FD"
ENV_SECRET = "ROOST_WORKER_SECRET"
#: Set only with ``--admin-port``: the supervisor binds the admin listener once too.
ENV_ADMIN_FD = "ROOST_WORKER_ADMIN_FD"


@attrs.frozen(kw_only=True)
class WorkerContext:
    """One worker's place among its siblings.

    Attributes:
        index: 0 to count - 1; a restarted worker keeps its index, hence its node id.
        count: how many workers the supervisor runs.
        supervisor_id: random hex naming this supervisor's run (and the hand-off sockets).
        listen_fd: the inherited public listening socket.
        secret: the cluster secret the supervisor made for its workers' links.
        admin_fd: the inherited admin listening socket (``--admin-port``), or None.
    """

    index: int
    count: int
    supervisor_id: str
    listen_fd: int
    secret: str = attrs.field(repr=False)
    admin_fd: int | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WorkerContext | None:
        """The context the supervisor passed, or None in a process that is not a worker.

        Raises:
            ConfigError: the variables are there but malformed.
        """
        environ = os.environ if environ is None else environ
        if ENV_INDEX not in environ:
            return None
        try:
            return cls(
                index=int(environ[ENV_INDEX]),
                count=int(environ[ENV_COUNT]),
                supervisor_id=environ[ENV_SUPERVISOR],
                listen_fd=int(environ[ENV_LISTEN_FD]),
                secret=environ[ENV_SECRET],
                admin_fd=int(environ[ENV_ADMIN_FD]) if ENV_ADMIN_FD in environ else None,
            )
        except (KeyError, ValueError) as exc:
            raise ConfigError(f"malformed worker environment: {exc}") from None

    def node_dir(self, data_dir: Path) -> Path:
        """This worker's own directory in the shared data dir (node id, node.sqlite)."""
        return data_dir / "workers" / str(self.index)

    def handoff_address(self, index: int) -> str:
        """The abstract unix socket on which worker ``index`` takes handed-off connections."""
        return f"\0roost-{self.supervisor_id}-{index}"

    def listener(self) -> socket.socket:
        """The inherited public listening socket, non-blocking."""
        return _inherited(self.listen_fd)

    def admin_listener(self) -> socket.socket | None:
        """The inherited admin listening socket (``--admin-port``), non-blocking, or None."""
        return None if self.admin_fd is None else _inherited(self.admin_fd)


def _inherited(fd: int) -> socket.socket:
    sock = socket.socket(fileno=fd)
    sock.setblocking(False)
    return sock
