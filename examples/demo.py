"""The browser demo: a shared text editor, live cursors and names, and a chat room.

    python3 dev.py demo            # or: roost serve examples/demo.py
    http://127.0.0.1:8787/?user=ada#notes

One page (``examples/web/public``, served at ``/``) uses three kinds of actor on one port:

- ``/yjs/<doc>``: the document, a Yjs ``Y.Text`` synced by the unmodified npm ``y-websocket``
  provider with :class:`roost.actors.yjs.YjsActor`;
- ``/presence/<doc>?user=<name>``: who is here and where their cursor is
  (``examples/presence.py``), through roost's JavaScript client in raw mode;
- ``/chat/<room>?user=<name>``: the chat room with its history (``examples/chat.py``), through
  roost's JavaScript client in envelope mode (``history``, ``say``, ``message`` events).

The document and the room are named by the URL's hash (default ``demo``), the user by
``?user=`` (default: a random name). Our JavaScript client is served as-is from
``clients/js/src`` at ``/client/``; yjs and y-websocket come pre-built in
``examples/web/public/vendor.js`` (``examples/web/build.mjs`` makes it), so nothing here needs
Node. See docs/demo.md.
"""

from __future__ import annotations

from pathlib import Path

from chat import ChatRoom, demo_authenticate
from presence import PresenceDoc

from roost import App, Request
from roost.actors.yjs import YjsActor

HERE = Path(__file__).resolve().parent
#: Our JavaScript client's modules: clients/js/src in a checkout; ``client/`` beside this file
#: where the package ships the demo (``roost demo`` from an installed wheel).
CLIENT = HERE / "client" if (HERE / "client").is_dir() else HERE.parent / "clients" / "js" / "src"

app = App()
app.actor("yjs", YjsActor)
app.actor("presence", PresenceDoc)
app.actor("chat", ChatRoom)


@app.authenticate
async def authenticate(request: Request) -> dict[str, str]:
    """A demo for one machine: the chat trusts ``?user=`` (its demo mode, see examples/chat.py);
    the editor and presence let every visitor in."""
    if request.path.startswith("/chat/"):
        return await demo_authenticate(request)
    return {}


app.static("/client/", CLIENT, index=None)
app.static("/", HERE / "web" / "public")
