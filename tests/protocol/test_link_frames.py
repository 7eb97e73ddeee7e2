"""The node link protocol (protocol/_link.py) byte for byte: frames, messages, handshake."""

from __future__ import annotations

import hashlib
import hmac
import re
from pathlib import Path

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from roost._errors import LinkError, LinkRefused
from roost.protocol._link import (
    FLAG_MORE,
    MAX_PAYLOAD,
    Frame,
    FrameDecoder,
    FrameType,
    Handshake,
    HandshakeState,
    Hello,
    decode_goaway,
    decode_value,
    decode_window,
    encode_data,
    encode_frame,
    encode_goaway,
    encode_message,
    encode_open,
    encode_window,
    proof,
)


def decode_all(data: bytes, **kwargs: int) -> list[Frame]:
    return FrameDecoder(**kwargs).receive_data(data)


def test_the_header_is_type_flags_id_length_big_endian() -> None:
    assert encode_frame(FrameType.DATA, 5, b"hi") == bytes.fromhex("04 00 00000005 00000002 6869")
    assert encode_frame(FrameType.PING) == bytes.fromhex("0b 00 00000000 00000000")
    assert encode_window(3, 65536) == bytes.fromhex("05 00 00000003 00000004 00010000")


def test_frames_decode_whatever_the_chunking() -> None:
    data = (
        encode_open(1, {"kind": "conn", "client": ["127.0.0.1", 5]})
        + encode_data(1, b"hello")
        + encode_window(1, 10)
        + encode_frame(FrameType.EOF, 1)
        + encode_frame(FrameType.RESET, 3, b"closed")
        + encode_message(FrameType.CALL, 7, {"op": "ping"})
        + encode_goaway("shutdown", "bye")
    )
    whole = decode_all(data)
    decoder = FrameDecoder()
    one_by_one = [
        frame for i in range(len(data)) for frame in decoder.receive_data(data[i : i + 1])
    ]
    assert whole == one_by_one
    assert [f.type for f in whole] == [
        FrameType.OPEN,
        FrameType.DATA,
        FrameType.WINDOW,
        FrameType.EOF,
        FrameType.RESET,
        FrameType.CALL,
        FrameType.GOAWAY,
    ]
    assert decode_value(whole[0].payload) == {"kind": "conn", "client": ["127.0.0.1", 5]}
    assert whole[1] == Frame(FrameType.DATA, 1, b"hello")
    assert decode_window(whole[2].payload) == 10
    assert decode_value(whole[5].payload) == {"op": "ping"}
    assert decode_goaway(whole[6].payload) == ("shutdown", "bye")


def test_big_writes_are_split_at_64_kib() -> None:
    data = bytes(range(256)) * 1000  # 256,000 bytes
    frames = decode_all(encode_data(9, data))
    assert [len(f.payload) for f in frames] == [MAX_PAYLOAD] * 3 + [len(data) - 3 * MAX_PAYLOAD]
    assert b"".join(f.payload for f in frames) == data
    with pytest.raises(ValueError, match="over"):
        encode_frame(FrameType.DATA, 1, bytes(MAX_PAYLOAD + 1))
    with pytest.raises(ValueError, match="32 bits"):
        encode_frame(FrameType.DATA, 1 << 32)


def test_a_large_message_goes_in_several_frames_and_comes_back_whole() -> None:
    value = {"blob": bytes(200_000), "n": 1}
    data = encode_message(FrameType.RESULT, 4, value)
    first = data[:10]
    assert first[0] == FrameType.RESULT and first[1] == FLAG_MORE
    (frame,) = decode_all(data)
    assert frame.type is FrameType.RESULT and frame.id == 4
    assert decode_value(frame.payload) == value


def test_a_message_over_the_limit_is_refused_on_both_sides() -> None:
    with pytest.raises(ValueError):
        encode_message(FrameType.CALL, 1, {"blob": bytes(2 << 20)})
    data = encode_message(FrameType.CALL, 1, {"blob": bytes(300_000)})
    with pytest.raises(LinkError, match="over 200000"):
        decode_all(data, max_message=200_000)


def test_an_interrupted_message_is_a_protocol_error() -> None:
    data = encode_message(FrameType.CALL, 1, {"blob": bytes(100_000)})
    first_frame = data[: 10 + MAX_PAYLOAD]
    with pytest.raises(LinkError, match="interrupted"):
        decode_all(first_frame + encode_data(1, b"x"))


