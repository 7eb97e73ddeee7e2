"""The records the shared store takes and returns, and the checks every backend shares.

They are frozen attrs classes so a lease or an outcome can be handed between tasks without
anyone changing it underneath. Times are seconds of the *database* clock (unix epoch): leases
are decided by the database so that nodes with skewed clocks agree, and a record says which
clock it was measured on by carrying the database's own numbers.
"""

from __future__ import annotations

import enum
import json
import json.encoder
import math
import re
import threading
from collections.abc import Callable, Sequence
from typing import Any

import attrs

__all__ = [
    "Claim",
    "Lease",
    "LeaseInfo",
    "LeaseOwner",
    "NodeInfo",
    "StateWrite",
    "StoredState",
    "WriteOutcome",
    "WriteStatus",
    "check_name",
    "check_names",
    "check_ttl",
    "decode_state",
    "encode_alarms",
    "encode_state",
]

# A JSON "\u0000" escape that is not itself an escaped backslash followed by "u0000".
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")

#: ``json.dumps`` keywords of a stored state: compact, UTF-8 kept as is, no NaN.
_JSON_OPTIONS: dict[str, Any] = {
    "ensure_ascii": False,
    "allow_nan": False,
    "separators": (",", ":"),
}
_make_c_encoder: Callable[..., Callable[[Any, int], Sequence[str]]] | None = getattr(
    json.encoder, "c_make_encoder", None
)


class _Encoder(threading.local):
    """``json.dumps(state, **_JSON_OPTIONS)`` with its C encoder built once per thread.

    ``json.dumps`` builds a ``JSONEncoder`` and a C encoder on every call, which costs as much
    as encoding a snapshot of a few hundred bytes; the sync worker encodes one per dirty actor.
    The C encoder keeps the ids of the containers it is inside (``markers``, for its circular
    reference check), so each thread has its own; a failed encoding may leave ids behind, which
    are cleared. Without the C accelerator, or should its signature ever differ (checked on a
    sample against ``json.dumps``), this is plain ``json.dumps``.
    """

    def __init__(self) -> None:
        self.markers: dict[int, Any] = {}
        self.iterencode: Callable[[Any, int], Sequence[str]] | None = None
        try:
            self.iterencode = self._make()
            if self.dumps(_SAMPLE) != json.dumps(_SAMPLE, **_JSON_OPTIONS):
                self.iterencode = None  # pragma: no cover - a different CPython
        except Exception:  # pragma: no cover - a different CPython
            self.iterencode = None

    def _make(self) -> Callable[[Any, int], Sequence[str]] | None:
        if _make_c_encoder is not None:
            encoder = json.JSONEncoder(**_JSON_OPTIONS)
            return _make_c_encoder(
                self.markers,
                encoder.default,
                json.encoder.encode_basestring,  # the C function, since ensure_ascii=False
                None,  # indent
                encoder.key_separator,
                encoder.item_separator,
                False,  # sort_keys
                False,  # skipkeys
                False,  # allow_nan
            )
        return None  # pragma: no cover - CPython always has the accelerator

    def dumps(self, state: Any) -> str:
        if self.iterencode is None:  # pragma: no cover - CPython always has the accelerator
            return json.dumps(state, **_JSON_OPTIONS)
        try:
            return "".join(self.iterencode(state, 0))
        except BaseException:
            self.markers.clear()
            raise


_SAMPLE = {"k": [1, -2.5, 1e300, True, None, 'é\\"\u2028🦜'], "": {}}
_encoder = _Encoder()


@attrs.frozen
class Lease:
    """Ownership of one actor by one node until ``expires_at``, proven by ``fence``.

    Attributes:
        actor_type: The actor's type.
        key: The actor's key.
        node_id: The node that holds the lease.
        fence: The fencing token: grows by one for every new owner of this actor and is never
            reused. Every state write carries it; the store refuses a write whose fence is
            lower than the one it has stored.
        expires_at: When the lease ends, in seconds (unix epoch) of the database clock.
        valid_for: How long the lease still ran, in seconds measured by the database, when the
            call that returned it was answered. A holder anchors it at a local time taken
            *before* the call (``trio.current_time()``), which errs on the safe side, and
            stops the actor before that local deadline unless a renewal succeeds.
    """

    actor_type: str
    key: str
    node_id: str
    fence: int
    expires_at: float
    valid_for: float


