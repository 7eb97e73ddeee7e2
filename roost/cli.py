"""The ``roost`` command: ``roost serve APP``, ``sql``, ``actors``, ``nodes``, ``new``, ``demo``.

Every flag of ``serve`` also reads from a ``ROOST_<NAME>`` environment variable (flags win);
the tools find the data directory and the shared store the same way. The tools' work is in
:mod:`roost._tools`; their sub-commands and the printing of their rows are
:mod:`roost._cli_tools`; this module parses arguments and runs ``serve``.

Long because: it is the whole command line: one argparse parser for every sub-command, with
``serve``'s flags generated from the settings, and ``serve`` itself (loading the app, signals,
reload, the file limit, a supervisor's start for ``--workers``), which shares the parsed flags.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import os
import resource
import signal
import sys
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

import trio

from roost import _cli_tools, _logging, _new, _reload, _supervisor
from roost._errors import ConfigError, RoostError
from roost._version import __version__
from roost.runtime import App, Server, ServerConfig
from roost.runtime._config import DEFAULT_TEXT, HELP, SETTINGS, Setting
from roost.runtime._connections import listen
from roost.runtime._worker import WorkerContext
from roost.storage import DataDirLock, DataDirLocked, open_shared_store

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


async def serve(app: App, config: ServerConfig, worker: WorkerContext | None = None) -> None:
    """Run a server until SIGINT or SIGTERM, then shut it down gracefully.

    A second signal during the graceful shutdown exits at once (see :func:`_exit_now`).
    A worker of ``--workers N`` (``worker``) leaves stdout to its supervisor: it logs instead.
    """
    server = Server(app, config, worker=worker)
    watching_parent = trio.CancelScope()
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            await nursery.start(server.serve)
            parent = os.environ.get(_reload.PARENT_ENV)
            if parent is not None and parent.isdigit():
                nursery.start_soon(_stop_with_parent, int(parent), watching_parent)
            if worker is None:
                say_listening(config.host, server.port)
            else:
                log.info("worker %d serving on port %s", worker.index, server.port)
            async for signum in signals:
                log.info("received %s; shutting down", signal.Signals(signum).name)
                break
            async with trio.open_nursery() as stopping:
                stopping.start_soon(_exit_on_next_signal, signals)
                await server.shutdown()
                stopping.cancel_scope.cancel()
            watching_parent.cancel()
    if worker is None:
        print("roost stopped", flush=True)


def say_listening(host: str, port: int | None) -> None:
    """The start line on stdout, which scripts and tests read the port from."""
    url = f"http://{host}:{port}"
    print(f"roost listening on {url} (WebSockets at ws://{host}:{port}/<type>/<key>)", flush=True)


async def _stop_with_parent(parent: int, scope: trio.CancelScope) -> None:
    """Under ``--reload`` or ``--workers``: when the watcher or supervisor dies without stopping
    us (``kill -9``), shut down.

    Otherwise this server would run on as an orphan, holding the data directory's lock.
    The shutdown is the usual one: we send ourselves SIGTERM.
    """
    with scope:
        while os.getppid() == parent:  # noqa: ASYNC110 - no event tells of a parent's death
            await trio.sleep(1)
        log.warning("the supervising process %d is gone; shutting down", parent)
        os.kill(os.getpid(), signal.SIGTERM)


async def _exit_on_next_signal(signals: AsyncIterator[int]) -> None:
    async for signum in signals:
        _exit_now(signum)


def _exit_now(signum: int) -> NoReturn:
    """The operator insists (a second Ctrl-C): leave without finishing the shutdown.

    Nothing committed is lost: every turn committed to its actor's SQLite before its output
    left, and the dirty marks in node.sqlite make the next start sync what was not synced; the
    kernel releases the data directory's lock. Exit status 128 + the signal, like a shell.
    """
    name = signal.Signals(signum).name
    print(f"roost: {name} again: exiting without finishing the shutdown", file=sys.stderr)
    sys.stderr.flush()
    sys.stdout.flush()
    os._exit(128 + signum)


# -- command line -------------------------------------------------------------------------------

_DATA_DIR_HELP = "the data directory (default ./roost-data; ROOST_DATA_DIR)"
_STORE_HELP = f"{HELP['store']} (default {DEFAULT_TEXT['store']}; ROOST_STORE)"
_FILE_STORE_HELP = (
    "work on the actor's file in this shared store (durable and replicate_file actors): {what}"
)
_WAIT_HELP = "wait until no node holds the actor (else refused with status 2)"


def _output_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--json", action="store_true", help="one JSON object per row")
    group.add_argument("--csv", action="store_true", help="CSV with a header row")


#: The log level's variable; the other ``serve`` settings are ServerConfig fields.
LOG_LEVEL_ENV = "ROOST_LOG_LEVEL"
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
#: ``--reload`` from the environment (``1``/``true``/``yes``/``on`` or ``0``/``false``/...).
RELOAD_ENV = "ROOST_RELOAD"
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


def _reload_wanted(args: argparse.Namespace, environ: Mapping[str, str]) -> bool:
    if getattr(args, "reload", False):
        return True
    raw = environ.get(RELOAD_ENV, "").strip().lower()
    if raw not in _TRUE + _FALSE:
        raise ConfigError(f"{RELOAD_ENV}: {raw!r} is not one of {', '.join(_TRUE + _FALSE[1:])}")
    return raw in _TRUE


def _log_level(raw: str) -> str:
    level = raw.strip().upper()
    if level not in _LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"{raw!r} is not one of {', '.join(_LOG_LEVELS)}")
    return level


def _serve_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per ServerConfig field, from the settings table (so none can be missing).

    A yes/no setting is a pair of switches, as in uvicorn: ``--access-log``/``--no-access-log``
    (its variable takes ``true`` or ``false``).
    """
    for setting in SETTINGS:
        if setting.kind == "bool":
            default = "on" if setting.default else "off"
            switches = (
                (setting.flag, True, f"{setting.help} (default {default}; {setting.env})"),
                (
                    "--no-" + setting.flag[2:],
                    False,
                    f"the opposite of {setting.flag} ({setting.env})",
                ),
            )
            for flag, value, text in switches:
                parser.add_argument(
                    flag, dest=setting.name, action="store_const", const=value, help=text
                )
            continue
        parser.add_argument(
            setting.flag,
            dest=setting.name,
            metavar=_METAVARS.get(setting.name),
            type=_flag_type(setting),
            action="append" if setting.repeatable else "store",
            help=f"{setting.help} (default {_default(setting)}; {setting.env})".replace("%", "%%"),
        )


