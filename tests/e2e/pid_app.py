"""The app tests/e2e/test_workers.py serves with ``roost serve --workers N``.

Its actors answer HTTP with the process id that serves them, so a test sees which worker
answered; ``/pid/<key>/slow`` keeps a request (and so a worker's graceful shutdown) busy. A
worker whose index is in ``PID_APP_FAIL_WORKER`` exits with status ``PID_APP_FAIL_STATUS``
(default 3) while it loads the app, the way a broken deployment would, while the supervisor
(no index) loads it fine.
"""

from __future__ import annotations

import os
import sys

import trio

from roost import Actor, App, Request, Response

if os.environ.get("ROOST_WORKER_INDEX", "-") == os.environ.get("PID_APP_FAIL_WORKER"):
    sys.exit(int(os.environ.get("PID_APP_FAIL_STATUS", "3")))


class Pid(Actor):
    """Answers with its process id, at once or (``.../slow``) after a long while."""

    async def on_request(self, request: Request) -> Response:
        if request.rest == "/slow":
            await trio.sleep(60)
        return Response.text(str(os.getpid()))


app = App()
app.actor("pid", Pid)
