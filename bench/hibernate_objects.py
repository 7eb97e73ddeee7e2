"""What a hibernated actor and its idle socket hold, allocation site by allocation site.

    .venv/bin/python -m bench.hibernate_objects [--actors 2000] [--idle] [--top 25]

The server runs in this process (the hold app of ``bench/apps/hold.py``) under tracemalloc;
a child process opens one raw WebSocket per actor (``/hold/h<i>``) and keeps it idle. Once
every actor hibernated (or, with ``--idle``, at once: actors active), the script compares
a snapshot with the one taken before the first connection and prints, per actor: the
bytes by allocation site (file:line, with the caller chain's roost frames) and the growth
in live objects by type. The figures are Python's own allocations (tracemalloc), not RSS:
the kernel's socket buffers and the allocator's slack are not in them, the ``hibernate``
scenario's RSS columns are.
"""

from __future__ import annotations

import argparse
import collections
import ctypes
import ctypes.util
import enum
import gc
import os
import subprocess
import sys
import tempfile
import tracemalloc
import types
from pathlib import Path
from typing import Any

import trio

from roost import App, Server, ServerConfig
from roost.runtime import ActorState

sys.path.insert(0, str(Path(__file__).resolve().parent / "apps"))
import hold  # the bench app (bench/apps/hold.py)

# The child: N raw WebSocket handshakes, then idle until stdin closes.
_CLIENT = r"""
import socket, sys
port, n, one = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
socks = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(
        f"GET /hold/h{0 if one else i} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += s.recv(4096)
    assert answer.startswith(b"HTTP/1.1 101"), answer[:80]
    socks.append(s)
print("open", flush=True)
sys.stdin.read()
"""


def _app() -> App:
    app = App()
    app.actor("hold", hold.Holder)
    return app


def _rss() -> dict[str, int]:
    """RssAnon, RssFile, RssShmem of this process (KiB), after gc and malloc_trim(0)."""
    gc.collect()
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.malloc_trim(0)
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
            fields[name] = int(value.split()[0])
    return fields


def _census() -> collections.Counter[str]:
    gc.collect()
    return collections.Counter(type(o).__qualname__ for o in gc.get_objects())


def _where(trace: tracemalloc.Traceback) -> str:
    """The allocating line and the nearest roost frames above it (the code that asked)."""
    frames = list(reversed(trace))  # most recent call first (tracemalloc: oldest first)
    first = frames[0]
    text = f"{_short(first.filename)}:{first.lineno}"
    ours = [
        f"{_short(f.filename)}:{f.lineno}"
        for f in frames[1:]
        if "/site-packages/" not in f.filename and "/lib/python" not in f.filename
    ][:2]
    return text + (" <- " + " <- ".join(ours) if ours else "")


