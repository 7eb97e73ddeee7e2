"""WebSocketConnection, the sans-I/O endpoint shared by the client, the test kit and the server:
byte-level pairs of what goes in and what comes out, and a client and a server talking."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from roost._errors import (
    ConnectionClosed,
    InvalidEnvelopeData,
    MessageTooBig,
    RpcError,
    Unavailable,
    UnsupportedFrame,
)
from roost.protocol import (
    BinaryMessage,
    CallEncoder,
    CloseReceived,
    ConnectionFailed,
    ConnectionState,
    EnvelopeCodec,
    ErrorReply,
    FrameDecoder,
    Opcode,
    Ping,
    Pong,
    Result,
    ServerEvent,
    TextMessage,
    WebSocketConnection,
    check_close_code,
    close_code_for,
    encode_close,
    encode_frame,
    error_for_reply,
    outcome,
)

MASK = b"\x01\x02\x03\x04"


def client() -> WebSocketConnection:
    return WebSocketConnection(client=True, mask=lambda: MASK)


def server() -> WebSocketConnection:
    return WebSocketConnection(client=False)


def test_client_frames_are_masked_byte_for_byte() -> None:
    conn = client()
    # RFC 6455 §5.7 "Hello" with our mask: 0x81 0x85, the mask, the masked payload.
    assert conn.send_text("Hello") == b"\x81\x85" + MASK + bytes(
        b ^ MASK[i % 4] for i, b in enumerate(b"Hello")
    )
    assert conn.send_binary(b"") == b"\x82\x80" + MASK
    assert conn.send_message("") == b"\x81\x80" + MASK
    assert conn.send_ping(b"") == b"\x89\x80" + MASK


def test_server_frames_are_not_masked() -> None:
    conn = server()
    assert conn.send_text("Hello") == b"\x81\x05Hello"
    assert conn.send_message(b"\x00") == b"\x82\x01\x00"
    assert conn.send_close(1001, "bye") == b"\x88\x05\x03\xe9bye"


def test_a_ping_is_answered_with_a_pong_echoing_it() -> None:
    conn = client()
    assert conn.receive_data(b"\x89\x02hi") == [Ping(b"hi")]
    assert conn.data_to_send() == b"\x8a\x82" + MASK + bytes((ord("h") ^ 1, ord("i") ^ 2))
    assert conn.data_to_send() == b""  # handed out once
    assert conn.receive_data(b"\x8a\x00") == [Pong(b"")]
    assert conn.data_to_send() == b""
    assert conn.state is ConnectionState.OPEN


def test_the_peers_close_is_echoed_and_ends_the_connection() -> None:
    conn = server()
    frame = encode_frame(Opcode.CLOSE, b"\x03\xe8done", mask=MASK)
    assert conn.receive_data(frame) == [CloseReceived(1000, "done")]
    assert conn.data_to_send() == b"\x88\x02\x03\xe8"  # the code, without the reason
    assert conn.state is ConnectionState.CLOSED
    assert (conn.close_code, conn.close_reason) == (1000, "done")
    with pytest.raises(ConnectionClosed) as closed:
        conn.send_text("late")
    assert closed.value.code == 1000
    assert conn.send_close() == b""  # nothing more to close
    assert conn.receive_data(b"\x81\x80" + MASK) == []  # ignored after the close


def test_an_empty_close_is_echoed_empty() -> None:
    conn = client()
    assert conn.receive_data(b"\x88\x00") == [CloseReceived(1005, "")]
    assert conn.data_to_send() == b"\x88\x80" + MASK


def test_our_close_waits_for_the_echo() -> None:
    conn = client()
    assert conn.send_close(4000, "go") == b"\x88\x84" + MASK + bytes(
        b ^ MASK[i] for i, b in enumerate(b"\x0f\xa0go")
    )
    assert conn.state is ConnectionState.CLOSE_SENT
    assert conn.send_close() == b""  # idempotent
    with pytest.raises(ConnectionClosed):
        conn.send_binary(b"x")
    with pytest.raises(ConnectionClosed):
        conn.send_ping()
    # Messages still arrive until the echo; a ping is no longer answered.
    assert conn.receive_data(b"\x81\x01a\x89\x00\x88\x02\x0f\xa0\x81\x01b") == [
        TextMessage("a"),
        Ping(b""),
        CloseReceived(4000, ""),
    ]
    assert conn.data_to_send() == b""  # no pong, no second close
    assert conn.state is ConnectionState.CLOSED
    assert conn.close_code == 4000


def test_messages_before_a_protocol_error_come_first_then_one_failure() -> None:
    conn = client()
    events = conn.receive_data(b"\x81\x02ok\x81\x82" + MASK + b"xx")  # a masked server frame
    assert events == [TextMessage("ok"), ConnectionFailed(1002, "server frame is masked")]
    # A client tells the broken server only the code: 1002 masked, no reason.
    assert conn.data_to_send() == b"\x88\x82" + MASK + bytes((0x03 ^ 1, 0xEA ^ 2))
    assert conn.state is ConnectionState.CLOSED
    assert (conn.close_code, conn.close_reason) == (1002, "server frame is masked")
    assert conn.receive_data(b"\x81\x01a") == []


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"\x81\x02\xff\xfe", 1007),  # not UTF-8
        (b"\x82\x7e\x10\x00", 1009),  # 4096 bytes declared, over the limit of 1024
        (b"\x83\x00", 1002),  # unknown opcode
        (b"\x88\x02\x03\xee", 1002),  # close code 1006 may not be sent
    ],
)
def test_each_protocol_error_has_its_close_code(data: bytes, code: int) -> None:
    conn = WebSocketConnection(client=True, max_message_size=1024, mask=lambda: MASK)
    [failed] = conn.receive_data(data)
    assert isinstance(failed, ConnectionFailed) and failed.code == code
    assert conn.data_to_send()[:1] == b"\x88"  # a close frame follows, with the code
    assert conn.close_code == code


def test_eof_without_a_close_frame_is_1006() -> None:
    conn = server()
    conn.receive_eof()
    assert conn.state is ConnectionState.CLOSED
    assert conn.close_code == 1006
    conn.receive_eof()  # twice is fine
    closed = client()
    closed.receive_data(b"\x88\x02\x03\xe8")
    closed.receive_eof()
    assert closed.close_code == 1000  # the close frame's code stays


def test_fail_maps_envelope_and_other_errors_in_one_place() -> None:
    assert close_code_for(UnsupportedFrame("text in cbor")) == (1003, "text in cbor")
    assert close_code_for(InvalidEnvelopeData("bad")) == (1007, "bad")
    assert close_code_for(MessageTooBig("big")) == (1009, "big")
    assert close_code_for(KeyError("secret detail")) == (1011, "internal error")
    conn = server()
    assert conn.fail(UnsupportedFrame("x")) == b"\x88\x03\x03\xebx"  # a server says why
    assert conn.state is ConnectionState.CLOSED and conn.close_code == 1003
    assert conn.fail(KeyError()) == b""  # already over: nothing more to send
    after_close = server()
    after_close.send_close()
    assert after_close.fail(InvalidEnvelopeData("y")) == b""
    assert after_close.state is ConnectionState.CLOSED and after_close.close_code == 1007


def test_a_close_code_that_may_not_be_sent_is_refused() -> None:
    conn = client()
    with pytest.raises(ValueError):
        conn.send_close(1006)
    assert conn.state is ConnectionState.OPEN


def test_call_encoder_numbers_calls_and_reads_replies() -> None:
    encoder = CallEncoder(EnvelopeCodec("json", client=True))
    assert encoder.call("say", {"text": "hi"}) == (
        1,
        '{"type":"call","id":1,"method":"say","args":{"text":"hi"}}',
    )
    assert encoder.call("who", {})[0] == 2
    assert encoder.receive('{"type":"result","id":1,"value":3}') == Result(1, 3)
    assert encoder.receive('{"type":"event","name":"x","data":null}') == ServerEvent("x", None)
    assert encoder.receive('{"type":"hello"}') is None  # a newer protocol's envelope: ignored
    with pytest.raises(UnsupportedFrame):
        encoder.receive(b"\xa0")
    with pytest.raises(ValueError):
        CallEncoder(EnvelopeCodec("json"))  # a server-side codec


def test_error_replies_map_to_the_same_errors_as_the_client() -> None:
    unavailable = error_for_reply(ErrorReply(1, "unavailable", "stopping"))
    assert isinstance(unavailable, Unavailable) and unavailable.message == "stopping"
    other = error_for_reply(ErrorReply(1, "not_found", "no method"))
    assert type(other) is RpcError and (other.code, other.message) == ("not_found", "no method")
    assert outcome(Result(1, [1])) == [1]
    with pytest.raises(RpcError, match="bad_request"):
        outcome(ErrorReply(1, "bad_request", "x"))


def test_a_value_that_is_no_envelope_is_ignored() -> None:
    encoder = CallEncoder(EnvelopeCodec("cbor", client=True))
    assert encoder.receive(b"\x01") is None  # a valid value but no envelope


MESSAGES = st.lists(st.one_of(st.text(max_size=200), st.binary(max_size=300)), max_size=8)


@given(MESSAGES, st.binary(min_size=4, max_size=4), st.integers(1, 50), st.integers(1000, 1003))
def test_client_and_server_talk_through_any_split(
    messages: list[str | bytes], mask: bytes, chunk: int, code: int
) -> None:
    """Whatever one side sends, the other receives, however the bytes are cut; then the close
    handshake ends both with the same code and nothing left to send."""
    a = WebSocketConnection(client=True, mask=lambda: mask)
    b = WebSocketConnection(client=False)
    wire = b"".join(a.send_message(m) for m in messages) + a.send_ping(b"p")
    received = []
    for start in range(0, len(wire), chunk):
        received += b.receive_data(wire[start : start + chunk])
    assert received == [
        TextMessage(m) if isinstance(m, str) else BinaryMessage(m) for m in messages
    ] + [Ping(b"p")]
    assert a.receive_data(b.data_to_send()) == [Pong(b"p")]
    back = b"".join(b.send_message(m) for m in messages)
    assert [e for e in a.receive_data(back)] == received[:-1]
    assert b.receive_data(a.send_close(code)) == [CloseReceived(code, "")]
    assert a.receive_data(b.data_to_send()) == [CloseReceived(code, "")]
    assert a.state is b.state is ConnectionState.CLOSED
    assert a.close_code == b.close_code == code
    assert a.data_to_send() == b.data_to_send() == b""


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    """Garbage from the peer ends in events and at most one failure, never an exception."""
    for side in (client(), server()):
        events = side.receive_data(data)
        failures = [e for e in events if isinstance(e, ConnectionFailed)]
        assert len(failures) <= 1 and (not failures or events[-1] is failures[0])
        if failures:
            assert side.state is ConnectionState.CLOSED
            assert side.data_to_send().startswith(b"\x88")


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1008, 1011, 1012, 1014, 3000, 4999])
def test_sendable_close_codes_pass_the_one_rule(code: int) -> None:
    check_close_code(code)
    assert encode_close(code)[2:4] == code.to_bytes(2, "big")


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, -1])
def test_reserved_and_unregistered_close_codes_are_refused_everywhere(code: int) -> None:
    """The server's check (actors' conn.close) is protocol's, the rule encode_close keeps."""
    from roost.runtime._websocket import check_close_code as servers_check

    assert servers_check is check_close_code
    with pytest.raises(ValueError, match=f"close code {code} cannot be sent"):
        check_close_code(code)
    if code != 1005:  # sendable by encode_close only as the empty close ("no status")
        with pytest.raises(ValueError):
            server().send_close(code)


