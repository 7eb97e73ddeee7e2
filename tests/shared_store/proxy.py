"""The chaos harness's TCP proxy (chaos/proxy.py) in front of a PostgreSQL server, for tests
that take a database away: :meth:`~chaos.proxy.Proxy.cut` drops every connection and refuses
new ones, like a database that went down; :meth:`~chaos.proxy.Proxy.hang` keeps them open but
forwards nothing, like a database (or a network) that stopped answering without closing
anything, so only a client-side deadline notices; ``restore`` ends either, and bytes held while
hung are delivered then."""

from __future__ import annotations

from psycopg.conninfo import conninfo_to_dict

from chaos.proxy import Proxy


class CuttableProxy(Proxy):
    """Forwards 127.0.0.1:<port> to ``(target_host, target_port)``."""

    @classmethod
    def in_front_of(cls, conninfo: str) -> CuttableProxy:
        """A proxy for the PostgreSQL server that a URL or connection string names."""
        target = conninfo_to_dict(conninfo)
        return cls(str(target.get("host", "127.0.0.1")), int(target.get("port") or 5432))

    def __init__(self, target_host: str, target_port: int) -> None:
        super().__init__("postgres", (target_host, target_port))
