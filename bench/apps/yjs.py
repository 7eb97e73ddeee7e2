"""Bench app for the Yjs scenario: one Yjs document per key, the y-websocket protocol.

    roost serve bench/apps/yjs.py
    ws://HOST:PORT/yjs/<doc>   an unmodified y-websocket WebsocketProvider connects here

The actor is roost's own ``YjsActor`` with its defaults; the load generator
(``bench/loadgen/yjs.mjs``) drives it exactly as it drives the Node reference server.
"""

from roost import App
from roost.actors.yjs import YjsActor

app = App()
app.actor("yjs", YjsActor)
