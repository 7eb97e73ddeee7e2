"""A per-connection message rate limit: a token bucket fed by trio's clock.

The rule (``max_messages_per_second`` = r > 0): each connection has a bucket holding at most
``max(r, 1)`` tokens (one second's worth, and at least one message), full when the connection
opens and refilled continuously at r tokens per second. Every text or binary message the client
sends takes one token; a message that finds less than one token is over the limit: it is not
delivered and the connection is closed with 1008 (G8). Control frames (pings, pongs, close) do
not count; they never reach an actor.
"""

from __future__ import annotations


class MessageRate:
    """The token bucket of one connection; ``take`` is called with the arrival time."""

    __slots__ = ("_burst", "_per_second", "_stamp", "_tokens")

    def __init__(self, per_second: float, now: float) -> None:
        if per_second <= 0:
            raise ValueError("per_second must be positive")
        self._per_second = per_second
        self._burst = max(per_second, 1.0)
        self._tokens = self._burst
        self._stamp = now

    @property
    def per_second(self) -> float:
        """The limit: messages per second."""
        return self._per_second

    def take(self, now: float) -> bool:
        """Take one message's token at time ``now``; False when the bucket is empty."""
        tokens = self._tokens + (now - self._stamp) * self._per_second
        self._tokens = min(tokens, self._burst)
        self._stamp = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True
