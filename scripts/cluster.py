#!/usr/bin/env python3
"""Start a cluster of roost nodes on this machine against one PostgreSQL store.

    python3 scripts/cluster.py --store postgresql://127.0.0.1/test examples/chat.py
    python3 scripts/cluster.py --nodes 3 --base-port 8701 --lease-ttl 3 --store URL APP

Each node gets its own data dir (under --data-dir, default a fresh temporary directory) and
port, and one cluster secret made for this run. The script prints every node's URL, then waits;
Ctrl-C (or SIGTERM) stops the nodes gracefully (their actors are handed over, then released).
``--check`` starts the nodes, checks that each is ready and that all agree on one owner for
an actor, prints one line and stops them (what tests/cluster/test_cluster_script.py runs).

Run it with the Python that has roost installed (``.venv/bin/python``), or after ``python3
dev.py`` set the virtualenv up.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def start(
    args: argparse.Namespace, index: int, data: Path, secret: str
) -> tuple[subprocess.Popen[bytes], int]:
    port = 0 if args.check else args.base_port + index
    command = [
        sys.executable, "-m", "roost", "serve", args.app, "--host", "127.0.0.1",
        "--port", str(port), "--data-dir", str(data / f"node-{index}"), "--store", args.store,
        "--lease-ttl", str(args.lease_ttl),
    ]  # fmt: skip
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        env={**os.environ, "ROOST_CLUSTER_SECRET": secret},
        start_new_session=True,  # Ctrl-C reaches the script, which stops the nodes in order
    )
    assert process.stdout is not None
    line = process.stdout.readline().decode()
    match = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
    if match is None:
        process.kill()
        sys.exit(f"node {index} did not start: {line.strip() or 'no output'}")
    return process, int(match.group(1))


def owner_of(port: int, path: str) -> str | None:
    """The Roost-Owner a node names for ``path`` (any status)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.getheader("roost-owner")
    finally:
        connection.close()


def ready(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/_roost/ready")
        return connection.getresponse().status == 200
    finally:
        connection.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("app", help="the app file, for example examples/chat.py")
    parser.add_argument("--store", required=True, help="the PostgreSQL URL every node shares")
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--base-port", type=int, default=8701)
    parser.add_argument("--lease-ttl", type=float, default=10.0)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--check", action="store_true", help="start, check, stop")
    parser.add_argument("--actor", default="chat/lobby", help="the actor --check asks about")
    args = parser.parse_args(argv)
    data = args.data_dir or Path(tempfile.mkdtemp(prefix="roost-cluster-"))
    secret = secrets.token_urlsafe(24)
    nodes: list[tuple[subprocess.Popen[bytes], int]] = []
    try:
        for index in range(args.nodes):
            nodes.append(start(args, index, data, secret))
        for index, (_process, port) in enumerate(nodes):
            print(f"node {index}: http://127.0.0.1:{port}  (data in {data / f'node-{index}'})")
        if args.check:
            deadline = time.monotonic() + 20
            while not all(ready(port) for _, port in nodes):
                if time.monotonic() > deadline:
                    print("check failed: not every node became ready", file=sys.stderr)
                    return 1
                time.sleep(0.2)
            owners = {owner_of(port, f"/{args.actor}") for _, port in nodes}
            if len(owners) != 1 or None in owners:
                print(f"check failed: the nodes name different owners: {owners}", file=sys.stderr)
                return 1
            print(f"check ok: {args.nodes} nodes ready, {args.actor} owned by {owners.pop()}")
            return 0
        print("Ctrl-C stops the cluster.")
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        while all(process.poll() is None for process, _ in nodes):
            time.sleep(0.5)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for process, _ in nodes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process, _ in nodes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    sys.exit(main())