def _short(filename: str) -> str:
    for marker in ("/site-packages/", "/lib/python3.", "/work/main/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


async def _measure(actors: int, *, idle: bool, one: bool, top: int) -> None:
    with tempfile.TemporaryDirectory(dir=os.environ.get("ROOST_BENCH_DIR")) as data:
        config = ServerConfig(
            host="127.0.0.1",
            port=0,
            data_dir=Path(data),
            idle_timeout=600.0 if idle else 1.0,
            ping_interval=3600.0,
            access_log=False,
        )
        server = Server(_app(), config)
        async with trio.open_nursery() as nursery:
            await nursery.start(server.serve)
            await trio.sleep(0.5)
            before_types = _census()
            before = tracemalloc.take_snapshot() if tracemalloc.is_tracing() else None
            rss_before = _rss()
            child = await trio.lowlevel.open_process(
                [sys.executable, "-c", _CLIENT, str(server.port), str(actors), str(int(one))],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
            assert child.stdout is not None
            await child.stdout.receive_some()  # "open": every socket is connected
            registry = server.registry
            wanted = ActorState.ACTIVE if idle else ActorState.HIBERNATED
            wanted_slots = 1 if one else actors
            while True:  # no event tells hibernation: poll the slots
                if sum(1 for s in registry.slots.values() if s.state is wanted) >= wanted_slots:
                    break
                await trio.sleep(0.2)
            await trio.sleep(1.0)
            after_types = _census()
            after = tracemalloc.take_snapshot() if tracemalloc.is_tracing() else None
            rss_after = _rss()
            print("RSS growth per actor after gc + malloc_trim (KiB):", end="")
            for name, kib in rss_after.items():
                print(f" {name} {(kib - rss_before[name]) / actors:.2f}", end="")
            print()
            if before is not None and after is not None:
                _report(before, after, before_types, after_types, actors, top)
            if not one:
                _breakdown(registry, actors)
            assert child.stdin is not None
            await child.stdin.aclose()
            await child.wait()
            await trio.sleep(0.5)
            await server.shutdown()
            nursery.cancel_scope.cancel()


def _report(
    before: tracemalloc.Snapshot,
    after: tracemalloc.Snapshot,
    before_types: collections.Counter[str],
    after_types: collections.Counter[str],
    actors: int,
    top: int,
) -> None:
    sites: collections.Counter[str] = collections.Counter()
    count: collections.Counter[str] = collections.Counter()
    for stat in after.compare_to(before, "traceback"):
        sites[_where(stat.traceback)] += stat.size_diff
        count[_where(stat.traceback)] += stat.count_diff
    total = sum(sites.values())
    print(f"tracemalloc growth: {total / actors:,.0f} B per actor ({actors} actors)")
    print(f"{'B/actor':>8} {'objs/actor':>10}  allocation site <- roost callers")
    for site, size in sites.most_common(top):
        print(f"{size / actors:8.0f} {count[site] / actors:10.2f}  {site}")
    print("\nlive objects gained per actor, by type:")
    grown = after_types - before_types
    for name, n in grown.most_common(top):
        if n / actors >= 0.5:
            print(f"{n / actors:8.2f}  {name}")


def _owned(root: object, stop: set[int]) -> tuple[int, list[str]]:
    """Bytes of ``root`` and of what it alone reaches (not types, modules, functions, shared
    singletons, nor anything in ``stop``), and the object types it counted."""
    seen: set[int] = set()
    todo = [root]
    size = 0
    kinds: list[str] = []
    while todo:
        obj = todo.pop()
        if id(obj) in seen or id(obj) in stop:
            continue
        if isinstance(obj, (type, types.ModuleType, types.FunctionType, enum.Enum)) or (
            obj is None or obj is True or obj is False
        ):
            continue
        if sys.getrefcount(obj) > 40 and obj is not root:  # shared by the node
            continue
        seen.add(id(obj))
        size += sys.getsizeof(obj)
        kinds.append(type(obj).__name__)
        if isinstance(obj, (str, bytes, int, float)):
            continue
        todo.extend(gc.get_referents(obj))
    return size, kinds


def _breakdown(registry: Any, actors: int) -> None:
    """One hibernated slot and its session, attribute by attribute (sys.getsizeof, owned)."""
    slots = [s for s in registry.slots.values() if s.actor_type == "hold"]
    slot = slots[len(slots) // 2]
    (session,) = slot.sessions.values()
    stop = {id(registry), id(registry.stats), id(slot.cls), id(session), id(slot)}
    print(f"\none slot ({slot.state.name}), what each attribute alone holds (B):")
    attrs_of = getattr(slot, "__dict__", None) or {
        n: getattr(slot, n) for n in type(slot).__slots__ if hasattr(slot, n)
    }
    total = sys.getsizeof(slot) + (sys.getsizeof(slot.__dict__) if hasattr(slot, "__dict__") else 0)
    print(f"{total:6d}  ActorSlot object (+ its __dict__ if any)")
    for name, value in attrs_of.items():
        size, kinds = _owned(value, stop | {id(slot.sessions)} if name != "sessions" else stop)
        total += size
        if size:
            print(f"{size:6d}  .{name}: {', '.join(sorted(set(kinds)))}")
    print(f"{total:6d}  total for the slot (its entry in registry.slots not counted)")
    print("\nits session, what each attribute alone holds (B):")
    stop |= {id(slot.sessions)}
    total = sys.getsizeof(session)
    for name in type(session).__slots__:
        size, kinds = _owned(getattr(session, name, None), stop)
        total += size
        if size:
            print(f"{size:6d}  .{name}: {', '.join(sorted(set(kinds)))}")
    print(f"{total:6d}  total for the session (its task and coroutines not counted)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actors", type=int, default=2000)
    parser.add_argument("--idle", action="store_true", help="keep the actors active")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument(
        "--one-actor", action="store_true", help="every socket to one actor: the socket alone"
    )
    parser.add_argument("--no-trace", action="store_true", help="RSS only, no tracemalloc")
    args = parser.parse_args()
    if not args.no_trace:
        tracemalloc.start(args.frames)
    trio.run(lambda: _measure(args.actors, idle=args.idle, one=args.one_actor, top=args.top))


if __name__ == "__main__":
    main()