@attrs.frozen
class StateWrite:
    """One actor state to persist, fenced by the writer's lease.

    Attributes:
        actor_type: The actor's type.
        key: The actor's key.
        fence: The fence of the writer's lease (:attr:`Lease.fence`).
        state: A JSON-able snapshot (dicts, lists, str, int, float, bool, None).
    """

    actor_type: str
    key: str
    fence: int
    state: Any


class WriteStatus(enum.Enum):
    """What happened to one :class:`StateWrite`."""

    #: Stored: the row now has the write's fence and a version one higher than before.
    WRITTEN = "written"
    #: Refused: the stored state or the actor's lease has a higher fence, so a newer owner
    #: exists; nothing changed.
    STALE_FENCE = "stale_fence"


@attrs.frozen
class WriteOutcome:
    """The result of one :class:`StateWrite`, in the order the writes were given.

    Attributes:
        actor_type: The actor's type.
        key: The actor's key.
        status: Written or refused for a stale fence.
        version: The row's version after the write; for a refused write the stored version
            (0 if the actor has no stored state yet).
        fence: The row's fence after the write; for a refused write the highest fence on
            record (state or lease), which tells the stale writer who won.
    """

    actor_type: str
    key: str
    status: WriteStatus
    version: int
    fence: int

    @property
    def written(self) -> bool:
        """Whether the write was stored."""
        return self.status is WriteStatus.WRITTEN


@attrs.frozen
class StoredState:
    """An actor's last synced state as the store holds it.

    Attributes:
        actor_type: The actor's type.
        key: The actor's key.
        version: Grows by one per accepted write, starting at 1.
        fence: The fence of the last accepted write.
        state: The snapshot, decoded from JSON.
        updated_at: When the last write was accepted, in seconds (unix epoch) of the database
            clock.
        alarms: The actor's pending alarms as its last write stored them (the runtime's JSON
            list, decoded), or None when it has none on record.
    """

    actor_type: str
    key: str
    version: int
    fence: int
    state: Any
    updated_at: float
    alarms: Any | None = None


@attrs.frozen
class Claim:
    """What :meth:`SharedStore.claim_actor` got: the lease and the state to start from.

    Attributes:
        lease: The actor's lease, now held by the claiming node.
        stored: The actor's stored state (with its pending alarms), read in the same
            transaction that took the lease, or None if it never synced.
    """

    lease: Lease
    stored: StoredState | None


@attrs.frozen
class LeaseOwner:
    """The node that holds an actor's unexpired lease, where to reach it, and for how long.

    Attributes:
        node_id: The holder.
        address: Its advertised address from ``roost_node``; ``""`` if it is not registered
            (it unregistered while its lease runs out).
        fence: The holder's fence.
        expires_in: Seconds the lease still runs, measured by the database at the call.
    """

    node_id: str
    address: str
    fence: int
    expires_in: float


@attrs.frozen
class LeaseInfo:
    """One row of ``roost_actor_lease``, for tooling: the actor, its holder (None once
    released), the fence of its current or last owner, and the seconds the lease still runs by
    the database clock (``expires_in <= 0``: expired or released, nobody holds it)."""

    actor_type: str
    key: str
    node_id: str | None
    fence: int
    expires_in: float


@attrs.frozen
class NodeInfo:
    """One node of the cluster as the membership table shows it.

    Attributes:
        node_id: The node's id (unique per process lifetime).
        address: Where other nodes reach it (for example ``"10.0.0.5:8080"``).
        started_at: When it registered, in seconds of the database clock.
        heartbeat_at: Its last heartbeat, in seconds of the database clock.
        heartbeat_age: Seconds since its last heartbeat, measured by the database at the call.
        version: The roost version it announced (``""`` if it announced none).
        protocol: The cluster protocol number it speaks (0: none announced).
        cluster: A fingerprint of its cluster secret; ``""`` for a solo node.
        actors: How many unexpired actor leases it holds.
    """

    node_id: str
    address: str
    started_at: float
    heartbeat_at: float
    heartbeat_age: float
    version: str = ""
    protocol: int = 0
    cluster: str = ""
    actors: int = 0


