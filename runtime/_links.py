"""Node-to-node links: one multiplexed, authenticated connection per pair of nodes.

A node dials a peer at its advertised address with ``GET /_roost/link`` and
``Upgrade: roost-link``; after the ``101`` (TLS inside when configured) both sides say
HELLO and prove they know the cluster secret (protocol/_link.py). The link then carries
byte streams (forwarded client connections) and calls (actor-to-actor rpc) in both
directions until either side goes away; docs/protocol.md ("Node links") has the wire format.

:class:`NodeLinks` keeps one link per peer address, shared by every stream and call to it
(concurrent first uses share one dial), serves the links peers dial to this node through
:meth:`NodeLinks.accept`, and hands what peers open to a :class:`LinkHandler`.

Long because: the dialing side (HTTP upgrade, TLS, one shared dial per address) and the
accepting side run the same handshake and fill the same map of links; apart, each would
need the other's private state. One link's own work is runtime/_link_session.py.
"""

from __future__ import annotations

import logging
import secrets
import ssl
from typing import Any, Protocol

import attrs
import h11
import trio

from roost._errors import LinkError, LinkRefused, LinkUnavailable
from roost.protocol._link import (
    LINK_PATH,
    UPGRADE_TOKEN,
    Frame,
    FrameDecoder,
    Handshake,
    HandshakeState,
    Hello,
)

from ._link_session import Counters, Link, LinkStream, StreamBroken

__all__ = [
    "LinkHandler",
    "LinkStatistics",
    "LinkStream",
    "NodeLinks",
    "StreamBroken",
]

log = logging.getLogger("roost.links")

#: The header of the ``101`` that says whether TLS runs inside the link.
SECURITY_HEADER = "Roost-Link-Security"
_MAX_RESPONSE_HEAD = 16 * 1024


class LinkHandler(Protocol):
    """What a node does with the streams and calls its peers open."""

    async def on_stream(
        self, peer_node: str, header: dict[str, Any], stream: trio.abc.HalfCloseableStream
    ) -> None:
        """Serve one stream; it is closed (reset if not finished) when this returns."""

    async def on_call(self, peer_node: str, request: dict[str, Any]) -> Any:
        """Answer one call; raising ``RpcError(code, message)`` re-raises it at the caller."""


@attrs.frozen
class LinkStatistics:
    """Links of a node now, and what they carried since it started."""

    links: int
    streams: int
    calls_total: int
    bytes_in: int
    bytes_out: int


@attrs.define(eq=False)
class _Dial:
    """One dial in progress, which every first user of an address waits for."""

    done: trio.Event = attrs.field(factory=trio.Event)
    link: Link | None = None
    error: LinkError | None = None


class _Prefixed(trio.abc.Stream):
    """A stream whose first bytes were already read by someone else (the HTTP server)."""

    def __init__(self, stream: trio.abc.Stream, prefix: bytes) -> None:
        self._stream = stream
        self._prefix = prefix

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        if self._prefix:
            data, self._prefix = self._prefix, b""
            await trio.lowlevel.checkpoint()
            return data
        return await self._stream.receive_some(max_bytes)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self._stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self._stream.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        await self._stream.aclose()


def _security(context: ssl.SSLContext | None) -> str:
    return "plain" if context is None else "tls"