def test_a_declared_length_over_the_limit_fails_before_the_payload() -> None:
    header = bytes.fromhex("04 00 00000001") + (MAX_PAYLOAD + 1).to_bytes(4, "big")
    with pytest.raises(LinkError, match="over"):
        FrameDecoder().receive_data(header)  # no payload byte sent at all


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (bytes.fromhex("63 00 00000000 00000000"), "unknown frame type 99"),
        (bytes.fromhex("04 01 00000001 00000000"), "bad flags"),
        (bytes.fromhex("08 02 00000001 00000000"), "bad flags"),
    ],
)
def test_bad_headers(data: bytes, match: str) -> None:
    with pytest.raises(LinkError, match=match):
        decode_all(data)


@pytest.mark.parametrize("payload", [b"", b"\x00\x00\x00\x00", b"\x00\x00\x01"])
def test_bad_window_frames(payload: bytes) -> None:
    with pytest.raises(LinkError, match="WINDOW"):
        decode_window(payload)


@pytest.mark.parametrize(
    "payload",
    [b"", b"\xff", cbor2.dumps([1]), cbor2.dumps({"code": 1, "message": "x"}), b"\xc1\x00"],
)
def test_bad_goaway_frames(payload: bytes) -> None:
    with pytest.raises(LinkError):
        decode_goaway(payload)


def test_values_outside_the_data_model_are_not_sent() -> None:
    with pytest.raises(ValueError):
        encode_message(FrameType.RESULT, 1, {"x": object()})
    with pytest.raises(ValueError):
        encode_open(1, {"x": bytes(MAX_PAYLOAD)})
    with pytest.raises(ValueError, match="no message"):
        encode_message(FrameType.DATA, 1, {})


# The handshake -------------------------------------------------------------------------


def hello(node: str, *, protocol: int = 1, version: str = "1.0", nonce: bytes = b"") -> Hello:
    return Hello(node, version, protocol, nonce or node.encode().ljust(32, b"."))


def run_handshake(client: Handshake, server: Handshake) -> None:
    """Deliver frames between the two until both are done."""
    decoders = {id(client): FrameDecoder(), id(server): FrameDecoder()}
    inflight = {id(client): server.start(), id(server): client.start()}  # bytes *to* each
    for _ in range(6):
        for side in (client, server):
            other = server if side is client else client
            data, inflight[id(side)] = inflight[id(side)], b""
            for frame in decoders[id(side)].receive_data(data):
                if side.state in (HandshakeState.HELLO, HandshakeState.AUTH):
                    inflight[id(other)] += side.receive_frame(frame)


def test_a_handshake_with_the_same_secret_opens_both_sides() -> None:
    client = Handshake(client=True, hello=hello("a"), secret="s3cret")
    server = Handshake(client=False, hello=hello("b"), secret="s3cret")
    run_handshake(client, server)
    assert client.state is server.state is HandshakeState.OPEN
    assert client.peer is not None and client.peer.node_id == "b"
    assert server.peer is not None and server.peer.node_id == "a"


def test_the_proof_is_the_documented_hmac() -> None:
    cn, sn = bytes(range(32)), bytes(range(32, 64))
    expected = hmac.new(b"k", b"roost-link" + cn + sn + b"node-1", hashlib.sha256).digest()
    assert proof("k", cn, sn, "node-1") == expected
    client = Handshake(client=True, hello=hello("node-1", nonce=cn), secret="k")
    client.start()
    (auth,) = decode_all(client.receive_frame(Frame(FrameType.HELLO, 0, _hello_payload("x", sn))))
    assert auth == Frame(FrameType.AUTH, 0, expected)


def _hello_payload(node: str, nonce: bytes) -> bytes:
    (frame,) = decode_all(hello(node, nonce=nonce).encode())
    return frame.payload


def test_a_wrong_secret_is_refused_with_a_goaway() -> None:
    client = Handshake(client=True, hello=hello("a"), secret="right")
    server = Handshake(client=False, hello=hello("b"), secret="wrong")
    client.start()
    server.start()
    auth_from_server = server.receive_frame(
        Frame(FrameType.HELLO, 0, _hello_payload("a", client.hello.nonce))
    )
    client.receive_frame(Frame(FrameType.HELLO, 0, _hello_payload("b", server.hello.nonce)))
    (frame,) = decode_all(auth_from_server)
    goaway = client.receive_frame(frame)
    assert client.state is HandshakeState.FAILED
    assert isinstance(client.error, LinkRefused)
    assert "authentication failed" in str(client.error)
    (sent,) = decode_all(goaway)
    assert sent.type is FrameType.GOAWAY
    assert decode_goaway(sent.payload)[0] == "auth"