_METAVARS = {"allow_origins": "ORIGIN", "forwarded_allow_ips": "IPS"}


def _default(setting: Setting) -> str:
    if setting.name in DEFAULT_TEXT:
        return DEFAULT_TEXT[setting.name]
    if isinstance(setting.default, tuple):
        return ",".join(setting.default) or "none"
    return str(setting.default)


def _flag_type(setting: Setting) -> Callable[[str], Any]:
    def parse(raw: str) -> Any:
        try:
            return setting.parse(raw)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line (``roost serve: argument --port: ...``), exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="roost", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"roost {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = commands.add_parser(
        "serve",
        help="serve an app",
        description=(
            "Serve an app. Every flag also reads the environment variable named in its help; "
            "a flag wins over the environment, which wins over the default."
        ),
    )
    run.add_argument("app", help="a file such as examples/chat.py, or module[:attribute]")
    _serve_flags(run)
    _log_level_flag(run)
    run.add_argument(
        "--reload",
        action="store_true",
        help=(
            "development: restart the server when a .py file in the app's directory changes; "
            f"needs watchfiles: pip install 'roost[reload]' (default off; {RELOAD_ENV})"
        ),
    )

    demo = commands.add_parser(
        "demo",
        help="serve the browser demo (a shared editor, cursors and a chat)",
        description=(
            "Serve the browser demo that ships with roost (examples/demo.py) and open "
            "http://127.0.0.1:8787/ in two browser windows. Takes the flags of serve."
        ),
    )
    _serve_flags(demo)
    _log_level_flag(demo)

    new = commands.add_parser(
        "new",
        help="create a small app with its tests",
        description=(
            "Create the directory NAME with app.py (an actor with rpc, presence and an "
            "alarm), test_app.py (its tests with roost.testing) and a README.md."
        ),
    )
    new.add_argument("name", help="the app's directory: a letter, then letters, digits, _ or -")
    new.set_defaults(run=_new_app)

    sql = commands.add_parser(
        "sql",
        help="run SQL against the shared store or one actor's SQLite",
        description=(
            "Run one SQL statement against the shared store (SQLite or PostgreSQL) or, with "
            "--actor, against one actor's SQLite file, and print the rows. Read-only unless "
            "--write is given."
        ),
    )
    sql.add_argument("statement", help='one SQL statement, for example "select * from t"')
    target = sql.add_mutually_exclusive_group()
    target.add_argument("--store", help=_STORE_HELP)
    target.add_argument(
        "--actor", metavar="TYPE/KEY", help="query this actor's SQLite (chat/lobby)"
    )
    sql.add_argument("--data-dir", help=_DATA_DIR_HELP)
    sql.add_argument(
        "--write",
        action="store_true",
        help="allow the statement to change data (on an actor: refused while a server runs)",
    )
    _output_flags(sql)
    sql.set_defaults(run=_cli_tools.sql)

    actors = commands.add_parser(
        "actors",
        help="list, export, import and delete actor files",
        description="List, export, import and delete the SQLite files of actors.",
    )
    actor_commands = actors.add_subparsers(dest="actors_command", required=True)
    listing = actor_commands.add_parser(
        "list",
        help="every actor file with its size, last activity and pending alarms",
        description=(
            "List every actor file: type, key, size on disk (file and WAL), last write "
            "(UTC) and pending alarms. Read-only; safe while a server runs."
        ),
    )
    listing.add_argument("--type", help="only actors of this type")
    listing.add_argument("--data-dir", help=_DATA_DIR_HELP)
    listing.add_argument(
        "--store",
        help="list the actors this shared store knows, with each one's owner node and fence",
    )
    _output_flags(listing)
    listing.set_defaults(run=_cli_tools.actors_list)

    export = actor_commands.add_parser(
        "export",
        help="write a consistent copy of an actor's SQLite",
        description=(
            "Write a consistent copy of one actor's database to stdout or -o FILE, also while "
            "a server runs."
        ),
    )
    export.add_argument("actor", metavar="TYPE/KEY", help="the actor, for example chat/lobby")
    export.add_argument(
        "-o", "--output", "--out", metavar="FILE", help="write here instead of stdout"
    )
    export.add_argument("--data-dir", help=_DATA_DIR_HELP)
    export.add_argument("--store", help=_FILE_STORE_HELP.format(what="export its newest file"))
    export.set_defaults(run=_cli_tools.actors_export)

    imp = actor_commands.add_parser(
        "import",
        help="replace an actor's SQLite with a database",
        description=(
            "Replace one actor's database with the one on stdin or in -i FILE. Refused while "
            "a server runs on the data directory (stop it first)."
        ),
    )
    imp.add_argument("actor", metavar="TYPE/KEY", help="the actor, for example chat/lobby")
    imp.add_argument("file", nargs="?", metavar="FILE", help="the database (or -i FILE, stdin)")
    imp.add_argument("-i", "--input", metavar="FILE", help="read here instead of stdin")
    imp.add_argument(
        "--force", action="store_true", help="import a database recorded as another actor's"
    )
    imp.add_argument("--data-dir", help=_DATA_DIR_HELP)
    imp.add_argument("--store", help=_FILE_STORE_HELP.format(what="store it as its newest file"))
    imp.add_argument("--wait", action="store_true", help=_WAIT_HELP)
    imp.set_defaults(run=_cli_tools.actors_import)

    restore = actor_commands.add_parser(
        "restore",
        help="store an actor's file as it was at a moment, as its newest version",
        description=(
            "Rebuild a durable or replicate_file actor's file from the shared store's history "
            "as it was at a moment (within --log-retention) and store it as the actor's newest "
            "version; the history is kept. Refused while a node holds the actor."
        ),
    )
    restore.add_argument("actor", metavar="TYPE/KEY", help="the actor, for example chat/lobby")
    restore.add_argument(
        "--at",
        required=True,
        metavar="TIMESTAMP",
        help="ISO 8601 (2026-12-06T07:30:00Z; UTC without an offset) or unix seconds",
    )
    restore.add_argument("--store", help=_STORE_HELP)
    restore.add_argument("--data-dir", help=_DATA_DIR_HELP)
    restore.add_argument("--wait", action="store_true", help=_WAIT_HELP)
    restore.set_defaults(run=_cli_tools.actors_restore)

    delete = actor_commands.add_parser(
        "delete",
        help="delete an actor's file and its shared-store rows",
        description=(
            "Delete one actor: its SQLite file, its state and lease in the shared store, and "
            "the node's alarm index entries for it. Refused while a server runs on the data "
            "directory (a live actor deletes itself: storage.delete_all()) or while another "
            "node holds the actor."
        ),
    )
    delete.add_argument("actor", metavar="TYPE/KEY", help="the actor, for example chat/lobby")
    delete.add_argument("--data-dir", help=_DATA_DIR_HELP)
    delete.add_argument("--store", help=_STORE_HELP)
    delete.set_defaults(run=_cli_tools.actors_delete)

    nodes = commands.add_parser(
        "nodes",
        help="the cluster's nodes: live and recently dead",
        description=(
            "List the nodes registered in the shared store: id, address, version, heartbeat "
            "age and actors owned; a node is live while its heartbeat is younger than the "
            "lease TTL (database clock). Read-only."
        ),
    )
    nodes.add_argument("--store", help=_STORE_HELP)
    nodes.add_argument("--data-dir", help=_DATA_DIR_HELP)
    nodes.add_argument(
        "--lease-ttl", type=float, default=10.0, help="the nodes' --lease-ttl (default 10)"
    )
    nodes.add_argument(
        "--dead-for",
        type=float,
        default=3600.0,
        metavar="SECONDS",
        help="leave out nodes silent for longer (default 3600)",
    )
    nodes.add_argument("--all", action="store_true", help="every registered node")
    _output_flags(nodes)
    nodes.set_defaults(run=_cli_tools.nodes)
    return parser


