"""OpenTelemetry spans (runtime/_tracing.py): per turn, rpc and HTTP request, nested.

The spans are read with the SDK's own InMemorySpanExporter, set up through
``_tracing.setup(exporter=...)``; a real ``roost serve`` process configured by the standard
variables posts OTLP/HTTP protobuf to a collector this test runs.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import h11
import pytest
import trio
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from roost import Actor, App, Response, rpc
from roost.actors import Request
from roost.runtime import _tracing
from roost.testing import TestServer
from tests.e2e.test_cli import start
from tests.support import EXAMPLES

JSON = ["roost.v1.json"]


class Room(Actor):
    @rpc
    async def add(self, conn: object, a: int, b: int) -> int:
        return a + b

    @rpc
    async def fail(self, conn: object) -> None:
        raise ValueError("boom")

    async def on_request(self, request: Request) -> Response:
        if request.rest == "/boom":
            raise RuntimeError("boom")
        return Response.text("hello")


app = App()
app.actor("room", Room)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    assert _tracing.setup(exporter=exporter)
    try:
        yield exporter
    finally:
        _tracing.reset()


@pytest.fixture
def no_otel_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)


def named(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.name == name]


def turns(exporter: InMemorySpanExporter, event: str) -> list[ReadableSpan]:
    return [
        span
        for span in named(exporter, "roost.turn room")
        if span.attributes and span.attributes.get("roost.event") == event
    ]


def child_of(child: ReadableSpan, parent: ReadableSpan) -> bool:
    assert child.parent is not None and parent.context is not None
    return child.parent.span_id == parent.context.span_id


async def test_a_websocket_rpc_is_an_rpc_span_around_its_turn(
    spans: InMemorySpanExporter, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(10):
        async with TestServer(app) as t, t.connect("/room/r1", subprotocols=JSON) as client:
            assert await client.call("add", a=2, b=3) == 5
    (call,) = named(spans, "roost.rpc room.add")
    (turn,) = turns(spans, "rpc")
    assert call.kind is SpanKind.SERVER and call.parent is None
    assert call.attributes == {
        "rpc.system": "roost",
        "rpc.service": "room",
        "rpc.method": "add",
        "roost.actor.type": "room",
        "roost.actor.key": "r1",
    }
    assert child_of(turn, call)
    assert turn.attributes is not None
    assert (turn.attributes["roost.actor.type"], turn.attributes["roost.actor.key"]) == (
        "room",
        "r1",
    )
    assert turn.status.status_code is StatusCode.UNSET
    # The connection's own turns are spans too, of their kind.
    assert len(turns(spans, "connect")) == 1 and len(turns(spans, "close")) == 1


async def test_an_exception_in_a_turn_is_an_error_span(
    spans: InMemorySpanExporter, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(10):
        async with TestServer(app) as t, t.connect("/room/r1", subprotocols=JSON) as client:
            with pytest.raises(Exception, match="failed"):
                await client.call("fail")
            assert await client.call("add", a=1, b=1) == 2  # the actor stays usable
    (call,) = named(spans, "roost.rpc room.fail")
    failed = [turn for turn in turns(spans, "rpc") if child_of(turn, call)]
    assert [turn.status.status_code for turn in failed] == [StatusCode.ERROR]
    assert [event.name for event in failed[0].events] == ["exception"]
    assert call.status.status_code is StatusCode.ERROR
    (fine,) = named(spans, "roost.rpc room.add")
    assert fine.status.status_code is StatusCode.UNSET


async def test_an_http_rpc_is_request_then_rpc_then_turn(
    spans: InMemorySpanExporter, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(10):
        async with TestServer(app) as t:
            answer = await t.request(
                "POST",
                "/room/r2/rpc/add",
                body=json.dumps({"a": 20, "b": 22}).encode(),
                headers={"content-type": "application/json", "user-agent": "test/1"},
            )
    assert answer.json() == {"value": 42}
    (http,) = named(spans, "HTTP POST")
    (call,) = named(spans, "roost.rpc room.add")
    (turn,) = turns(spans, "rpc")
    assert http.kind is SpanKind.SERVER and http.parent is None
    assert http.attributes is not None
    assert http.attributes["http.request.method"] == "POST"
    assert http.attributes["url.path"] == "/room/r2/rpc/add"
    assert http.attributes["http.response.status_code"] == 200
    assert http.attributes["user_agent.original"] == "test/1"
    assert call.kind is SpanKind.INTERNAL and child_of(call, http)
    assert child_of(turn, call)
    assert turn.attributes is not None and turn.attributes["roost.actor.key"] == "r2"


async def test_on_request_is_a_turn_inside_its_http_span(
    spans: InMemorySpanExporter, autojump_clock: trio.testing.MockClock
) -> None:
    parent_trace = "0af7651916cd43dd8448eb211c80319c"
    with trio.fail_after(10):
        async with TestServer(app) as t:
            answer = await t.request(
                "GET",
                "/room/r3/hello?token=secret",
                headers={"traceparent": f"00-{parent_trace}-b7ad6b7169203331-01"},
            )
            assert answer.status == 200
            assert (await t.request("GET", "/room/r3/boom")).status == 500
    ok, failed = named(spans, "HTTP GET")
    (turn, failed_turn) = turns(spans, "request")
    assert ok.attributes is not None and failed.attributes is not None
    assert ok.attributes["url.path"] == "/room/r3/hello"  # never the query: it may hold a token
    assert "secret" not in repr(ok.attributes)
    assert ok.context is not None and f"{ok.context.trace_id:032x}" == parent_trace
    assert child_of(turn, ok) and child_of(failed_turn, failed)
    assert ok.status.status_code is StatusCode.UNSET
    assert failed.attributes["http.response.status_code"] == 500
    assert failed.status.status_code is StatusCode.ERROR
    assert failed_turn.status.status_code is StatusCode.ERROR


async def test_without_the_variables_nothing_is_set_up(
    no_otel_environment: None, autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(10):
        async with TestServer(app) as t:
            assert (await t.request("GET", "/room/r4/x")).status == 200
    assert _tracing.tracer is None
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


@pytest.mark.parametrize(
    "variables",
    [
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", "OTEL_SDK_DISABLED": "true"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", "OTEL_TRACES_EXPORTER": "none"},
        {"OTEL_TRACES_EXPORTER": "zipkin-of-my-own"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", "OTEL_EXPORTER_OTLP_PROTOCOL": "x"},
    ],
    ids=["disabled", "exporter-none", "unknown-exporter", "unknown-protocol"],
)
def test_variables_that_leave_tracing_off(
    no_otel_environment: None, monkeypatch: pytest.MonkeyPatch, variables: dict[str, str]
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert not _tracing.setup()
    assert _tracing.tracer is None
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


# -- a real roost serve, exporting to a collector ---------------------------------------------


async def collect(
    listener: trio.SocketListener, posts: list[tuple[bytes, bytes]], posted: trio.Event
) -> None:
    """A tiny OTLP/HTTP collector: every POST's target and body, answered 200."""

    async def serve(stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        target, body = b"", bytearray()
        async with stream:
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    data = await stream.receive_some(65536)
                    if not data:
                        return
                    conn.receive_data(data)
                elif isinstance(event, h11.Request):
                    target = event.target
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    posts.append((target, bytes(body)))
                    posted.set()
                    head = h11.Response(
                        status_code=200,
                        headers=[
                            ("content-type", "application/x-protobuf"),
                            ("content-length", "0"),
                        ],
                    )
                    await stream.send_all(conn.send(head) + conn.send(h11.EndOfMessage()))
                    conn.start_next_cycle()
                    target, body = b"", bytearray()
                else:
                    return

    await trio.serve_listeners(serve, [listener])


async def get(port: int, path: str) -> int:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        conn = h11.Connection(h11.CLIENT)
        request = h11.Request(method="GET", target=path, headers=[("host", "127.0.0.1")])
        await stream.send_all(conn.send(request) + conn.send(h11.EndOfMessage()))
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await stream.receive_some(65536))
            elif isinstance(event, h11.Response):
                return event.status_code