def test_the_server_owes_nothing_until_a_control_frame_arrives() -> None:
    ws = server()
    assert ws.receive_data(encode_frame(Opcode.TEXT, b"hi", mask=MASK)) == [TextMessage("hi")]
    assert ws.data_to_send() == b""
    assert ws.receive_data(encode_frame(Opcode.PING, b"p", mask=MASK)) == [Ping(b"p")]
    assert ws.data_to_send() == b"\x8a\x01p"
    assert ws.data_to_send() == b""


def test_the_decoder_counts_control_frames_so_message_reads_skip_them() -> None:
    """The core looks through a read's events only when a control frame came (the hot path of
    a busy server is messages only); a ping among messages is still answered, in order."""
    ws = server()
    decoder = FrameDecoder()
    text = encode_frame(Opcode.TEXT, b"a", mask=MASK)
    assert decoder.receive_data(text * 3) == [TextMessage("a")] * 3
    assert decoder.controls == 0
    ping = encode_frame(Opcode.PING, b"1", mask=MASK)
    pong = encode_frame(Opcode.PONG, b"", mask=MASK)
    decoder.receive_data(text + ping + pong + text)
    assert decoder.controls == 2
    events = ws.receive_data(text + ping + text + ping)
    assert events == [TextMessage("a"), Ping(b"1"), TextMessage("a"), Ping(b"1")]
    assert ws.data_to_send() == b"\x8a\x011" * 2
    # Messages, then a broken frame in the same read: the failure still comes last.
    events = ws.receive_data(text + encode_frame(Opcode.TEXT, b"b"))  # unmasked: 1002
    assert events[:1] == [TextMessage("a")]
    assert isinstance(events[1], ConnectionFailed) and events[1].code == 1002
    close = ws.data_to_send()
    assert close[0] == 0x88 and close[2:4] == (1002).to_bytes(2, "big")  # with its reason
