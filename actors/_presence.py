"""Who is here: a pure presence tracker in the Phoenix Presence model.

Each connection may be present under a few keys (a user id, say), each time with a *meta*: a
small JSON object such as a name, a colour or a cursor. Every tracked meta gets a ``ref``,
unique within the tracker, so that clients can add and remove metas without ambiguity. A
joining client receives :meth:`PresenceTracker.state`; afterwards every change yields a
:class:`PresenceDiff`, whose :meth:`~PresenceDiff.as_message` clients apply the way the Phoenix
JavaScript client's ``syncDiff`` does: add the joined metas, remove the left refs, drop keys
left without metas.

The tracker does no I/O and reads no clock: the runtime sends the diffs and expires presences;
this module only keeps the data, so it can be tested exhaustively.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs

from roost._errors import RoostError

#: A meta as clients see it: the tracked meta plus ``"ref"`` (and ``"ref_prev"`` after an
#: update).
Meta = dict[str, Any]
#: ``{key: {"metas": [meta, ...]}}``, the shape of a state and of each half of a diff.
Presences = dict[str, dict[str, list[Meta]]]

#: Keys the tracker adds to metas; a tracked meta may not contain them.
RESERVED_META_KEYS = frozenset({"ref", "ref_prev"})
SNAPSHOT_VERSION = 1


class PresenceLimitError(RoostError):
    """Tracking or updating a presence would exceed one of the tracker's limits.

    Attributes:
        limit: the name of the constructor argument that was exceeded.
    """

    def __init__(self, message: str, *, limit: str) -> None:
        super().__init__(message)
        self.limit = limit


@attrs.frozen
class PresenceDiff:
    """What changed, as clients apply it: joined metas and left metas, by key.

    A ref never appears in both halves. Keys map to ``{"metas": [...]}``; a key is absent
    from a half rather than mapped to an empty list.
    """

    joins: Mapping[str, Mapping[str, list[Meta]]] = attrs.field(factory=dict)
    leaves: Mapping[str, Mapping[str, list[Meta]]] = attrs.field(factory=dict)

    @property
    def is_empty(self) -> bool:
        """True when nothing joined and nothing left: there is nothing to send."""
        return not self.joins and not self.leaves

    def as_message(self) -> dict[str, Any]:
        """The JSON-able message for clients: ``{"type": "presence_diff", "joins", "leaves"}``."""
        return {
            "type": "presence_diff",
            "joins": {key: {"metas": list(p["metas"])} for key, p in self.joins.items()},
            "leaves": {key: {"metas": list(p["metas"])} for key, p in self.leaves.items()},
        }


def merge_diffs(a: PresenceDiff, b: PresenceDiff) -> PresenceDiff:
    """One diff with the effect of applying ``a`` then ``b`` (to coalesce before sending).

    A meta that joins in ``a`` and leaves in ``b`` appears in neither half of the result.
    """
    left_in_b = {meta["ref"] for p in b.leaves.values() for meta in p["metas"]}
    joined_in_a = {meta["ref"] for p in a.joins.values() for meta in p["metas"]}
    cancelled = left_in_b & joined_in_a
    joins: Presences = {}
    leaves: Presences = {}
    for target, halves in ((joins, (a.joins, b.joins)), (leaves, (a.leaves, b.leaves))):
        for half in halves:
            for key, presence in half.items():
                metas = [meta for meta in presence["metas"] if meta["ref"] not in cancelled]
                if metas:
                    target.setdefault(key, {"metas": []})["metas"].extend(metas)
    return PresenceDiff(joins, leaves)


@attrs.define
class _Presence:
    conn_id: str
    key: str
    meta: Meta  # as clients see it, ref included; owned by the tracker


class PresenceTracker:
    """The presences of one actor: which connection is here under which key, with what meta.

    Metas are JSON objects: a meta that is not a dict, or not JSON-serialisable (including
    NaN, infinities and circular references), raises TypeError; one that uses a reserved key
    (``"ref"``, ``"ref_prev"``) raises ValueError. The tracker stores its own JSON copy, so
    later changes to the caller's dict are not seen. Returned metas are the caller's to keep.

    Keyword Args:
        max_presences: presences in the tracker. With ``max_meta_bytes`` this bounds the
            tracker's memory: by default 10,000 x 4 KiB, about 40 MiB of JSON at most (a few
            times that as Python objects), which is also the largest :meth:`state` message.
        max_meta_bytes: bytes of one meta as compact UTF-8 JSON, before the ref is added.
        max_keys_per_connection: keys one connection may be present under, which bounds
            what one client can hold (by default 16 x 4 KiB, 64 KiB).
        max_key_length: characters in a key.

    Raises:
        ValueError: a limit is not a positive integer.
    """

    def __init__(
        self,
        *,
        max_presences: int = 10_000,
        max_meta_bytes: int = 4 * 1024,
        max_keys_per_connection: int = 16,
        max_key_length: int = 256,
    ) -> None:
        limits = {
            "max_presences": max_presences,
            "max_meta_bytes": max_meta_bytes,
            "max_keys_per_connection": max_keys_per_connection,
            "max_key_length": max_key_length,
        }
        for name, value in limits.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        self.max_presences = max_presences
        self.max_meta_bytes = max_meta_bytes
        self.max_keys_per_connection = max_keys_per_connection
        self.max_key_length = max_key_length
        self._next_ref = 1
        # key -> ref -> presence, metas in join order (an update rejoins at the end).
        self._by_key: dict[str, dict[str, _Presence]] = {}
        # conn_id -> key -> ref, in the same join order.
        self._by_conn: dict[str, dict[str, str]] = {}
        self._count = 0

    # -- changes -----------------------------------------------------------------------------

    def track(self, conn_id: str, key: str, meta: Meta) -> PresenceDiff:
        """``conn_id`` is present under ``key`` with ``meta``; tracked already, an update.

        Raises:
            PresenceLimitError: the meta is too large, the key too long, or the tracker or
                this connection is full. Nothing changes.
            TypeError, ValueError: see the class docstring on metas.
        """
        if key in self._by_conn.get(conn_id, ()):
            return self.update(conn_id, key, meta)
        _check_str("conn_id", conn_id)
        _check_str("key", key)
        if len(key) > self.max_key_length:
            raise PresenceLimitError(
                f"presence key of {len(key)} characters, over max_key_length={self.max_key_length}",
                limit="max_key_length",
            )
        encoded = self._encode(meta)
        if self._count >= self.max_presences:
            raise PresenceLimitError(
                f"this actor already tracks {self._count} presences (max_presences="
                f"{self.max_presences})",
                limit="max_presences",
            )
        if len(self._by_conn.get(conn_id, ())) >= self.max_keys_per_connection:
            raise PresenceLimitError(
                f"connection {conn_id} is already present under {self.max_keys_per_connection}"
                f" keys (max_keys_per_connection={self.max_keys_per_connection})",
                limit="max_keys_per_connection",
            )
        joined = self._add(conn_id, key, encoded, ref_prev=None)
        return PresenceDiff(joins={key: {"metas": [joined]}})

    def update(self, conn_id: str, key: str, meta: Meta) -> PresenceDiff:
        """Replace the meta of (``conn_id``, ``key``): the old meta leaves, the new one joins.

        The new meta has a new ``"ref"`` and names the old one as ``"ref_prev"``.

        Raises:
            KeyError: ``conn_id`` is not present under ``key``.
            PresenceLimitError: the meta is too large. Nothing changes.
            TypeError, ValueError: see the class docstring on metas.
        """
        try:
            ref = self._by_conn[conn_id][key]
        except (KeyError, TypeError):
            raise KeyError((conn_id, key)) from None
        encoded = self._encode(meta)
        left = self._remove(conn_id, key, ref)
        joined = self._add(conn_id, key, encoded, ref_prev=ref)
        return PresenceDiff(joins={key: {"metas": [joined]}}, leaves={key: {"metas": [left]}})

    def untrack(self, conn_id: str, key: str | None = None) -> PresenceDiff:
        """``conn_id`` leaves ``key``, or every key it is present under when ``key`` is None.

        Untracking what is not tracked is not an error: the diff is empty.
        """
        refs = self._by_conn.get(conn_id, {})
        if key is None:
            keys = list(refs)
        elif key in refs:
            keys = [key]
        else:
            keys = []
        leaves: Presences = {k: {"metas": [self._remove(conn_id, k, refs[k])]} for k in keys}
        return PresenceDiff(leaves=leaves)

    # -- queries -----------------------------------------------------------------------------

    def state(self) -> Presences:
        """Every presence, for a joining client: ``{key: {"metas": [...]}}``, in join order."""
        return {
            key: {"metas": [_copy(p.meta) for p in metas.values()]}
            for key, metas in self._by_key.items()
        }

    def keys_of(self, conn_id: str) -> list[str]:
        """The keys ``conn_id`` is present under, in the order of their last (re)join."""
        return list(self._by_conn.get(conn_id, ()))

    def connections(self) -> set[str]:
        """The connections present under at least one key."""
        return set(self._by_conn)

    def __contains__(self, presence: object) -> bool:
        """``(conn_id, key) in tracker``: is that connection present under that key?"""
        if not isinstance(presence, tuple) or len(presence) != 2:
            return False
        conn_id, key = presence
        if not isinstance(conn_id, str) or not isinstance(key, str):
            return False
        return key in self._by_conn.get(conn_id, ())

    def __len__(self) -> int:
        """The number of presences, that is of (connection, key) pairs."""
        return self._count

    def __repr__(self) -> str:
        return (
            f"<PresenceTracker {self._count} presences, {len(self._by_key)} keys, "
            f"{len(self._by_conn)} connections>"
        )

    # -- hibernation -------------------------------------------------------------------------

    def to_snapshot(self) -> dict[str, Any]:
        """The whole state as a JSON-able dict, for :meth:`from_snapshot` after hibernation."""
        return {
            "version": SNAPSHOT_VERSION,
            "next_ref": self._next_ref,
            "presences": [
                [p.conn_id, p.key, _copy(p.meta)]
                for metas in self._by_key.values()
                for p in metas.values()
            ],
        }

    @classmethod
    def from_snapshot(cls, snapshot: Mapping[str, Any], **limits: int) -> PresenceTracker:
        """A tracker equal in every observable way to the one that made ``snapshot``.

        The limits apply to what is tracked afterwards: a snapshot taken under larger limits
        is restored whole (it was bounded by those), and new presences are refused until the
        tracker is back under the new ones.

        Raises:
            ValueError: ``snapshot`` is not one that :meth:`to_snapshot` produces.
        """
        tracker = cls(**limits)
        try:
            if snapshot["version"] != SNAPSHOT_VERSION:
                raise ValueError(f"unknown version {snapshot['version']!r}")
            next_ref = snapshot["next_ref"]
            if isinstance(next_ref, bool) or not isinstance(next_ref, int) or next_ref < 1:
                raise ValueError(f"bad next_ref {next_ref!r}")
            ordered: list[tuple[int, str, str]] = []
            for conn_id, key, meta in snapshot["presences"]:
                if not isinstance(conn_id, str) or not isinstance(key, str):
                    raise ValueError("connection ids and keys must be strings")
                meta = _copy(meta)
                if not isinstance(meta, dict):
                    raise ValueError("metas must be objects")
                ref = meta["ref"]
                if not (isinstance(ref, str) and ref.isdigit() and 0 < int(ref) < next_ref):
                    raise ValueError(f"bad ref {ref!r}")
                metas = tracker._by_key.setdefault(key, {})
                if ref in metas or key in tracker._by_conn.get(conn_id, ()):
                    raise ValueError(f"duplicate presence {conn_id!r} {key!r} {ref!r}")
                metas[ref] = _Presence(conn_id, key, meta)
                tracker._by_conn.setdefault(conn_id, {})[key] = ref
                ordered.append((int(ref), conn_id, key))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a presence snapshot: {exc}") from exc
        if len({ref for ref, _, _ in ordered}) != len(ordered):
            raise ValueError("not a presence snapshot: a ref is used twice")
        # Each connection's keys in ref order, as tracking them one by one would have left them.
        tracker._by_conn = {}
        for ref, conn_id, key in sorted(ordered):
            tracker._by_conn.setdefault(conn_id, {})[key] = str(ref)
        tracker._next_ref = next_ref
        tracker._count = len(ordered)
        return tracker

    # -- internals ---------------------------------------------------------------------------

    def _encode(self, meta: Meta) -> str:
        """``meta`` as compact JSON, once checked; raises as the class docstring says."""
        if not isinstance(meta, dict):
            raise TypeError(f"a presence meta must be a dict, not {type(meta).__name__}")
        reserved = RESERVED_META_KEYS.intersection(meta)
        if reserved:
            raise ValueError(f"presence metas may not set {sorted(reserved)}: roost adds them")
        try:
            encoded = json.dumps(meta, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
            size = len(encoded.encode("utf-8"))
        except (TypeError, ValueError) as exc:
            raise TypeError(f"a presence meta must be JSON-serialisable: {exc}") from exc
        if size > self.max_meta_bytes:
            raise PresenceLimitError(
                f"presence meta of {size} bytes of JSON, over max_meta_bytes={self.max_meta_bytes}",
                limit="max_meta_bytes",
            )
        return encoded

    def _add(self, conn_id: str, key: str, encoded: str, ref_prev: str | None) -> Meta:
        """Store a presence with a fresh ref; returns a copy of its meta for the diff."""
        ref = str(self._next_ref)
        self._next_ref += 1
        meta: Meta = json.loads(encoded)
        meta["ref"] = ref
        if ref_prev is not None:
            meta["ref_prev"] = ref_prev
        self._by_key.setdefault(key, {})[ref] = _Presence(conn_id, key, meta)
        self._by_conn.setdefault(conn_id, {})[key] = ref
        self._count += 1
        copied: Meta = _copy(meta)
        return copied

    def _remove(self, conn_id: str, key: str, ref: str) -> Meta:
        """Forget a presence; returns its meta (no copy needed: the tracker lets go of it)."""
        metas = self._by_key[key]
        presence = metas.pop(ref)
        if not metas:
            del self._by_key[key]
        refs = self._by_conn[conn_id]
        del refs[key]
        if not refs:
            del self._by_conn[conn_id]
        self._count -= 1
        return presence.meta


def _copy(data: Any) -> Any:
    """A deep copy of JSON data (json round trip: fast, and checks the data on the way)."""
    return json.loads(json.dumps(data, allow_nan=False))


def _check_str(name: str, value: object) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")


__all__ = ["Meta", "PresenceDiff", "PresenceLimitError", "PresenceTracker", "merge_diffs"]
