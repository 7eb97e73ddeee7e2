"""A server that breaks the protocol right after a valid message, in the same read.

The frame decoder returns the messages it completed before the error and keeps the error in
``decoder.failure`` (issue 12); the client must deliver those messages and then close with the
error's code at once, not wait for its next read (which, from a server that sends nothing more,
would come only with the keep-alive ping). Uses the scripted server of test_wire.py.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio
from trio.testing import MockClock

from roost import ConnectionClosed
from roost.client import ClientState, connect
from roost.protocol import CloseReceived, EnvelopeCodec, Result, encode_binary, encode_text
from tests.client.test_wire import Peer, scripted_server

#: A text frame with RSV1 set: no extension was negotiated, so a protocol error (1002).
BROKEN = b"\xc1\x00"


@pytest.mark.parametrize("encoding", ["raw", "cbor"])
async def test_a_message_then_a_broken_frame_in_one_read(
    threaded_autojump_clock: MockClock, encoding: str
) -> None:
    after: list[Any] = []  # what the server got after its write: the client's close

    async def breaks(peer: Peer) -> None:
        if encoding == "raw":
            valid = encode_text("hello")
        else:
            call = await peer.next_call()
            reply = EnvelopeCodec("cbor").encode(Result(call.id, "hello"))
            assert isinstance(reply, bytes)
            valid = encode_binary(reply)
        await peer.stream.send_all(valid + BROKEN)  # one write: one read for the client
        after.append(await peer.next_frame())
        await trio.sleep_forever()  # no EOF: only the client's own check can end it at once

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            port = await scripted_server(nursery, [breaks], choose_subprotocol=encoding != "raw")
            url = f"ws://127.0.0.1:{port}/probe/p"
            async with connect(
                url, encoding=encoding, reconnect=False, ping_interval=30, close_timeout=1
            ) as actor:
                start = trio.current_time()
                if encoding == "raw":
                    assert await actor.receive() == "hello"
                    ended = actor.receive()
                else:
                    assert await actor.call("greet") == "hello"
                    ended = actor.receive_event()
                with pytest.raises(ConnectionClosed) as closed:
                    await ended
                # At once: not after ping_interval (the mock clock would have jumped to it).
                assert trio.current_time() - start < 1
                assert closed.value.code == 1002
                assert actor.state is ClientState.CLOSED
            nursery.cancel_scope.cancel()
    assert len(after) == 1 and isinstance(after[0], CloseReceived) and after[0].code == 1002