class NodeLinks:
    """This node's links to its peers.

    Args:
        node_id: this node's id, sent in HELLO.
        secret: the cluster secret both sides prove they know.
        version: this node's roost version, for the logs of incompatible peers.
        protocol: the cluster protocol number; a peer with another one is refused.
        handler: serves the streams and calls peers open.
        server_ssl: TLS for links peers dial to this node (TLS runs inside the upgraded
            connection), or None for plaintext (keep the links on a private network).
        client_ssl: TLS for links this node dials; it must match the peers' ``server_ssl``.
        advertise: this node's advertised "host:port", sent in HELLO so that a peer reuses
            the link this node dialed instead of dialing back.
        stream_window: bytes buffered per stream at most (the peer's credit): memory per
            stream is bounded by it, so a link holds at most ``max_streams`` times it.
        max_streams: streams open at once per link (and calls served at once per link).
        connect_timeout: seconds for a dial, from TCP connect to the end of the handshake;
            also bounds the handshake of an accepted link.
        ping_interval: seconds without receiving anything after which a link is pinged.
        ping_timeout: seconds a ping may go unanswered before the link is lost.
    """

    def __init__(
        self,
        *,
        node_id: str,
        secret: str,
        version: str,
        protocol: int,
        handler: LinkHandler,
        server_ssl: ssl.SSLContext | None = None,
        client_ssl: ssl.SSLContext | None = None,
        advertise: str | None = None,
        stream_window: int = 256 * 1024,
        max_streams: int = 10_000,
        connect_timeout: float = 5.0,
        ping_interval: float = 5.0,
        ping_timeout: float = 10.0,
    ) -> None:
        if not secret:
            raise ValueError("node links need a cluster secret")
        self.node_id = node_id
        self._secret = secret
        self._version = version
        self._protocol = protocol
        self._handler = handler
        self._server_ssl = server_ssl
        self._client_ssl = client_ssl
        self._advertise = advertise
        self._stream_window = stream_window
        self._max_streams = max_streams
        self._connect_timeout = connect_timeout
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._by_address: dict[str, Link] = {}
        self._dials: dict[str, _Dial] = {}
        self._links: set[Link] = set()
        self._counters = Counters()
        self._nursery: trio.Nursery | None = None

    def statistics(self) -> LinkStatistics:
        c = self._counters
        links = sum(link.alive for link in self._links)
        return LinkStatistics(links, c.streams, c.calls_total, c.bytes_in, c.bytes_out)

    def peer_node(self, address: str) -> str | None:
        """The node id of the peer linked at ``address``, if a link is up."""
        link = self._by_address.get(address)
        return link.peer_node if link is not None and link.alive else None

    def advertise_as(self, address: str) -> None:
        """Where peers reach this node, sent in HELLO so a peer that accepted our link reuses
        it instead of dialing back (known only once the node listens)."""
        self._advertise = address

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Host the links this node dials, until cancelled; then close every link."""
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                task_status.started()
                await trio.sleep_forever()
        finally:
            self._nursery = None
            for link in list(self._links):
                link.cancel_scope.cancel()

    # Dialing -------------------------------------------------------------------------------

    async def open_stream(self, address: str, header: dict[str, Any]) -> LinkStream:
        """Open a stream to the node at ``address`` ("host:port") with ``header``.

        Raises:
            LinkRefused: the peer refused the link (or we refused it).
            LinkUnavailable: the peer cannot be reached.
        """
        link = await self._link_to(address)
        return link.open_stream(header)

    async def call(
        self,
        address: str,
        request: dict[str, Any],
        *,
        timeout: float = 30.0,  # noqa: ASYNC109 - the API others code against names it so
    ) -> Any:
        """Send ``request`` to the node at ``address``; what its handler returned.

        Raises:
            RpcError: the peer's handler raised it (``Unavailable`` for code unavailable).
            LinkRefused: the peer refused the link (or we refused it).
            LinkUnavailable: the peer cannot be reached, the link was lost, or no answer
                came within ``timeout`` seconds (the call may have taken effect).
        """
        deadline = trio.current_time() + timeout
        with trio.move_on_at(deadline):
            link = await self._link_to(address)
            return await link.call(request)
        raise LinkUnavailable(f"no answer from {address} within {timeout} s")

    async def _link_to(self, address: str) -> Link:
        link = self._by_address.get(address)
        if link is not None and link.alive:
            return link
        dial = self._dials.get(address)
        if dial is None:
            if self._nursery is None:
                raise RuntimeError("NodeLinks.run() is not running")
            dial = self._dials[address] = _Dial()
            self._nursery.start_soon(self._dial, address, dial)
        await dial.done.wait()
        if dial.error is not None:
            raise type(dial.error)(str(dial.error))
        assert dial.link is not None
        dial.link.check()
        return dial.link

    async def _dial(self, address: str, dial: _Dial) -> None:
        try:
            with trio.fail_after(self._connect_timeout):
                link = await self._connect(address)
        except trio.TooSlowError:
            dial.error = LinkUnavailable(
                f"no link to {address} within {self._connect_timeout} s (connect and handshake)"
            )
        except LinkRefused as exc:
            dial.error = exc
            log.warning("link to %s refused: %s", address, exc)
        except LinkError as exc:
            dial.error = LinkUnavailable(f"no link to {address}: {exc}")
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            dial.error = LinkUnavailable(f"cannot reach {address}: {exc or type(exc).__name__}")
        else:
            dial.link = link
            self._by_address[address] = link
        finally:
            del self._dials[address]
            dial.done.set()
        if dial.link is not None:
            await self._serve(dial.link, address)

    async def _connect(self, address: str) -> Link:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise LinkUnavailable(f"bad node address {address!r} (expected host:port)")
        tcp = await trio.open_tcp_stream(host.strip("[]"), int(port))
        try:
            trailing = await self._upgrade(tcp, address)
            transport: trio.abc.Stream = _Prefixed(tcp, trailing)
            if self._client_ssl is not None:
                tls = trio.SSLStream(transport, self._client_ssl, server_hostname=host.strip("[]"))
                await tls.do_handshake()
                transport = tls
            link, _ = await self._establish(transport, dialer=True, where=address)
            return link
        except BaseException:
            with trio.CancelScope(shield=True), trio.move_on_after(1):
                await tcp.aclose()
            raise

    async def _upgrade(self, tcp: trio.SocketStream, address: str) -> bytes:
        """Send the upgrade request, check the 101; the bytes read past its head."""
        conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=_MAX_RESPONSE_HEAD)
        request = h11.Request(
            method="GET",
            target=LINK_PATH,
            headers=[("Host", address), ("Connection", "Upgrade"), ("Upgrade", UPGRADE_TOKEN)],
        )
        await tcp.send_all(conn.send(request) or b"")
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                raise LinkUnavailable(f"{address} answered the link upgrade badly: {exc}") from None
            if event is h11.NEED_DATA:
                conn.receive_data(await tcp.receive_some(_MAX_RESPONSE_HEAD))
                continue
            if isinstance(event, h11.InformationalResponse) and event.status_code == 101:
                break
            status = getattr(event, "status_code", None)
            raise LinkUnavailable(
                f"{address} refused the link upgrade (status {status}): not a roost cluster node?"
            )
        headers = {name.decode().lower(): value.decode() for name, value in event.headers}
        theirs = headers.get(SECURITY_HEADER.lower(), "plain")
        ours = _security(self._client_ssl)
        if theirs != ours:
            raise LinkRefused(
                f"the node at {address} expects {theirs} links but this node dials {ours} "
                "(both need the same --cluster-tls-cert/--cluster-tls-key setting)"
            )
        return conn.trailing_data[0]

    # Accepting ----------------------------------------------------------------------------

    async def accept(self, stream: trio.abc.HalfCloseableStream, prefix: bytes = b"") -> None:
        """Serve a link a peer dialed: ``stream``'s upgrade request head was already read
        (``prefix``: the bytes read past it). Answers the 101, runs TLS (if ``server_ssl``)
        and the handshake, then serves the link; returns when it is gone."""
        head = (
            "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
            f"Upgrade: {UPGRADE_TOKEN}\r\n{SECURITY_HEADER}: {_security(self._server_ssl)}\r\n\r\n"
        )
        transport: trio.abc.Stream = _Prefixed(stream, prefix)
        try:
            with trio.fail_after(self._connect_timeout):
                await stream.send_all(head.encode())
                if self._server_ssl is not None:
                    tls = trio.SSLStream(transport, self._server_ssl, server_side=True)
                    await tls.do_handshake()
                    transport = tls
                link, peer = await self._establish(
                    transport, dialer=False, where="an accepted link"
                )
        except trio.TooSlowError:
            log.warning("an accepted link did not finish its handshake in time")
            await _close(transport)
            return
        except LinkRefused as exc:
            log.warning("link refused: %s", exc)
            await _close(transport)
            return
        except (LinkError, OSError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            log.warning("an accepted link failed before it was up: %s", exc or type(exc).__name__)
            await _close(transport)
            return
        address = peer.address
        if address is not None and not (
            (known := self._by_address.get(address)) is not None and known.alive
        ):
            self._by_address[address] = link
        await self._serve(link, address)

    # Both sides ---------------------------------------------------------------------------

    async def _establish(
        self, transport: trio.abc.Stream, *, dialer: bool, where: str
    ) -> tuple[Link, Hello]:
        """Say HELLO, prove the secret, check the peer's proof; the link (not yet served)."""
        hello = Hello(
            node_id=self.node_id,
            version=self._version,
            protocol=self._protocol,
            nonce=secrets.token_bytes(32),
            window=self._stream_window,
            address=self._advertise,
        )
        handshake = Handshake(client=dialer, hello=hello, secret=self._secret)
        decoder = FrameDecoder()
        await transport.send_all(handshake.start())
        frames: list[Frame] = []
        while handshake.state in (HandshakeState.HELLO, HandshakeState.AUTH):
            if not frames:
                data = await transport.receive_some(65536)
                if not data:
                    raise LinkUnavailable(f"{where} was closed during the handshake")
                frames = decoder.receive_data(data)
                continue
            answer = handshake.receive_frame(frames.pop(0))
            if answer:
                try:
                    await transport.send_all(answer)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    if handshake.error is None:
                        raise  # else the refusal below says more than a closed socket
        if handshake.error is not None:
            raise handshake.error
        peer = handshake.peer
        assert peer is not None
        link = Link(
            transport=transport,
            decoder=decoder,
            leftover=frames,
            dialer=dialer,
            peer_node=peer.node_id,
            send_window=peer.window,
            recv_window=self._stream_window,
            max_streams=self._max_streams,
            ping_interval=self._ping_interval,
            ping_timeout=self._ping_timeout,
            on_stream=self._handler.on_stream,
            on_call=self._handler.on_call,
            counters=self._counters,
        )
        return link, peer

    async def _serve(self, link: Link, address: str | None) -> None:
        self._links.add(link)
        log.info("link to node %s (%s) is up", link.peer_node, address or "accepted")
        try:
            await link.serve()
        finally:
            self._links.discard(link)
            if address is not None and self._by_address.get(address) is link:
                del self._by_address[address]


async def _close(stream: trio.abc.AsyncResource) -> None:
    with trio.CancelScope(shield=True), trio.move_on_after(1):
        await stream.aclose()
