"""The opening handshake: RFC 6455 §4 example, subprotocols, every rejection, h11 fit."""

from __future__ import annotations

import h11
import pytest

from roost._errors import BadRequest, HandshakeError
from roost.protocol import (
    UpgradeRequest,
    accept_headers,
    accept_key,
    check_accept,
    check_upgrade,
    client_request_headers,
    is_websocket_upgrade,
    rejection_headers,
)

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

Headers = list[tuple[bytes, bytes]]


def _apply(headers: dict[str, bytes], changes: dict[str, bytes | None]) -> Headers:
    """``headers`` with ``changes`` (``_`` for ``-`` in names; None removes a header)."""
    merged: dict[str, bytes | None] = {**headers}
    merged.update({name.replace("_", "-"): value for name, value in changes.items()})
    return [(name.encode(), value) for name, value in merged.items() if value is not None]


def request_headers(**changes: bytes | None) -> Headers:
    """The RFC 6455 §1.2 example request headers, as h11 gives them, with changes."""
    headers = {
        "host": b"server.example.com",
        "upgrade": b"websocket",
        "connection": b"Upgrade",
        "sec-websocket-key": KEY.encode(),
        "origin": b"http://example.com",
        "sec-websocket-version": b"13",
    }
    return _apply(headers, changes)


def test_accept_key_rfc_example() -> None:
    assert accept_key(KEY) == ACCEPT


def test_valid_upgrade() -> None:
    assert check_upgrade(b"GET", request_headers()) == UpgradeRequest(key=KEY, subprotocols=())
    assert is_websocket_upgrade(request_headers())


def test_header_names_and_tokens_are_case_insensitive() -> None:
    changed = request_headers(connection=b"keep-alive, UPGRADE", upgrade=b"WebSocket")
    headers = [(name.title(), value) for name, value in changed]
    assert is_websocket_upgrade(headers)
    assert check_upgrade(b"GET", headers).key == KEY


def test_subprotocols_across_headers_in_order() -> None:
    headers = request_headers()
    headers += [
        (b"sec-websocket-protocol", b"chat, superchat"),
        (b"sec-websocket-protocol", b" v2.json ,, "),
    ]
    request = check_upgrade(b"GET", headers)
    assert request.subprotocols == ("chat", "superchat", "v2.json")


@pytest.mark.parametrize("value", [b"ch at", b"chat;q=1", b"chat/1", b"\xc3\xa9"])
def test_invalid_subprotocol(value: bytes) -> None:
    with pytest.raises(BadRequest):
        check_upgrade(b"GET", [*request_headers(), (b"sec-websocket-protocol", value)])


def test_is_websocket_upgrade_false_cases() -> None:
    assert not is_websocket_upgrade([(b"host", b"example.com")])
    assert not is_websocket_upgrade(request_headers(connection=None))
    assert not is_websocket_upgrade(request_headers(connection=b"keep-alive"))
    assert not is_websocket_upgrade(request_headers(upgrade=b"h2c"))


BAD_REQUESTS = {
    "method POST": (b"POST", request_headers()),
    "method lowercase": (b"get", request_headers()),
    "no connection": (b"GET", request_headers(connection=None)),
    "connection without upgrade": (b"GET", request_headers(connection=b"keep-alive")),
    "no upgrade": (b"GET", request_headers(upgrade=None)),
    "upgrade to h2c": (b"GET", request_headers(upgrade=b"h2c")),
    "no key": (b"GET", request_headers(sec_websocket_key=None)),
    "empty key": (b"GET", request_headers(sec_websocket_key=b"")),
    "key not base64": (b"GET", request_headers(sec_websocket_key=b"!" * 24)),
    "key of 15 bytes": (b"GET", request_headers(sec_websocket_key=b"AAAAAAAAAAAAAAAAAAAA")),
    "key of 17 bytes": (b"GET", request_headers(sec_websocket_key=b"AAAAAAAAAAAAAAAAAAAAAAA=")),
    "key without padding": (b"GET", request_headers(sec_websocket_key=KEY.rstrip("=").encode())),
    "two keys": (b"GET", [*request_headers(), (b"sec-websocket-key", KEY.encode())]),
}


@pytest.mark.parametrize(("method", "headers"), BAD_REQUESTS.values(), ids=BAD_REQUESTS.keys())
def test_bad_requests(method: bytes, headers: Headers) -> None:
    with pytest.raises(BadRequest) as info:
        check_upgrade(method, headers)
    assert info.value.status == 400
    assert rejection_headers(info.value) == []


@pytest.mark.parametrize("http_version", [b"1.0", b"0.9"])
def test_an_upgrade_needs_http_1_1(http_version: bytes) -> None:
    with pytest.raises(BadRequest, match=r"HTTP/1\.1") as info:
        check_upgrade(b"GET", request_headers(), http_version=http_version)
    assert info.value.status == 400
    assert check_upgrade(b"GET", request_headers(), http_version=b"1.1").key == KEY


