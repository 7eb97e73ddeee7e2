"""Autobahn TestSuite cases against the sans-I/O decoder: bytes in, events and failure out.

The cases (see tests/protocol/autobahn.py) are the ones that came out NON-STRICT or FAILED
for issue 12: messages decoded in the same read as a protocol error were dropped (3.2-3.4,
4.1.3-4.1.5, 4.2.3-4.2.5, 5.15), bytes after a close frame failed the connection with 1002
instead of a clean 1000 (7.1.2-7.1.6), and invalid UTF-8 inside one text frame was found
only once the frame was complete (6.4.3, 6.4.4).
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from roost._errors import InvalidFrameData, ProtocolError
from roost.protocol import CloseReceived, Event, FrameDecoder, TextMessage

from .autobahn import CASES, HELLO, Case, masked


def feed(chops: Iterable[bytes]) -> tuple[list[Event], int | None, int | None]:
    """Decode ``chops`` in order as a server: the events, the failure's close code, and the
    index of the chop after which the decoder had failed (None when it did not)."""
    decoder = FrameDecoder()
    events: list[Event] = []
    for index, chop in enumerate(chops):
        try:
            events += decoder.receive_data(chop)
        except ProtocolError as exc:
            return events, exc.close_code, index
        if decoder.failure is not None:
            return events, decoder.failure.close_code, index
    return events, None, None


def messages(events: list[Event]) -> tuple[str | bytes, ...]:
    return tuple(e.data for e in events if not isinstance(e, CloseReceived))  # type: ignore[union-attr]


@pytest.mark.parametrize("case", CASES, ids=[c.number for c in CASES])
def test_case_as_the_suite_chops_it(case: Case) -> None:
    """Each case's chops, fed one by one: the messages before the error all come out, and the
    failure (or the clean close) is the one RFC 6455 asks for, no later than ``fail_at``."""
    events, code, failed_at = feed(case.chops)
    assert messages(events) == case.echoed
    if case.close_code == 1000:
        assert code is None
        assert events[-1] == CloseReceived(1000, "")
    else:
        assert code == case.close_code
        if case.fail_at is not None:
            assert failed_at == case.fail_at


@pytest.mark.parametrize("case", CASES, ids=[c.number for c in CASES])
def test_case_in_one_read(case: Case) -> None:
    """All of a case's bytes arriving in a single read (what TCP often does with the suite's
    chops): no message decoded before the error is lost."""
    events, code, _ = feed([case.wire])
    assert messages(events) == case.echoed
    assert code == (None if case.close_code == 1000 else case.close_code)


@pytest.mark.parametrize("case", CASES, ids=[c.number for c in CASES])
def test_case_octet_by_octet(case: Case) -> None:
    """The same bytes one octet per read: the same messages and the same close code."""
    wire = case.wire
    events, code, _ = feed(wire[i : i + 1] for i in range(len(wire)))
    assert messages(events) == case.echoed
    assert code == (None if case.close_code == 1000 else case.close_code)


def test_a_failure_after_messages_is_kept_and_raised_by_the_next_call() -> None:
    decoder = FrameDecoder()
    events = decoder.receive_data(masked(1, b"one") + masked(1, b"two") + masked(3))
    assert events == [TextMessage("one"), TextMessage("two")]
    assert isinstance(decoder.failure, ProtocolError)
    assert decoder.failure.close_code == 1002
    with pytest.raises(ProtocolError, match="opcode 3"):
        decoder.receive_data(b"")
    with pytest.raises(ProtocolError, match="opcode 3"):
        decoder.receive_data(masked(1, b"three"))


def test_invalid_utf8_fails_while_a_large_text_frame_is_still_arriving() -> None:
    """A 100 KB text frame whose first kilobyte already holds invalid UTF-8: the decoder fails
    on that kilobyte, without buffering the rest of the frame first."""
    wire = masked(1, b"a" * 1000 + b"\xc0\xaf" + b"b" * 99_000)
    decoder = FrameDecoder()
    assert decoder.receive_data(wire[:500]) == []
    with pytest.raises(InvalidFrameData):
        decoder.receive_data(wire[500:1100])


def test_a_character_split_across_fragments_and_reads_is_valid() -> None:
    """The incremental check continues the fragmented message's UTF-8 state: a character split
    between two frames, each split between reads, is not an error."""
    euro = "€".encode()  # 3 bytes
    wire = masked(1, HELLO.encode() + euro[:1], fin=False) + masked(0, euro[1:] + b"!")
    decoder = FrameDecoder()
    events: list[Event] = []
    for i in range(len(wire)):
        events += decoder.receive_data(wire[i : i + 1])
    assert events == [TextMessage(HELLO + "€!")]
    assert decoder.failure is None
