"""OpenTelemetry spans for turns, rpc calls and HTTP requests: optional, off and free by default.

With the ``otel`` extra installed (``pip install roost[otel]``) and the standard variables
set (``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or
``OTEL_TRACES_EXPORTER``), :func:`setup` builds the SDK's ``TracerProvider`` with a batching
OTLP/HTTP exporter; the SDK itself reads the rest (``OTEL_SERVICE_NAME``,
``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER``, ``OTEL_EXPORTER_OTLP_HEADERS``,
``OTEL_BSP_*`` ...). ``OTEL_SDK_DISABLED=true`` keeps everything off. A provider the process
installed already (``opentelemetry-instrument``, the app's own code) is used as it is.

Then each HTTP request is a ``HTTP <method>`` span (kind SERVER, the standard ``http.*``
attributes, the W3C ``traceparent`` of the request as its parent), each rpc call a
``roost.rpc <type>.<method>`` span and each turn a ``roost.turn <type>`` span, nested where
they nest: an HTTP rpc is request > rpc > turn, a turn's call to another actor a turn inside
a turn. Spans the actors make themselves with the global tracer provider nest inside their
turn.

Why a module global: OpenTelemetry's provider is itself process-wide, configured once from
the environment, and the turn loop pays one check of :data:`tracer` (None while off) and
nothing else: no import of opentelemetry, no wrapper, no context lookup.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol, TypeVar

from roost._version import __version__

if TYPE_CHECKING:
    import h11
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Tracer

    from roost.actors import Actor, Response

log = logging.getLogger("roost.tracing")
T = TypeVar("T")

#: The tracer of roost's spans; None while tracing is off (the only thing the hot path reads).
tracer: Tracer | None = None
#: The provider :func:`setup` made for an exporter it was given (shut down by :func:`reset`).
_own_provider: TracerProvider | None = None

#: The kind of event a turn runs, by the name of the runtime's handler for it (a dict
#: lookup, made only while tracing is on; an unknown handler's turn has no event attribute).
_EVENTS = {
    "on_connect": "connect",
    "on_message": "message",
    "on_close": "close",
    "call": "rpc",
    "<lambda>": "rpc",  # registry.call_actor: HTTP rpc and actor-to-actor calls
    "on_request": "request",
    "fire": "alarm",
    "record_failure": "alarm",
    "_on_start": "start",
    "restore_then_start": "start",
    "_on_stop": "stop",
    "take": "snapshot",
    "nothing": "wake",
}

#: The OTLP protocols this module can export with (the ``otel`` extra brings http/protobuf).
_PROTOCOLS = ("http/protobuf", "grpc")


class Traced(Protocol):
    """What a turn's span names: the actor (an ``ActorSlot``, without importing it)."""

    actor_type: str
    key: str


def setup(*, exporter: SpanExporter | None = None) -> bool:
    """Turn tracing on if OpenTelemetry is installed and configured; True when it is on.

    Called by ``Server.serve`` (so by ``roost serve`` and every worker); once on, later calls
    change nothing. Without the variables (or the package) nothing is imported or installed.

    Args:
        exporter: export every span to this exporter at once (a ``SimpleSpanProcessor`` on a
            provider of roost's own, not the global one): tests and embedding apps. The
            environment is not read then, except by the SDK for the resource.
    """
    global tracer, _own_provider
    if exporter is not None:
        reset()
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor

        provider = TracerProvider(resource=_resource(), shutdown_on_exit=False)
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        _own_provider = provider
        tracer = _tracer_of(provider)
        return True
    if tracer is not None:
        return True
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    installed = _installed_provider()
    if installed is not None:
        tracer = installed
        return True
    names = _exporter_names()
    if not names:
        return False
    try:
        made = _provider_from_environment(names)
    except ImportError as exc:
        log.warning(
            "OTEL_* variables are set but OpenTelemetry is not installed (%s): "
            "pip install 'roost[otel]'; tracing stays off",
            exc.name,
        )
        return False
    if made is None:
        return False
    from opentelemetry import trace

    trace.set_tracer_provider(made)  # the actors' own spans join roost's
    tracer = _tracer_of(made)
    log.info("OpenTelemetry tracing on: %s", ", ".join(names))
    return True


def reset() -> None:
    """Tracing off again; the provider :func:`setup` made for an exporter is shut down (a
    global provider stays, as OpenTelemetry allows only one per process)."""
    global tracer, _own_provider
    tracer = None
    provider, _own_provider = _own_provider, None
    if provider is not None:
        provider.shutdown()


def traced_turn(
    actor: Traced, handler: Callable[[Actor], Awaitable[T]]
) -> Callable[[Actor], Awaitable[T]]:
    """``handler`` inside a ``roost.turn <type>`` span (the slot's ``run_turn`` wraps it only
    while :data:`tracer` is set). A handler that raises leaves the span in error status."""
    current = tracer
    if current is None:
        return handler
    attributes = {"roost.actor.type": actor.actor_type, "roost.actor.key": actor.key}
    event = _EVENTS.get(getattr(handler, "__name__", ""))
    if event is not None:
        attributes["roost.event"] = event

    async def traced(instance: Actor) -> T:
        with current.start_as_current_span(f"roost.turn {actor.actor_type}", attributes=attributes):
            return await handler(instance)

    return traced


