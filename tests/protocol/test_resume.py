"""The wire side of resumable streams: the ``?resume=`` position and the ``resync`` event."""

from __future__ import annotations

import pytest

from roost._errors import HandshakeError
from roost.protocol import RESYNC, EnvelopeCodec, ServerEvent, parse_resume, resync_event


def test_absent_means_no_resume() -> None:
    assert parse_resume(None) is None


@pytest.mark.parametrize("value", ["0", "7", "0042", "9007199254740991"])
def test_decimal_positions(value: str) -> None:
    assert parse_resume(value) == int(value)


@pytest.mark.parametrize(
    "value",
    ["", "-1", "+1", "1.0", "1e3", " 1", "0x10", "abc", "9007199254740992", "1" * 17, "١٢"],
)
def test_anything_else_is_refused_with_400(value: str) -> None:
    with pytest.raises(HandshakeError) as info:
        parse_resume(value)
    assert info.value.status == 400


def test_the_resync_event_carries_the_position() -> None:
    event = resync_event(99)
    assert event == ServerEvent(RESYNC, None, seq=99)
    codec = EnvelopeCodec("json")
    assert codec.encode(event) == '{"type":"event","name":"resync","data":null,"seq":99}'
    assert EnvelopeCodec("json", client=True).decode(codec.encode(event)) == event
