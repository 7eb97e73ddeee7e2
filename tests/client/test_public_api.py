"""roost.client's public names."""

from __future__ import annotations

import roost.client
from roost import RoostError, RpcError


def test_public_names() -> None:
    assert set(roost.client.__all__) == {
        "RETRIED_CLOSE_CODES",
        "ActorClient",
        "CallTimeout",
        "ClientState",
        "ClientStatistics",
        "Disconnected",
        "Event",
        "Unavailable",
        "actor_url",
        "connect",
    }
    for name in roost.client.__all__:
        assert getattr(roost.client, name) is not None


def test_errors_sit_under_rpc_error() -> None:
    assert issubclass(roost.client.Unavailable, RpcError)
    assert issubclass(roost.client.Disconnected, roost.client.Unavailable)
    assert issubclass(roost.client.CallTimeout, roost.client.Unavailable)
    error = roost.client.Disconnected("lost")
    assert (error.code, error.message, error.retryable) == ("unavailable", "lost", True)
    assert isinstance(error, RoostError)
