"""The ``roost`` command: ``roost serve APP`` and friends.

Every flag of ``serve`` also reads from a ``ROOST_<NAME>`` environment variable (flags win).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import resource
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import trio

from roost._errors import ConfigError, RoostError
from roost.runtime import App, Server, ServerConfig

log = logging.getLogger("roost")


def load_app(spec: str) -> App:
    """Load an App from a file (``examples/chat.py``) or ``module[:attribute]`` (default ``app``).

    Raises:
        ConfigError: the file or module cannot be loaded, or the attribute is not an App.
    """
    target, _, attribute = spec.partition(":")
    attribute = attribute or "app"
    path = Path(target)
    try:
        if target.endswith(".py") or path.is_file():
            if not path.is_file():
                raise ConfigError(f"no such file: {target}")
            sys.path.insert(0, str(path.resolve().parent))
            module_spec = importlib.util.spec_from_file_location(f"roost_app_{path.stem}", path)
            if module_spec is None or module_spec.loader is None:
                raise ConfigError(f"cannot load {target}")
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[module_spec.name] = module
            module_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(target)
    except ImportError as exc:
        raise ConfigError(f"cannot import {target}: {exc}") from exc
    app = getattr(module, attribute, None)
    if not isinstance(app, App):
        raise ConfigError(f"{spec}: attribute {attribute!r} is not a roost.App")
    return app


def raise_file_limit(wanted: int = 65536) -> None:
    """Lift the soft limit on open files towards the hard one.

    Every connection is a descriptor and every open actor database up to three (file, WAL,
    shared memory); the usual soft limit of 1024 would cap a node long before memory does.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-file limit from %d: %s", soft, exc)


async def serve(app: App, config: ServerConfig) -> None:
    """Run a server until SIGINT or SIGTERM, then shut it down gracefully."""
    server = Server(app, config)
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            await nursery.start(server.serve)
            url = f"http://{config.host}:{server.port}"
            print(
                f"roost listening on {url} (WebSockets at ws://{config.host}:{server.port}/<type>/<key>)",
                flush=True,
            )
            async for signum in signals:
                log.info("received %s; shutting down", signal.Signals(signum).name)
                await server.shutdown()
                break
    print("roost stopped", flush=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="roost", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="serve an app")
    run.add_argument("app", help="a file such as examples/chat.py, or module[:attribute]")
    run.add_argument("--host", help="address to listen on (default 127.0.0.1; ROOST_HOST)")
    run.add_argument("--port", type=int, help="port (default 8787; 0 picks one; ROOST_PORT)")
    run.add_argument("--data-dir", help="where actor files live (default ./roost-data)")
    run.add_argument("--max-message-size", type=int, help="bytes per inbound message")
    run.add_argument("--max-outbound-bytes", type=int, help="queued bytes per connection")
    run.add_argument(
        "--idle-timeout", type=float, help="seconds without a turn before an actor leaves memory"
    )
    run.add_argument("--max-active-actors", type=int, help="actor instances kept in memory")
    run.add_argument("--ping-interval", type=float, help="seconds of silence before a ping")
    run.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``roost`` console script; returns the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s level=%(levelname)s logger=%(name)s %(message)s",
        stream=sys.stderr,
    )
    try:
        config = ServerConfig.from_env(
            host=args.host,
            port=args.port,
            data_dir=args.data_dir,
            max_message_size=args.max_message_size,
            max_outbound_bytes=args.max_outbound_bytes,
            idle_timeout=args.idle_timeout,
            max_active_actors=args.max_active_actors,
            ping_interval=args.ping_interval,
        )
        raise_file_limit()
        app = load_app(args.app)
        trio.run(serve, app, config)
    except RoostError as exc:
        print(f"roost: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"roost: {exc}", file=sys.stderr)
        return 1
    return 0