def span_names(body: bytes) -> set[str]:
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    return {
        span.name
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    }


def service_names(body: bytes) -> set[str]:
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    return {
        attribute.value.string_value
        for resource in request.resource_spans
        for attribute in resource.resource.attributes
        if attribute.key == "service.name"
    }


class Collector:
    """A tiny OTLP/HTTP collector on 127.0.0.1: every POST's target and body, answered 200."""

    def __init__(self, listener: trio.SocketListener) -> None:
        self.listener = listener
        self.port: int = listener.socket.getsockname()[1]
        self.posts: list[tuple[bytes, bytes]] = []
        self.posted = trio.Event()


@asynccontextmanager
async def collector() -> AsyncIterator[Collector]:
    async with trio.open_nursery() as nursery:
        (listener,) = await trio.open_tcp_listeners(0, host="127.0.0.1")
        running = Collector(listener)
        nursery.start_soon(collect, listener, running.posts, running.posted)
        yield running
        nursery.cancel_scope.cancel()


async def serve_relay(tmp_path: Path, otel: dict[str, str]) -> tuple[trio.Process, int]:
    """``roost serve`` of the relay example with the ``OTEL_*`` variables ``otel``."""
    return await start(
        ["serve", str(EXAMPLES / "relay.py"), "--data-dir", str(tmp_path)],
        env={"ROOST_PORT": "0", "ROOST_HOST": "127.0.0.1", **otel},
    )


