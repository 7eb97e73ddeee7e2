"""The y-websocket wire format, byte by byte (roost.protocol.yjs), against pycrdt's encoders."""

from __future__ import annotations

import pycrdt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from roost.protocol.yjs import (
    AwarenessEntry,
    YjsProtocolError,
    YKind,
    YMessage,
    decode_awareness,
    encode_awareness,
    encode_sync_step1,
    encode_sync_step2,
    encode_update,
    parse_message,
)


def test_sync_messages_parse_to_what_pycrdt_wrote() -> None:
    doc: pycrdt.Doc[pycrdt.Text] = pycrdt.Doc()
    doc["text"] = text = pycrdt.Text()
    text += "hello"
    step1 = pycrdt.create_sync_message(doc)  # pycrdt's own encoder, not ours
    assert parse_message(step1) == YMessage(YKind.SYNC_STEP1, doc.get_state())
    assert encode_sync_step1(doc.get_state()) == step1
    update = doc.get_update()
    assert parse_message(pycrdt.create_update_message(update)) == YMessage(YKind.UPDATE, update)
    assert parse_message(encode_update(update)) == YMessage(YKind.UPDATE, update)
    assert parse_message(encode_sync_step2(update)) == YMessage(YKind.SYNC_STEP2, update)
    # pycrdt answers a step 1 with a step 2 that we read back.
    reply = pycrdt.handle_sync_message(step1[1:], pycrdt.Doc())
    assert reply is not None and parse_message(reply).kind is YKind.SYNC_STEP2


def test_awareness_round_trip_and_pycrdt_agrees() -> None:
    entries = [AwarenessEntry(7, 3, '{"user":{"name":"ann"}}'), AwarenessEntry(300, 1, "null")]
    message = encode_awareness(entries)
    parsed = parse_message(message)
    assert parsed.kind is YKind.AWARENESS
    assert decode_awareness(parsed.payload) == entries
    assert entries[1].removed and not entries[0].removed
    awareness = pycrdt.Awareness(pycrdt.Doc())
    awareness.apply_awareness_update(parsed.payload, origin="test")
    assert awareness.states[7] == {"user": {"name": "ann"}}


def test_query_awareness_and_auth() -> None:
    assert parse_message(b"\x03") == YMessage(YKind.QUERY_AWARENESS, b"")
    assert parse_message(b"\x02\x00\x05denied") == YMessage(YKind.AUTH, b"\x00\x05denied")


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"", "truncated"),
        (b"\x00", "truncated"),
        (b"\x00\x02\x05ab", "truncated"),  # declares 5 bytes, carries 2
        (b"\x00\x07\x00", "unknown y-websocket sync step 7"),
        (b"\x09", "unknown y-websocket message type 9"),
        (b"\x00\x02\x01a!", "trailing bytes"),
        (b"\x03extra", "trailing bytes"),
        (b"\x80" * 9, "varuint too long"),
    ],
)
def test_malformed_frames_are_protocol_errors(frame: bytes, reason: str) -> None:
    with pytest.raises(YjsProtocolError, match=reason) as caught:
        parse_message(frame)
    assert caught.value.close_code == 1007


def test_awareness_lies_and_non_json_states() -> None:
    lying = b"\xff\xff\xff\x7f\x01\x01\x02{}"  # claims 268 million entries, has one
    with pytest.raises(YjsProtocolError, match="truncated"):
        decode_awareness(lying)
    not_json = encode_awareness([AwarenessEntry(1, 1, "{nope")])
    with pytest.raises(YjsProtocolError, match="not JSON"):
        decode_awareness(parse_message(not_json).payload)
    bad_utf8 = b"\x01\x01\x01\x02\xff\xfe"
    with pytest.raises(YjsProtocolError, match="not JSON"):
        decode_awareness(bad_utf8)


@given(st.binary(max_size=64))
def test_any_bytes_parse_or_fail_cleanly(frame: bytes) -> None:
    try:
        message = parse_message(frame)
    except YjsProtocolError:
        return
    if message.kind is YKind.AWARENESS:
        try:
            decode_awareness(message.payload)
        except YjsProtocolError:
            pass


@given(
    st.lists(
        st.tuples(
            st.integers(0, 2**53 - 1), st.integers(0, 2**32), st.sampled_from(["null", "{}", "1"])
        ),
        max_size=8,
    )
)
def test_awareness_encoding_round_trips(raw: list[tuple[int, int, str]]) -> None:
    entries = [AwarenessEntry(*item) for item in raw]
    parsed = parse_message(encode_awareness(entries))
    assert decode_awareness(parsed.payload) == entries