def check_name(value: object, what: str) -> str:
    """Return ``value`` if it can be stored as an identifier in every backend.

    Keys are arbitrary UTF-8 strings (G9), but PostgreSQL text cannot hold NUL characters, and
    a value one backend stores and the other refuses would make the choice of store change
    behaviour; so both refuse them.

    Raises:
        TypeError: if ``value`` is not a string.
        ValueError: if it contains NUL or cannot be encoded as UTF-8.
    """
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string, not {type(value).__name__}")
    if "\0" in value:
        raise ValueError(f"{what} must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{what} is not valid UTF-8 (lone surrogates)") from None
    return value


def check_names(values: Sequence[str], what: str) -> None:
    """:func:`check_name` for many values at once (a batch of keys).

    One join and one scan in C decide for the whole batch; the values are checked one by one
    only when something is wrong, to raise the error that :func:`check_name` raises for the
    first bad one.

    Raises:
        TypeError, ValueError: as :func:`check_name`.
    """
    try:
        joined = "".join(values)
    except TypeError:
        joined = "\0"  # something is not a string: find it below
    if "\0" in joined or not _is_utf8(joined):
        for value in values:
            check_name(value, what)


def _is_utf8(text: str) -> bool:
    """Whether ``text`` encodes as UTF-8 (no lone surrogates): ASCII is decided in one scan."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_ttl(ttl: float) -> float:
    """Return ``ttl`` as a float if it is a positive, finite number of seconds.

    Raises:
        ValueError: otherwise.
    """
    seconds = float(ttl)
    if not (seconds > 0 and math.isfinite(seconds)):
        raise ValueError("ttl must be a positive, finite number of seconds")
    return seconds


def encode_state(state: Any) -> str:
    """Encode a snapshot as compact JSON text that both backends store alike.

    NaN and infinities are refused (they are not JSON), and so are strings holding NUL or lone
    surrogates, which PostgreSQL's jsonb cannot store: checking here keeps the backends equal
    and lets the caller see the bad actor before a batch is sent.

    Raises:
        TypeError: if ``state`` holds something that is not JSON-able.
        ValueError: for NaN, infinities, NUL characters or lone surrogates.
    """
    text = _encoder.dumps(state)
    if "\\u0000" in text and _NUL_ESCAPE.search(text):
        raise ValueError("state must not contain NUL characters (jsonb cannot store them)")
    if not _is_utf8(text):
        raise ValueError("state contains a string that is not valid UTF-8")
    return text


def encode_alarms(alarms: object) -> tuple[str | None, float | None]:
    """Encode one actor's pending alarms; return their JSON text and the earliest due time.

    ``None`` means no pending alarm (both None). Otherwise a list of dicts, each with a
    ``"due_at"`` of unix seconds; the rest of each dict is the runtime's, stored as it is. An
    empty list is stored as given, with no due time.

    Raises:
        TypeError: if ``alarms`` is not a list of dicts, or a ``due_at`` is not a number.
        ValueError: if a ``due_at`` is missing or not finite, or the list is not JSON-able
            (see :func:`encode_state`).
    """
    if alarms is None:
        return None, None
    if not isinstance(alarms, list):
        raise TypeError(f"alarms must be a list of dicts or None, not {type(alarms).__name__}")
    due: float | None = None
    for alarm in alarms:
        if not isinstance(alarm, dict):
            raise TypeError(f"an alarm must be a dict, not {type(alarm).__name__}")
        if "due_at" not in alarm:
            raise ValueError("an alarm needs a 'due_at' (unix seconds)")
        at = alarm["due_at"]
        if isinstance(at, bool) or not isinstance(at, (int, float)):
            raise TypeError("an alarm's 'due_at' must be a number of unix seconds")
        if not math.isfinite(at):
            raise ValueError("an alarm's 'due_at' must be finite")
        due = float(at) if due is None else min(due, float(at))
    return encode_state(alarms), due


def decode_state(text: str) -> Any:
    """Decode a snapshot stored as JSON text."""
    return json.loads(text)