def _log_level_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log-level",
        type=_log_level,
        help=f"DEBUG, INFO, WARNING or ERROR (default INFO; {LOG_LEVEL_ENV})",
    )
    parser.add_argument(
        "--log-format",
        type=_log_format,
        help=(
            "text (time level=... lines) or json: one JSON object per line "
            f"(default text; {_logging.LOG_FORMAT_ENV})"
        ),
    )


def _log_format(raw: str) -> str:
    try:
        return _logging.parse_log_format(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _new_app(args: argparse.Namespace) -> int:
    target = _new.create_app(args.name, Path.cwd())
    print(f"created {target}: cd {args.name} && roost serve app.py --reload (and: pytest)")
    return 0


def demo_app_path() -> Path:
    """The demo's app file: shipped in the package (``roost/_demo``) or in the checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_demo" / "demo.py", here.parent / "examples" / "demo.py"):
        if candidate.is_file():
            return candidate
    raise ConfigError("the demo is not installed with this copy of roost")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``roost`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args, argv[argv.index("serve") + 1 :])
    if args.command == "demo":
        try:
            args.app = str(demo_app_path())
        except ConfigError as exc:
            return _serve_failed(exc)
        return _serve(args, [args.app, *argv[argv.index("demo") + 1 :]])
    if args.command == "new":  # a usage error: exit 2 like argparse's, in one line
        try:
            return int(args.run(args))
        except ConfigError as exc:
            print(f"roost new: {exc}", file=sys.stderr)
            return 2
    try:
        status: int = args.run(args)
    except DataDirLocked as exc:  # a server runs on it: the writer refuses, as serve does
        print(f"roost: {exc}", file=sys.stderr)
        return 2
    except RoostError as exc:
        print(f"roost: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (| head): silence the final flush of stdout too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as exc:
        detail = f"{exc.strerror}: {exc.filename}" if exc.filename else str(exc)
        print(f"roost: {detail}", file=sys.stderr)
        return 1
    return status


def serve_config(args: argparse.Namespace, environ: Mapping[str, str]) -> ServerConfig:
    """The ServerConfig of ``roost serve``: flags, then ``ROOST_*`` variables, then defaults.

    Raises:
        ConfigError: a bad value, or a shared store that names no usable backend.
    """
    flags = {s.name: getattr(args, s.name) for s in SETTINGS}
    for setting in SETTINGS:
        if setting.repeatable and flags[setting.name] is not None:
            flags[setting.name] = tuple(item for value in flags[setting.name] for item in value)
    config = ServerConfig.from_env(environ, **flags)
    open_shared_store(config.store, data_dir=config.data_dir)  # refuses a bad URL; opens nothing
    return config


def _serve(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """Check everything, lock the data directory, load the app, then serve.

    With ``--reload`` this process only holds the lock and watches; the server runs in a child
    started with ``argv`` (the arguments after ``serve``) less ``--reload``. With more than one
    worker it only holds the lock and the listening socket and supervises the workers
    (roost/_supervisor.py), each started with ``argv``.

    Exit status: 0 after a graceful shutdown; 2 for a bad setting, a bad app or a data
    directory another server holds (nothing was opened); 1 when the system refused.
    """
    try:
        level = args.log_level or _log_level(os.environ.get(LOG_LEVEL_ENV, "INFO"))
    except argparse.ArgumentTypeError as exc:
        return _serve_failed(ConfigError(f"{LOG_LEVEL_ENV}: {exc}"))
    try:
        log_format = args.log_format or _log_format(os.environ.get(_logging.LOG_FORMAT_ENV, "text"))
    except argparse.ArgumentTypeError as exc:
        return _serve_failed(ConfigError(f"{_logging.LOG_FORMAT_ENV}: {exc}"))
    _logging.setup(level, log_format)
    try:
        config = serve_config(args, os.environ)
        worker = WorkerContext.from_env()
        if worker is None and config.worker_count > 1:
            _supervise(args, argv, config, (level, log_format))
        if args.command == "serve" and _reload_wanted(args, os.environ):
            with DataDirLock.acquire(config.data_dir) as held:
                return _reload.run_reloader(
                    [a for a in argv if a != "--reload"],
                    held,
                    _reload.watched_dirs(args.app),
                    shutdown_timeout=config.shutdown_timeout,
                )
        app = load_app(args.app)
        # One server per data directory, locked before any database opens; held until exit.
        lock = DataDirLock.acquire(config.data_dir)
        raise_file_limit()
        try:
            trio.run(serve, app, config, worker)
        finally:
            lock.release()
    except (RoostError, OSError) as exc:
        return _serve_failed(exc)
    except KeyboardInterrupt:  # Ctrl-C while starting, before the signal handlers are in place
        print("roost: interrupted while starting", file=sys.stderr)
        return 128 + signal.SIGINT
    except BaseExceptionGroup as group:  # trio's nurseries wrap what failed inside them
        leaf = _only_leaf(group)
        if not isinstance(leaf, RoostError | OSError):
            raise
        return _serve_failed(leaf)
    return 0


def _supervise(
    args: argparse.Namespace, argv: Sequence[str], config: ServerConfig, logs: tuple[str, str]
) -> NoReturn:
    """``--workers N``: check the app, lock the directory, listen, then become the supervisor
    (an exec: the lock and the sockets stay open in the new program). ``logs``: the log level
    and format.

    Raises:
        ConfigError: ``--reload`` was asked for too, or the app does not load.
        DataDirLocked: another server holds the data directory.
        OSError: the port cannot be bound, or the exec failed.
    """
    if args.command == "serve" and _reload_wanted(args, os.environ):
        raise ConfigError("--reload runs one server process: it cannot be combined with --workers")
    load_app(args.app)  # a bad app fails here, once, with exit status 2
    lock = DataDirLock.acquire(config.data_dir)
    try:
        listener = listen(config.host, config.port, backlog=1024)
        admin = None
        if config.admin_port is not None:
            admin = listen(config.admin_host or config.host, config.admin_port, backlog=128)
        say_listening(config.host, listener.getsockname()[1])
        _supervisor.exec_supervisor(
            argv, config, lock, listener, admin=admin, log_level=logs[0], log_format=logs[1]
        )
    finally:
        lock.release()  # only when something failed: the exec does not come back


def _serve_failed(exc: RoostError | OSError) -> int:
    """Print why ``serve`` could not run: 2 for a bad setting or app, 1 when the system refused."""
    print(f"roost: {exc}", file=sys.stderr)
    return 2 if isinstance(exc, RoostError) else 1


def _only_leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc
