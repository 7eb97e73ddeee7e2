"""Autobahn TestSuite cases ported to byte sequences, shared by the codec and server tests.

The suite (crossbario/autobahn-testsuite, its ``fuzzingclient``) runs against an echo server:
every text or binary message comes back. Each case here is what the suite's client sends,
chopped as the suite chops it, and what RFC 6455 requires in return: the messages echoed and
the code of the server's close frame. The expectations are written from RFC 6455 and the
suite's case descriptions; no code of the suite is copied.

``fail_at`` is the index of the chop after which the connection must already be failed (the
suite's "fail fast"): the chops after it are not sent by the server test and must not be
needed by the codec.
"""

from __future__ import annotations

import attrs

from roost.protocol import Opcode, encode_frame

MASK = bytes.fromhex("5a1c3e07")


def masked(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0) -> bytes:
    """A client frame: masked, with any opcode and reserved bits (the suite's fuzzing)."""
    if opcode in set(Opcode):
        wire = encode_frame(Opcode(opcode), payload, fin=fin, mask=MASK)
        return bytes((wire[0] | rsv << 4,)) + wire[1:]
    # Reserved opcodes cannot be built by encode_frame: build the frame by hand.
    assert len(payload) < 126
    body = bytes(b ^ MASK[i % 4] for i, b in enumerate(payload))
    return bytes(((0x80 if fin else 0) | rsv << 4 | opcode, 0x80 | len(payload))) + MASK + body


def close(code: int = 1000) -> bytes:
    return masked(Opcode.CLOSE, code.to_bytes(2, "big"))


@attrs.frozen
class Case:
    """One ported case.

    Attributes:
        number: the suite's case number.
        chops: the bytes in the pieces the suite sends them in.
        echoed: the messages the echo server must send back before its close frame.
        close_code: the code of the server's close frame.
        fail_at: the chop after which the server must already have failed (fail fast).
    """

    number: str
    chops: tuple[bytes, ...]
    echoed: tuple[str | bytes, ...]
    close_code: int
    fail_at: int | None = None

    @property
    def wire(self) -> bytes:
        return b"".join(self.chops)


HELLO = "Hello, World!"
_TEXT = masked(Opcode.TEXT, HELLO.encode())
_PING = masked(Opcode.PING)


def _octets(data: bytes) -> tuple[bytes, ...]:
    return tuple(data[i : i + 1] for i in range(len(data)))


# 6.4.x: PART1 and PART3 are valid UTF-8 on their own, PART2 makes the text invalid.
_UTF8_6_4_1 = (bytes.fromhex("cebae1bdb9cf83cebcceb5"), bytes.fromhex("f4908080"), b"edited")
_UTF8_6_4_2 = (
    bytes.fromhex("cebae1bdb9cf83cebcceb5f4"),
    bytes.fromhex("90"),
    bytes.fromhex("8080656469746564"),
)


def _three_fragments(parts: tuple[bytes, bytes, bytes]) -> tuple[bytes, ...]:
    """A text message in three fragments, one chop each."""
    return (
        masked(Opcode.TEXT, parts[0], fin=False),
        masked(Opcode.CONTINUATION, parts[1], fin=False),
        masked(Opcode.CONTINUATION, parts[2]),
    )


def _one_frame_in_three_chops(parts: tuple[bytes, bytes, bytes]) -> tuple[bytes, ...]:
    """One text frame whose bytes are sent in three chops along the parts' boundaries."""
    wire = masked(Opcode.TEXT, b"".join(parts))
    first = 6 + len(parts[0])  # 2-byte header, 4-byte mask, PART1
    second = first + len(parts[1])
    return (wire[:first], wire[first:second], wire[second:])


_BIG = ("BAsd7&jh23" * 26215)[: 256 * 1024]

CASES = (
    # 3.x: a reserved bit set with no extension negotiated fails the connection (1002); the
    # valid message before the bad frame is echoed first, the ping after it never answered.
    Case("3.2", (_TEXT + masked(Opcode.TEXT, HELLO.encode(), rsv=2) + _PING,), (HELLO,), 1002),
    Case("3.3", (_TEXT, masked(Opcode.TEXT, HELLO.encode(), rsv=3), _PING), (HELLO,), 1002),
    Case(
        "3.4", _octets(_TEXT + masked(Opcode.TEXT, HELLO.encode(), rsv=4) + _PING), (HELLO,), 1002
    ),
    # 4.1.x / 4.2.x: reserved non-control (3-7) and control (11-15) opcodes, after a message.
    Case("4.1.3", (_TEXT + masked(5) + _PING,), (HELLO,), 1002),
    Case("4.1.4", (_TEXT + masked(6, b"reserved opcode payload") + _PING,), (HELLO,), 1002),
    Case("4.1.5", (_TEXT + masked(7, b"reserved opcode payload") + _PING,), (HELLO,), 1002),
    Case("4.2.3", (_TEXT + masked(13) + _PING,), (HELLO,), 1002),
    Case("4.2.4", (_TEXT + masked(14, b"reserved opcode payload") + _PING,), (HELLO,), 1002),
    Case("4.2.5", (_TEXT + masked(15, b"reserved opcode payload") + _PING,), (HELLO,), 1002),
    # 5.15: a message in two fragments, then a continuation with nothing to continue and a
    # text message, all in one chop: the first message is echoed, then 1002.
    Case(
        "5.15",
        (
            masked(Opcode.TEXT, b"fragment1", fin=False)
            + masked(Opcode.CONTINUATION, b"fragment2")
            + masked(Opcode.CONTINUATION, b"fragment3", fin=False)
            + masked(Opcode.TEXT, b"fragment4"),
        ),
        ("fragment1fragment2",),
        1002,
    ),
    # 6.4.1 / 6.4.2: invalid UTF-8 across three fragments; fail when the bad one arrives.
    Case("6.4.1", _three_fragments(_UTF8_6_4_1), (), 1007, fail_at=1),
    Case("6.4.2", _three_fragments(_UTF8_6_4_2), (), 1007, fail_at=1),
    # 6.4.3 / 6.4.4: the same bytes in ONE frame sent in three chops: the frame is not
    # complete when its second chop makes the text invalid, and must fail then.
    Case("6.4.3", _one_frame_in_three_chops(_UTF8_6_4_1), (), 1007, fail_at=1),
    Case("6.4.4", _one_frame_in_three_chops(_UTF8_6_4_2), (), 1007, fail_at=1),
    # 7.1.x: nothing after a close frame counts; the handshake ends with the client's 1000.
    Case("7.1.1", (_TEXT + close(),), (HELLO,), 1000),
    Case("7.1.2", (close() + close(),), (), 1000),
    Case("7.1.3", (close() + _PING,), (), 1000),
    Case("7.1.4", (close() + _TEXT,), (), 1000),
    Case(
        "7.1.5",
        (
            masked(Opcode.TEXT, b"fragment1", fin=False)
            + close()
            + masked(Opcode.CONTINUATION, b"fragment2"),
        ),
        (),
        1000,
    ),
    # 7.1.6: a 256 KiB message and a short one, then close and a ping, back to back.
    Case(
        "7.1.6",
        (
            masked(Opcode.TEXT, _BIG.encode())
            + masked(Opcode.TEXT, b"Hello World!")
            + close()
            + _PING,
        ),
        (_BIG, "Hello World!"),
        1000,
    ),
)
