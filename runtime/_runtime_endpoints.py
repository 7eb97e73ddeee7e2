"""The runtime's own endpoints: ``/_roost/health``, ``/_roost/ready``, ``/_roost/metrics``, and
the inspector (``/_roost/`` and ``/_roost/api/*``, runtime/_inspector.py) when it is on.

Who may reach them (the admin port, the admin token) is decided in front of them, by
:meth:`~roost.runtime._exposure.Exposure.runtime_refusal`; here they only answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import h11

from roost.actors import Response

from ._http import error_response
from ._inspector import Inspector
from ._metrics import MetricsExporter, Snapshot
from ._routing import RUNTIME_PREFIX
from ._sync import SyncWorker

#: Retry-After of a draining node's 503, in seconds: the client should come back soon, to
#: another node (the load balancer stops routing here once ready says "stopping").
RETRY_AFTER = b"1"


def is_runtime_target(target: bytes) -> bool:
    """Whether a raw request target is a runtime endpoint (``/_roost/...``)."""
    return target.partition(b"?")[0].startswith(RUNTIME_PREFIX.encode())


async def runtime_endpoint(
    request: h11.Request,
    path: str,
    *,
    draining: bool,
    stopping: bool,
    sync: SyncWorker | None,
    metrics: MetricsExporter,
    siblings: Callable[[], Awaitable[list[tuple[str, Snapshot]]]] | None = None,
    worker: str | None = None,
    inspector: Inspector | None = None,
) -> Response:
    """Answer ``request`` for the runtime endpoint ``path``.

    ``draining``: the node drains its connections; ``stopping``: it drains or was asked to
    stop (a shutdown that has not begun draining yet). A worker of ``--workers N`` gives its
    index (``worker``) and a way to ask its siblings for their numbers (``siblings``), so its
    metrics cover every worker, each labelled. ``inspector``: the node's, with ``--inspector``.
    """
    if request.method not in (b"GET", b"HEAD"):
        return error_response(405, "method not allowed")
    if path == RUNTIME_PREFIX + "health":
        # Liveness: 200 as long as the process serves, draining or not, store or not; a
        # PostgreSQL blip must not make a supervisor restart every node.
        return Response.json({"status": "stopping" if draining else "ok"})
    if path == RUNTIME_PREFIX + "ready":
        # Readiness: whether to send this node traffic. Not while it drains, nor while
        # the shared store does not answer (activations that restore would fail and sync
        # lags; G7 keeps the state meanwhile). The reason never carries the store's error.
        if stopping:
            return Response.json({"status": "stopping"}, status=503)
        if sync is not None and not sync.store_ready:
            return Response.json({"status": "store unreachable"}, status=503)
        return Response.json({"status": "ready"})
    if path == RUNTIME_PREFIX + "metrics":
        accept = next((v.decode("latin-1") for k, v in request.headers if k == b"accept"), None)
        if siblings is not None and worker is not None:  # one scrape covers every worker
            body, content_type = metrics.render_workers(worker, await siblings(), accept)
        else:
            body, content_type = metrics.render(accept)
        return Response(body=body, content_type=content_type)
    if inspector is not None and inspector.handles(path):
        return await inspector.respond(request, path)
    return error_response(404, "not found")
