"""No input ends ``roost serve``: hostile requests, bodies and frames against a real process.

One server process serves the whole module (tests/e2e/survivor_app.py). Each bad input goes
over its own connection; after each, a separate well-behaved client must still get answers,
and the process must still be running at the end.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

APP = Path(__file__).with_name("survivor_app.py")
TIMEOUT = 10.0


class Served:
    """The running ``roost serve`` process and its port."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.process = process
        self.port = port
        self.log = log

    def alive(self) -> bool:
        return self.process.poll() is None


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("survivor")
    out, err, data = folder / "stdout.log", folder / "stderr.log", str(folder / "data")
    with out.open("wb") as stdout, err.open("wb") as stderr:
        # Logs go to files: a pipe nobody reads would fill and stall the server.
        process = subprocess.Popen(
            [sys.executable, "-m", "roost", "serve", str(APP), "--port", "0", "--data-dir", data],
            stdout=stdout,
            stderr=stderr,
            env={**os.environ, "ROOST_HOST": "127.0.0.1", "ROOST_REQUEST_TIMEOUT": "2"},
        )
    try:
        deadline = time.monotonic() + 30
        match = None
        while match is None:
            assert process.poll() is None, err.read_text()
            assert time.monotonic() < deadline, "no start line within 30 s"
            time.sleep(0.05)  # waiting on a real process
            match = re.search(r"roost listening on http://127\.0\.0\.1:(\d+)", out.read_text())
        yield Served(process, int(match.group(1)), err)
    finally:
        process.terminate()
        try:
            process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def request(
    served: Served, method: str, path: str, body: bytes = b"", content_type: str | None = None
) -> tuple[int, str, bytes]:
    """One well-behaved HTTP request; (status, content type, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=TIMEOUT)
    try:
        headers = {"content-type": content_type} if content_type else {}
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.getheader("content-type", ""), response.read()
    finally:
        conn.close()


def assert_still_serving(served: Served) -> None:
    """The separate well-behaved client: health, an rpc call and a WebSocket echo answer."""
    assert served.alive(), served.log.read_text()[-4000:]
    assert request(served, "GET", "/_roost/health")[0] == 200
    status, _, body = request(
        served, "POST", "/echo/well/rpc/echo", b'{"value": [1, "two"]}', "application/json"
    )
    assert (status, json.loads(body)) == (200, {"value": [1, "two"]})
    with open_websocket(served, "/echo/well") as sock:
        sock.sendall(masked_frame(0x1, b"still here"))
        assert read_frame(sock) == (0x1, b"still here")


def send_bad(served: Served, data: bytes, *, then: bytes = b"") -> bytes:
    """Send ``data`` (and ``then``) on a fresh connection, half-close, read what comes back.

    The half-close ends an incomplete request at once, so no example waits for a timeout.
    """
    with socket.create_connection(("127.0.0.1", served.port), timeout=TIMEOUT) as sock:
        received = b""
        try:
            sock.sendall(data)
            if then:
                received = read_head(sock)
                sock.sendall(then)
            sock.shutdown(socket.SHUT_WR)
            while piece := sock.recv(65536):
                received += piece
        except OSError:  # reset by the server that refused us: fine
            pass
        return received


def read_head(sock: socket.socket) -> bytes:
    head = b""
    while b"\r\n\r\n" not in head:
        piece = sock.recv(1)
        if not piece:
            break
        head += piece
    return head


KEY = base64.b64encode(b"0123456789abcdef").decode()


def upgrade_request(path: str, subprotocol: str | None = None) -> bytes:
    extra = f"Sec-WebSocket-Protocol: {subprotocol}\r\n" if subprotocol else ""
    return (
        f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    ).encode()


@contextmanager
def open_websocket(served: Served, path: str) -> Iterator[socket.socket]:
    """A raw WebSocket (no subprotocol) that completed its handshake."""
    with socket.create_connection(("127.0.0.1", served.port), timeout=TIMEOUT) as sock:
        sock.sendall(upgrade_request(path))
        head = read_head(sock)
        assert head.startswith(b"HTTP/1.1 101"), head
        yield sock


def masked_frame(opcode: int, payload: bytes, *, fin: bool = True, mask: bytes = b"abcd") -> bytes:
    size = len(payload)
    if size < 126:
        length = struct.pack("!B", 0x80 | size)
    elif size < 1 << 16:
        length = struct.pack("!BH", 0x80 | 126, size)
    else:
        length = struct.pack("!BQ", 0x80 | 127, size)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([(0x80 if fin else 0) | opcode]) + length + mask + masked


def read_frame(sock: socket.socket) -> tuple[int, bytes]:
    """One unmasked server frame (small payloads only)."""
    first, second = sock.recv(1), sock.recv(1)
    size = second[0] & 0x7F
    if size == 126:
        size = struct.unpack("!H", sock.recv(2))[0]
    payload = b""
    while len(payload) < size:
        payload += sock.recv(size - len(payload))
    return first[0] & 0x0F, payload


# -- the nested-bracket body that ended the process ----------------------------------------------


def test_a_body_of_nested_brackets_does_not_end_the_process(served: Served) -> None:
    for content_type in ("application/json", None):
        status, kind, body = request(served, "POST", "/echo/k/rpc/echo", b"[" * 1100, content_type)
        assert status in (413, 415) and kind == "application/json"
        assert json.loads(body)["error"]["code"] in ("too_large", "bad_request")
        assert_still_serving(served)
    # The same as a CBOR body, and as an envelope over a WebSocket.
    status, kind, body = request(
        served, "POST", "/echo/k/rpc/echo", b"\x81" * 5000 + b"\x80", "application/cbor"
    )
    assert (status, kind) == (413, "application/cbor")
    with open_websocket(served, "/echo/k") as sock:
        sock.sendall(masked_frame(0x1, b"[" * 1100))
        assert read_frame(sock) == (0x1, b"[" * 1100)  # raw mode: the actor echoes it
    assert_still_serving(served)


# -- property: random heads, bodies and frames ---------------------------------------------------

TOKENS = st.sampled_from(
    ["GET", "POST", "HEAD", "PUT", "OPTIONS", "CONNECT", "G\x00T", "", "POST /x", "\u00e9"]
)
PATHS = st.sampled_from(
    [
        "/echo/k",
        "/echo/k/rpc/echo",
        "/echo/k/rpc/",
        "/echo/%00/rpc/echo",
        "/echo/a%0Ab",
        "/echo/%FF",
        "/_roost/health",
        "/_roost/metrics",
        "/",
        "*",
        "http://x/echo/k",
        "/echo/" + "k" * 600,
    ]
)
HEADER_NAMES = st.sampled_from(
    [
        "content-length",
        "transfer-encoding",
        "content-type",
        "connection",
        "upgrade",
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-protocol",
        "host",
        "expect",
        "x-\u00e9",
        "bad name",
        "",
    ]
)
HEADER_VALUES = st.one_of(
    st.sampled_from(
        [
            "0",
            "-1",
            "5",
            "99999999999999999999",
            "chunked",
            "gzip, chunked",
            "application/json",
            "application/cbor",
            "text/plain",
            "upgrade",
            "websocket",
            "13",
            KEY,
            "roost.v1.json",
            "roost.v1.cbor",
            "100-continue",
        ]
    ),
    st.text(max_size=40),
)


def json_bodies() -> st.SearchStrategy[bytes]:
    values = st.recursive(
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**80), max_value=2**80)
        | st.floats()
        | st.text(max_size=10),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=5), children, max_size=4)
        ),
        max_leaves=20,
    )
    nested = st.builds(
        lambda opener, depth: opener * depth,
        st.sampled_from([b"[", b'{"a":', b'{"value":[']),
        # Deep enough to pass the depth limit, to stop the json module, or to crash cbor2.
        st.one_of(st.sampled_from([33, 1100, 3000]), st.integers(min_value=1, max_value=3000)),
    )
    encoded = values.map(lambda v: json.dumps({"value": v}, allow_nan=True).encode())
    surrogate = st.just(b'{"value": "\\ud800"}')
    duplicate = st.just(b'{"value": 1, "value": 2}')
    return st.one_of(encoded, nested, surrogate, duplicate, st.binary(max_size=200))


def cbor_bodies() -> st.SearchStrategy[bytes]:
    depths = st.one_of(st.sampled_from([33, 6000]), st.integers(min_value=1, max_value=6000))
    deep = depths.map(lambda d: b"\x81" * d + b"\x80")
    tagged = st.binary(max_size=20).map(lambda b: b"\xa1\x65value\xc1" + b)
    valid = st.dictionaries(st.text(max_size=5), st.binary(max_size=10), max_size=3).map(
        lambda d: cbor2.dumps({"value": d})
    )
    return st.one_of(deep, tagged, valid, st.binary(max_size=200))


@st.composite
def http_requests(draw: st.DrawFn) -> bytes:
    """A request head (well-formed or not) and a body, as bytes."""
    method = draw(TOKENS)
    target = draw(PATHS) + draw(st.sampled_from(["", "?", "?a=1&a=2", "/rest", "#f"]))
    version = draw(st.sampled_from(["HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/1.1 x", ""]))
    headers = draw(st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=8))
    body = draw(st.one_of(json_bodies(), cbor_bodies()))
    eol = draw(st.sampled_from(["\r\n", "\n"]))
    lines = [f"{method} {target} {version}", "Host: x"]
    lines += [f"{name}: {value}" for name, value in headers]
    if draw(st.booleans()):
        lines.append(f"Content-Length: {len(body)}")
    head = eol.join(lines) + eol + eol
    return head.encode("utf-8", "surrogatepass") + body


@st.composite
def rpc_posts(draw: st.DrawFn) -> bytes:
    """A well-formed POST to an rpc method with a hostile body."""
    content_type = draw(
        st.sampled_from(["application/json", "application/cbor", "text/plain", None])
    )
    if content_type == "application/cbor":
        body = draw(cbor_bodies())
    else:
        body = draw(json_bodies())
    method = draw(st.sampled_from(["echo", "nope", "on_request", "__init__"]))
    head = f"POST /echo/k/rpc/{method} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
    if content_type:
        head += f"Content-Type: {content_type}\r\n"
    return head.encode() + b"\r\n" + body


@st.composite
def websocket_sessions(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """An upgrade (raw or envelope mode) and then frames, valid in shape or not."""
    subprotocol = draw(st.sampled_from([None, "roost.v1.json", "roost.v1.cbor"]))
    frames = b""
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        opcode = draw(st.sampled_from([0x0, 0x1, 0x2, 0x3, 0x8, 0x9, 0xA, 0xF]))
        payload = draw(st.one_of(json_bodies(), cbor_bodies()))
        if draw(st.booleans()):
            frames += masked_frame(opcode, payload, fin=draw(st.booleans()))
        else:
            frames += draw(st.binary(min_size=1, max_size=100))
    return upgrade_request("/echo/fuzz", subprotocol), frames


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(
        http_requests().map(lambda data: (data, b"")),
        rpc_posts().map(lambda data: (data, b"")),
        websocket_sessions(),
        st.binary(max_size=300).map(lambda data: (data, b"")),
    )
)
def test_no_input_ends_the_server(served: Served, bad: tuple[bytes, bytes]) -> None:
    data, frames = bad
    reply = send_bad(served, data, then=frames)
    # Whatever came back is HTTP (or WebSocket frames after a 101), never a traceback.
    assert b"Traceback" not in reply
    assert_still_serving(served)


def test_the_process_outlived_everything(served: Served) -> None:
    assert_still_serving(served)
    assert served.alive()
