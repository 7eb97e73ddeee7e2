"""The client side of envelope rpc, sans-I/O: call ids, reply decoding, the error mapping.

roost's client and its test kit both call actors over the envelope protocol; this is what
they share so a call fails the same way in both: an ``unavailable`` reply is the retryable
:class:`~roost.Unavailable`, any other error reply an :class:`~roost.RpcError` with its code.
Waiting for the reply is the caller's job (it has the clock and the tasks).
"""

from __future__ import annotations

from typing import Any

from roost._errors import BadEnvelope, RpcError, Unavailable

from ._envelope import MAX_CALL_ID, Call, EnvelopeCodec, ErrorReply, Result, ServerEvent

__all__ = ["CallEncoder", "error_for_reply", "outcome"]


def error_for_reply(reply: ErrorReply) -> RpcError:
    """The exception a caller raises for an error reply; the one place this is decided."""
    if reply.code == "unavailable":
        return Unavailable(reply.message)
    return RpcError(reply.code, reply.message)


def outcome(reply: Result | ErrorReply) -> Any:
    """The value of a reply, or raise its error.

    Raises:
        RpcError: the reply is an error (:class:`~roost.Unavailable` for ``unavailable``).
    """
    if isinstance(reply, ErrorReply):
        raise error_for_reply(reply)
    return reply.value


class CallEncoder:
    """Numbers calls and reads what the server sends, for one envelope connection.

    Args:
        codec: a client-side codec (``EnvelopeCodec(kind, client=True)``).
    """

    def __init__(self, codec: EnvelopeCodec) -> None:
        if not codec.client:
            raise ValueError("a CallEncoder needs a client-side codec")
        self.codec = codec
        self._next_id = 1

    def call(self, method: str, args: dict[str, Any]) -> tuple[int, str | bytes]:
        """A fresh call id and the message (str: text, bytes: binary) calling ``method``.

        Raises:
            UnencodableValue: an argument is outside the data model (also a ValueError).
        """
        call_id = self._next_id
        self._next_id = 1 if call_id >= MAX_CALL_ID else call_id + 1
        return call_id, self.codec.encode(Call(call_id, method, args))

    def receive(self, message: str | bytes) -> Result | ErrorReply | ServerEvent | None:
        """Decode one message from the server; None for a valid value that is no envelope
        this side knows (a newer protocol's): ignored, as peers must.

        Raises:
            EnvelopeError: the message breaks the protocol (its ``close_code`` says how to
                close: see :func:`~roost.protocol.close_code_for`).
        """
        try:
            envelope = self.codec.decode(message)
        except BadEnvelope:
            return None
        assert not isinstance(envelope, Call)  # a client codec never yields one
        return envelope
