"""Reading a server's frames from a raw socket, for tests that play a client byte by byte."""

from __future__ import annotations

import trio

from roost.protocol import BinaryMessage, CloseReceived, FrameDecoder, TextMessage


async def read_until_close(
    stream: trio.SocketStream,
) -> tuple[list[str | bytes], CloseReceived, bool]:
    """The messages received, the server's close frame, and whether the stream then ended
    cleanly (EOF, not a reset)."""
    decoder = FrameDecoder(client=True, max_message_size=1 << 24)
    received: list[str | bytes] = []
    while True:
        data = await stream.receive_some(65536)
        assert data, "the stream ended without a close frame"
        for event in decoder.receive_data(data):
            if isinstance(event, (TextMessage, BinaryMessage)):
                received.append(event.data)
            elif isinstance(event, CloseReceived):
                try:
                    ended = await stream.receive_some(65536) == b""
                except trio.BrokenResourceError:  # reset
                    ended = False
                return received, event, ended
