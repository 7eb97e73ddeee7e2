"""Ask a running roost what it holds: ``/_roost/metrics`` and the bench apps' endpoints.

Plain blocking HTTP from the harness (one short request now and then, never during a
measured burst of load), so a probe costs the server one request.
"""

import json
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from bench.servers import HOST, BenchError, Running, log_tail

TIMEOUT = 10.0


def get(srv: Running, path: str) -> bytes:
    """GET ``path`` from the server; raise BenchError unless it answers 200."""
    url = f"http://{HOST}:{srv.port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
            body: bytes = response.read()
            return body
    except OSError as error:
        raise BenchError(
            f"GET {path} failed: {error}\nserver log ({srv.log}):\n{log_tail(srv.log)}"
        ) from error


def get_json(srv: Running, path: str) -> Any:
    """GET ``path`` and parse its JSON body."""
    return json.loads(get(srv, path))


def metrics(srv: Running) -> dict[str, float]:
    """Every unlabelled sample of ``/_roost/metrics`` by name (histograms: _sum, _count)."""
    text = get(srv, "/_roost/metrics").decode()
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.labels
    }


def metric_totals(srv: Running) -> dict[str, float]:
    """Every sample of ``/_roost/metrics`` by name, summed over its labels.

    Under ``--workers N`` each sample carries a ``worker`` label; this adds the workers up.
    """
    text = get(srv, "/_roost/metrics").decode()
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
    return totals


def wait_for(
    srv: Running, what: str, ready: Callable[[dict[str, float]], bool], timeout: float
) -> dict[str, float]:
    """Poll the metrics until ``ready(metrics)``; raise BenchError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        values = metrics(srv)
        if ready(values):
            return values
        if time.monotonic() > deadline:
            shown = {k: v for k, v in values.items() if k.startswith("roost_actors")}
            raise BenchError(
                f"roost did not reach {what} within {timeout:.0f} s (metrics: {shown})\n"
                f"server log ({srv.log}):\n{log_tail(srv.log)}"
            )
        time.sleep(0.2)