def test_an_incompatible_protocol_is_refused_naming_both() -> None:
    client = Handshake(client=True, hello=hello("a", protocol=2, version="2.0"), secret="s")
    server = Handshake(client=False, hello=hello("b", protocol=3, version="3.1"), secret="s")
    run_handshake(client, server)
    for side in (client, server):
        assert side.state is HandshakeState.FAILED
        assert isinstance(side.error, LinkRefused)
        message = str(side.error)
        for part in ("protocol 2", "protocol 3", "roost 2.0", "roost 3.1"):
            assert part in message


def test_a_peer_claiming_our_node_id_is_refused() -> None:
    client = Handshake(client=True, hello=hello("same"), secret="s")
    server = Handshake(client=False, hello=hello("same", nonce=b"x" * 32), secret="s")
    run_handshake(client, server)
    assert client.state is HandshakeState.FAILED
    assert isinstance(client.error, LinkRefused)


def test_a_goaway_during_the_handshake_is_the_peers_refusal() -> None:
    client = Handshake(client=True, hello=hello("a"), secret="s")
    (frame,) = decode_all(encode_goaway("auth", "authentication failed"))
    assert client.receive_frame(frame) == b""
    assert isinstance(client.error, LinkRefused)
    assert "refused the link: authentication failed" in str(client.error)
    with pytest.raises(RuntimeError, match="over"):
        client.receive_frame(frame)


@pytest.mark.parametrize(
    "frame",
    [
        Frame(FrameType.DATA, 1, b"x"),
        Frame(FrameType.AUTH, 0, bytes(32)),
        Frame(FrameType.HELLO, 0, b"\xa0"),
        Frame(FrameType.HELLO, 0, cbor2.dumps({"node_id": "x", "version": "1", "protocol": 1})),
        Frame(FrameType.HELLO, 3, _hello_payload("x", bytes(32))),
    ],
)
def test_a_handshake_out_of_order_or_malformed_fails(frame: Frame) -> None:
    client = Handshake(client=True, hello=hello("a"), secret="s")
    client.start()
    goaway = client.receive_frame(frame)
    assert client.state is HandshakeState.FAILED
    assert isinstance(client.error, LinkError)
    assert decode_all(goaway)[0].type is FrameType.GOAWAY


# Any bytes: frames or a clean error --------------------------------------------------------


@given(st.binary(max_size=400), st.lists(st.integers(1, 50), max_size=20))
def test_the_decoder_never_crashes(data: bytes, cuts: list[int]) -> None:
    decoder = FrameDecoder(max_message=1000)
    pos = 0
    try:
        for cut in [*cuts, len(data)]:
            for frame in decoder.receive_data(data[pos : pos + cut]):
                assert isinstance(frame.type, FrameType)
                assert len(frame.payload) <= max(MAX_PAYLOAD, 1000)
            pos += cut
    except LinkError:
        pass


@given(st.binary(max_size=200))
def test_payload_decoders_never_crash(data: bytes) -> None:
    for decode in (decode_value, decode_goaway, decode_window, Hello.decode):
        try:
            decode(data)
        except LinkError:
            pass


@given(st.sampled_from(list(FrameType)), st.integers(0, 5), st.binary(max_size=100))
def test_the_handshake_never_crashes(kind: FrameType, frame_id: int, payload: bytes) -> None:
    side = Handshake(client=False, hello=hello("a"), secret="s")
    side.start()
    side.receive_frame(Frame(kind, frame_id, payload))
    assert side.state in (HandshakeState.AUTH, HandshakeState.FAILED)
    assert (side.error is None) == (side.state is HandshakeState.AUTH)


def test_the_documented_frames() -> None:
    """docs/protocol.md ("Node links") shows these bytes; they must stay what we send."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()
    section = doc[doc.index("## Node links") :]
    shown = re.findall(r"^((?:[0-9a-f]{2} ){2}[0-9a-f]{8} [0-9a-f]{8} [0-9a-f]+)$", section, re.M)
    assert [bytes.fromhex(line) for line in shown] == [
        encode_data(1, b"hello"),
        encode_window(3, 65536),
    ]