@pytest.mark.parametrize("version", [None, b"8", b"12", b"14", b"13, 8", b""])
def test_unsupported_version_is_426(version: bytes | None) -> None:
    with pytest.raises(HandshakeError) as info:
        check_upgrade(b"GET", request_headers(sec_websocket_version=version))
    assert not isinstance(info.value, BadRequest)
    assert info.value.status == 426
    assert rejection_headers(info.value) == [(b"Sec-WebSocket-Version", b"13")]


def test_two_version_headers_are_426() -> None:
    headers = [*request_headers(), (b"sec-websocket-version", b"13")]
    with pytest.raises(HandshakeError) as info:
        check_upgrade(b"GET", headers)
    assert info.value.status == 426


def test_accept_headers() -> None:
    request = UpgradeRequest(key=KEY, subprotocols=("chat", "superchat"))
    assert accept_headers(request) == [
        (b"Upgrade", b"websocket"),
        (b"Connection", b"Upgrade"),
        (b"Sec-WebSocket-Accept", ACCEPT.encode()),
    ]
    assert accept_headers(request, "superchat")[-1] == (b"Sec-WebSocket-Protocol", b"superchat")
    with pytest.raises(ValueError):
        accept_headers(request, "other")


def test_with_h11_on_both_sides() -> None:
    """A client request built here, parsed by h11, accepted here, checked by the client."""
    client = h11.Connection(h11.CLIENT)
    server = h11.Connection(h11.SERVER)
    wire = client.send(
        h11.Request(
            method="GET",
            target="/chat",
            headers=client_request_headers("example.com", "/chat", KEY, ["v1", "v2"]),
        )
    )
    server.receive_data(wire)
    request_event = server.next_event()
    assert isinstance(request_event, h11.Request)
    assert is_websocket_upgrade(request_event.headers)
    request = check_upgrade(request_event.method, request_event.headers)
    assert request.subprotocols == ("v1", "v2")
    response = server.send(
        h11.InformationalResponse(status_code=101, headers=accept_headers(request, "v2"))
    )
    assert response is not None
    client.receive_data(response)
    response_event = client.next_event()
    assert isinstance(response_event, h11.InformationalResponse)
    assert response_event.status_code == 101
    assert check_accept(KEY, response_event.headers, subprotocols=["v1", "v2"]) == "v2"


def response_headers(**changes: bytes | None) -> Headers:
    headers = {
        "upgrade": b"websocket",
        "connection": b"Upgrade",
        "sec-websocket-accept": ACCEPT.encode(),
    }
    return _apply(headers, changes)


def test_check_accept() -> None:
    assert check_accept(KEY, response_headers()) is None
    headers = response_headers(sec_websocket_protocol=b"chat")
    assert check_accept(KEY, headers, subprotocols=["x", "chat"]) == "chat"


BAD_RESPONSES = {
    "no upgrade": response_headers(upgrade=None),
    "no connection": response_headers(connection=None),
    "no accept": response_headers(sec_websocket_accept=None),
    "wrong accept": response_headers(sec_websocket_accept=accept_key("x" * 24).encode()),
    "extension": response_headers(sec_websocket_extensions=b"permessage-deflate"),
    "unoffered subprotocol": response_headers(sec_websocket_protocol=b"other"),
    "two subprotocols": response_headers(sec_websocket_protocol=b"chat, x"),
}


@pytest.mark.parametrize("headers", BAD_RESPONSES.values(), ids=BAD_RESPONSES.keys())
def test_check_accept_rejects(headers: Headers) -> None:
    with pytest.raises(HandshakeError):
        check_accept(KEY, headers, subprotocols=["chat", "x"])


def test_client_request_headers() -> None:
    assert client_request_headers("example.com:8080", "/a?b=c", KEY) == [
        (b"Host", b"example.com:8080"),
        (b"Upgrade", b"websocket"),
        (b"Connection", b"Upgrade"),
        (b"Sec-WebSocket-Key", KEY.encode()),
        (b"Sec-WebSocket-Version", b"13"),
    ]
    headers = client_request_headers("h", "/", KEY, ("a", "b"))
    assert headers[-1] == (b"Sec-WebSocket-Protocol", b"a, b")


@pytest.mark.parametrize(
    ("host", "path", "subprotocols"),
    [("h", "chat", ()), ("h", "", ()), ("h", "/", ("a b",)), ("hé", "/", ())],
)
def test_client_request_headers_rejects(host: str, path: str, subprotocols: tuple[str]) -> None:
    with pytest.raises(ValueError):
        client_request_headers(host, path, KEY, subprotocols)