async def stop(process: trio.Process) -> None:
    process.send_signal(signal.SIGTERM)
    assert await process.wait() == 0


@pytest.mark.e2e
async def test_roost_serve_exports_spans_over_otlp_http(
    tmp_path: Path, no_otel_environment: None
) -> None:
    with trio.fail_after(40):
        async with collector() as otlp:
            process, port = await serve_relay(
                tmp_path,
                {
                    "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{otlp.port}",
                    "OTEL_SERVICE_NAME": "roost-under-test",
                    "OTEL_BSP_SCHEDULE_DELAY": "50",
                },
            )
            assert await get(port, "/_roost/health") == 200
            await otlp.posted.wait()  # the exporter's thread posts within its 50 ms delay
            await stop(process)
    target, body = otlp.posts[0]
    assert target == b"/v1/traces" and body
    assert "HTTP GET" in span_names(body)
    assert service_names(body) == {"roost-under-test"}


@pytest.mark.e2e
async def test_graceful_shutdown_flushes_the_spans_left(
    tmp_path: Path, no_otel_environment: None
) -> None:
    with trio.fail_after(40):
        async with collector() as otlp:
            process, port = await serve_relay(
                tmp_path,
                {
                    "OTEL_TRACES_EXPORTER": "otlp",
                    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"http://127.0.0.1:{otlp.port}/in",
                    "OTEL_BSP_SCHEDULE_DELAY": "600000",  # nothing leaves before the exit
                },
            )
            assert await get(port, "/_roost/health") == 200
            assert not otlp.posts
            await stop(process)
            await otlp.posted.wait()
    ((target, body),) = otlp.posts
    assert target == b"/in"
    assert "HTTP GET" in span_names(body)
    assert service_names(body) == {"roost"}


INSTALLED = """
import trio
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from roost import Actor, App, Response
from roost.testing import TestServer

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)  # the app's own, before roost serves

class Room(Actor):
    async def on_request(self, request):
        with trace.get_tracer("app").start_as_current_span("app.work"):
            return Response.text("ok")

app = App()
app.actor("room", Room)

async def main():
    async with TestServer(app) as t:
        assert (await t.request("GET", "/room/k")).status == 200
    finished = exporter.get_finished_spans()
    spans = {span.name: span for span in finished}
    (turn,) = [span for span in finished if span.attributes.get("roost.event") == "request"]
    work = spans["app.work"]
    assert work.parent.span_id == turn.context.span_id
    assert turn.parent.span_id == spans["HTTP GET"].context.span_id
    print("nested")

trio.run(main)
"""


async def test_a_provider_the_app_installed_is_used_and_its_spans_nest(
    tmp_path: Path, no_otel_environment: None
) -> None:
    # A process of its own: OpenTelemetry takes one global provider per process.
    (tmp_path / "installed.py").write_text(INSTALLED)
    with trio.fail_after(60):
        result = await trio.run_process(
            [sys.executable, str(tmp_path / "installed.py")],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            env={**os.environ, "ROOST_DEMO_AUTH": "1"},
        )
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.strip() == b"nested"


@pytest.mark.e2e
async def test_an_unreachable_collector_costs_the_server_nothing(
    tmp_path: Path, no_otel_environment: None
) -> None:
    with trio.fail_after(40):
        (listener,) = await trio.open_tcp_listeners(0, host="127.0.0.1")
        closed = listener.socket.getsockname()[1]
        await listener.aclose()  # nobody listens there now
        process, port = await serve_relay(
            tmp_path,
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{closed}",
                "OTEL_BSP_SCHEDULE_DELAY": "10",
                "OTEL_EXPORTER_OTLP_TIMEOUT": "1",
            },
        )
        for _ in range(20):
            assert await get(port, "/_roost/health") == 200
        await stop(process)