async def traced_rpc(
    call: Awaitable[T], actor_type: str, key: str, method: str, *, server: bool
) -> T:
    """Await ``call`` (an rpc's turn) inside a ``roost.rpc <type>.<method>`` span.

    ``server``: the call came from a client over a WebSocket (a SERVER span, the root of its
    trace); False inside an HTTP request's span (INTERNAL). An error raised is recorded, its
    rpc error code too.
    """
    current = tracer
    if current is None:
        return await call
    from opentelemetry.trace import SpanKind

    attributes = {
        "rpc.system": "roost",
        "rpc.service": actor_type,
        "rpc.method": method,
        "roost.actor.type": actor_type,
        "roost.actor.key": key,
    }
    kind = SpanKind.SERVER if server else SpanKind.INTERNAL
    with current.start_as_current_span(
        f"roost.rpc {actor_type}.{method}", kind=kind, attributes=attributes
    ) as span:
        try:
            return await call
        except Exception as exc:
            code = getattr(exc, "code", None)
            if isinstance(code, str):
                span.set_attribute("roost.rpc.error_code", code)
            raise


async def traced_http(
    respond: Awaitable[Response], request: h11.Request, client: tuple[str, int] | None
) -> Response:
    """Await ``respond`` (an HTTP request's answer) inside a ``HTTP <method>`` span.

    The attributes are the standard ones (``http.request.method``, ``url.path``,
    ``http.response.status_code`` ...); the query is left out, as it may hold a token (G10).
    A 5xx answer or an exception sets the error status. The request's ``traceparent`` (any
    propagator ``OTEL_PROPAGATORS`` names) becomes the span's parent.
    """
    current = tracer
    if current is None:
        return await respond
    from opentelemetry import propagate
    from opentelemetry.trace import SpanKind, StatusCode

    carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in request.headers}
    verb = request.method.decode("ascii", "replace")
    attributes: dict[str, str | int] = {
        "http.request.method": verb,
        "url.path": request.target.partition(b"?")[0].decode("ascii", "replace"),
        "url.scheme": "http",
        "network.protocol.version": request.http_version.decode("ascii", "replace"),
    }
    agent = carrier.get("user-agent")
    if agent is not None:
        attributes["user_agent.original"] = agent
    if client is not None:
        attributes["client.address"], attributes["client.port"] = client
    with current.start_as_current_span(
        f"HTTP {verb}",
        context=propagate.extract(carrier),
        kind=SpanKind.SERVER,
        attributes=attributes,
    ) as span:
        response = await respond
        span.set_attribute("http.response.status_code", response.status)
        if response.status >= 500:
            span.set_status(StatusCode.ERROR)
        return response


# -- setup -------------------------------------------------------------------------------------


def _installed_provider() -> Tracer | None:
    """A tracer of the provider the process installed already, if any (never imports
    opentelemetry: a process that did not import it has none)."""
    if "opentelemetry.trace" not in sys.modules:
        return None
    from opentelemetry import trace

    provider = trace.get_tracer_provider()
    if isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
        return None
    return provider.get_tracer("roost", __version__)


def _exporter_names() -> list[str]:
    """The exporters the standard variables ask for: ``OTEL_TRACES_EXPORTER`` if set (``none``
    keeps tracing off), else ``otlp`` when an OTLP endpoint is set, else none."""
    value = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if value:
        names = [name.strip() for name in value.split(",") if name.strip()]
        return [] if "none" in names else names
    if os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    ):
        return ["otlp"]
    return []


def _provider_from_environment(names: list[str]) -> TracerProvider | None:
    """The SDK's provider with a batching processor per exporter named; None (logged) when
    none of them can be made.

    Raises:
        ImportError: the ``otel`` extra is not installed.
    """
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    exporters = [made for made in map(_exporter, names) if made is not None]
    if not exporters:
        return None
    provider = TracerProvider(resource=_resource())
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def _exporter(name: str) -> SpanExporter | None:
    """One exporter of ``OTEL_TRACES_EXPORTER``: ``otlp`` (over the protocol the variables
    choose) or ``console``; another name is logged and skipped."""
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if name != "otlp":
        log.warning("OTEL_TRACES_EXPORTER: unknown exporter %r skipped (otlp, console)", name)
        return None
    protocol = (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()
    if protocol not in _PROTOCOLS:
        log.warning("OTLP protocol %r is not supported (http/protobuf, grpc); no spans", protocol)
        return None
    if protocol == "grpc":
        try:  # not in the `otel` extra: used when the app installed it
            grpc = importlib.import_module("opentelemetry.exporter.otlp.proto.grpc.trace_exporter")
        except ImportError:
            log.warning("OTLP over grpc needs opentelemetry-exporter-otlp-proto-grpc; no spans")
            return None
        exporter: SpanExporter = grpc.OTLPSpanExporter()
        return exporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()  # endpoint, headers, timeout: from the standard variables


def _resource() -> Resource:
    """The SDK's resource from the environment, named ``roost`` unless the variables name
    the service (``OTEL_SERVICE_NAME`` or ``service.name`` in ``OTEL_RESOURCE_ATTRIBUTES``)."""
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource

    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: "roost"}))
    return resource


def _tracer_of(provider: TracerProvider) -> Tracer:
    return provider.get_tracer("roost", __version__)
