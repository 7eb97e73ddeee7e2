"""The envelope codec's errors live in the one exception tree (``roost._errors``)."""

from __future__ import annotations

from roost._errors import (
    BadEnvelope,
    EnvelopeError,
    EnvelopeTooBig,
    InvalidEnvelopeData,
    UnencodableValue,
    UnsupportedFrame,
    ValueTooLarge,
)

__all__ = [
    "BadEnvelope",
    "EnvelopeError",
    "EnvelopeTooBig",
    "InvalidEnvelopeData",
    "UnencodableValue",
    "UnsupportedFrame",
    "ValueTooLarge",
]
